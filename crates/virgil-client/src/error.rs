//! The one error type of both clients.

use virgil_api::ErrorCode;
use virgil_card::checkpoint::CheckpointError;
use virgil_card::directory::DirectoryProofError;
use virgil_card::{CardError, StatusError, VerifyError};

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server could not be reached (after the configured retries).
    #[error("cannot reach {url}: {message}")]
    Transport {
        /// The URL called.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The service answered with an error.
    #[error("the server refused the request: {message} ({status} {code})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable error code (see docs/api.md).
        code: ErrorCode,
        /// The service's message.
        message: String,
        /// How long the service asked the caller to wait before trying again (its
        /// `Retry-After`), in seconds: on 429 and 503.
        retry_after_seconds: Option<u64>,
    },
    /// The service's answer is not what the API promises.
    #[error("unexpected answer from the server: {0}")]
    InvalidResponse(String),
    /// A card from the service failed verification; it was not returned.
    #[error("a card from the cards service failed verification: {0}")]
    Verification(#[from] VerifyError),
    /// A card from the service does not decode.
    #[error("a card from the cards service is malformed: {0}")]
    Card(#[from] CardError),
    /// The request could not be encoded (a bug, or a value JSON cannot carry).
    #[error("could not encode the request: {0}")]
    Request(String),
    /// The TLS trust settings are not usable (e.g. a CA file that holds no certificate).
    #[error("TLS: {0}")]
    Tls(String),
    /// A card's status, or a search answer, is not the cards service's signed
    /// statement, is stale, or comes with a revocation nobody allowed made.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// A plain `http://` URL whose host is not loopback: refused before anything is
    /// sent (virgil_api::transport).
    #[error("{0}")]
    PlainHttp(String),
    /// The token source failed.
    #[error("could not get an access token: {0}")]
    Token(String),
    /// A key directory checkpoint was refused: not signed by the pinned service key,
    /// older than one this device accepted (rollback), a second root for an epoch it
    /// accepted (fork), or of another directory.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A key directory proof failed, or the cards served are not the ones the directory
    /// commits to (hidden, added, un-revoked).
    #[error(transparent)]
    Directory(#[from] DirectoryProofError),
    /// The store of the newest checkpoint failed (e.g. its file cannot be written).
    #[error("cannot keep the key directory checkpoint: {0}")]
    CheckpointStore(String),
    /// The cards service's key-backup OPRF key is not signed by the pinned service key,
    /// or is another application's.
    #[error(
        "the cards service's backup key is not signed by the pinned service key for this application (changed on the way?): refused"
    )]
    BackupKeyNotSigned,
    /// The cards service's evaluation of a backup password does not prove it used its
    /// published key for this identity: refused, nothing was unlocked or stored.
    #[error(
        "the cards service's answer does not prove it used its published backup key for this identity (changed on the way, or another key): refused"
    )]
    BackupProof,
}
