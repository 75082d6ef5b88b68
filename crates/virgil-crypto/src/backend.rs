//! The cryptographic backend: the only module that names ring, AWS-LC or a KEM crate's
//! fast path. Everything above it (HPKE, the envelope, key blobs, signatures) speaks to
//! this small internal interface and never to a library directly.
//!
//! Two halves:
//! - [`common`]: what both backends take from ring — AES-256-GCM ([`AeadKey`]), the
//!   system generator ([`SystemRandom`]), the sender's ephemeral P-256 ECDH and Ed25519
//!   verification;
//! - the *static-key backend*, chosen **once, here**, by the `aws-lc` feature:
//!   [`P256StaticKey`] (the recipient's P-256 ECDH) and the X-Wing halves
//!   ([`XWingDecapsulationKey`], [`XWingEncapsulationKey`]) run on AWS-LC
//!   (`backend/aws_lc.rs`, default: about three times faster) or on the pure-Rust
//!   RustCrypto crates (`backend/pure_rust.rs`, e.g. for `no_std`).
//!
//! Both static-key backends expose the same names with the same signatures, and the
//! tests in `kat.rs` hold each to the RFC 9180 and X-Wing vectors (CI builds both).
//! Adding a backend means adding one file here; no caller changes.

mod common;

#[cfg(feature = "aws-lc")]
#[path = "backend/aws_lc.rs"]
mod static_keys;
#[cfg(not(feature = "aws-lc"))]
#[path = "backend/pure_rust.rs"]
mod static_keys;

pub(crate) use common::{
    AEAD_NONCE_LEN, AEAD_TAG_LEN, AeadKey, SystemRandom, Unspecified, ed25519_verify,
    p256_ephemeral_agree,
};
pub(crate) use static_keys::{P256StaticKey, XWingDecapsulationKey, XWingEncapsulationKey};

/// `(enc, shared_secret)` of one X-Wing encapsulation.
pub(crate) type XWingEncapsulated = (
    alloc::boxed::Box<[u8; x_wing::CIPHERTEXT_SIZE]>,
    zeroize::Zeroizing<[u8; 32]>,
);
