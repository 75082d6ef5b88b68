//! The `[limits]` table both servers' configuration files share: connection limits
//! ([`ConnectionLimits`]) and request rates ([`Rate`]), each key optional.
//!
//! ```toml
//! [limits]
//! header_timeout_seconds = 10        # time to send a request's headers (and idle keep-alive)
//! request_timeout_seconds = 30       # headers to answer, body upload included (then 408)
//! max_connections = 1024             # open at once; more are closed at accept
//! client_requests_per_minute = 1200  # per client address (IPv6: per /64); 0 = no limit
//! client_burst = 400                 # at once after a quiet period [default: a third of the rate]
//! account_requests_per_minute = 600  # per authenticated account; 0 = no limit
//! account_burst = 200
//! ```

use crate::ConfigError;
use crate::rate_limit::Rate;
use crate::runtime::ConnectionLimits;
use std::time::Duration;

/// The `[limits]` table; a missing key keeps its default.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// [`ConnectionLimits::header_timeout`] in seconds (1–3600).
    pub header_timeout_seconds: Option<u64>,
    /// [`ConnectionLimits::request_timeout`] in seconds (1–3600).
    pub request_timeout_seconds: Option<u64>,
    /// [`ConnectionLimits::max_connections`] (1–1 000 000).
    pub max_connections: Option<usize>,
    /// Requests a minute per client address; 0 turns the limit off.
    pub client_requests_per_minute: Option<u32>,
    /// The per-client burst [default: a third of the per-minute rate].
    pub client_burst: Option<u32>,
    /// Requests a minute per account; 0 turns the limit off.
    pub account_requests_per_minute: Option<u32>,
    /// The per-account burst [default: a third of the per-minute rate].
    pub account_burst: Option<u32>,
}

impl LimitsConfig {
    /// The connection limits, defaults filled in, values checked.
    pub fn connection_limits(&self) -> Result<ConnectionLimits, ConfigError> {
        let mut limits = ConnectionLimits::default();
        if let Some(seconds) = self.header_timeout_seconds {
            limits.header_timeout = seconds_in_range("header_timeout_seconds", seconds)?;
        }
        if let Some(seconds) = self.request_timeout_seconds {
            limits.request_timeout = seconds_in_range("request_timeout_seconds", seconds)?;
        }
        if let Some(max) = self.max_connections {
            if !(1..=1_000_000).contains(&max) {
                return Err(ConfigError::invalid(
                    format!("limits.max_connections = {max}"),
                    "use 1 to 1000000 (default 1024)",
                ));
            }
            limits.max_connections = max;
        }
        limits.per_client = rate(
            "limits.client",
            self.client_requests_per_minute,
            self.client_burst,
            Rate::PER_CLIENT,
        )?;
        Ok(limits)
    }

    /// The per-account rate (`None`: no limit), defaults filled in, values checked.
    pub fn account_rate(&self) -> Result<Option<Rate>, ConfigError> {
        rate(
            "limits.account",
            self.account_requests_per_minute,
            self.account_burst,
            Rate::PER_ACCOUNT,
        )
    }
}

fn seconds_in_range(key: &str, seconds: u64) -> Result<Duration, ConfigError> {
    if (1..=3600).contains(&seconds) {
        Ok(Duration::from_secs(seconds))
    } else {
        Err(ConfigError::invalid(
            format!("limits.{key} = {seconds}"),
            "use 1 to 3600 seconds",
        ))
    }
}

/// The rate set by `{key}_requests_per_minute` and `{key}_burst` (`key`: the setting's
/// name, section included, e.g. `limits.client`), `default` where unset; `None` when the
/// per-minute rate is 0 (no limit); the burst defaults to a third of the rate.
pub fn rate(
    key: &str,
    per_minute: Option<u32>,
    burst: Option<u32>,
    default: Rate,
) -> Result<Option<Rate>, ConfigError> {
    let per_minute = per_minute.unwrap_or(default.per_minute.get());
    if per_minute == 0 {
        return Ok(None);
    }
    let burst = burst.unwrap_or((per_minute / 3).max(1));
    Rate::new(per_minute, burst).map(Some).ok_or_else(|| {
        ConfigError::invalid(
            format!("{key}_burst = 0"),
            format!("a burst must be at least 1 (to turn the limit off, set {key}_requests_per_minute = 0)"),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> LimitsConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_hold_until_a_key_says_otherwise() {
        let none = LimitsConfig::default();
        assert_eq!(
            none.connection_limits().unwrap(),
            ConnectionLimits::default()
        );
        assert_eq!(none.account_rate().unwrap(), Some(Rate::PER_ACCOUNT));
        let set = parse(
            "header_timeout_seconds = 3\nrequest_timeout_seconds = 7\nmax_connections = 9\nclient_requests_per_minute = 90\naccount_requests_per_minute = 0\n",
        );
        let limits = set.connection_limits().unwrap();
        assert_eq!(limits.header_timeout, Duration::from_secs(3));
        assert_eq!(limits.request_timeout, Duration::from_secs(7));
        assert_eq!(limits.max_connections, 9);
        assert_eq!(limits.per_client, Rate::new(90, 30));
        assert_eq!(set.account_rate().unwrap(), None);
        let burst = parse("account_requests_per_minute = 60\naccount_burst = 2\n");
        assert_eq!(burst.account_rate().unwrap(), Rate::new(60, 2));
    }

    #[test]
    fn unusable_values_are_refused_with_the_key_named() {
        for (text, key) in [
            ("header_timeout_seconds = 0", "header_timeout_seconds"),
            ("request_timeout_seconds = 86400", "request_timeout_seconds"),
            ("max_connections = 0", "max_connections"),
            ("client_burst = 0", "client_burst"),
        ] {
            let error = parse(text).connection_limits().unwrap_err().to_string();
            assert!(error.contains(key), "{text}: {error}");
        }
        assert!(toml::from_str::<LimitsConfig>("max_conections = 5").is_err());
    }
}
