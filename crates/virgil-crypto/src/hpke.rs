//! RFC 9180 HPKE, base mode, single-shot, for exactly two suites, both with HKDF-SHA256
//! and AES-256-GCM (kdf 0x0001, aead 0x0002): DHKEM(P-256, HKDF-SHA256) (kem 0x0010,
//! [`dhkem_p256`]) and X-Wing (kem 0x647a, [`xwing`]).
//!
//! The key schedule, seal and open are written once, here, over the [`Kem`] trait; each
//! KEM is one implementation of it. This is glue over vetted primitives, not new
//! cryptography: `hkdf`/`sha2` do the labeled KDF, the backend does AES-256-GCM, and each KEM
//! module says what does its key agreement. It exists because the `hpke` crate is
//! several times slower per recipient (see `docs/decisions.md`); it is checked against
//! the RFC 9180 and HPKE-PQ test vectors and, differentially, against the `hpke` crate
//! (`kat.rs`). Only sequence number 0 is ever used (one seal per context), so no
//! counter can wrap.

use crate::Error;
use crate::backend::AeadKey;
use crate::rng::RandomSource;
use alloc::vec::Vec;
use hkdf::{Hkdf, HkdfExtract};
use sha2::Sha256;
use zeroize::Zeroizing;

pub(crate) mod dhkem_p256;
pub(crate) mod xwing;

/// Raw AES-256-GCM key and nonce lengths (`Nk`, `Nn`).
const AEAD_KEY_LEN: usize = 32;
const AEAD_NONCE_LEN: usize = 12;
const VERSION_LABEL: &[u8] = b"HPKE-v1";
const MODE_BASE: u8 = 0x00;

/// Length of the AEAD tag (`Nt`).
pub(crate) const TAG_LEN: usize = 16;

/// A key encapsulation mechanism of RFC 9180 §4 whose shared secret is 32 bytes
/// (`Nsecret`), used with HKDF-SHA256 and AES-256-GCM.
pub(crate) trait Kem {
    /// `"HPKE" ‖ I2OSP(kem_id, 2) ‖ I2OSP(kdf_id, 2) ‖ I2OSP(aead_id, 2)`.
    const HPKE_SUITE_ID: &'static [u8];
    /// A recipient's public key, parsed and validated (`pkR`).
    type PublicKey: ?Sized;
    /// A recipient's private key, expanded once (`skR`).
    type RecipientKey;
    /// An encapsulated key (`enc`).
    type Enc;

    /// `Encap(pkR)`, drawing its randomness from `rng`.
    fn encap(
        pk_r: &Self::PublicKey,
        rng: &mut dyn RandomSource,
    ) -> Result<(Self::Enc, Zeroizing<[u8; 32]>), Error>;

    /// `Decap(enc, skR)`; every failure is [`Error::Corrupted`].
    fn decap(enc: &[u8], sk_r: &Self::RecipientKey) -> Result<Zeroizing<[u8; 32]>, Error>;
}

/// `LabeledExtract(salt, label, ikm)` of RFC 9180 §4.
pub(crate) fn labeled_extract(
    suite_id: &[u8],
    salt: &[u8],
    label: &[u8],
    ikm: &[u8],
) -> Zeroizing<[u8; 32]> {
    let mut extract = HkdfExtract::<Sha256>::new(Some(salt));
    extract.input_ikm(VERSION_LABEL);
    extract.input_ikm(suite_id);
    extract.input_ikm(label);
    extract.input_ikm(ikm);
    let (prk, _) = extract.finalize();
    Zeroizing::new(prk.into())
}

/// `LabeledExpand(prk, label, info, L)` of RFC 9180 §4, with `L = out.len()` (≤ 255·32).
pub(crate) fn labeled_expand(
    suite_id: &[u8],
    prk: &[u8; 32],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let length = u16::try_from(out.len()).map_err(|_| Error::Malformed)?;
    let hkdf = Hkdf::<Sha256>::from_prk(prk).map_err(|_| Error::Malformed)?;
    hkdf.expand_multi_info(
        &[&length.to_be_bytes(), VERSION_LABEL, suite_id, label, info],
        out,
    )
    .map_err(|_| Error::Malformed)
}

/// The AEAD key and base nonce of a base-mode context (`KeySchedule`, RFC 9180 §5.1).
pub(crate) struct KeySchedule {
    pub(crate) key: Zeroizing<[u8; AEAD_KEY_LEN]>,
    pub(crate) base_nonce: [u8; AEAD_NONCE_LEN],
}

/// `KeySchedule` of the suite of `K`.
pub(crate) fn key_schedule<K: Kem>(
    shared_secret: &[u8; 32],
    info: &[u8],
) -> Result<KeySchedule, Error> {
    key_schedule_for(K::HPKE_SUITE_ID, shared_secret, info)
}

/// `KeySchedule(mode_base, shared_secret, info, "", "")` for the suite `suite_id`
/// (`"HPKE" ‖ kem_id ‖ kdf_id ‖ aead_id`; the KDF is always HKDF-SHA256).
pub(crate) fn key_schedule_for(
    suite_id: &[u8],
    shared_secret: &[u8; 32],
    info: &[u8],
) -> Result<KeySchedule, Error> {
    let psk_id_hash = labeled_extract(suite_id, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(suite_id, b"", b"info_hash", info);
    let mut context = [0u8; 65];
    let (mode, hashes) = context.split_at_mut(1);
    mode.copy_from_slice(&[MODE_BASE]);
    let (psk_part, info_part) = hashes.split_at_mut(32);
    psk_part.copy_from_slice(psk_id_hash.as_ref());
    info_part.copy_from_slice(info_hash.as_ref());
    let secret = labeled_extract(suite_id, shared_secret, b"secret", b"");
    let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
    labeled_expand(suite_id, &secret, b"key", &context, key.as_mut())?;
    let mut base_nonce = [0u8; AEAD_NONCE_LEN];
    labeled_expand(suite_id, &secret, b"base_nonce", &context, &mut base_nonce)?;
    Ok(KeySchedule { key, base_nonce })
}

/// A sealed message: the encapsulated key and the AEAD ciphertext (pt ‖ tag).
pub(crate) struct Sealed<Enc> {
    pub(crate) enc: Enc,
    pub(crate) ciphertext: Vec<u8>,
}

/// `SealBase(pkR, info, aad, pt)` with the KEM `K`.
pub(crate) fn seal<K: Kem>(
    pk_r: &K::PublicKey,
    info: &[u8],
    aad: &[u8],
    pt: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Sealed<K::Enc>, Error> {
    let (enc, shared_secret) = K::encap(pk_r, rng)?;
    let schedule = key_schedule::<K>(&shared_secret, info)?;
    Ok(Sealed {
        enc,
        ciphertext: aead_seal(&schedule, aad, pt)?,
    })
}

/// `OpenBase(enc, skR, info, aad, ct)` with the KEM `K` and sequence number 0. Every
/// failure is [`Error::Corrupted`].
pub(crate) fn open<K: Kem>(
    enc: &[u8],
    sk_r: &K::RecipientKey,
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let shared_secret = K::decap(enc, sk_r)?;
    aead_open(&key_schedule::<K>(&shared_secret, info)?, aad, ciphertext)
}

/// AES-256-GCM seal of `pt` with sequence number 0 (nonce = base nonce).
fn aead_seal(schedule: &KeySchedule, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, Error> {
    let key = AeadKey::new(&schedule.key).map_err(|_| Error::Malformed)?;
    let mut in_out = Vec::with_capacity(pt.len() + TAG_LEN);
    in_out.extend_from_slice(pt);
    key.seal_append_tag(schedule.base_nonce, aad, &mut in_out)
        .map_err(|_| Error::Malformed)?;
    Ok(in_out)
}

/// AES-256-GCM open with sequence number 0; every failure is [`Error::Corrupted`].
fn aead_open(
    schedule: &KeySchedule,
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let key = AeadKey::new(&schedule.key).map_err(|_| Error::Corrupted)?;
    let mut in_out = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len = key
        .open_appended_tag(schedule.base_nonce, aad, in_out.as_mut_slice())
        .map_err(|_| Error::Corrupted)?;
    in_out.truncate(plaintext_len);
    Ok(in_out)
}
