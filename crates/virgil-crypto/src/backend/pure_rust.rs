//! The pure-Rust static-key backend (without the `aws-lc` feature, e.g. `no_std`): the
//! recipient's P-256 ECDH is the `p256` crate's, and X-Wing is the `x-wing` crate's
//! throughout (it has no faster encapsulation of its own).

use super::{Unspecified, XWingEncapsulated};
use crate::Error;
use alloc::boxed::Box;
use x_wing::{Decapsulator as _, KeyExport as _, TryDecapsulate as _};
use zeroize::{Zeroize as _, Zeroizing};

/// A recipient's static P-256 key, for ECDH.
pub(crate) struct P256StaticKey(p256::SecretKey);

impl P256StaticKey {
    /// Loads `secret`; returns the key and its uncompressed public point.
    pub(crate) fn new(secret: &p256::SecretKey) -> Result<(Self, [u8; 65]), Unspecified> {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let point = secret.public_key().to_encoded_point(false);
        let public: [u8; 65] = point.as_bytes().try_into().map_err(|_| Unspecified)?;
        Ok((Self(secret.clone()), public))
    }

    /// `DH(sk, peer)` handed to `kdf`; *corrupted* unless `peer` is a point on the curve.
    pub(crate) fn agree<T>(
        &self,
        peer: &[u8; 65],
        kdf: impl FnOnce(&[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let peer = p256::PublicKey::from_sec1_bytes(peer).map_err(|_| Error::Corrupted)?;
        let dh = p256::ecdh::diffie_hellman(self.0.to_nonzero_scalar(), peer.as_affine());
        kdf(dh.raw_secret_bytes())
    }
}

/// A recipient's X-Wing key, expanded once (`x-wing`, rejecting non-contributory
/// ciphertexts; zeroized on drop by the crate's `zeroize` feature).
pub(crate) struct XWingDecapsulationKey(x_wing::DecapsulationKeyRejectNonContrib);

impl XWingDecapsulationKey {
    /// `GenerateKeyPairDerand(seed)`; returns the key and its encoded public key.
    pub(crate) fn from_seed(
        seed: &[u8; x_wing::DECAPSULATION_KEY_SIZE],
    ) -> Result<(Self, Box<[u8; x_wing::ENCAPSULATION_KEY_SIZE]>), Unspecified> {
        let mut copy = *seed;
        let key = x_wing::DecapsulationKeyRejectNonContrib::from(copy);
        copy.zeroize();
        let mut public = Box::new([0u8; x_wing::ENCAPSULATION_KEY_SIZE]);
        public.copy_from_slice(&key.encapsulation_key().to_bytes());
        Ok((Self(key), public))
    }

    /// `Decap(enc, sk)`; *corrupted* if `enc` is non-contributory. (`_pk_x` is for
    /// backends that compute the combiner themselves.)
    pub(crate) fn decapsulate(
        &self,
        enc: &[u8; x_wing::CIPHERTEXT_SIZE],
        _pk_x: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, Error> {
        let ciphertext = x_wing::Ciphertext::from(*enc);
        let mut shared = self
            .0
            .try_decapsulate(&ciphertext)
            .map_err(|_| Error::Corrupted)?;
        let mut shared_secret = Zeroizing::new([0u8; 32]);
        shared_secret.copy_from_slice(&shared);
        shared.zeroize();
        Ok(shared_secret)
    }
}

/// The backend's own form of an X-Wing public key: none (no faster path than `x-wing`).
#[derive(Clone)]
pub(crate) struct XWingEncapsulationKey;

impl XWingEncapsulationKey {
    /// Loads a public key `x-wing` has already validated.
    pub(crate) fn new(_bytes: &[u8]) -> Result<Self, Unspecified> {
        Ok(Self)
    }

    /// Encapsulates with the backend's own generator, or `None`: the caller then uses
    /// `x-wing`'s encapsulation with randomness from its own source.
    pub(crate) fn encapsulate(&self) -> Option<Result<XWingEncapsulated, Error>> {
        None
    }
}
