//! Ed25519 signatures over domain-separated messages.
//!
//! A signature never covers raw user bytes alone: the signed bytes are
//! `"virgil-sig-v1" ‖ 0x00 ‖ u8(len(context)) ‖ context ‖ message`, so a signature made for
//! one purpose (a card) can never be replayed as another (a message, a revocation).
//! Access tokens are the one exception: they are standard JWS (RFC 8037) so that any JWT
//! library can verify them; see [`sign_jws`].

use crate::Error;
use crate::key::{PrivateKey, PublicKey};
use alloc::vec::Vec;

/// Length of a [`Signature`].
pub const SIGNATURE_LEN: usize = 64;

const SIGNATURE_PREFIX: &[u8] = b"virgil-sig-v1\0";

/// What a signature is for. Each context is a distinct, fixed string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Context(&'static str);

impl Context {
    /// Signatures on cards (self, application and service signatures).
    pub const CARD: Context = Context("virgil/card");
    /// Link signatures: an identity's existing card vouching for a new card of the same
    /// identity (another device, or the key that replaces it).
    pub const CARD_LINK: Context = Context("virgil/card-link");
    /// The cards service's signed statement of a card's status at a time.
    pub const CARD_STATUS: Context = Context("virgil/card-status");
    /// The cards service's one signature over every status of a search answer.
    pub const SEARCH_STATUS: Context = Context("virgil/search-status");
    /// Signatures on card revocation requests.
    pub const CARD_REVOCATION: Context = Context("virgil/card-revocation");
    /// The cards service's signed checkpoint of one epoch of its key directory.
    pub const DIRECTORY_CHECKPOINT: Context = Context("virgil/directory-checkpoint");
    /// The cards service's statement of an application's key-backup OPRF key.
    pub const BACKUP_OPRF_KEY: Context = Context("virgil/backup-oprf-key");
    /// The sender's signature inside an envelope.
    pub const MESSAGE: Context = Context("virgil/message");

    /// An application-defined context. Use a name that says what is signed, prefixed
    /// with your application's name; names starting with `virgil/` are reserved.
    /// Names longer than 255 bytes are cut to 255 bytes.
    pub const fn new(name: &'static str) -> Context {
        Context(name)
    }

    /// The context string.
    pub const fn name(&self) -> &'static str {
        self.0
    }
}

/// An Ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; SIGNATURE_LEN]);

impl Signature {
    /// Wraps 64 bytes; whether they are a valid signature is only known on `verify`.
    pub const fn from_bytes(bytes: [u8; SIGNATURE_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses a signature from a slice of exactly 64 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        bytes.try_into().map(Self).map_err(|_| Error::Malformed)
    }

    /// The 64 bytes.
    pub const fn as_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for Signature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Signature({})", crate::encoding::to_hex(&self.0))
    }
}

/// The exact bytes Ed25519 signs for `context` and `message`.
fn signed_bytes(context: Context, message: &[u8]) -> Vec<u8> {
    let name = context.0.as_bytes();
    let name = name.get(..usize::from(u8::MAX)).unwrap_or(name);
    let mut bytes = Vec::with_capacity(SIGNATURE_PREFIX.len() + 1 + name.len() + message.len());
    bytes.extend_from_slice(SIGNATURE_PREFIX);
    // `name` is at most 255 bytes long (cut above), so the cast is exact.
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(message);
    bytes
}

/// Ed25519 (RFC 8032) with the key expanded when the private key was made; verified by
/// the backend (ring's `verify`), and held to ring's signatures by `signs_like_ring` below.
fn sign_raw(key: &PrivateKey, bytes: &[u8]) -> Signature {
    use ed25519_dalek::Signer as _;
    Signature(key.signing_key().sign(bytes).to_bytes())
}

fn verify_raw(key: &PublicKey, bytes: &[u8], signature: &Signature) -> Result<(), Error> {
    crate::backend::ed25519_verify(key.ed25519(), bytes, &signature.0)
        .map_err(|_| Error::BadSignature)
}

/// Signs `message` for `context`.
///
/// ```
/// use virgil_crypto::{PrivateKey, sign::{sign, verify, Context}};
/// let key = PrivateKey::generate()?;
/// let signature = sign(&key, Context::MESSAGE, b"hello");
/// assert!(verify(key.public_key(), Context::MESSAGE, b"hello", &signature).is_ok());
/// assert!(verify(key.public_key(), Context::CARD, b"hello", &signature).is_err());
/// # Ok::<(), virgil_crypto::Error>(())
/// ```
pub fn sign(key: &PrivateKey, context: Context, message: &[u8]) -> Signature {
    sign_raw(key, &signed_bytes(context, message))
}

/// Verifies a signature made by [`sign`]; [`Error::BadSignature`] if it does not match.
pub fn verify(
    key: &PublicKey,
    context: Context,
    message: &[u8],
    signature: &Signature,
) -> Result<(), Error> {
    verify_raw(key, &signed_bytes(context, message), signature)
}

/// Signs a JWS signing input (`base64url(header) "." base64url(payload)`) with plain
/// Ed25519, as RFC 8037 `EdDSA` requires, so standard JWT tooling can verify it.
///
/// No context prefix is added: use this only for JWS. It cannot be confused with
/// [`sign`]: a JWS signing input starts with `eyJ`, a [`sign`] input with `virgil-sig-v1`.
pub fn sign_jws(key: &PrivateKey, signing_input: &[u8]) -> Signature {
    sign_raw(key, signing_input)
}

/// Verifies a signature made by [`sign_jws`].
pub fn verify_jws(
    key: &PublicKey,
    signing_input: &[u8],
    signature: &Signature,
) -> Result<(), Error> {
    verify_raw(key, signing_input, signature)
}

/// The raw 32-byte Ed25519 public key, e.g. for a JWK (`"kty":"OKP","crv":"Ed25519"`).
pub fn ed25519_public_key(key: &PublicKey) -> &[u8] {
    key.ed25519()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The cached ed25519-dalek key signs exactly as ring does from the seed (the
        /// signer before the cache), and its public half is ring's.
        #[test]
        fn signs_like_ring(seed in proptest::array::uniform32(0u8..), message in proptest::collection::vec(0u8.., 0..300)) {
            use ring::signature::KeyPair as _;
            let key = PrivateKey::from_seed(&seed).unwrap();
            let ring_pair =
                ring::signature::Ed25519KeyPair::from_seed_unchecked(&key.signing_key().to_bytes())
                    .unwrap();
            proptest::prop_assert_eq!(ring_pair.public_key().as_ref(), key.public_key().ed25519());
            let ours = sign(&key, Context::MESSAGE, &message);
            let theirs = ring_pair.sign(&signed_bytes(Context::MESSAGE, &message));
            proptest::prop_assert_eq!(ours.as_bytes().as_slice(), theirs.as_ref());
        }
    }

    #[test]
    fn contexts_separate_signatures() {
        let key = PrivateKey::from_seed(&[3; 32]).unwrap();
        let signature = sign(&key, Context::CARD, b"card id");
        verify(key.public_key(), Context::CARD, b"card id", &signature).unwrap();
        for other in [
            Context::MESSAGE,
            Context::CARD_REVOCATION,
            Context::new("app/x"),
        ] {
            assert_eq!(
                verify(key.public_key(), other, b"card id", &signature),
                Err(Error::BadSignature)
            );
        }
        assert_eq!(
            verify_jws(key.public_key(), b"card id", &signature),
            Err(Error::BadSignature)
        );
    }

    #[test]
    fn wrong_key_or_message_fails() {
        let key = PrivateKey::from_seed(&[3; 32]).unwrap();
        let other = PrivateKey::from_seed(&[4; 32]).unwrap();
        let signature = sign(&key, Context::MESSAGE, b"m");
        assert!(verify(other.public_key(), Context::MESSAGE, b"m", &signature).is_err());
        assert!(verify(key.public_key(), Context::MESSAGE, b"n", &signature).is_err());
        let mut bytes = *signature.as_bytes();
        bytes[10] ^= 1;
        assert!(verify(key.public_key(), Context::MESSAGE, b"m", &Signature(bytes)).is_err());
    }

    #[test]
    fn signed_bytes_layout() {
        assert_eq!(
            signed_bytes(Context::new("ab"), b"xyz"),
            b"virgil-sig-v1\0\x02abxyz".to_vec()
        );
    }
}
