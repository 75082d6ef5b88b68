//! The HTTP API (v1) of the cards service and of the reference application server, as
//! one definition that the servers answer with and the clients read: every JSON body
//! ([`cards`], [`app`]), the error codes with their HTTP statuses ([`ErrorCode`],
//! [`ErrorBody`]) and the access tokens the application server issues and the cards
//! service verifies ([`token`]), every endpoint's method and path ([`endpoints`]), and
//! the rule both sides apply to plain HTTP ([`transport`]). `docs/api.md` documents the
//! same shapes.
//!
//! Depend on it if you write a client or a server of either API. Card model types
//! (cards, ids, revocation requests) live in `virgil-card`; this crate only says how
//! they travel.
//!
//! ```
//! use virgil_api::{ErrorBody, ErrorCode};
//!
//! let body: ErrorBody = serde_json::from_str(r#"{"code":"card_not_found","message":"no card"}"#)?;
//! assert_eq!(body.code, ErrorCode::CardNotFound);
//! assert_eq!(body.code.status(), 404);
//! // A code from a newer server is kept, not lost.
//! let body: ErrorBody = serde_json::from_str(r#"{"code":"from_the_future","message":""}"#)?;
//! assert_eq!(body.code, ErrorCode::Other("from_the_future".into()));
//! # Ok::<(), serde_json::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod cards;
pub mod endpoints;
mod error;
pub mod token;
pub mod transport;

pub use error::{ErrorBody, ErrorCode};

/// `GET /v1/health` of either server.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealthResponse {
    /// `"ok"`, or `"degraded"` while the server's storage fails (writes are then
    /// answered 503 `storage_unavailable`; see `reason`).
    pub status: String,
    /// Cards in the database (cards service only; absent while it cannot be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cards: Option<u64>,
    /// Why the server is degraded, e.g. "the database or disk is full (13: …)".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl HealthResponse {
    /// `"ok"`, or `"degraded"` for `degraded`'s reason.
    pub fn of(degraded: Option<String>, cards: Option<u64>) -> Self {
        Self {
            status: if degraded.is_some() { "degraded" } else { "ok" }.to_owned(),
            cards,
            reason: degraded,
        }
    }

    /// Whether the server said it is fine.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Seconds since the Unix epoch, the unit of every time on the wire (0 if the clock is
/// before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the Unix epoch.
pub fn format_time(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            format_time(1_795_478_400 + 3_723),
            "2026-11-24 01:02:03 UTC"
        );
    }
}
