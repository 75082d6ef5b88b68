//! What every backend takes from ring: AES-256-GCM, the system generator, the sender's
//! ephemeral P-256 ECDH (fast, and the key never leaves ring) and Ed25519 verification.

use crate::Error;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use ring::rand::SecureRandom as _;

/// Length of an AES-256-GCM nonce.
pub(crate) const AEAD_NONCE_LEN: usize = 12;
/// Length of an AES-256-GCM tag.
pub(crate) const AEAD_TAG_LEN: usize = 16;

/// A backend operation failed; the caller says what that means (*corrupted*,
/// *malformed*, …), so no detail is carried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unspecified;

/// An AES-256-GCM key, expanded once; the raw key bytes stay with the caller's
/// `Zeroizing`.
#[derive(Clone)]
pub(crate) struct AeadKey(LessSafeKey);

impl AeadKey {
    /// Expands a 256-bit key (ring checks only the length, which the type fixes).
    pub(crate) fn new(key: &[u8; 32]) -> Result<Self, Unspecified> {
        UnboundKey::new(&AES_256_GCM, key)
            .map(|key| Self(LessSafeKey::new(key)))
            .map_err(|_| Unspecified)
    }

    /// Encrypts `data` in place and returns the tag. Fails only past GCM's length limit.
    pub(crate) fn seal_separate_tag(
        &self,
        nonce: [u8; AEAD_NONCE_LEN],
        aad: &[u8],
        data: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], Unspecified> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), data)
            .map_err(|_| Unspecified)?;
        let mut out = [0u8; AEAD_TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts `data` in place if `tag` authenticates it (compared in constant time by
    /// ring); on failure `data` holds nothing usable.
    pub(crate) fn open_separate_tag(
        &self,
        nonce: [u8; AEAD_NONCE_LEN],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), Unspecified> {
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                Tag::from(*tag),
                data,
                0..,
            )
            .map(|_| ())
            .map_err(|_| Unspecified)
    }

    /// Encrypts `buf` in place and appends the tag.
    pub(crate) fn seal_append_tag(
        &self,
        nonce: [u8; AEAD_NONCE_LEN],
        aad: &[u8],
        buf: &mut alloc::vec::Vec<u8>,
    ) -> Result<(), Unspecified> {
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .map_err(|_| Unspecified)
    }

    /// Decrypts `ciphertext ‖ tag` in place; returns the plaintext's length.
    pub(crate) fn open_appended_tag(
        &self,
        nonce: [u8; AEAD_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, Unspecified> {
        self.0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .map(|plaintext| plaintext.len())
            .map_err(|_| Unspecified)
    }
}

/// The operating system's generator.
pub(crate) struct SystemRandom(ring::rand::SystemRandom);

impl SystemRandom {
    pub(crate) fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }

    /// Fills `out`; fails only if the operating system cannot.
    pub(crate) fn fill(&self, out: &mut [u8]) -> Result<(), Unspecified> {
        self.0.fill(out).map_err(|_| Unspecified)
    }
}

/// Length of an uncompressed SEC1 P-256 point.
const P256_POINT_LEN: usize = 65;

/// The sender's half of a P-256 ECDH: a fresh ephemeral key from `random`, agreed with
/// `peer` (an uncompressed point; *invalid public key* if it is not on the curve).
/// `kdf` receives the ephemeral public point and the shared secret; the ephemeral key
/// never leaves ring.
pub(crate) fn p256_ephemeral_agree<T>(
    random: &SystemRandom,
    peer: &[u8; P256_POINT_LEN],
    kdf: impl FnOnce(&[u8; P256_POINT_LEN], &[u8]) -> Result<T, Error>,
) -> Result<([u8; P256_POINT_LEN], T), Error> {
    use ring::agreement;
    let ephemeral = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &random.0)
        .map_err(|_| Error::RandomFailed)?;
    let public = ephemeral
        .compute_public_key()
        .map_err(|_| Error::RandomFailed)?;
    let enc: [u8; P256_POINT_LEN] = public
        .as_ref()
        .try_into()
        .map_err(|_| Error::InvalidPublicKey)?;
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, peer);
    let derived = agreement::agree_ephemeral(ephemeral, &peer, |dh| kdf(&enc, dh))
        .map_err(|_| Error::InvalidPublicKey)??;
    Ok((enc, derived))
}

/// Ed25519 (RFC 8032) verification of `signature` over `message` by `public`.
pub(crate) fn ed25519_verify(
    public: &[u8],
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), Unspecified> {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public)
        .verify(message, signature)
        .map_err(|_| Unspecified)
}
