//! The cryptographic core of the Virgil-style SDK: keys, signatures, the multi-recipient
//! signed envelope and password-locked key blobs.
//!
//! Built from vetted primitives — ring (AES-256-GCM, Ed25519, PBKDF2, ephemeral ECDH),
//! RustCrypto `p256` (static ECDH) and `hkdf`/`sha2` — with protocol glue only. Every
//! format's byte layout is specified in `docs/format.md`, with test vectors in
//! `docs/vectors/` that the tests regenerate and compare.
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
pub mod encoding;
pub mod envelope;
mod error;
mod hpke;
#[cfg(test)]
mod kat;
mod key;
pub mod keyblob;
mod rng;
pub mod sign;

pub use error::{Error, Misuse};
pub use key::{KEY_ID_LEN, KeyId, PUBLIC_KEY_LEN, PrivateKey, PublicKey, SEED_LEN};

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

    /// [`crate::keyblob::lock`] with the salt and nonce drawn from `rng`.
    pub fn lock_deterministic(
        key: &PrivateKey,
        password: Option<&[u8]>,
        params: crate::keyblob::Params,
        rng: &mut DeterministicRng,
    ) -> Result<Vec<u8>, Error> {
        crate::keyblob::lock_with(key, password, params, rng)
    }
}
