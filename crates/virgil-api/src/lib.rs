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
    /// `"ok"`.
    pub status: String,
    /// Cards in the database (cards service only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cards: Option<u64>,
}

/// Seconds since the Unix epoch, the unit of every time on the wire (0 if the clock is
/// before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
