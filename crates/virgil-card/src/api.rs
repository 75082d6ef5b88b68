//! The JSON bodies of the cards service's HTTP API (v1), shared by the service and its
//! clients. Every error response is an [`ErrorBody`] with a stable `code`.

use crate::{CardId, CardJson, RevocationReason};

/// The most identities one search may name.
pub const MAX_SEARCH_IDENTITIES: usize = 50;
/// The largest request body the service reads, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where a card stands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CardStatusJson {
    /// Current.
    Active,
    /// Replaced by the card `by` (key rotation).
    Superseded {
        /// The replacing card.
        by: CardId,
    },
    /// Revoked by its application.
    Revoked {
        /// Why.
        reason: RevocationReason,
        /// When, seconds since the Unix epoch.
        at: u64,
    },
}

/// A stored card: the card, its status and when it was published.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CardResponse {
    /// The card with all its signatures.
    pub card: CardJson,
    /// Its status.
    pub status: CardStatusJson,
    /// When the service published it, seconds since the Unix epoch.
    pub published_at: u64,
}

/// `POST /v1/cards/actions/search`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchRequest {
    /// 1 to [`MAX_SEARCH_IDENTITIES`] identities.
    pub identities: Vec<String>,
    /// Only cards of this identity type (any type if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<String>,
}

/// The answer to a search: active cards only.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchResponse {
    /// The cards found, by identity then publication time.
    pub cards: Vec<CardResponse>,
}

/// `POST /v1/cards/{id}/actions/revoke`: a revocation request signed by the card's
/// application key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RevokeRequest {
    /// The 46-byte [`crate::RevocationRequest`], base64.
    pub request: String,
    /// Its signature by the application key, base64.
    pub signature: String,
}

/// `GET /v1/service-key`: the key to pin in clients.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceKeyResponse {
    /// The service's public key (100-byte encoding), base64.
    pub public_key: String,
    /// Its key id, hex.
    pub key_id: String,
}

/// Every error response.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// A stable `snake_case` code (listed in `docs/api.md`).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

// --- The application server's API (the reference "your server"). ---

/// `POST /v1/users` (register) and `POST /v1/sessions` (log in).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// 1–64 of letters, digits, `.`, `_`, `-`, `@`.
    pub username: String,
    /// 8–1024 bytes.
    pub password: String,
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The answer to a login.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionResponse {
    /// For `Authorization: Bearer` on the application server.
    pub session_token: String,
    /// For `Authorization: Bearer` on the cards service (JWT).
    pub access_token: String,
    /// When the access token expires, seconds since the Unix epoch.
    pub access_token_expires_at: u64,
}

impl core::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionResponse")
            .field("access_token_expires_at", &self.access_token_expires_at)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/cards` on the application server: an exported card request to approve.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubmitCardRequest {
    /// `Card::export()` of the logged-in user's card request.
    pub card: String,
}

/// `POST /v1/messages`: ciphertext for another user.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SendMessageRequest {
    /// The recipient's username.
    pub to: String,
    /// The base64 ciphertext.
    pub body: String,
}

/// The answer to `POST /v1/messages`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SentMessage {
    /// The message id (inbox cursor).
    pub id: i64,
}

/// One relayed message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayedMessage {
    /// Increasing id; the inbox cursor.
    pub id: i64,
    /// The sender's username.
    pub from: String,
    /// The base64 ciphertext, as sent.
    pub body: String,
    /// When the server received it, seconds since the Unix epoch.
    pub sent_at: i64,
}

/// A page of `GET /v1/messages?after=<cursor>`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Inbox {
    /// Oldest first.
    pub messages: Vec<RelayedMessage>,
    /// Pass as `after` to get the next page.
    pub next_cursor: i64,
}

/// The stable error codes of both servers' APIs (`docs/api.md`), so clients can match on them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_json`
    InvalidJson,
    /// `invalid_card_id`
    InvalidCardId,
    /// `missing_token`
    MissingToken,
    /// `malformed_token`
    MalformedToken,
    /// `unknown_key`
    UnknownKey,
    /// `token_expired`
    TokenExpired,
    /// `bad_token_signature`
    BadTokenSignature,
    /// `wrong_issuer`
    WrongIssuer,
    /// `wrong_application`
    WrongApplication,
    /// `bad_revocation_signature`
    BadRevocationSignature,
    /// `card_not_found`
    CardNotFound,
    /// `previous_card_not_active`
    PreviousCardNotActive,
    /// `previous_card_mismatch`
    PreviousCardMismatch,
    /// `card_already_revoked`
    CardAlreadyRevoked,
    /// `body_too_large`
    BodyTooLarge,
    /// `invalid_card`
    InvalidCard,
    /// `card_verification_failed`
    CardVerificationFailed,
    /// `previous_card_not_found`
    PreviousCardNotFound,
    /// `no_identities`
    NoIdentities,
    /// `too_many_identities`
    TooManyIdentities,
    /// `invalid_identity`
    InvalidIdentity,
    /// `invalid_revocation`
    InvalidRevocation,
    /// `internal_error`
    InternalError,
    /// `invalid_username` (application server)
    InvalidUsername,
    /// `invalid_password` (application server)
    InvalidPassword,
    /// `username_taken` (application server)
    UsernameTaken,
    /// `invalid_credentials` (application server)
    InvalidCredentials,
    /// `too_many_attempts` (application server)
    TooManyAttempts,
    /// `missing_session` (application server)
    MissingSession,
    /// `invalid_session` (application server)
    InvalidSession,
    /// `wrong_identity` (application server)
    WrongIdentity,
    /// `cards_service_refused` (application server)
    CardsServiceRefused,
    /// `cards_service_unavailable` (application server)
    CardsServiceUnavailable,
    /// `invalid_message` (application server)
    InvalidMessage,
    /// `unknown_user` (application server)
    UnknownUser,
    /// A code this version does not know (a newer service).
    Other(String),
}

impl ErrorCode {
    /// The code for `text`.
    pub fn parse(text: &str) -> Self {
        match text {
            "invalid_json" => ErrorCode::InvalidJson,
            "invalid_card_id" => ErrorCode::InvalidCardId,
            "missing_token" => ErrorCode::MissingToken,
            "malformed_token" => ErrorCode::MalformedToken,
            "unknown_key" => ErrorCode::UnknownKey,
            "token_expired" => ErrorCode::TokenExpired,
            "bad_token_signature" => ErrorCode::BadTokenSignature,
            "wrong_issuer" => ErrorCode::WrongIssuer,
            "wrong_application" => ErrorCode::WrongApplication,
            "bad_revocation_signature" => ErrorCode::BadRevocationSignature,
            "card_not_found" => ErrorCode::CardNotFound,
            "previous_card_not_active" => ErrorCode::PreviousCardNotActive,
            "previous_card_mismatch" => ErrorCode::PreviousCardMismatch,
            "card_already_revoked" => ErrorCode::CardAlreadyRevoked,
            "body_too_large" => ErrorCode::BodyTooLarge,
            "invalid_card" => ErrorCode::InvalidCard,
            "card_verification_failed" => ErrorCode::CardVerificationFailed,
            "previous_card_not_found" => ErrorCode::PreviousCardNotFound,
            "no_identities" => ErrorCode::NoIdentities,
            "too_many_identities" => ErrorCode::TooManyIdentities,
            "invalid_identity" => ErrorCode::InvalidIdentity,
            "invalid_revocation" => ErrorCode::InvalidRevocation,
            "internal_error" => ErrorCode::InternalError,
            "invalid_username" => ErrorCode::InvalidUsername,
            "invalid_password" => ErrorCode::InvalidPassword,
            "username_taken" => ErrorCode::UsernameTaken,
            "invalid_credentials" => ErrorCode::InvalidCredentials,
            "too_many_attempts" => ErrorCode::TooManyAttempts,
            "missing_session" => ErrorCode::MissingSession,
            "invalid_session" => ErrorCode::InvalidSession,
            "wrong_identity" => ErrorCode::WrongIdentity,
            "cards_service_refused" => ErrorCode::CardsServiceRefused,
            "cards_service_unavailable" => ErrorCode::CardsServiceUnavailable,
            "invalid_message" => ErrorCode::InvalidMessage,
            "unknown_user" => ErrorCode::UnknownUser,
            other => ErrorCode::Other(other.to_owned()),
        }
    }

    /// The code as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidCardId => "invalid_card_id",
            ErrorCode::MissingToken => "missing_token",
            ErrorCode::MalformedToken => "malformed_token",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::BadTokenSignature => "bad_token_signature",
            ErrorCode::WrongIssuer => "wrong_issuer",
            ErrorCode::WrongApplication => "wrong_application",
            ErrorCode::BadRevocationSignature => "bad_revocation_signature",
            ErrorCode::CardNotFound => "card_not_found",
            ErrorCode::PreviousCardNotActive => "previous_card_not_active",
            ErrorCode::PreviousCardMismatch => "previous_card_mismatch",
            ErrorCode::CardAlreadyRevoked => "card_already_revoked",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::InvalidCard => "invalid_card",
            ErrorCode::CardVerificationFailed => "card_verification_failed",
            ErrorCode::PreviousCardNotFound => "previous_card_not_found",
            ErrorCode::NoIdentities => "no_identities",
            ErrorCode::TooManyIdentities => "too_many_identities",
            ErrorCode::InvalidIdentity => "invalid_identity",
            ErrorCode::InvalidRevocation => "invalid_revocation",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::InvalidUsername => "invalid_username",
            ErrorCode::InvalidPassword => "invalid_password",
            ErrorCode::UsernameTaken => "username_taken",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::MissingSession => "missing_session",
            ErrorCode::InvalidSession => "invalid_session",
            ErrorCode::WrongIdentity => "wrong_identity",
            ErrorCode::CardsServiceRefused => "cards_service_refused",
            ErrorCode::CardsServiceUnavailable => "cards_service_unavailable",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::UnknownUser => "unknown_user",
            ErrorCode::Other(other) => other,
        }
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_kept() {
        for code in [
            "invalid_json",
            "invalid_card_id",
            "missing_token",
            "malformed_token",
            "unknown_key",
            "token_expired",
            "bad_token_signature",
            "wrong_issuer",
            "wrong_application",
            "bad_revocation_signature",
            "card_not_found",
            "previous_card_not_active",
            "previous_card_mismatch",
            "card_already_revoked",
            "body_too_large",
            "invalid_card",
            "card_verification_failed",
            "previous_card_not_found",
            "no_identities",
            "too_many_identities",
            "invalid_identity",
            "invalid_revocation",
            "internal_error",
            "invalid_username",
            "invalid_password",
            "username_taken",
            "invalid_credentials",
            "too_many_attempts",
            "missing_session",
            "invalid_session",
            "wrong_identity",
            "cards_service_refused",
            "cards_service_unavailable",
            "invalid_message",
            "unknown_user",
        ] {
            let parsed = ErrorCode::parse(code);
            assert!(!matches!(parsed, ErrorCode::Other(_)), "{code}");
            assert_eq!(parsed.as_str(), code);
        }
        assert_eq!(
            ErrorCode::parse("from_the_future"),
            ErrorCode::Other("from_the_future".into())
        );
    }
}
