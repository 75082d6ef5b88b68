//! Cards: the binding of an identity to a public key.
//!
//! A card's content (identity, identity type, public key, application id, data, device
//! info, created-at, previous card id) is encoded once into a *snapshot* that is stored
//! and sent verbatim; the card id is the SHA-256 of that snapshot. The owner (`self`),
//! the application (`app:<app id>`) and the cards service (`service`) each sign it. This
//! crate holds that model, the [`Verifier`] every client applies before using a card,
//! export/import (including the card's JSON form, [`CardJson`]) and revocation requests.
//!
//! It is also the specification of the card lifecycle, free of I/O (as `akd_core` is
//! for akd): whose card a card is ([`CardIdentity`]), who may add, link, revoke and
//! reset one ([`lifecycle`]: the pure decisions the cards service's stores carry out in
//! their transactions), the service's signed statements of status ([`status`]) and what
//! a client remembers and re-checks ([`contact`]: contacts, the device's own identity,
//! safety numbers). Servers and clients share these definitions; how cards travel over
//! HTTP is `virgil-api`'s. Formats: `docs/format.md`.
//!
//! Depend on it if you handle cards without talking to a server (an application backend
//! approving card requests, a tool inspecting cards). It depends on `virgil-crypto` only.
//!
//! # The life of a card
//!
//! ```
//! use virgil_card::{Card, CardRequest, Signer, Verifier};
//! use virgil_crypto::PrivateKey;
//!
//! // On the device: a key and a self-signed card request, exported as a string.
//! let alice_key = PrivateKey::generate()?;
//! let exported = CardRequest::new("alice", "chat").sign(&alice_key)?.export();
//!
//! // On the application server: import, check the self-signature (and that the
//! // identity is the logged-in user), approve.
//! let app_key = PrivateKey::generate()?;
//! let mut card = Card::import(&exported)?;
//! card.verify_self_signature()?;
//! assert_eq!(card.identity(), "alice");
//! card.sign_as(Signer::App("chat".into()), &app_key)?;
//!
//! // At the cards service: countersign and publish.
//! let service_key = PrivateKey::generate()?;
//! card.sign_as(Signer::Service, &service_key)?;
//!
//! // On every client: verify against pinned keys before use.
//! let verifier = Verifier::new()
//!     .trust_service(service_key.public_key().clone())
//!     .trust_app("chat", app_key.public_key().clone());
//! verifier.verify(&card)?;
//! assert_eq!(card.public_key(), alice_key.public_key());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backup;
mod card;
pub mod checkpoint;
pub mod contact;
pub mod content;
pub mod directory;
mod error;
mod export;
mod id;
mod identity;
pub mod lifecycle;
mod revocation;
mod safety_number;
pub mod status;
#[cfg(test)]
mod testing;
mod verify;

pub use card::{Card, CardRequest, CardSignature, Signer};
pub use contact::{Contact, OwnCards, OwnReview, PinnedState, Review};
pub use content::{CardContent, DeviceInfo};
pub use error::{CardError, VerifyError};
pub use export::{CardJson, MAX_EXPORT_LEN, MAX_SIGNATURES, SignatureJson};
pub use id::CardId;
pub use identity::CardIdentity;
pub use revocation::{REVOCATION_LEN, RevocationReason, RevocationRequest};
pub use safety_number::{
    SafetyNumber, VERIFICATION_CODE_PREFIX, VerificationCode, VerificationCodeError, safety_number,
};
pub use status::{CardStatus, RevocationRecord, SearchStatement, StatusError};
pub use verify::Verifier;
