//! HPKE base mode, single-shot, with the X-Wing KEM: X-Wing / HKDF-SHA256 / AES-256-GCM
//! (kem 0x647a, kdf 0x0001, aead 0x0002), as draft-ietf-hpke-pq defines it.
//!
//! X-Wing (draft-connolly-cfrg-xwing-kem-06) is the hybrid of ML-KEM-768 and X25519:
//! a message stays secret unless *both* are broken. The KEM is the RustCrypto `x-wing`
//! crate (over `ml-kem` and `x25519-dalek`); this module feeds its 32-byte shared
//! secret into the RFC 9180 key schedule, whose AEAD and KDF are the P-256 suite's.
//!
//! With the `aws-lc` feature (default), the two costly halves run on AWS-LC instead,
//! as X-Wing defines them (draft §5): the recipient key is expanded once (SHAKE256 of the
//! seed, then `ml-kem`'s key generation, loaded into AWS-LC's ML-KEM-768; the X25519
//! scalar into AWS-LC's X25519), decapsulation is AWS-LC's ML-KEM and X25519, sealing
//! with the system generator is AWS-LC's ML-KEM encapsulation and an ephemeral AWS-LC
//! X25519 key, and the combiner is SHA3-256 over the draft's five inputs. Deterministic
//! encapsulation (the vectors) and public-key validation stay with `x-wing`. Both paths
//! are checked against the X-Wing draft's vectors, the HPKE-PQ draft's X-Wing vector and,
//! differentially, the `hpke` crate's X-Wing suite and each other (`kat.rs`).

use super::Kem;
use crate::Error;
use crate::rng::RandomSource;
use alloc::boxed::Box;
use x_wing::TryKeyInit as _;
#[cfg(not(feature = "aws-lc"))]
use x_wing::{Decapsulator as _, KeyExport as _, TryDecapsulate as _};
use zeroize::{Zeroize as _, Zeroizing};

/// Length of an X-Wing private key: a seed (`Nsk`).
pub(crate) const SEED_LEN: usize = x_wing::DECAPSULATION_KEY_SIZE;
/// Length of an X-Wing encapsulation (public) key (`Npk`): ML-KEM-768's 1184 ‖ X25519's 32.
pub(crate) const PUBLIC_LEN: usize = x_wing::ENCAPSULATION_KEY_SIZE;
/// Length of an X-Wing ciphertext (`Nenc`): ML-KEM-768's 1088 ‖ X25519's 32.
pub(crate) const ENC_LEN: usize = x_wing::CIPHERTEXT_SIZE;
/// Random bytes one encapsulation consumes (32 for ML-KEM, 32 for X25519).
const ENCAP_RANDOMNESS_LEN: usize = x_wing::ENCAPSULATION_RANDOMNESS_SIZE;
/// Length of the ML-KEM-768 encapsulation key and ciphertext inside X-Wing's.
#[cfg(feature = "aws-lc")]
const ML_KEM_PUBLIC_LEN: usize = 1184;
#[cfg(feature = "aws-lc")]
const ML_KEM_CIPHERTEXT_LEN: usize = 1088;
/// X-Wing's combiner label, `\.//^\`.
#[cfg(feature = "aws-lc")]
const LABEL: &[u8; 6] = b"\\.//^\\";

/// A recipient's X-Wing key, expanded once, with its encoded public key (`pk_M ‖ pk_X`).
///
/// The X25519 half rejects "non-contributory" ciphertexts (an X25519 share that makes
/// the shared point all zero): no honest sender makes one, so such a stanza is
/// *corrupted*, as Go's `crypto/ecdh` and AWS-LC would also have it. Zeroized on drop
/// (the `x-wing` crate's `zeroize` feature; AWS-LC clears what it frees).
pub(crate) struct RecipientKey {
    #[cfg(feature = "aws-lc")]
    ml_kem: aws_lc_rs::kem::DecapsulationKey,
    #[cfg(feature = "aws-lc")]
    x25519: aws_lc_rs::agreement::PrivateKey,
    #[cfg(not(feature = "aws-lc"))]
    key: x_wing::DecapsulationKeyRejectNonContrib,
    public: Box<[u8; PUBLIC_LEN]>,
}

impl RecipientKey {
    /// `GenerateKeyPairDerand(seed)` of the X-Wing draft (the seed *is* the private key).
    pub(crate) fn from_seed(seed: &[u8; SEED_LEN]) -> Result<Self, Error> {
        #[cfg(feature = "aws-lc")]
        {
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
            let ml_kem = aws_lc_rs::kem::DecapsulationKey::new(
                &aws_lc_rs::kem::ML_KEM_768,
                dk_bytes.as_slice(),
            );
            dk_bytes.zeroize();
            let ml_kem = ml_kem.map_err(|_| Error::Malformed)?;
            let x25519 = aws_lc_rs::agreement::PrivateKey::from_private_key(
                &aws_lc_rs::agreement::X25519,
                sk_x,
            )
            .map_err(|_| Error::Malformed)?;
            let pk_x = x25519.compute_public_key().map_err(|_| Error::Malformed)?;
            let mut public = Box::new([0u8; PUBLIC_LEN]);
            let (m_part, x_part) = public.split_at_mut(ML_KEM_PUBLIC_LEN);
            m_part.copy_from_slice(&ek.to_bytes());
            if pk_x.as_ref().len() != x_part.len() {
                return Err(Error::Malformed);
            }
            x_part.copy_from_slice(pk_x.as_ref());
            Ok(Self {
                ml_kem,
                x25519,
                public,
            })
        }
        #[cfg(not(feature = "aws-lc"))]
        {
            let mut copy = *seed;
            let key = x_wing::DecapsulationKeyRejectNonContrib::from(copy);
            copy.zeroize();
            let mut public = Box::new([0u8; PUBLIC_LEN]);
            public.copy_from_slice(&key.encapsulation_key().to_bytes());
            Ok(Self { key, public })
        }
    }

    /// `SerializePublicKey(pkR)`.
    pub(crate) fn public_key(&self) -> &[u8; PUBLIC_LEN] {
        &self.public
    }

    /// `pk_X`, the last 32 bytes of the public key.
    #[cfg(feature = "aws-lc")]
    fn pk_x(&self) -> &[u8] {
        self.public.get(ML_KEM_PUBLIC_LEN..).unwrap_or(&[])
    }
}

/// A parsed X-Wing public key, ready to encapsulate to.
#[derive(Clone)]
pub(crate) struct PublicKey {
    /// Validated by `x-wing`; the deterministic (vector) path encapsulates with it.
    key: x_wing::EncapsulationKey,
    /// The same ML-KEM key loaded into AWS-LC, and `pk_X`.
    #[cfg(feature = "aws-lc")]
    ml_kem: alloc::sync::Arc<aws_lc_rs::kem::EncapsulationKey>,
    #[cfg(feature = "aws-lc")]
    pk_x: [u8; 32],
}

impl PublicKey {
    /// `DeserializePublicKey`, with the checks FIPS 203 §7.2 asks of an ML-KEM
    /// encapsulation key (length, and every coefficient reduced modulo q). Any 32 bytes are
    /// an X25519 public key.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let key =
            x_wing::EncapsulationKey::new_from_slice(bytes).map_err(|_| Error::InvalidPublicKey)?;
        #[cfg(feature = "aws-lc")]
        {
            let (m_part, x_part) = bytes
                .split_at_checked(ML_KEM_PUBLIC_LEN)
                .ok_or(Error::InvalidPublicKey)?;
            let ml_kem = aws_lc_rs::kem::EncapsulationKey::new(&aws_lc_rs::kem::ML_KEM_768, m_part)
                .map_err(|_| Error::InvalidPublicKey)?;
            let pk_x = x_part.try_into().map_err(|_| Error::InvalidPublicKey)?;
            Ok(Self {
                key,
                ml_kem: alloc::sync::Arc::new(ml_kem),
                pk_x,
            })
        }
        #[cfg(not(feature = "aws-lc"))]
        Ok(Self { key })
    }
}

/// X-Wing's combiner: `SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ "\.//^\")`.
#[cfg(feature = "aws-lc")]
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

/// X-Wing, as a [`Kem`].
pub(crate) struct XWing;

impl Kem for XWing {
    /// `"HPKE" ‖ I2OSP(0x647a, 2) ‖ I2OSP(0x0001, 2) ‖ I2OSP(0x0002, 2)`.
    const HPKE_SUITE_ID: &'static [u8] = b"HPKE\x64\x7a\x00\x01\x00\x02";
    type PublicKey = PublicKey;
    type RecipientKey = RecipientKey;
    type Enc = Box<[u8; ENC_LEN]>;

    fn encap(pk_r: &PublicKey, rng: &mut dyn RandomSource) -> Result<Encapsulated, Error> {
        encap(pk_r, rng)
    }

    fn decap(enc: &[u8], sk_r: &RecipientKey) -> Result<Zeroizing<[u8; 32]>, Error> {
        decap(enc, sk_r)
    }
}

/// `(enc, shared_secret)` of one encapsulation.
pub(crate) type Encapsulated = (Box<[u8; ENC_LEN]>, Zeroizing<[u8; 32]>);

/// `Encap(pkR)`. With the system generator and `aws-lc`, AWS-LC's ML-KEM encapsulation
/// and an ephemeral AWS-LC X25519 key (both drawing from AWS-LC's generator); otherwise
/// the 64 bytes of randomness come from `rng` and `x-wing` encapsulates with them.
pub(crate) fn encap(pk_r: &PublicKey, rng: &mut dyn RandomSource) -> Result<Encapsulated, Error> {
    #[cfg(feature = "aws-lc")]
    if rng.system().is_some() {
        return encap_aws_lc(pk_r);
    }
    let mut randomness = Zeroizing::new([0u8; ENCAP_RANDOMNESS_LEN]);
    rng.fill(randomness.as_mut())?;
    Ok(encap_with(pk_r, &randomness))
}

/// `Encap(pkR)` on AWS-LC.
#[cfg(feature = "aws-lc")]
fn encap_aws_lc(pk_r: &PublicKey) -> Result<Encapsulated, Error> {
    use aws_lc_rs::agreement::{self, X25519};
    let (ct_m, ss_m) = pk_r.ml_kem.encapsulate().map_err(|_| Error::RandomFailed)?;
    let random = aws_lc_rs::rand::SystemRandom::new();
    let ephemeral = agreement::EphemeralPrivateKey::generate(&X25519, &random)
        .map_err(|_| Error::RandomFailed)?;
    let ct_x = ephemeral
        .compute_public_key()
        .map_err(|_| Error::RandomFailed)?;
    let peer = agreement::UnparsedPublicKey::new(&X25519, pk_r.pk_x);
    let shared_secret =
        agreement::agree_ephemeral(ephemeral, peer, Error::InvalidPublicKey, |ss_x| {
            Ok(combine(ss_m.as_ref(), ss_x, ct_x.as_ref(), &pk_r.pk_x))
        })?;
    let mut enc = Box::new([0u8; ENC_LEN]);
    let (m_part, x_part) = enc.split_at_mut(ML_KEM_CIPHERTEXT_LEN);
    if ct_m.as_ref().len() != m_part.len() || ct_x.as_ref().len() != x_part.len() {
        return Err(Error::Malformed);
    }
    m_part.copy_from_slice(ct_m.as_ref());
    x_part.copy_from_slice(ct_x.as_ref());
    Ok((enc, shared_secret))
}

/// `EncapsulateDerand(pkR, randomness)` of the X-Wing draft (the vectors' path).
pub(crate) fn encap_with(
    pk_r: &PublicKey,
    randomness: &[u8; ENCAP_RANDOMNESS_LEN],
) -> Encapsulated {
    let (ciphertext, mut shared) = pk_r.key.encapsulate_deterministic(randomness.into());
    let mut enc = Box::new([0u8; ENC_LEN]);
    enc.copy_from_slice(&ciphertext);
    let mut shared_secret = Zeroizing::new([0u8; 32]);
    shared_secret.copy_from_slice(&shared);
    shared.zeroize();
    (enc, shared_secret)
}

/// `Decap(enc, skR)`: *corrupted* if `enc` is not 1120 bytes or is non-contributory.
/// (ML-KEM decapsulation never fails: a modified ciphertext gives an unrelated secret,
/// which the AEAD then rejects.)
pub(crate) fn decap(enc: &[u8], sk_r: &RecipientKey) -> Result<Zeroizing<[u8; 32]>, Error> {
    if enc.len() != ENC_LEN {
        return Err(Error::Corrupted);
    }
    #[cfg(feature = "aws-lc")]
    {
        use aws_lc_rs::agreement::{self, X25519};
        let (ct_m, ct_x) = enc
            .split_at_checked(ML_KEM_CIPHERTEXT_LEN)
            .ok_or(Error::Corrupted)?;
        let ss_m = sk_r
            .ml_kem
            .decapsulate(aws_lc_rs::kem::Ciphertext::from(ct_m))
            .map_err(|_| Error::Corrupted)?;
        // AWS-LC's X25519 fails when the result is all zero (non-contributory).
        let peer = agreement::UnparsedPublicKey::new(&X25519, ct_x);
        agreement::agree(&sk_r.x25519, peer, Error::Corrupted, |ss_x| {
            Ok(combine(ss_m.as_ref(), ss_x, ct_x, sk_r.pk_x()))
        })
    }
    #[cfg(not(feature = "aws-lc"))]
    {
        let ciphertext = x_wing::Ciphertext::try_from(enc).map_err(|_| Error::Corrupted)?;
        let mut shared = sk_r
            .key
            .try_decapsulate(&ciphertext)
            .map_err(|_| Error::Corrupted)?;
        let mut shared_secret = Zeroizing::new([0u8; 32]);
        shared_secret.copy_from_slice(&shared);
        shared.zeroize();
        Ok(shared_secret)
    }
}
