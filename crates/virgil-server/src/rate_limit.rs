//! Request rate limits: per client address on every request (the accept loop applies
//! it, [`crate::runtime::ConnectionLimits::per_client`]) and per account once a request
//! is authenticated (each server checks its own [`RateLimiter`]). The limiting itself is
//! the `governor` crate's GCRA (a leaky bucket without timers); over the limit the answer
//! is 429 `rate_limited` with a `Retry-After` header.
//!
//! Memory: a limiter keeps one small record per key it saw recently; every
//! [`RETAIN_EVERY`] checks it drops the records whose bucket has refilled (a key that has
//! been quiet for `burst / per_minute` minutes). IPv6 clients are keyed by their /64,
//! which is what one host or one customer usually gets, so an attacker cannot mint a
//! fresh bucket per address.

use crate::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use virgil_api::ErrorCode;

/// A request rate: `per_minute` on average, with bursts of up to `burst` requests at
/// once (a client that was quiet may send `burst` requests back to back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per minute, sustained.
    pub per_minute: NonZeroU32,
    /// Requests allowed at once after a quiet period.
    pub burst: NonZeroU32,
}

impl Rate {
    /// `per_minute` with bursts of `burst`; `None` if either is 0 (no limit).
    pub const fn new(per_minute: u32, burst: u32) -> Option<Self> {
        match (NonZeroU32::new(per_minute), NonZeroU32::new(burst)) {
            (Some(per_minute), Some(burst)) => Some(Self { per_minute, burst }),
            _ => None,
        }
    }

    /// The default per client address: 1 200 requests a minute, bursts of 400 (a busy
    /// NAT or an office behind one address stays well inside it; a flood does not).
    pub const PER_CLIENT: Self = Self {
        per_minute: NonZeroU32::new(1_200).expect("non-zero"),
        burst: NonZeroU32::new(400).expect("non-zero"),
    };

    /// The default per account: 600 requests a minute, bursts of 200.
    pub const PER_ACCOUNT: Self = Self {
        per_minute: NonZeroU32::new(600).expect("non-zero"),
        burst: NonZeroU32::new(200).expect("non-zero"),
    };

    fn quota(self) -> Quota {
        Quota::per_minute(self.per_minute).allow_burst(self.burst)
    }
}

/// How often (in checks) a limiter forgets the keys whose bucket has refilled.
pub const RETAIN_EVERY: u64 = 1024;

/// A rate limit keyed by `K` (a client address, an account name).
pub struct RateLimiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    gcra: Gcra<K, DashMapStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    rate: Rate,
    checks: AtomicU64,
    who: &'static str,
    /// Refused requests, logged as a count per minute ([`crate::tally`]).
    pub(crate) refused: crate::tally::Tally,
}

impl<K: Hash + Eq + Clone, C: Clock> std::fmt::Debug for RateLimiter<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("who", &self.who)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter of `rate`; `who` names the key in the 429 message ("this address",
    /// "this account").
    pub fn new(rate: Rate, who: &'static str) -> Self {
        Self::with_clock(rate, who, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> RateLimiter<K, C> {
    /// A limiter on `clock` (tests use governor's fake clock).
    pub fn with_clock(rate: Rate, who: &'static str, clock: C) -> Self {
        Self {
            gcra: Gcra::new(rate.quota(), DashMapStateStore::default(), clock),
            rate,
            checks: AtomicU64::new(0),
            who,
            refused: crate::tally::Tally::new("requests refused: over the per-address rate"),
        }
    }

    /// Counts one request of `key`: `Ok`, or 429 `rate_limited` with the seconds to wait.
    pub fn check(&self, key: &K) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.gcra.retain_recent();
            self.gcra.shrink_to_fit();
        }
        self.gcra.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.gcra.clock().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "too many requests from {}; try again in {seconds} s (the limit is {} a minute, bursts of {})",
                    self.who, self.rate.per_minute, self.rate.burst
                ),
            )
            .with_retry_after(seconds)
        })
    }

    /// How many keys the limiter holds state for.
    pub fn tracked(&self) -> usize {
        self.gcra.len()
    }
}

/// The key of a client address: IPv4 as is (an IPv4-mapped IPv6 address as its IPv4
/// address), IPv6 by its /64 network.
pub fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
    }
}

/// Middleware (state: the per-address limiter): 429 for a client address over its rate.
/// A request without a known address (not served by [`crate::runtime`]) passes.
pub async fn limit_clients(
    axum::extract::State(limiter): axum::extract::State<Arc<RateLimiter<IpAddr>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| client_key(info.0.ip()));
    if let Some(client) = client
        && let Err(error) = limiter.check(&client)
    {
        limiter.refused.record(&client);
        return error.into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    fn limiter(
        per_minute: u32,
        burst: u32,
    ) -> (RateLimiter<u32, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(
            Rate::new(per_minute, burst).unwrap(),
            "this test",
            clock.clone(),
        );
        (limiter, clock)
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_retry_after_is_honest() {
        let (limiter, clock) = limiter(60, 3);
        for _ in 0..3 {
            assert!(limiter.check(&1).is_ok());
        }
        let refused = limiter.check(&1).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert_eq!(refused.retry_after_seconds, Some(1));
        assert!(limiter.check(&2).is_ok(), "keys are independent");
        clock.advance(Duration::from_millis(999));
        assert!(limiter.check(&1).is_err());
        clock.advance(Duration::from_millis(1));
        assert!(limiter.check(&1).is_ok(), "one per second at 60 a minute");
        assert!(limiter.check(&1).is_err());
    }

    #[test]
    fn a_flood_of_keys_is_forgotten_once_their_buckets_refill() {
        let (limiter, clock) = limiter(600, 10);
        let flood = 20 * RETAIN_EVERY as u32;
        for key in 0..flood {
            let _ = limiter.check(&key);
        }
        assert!(limiter.tracked() > (flood as usize) / 2);
        // 10 requests at 600 a minute refill in one second.
        clock.advance(Duration::from_secs(2));
        for _ in 0..RETAIN_EVERY {
            let _ = limiter.check(&u32::MAX);
        }
        assert!(limiter.tracked() <= 1, "{} keys kept", limiter.tracked());
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let v4: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(client_key(v4), v4);
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(Rate::new(0, 5).is_none());
        assert!(Rate::new(5, 0).is_none());
        assert_eq!(Rate::new(1_200, 400), Some(Rate::PER_CLIENT));
    }
}
