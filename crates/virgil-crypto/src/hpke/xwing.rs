//! HPKE base mode, single-shot, with the X-Wing KEM: X-Wing / HKDF-SHA256 / AES-256-GCM
//! (kem 0x647a, kdf 0x0001, aead 0x0002), as draft-ietf-hpke-pq defines it.
//!
//! X-Wing (draft-connolly-cfrg-xwing-kem-06) is the hybrid of ML-KEM-768 and X25519:
//! a message stays secret unless *both* are broken. The KEM is the RustCrypto `x-wing`
//! crate (over `ml-kem` and `x25519-dalek`); this module only feeds its 32-byte shared
//! secret into the RFC 9180 key schedule, whose AEAD and KDF are the P-256 suite's.
//! Checked against the X-Wing draft's vectors, the HPKE-PQ draft's X-Wing vector and,
//! differentially, the `hpke` crate's X-Wing suite (`kat.rs`).

use super::{KeySchedule, aead_open, aead_seal, key_schedule_for};
use crate::Error;
use crate::rng::RandomSource;
use alloc::boxed::Box;
use alloc::vec::Vec;
use x_wing::{Decapsulator as _, KeyExport as _, TryDecapsulate as _, TryKeyInit as _};
use zeroize::{Zeroize as _, Zeroizing};

/// `"HPKE" ‖ I2OSP(0x647a, 2) ‖ I2OSP(0x0001, 2) ‖ I2OSP(0x0002, 2)`.
const HPKE_SUITE_ID: &[u8] = b"HPKE\x64\x7a\x00\x01\x00\x02";

/// Length of an X-Wing private key: a seed (`Nsk`).
pub(crate) const SEED_LEN: usize = x_wing::DECAPSULATION_KEY_SIZE;
/// Length of an X-Wing encapsulation (public) key (`Npk`): ML-KEM-768's 1184 ‖ X25519's 32.
pub(crate) const PUBLIC_LEN: usize = x_wing::ENCAPSULATION_KEY_SIZE;
/// Length of an X-Wing ciphertext (`Nenc`): ML-KEM-768's 1088 ‖ X25519's 32.
pub(crate) const ENC_LEN: usize = x_wing::CIPHERTEXT_SIZE;
/// Random bytes one encapsulation consumes (32 for ML-KEM, 32 for X25519).
const ENCAP_RANDOMNESS_LEN: usize = x_wing::ENCAPSULATION_RANDOMNESS_SIZE;

/// A recipient's X-Wing key, with its encoded public key.
///
/// The X25519 half rejects "non-contributory" ciphertexts (an X25519 share that makes
/// the shared point all zero): no honest sender makes one, so such a stanza is
/// *corrupted*, as Go's `crypto/ecdh` and AWS-LC would also have it. Zeroized on drop
/// (the `x-wing` crate's `zeroize` feature).
pub(crate) struct RecipientKey {
    key: x_wing::DecapsulationKeyRejectNonContrib,
    public: Box<[u8; PUBLIC_LEN]>,
}

impl RecipientKey {
    /// `GenerateKeyPairDerand(seed)` of the X-Wing draft (the seed *is* the private key).
    pub(crate) fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        let mut copy = *seed;
        let key = x_wing::DecapsulationKeyRejectNonContrib::from(copy);
        copy.zeroize();
        let mut public = Box::new([0u8; PUBLIC_LEN]);
        public.copy_from_slice(&key.encapsulation_key().to_bytes());
        Self { key, public }
    }

    /// `SerializePublicKey(pkR)`.
    pub(crate) fn public_key(&self) -> &[u8; PUBLIC_LEN] {
        &self.public
    }
}

/// A parsed X-Wing public key, ready to encapsulate to.
#[derive(Clone)]
pub(crate) struct PublicKey(x_wing::EncapsulationKey);

impl PublicKey {
    /// `DeserializePublicKey`, with the checks FIPS 203 §7.2 asks of an ML-KEM
    /// encapsulation key (length, and every coefficient reduced modulo q). Any 32 bytes are
    /// an X25519 public key.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        x_wing::EncapsulationKey::new_from_slice(bytes)
            .map(Self)
            .map_err(|_| Error::InvalidPublicKey)
    }
}

/// A sealed message: the X-Wing ciphertext and the AEAD ciphertext (pt ‖ tag).
pub(crate) struct Sealed {
    pub(crate) enc: Box<[u8; ENC_LEN]>,
    pub(crate) ciphertext: Vec<u8>,
}

/// `(enc, shared_secret)` of one encapsulation.
pub(crate) type Encapsulated = (Box<[u8; ENC_LEN]>, Zeroizing<[u8; 32]>);

/// `Encap(pkR)` with the encapsulation randomness drawn from `rng` (64 bytes).
pub(crate) fn encap(pk_r: &PublicKey, rng: &mut dyn RandomSource) -> Result<Encapsulated, Error> {
    let mut randomness = Zeroizing::new([0u8; ENCAP_RANDOMNESS_LEN]);
    rng.fill(randomness.as_mut())?;
    Ok(encap_with(pk_r, &randomness))
}

/// `EncapsulateDerand(pkR, randomness)` of the X-Wing draft (the vectors' path).
pub(crate) fn encap_with(
    pk_r: &PublicKey,
    randomness: &[u8; ENCAP_RANDOMNESS_LEN],
) -> Encapsulated {
    let (ciphertext, mut shared) = pk_r.0.encapsulate_deterministic(randomness.into());
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

/// The key schedule of this suite.
pub(crate) fn key_schedule(shared_secret: &[u8; 32], info: &[u8]) -> Result<KeySchedule, Error> {
    key_schedule_for(HPKE_SUITE_ID, shared_secret, info)
}

/// `SealBase(pkR, info, aad, pt)`.
pub(crate) fn seal(
    pk_r: &PublicKey,
    info: &[u8],
    aad: &[u8],
    pt: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Sealed, Error> {
    let (enc, shared_secret) = encap(pk_r, rng)?;
    let schedule = key_schedule(&shared_secret, info)?;
    Ok(Sealed {
        enc,
        ciphertext: aead_seal(&schedule, aad, pt)?,
    })
}

/// `OpenBase(enc, skR, info, aad, ct)` with sequence number 0. Every failure is
/// [`Error::Corrupted`].
pub(crate) fn open(
    enc: &[u8],
    sk_r: &RecipientKey,
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let shared_secret = decap(enc, sk_r)?;
    aead_open(&key_schedule(&shared_secret, info)?, aad, ciphertext)
}
