//! DHKEM(P-256, HKDF-SHA256), kem 0x0010 (RFC 9180 §4.1, §7.1.3).
//!
//! The backend (`backend.rs`) does the sender's ephemeral ECDH and the recipient's
//! static ECDH; `p256` does `DeriveKeyPair` and the deterministic (test-vector)
//! encapsulation.

use super::{Kem, labeled_expand, labeled_extract};
use crate::Error;
use crate::backend::{P256StaticKey, p256_ephemeral_agree};
use crate::rng::RandomSource;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use zeroize::Zeroizing;

/// `"KEM" ‖ I2OSP(kem_id, 2)`.
const KEM_SUITE_ID: &[u8] = b"KEM\x00\x10";

/// Length of an uncompressed SEC1 P-256 point: the KEM's `Npk` and `Nenc`.
pub(crate) const POINT_LEN: usize = 65;

/// The P-256 DHKEM, as a [`Kem`]: public keys are validated uncompressed points.
pub(crate) struct DhKemP256;

impl Kem for DhKemP256 {
    const HPKE_SUITE_ID: &'static [u8] = b"HPKE\x00\x10\x00\x01\x00\x02";
    type PublicKey = [u8; POINT_LEN];
    type RecipientKey = RecipientKey;
    type Enc = [u8; POINT_LEN];

    fn encap(
        pk_rm: &[u8; POINT_LEN],
        rng: &mut dyn RandomSource,
    ) -> Result<([u8; POINT_LEN], Zeroizing<[u8; 32]>), Error> {
        encap(pk_rm, rng)
    }

    fn decap(enc: &[u8], sk_r: &RecipientKey) -> Result<Zeroizing<[u8; 32]>, Error> {
        decap(enc, sk_r)
    }
}

/// `DeriveKeyPair(ikm)`, RFC 9180 §7.1.3.
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

/// A recipient's static key (`skR` with its serialized `pkR`), expanded once when the
/// private key is loaded so that every decryption costs one ECDH and nothing more.
///
/// Zeroized on drop (by the backend: `p256::SecretKey` zeroizes itself, AWS-LC clears
/// what it frees).
pub(crate) struct RecipientKey {
    static_key: P256StaticKey,
    public: [u8; POINT_LEN],
}

impl RecipientKey {
    /// Expands `skR` (e.g. from [`derive_key_pair`]).
    pub(crate) fn new(secret: &p256::SecretKey) -> Result<Self, Error> {
        let (static_key, public) = P256StaticKey::new(secret).map_err(|_| Error::Malformed)?;
        Ok(Self { static_key, public })
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
        let pk_e: &[u8; POINT_LEN] = pk_e.try_into().map_err(|_| Error::Corrupted)?;
        if pk_e.first() != Some(&0x04) {
            return Err(Error::Corrupted);
        }
        self.static_key.agree(pk_e, kdf)
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

/// `Encap(pkR)`. `pk_rm` must be a validated uncompressed point.
///
/// With the system generator, the ephemeral key is the backend's (fast, and never
/// exported). With a deterministic generator (test vectors), it is
/// `DeriveKeyPair(32 bytes from the generator)` and the ECDH is done by `p256`.
pub(crate) fn encap(
    pk_rm: &[u8; POINT_LEN],
    rng: &mut dyn RandomSource,
) -> Result<([u8; POINT_LEN], Zeroizing<[u8; 32]>), Error> {
    if let Some(system) = rng.system() {
        p256_ephemeral_agree(system, pk_rm, |enc, dh| extract_and_expand(dh, enc, pk_rm))
    } else {
        let mut ikm_e = Zeroizing::new([0u8; 32]);
        rng.fill(ikm_e.as_mut())?;
        let sk_e = derive_key_pair(ikm_e.as_ref())?;
        encap_with(&sk_e, pk_rm)
    }
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
