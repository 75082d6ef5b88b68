//! The cryptographic core of the Virgil-style SDK: keys, signatures, the multi-recipient
//! signed envelope and password-locked key blobs.
//!
//! Built from vetted primitives — ring (AES-256-GCM, Ed25519 verification, ephemeral
//! ECDH), AWS-LC or RustCrypto `p256`/`x-wing` (the recipient's static keys; one internal
//! backend module chooses, at build time), `ed25519-dalek`, `pbkdf2` and `hkdf`/`sha2` —
//! with protocol glue only. Every format's byte layout is specified in `docs/format.md`,
//! with test vectors in `docs/vectors/` that the tests regenerate and compare.
//!
//! Embedded users depend on this crate alone: it is `#![no_std]` + `alloc`. The default
//! `std` feature adds `std::error::Error` and `io::Read`/`io::Write` streaming
//! ([`envelope::stream`]); `parallel` spreads large one-shot messages over all cores.
//!
//! # Getting started
//!
//! ```
//! use virgil_crypto::{PrivateKey, envelope, keyblob};
//!
//! // Each user generates a key on their device…
//! let alice = PrivateKey::generate()?;
//! let bob = PrivateKey::generate()?;
//!
//! // …and keeps it locked with a password (600 000 PBKDF2 iterations by default).
//! let blob = keyblob::lock(&alice, b"correct horse", keyblob::Params::with_iterations(10_000)?)?;
//! let alice = keyblob::unlock(&blob, Some(b"correct horse"))?;
//!
//! // Alice signs, then encrypts for Bob and for herself.
//! let ciphertext = envelope::sign_then_encrypt(
//!     b"Hey Bob, how's it going?",
//!     &alice,
//!     &[bob.public_key(), alice.public_key()],
//! )?;
//!
//! // Bob decrypts, then verifies against Alice's public key.
//! let message = envelope::decrypt_then_verify(&ciphertext, &bob, &[alice.public_key()])?;
//! assert_eq!(message.plaintext, b"Hey Bob, how's it going?");
//! assert_eq!(&message.sender, alice.key_id());
//! # Ok::<(), virgil_crypto::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod armor;
mod backend;
pub mod encoding;
pub mod envelope;
mod error;
mod hpke;
#[cfg(test)]
mod kat;
mod key;
pub mod keyblob;
#[cfg(feature = "oprf")]
pub mod oprf;
#[cfg(feature = "pairing")]
pub mod pairing;
mod rng;
pub mod sign;

pub use error::{Error, Misuse};
pub use key::{
    KEY_ID_LEN, KeyId, MAX_PUBLIC_KEY_LEN, PQ_PUBLIC_KEY_LEN, PUBLIC_KEY_LEN, PrivateKey,
    PublicKey, SEED_LEN, Suite,
};

/// Test-only hooks (feature `test-util`, never in a production build): deterministic
/// randomness for regenerating the published vectors. Never use it for real keys.
#[cfg(any(test, feature = "test-util"))]
pub mod testing {
    pub use crate::rng::DeterministicRng;

    use crate::{Error, PrivateKey, PublicKey};
    use alloc::vec::Vec;

    /// [`crate::envelope::sign_then_encrypt`] / [`crate::envelope::encrypt`] with all
    /// randomness (content key, nonce, HPKE ephemeral keys) drawn from `rng`.
    pub fn seal_deterministic(
        plaintext: &[u8],
        signer: Option<&PrivateKey>,
        recipients: &[&PublicKey],
        rng: &mut DeterministicRng,
    ) -> Result<Vec<u8>, Error> {
        crate::envelope::seal(plaintext, signer, recipients, rng)
    }

    /// Seals arbitrary `inner` bytes (`docs/format.md` §4.3) into valid envelopes under
    /// one header sealed once: how tests and fuzzers reach the parsing that sits behind
    /// the header MAC and the chunk tags (kind byte, sender key id, signature, lengths).
    pub struct InnerSealer {
        header: crate::envelope::header::SealedHeader,
    }

    impl InnerSealer {
        /// A header for `recipients`, with its nonce, content key and HPKE ephemeral keys
        /// drawn from `rng`.
        pub fn new(recipients: &[&PublicKey], rng: &mut DeterministicRng) -> Result<Self, Error> {
            Ok(Self {
                header: crate::envelope::header::seal(recipients, rng)?,
            })
        }

        /// The envelope `header ‖ mac ‖ STREAM(inner)`; an empty `inner` gives an empty
        /// payload (which every reader rejects as corrupted).
        pub fn seal(&self, inner: &[u8]) -> Result<Vec<u8>, Error> {
            crate::envelope::seal_inner(&self.header, inner)
        }

        /// [`crate::envelope::decrypt_then_verify`] of an envelope from [`Self::seal`],
        /// with the header's HPKE open and MAC check skipped (they are the same for every
        /// envelope of this sealer): everything after them runs as it does there.
        pub fn decrypt_then_verify(
            &self,
            sealed: &[u8],
            senders: &[&PublicKey],
        ) -> Result<Vec<u8>, Error> {
            crate::envelope::decrypt_then_verify_opened(&self.header.opened, sealed, senders)
        }

        /// [`crate::envelope::decrypt`] the same way.
        pub fn decrypt(&self, sealed: &[u8]) -> Result<Vec<u8>, Error> {
            crate::envelope::decrypt_opened(&self.header.opened, sealed)
        }

        /// A [`crate::envelope::stream::DecryptingReader`] over an envelope from
        /// [`Self::seal`], past its header the same way (`senders: None`: unverified).
        #[cfg(feature = "std")]
        pub fn reader<'a>(
            &self,
            sealed: &'a [u8],
            senders: Option<&[&PublicKey]>,
        ) -> Result<crate::envelope::stream::DecryptingReader<&'a [u8]>, Error> {
            Ok(crate::envelope::stream::DecryptingReader::from_opened(
                crate::envelope::split(sealed)?.payload,
                self.header.opened.clone(),
                senders,
            ))
        }

        /// The well-formed signed `inner` of `plaintext` under this header (§4.3,
        /// §4.6): `0x01 ‖ signer's key id ‖ plaintext ‖ signature`, to seal as it is or
        /// to modify first.
        pub fn signed_inner(&self, plaintext: &[u8], signer: &PrivateKey) -> Vec<u8> {
            use crate::envelope::{KIND_SIGNED, digest, signed_message};
            let message =
                signed_message(&self.header.opened.header_hash, &digest::digest(plaintext));
            let signature = crate::sign::sign(signer, crate::sign::Context::MESSAGE, &message);
            let mut inner = Vec::with_capacity(1 + 32 + plaintext.len() + 64);
            inner.push(KIND_SIGNED);
            inner.extend_from_slice(signer.key_id().as_bytes());
            inner.extend_from_slice(plaintext);
            inner.extend_from_slice(signature.as_bytes());
            inner
        }
    }

    /// [`crate::keyblob::lock`] with the salt and nonce drawn from `rng`.
    pub fn lock_deterministic(
        key: &PrivateKey,
        password: Option<&[u8]>,
        params: crate::keyblob::Params,
        rng: &mut DeterministicRng,
    ) -> Result<Vec<u8>, Error> {
        crate::keyblob::lock_with(key, password, params, rng)
    }

    /// [`crate::keyblob::lock_hardened`] with salt and nonce drawn from `rng`.
    pub fn lock_hardened_deterministic(
        key: &PrivateKey,
        hardened: &crate::keyblob::HardenedPassword,
        params: crate::keyblob::Params,
        rng: &mut DeterministicRng,
    ) -> Result<Vec<u8>, Error> {
        crate::keyblob::lock_hardened_with(key, hardened, params, rng)
    }
}
