//! HPKE base mode, single-shot, with the X-Wing KEM: X-Wing / HKDF-SHA256 / AES-256-GCM
//! (kem 0x647a, kdf 0x0001, aead 0x0002), as draft-ietf-hpke-pq defines it.
//!
//! X-Wing (draft-connolly-cfrg-xwing-kem-06) is the hybrid of ML-KEM-768 and X25519:
//! a message stays secret unless *both* are broken. The KEM is the RustCrypto `x-wing`
//! crate (over `ml-kem` and `x25519-dalek`); this module feeds its 32-byte shared
//! secret into the RFC 9180 key schedule, whose AEAD and KDF are the P-256 suite's.
//!
//! The recipient's key and, with the system generator, encapsulation run on the
//! backend chosen in `backend.rs` (AWS-LC by default, else `x-wing` itself);
//! deterministic encapsulation (the vectors) and public-key validation are always
//! `x-wing`'s. Both backends are checked against the X-Wing draft's vectors, the HPKE-PQ
//! draft's X-Wing vector and, differentially, the `hpke` crate's X-Wing suite (`kat.rs`).

use super::Kem;
use crate::Error;
use crate::backend::{XWingDecapsulationKey, XWingEncapsulationKey};
use crate::rng::RandomSource;
use alloc::boxed::Box;
use x_wing::TryKeyInit as _;
use zeroize::{Zeroize as _, Zeroizing};

/// Length of an X-Wing private key: a seed (`Nsk`).
pub(crate) const SEED_LEN: usize = x_wing::DECAPSULATION_KEY_SIZE;
/// Length of an X-Wing encapsulation (public) key (`Npk`): ML-KEM-768's 1184 ‖ X25519's 32.
pub(crate) const PUBLIC_LEN: usize = x_wing::ENCAPSULATION_KEY_SIZE;
/// Length of an X-Wing ciphertext (`Nenc`): ML-KEM-768's 1088 ‖ X25519's 32.
pub(crate) const ENC_LEN: usize = x_wing::CIPHERTEXT_SIZE;
/// Random bytes one encapsulation consumes (32 for ML-KEM, 32 for X25519).
const ENCAP_RANDOMNESS_LEN: usize = x_wing::ENCAPSULATION_RANDOMNESS_SIZE;
/// Length of `pk_X`, the X25519 half at the end of the public key.
const X25519_PUBLIC_LEN: usize = 32;

/// A recipient's X-Wing key, expanded once, with its encoded public key (`pk_M ‖ pk_X`).
///
/// The X25519 half rejects "non-contributory" ciphertexts (an X25519 share that makes
/// the shared point all zero): no honest sender makes one, so such a stanza is
/// *corrupted*, as Go's `crypto/ecdh` and AWS-LC would also have it. Zeroized on drop
/// (the `x-wing` crate's `zeroize` feature; AWS-LC clears what it frees).
pub(crate) struct RecipientKey {
    key: XWingDecapsulationKey,
    public: Box<[u8; PUBLIC_LEN]>,
}

impl RecipientKey {
    /// `GenerateKeyPairDerand(seed)` of the X-Wing draft (the seed *is* the private key).
    pub(crate) fn from_seed(seed: &[u8; SEED_LEN]) -> Result<Self, Error> {
        let (key, public) = XWingDecapsulationKey::from_seed(seed).map_err(|_| Error::Malformed)?;
        Ok(Self { key, public })
    }

    /// `SerializePublicKey(pkR)`.
    pub(crate) fn public_key(&self) -> &[u8; PUBLIC_LEN] {
        &self.public
    }

    /// `pk_X`, the last 32 bytes of the public key.
    fn pk_x(&self) -> &[u8] {
        self.public
            .get(PUBLIC_LEN - X25519_PUBLIC_LEN..)
            .unwrap_or(&[])
    }
}

/// A parsed X-Wing public key, ready to encapsulate to.
#[derive(Clone)]
pub(crate) struct PublicKey {
    /// Validated by `x-wing`; the deterministic (vector) path encapsulates with it.
    key: x_wing::EncapsulationKey,
    /// The same key in the backend's own form.
    fast: XWingEncapsulationKey,
}

impl PublicKey {
    /// `DeserializePublicKey`, with the checks FIPS 203 §7.2 asks of an ML-KEM
    /// encapsulation key (length, and every coefficient reduced modulo q). Any 32 bytes are
    /// an X25519 public key.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let key =
            x_wing::EncapsulationKey::new_from_slice(bytes).map_err(|_| Error::InvalidPublicKey)?;
        let fast = XWingEncapsulationKey::new(bytes).map_err(|_| Error::InvalidPublicKey)?;
        Ok(Self { key, fast })
    }
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
pub(crate) type Encapsulated = crate::backend::XWingEncapsulated;

/// `Encap(pkR)`. With the system generator, the backend's own encapsulation if it has
/// one; otherwise the 64 bytes of randomness come from `rng` and `x-wing` encapsulates
/// with them.
pub(crate) fn encap(pk_r: &PublicKey, rng: &mut dyn RandomSource) -> Result<Encapsulated, Error> {
    if rng.system().is_some()
        && let Some(encapsulated) = pk_r.fast.encapsulate()
    {
        return encapsulated;
    }
    let mut randomness = Zeroizing::new([0u8; ENCAP_RANDOMNESS_LEN]);
    rng.fill(randomness.as_mut())?;
    Ok(encap_with(pk_r, &randomness))
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
    let enc: &[u8; ENC_LEN] = enc.try_into().map_err(|_| Error::Corrupted)?;
    sk_r.key.decapsulate(enc, sk_r.pk_x())
}
