//! Private keys, public keys and key ids.
//!
//! A private key is one 32-byte random seed. Two subkeys are derived from it with
//! HKDF-SHA256 and distinct labels: an Ed25519 signing key and a P-256 HPKE key (the
//! latter through RFC 9180 `DeriveKeyPair`). The public key is both public halves plus a
//! suite id in one canonical 100-byte encoding; the key id is its SHA-256.

use crate::{Error, hpke};
use core::fmt;
use hkdf::Hkdf;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// Length of a private key seed.
pub const SEED_LEN: usize = 32;
/// Length of an encoded [`PublicKey`].
pub const PUBLIC_KEY_LEN: usize = 100;
/// Length of a [`KeyId`].
pub const KEY_ID_LEN: usize = 32;

/// The two bytes every encoded public key starts with: `"VK"`.
const PUBLIC_KEY_MAGIC: [u8; 2] = *b"VK";
/// Suite 1: Ed25519 signatures, HPKE DHKEM(P-256, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM.
const SUITE_V1: u8 = 0x01;
const ED25519_LEN: usize = 32;

/// HKDF salt and labels of the subkey derivation (`docs/format.md`, "Private key").
const DERIVE_SALT: &[u8] = b"virgil-key-v1";
const DERIVE_SIGNING: &[u8] = b"ed25519 signing seed";
const DERIVE_ENCRYPTION: &[u8] = b"p256 hpke ikm";

/// A private key: signs messages and decrypts envelopes.
///
/// Zeroized on drop; `Debug` shows only the key id; no `Serialize`. Save it with
/// [`crate::keyblob::lock`]; export the raw seed only through [`PrivateKey::to_seed`].
pub struct PrivateKey {
    seed: Zeroizing<[u8; SEED_LEN]>,
    /// The Ed25519 key, expanded once (a signature does not recompute the public
    /// point); `ed25519-dalek` zeroizes it on drop.
    signing: ed25519_dalek::SigningKey,
    decryption: hpke::RecipientKey,
    public: PublicKey,
}

impl PrivateKey {
    /// Generates a new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, Error> {
        let seed = Zeroizing::new(crate::rng::random_array::<SEED_LEN>()?);
        Self::from_seed(&seed)
    }

    /// Rebuilds a key from its 32-byte seed. Every seed is a valid key.
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Result<Self, Error> {
        let hkdf = Hkdf::<Sha256>::new(Some(DERIVE_SALT), seed);
        let mut signing_seed = Zeroizing::new([0u8; SEED_LEN]);
        let mut encryption_ikm = Zeroizing::new([0u8; 32]);
        hkdf.expand(DERIVE_SIGNING, signing_seed.as_mut())
            .map_err(|_| Error::Malformed)?;
        hkdf.expand(DERIVE_ENCRYPTION, encryption_ikm.as_mut())
            .map_err(|_| Error::Malformed)?;

        let signing = ed25519_dalek::SigningKey::from_bytes(&signing_seed);
        let decryption = hpke::RecipientKey::new(&hpke::derive_key_pair(encryption_ikm.as_ref())?)?;

        let mut encoding = [0u8; PUBLIC_KEY_LEN];
        encoding[..2].copy_from_slice(&PUBLIC_KEY_MAGIC);
        encoding[2] = SUITE_V1;
        encoding[3..3 + ED25519_LEN].copy_from_slice(signing.verifying_key().as_bytes());
        encoding[3 + ED25519_LEN..].copy_from_slice(decryption.public_point());
        Ok(Self {
            seed: Zeroizing::new(*seed),
            signing,
            decryption,
            public: PublicKey::from_trusted_encoding(encoding),
        })
    }

    /// The seed this key was made from. Anyone with these bytes has the key: keep them
    /// in the returned `Zeroizing` and never log them.
    pub fn to_seed(&self) -> Zeroizing<[u8; SEED_LEN]> {
        Zeroizing::new(*self.seed)
    }

    /// The public half, to publish on a card.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key id of the public half.
    pub fn key_id(&self) -> &KeyId {
        &self.public.key_id
    }

    pub(crate) fn signing_key(&self) -> &ed25519_dalek::SigningKey {
        &self.signing
    }

    pub(crate) fn decryption_key(&self) -> &hpke::RecipientKey {
        &self.decryption
    }
}

impl PartialEq for PrivateKey {
    /// Constant-time comparison of the seeds.
    fn eq(&self, other: &Self) -> bool {
        self.seed.as_ref().ct_eq(other.seed.as_ref()).into()
    }
}

impl Eq for PrivateKey {}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_id", &self.public.key_id)
            .finish_non_exhaustive()
    }
}

/// A public key: verifies signatures and is what envelopes are encrypted to.
///
/// Its canonical encoding ([`PublicKey::as_bytes`]) is 100 bytes:
/// `"VK"` ‖ suite `0x01` ‖ Ed25519 public key (32) ‖ uncompressed P-256 point (65).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    encoding: [u8; PUBLIC_KEY_LEN],
    key_id: KeyId,
}

impl PublicKey {
    /// Parses and validates an encoded public key: length, magic, suite, and that the
    /// P-256 point is on the curve (an uncompressed point is never the identity).
    ///
    /// The Ed25519 half is not decompressed here (ring offers no such check); a
    /// malformed Ed25519 key simply never verifies any signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let encoding: [u8; PUBLIC_KEY_LEN] =
            bytes.try_into().map_err(|_| Error::InvalidPublicKey)?;
        let (magic, rest) = encoding.split_at(2);
        let (suite, rest) = rest.split_at(1);
        let (_ed25519, p256_point) = rest.split_at(ED25519_LEN);
        if magic != PUBLIC_KEY_MAGIC {
            return Err(Error::InvalidPublicKey);
        }
        if suite != [SUITE_V1] {
            return Err(Error::UnsupportedVersion);
        }
        hpke::deserialize_public_key(p256_point)?;
        Ok(Self::from_trusted_encoding(encoding))
    }

    fn from_trusted_encoding(encoding: [u8; PUBLIC_KEY_LEN]) -> Self {
        let key_id = KeyId(Sha256::digest(encoding).into());
        Self { encoding, key_id }
    }

    /// The canonical 100-byte encoding.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.encoding
    }

    /// SHA-256 of the canonical encoding.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub(crate) fn ed25519(&self) -> &[u8] {
        &self.encoding[3..3 + ED25519_LEN]
    }

    pub(crate) fn p256_point(&self) -> &[u8; hpke::POINT_LEN] {
        // The encoding is exactly 3 + 32 + 65 bytes, so this split cannot fail.
        match self.encoding.split_last_chunk::<{ hpke::POINT_LEN }>() {
            Some((_, point)) => point,
            None => &[0; hpke::POINT_LEN],
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a public key's canonical encoding; shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    /// Wraps 32 bytes as a key id (no check is possible: every value is a valid id).
    pub const fn from_bytes(bytes: [u8; KEY_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_ID_LEN] {
        &self.0
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(text: &str) -> Result<Self, crate::encoding::DecodeError> {
        let bytes = crate::encoding::from_hex(text)?;
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| crate::encoding::DecodeError::InvalidHex)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::encoding::to_hex(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_round_trip_and_determinism() {
        let key = PrivateKey::generate().unwrap();
        let again = PrivateKey::from_seed(&key.to_seed()).unwrap();
        assert_eq!(key, again);
        assert_eq!(key.public_key(), again.public_key());
        assert_ne!(key, PrivateKey::generate().unwrap());
    }

    #[test]
    fn public_key_round_trip() {
        let key = PrivateKey::from_seed(&[7; 32]).unwrap();
        let public = PublicKey::from_bytes(key.public_key().as_bytes()).unwrap();
        assert_eq!(&public, key.public_key());
        assert_eq!(
            public.key_id().as_bytes(),
            &<[u8; 32]>::from(Sha256::digest(public.as_bytes()))
        );
    }

    #[test]
    fn public_key_rejects_bad_encodings() {
        let key = PrivateKey::from_seed(&[7; 32]).unwrap();
        let good = *key.public_key().as_bytes();
        assert_eq!(
            PublicKey::from_bytes(&good[..99]),
            Err(Error::InvalidPublicKey)
        );
        let mut bad = good;
        bad[0] = b'X';
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::InvalidPublicKey));
        let mut bad = good;
        bad[2] = 2;
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::UnsupportedVersion));
        let mut bad = good;
        bad[35] = 0x02; // compressed tag with an uncompressed length
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::InvalidPublicKey));
        let mut bad = good;
        bad[99] ^= 1; // off the curve
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::InvalidPublicKey));
    }

    #[test]
    fn debug_is_redacted() {
        let key = PrivateKey::from_seed(&[0x42; 32]).unwrap();
        let text = alloc::format!("{key:?}");
        assert!(text.starts_with("PrivateKey { key_id: KeyId("), "{text}");
        assert!(!text.contains("4242"), "{text}");
    }

    #[test]
    fn key_id_hex_round_trip() {
        let key = PrivateKey::from_seed(&[1; 32]).unwrap();
        let text = alloc::string::ToString::to_string(key.key_id());
        assert_eq!(text.len(), 64);
        assert_eq!(&KeyId::from_hex(&text).unwrap(), key.key_id());
        assert!(KeyId::from_hex(&text[..62]).is_err());
    }
}
