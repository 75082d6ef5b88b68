//! Errors: one enum for building and decoding cards, one for verification.

use crate::Signer;

/// A card, card request or revocation that is not well-formed.
///
/// Each limit violation names the field and the limit, so the message can be shown to
/// the person who typed the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// A required text field is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field, as named in the card format.
        field: &'static str,
    },
    /// A text field is longer than its limit.
    #[error("{field} is too long: at most {max} characters")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The limit, in characters.
        max: usize,
    },
    /// A field holds characters it may not hold.
    #[error("{field} may only contain {allowed}")]
    InvalidCharacters {
        /// The field.
        field: &'static str,
        /// What is allowed, in words.
        allowed: &'static str,
    },
    /// More data entries than allowed.
    #[error("data has too many entries: at most {max}")]
    TooManyDataEntries {
        /// The limit.
        max: usize,
    },
    /// The public key bytes are not a valid public key.
    #[error("public key is invalid: {0}")]
    InvalidPublicKey(virgil_crypto::Error),
    /// Two signatures by the same signer.
    #[error("the card already has a signature by {0}")]
    DuplicateSigner(Signer),
    /// A signer name that is not `self`, `service`, `app:<app id>` or `link:<card id>`.
    #[error("unknown signer name {0:?} (expected self, service, app:<app id> or link:<card id>)")]
    InvalidSigner(String),
    /// A link between cards that cannot be made: different identities or applications,
    /// a card linking itself, or a key that is not the linking card's.
    #[error("cannot link the cards: {0}")]
    InvalidLink(&'static str),
    /// A data entry under the reserved `virgil.` prefix other than `virgil.reset = "1"`.
    #[error(
        "data key {key:?} is reserved: the only `virgil.` entry a card may carry is `virgil.reset = \"1\"` (a reset card, docs/format.md §7)"
    )]
    ReservedData {
        /// The key.
        key: String,
    },
    /// A card id that is not 64 lowercase hex digits.
    #[error("card id must be 64 lowercase hex digits")]
    InvalidCardId,
    /// The id given with a card does not match the SHA-256 of its snapshot.
    #[error("card id does not match the card's content (expected {expected})")]
    IdMismatch {
        /// The id computed from the snapshot.
        expected: crate::CardId,
    },
    /// The bytes are not a card in this format (wrong magic, truncated, trailing bytes,
    /// non-canonical encoding, too large).
    #[error("not a valid {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: &'static str,
    },
    /// A format version this build does not know.
    #[error("unsupported {what} version {version} (made by a newer version of the software?)")]
    UnsupportedVersion {
        /// What was being decoded.
        what: &'static str,
        /// The version found.
        version: u8,
    },
}

/// Why a card failed verification. Each variant names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The card has no self-signature.
    #[error("card {card} has no self-signature")]
    MissingSelfSignature {
        /// The card id.
        card: crate::CardId,
    },
    /// The self-signature does not match the card's own public key.
    #[error("card {card}: self-signature does not match the card's public key")]
    BadSelfSignature {
        /// The card id.
        card: crate::CardId,
    },
    /// The card belongs to an application this verifier does not trust.
    #[error("card {card} belongs to application {app_id:?}, which is not trusted")]
    UntrustedApplication {
        /// The card id.
        card: crate::CardId,
        /// The card's application id.
        app_id: String,
    },
    /// The application's signature is missing.
    #[error("card {card} has no signature by its application {app_id:?}")]
    MissingAppSignature {
        /// The card id.
        card: crate::CardId,
        /// The card's application id.
        app_id: String,
    },
    /// The application's signature matches none of the trusted application keys.
    #[error("card {card}: signature of application {app_id:?} does not match its trusted keys")]
    BadAppSignature {
        /// The card id.
        card: crate::CardId,
        /// The card's application id.
        app_id: String,
    },
    /// The cards service's signature is missing.
    #[error("card {card} has no cards-service signature")]
    MissingServiceSignature {
        /// The card id.
        card: crate::CardId,
    },
    /// The service signature matches none of the trusted service keys.
    #[error("card {card}: service signature does not match the trusted cards-service keys")]
    BadServiceSignature {
        /// The card id.
        card: crate::CardId,
    },
    /// A signature by a signer the policy does not know, and the policy forbids extras.
    #[error("card {card} carries a signature by {signer}, which this policy does not accept")]
    UnexpectedSigner {
        /// The card id.
        card: crate::CardId,
        /// The extra signer.
        signer: Signer,
    },
}
