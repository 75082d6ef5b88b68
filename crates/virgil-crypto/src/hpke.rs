//! RFC 9180 HPKE, base mode, single-shot, for exactly two suites:
//! DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM (kem 0x0010, kdf 0x0001,
//! aead 0x0002; this module) and X-Wing / HKDF-SHA256 / AES-256-GCM (kem 0x647a;
//! [`xwing`]).
//!
//! This is glue over vetted primitives, not new cryptography: ring does the sender's
//! ephemeral ECDH and AES-256-GCM; the recipient's static ECDH is aws-lc-rs's (feature
//! `aws-lc`, on by default: AWS-LC's P-256, about three times faster than `p256`'s) or
//! the `p256` crate's (without it, e.g. `no_std`); `p256` also does `DeriveKeyPair`, and
//! `hkdf`/`sha2` do the labeled KDF. It exists because the `hpke`
//! crate is several times slower per recipient (see `docs/decisions.md`); it is checked
//! against the RFC 9180 test vectors and, differentially, against the `hpke` crate.
//! Only sequence number 0 is ever used (one seal per context), so no counter can wrap.

use crate::Error;
use crate::rng::RandomSource;
use alloc::vec::Vec;
use hkdf::{Hkdf, HkdfExtract};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::agreement;
use sha2::Sha256;
use zeroize::Zeroizing;

pub(crate) mod xwing;

/// `"KEM" ‖ I2OSP(kem_id, 2)`.
const KEM_SUITE_ID: &[u8] = b"KEM\x00\x10";
/// `"HPKE" ‖ I2OSP(kem_id, 2) ‖ I2OSP(kdf_id, 2) ‖ I2OSP(aead_id, 2)`.
const HPKE_SUITE_ID: &[u8] = b"HPKE\x00\x10\x00\x01\x00\x02";
/// Raw AES-256-GCM key and nonce lengths (`Nk`, `Nn`).
const AEAD_KEY_LEN: usize = 32;
const AEAD_NONCE_LEN: usize = 12;
const VERSION_LABEL: &[u8] = b"HPKE-v1";
const MODE_BASE: u8 = 0x00;

/// Length of an uncompressed SEC1 P-256 point: the KEM's `Npk` and `Nenc`.
pub(crate) const POINT_LEN: usize = 65;
/// Length of the AEAD tag (`Nt`).
pub(crate) const TAG_LEN: usize = 16;

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

/// `DeriveKeyPair(ikm)` for DHKEM(P-256, HKDF-SHA256), RFC 9180 §7.1.3.
pub(crate) fn derive_key_pair(ikm: &[u8]) -> Result<p256::SecretKey, Error> {
    let dkp_prk = labeled_extract(KEM_SUITE_ID, b"", b"dkp_prk", ikm);
    for counter in 0u8..=255 {
        let mut candidate = Zeroizing::new([0u8; 32]);
        labeled_expand(
            KEM_SUITE_ID,
            &dkp_prk,
            b"candidate",
            &[counter],
            candidate.as_mut(),
        )?;
        // The bitmask for P-256 is 0xff: no bits are cleared. `from_bytes` rejects
        // zero and values ≥ the group order, which is the loop condition of the RFC.
        if let Ok(secret) = p256::SecretKey::from_bytes(&(*candidate).into()) {
            return Ok(secret);
        }
    }
    // Probability 2^-8192: reported as an error rather than a panic all the same.
    Err(Error::Malformed)
}

/// `SerializePublicKey`: the uncompressed SEC1 encoding.
pub(crate) fn serialize_public_key(public: &p256::PublicKey) -> [u8; POINT_LEN] {
    let point = public.to_encoded_point(false);
    let mut out = [0u8; POINT_LEN];
    if point.as_bytes().len() == POINT_LEN {
        out.copy_from_slice(point.as_bytes());
    }
    out
}

/// `DeserializePublicKey`, with validation: exactly 65 bytes, tag 0x04, on the curve.
/// (An uncompressed encoding cannot be the identity.)
pub(crate) fn deserialize_public_key(bytes: &[u8]) -> Result<p256::PublicKey, Error> {
    if bytes.len() != POINT_LEN || bytes.first() != Some(&0x04) {
        return Err(Error::InvalidPublicKey);
    }
    p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| Error::InvalidPublicKey)
}

/// A recipient's static HPKE key (`skR` with its serialized `pkR`), expanded once when
/// the private key is loaded so that every decryption costs one ECDH and nothing more.
///
/// Zeroized on drop: `p256::SecretKey` zeroizes itself; AWS-LC clears every allocation
/// it frees (`OPENSSL_free` calls `OPENSSL_cleanse`), the key's scalar included.
pub(crate) struct RecipientKey {
    #[cfg(feature = "aws-lc")]
    static_key: aws_lc_rs::agreement::PrivateKey,
    #[cfg(not(feature = "aws-lc"))]
    static_key: p256::SecretKey,
    public: [u8; POINT_LEN],
}

impl RecipientKey {
    /// Expands `skR` (e.g. from [`derive_key_pair`]).
    pub(crate) fn new(secret: &p256::SecretKey) -> Result<Self, Error> {
        #[cfg(feature = "aws-lc")]
        {
            use aws_lc_rs::agreement;
            let scalar = Zeroizing::new(secret.to_bytes());
            let static_key =
                agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, scalar.as_ref())
                    .map_err(|_| Error::Malformed)?;
            let public: [u8; POINT_LEN] = static_key
                .compute_public_key()
                .map_err(|_| Error::Malformed)?
                .as_ref()
                .try_into()
                .map_err(|_| Error::Malformed)?;
            Ok(Self { static_key, public })
        }
        #[cfg(not(feature = "aws-lc"))]
        Ok(Self {
            static_key: secret.clone(),
            public: serialize_public_key(&secret.public_key()),
        })
    }

    /// `SerializePublicKey(pkR)`.
    pub(crate) fn public_point(&self) -> &[u8; POINT_LEN] {
        &self.public
    }

    /// `DH(skR, pkE)` for the SEC1 point `pk_e`, handed to `kdf`; *corrupted* unless
    /// `pk_e` is an uncompressed point on the curve.
    pub(crate) fn dh<T>(
        &self,
        pk_e: &[u8],
        kdf: impl FnOnce(&[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if pk_e.len() != POINT_LEN || pk_e.first() != Some(&0x04) {
            return Err(Error::Corrupted);
        }
        #[cfg(feature = "aws-lc")]
        {
            use aws_lc_rs::agreement;
            let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, pk_e);
            agreement::agree(&self.static_key, peer, Error::Corrupted, kdf)
        }
        #[cfg(not(feature = "aws-lc"))]
        {
            let pk_e = deserialize_public_key(pk_e).map_err(|_| Error::Corrupted)?;
            let dh =
                p256::ecdh::diffie_hellman(self.static_key.to_nonzero_scalar(), pk_e.as_affine());
            kdf(dh.raw_secret_bytes())
        }
    }
}

/// `ExtractAndExpand(dh, kem_context)` of DHKEM, RFC 9180 §4.1.
fn extract_and_expand(
    dh: &[u8],
    enc: &[u8; POINT_LEN],
    pk_rm: &[u8; POINT_LEN],
) -> Result<Zeroizing<[u8; 32]>, Error> {
    let eae_prk = labeled_extract(KEM_SUITE_ID, b"", b"eae_prk", dh);
    let mut kem_context = [0u8; 2 * POINT_LEN];
    let (first, second) = kem_context.split_at_mut(POINT_LEN);
    first.copy_from_slice(enc);
    second.copy_from_slice(pk_rm);
    let mut shared_secret = Zeroizing::new([0u8; 32]);
    labeled_expand(
        KEM_SUITE_ID,
        &eae_prk,
        b"shared_secret",
        &kem_context,
        shared_secret.as_mut(),
    )?;
    Ok(shared_secret)
}

/// The AEAD key and base nonce of a base-mode context (`KeySchedule`, RFC 9180 §5.1).
pub(crate) struct KeySchedule {
    pub(crate) key: Zeroizing<[u8; AEAD_KEY_LEN]>,
    pub(crate) base_nonce: [u8; AEAD_NONCE_LEN],
}

/// `KeySchedule` of the P-256 suite.
pub(crate) fn key_schedule(shared_secret: &[u8; 32], info: &[u8]) -> Result<KeySchedule, Error> {
    key_schedule_for(HPKE_SUITE_ID, shared_secret, info)
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

/// AES-256-GCM seal of `pt` with sequence number 0 (nonce = base nonce).
fn aead_seal(schedule: &KeySchedule, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, Error> {
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, schedule.key.as_ref()).map_err(|_| Error::Malformed)?,
    );
    let mut in_out = Vec::with_capacity(pt.len() + TAG_LEN);
    in_out.extend_from_slice(pt);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(schedule.base_nonce),
        Aad::from(aad),
        &mut in_out,
    )
    .map_err(|_| Error::Malformed)?;
    Ok(in_out)
}

/// A sealed message: the encapsulated key and the AEAD ciphertext (pt ‖ tag).
pub(crate) struct Sealed {
    pub(crate) enc: [u8; POINT_LEN],
    pub(crate) ciphertext: Vec<u8>,
}

/// `SealBase(pkR, info, aad, pt)`. `pk_rm` must be a validated uncompressed point.
///
/// With the system generator, the ephemeral key is ring's (`EphemeralPrivateKey`, fast
/// and never exported). With a deterministic generator (test vectors), it is
/// `DeriveKeyPair(32 bytes from the generator)` and the ECDH is done by `p256`.
pub(crate) fn seal(
    pk_rm: &[u8; POINT_LEN],
    info: &[u8],
    aad: &[u8],
    pt: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Sealed, Error> {
    let (enc, shared_secret) = if let Some(system) = rng.system() {
        let ephemeral = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, system)
            .map_err(|_| Error::RandomFailed)?;
        let public = ephemeral
            .compute_public_key()
            .map_err(|_| Error::RandomFailed)?;
        let enc: [u8; POINT_LEN] = public
            .as_ref()
            .try_into()
            .map_err(|_| Error::InvalidPublicKey)?;
        let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, pk_rm);
        let shared_secret =
            agreement::agree_ephemeral(ephemeral, &peer, |dh| extract_and_expand(dh, &enc, pk_rm))
                .map_err(|_| Error::InvalidPublicKey)??;
        (enc, shared_secret)
    } else {
        let mut ikm_e = Zeroizing::new([0u8; 32]);
        rng.fill(ikm_e.as_mut())?;
        let sk_e = derive_key_pair(ikm_e.as_ref())?;
        encap_with(&sk_e, pk_rm)?
    };
    let schedule = key_schedule(&shared_secret, info)?;
    Ok(Sealed {
        enc,
        ciphertext: aead_seal(&schedule, aad, pt)?,
    })
}

/// `Encap` with a given ephemeral secret (the deterministic path and the RFC vectors).
pub(crate) fn encap_with(
    sk_e: &p256::SecretKey,
    pk_rm: &[u8; POINT_LEN],
) -> Result<([u8; POINT_LEN], Zeroizing<[u8; 32]>), Error> {
    let pk_r = deserialize_public_key(pk_rm)?;
    let enc = serialize_public_key(&sk_e.public_key());
    let dh = p256::ecdh::diffie_hellman(sk_e.to_nonzero_scalar(), pk_r.as_affine());
    let shared_secret = extract_and_expand(dh.raw_secret_bytes(), &enc, pk_rm)?;
    Ok((enc, shared_secret))
}

/// `Decap(enc, skR)`: fails (*corrupted*) if `enc` is not an uncompressed point on the
/// curve.
pub(crate) fn decap(enc: &[u8], sk_r: &RecipientKey) -> Result<Zeroizing<[u8; 32]>, Error> {
    let enc: &[u8; POINT_LEN] = enc.try_into().map_err(|_| Error::Corrupted)?;
    sk_r.dh(enc, |dh| extract_and_expand(dh, enc, sk_r.public_point()))
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

/// AES-256-GCM open with sequence number 0; every failure is [`Error::Corrupted`].
fn aead_open(
    schedule: &KeySchedule,
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, schedule.key.as_ref()).map_err(|_| Error::Corrupted)?,
    );
    let mut in_out = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len = key
        .open_in_place(
            Nonce::assume_unique_for_key(schedule.base_nonce),
            Aad::from(aad),
            in_out.as_mut_slice(),
        )
        .map_err(|_| Error::Corrupted)?
        .len();
    in_out.truncate(plaintext_len);
    Ok(in_out)
}
