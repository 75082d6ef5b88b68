//! Accounts: usernames, password hashing (PBKDF2-HMAC-SHA256) and the failed-login
//! records behind the login rate limit.

use crate::store::UserRecord;
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use virgil_api::ErrorCode;
use virgil_server::ApiError;

/// The longest password accepted (bytes).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Failed logins per user and client address allowed in [`LOGIN_WINDOW_SECONDS`]
/// before 429.
pub const MAX_FAILED_LOGINS: usize = 5;
/// The window of the login rate limit (seconds).
pub const LOGIN_WINDOW_SECONDS: u64 = 60;

/// Failed-login records kept at most (about 1 MiB of memory).
pub(crate) const MAX_TRACKED_LOGINS: usize = 10_000;

/// The login rate limit: [`MAX_FAILED_LOGINS`] failures per (account, client address)
/// per [`LOGIN_WINDOW_SECONDS`].
///
/// An attempt is *reserved* (counted as a failure) before the password work and released
/// only if the password was right, so concurrent guesses cannot all slip past the check.
/// Keying by the client address too means a stranger's guesses do not lock the user out
/// of their own devices. Usernames come from the network (unknown ones too, so that the
/// limit does not reveal who exists); memory is bounded by [`MAX_TRACKED_LOGINS`] records:
/// stale ones are pruned first, then the least recently used.
#[derive(Debug, Default)]
pub(crate) struct LoginThrottle {
    failures: Mutex<HashMap<(String, IpAddr), Vec<u64>>>,
}

/// A reserved attempt; give it back with [`LoginThrottle::succeeded`].
pub(crate) struct Reservation {
    key: (String, IpAddr),
    at: u64,
}

impl LoginThrottle {
    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<(String, IpAddr), Vec<u64>>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves an attempt of `username` from `client`, or refuses with 429.
    pub(crate) fn reserve(
        &self,
        username: &str,
        client: IpAddr,
        now: u64,
    ) -> Result<Reservation, ApiError> {
        let mut failures = self.failures();
        let key = (username.to_owned(), client);
        if !failures.contains_key(&key) && failures.len() >= MAX_TRACKED_LOGINS {
            make_room(&mut failures, now);
        }
        let attempts = failures.entry(key.clone()).or_default();
        attempts.retain(|at| at + LOGIN_WINDOW_SECONDS > now);
        if attempts.len() >= MAX_FAILED_LOGINS {
            return Err(ApiError::new(
                ErrorCode::TooManyAttempts,
                format!("too many failed logins; wait {LOGIN_WINDOW_SECONDS} seconds"),
            ));
        }
        attempts.push(now);
        Ok(Reservation { key, at: now })
    }

    /// The password was right: the reserved attempt does not count.
    pub(crate) fn succeeded(&self, reservation: Reservation) {
        let mut failures = self.failures();
        if let Some(attempts) = failures.get_mut(&reservation.key) {
            if let Some(position) = attempts.iter().position(|at| *at == reservation.at) {
                attempts.swap_remove(position);
            }
            if attempts.is_empty() {
                failures.remove(&reservation.key);
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.failures().len()
    }
}

/// Drops stale records; if none is stale, the one whose last attempt is oldest.
fn make_room(failures: &mut HashMap<(String, IpAddr), Vec<u64>>, now: u64) {
    failures.retain(|_, attempts| {
        attempts.retain(|at| at + LOGIN_WINDOW_SECONDS > now);
        !attempts.is_empty()
    });
    if failures.len() >= MAX_TRACKED_LOGINS {
        let oldest = failures
            .iter()
            .min_by_key(|(_, attempts)| attempts.iter().max().copied().unwrap_or(0))
            .map(|(key, _)| key.clone());
        if let Some(oldest) = oldest {
            failures.remove(&oldest);
        }
    }
}

/// Checks a new account password's length.
pub(crate) fn check_password(password: &str) -> Result<(), ApiError> {
    if (8..=MAX_PASSWORD_BYTES).contains(&password.len()) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidPassword,
            format!("a password is 8 to {MAX_PASSWORD_BYTES} bytes"),
        ))
    }
}

/// A new user's record: a random salt and the PBKDF2 hash of `password` (CPU-heavy:
/// run it on a blocking thread).
pub(crate) fn new_user_record(password: &[u8], iterations: u32) -> Result<UserRecord, ApiError> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| ApiError::internal("random generator failed"))?;
    let hash = hash_password(password, &salt, iterations);
    Ok(UserRecord {
        salt: salt.to_vec(),
        hash: hash.to_vec(),
        iterations,
    })
}

pub(crate) fn hash_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

pub(crate) fn check_username(username: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidUsername,
            "a username is 1–64 of letters, digits, '.', '_', '-', '@'",
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const STRANGER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    #[test]
    fn reservations_count_until_the_password_is_right() {
        let throttle = LoginThrottle::default();
        for _ in 0..MAX_FAILED_LOGINS {
            throttle.reserve("bob", STRANGER, 1_000).unwrap();
        }
        assert!(throttle.reserve("bob", STRANGER, 1_000).is_err());
        // Bob's own address is not locked out; a right password gives its attempt back.
        for _ in 0..3 * MAX_FAILED_LOGINS {
            let reservation = throttle.reserve("bob", HOME, 1_000).unwrap();
            throttle.succeeded(reservation);
        }
        // A window later the stranger may try again.
        assert!(
            throttle
                .reserve("bob", STRANGER, 1_000 + LOGIN_WINDOW_SECONDS)
                .is_ok()
        );
    }

    #[test]
    fn a_flood_of_names_keeps_memory_bounded_and_the_limit_working() {
        let throttle = LoginThrottle::default();
        for _ in 0..MAX_FAILED_LOGINS {
            throttle.reserve("bob", STRANGER, 5_000).unwrap();
        }
        for i in 0..2 * MAX_TRACKED_LOGINS {
            throttle
                .reserve(&format!("user{i}"), STRANGER, 5_001)
                .unwrap();
        }
        assert_eq!(throttle.tracked(), MAX_TRACKED_LOGINS);
        // The flood within the window evicted the oldest (bob's), never more than that.
        throttle
            .reserve("late", STRANGER, 5_002 + LOGIN_WINDOW_SECONDS)
            .unwrap();
        assert_eq!(throttle.tracked(), 1, "stale records are pruned first");
    }
}
