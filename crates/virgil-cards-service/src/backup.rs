//! Key backup at the cards service: it hardens backup passwords with its oblivious PRF
//! ([`virgil_crypto::oprf`]) and limits how many guesses each identity gets.
//!
//! - Each application has its own OPRF key, derived from the service key (HKDF label
//!   `virgil/derived/backup-oprf`, then RFC 9497's `DeriveKeyPair` with the app id), so
//!   the service key file stays the one secret to keep. Its public key is served signed
//!   by the service key (`GET /v1/backup/oprf-key`).
//! - An evaluation is bound to the caller's identity (the access token's subject,
//!   [`virgil_card::backup::oprf_info`]), and counted against it in the database
//!   ([`GuessPolicy`], [`GuessState`]), before any work; the count survives restarts
//!   and is shared by replicas.
//! - The service never sees a password, a hardened password or a backup: the
//!   application server keeps the locked blobs (docs/security.md).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use virgil_api::cards::BackupGuesses;
use virgil_crypto::PrivateKey;
use virgil_crypto::oprf::OprfKey;
use zeroize::Zeroizing;

/// What [`PrivateKey::derive_secret`] derives the OPRF seed for.
pub const OPRF_PURPOSE: &[u8] = b"backup-oprf";

/// The service's OPRF keys, one per application, all from one seed; each derived once
/// (a derivation costs a scalar multiplication) and kept.
pub struct BackupKeys {
    seed: Zeroizing<[u8; 32]>,
    derived: RwLock<HashMap<String, Arc<OprfKey>>>,
}

impl BackupKeys {
    /// The keys derived from `service_key`.
    pub fn from_service_key(service_key: &PrivateKey) -> Self {
        Self {
            seed: service_key.derive_secret(OPRF_PURPOSE),
            derived: RwLock::default(),
        }
    }

    /// The OPRF key of application `app_id`.
    pub fn key_for(&self, app_id: &str) -> Result<Arc<OprfKey>, virgil_crypto::Error> {
        if let Some(key) = self
            .derived
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(app_id)
        {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(OprfKey::derive(&self.seed, app_id.as_bytes())?);
        self.derived
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(app_id.to_owned(), Arc::clone(&key));
        Ok(key)
    }
}

impl std::fmt::Debug for BackupKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKeys(..)")
    }
}

/// How many backup-password evaluations an identity gets: `free_per_window` in a window
/// of `window_seconds`; past that, each one waits twice as long as the one before
/// (`base_delay_seconds`, doubling, at most `max_delay_seconds`), until a whole window
/// passes with none. The defaults: 10 per hour, then 1 min, 2 min, 4 min, … up to a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuessPolicy {
    /// Evaluations a window allows at once.
    pub free_per_window: u64,
    /// The window, in seconds.
    pub window_seconds: u64,
    /// The first wait past the free ones, in seconds.
    pub base_delay_seconds: u64,
    /// The longest wait, in seconds.
    pub max_delay_seconds: u64,
}

impl Default for GuessPolicy {
    fn default() -> Self {
        Self {
            free_per_window: 10,
            window_seconds: 3600,
            base_delay_seconds: 60,
            max_delay_seconds: 86_400,
        }
    }
}

/// One identity's evaluations so far, as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuessState {
    /// When the current window started.
    pub window_start: u64,
    /// Evaluations in the current window.
    pub used: u64,
    /// Every evaluation ever.
    pub total: u64,
    /// The last evaluation (0: none).
    pub last_at: u64,
    /// The earliest time of the next one.
    pub next_at: u64,
}

impl GuessState {
    /// Whether an evaluation at `now` starts a new window: none yet, a whole window
    /// quiet since the last one, or the window over without the back-off having begun.
    fn window_restarts(&self, policy: &GuessPolicy, now: u64) -> bool {
        self.last_at == 0
            || now >= self.last_at.saturating_add(policy.window_seconds)
            || (now >= self.window_start.saturating_add(policy.window_seconds)
                && self.used < policy.free_per_window)
    }

    /// The state after one more evaluation at `now`, or `Err(when)` it may happen.
    pub fn charge(self, policy: &GuessPolicy, now: u64) -> Result<Self, u64> {
        if now < self.next_at {
            return Err(self.next_at);
        }
        let mut next = self;
        if self.window_restarts(policy, now) {
            next.window_start = now;
            next.used = 0;
        }
        next.used = next.used.saturating_add(1);
        next.total = next.total.saturating_add(1);
        next.last_at = now;
        next.next_at = if next.used >= policy.free_per_window {
            let doublings = u32::try_from(next.used - policy.free_per_window)
                .unwrap_or(u32::MAX)
                .min(40);
            now.saturating_add(
                policy
                    .base_delay_seconds
                    .saturating_mul(1u64 << doublings)
                    .min(policy.max_delay_seconds),
            )
        } else {
            now
        };
        Ok(next)
    }

    /// What the API says about it.
    pub fn to_api(self, policy: &GuessPolicy, now: u64) -> BackupGuesses {
        let fresh = self.window_restarts(policy, now);
        BackupGuesses {
            used: if fresh { 0 } else { self.used },
            free_per_window: policy.free_per_window,
            window_seconds: policy.window_seconds,
            total: self.total,
            last_at: (self.last_at != 0).then_some(self.last_at),
            next_at: self.next_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_free_then_doubling_waits_then_a_quiet_window_resets() {
        let policy = GuessPolicy::default();
        let mut state = GuessState::default();
        let t0 = 1_000_000;
        for i in 0..10 {
            state = state.charge(&policy, t0 + i).unwrap();
        }
        assert_eq!(state.used, 10);
        // The tenth set the first wait: one minute.
        assert_eq!(state.charge(&policy, t0 + 10), Err(t0 + 9 + 60));
        state = state.charge(&policy, t0 + 9 + 60).unwrap();
        assert_eq!(state.next_at, t0 + 69 + 120);
        state = state.charge(&policy, t0 + 189).unwrap();
        assert_eq!(state.next_at, t0 + 189 + 240);
        // An hour after the window started, still in back-off: no fresh window.
        let later = t0 + 3600;
        state = state.charge(&policy, later).unwrap();
        assert_eq!(state.used, 13);
        assert!(state.next_at > later + 400);
        // A quiet hour after the last one: ten at once again.
        let quiet = state.last_at + 3600;
        assert!(quiet >= state.next_at);
        state = state.charge(&policy, quiet).unwrap();
        assert_eq!(state.used, 1);
        assert_eq!(state.next_at, quiet);
        assert_eq!(state.total, 14);
    }

    #[test]
    fn waits_stop_growing_at_the_maximum() {
        let policy = GuessPolicy {
            free_per_window: 1,
            window_seconds: u64::MAX / 4,
            base_delay_seconds: 60,
            max_delay_seconds: 86_400,
        };
        let mut state = GuessState::default();
        let mut now = 10;
        for _ in 0..100 {
            state = state.charge(&policy, now).unwrap();
            assert!(state.next_at - now <= 86_400);
            now = state.next_at;
        }
        assert_eq!(state.next_at - state.last_at, 86_400);
    }

    #[test]
    fn a_normal_user_gets_a_new_window_every_hour() {
        let policy = GuessPolicy::default();
        let mut state = GuessState::default();
        for hour in 0..5u64 {
            for i in 0..3 {
                state = state.charge(&policy, 100 + hour * 3600 + i * 60).unwrap();
            }
            assert_eq!(state.used, 3);
            assert_eq!(state.to_api(&policy, 100 + hour * 3600 + 200).used, 3);
        }
        assert_eq!(state.total, 15);
    }
}
