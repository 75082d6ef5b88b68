//! Private keys, public keys and key ids.
//!
//! A private key is one 32-byte random seed and a [`Suite`]. Two subkeys are derived
//! from the seed with HKDF-SHA256, a salt naming the suite and distinct labels: an
//! Ed25519 signing key, and the suite's HPKE key (suite 1: P-256 through RFC 9180
//! `DeriveKeyPair`; suite 2: X-Wing, whose private key is itself a seed). The public key
//! is both public halves plus the suite id in one canonical encoding (100 bytes in suite
//! 1, 1251 in suite 2); the key id is its SHA-256.

use crate::{Error, hpke};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use hkdf::Hkdf;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// Length of a private key seed.
pub const SEED_LEN: usize = 32;
/// Length of an encoded suite-1 [`PublicKey`] ([`Suite::Classic`]).
pub const PUBLIC_KEY_LEN: usize = 100;
/// Length of an encoded suite-2 [`PublicKey`] ([`Suite::PostQuantum`]).
pub const PQ_PUBLIC_KEY_LEN: usize = 3 + ED25519_LEN + hpke::xwing::PUBLIC_LEN;
/// The longest encoded [`PublicKey`] of any suite.
pub const MAX_PUBLIC_KEY_LEN: usize = PQ_PUBLIC_KEY_LEN;
/// Length of a [`KeyId`].
pub const KEY_ID_LEN: usize = 32;

/// The two bytes every encoded public key starts with: `"VK"`.
const PUBLIC_KEY_MAGIC: [u8; 2] = *b"VK";
const ED25519_LEN: usize = 32;

/// HKDF labels of the subkey derivation (`docs/format.md`, "Private key"); the salt is
/// the suite's.
const DERIVE_SIGNING: &[u8] = b"ed25519 signing seed";
const DERIVE_P256: &[u8] = b"p256 hpke ikm";
const DERIVE_XWING: &[u8] = b"x-wing seed";
/// The label prefix of [`PrivateKey::derive_secret`]: every derived secret's label is
/// `"virgil/derived/" ‖ purpose`, so none can equal a subkey label above.
const DERIVE_PURPOSE_PREFIX: &[u8] = b"virgil/derived/";

/// The algorithms of a key: what its public key encrypts to. Both suites sign with
/// Ed25519; they differ in the KEM that protects the content key of an envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Suite {
    /// Suite 1: HPKE DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM. Small (a
    /// 100-byte public key, 145 bytes per recipient) and the default, but a quantum
    /// computer could one day open what was encrypted to it.
    Classic,
    /// Suite 2: HPKE with X-Wing (ML-KEM-768 + X25519) / HKDF-SHA256 / AES-256-GCM.
    /// Post-quantum: an envelope stays secret unless both ML-KEM-768 and X25519 are
    /// broken. A 1251-byte public key and 1201 bytes per recipient.
    PostQuantum,
}

impl Suite {
    /// Every suite, oldest first.
    pub const ALL: [Suite; 2] = [Suite::Classic, Suite::PostQuantum];

    /// The suite byte of the encodings (`0x01`, `0x02`).
    pub const fn id(self) -> u8 {
        match self {
            Suite::Classic => 0x01,
            Suite::PostQuantum => 0x02,
        }
    }

    /// The suite with this byte, if this version knows it.
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            0x01 => Some(Suite::Classic),
            0x02 => Some(Suite::PostQuantum),
            _ => None,
        }
    }

    /// The short name the CLI uses: `classic` or `pq`.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::Classic => "classic",
            Suite::PostQuantum => "pq",
        }
    }

    /// Whether what is encrypted to this suite resists a quantum computer.
    pub const fn is_post_quantum(self) -> bool {
        matches!(self, Suite::PostQuantum)
    }

    /// Length of this suite's encoded public key.
    pub const fn public_key_len(self) -> usize {
        match self {
            Suite::Classic => PUBLIC_KEY_LEN,
            Suite::PostQuantum => PQ_PUBLIC_KEY_LEN,
        }
    }

    const fn derive_salt(self) -> &'static [u8] {
        match self {
            Suite::Classic => b"virgil-key-v1",
            Suite::PostQuantum => b"virgil-key-v2",
        }
    }
}

impl Default for Suite {
    /// [`Suite::Classic`], until `docs/decisions.md` argues a switch.
    fn default() -> Self {
        Suite::Classic
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Suite::Classic => f.write_str("suite 1 (classic: P-256)"),
            Suite::PostQuantum => f.write_str("suite 2 (post-quantum: X-Wing)"),
        }
    }
}

/// A private key's HPKE half.
pub(crate) enum DecryptionKey {
    P256(hpke::dhkem_p256::RecipientKey),
    XWing(Box<hpke::xwing::RecipientKey>),
}

/// A private key: signs messages and decrypts envelopes.
///
/// Zeroized on drop; `Debug` shows only the key id; no `Serialize`. Save it with
/// [`crate::keyblob::lock`]; export the raw seed only through [`PrivateKey::to_seed`].
pub struct PrivateKey {
    seed: Zeroizing<[u8; SEED_LEN]>,
    /// The Ed25519 key, expanded once (a signature does not recompute the public
    /// point); `ed25519-dalek` zeroizes it on drop.
    signing: ed25519_dalek::SigningKey,
    decryption: DecryptionKey,
    public: PublicKey,
}

impl PrivateKey {
    /// Generates a new suite-1 ([`Suite::Classic`]) key from the operating system's
    /// random number generator.
    pub fn generate() -> Result<Self, Error> {
        Self::generate_with_suite(Suite::default())
    }

    /// Generates a new key of `suite` from the operating system's random number
    /// generator.
    pub fn generate_with_suite(suite: Suite) -> Result<Self, Error> {
        let seed = Zeroizing::new(crate::rng::random_array::<SEED_LEN>()?);
        Self::from_seed_with_suite(&seed, suite)
    }

    /// Rebuilds a suite-1 key from its 32-byte seed. Every seed is a valid key.
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Result<Self, Error> {
        Self::from_seed_with_suite(seed, Suite::Classic)
    }

    /// Rebuilds a key of `suite` from its 32-byte seed. Every seed is a valid key of every
    /// suite, and the same seed gives unrelated keys in different suites.
    pub fn from_seed_with_suite(seed: &[u8; SEED_LEN], suite: Suite) -> Result<Self, Error> {
        let hkdf = Hkdf::<Sha256>::new(Some(suite.derive_salt()), seed);
        let mut signing_seed = Zeroizing::new([0u8; SEED_LEN]);
        hkdf.expand(DERIVE_SIGNING, signing_seed.as_mut())
            .map_err(|_| Error::Malformed)?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&signing_seed);

        let mut encoding = Vec::with_capacity(suite.public_key_len());
        encoding.extend_from_slice(&PUBLIC_KEY_MAGIC);
        encoding.push(suite.id());
        encoding.extend_from_slice(signing.verifying_key().as_bytes());
        let (decryption, encryption) = match suite {
            Suite::Classic => {
                let mut ikm = Zeroizing::new([0u8; 32]);
                hkdf.expand(DERIVE_P256, ikm.as_mut())
                    .map_err(|_| Error::Malformed)?;
                let key = hpke::dhkem_p256::RecipientKey::new(&hpke::dhkem_p256::derive_key_pair(
                    ikm.as_ref(),
                )?)?;
                encoding.extend_from_slice(key.public_point());
                (DecryptionKey::P256(key), EncryptionKey::P256)
            }
            Suite::PostQuantum => {
                let mut xwing_seed = Zeroizing::new([0u8; hpke::xwing::SEED_LEN]);
                hkdf.expand(DERIVE_XWING, xwing_seed.as_mut())
                    .map_err(|_| Error::Malformed)?;
                let key = hpke::xwing::RecipientKey::from_seed(&xwing_seed)?;
                encoding.extend_from_slice(key.public_key());
                let public = hpke::xwing::PublicKey::from_bytes(key.public_key())?;
                (
                    DecryptionKey::XWing(Box::new(key)),
                    EncryptionKey::XWing(Box::new(public)),
                )
            }
        };
        Ok(Self {
            seed: Zeroizing::new(*seed),
            signing,
            decryption,
            public: PublicKey::from_parts(encoding, encryption),
        })
    }

    /// The seed this key was made from. Anyone with these bytes (and the suite, which is
    /// not secret) has the key: keep them in the returned `Zeroizing` and never log them.
    pub fn to_seed(&self) -> Zeroizing<[u8; SEED_LEN]> {
        Zeroizing::new(*self.seed)
    }

    /// A 32-byte secret for `purpose` (e.g. `b"directory-vrf"`), derived from this key's
    /// seed with HKDF-SHA256 (salt: the suite's, as the subkeys; info:
    /// `"virgil/derived/" ‖ purpose`). The same key and purpose always give the same
    /// secret; different purposes give unrelated secrets, none of them a subkey of this
    /// key. The cards service derives its directory's VRF key this way, so the one
    /// service key file stays the only secret to back up (docs/format.md §14).
    pub fn derive_secret(&self, purpose: &[u8]) -> Zeroizing<[u8; SEED_LEN]> {
        let hkdf = Hkdf::<Sha256>::new(Some(self.suite().derive_salt()), self.seed.as_ref());
        let mut secret = Zeroizing::new([0u8; SEED_LEN]);
        // 32 bytes is far below HKDF-SHA256's limit (255 × 32), so this cannot fail.
        let _ = hkdf.expand_multi_info(&[DERIVE_PURPOSE_PREFIX, purpose], secret.as_mut());
        secret
    }

    /// The key's suite.
    pub fn suite(&self) -> Suite {
        self.public.suite()
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

    pub(crate) fn decryption_key(&self) -> &DecryptionKey {
        &self.decryption
    }
}

impl PartialEq for PrivateKey {
    /// Constant-time comparison of the seeds (and of the suites, which are public).
    fn eq(&self, other: &Self) -> bool {
        self.suite() == other.suite() && bool::from(self.seed.as_ref().ct_eq(other.seed.as_ref()))
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

/// A public key's HPKE half, parsed once.
#[derive(Clone)]
pub(crate) enum EncryptionKey {
    /// The point is the last 65 bytes of the encoding.
    P256,
    XWing(Box<hpke::xwing::PublicKey>),
}

/// A public key: verifies signatures and is what envelopes are encrypted to.
///
/// Its canonical encoding ([`PublicKey::as_bytes`]) is `"VK"` ‖ suite ‖ Ed25519 public
/// key (32) ‖ the suite's HPKE public key: an uncompressed P-256 point (65; suite 1, 100
/// bytes in all) or an X-Wing encapsulation key (1216; suite 2, 1251 bytes).
#[derive(Clone)]
pub struct PublicKey {
    encoding: Box<[u8]>,
    key_id: KeyId,
    encryption: EncryptionKey,
}

impl PublicKey {
    /// Parses and validates an encoded public key: magic, suite, the suite's length, and
    /// the HPKE half (a P-256 point on the curve; an X-Wing key whose ML-KEM part passes
    /// FIPS 203's modulus check).
    ///
    /// The Ed25519 half is not decompressed here (ring offers no such check); a
    /// malformed Ed25519 key simply never verifies any signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.get(..2) != Some(PUBLIC_KEY_MAGIC.as_slice()) {
            return Err(Error::InvalidPublicKey);
        }
        let suite = bytes
            .get(2)
            .copied()
            .and_then(Suite::from_id)
            .ok_or(Error::UnsupportedVersion)?;
        if bytes.len() != suite.public_key_len() {
            return Err(Error::InvalidPublicKey);
        }
        let hpke_half = bytes
            .get(3 + ED25519_LEN..)
            .ok_or(Error::InvalidPublicKey)?;
        let encryption = match suite {
            Suite::Classic => {
                hpke::dhkem_p256::deserialize_public_key(hpke_half)?;
                EncryptionKey::P256
            }
            Suite::PostQuantum => {
                EncryptionKey::XWing(Box::new(hpke::xwing::PublicKey::from_bytes(hpke_half)?))
            }
        };
        Ok(Self::from_parts(bytes.to_vec(), encryption))
    }

    fn from_parts(encoding: Vec<u8>, encryption: EncryptionKey) -> Self {
        let key_id = KeyId(Sha256::digest(&encoding).into());
        Self {
            encoding: encoding.into_boxed_slice(),
            key_id,
            encryption,
        }
    }

    /// The canonical encoding ([`Suite::public_key_len`] bytes).
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoding
    }

    /// SHA-256 of the canonical encoding.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The key's suite.
    pub fn suite(&self) -> Suite {
        match self.encryption {
            EncryptionKey::P256 => Suite::Classic,
            EncryptionKey::XWing(_) => Suite::PostQuantum,
        }
    }

    pub(crate) fn ed25519(&self) -> &[u8] {
        self.encoding.get(3..3 + ED25519_LEN).unwrap_or(&[])
    }

    pub(crate) fn encryption_key(&self) -> &EncryptionKey {
        &self.encryption
    }

    /// The P-256 point of a suite-1 key (the last 65 bytes of its encoding).
    pub(crate) fn p256_point(&self) -> Option<&[u8; hpke::dhkem_p256::POINT_LEN]> {
        match self.encryption {
            EncryptionKey::P256 => self
                .encoding
                .split_last_chunk::<{ hpke::dhkem_p256::POINT_LEN }>()
                .map(|(_, point)| point),
            EncryptionKey::XWing(_) => None,
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.encoding == other.encoding
    }
}

impl Eq for PublicKey {}

impl core::hash::Hash for PublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.encoding.hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_id", &self.key_id)
            .field("suite", &self.suite())
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
    fn derived_secrets_are_deterministic_distinct_and_not_subkeys() {
        let key = PrivateKey::from_seed(&[7; 32]).unwrap();
        let vrf = key.derive_secret(b"directory-vrf");
        assert_eq!(vrf, key.derive_secret(b"directory-vrf"));
        assert_ne!(vrf, key.derive_secret(b"other"));
        assert_ne!(*vrf, *key.to_seed());
        let other = PrivateKey::from_seed(&[8; 32]).unwrap();
        assert_ne!(vrf, other.derive_secret(b"directory-vrf"));
        // Known answer: HKDF-SHA256(salt = suite 1's, ikm = [7; 32],
        // info = "virgil/derived/directory-vrf"), as docs/format.md §14 specifies.
        let hkdf = Hkdf::<Sha256>::new(Some(Suite::Classic.derive_salt()), &[7; 32]);
        let mut expected = [0u8; 32];
        hkdf.expand(b"virgil/derived/directory-vrf", &mut expected)
            .unwrap();
        assert_eq!(*vrf, expected);
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
        let good = key.public_key().as_bytes().to_vec();
        assert_eq!(
            PublicKey::from_bytes(&good[..99]).unwrap_err(),
            Error::InvalidPublicKey
        );
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::InvalidPublicKey));
        let mut bad = good.clone();
        bad[2] = 3;
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::UnsupportedVersion));
        let mut bad = good.clone();
        bad[2] = 2; // a suite-2 key is 1251 bytes
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::InvalidPublicKey));
        let mut bad = good.clone();
        bad[35] = 0x02; // compressed tag with an uncompressed length
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::InvalidPublicKey));
        let mut bad = good;
        bad[99] ^= 1; // off the curve
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::InvalidPublicKey));
        for len in [0, 1, 2, 3] {
            assert!(PublicKey::from_bytes(&b"VK\x01"[..len.min(3)]).is_err());
        }
    }

    #[test]
    fn post_quantum_keys() {
        let key = PrivateKey::from_seed_with_suite(&[7; 32], Suite::PostQuantum).unwrap();
        assert_eq!(key.suite(), Suite::PostQuantum);
        let public = key.public_key();
        assert_eq!(public.suite(), Suite::PostQuantum);
        assert_eq!(public.as_bytes().len(), PQ_PUBLIC_KEY_LEN);
        assert_eq!(PQ_PUBLIC_KEY_LEN, 1251);
        assert_eq!(&public.as_bytes()[..3], b"VK\x02");
        assert_eq!(&PublicKey::from_bytes(public.as_bytes()).unwrap(), public);
        assert!(public.p256_point().is_none());

        // The same seed in the other suite is an unrelated key, signing half included.
        let classic = PrivateKey::from_seed(&[7; 32]).unwrap();
        assert_ne!(classic, key);
        assert_ne!(classic.public_key().ed25519(), public.ed25519());
        let again = PrivateKey::from_seed_with_suite(&key.to_seed(), Suite::PostQuantum).unwrap();
        assert_eq!(again, key);

        let good = public.as_bytes().to_vec();
        assert_eq!(
            PublicKey::from_bytes(&good[..1250]),
            Err(Error::InvalidPublicKey)
        );
        // An ML-KEM coefficient of 0xfff ≥ q = 3329 fails FIPS 203's modulus check.
        let mut bad = good.clone();
        bad[35] = 0xff;
        bad[36] |= 0x0f;
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::InvalidPublicKey));
        let mut bad = good;
        bad[2] = 1;
        assert_eq!(PublicKey::from_bytes(&bad), Err(Error::InvalidPublicKey));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any bytes after a suite-2 prefix, at the suite-2 length or near it: a valid
        /// key that re-encodes to the input, or an error, never a panic.
        #[test]
        fn prop_pq_public_key_bytes_never_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 1240..1260),
            valid_ml_kem in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = b"VK\x02".to_vec();
            bytes.extend_from_slice(&body);
            if valid_ml_kem && bytes.len() == PQ_PUBLIC_KEY_LEN {
                // A real ML-KEM key with random Ed25519 and X25519 halves.
                let key = PrivateKey::from_seed_with_suite(&[3; 32], Suite::PostQuantum).unwrap();
                bytes[35..35 + 1184].copy_from_slice(&key.public_key().as_bytes()[35..35 + 1184]);
            }
            match PublicKey::from_bytes(&bytes) {
                Ok(key) => {
                    proptest::prop_assert_eq!(key.as_bytes(), &bytes[..]);
                    proptest::prop_assert_eq!(key.suite(), Suite::PostQuantum);
                }
                Err(error) => proptest::prop_assert_eq!(error, Error::InvalidPublicKey),
            }
            proptest::prop_assert_eq!(
                PublicKey::from_bytes(&bytes).is_ok(),
                valid_ml_kem && bytes.len() == PQ_PUBLIC_KEY_LEN
            );
        }
    }

    #[test]
    fn suite_ids_and_names() {
        for suite in Suite::ALL {
            assert_eq!(Suite::from_id(suite.id()), Some(suite));
        }
        assert_eq!(Suite::from_id(0), None);
        assert_eq!(Suite::from_id(3), None);
        assert_eq!(Suite::default(), Suite::Classic);
        assert_eq!(Suite::PostQuantum.name(), "pq");
        assert!(Suite::PostQuantum.is_post_quantum() && !Suite::Classic.is_post_quantum());
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
