//! The cards service's bodies: publish, get, search, revoke, service key. What the
//! statuses and statements *mean* (and how they are signed and checked) is
//! `virgil_card::status`; this module says how they travel.

use virgil_card::{CardId, CardJson};

pub use virgil_card::status::{CardStatus, RevocationRecord};

/// The most identities one search may name.
pub const MAX_SEARCH_IDENTITIES: usize = 50;
/// The largest request body the cards service reads, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
    /// The service's signature over the status statement
    /// ([`CardStatus::statement`]), base64 of 64 bytes.
    pub status_signature: String,
    /// Who revoked it (present exactly when the status is revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevocationRecord>,
    /// In the answer to `GET /v1/cards/{id}`: the key directory's proof of the card
    /// owner's entry, which must agree with `status` (docs/format.md §15). Absent
    /// elsewhere (a search carries its proofs once, for all its cards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryProofs>,
}

/// `POST /v1/cards/actions/search`: every card of these identities (whatever their
/// identity type) that is active or pending.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchRequest {
    /// 1 to [`MAX_SEARCH_IDENTITIES`] identities.
    pub identities: Vec<String>,
}

/// The answer to a search: active cards, and reset cards still pending (so that the
/// owner's devices see a reset in time to cancel it; nobody encrypts to them), with the
/// service's one signature over the query and all of them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchResponse {
    /// The application searched (the caller's).
    pub app_id: String,
    /// When the service answered, seconds since the Unix epoch.
    pub as_of: u64,
    /// The cards found, by identity then publication time.
    pub cards: Vec<CardResponse>,
    /// The service's signature over [`virgil_card::SearchStatement`] of the application,
    /// the identities asked for, `as_of` and every card's status statement, base64
    /// (context `virgil/search-status`). A client refuses an answer without it.
    pub statuses_signature: String,
    /// The key directory's proofs that `cards` are exactly each identity's entry
    /// (docs/format.md §15); absent only from a service without a directory, which
    /// clients refuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryProofs>,
}

/// Lookup proofs of some identities against one signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DirectoryProofs {
    /// The signed checkpoint of the epoch the proofs are for (format.md §14), base64.
    pub checkpoint: String,
    /// One proof per identity asked for that is in the directory; an identity never
    /// published has none (and no cards).
    pub proofs: Vec<IdentityProof>,
}

/// One identity's proof.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdentityProof {
    /// The identity (in the caller's application).
    pub identity: String,
    /// akd's protobuf `LookupProof` (or `HistoryProof`, in a history answer) in the wire
    /// encoding of docs/format.md §15, base64.
    pub proof: String,
}

/// `GET /v1/directory/checkpoint[?epoch=N]`: a signed checkpoint, the latest by default.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointResponse {
    /// The signed checkpoint (format.md §14), base64.
    pub checkpoint: String,
}

/// `POST /v1/directory/actions/history`: every version of one identity's entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryRequest {
    /// The identity (in the caller's application).
    pub identity: String,
}

/// The answer to a [`HistoryRequest`]: a history proof against the latest checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryResponse {
    /// The signed checkpoint the proof is for, base64.
    pub checkpoint: String,
    /// akd's protobuf `HistoryProof` of every version (docs/format.md §15's wire
    /// encoding), base64.
    pub proof: String,
}

/// `POST /v1/directory/actions/audit`: the append-only proof between two epochs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRequest {
    /// The first epoch (≥ 1).
    pub from: u64,
    /// The last epoch: after `from`, at most [`MAX_AUDIT_EPOCHS`] after it, and at most
    /// the latest signed one.
    pub to: u64,
}

/// The most epochs one audit request may span.
pub const MAX_AUDIT_EPOCHS: u64 = 256;

/// The answer to an [`AuditRequest`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditResponse {
    /// The signed checkpoint of every epoch from `from` to `to`, in order, base64.
    pub checkpoints: Vec<String>,
    /// akd's protobuf `AppendOnlyProof` from `from` to `to`, base64.
    pub proof: String,
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

/// `GET /v1/backup/oprf-key`: the caller's application's key-backup OPRF public key,
/// signed by the service key (docs/format.md §16), so a client that pinned the service
/// key pins this one too.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OprfKeyResponse {
    /// The application.
    pub app_id: String,
    /// The OPRF public key: a compressed P-256 point, base64 (33 bytes).
    pub public_key: String,
    /// The service key's signature over the statement (`virgil/backup-oprf-key`), base64.
    pub signature: String,
}

/// `POST /v1/backup/actions/evaluate`: one evaluation of the oblivious PRF on a blinded
/// backup password, under the caller's identity. Each one counts as a guess.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EvaluateRequest {
    /// The blinded password: a compressed P-256 point, base64 (33 bytes).
    pub blinded: String,
}

/// The answer to an evaluation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EvaluateResponse {
    /// The evaluated element and its proof, base64 (33 + 64 bytes).
    pub evaluation: String,
    /// The caller's guesses, this one included.
    pub guesses: BackupGuesses,
}

/// How many backup-password evaluations (guesses) an identity has used
/// (`GET /v1/backup/guesses`; it counts none). The first `free_per_window` in a window
/// of `window_seconds` are answered at once; each further one waits twice as long as
/// the one before (`next_at`), until a whole window passes with none.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupGuesses {
    /// Evaluations in the current window.
    pub used: u64,
    /// Evaluations a window allows before the back-off starts.
    pub free_per_window: u64,
    /// The window, in seconds.
    pub window_seconds: u64,
    /// Every evaluation ever answered for this identity: more than you made means
    /// someone else is guessing your backup password.
    pub total: u64,
    /// The last evaluation, seconds since the Unix epoch.
    pub last_at: Option<u64>,
    /// The earliest time of the next evaluation (seconds since the Unix epoch; at or
    /// before now: at once).
    pub next_at: u64,
}
