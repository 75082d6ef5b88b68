//! Accounts: usernames, password hashing (PBKDF2-HMAC-SHA256) and the failed-login
//! records behind the login rate limit.

use crate::server::LOGIN_WINDOW_SECONDS;
use sha2::Sha256;
use std::collections::HashMap;
use virgil_api::ErrorCode;
use virgil_server::ApiError;

/// Failed-login records kept before stale ones are pruned.
pub(crate) const MAX_TRACKED_LOGINS: usize = 10_000;

/// Records a failed login. Usernames come from the network (unknown ones too, so that
/// the rate limit does not reveal who exists): when more than [`MAX_TRACKED_LOGINS`]
/// names are tracked, those without a failure in the current window are dropped, so
/// memory stays bounded by the failures of one window.
pub(crate) fn record_failed_login(
    failed: &mut HashMap<String, Vec<u64>>,
    username: String,
    now: u64,
) {
    if failed.len() >= MAX_TRACKED_LOGINS {
        failed.retain(|_, attempts| {
            attempts.retain(|at| at + LOGIN_WINDOW_SECONDS > now);
            !attempts.is_empty()
        });
    }
    failed.entry(username).or_default().push(now);
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
    use super::*;

    #[test]
    fn failed_login_records_stay_bounded() {
        let mut failed = HashMap::new();
        for i in 0..MAX_TRACKED_LOGINS {
            record_failed_login(&mut failed, format!("user{i}"), 1_000);
        }
        assert_eq!(failed.len(), MAX_TRACKED_LOGINS);
        // A window later, the next failure prunes every stale record.
        record_failed_login(&mut failed, "late".to_owned(), 1_000 + LOGIN_WINDOW_SECONDS);
        assert_eq!(failed.len(), 1);
        // Within the window nothing is lost: the limit keeps working under a flood.
        let mut failed = HashMap::new();
        for i in 0..=MAX_TRACKED_LOGINS {
            record_failed_login(&mut failed, format!("user{i}"), 5_000);
        }
        assert_eq!(failed.len(), MAX_TRACKED_LOGINS + 1);
    }
}
