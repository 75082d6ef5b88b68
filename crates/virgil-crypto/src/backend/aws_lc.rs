//! The AWS-LC static-key backend (feature `aws-lc`, on by default): the recipient's
//! P-256 ECDH is AWS-LC's (about three times faster than `p256`'s), and X-Wing's two
//! costly halves run on AWS-LC as X-Wing defines them (draft-connolly-cfrg-xwing-kem-06
//! §5): the recipient key is expanded once (SHAKE256 of the seed, then `ml-kem`'s key
//! generation, loaded into AWS-LC's ML-KEM-768; the X25519 scalar into AWS-LC's X25519),
//! decapsulation is AWS-LC's ML-KEM and X25519, encapsulation with the system generator
//! is AWS-LC's ML-KEM encapsulation and an ephemeral AWS-LC X25519 key, and the combiner
//! is SHA3-256 over the draft's five inputs.
//!
//! Zeroization: AWS-LC clears every allocation it frees (`OPENSSL_free` calls
//! `OPENSSL_cleanse`), the keys' scalars included.

use super::{Unspecified, XWingEncapsulated};
use crate::Error;
use alloc::boxed::Box;
use aws_lc_rs::agreement::{self, ECDH_P256, X25519};
use aws_lc_rs::kem;
use zeroize::{Zeroize as _, Zeroizing};

/// Length of the ML-KEM-768 encapsulation key and ciphertext inside X-Wing's.
const ML_KEM_PUBLIC_LEN: usize = 1184;
const ML_KEM_CIPHERTEXT_LEN: usize = 1088;
/// X-Wing's combiner label, `\.//^\`.
const LABEL: &[u8; 6] = b"\\.//^\\";

/// A recipient's static P-256 key, for ECDH.
pub(crate) struct P256StaticKey(agreement::PrivateKey);

impl P256StaticKey {
    /// Loads `secret`; returns the key and its uncompressed public point.
    pub(crate) fn new(secret: &p256::SecretKey) -> Result<(Self, [u8; 65]), Unspecified> {
        let scalar = Zeroizing::new(secret.to_bytes());
        let key = agreement::PrivateKey::from_private_key(&ECDH_P256, scalar.as_ref())
            .map_err(|_| Unspecified)?;
        let public: [u8; 65] = key
            .compute_public_key()
            .map_err(|_| Unspecified)?
            .as_ref()
            .try_into()
            .map_err(|_| Unspecified)?;
        Ok((Self(key), public))
    }

    /// `DH(sk, peer)` handed to `kdf`; *corrupted* unless `peer` is a point on the curve.
    pub(crate) fn agree<T>(
        &self,
        peer: &[u8; 65],
        kdf: impl FnOnce(&[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let peer = agreement::UnparsedPublicKey::new(&ECDH_P256, peer);
        agreement::agree(&self.0, peer, Error::Corrupted, kdf)
    }
}

/// A recipient's X-Wing key: its ML-KEM-768 and X25519 halves loaded into AWS-LC.
pub(crate) struct XWingDecapsulationKey {
    ml_kem: kem::DecapsulationKey,
    x25519: agreement::PrivateKey,
}

impl XWingDecapsulationKey {
    /// `GenerateKeyPairDerand(seed)`; returns the key and its encoded public key.
    pub(crate) fn from_seed(
        seed: &[u8; x_wing::DECAPSULATION_KEY_SIZE],
    ) -> Result<(Self, Box<[u8; x_wing::ENCAPSULATION_KEY_SIZE]>), Unspecified> {
        use ml_kem::{FromSeed as _, KeyExport as _};
        use shake::{ExtendableOutput as _, Update as _, XofReader as _};
        // expanded = SHAKE256(seed, 96): d ‖ z for ML-KEM, then the X25519 scalar.
        let mut expanded = Zeroizing::new([0u8; 96]);
        let mut shake = shake::Shake256::default();
        shake.update(seed);
        shake.finalize_xof().read(expanded.as_mut());
        let (d_z, sk_x) = expanded.split_at(64);
        let mut d_z_array = ml_kem::Seed::default();
        d_z_array.copy_from_slice(d_z);
        let (dk, ek) = ml_kem::MlKem768::from_seed(&d_z_array);
        d_z_array.zeroize();
        // AWS-LC loads ML-KEM keys only in FIPS 203's expanded form (2400 bytes).
        #[allow(deprecated)]
        let mut dk_bytes = ml_kem::ExpandedKeyEncoding::to_expanded_bytes(&dk);
        let ml_kem = kem::DecapsulationKey::new(&kem::ML_KEM_768, dk_bytes.as_slice());
        dk_bytes.zeroize();
        let ml_kem = ml_kem.map_err(|_| Unspecified)?;
        let x25519 =
            agreement::PrivateKey::from_private_key(&X25519, sk_x).map_err(|_| Unspecified)?;
        let pk_x = x25519.compute_public_key().map_err(|_| Unspecified)?;
        let mut public = Box::new([0u8; x_wing::ENCAPSULATION_KEY_SIZE]);
        let (m_part, x_part) = public.split_at_mut(ML_KEM_PUBLIC_LEN);
        m_part.copy_from_slice(&ek.to_bytes());
        if pk_x.as_ref().len() != x_part.len() {
            return Err(Unspecified);
        }
        x_part.copy_from_slice(pk_x.as_ref());
        Ok((Self { ml_kem, x25519 }, public))
    }

    /// `Decap(enc, sk)` with the recipient's `pk_X`; *corrupted* if `enc` is
    /// non-contributory (AWS-LC's X25519 fails when the result is all zero).
    pub(crate) fn decapsulate(
        &self,
        enc: &[u8; x_wing::CIPHERTEXT_SIZE],
        pk_x: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, Error> {
        let (ct_m, ct_x) = enc
            .split_at_checked(ML_KEM_CIPHERTEXT_LEN)
            .ok_or(Error::Corrupted)?;
        let ss_m = self
            .ml_kem
            .decapsulate(kem::Ciphertext::from(ct_m))
            .map_err(|_| Error::Corrupted)?;
        let peer = agreement::UnparsedPublicKey::new(&X25519, ct_x);
        agreement::agree(&self.x25519, peer, Error::Corrupted, |ss_x| {
            Ok(combine(ss_m.as_ref(), ss_x, ct_x, pk_x))
        })
    }
}

/// An X-Wing public key loaded into AWS-LC: its ML-KEM half and `pk_X`.
#[derive(Clone)]
pub(crate) struct XWingEncapsulationKey {
    ml_kem: alloc::sync::Arc<kem::EncapsulationKey>,
    pk_x: [u8; 32],
}

impl XWingEncapsulationKey {
    /// Loads a public key `x-wing` has already validated.
    pub(crate) fn new(bytes: &[u8]) -> Result<Self, Unspecified> {
        let (m_part, x_part) = bytes
            .split_at_checked(ML_KEM_PUBLIC_LEN)
            .ok_or(Unspecified)?;
        let ml_kem =
            kem::EncapsulationKey::new(&kem::ML_KEM_768, m_part).map_err(|_| Unspecified)?;
        let pk_x = x_part.try_into().map_err(|_| Unspecified)?;
        Ok(Self {
            ml_kem: alloc::sync::Arc::new(ml_kem),
            pk_x,
        })
    }

    /// `Encap(pk)` with AWS-LC's generator: ML-KEM encapsulation and an ephemeral X25519
    /// key. Always `Some` here.
    pub(crate) fn encapsulate(&self) -> Option<Result<XWingEncapsulated, Error>> {
        Some(self.encapsulate_now())
    }

    fn encapsulate_now(&self) -> Result<XWingEncapsulated, Error> {
        let (ct_m, ss_m) = self.ml_kem.encapsulate().map_err(|_| Error::RandomFailed)?;
        let random = aws_lc_rs::rand::SystemRandom::new();
        let ephemeral = agreement::EphemeralPrivateKey::generate(&X25519, &random)
            .map_err(|_| Error::RandomFailed)?;
        let ct_x = ephemeral
            .compute_public_key()
            .map_err(|_| Error::RandomFailed)?;
        let peer = agreement::UnparsedPublicKey::new(&X25519, self.pk_x);
        let shared_secret =
            agreement::agree_ephemeral(ephemeral, peer, Error::InvalidPublicKey, |ss_x| {
                Ok(combine(ss_m.as_ref(), ss_x, ct_x.as_ref(), &self.pk_x))
            })?;
        let mut enc = Box::new([0u8; x_wing::CIPHERTEXT_SIZE]);
        let (m_part, x_part) = enc.split_at_mut(ML_KEM_CIPHERTEXT_LEN);
        if ct_m.as_ref().len() != m_part.len() || ct_x.as_ref().len() != x_part.len() {
            return Err(Error::Malformed);
        }
        m_part.copy_from_slice(ct_m.as_ref());
        x_part.copy_from_slice(ct_x.as_ref());
        Ok((enc, shared_secret))
    }
}

/// X-Wing's combiner: `SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ "\.//^\")`.
fn combine(ss_m: &[u8], ss_x: &[u8], ct_x: &[u8], pk_x: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA3_256);
    for part in [ss_m, ss_x, ct_x, pk_x, LABEL.as_slice()] {
        hash.update(part);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    let digest = hash.finish();
    if digest.as_ref().len() == out.len() {
        out.copy_from_slice(digest.as_ref());
    }
    out
}
