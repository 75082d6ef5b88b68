//! The cards service's bodies: publish, get, search, revoke, service key.

use virgil_card::{CardId, CardJson, RevocationReason};
use virgil_crypto::sign::{self, Context, Signature};
use virgil_crypto::{PrivateKey, PublicKey};

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
    /// Revoked by its owner or its application, or by a reset that became active.
    Revoked {
        /// Why.
        reason: RevocationReason,
        /// When, seconds since the Unix epoch.
        at: u64,
    },
    /// A reset card waiting out the reset delay (docs/key-changes.md): not usable yet;
    /// any active card of the identity can cancel it (revoke it) until `activates_at`,
    /// when it becomes active and every other card of the identity is revoked.
    Pending {
        /// When it becomes active, seconds since the Unix epoch.
        activates_at: u64,
    },
}

impl CardStatus {
    /// The bytes the cards service signs to vouch that `card` has this status at time
    /// `as_of` (docs/format.md §12):
    ///
    /// ```text
    /// "VGLS" ‖ 0x01 ‖ card_id[32] ‖ state ‖ u64be(as_of)
    /// state = 0x00 (active) | 0x01 ‖ by[32] (superseded) | 0x02 ‖ reason u8 ‖ u64be(at) (revoked)
    ///       | 0x03 ‖ u64be(activates_at) (pending reset)
    /// ```
    pub fn statement(&self, card: &CardId, as_of: u64) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(4 + 1 + 32 + 1 + 32 + 8);
        bytes.extend_from_slice(b"VGLS\x01");
        bytes.extend_from_slice(card.as_bytes());
        match self {
            CardStatus::Active => bytes.push(0x00),
            CardStatus::Superseded { by } => {
                bytes.push(0x01);
                bytes.extend_from_slice(by.as_bytes());
            }
            CardStatus::Revoked { reason, at } => {
                bytes.push(0x02);
                bytes.push(reason.code());
                bytes.extend_from_slice(&at.to_be_bytes());
            }
            CardStatus::Pending { activates_at } => {
                bytes.push(0x03);
                bytes.extend_from_slice(&activates_at.to_be_bytes());
            }
        }
        bytes.extend_from_slice(&as_of.to_be_bytes());
        bytes
    }

    /// The service's signature over [`CardStatus::statement`] (context
    /// `virgil/card-status`).
    pub fn sign(&self, card: &CardId, as_of: u64, service_key: &PrivateKey) -> Signature {
        sign::sign(
            service_key,
            Context::CARD_STATUS,
            &self.statement(card, as_of),
        )
    }

    /// Whether `signature` is `service_key`'s over this status of `card` at `as_of`.
    pub fn is_signed(
        &self,
        card: &CardId,
        as_of: u64,
        signature: &Signature,
        service_key: &PublicKey,
    ) -> bool {
        sign::verify(
            service_key,
            Context::CARD_STATUS,
            &self.statement(card, as_of),
            signature,
        )
        .is_ok()
    }
}

/// Who revoked a card, with their signature: served with every revoked card, so a
/// client can check the revocation came from someone allowed to make it (docs/format.md
/// §12), not only that the service says so.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum RevocationRecord {
    /// The application (administrative): `request` signed by one of its keys.
    Application {
        /// The 46-byte [`virgil_card::RevocationRequest`], base64.
        request: String,
        /// Its signature (context `virgil/card-revocation`), base64.
        signature: String,
    },
    /// The owner: `request` signed by the key of `signer`, the revoked card itself or
    /// another card of the same identity, with all of its signatures.
    Owner {
        /// The 46-byte [`virgil_card::RevocationRequest`], base64.
        request: String,
        /// Its signature by `signer`'s key, base64.
        signature: String,
        /// The card whose key signed.
        signer: CardJson,
    },
    /// A reset: `card`, a reset card of the same identity, became active.
    Reset {
        /// The reset card, with all of its signatures.
        card: CardJson,
    },
}

/// A stored card: the card, its status (signed by the service, so that nobody between
/// the service and the client can relabel a revoked card active) and when it was
/// published.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CardResponse {
    /// The card with all its signatures.
    pub card: CardJson,
    /// Its status.
    pub status: CardStatus,
    /// When the service published it, seconds since the Unix epoch.
    pub published_at: u64,
    /// When the service stated the status, seconds since the Unix epoch.
    pub status_as_of: u64,
    /// The service's signature over the status statement ([`CardStatus::statement`]),
    /// base64 of 64 bytes.
    pub status_signature: String,
    /// Who revoked it (present exactly when the status is revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevocationRecord>,
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

/// The answer to a search: active cards, and reset cards still pending (so that the
/// owner's devices see a reset in time to cancel it; nobody encrypts to them).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchResponse {
    /// The cards found, by identity then publication time.
    pub cards: Vec<CardResponse>,
    /// The service's one signature over every card's status statement
    /// ([`search_statement`], context `virgil/search-status`), base64: a client checks
    /// it instead of each card's `status_signature` (one verification per answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statuses_signature: Option<String>,
}

/// The bytes the cards service signs to vouch for every status of a search answer at
/// once (docs/format.md §12): each card's [`CardStatus::statement`], in answer order.
///
/// ```text
/// "VGLQ" ‖ 0x01 ‖ u32be(n) ‖ (u32be(len) ‖ statement)×n
/// ```
pub fn search_statement(cards: &[CardResponse]) -> Vec<u8> {
    let length = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
    let mut bytes = Vec::with_capacity(9 + cards.len() * 90);
    bytes.extend_from_slice(b"VGLQ\x01");
    bytes.extend_from_slice(&length(cards.len()));
    for card in cards {
        let statement = card.status.statement(&card.card.id, card.status_as_of);
        bytes.extend_from_slice(&length(statement.len()));
        bytes.extend_from_slice(&statement);
    }
    bytes
}

/// The service's signature over [`search_statement`] of `cards`.
pub fn sign_search(cards: &[CardResponse], service_key: &PrivateKey) -> Signature {
    sign::sign(
        service_key,
        Context::SEARCH_STATUS,
        &search_statement(cards),
    )
}

/// Whether `signature` is `service_key`'s over [`search_statement`] of `cards`.
pub fn is_search_signed(
    cards: &[CardResponse],
    signature: &Signature,
    service_key: &PublicKey,
) -> bool {
    sign::verify(
        service_key,
        Context::SEARCH_STATUS,
        &search_statement(cards),
        signature,
    )
    .is_ok()
}

/// `POST /v1/cards/{id}/actions/revoke`: a revocation request signed by the card's
/// application key, or by its owner: the key of the card itself or of another active
/// card of the same identity (`signed_by`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RevokeRequest {
    /// The 46-byte [`virgil_card::RevocationRequest`], base64.
    pub request: String,
    /// Its signature (context `virgil/card-revocation`), base64.
    pub signature: String,
    /// Absent: signed by the application key. Present: the card whose key signed (the
    /// revoked card, or another active card of its identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<CardId>,
}

/// `GET /v1/service-key`: the key to pin in clients.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceKeyResponse {
    /// The service's public key (its format.md §2 encoding), base64.
    pub public_key: String,
    /// Its key id, hex.
    pub key_id: String,
}
