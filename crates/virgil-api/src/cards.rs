//! The cards service's bodies: publish, get, search, revoke, service key.

use virgil_card::{CardId, CardJson, RevocationReason};

/// The most identities one search may name.
pub const MAX_SEARCH_IDENTITIES: usize = 50;
/// The largest request body the cards service reads, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where a card stands: stored by the service and sent with every card.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CardStatus {
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
    pub status: CardStatus,
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
    /// The 46-byte [`virgil_card::RevocationRequest`], base64.
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
