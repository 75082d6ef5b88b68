//! Password-locked private keys: the bytes a key store writes to disk.
//!
//! ```text
//! blob = "VGLK" ‖ version ‖ kdf ‖ u32be(iterations) ‖ salt[16] ‖ check[16]
//!        ‖ nonce[12] ‖ AES-256-GCM(key, nonce, seed[32], aad = the 54 bytes before it)
//! kdf 0x01: master = PBKDF2-HMAC-SHA256(password, salt, iterations, 32)
//! kdf 0x00: master = 32 zero bytes ("unprotected": anyone who reads the blob has the key)
//! kdf 0x02: master = PBKDF2-HMAC-SHA256(hardened, salt, iterations, 32), where `hardened`
//!           is a [`HardenedPassword`]: a key backup (the password went through a
//!           server's oblivious PRF first, [`crate::oprf`])
//! key   = HKDF-Expand(master, "virgil-keyblob-v1 key", 32)
//! check = HKDF-Expand(master, "virgil-keyblob-v1 check", 16)
//! version = the key's suite: 0x01 a suite-1 key, 0x02 a suite-2 key (same layout)
//! ```
//!
//! The `check` value tells a wrong password ([`Error::WrongPassword`]) from a damaged blob
//! ([`Error::Corrupted`]); it reveals nothing an attacker could not learn from the AEAD
//! tag with the same work. The iteration count is stored, so it can be raised later
//! without breaking old blobs, and [`unlock`] refuses counts outside
//! [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`] before running any of them.
//!
//! The blob is framed with bincode 2 (big-endian, fixed-width integers); because every
//! field has a fixed size, that is exactly the layout above.

use crate::backend::AeadKey;
use crate::key::{PrivateKey, SEED_LEN, Suite};
use crate::rng::{RandomSource, SystemRandom};
use crate::{Error, Misuse};
use alloc::vec::Vec;
use bincode::{Decode, Encode};
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// The default PBKDF2 iteration count (OWASP 2023 guidance for PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// The lowest iteration count [`lock`] and [`unlock`] accept.
pub const MIN_ITERATIONS: u32 = 1_000;
/// The highest iteration count [`unlock`] will run (about 10 s on a fast machine).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Length of every key blob.
pub const BLOB_LEN: usize = HEADER_LEN + SEED_LEN + TAG_LEN;

const MAGIC: [u8; 4] = *b"VGLK";
const KDF_NONE: u8 = 0x00;
const KDF_PBKDF2_SHA256: u8 = 0x01;
const KDF_HARDENED_PBKDF2_SHA256: u8 = 0x02;
const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 4 + 1 + 1 + 4 + SALT_LEN + CHECK_LEN + NONCE_LEN;
const LABEL_KEY: &[u8] = b"virgil-keyblob-v1 key";
const LABEL_CHECK: &[u8] = b"virgil-keyblob-v1 check";

/// Locking parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    iterations: u32,
}

impl Params {
    /// Parameters with a chosen PBKDF2 iteration count.
    pub fn with_iterations(iterations: u32) -> Result<Self, Error> {
        if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            Ok(Self { iterations })
        } else {
            Err(Misuse::IterationsOutOfRange.into())
        }
    }

    /// The PBKDF2 iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl Default for Params {
    /// [`DEFAULT_ITERATIONS`].
    fn default() -> Self {
        Self {
            iterations: DEFAULT_ITERATIONS,
        }
    }
}

/// A password after a server hardened it (the 32-byte output of [`crate::oprf`]'s
/// oblivious PRF): what a key backup is locked with ([`lock_hardened`]). Guessing the
/// password behind it takes one server evaluation per guess. Zeroized on drop; its
/// `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct HardenedPassword(Zeroizing<[u8; 32]>);

impl HardenedPassword {
    /// Wraps the 32 bytes an oblivious PRF evaluation gave.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Debug for HardenedPassword {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HardenedPassword(..)")
    }
}

/// The wire form; field order is the byte order.
#[derive(Encode, Decode)]
struct Blob {
    magic: [u8; 4],
    version: u8,
    kdf: u8,
    iterations: u32,
    salt: [u8; SALT_LEN],
    check: [u8; CHECK_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: [u8; SEED_LEN + TAG_LEN],
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<BLOB_LEN>()
}

impl Blob {
    fn header_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut bytes = self.encode()?;
        bytes.truncate(HEADER_LEN);
        Ok(bytes)
    }

    fn encode(&self) -> Result<Vec<u8>, Error> {
        bincode::encode_to_vec(self, bincode_config()).map_err(|_| Error::Malformed)
    }
}

/// Derives the AEAD key and the password check value.
fn derive(
    kdf: u8,
    password: &[u8],
    salt: &[u8; SALT_LEN],
    iterations: u32,
) -> Result<(Zeroizing<[u8; 32]>, [u8; CHECK_LEN]), Error> {
    let mut master = Zeroizing::new([0u8; 32]);
    if kdf == KDF_PBKDF2_SHA256 || kdf == KDF_HARDENED_PBKDF2_SHA256 {
        if iterations == 0 {
            return Err(Error::Malformed);
        }
        // RustCrypto's PBKDF2 over sha2 (SHA-NI) measured 1.7x faster than ring's here.
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, master.as_mut());
    }
    let hkdf = Hkdf::<Sha256>::from_prk(master.as_ref()).map_err(|_| Error::Malformed)?;
    let mut key = Zeroizing::new([0u8; 32]);
    let mut check = [0u8; CHECK_LEN];
    hkdf.expand(LABEL_KEY, key.as_mut())
        .map_err(|_| Error::Malformed)?;
    hkdf.expand(LABEL_CHECK, &mut check)
        .map_err(|_| Error::Malformed)?;
    Ok((key, check))
}

fn aead_key(key: &[u8; 32]) -> Result<AeadKey, Error> {
    AeadKey::new(key).map_err(|_| Error::Malformed)
}

/// Locks `key` with `password` (PBKDF2-HMAC-SHA256 with `params`, then AES-256-GCM).
///
/// ```
/// use virgil_crypto::{PrivateKey, keyblob};
/// let key = PrivateKey::generate()?;
/// let blob = keyblob::lock(&key, b"hunter2", keyblob::Params::default())?;
/// assert_eq!(keyblob::unlock(&blob, Some(b"hunter2"))?, key);
/// assert_eq!(keyblob::unlock(&blob, Some(b"hunter3")), Err(virgil_crypto::Error::WrongPassword));
/// # Ok::<(), virgil_crypto::Error>(())
/// ```
pub fn lock(key: &PrivateKey, password: &[u8], params: Params) -> Result<Vec<u8>, Error> {
    lock_with(key, Some(password), params, &mut SystemRandom::new())
}

/// Stores `key` **without** a password. Anyone who can read the blob has the key; it is
/// marked as unprotected in the blob (kdf `0x00`) and [`is_password_protected`] says so.
/// Only for keys that are protected some other way (an encrypted disk, a test).
pub fn lock_unprotected(key: &PrivateKey) -> Result<Vec<u8>, Error> {
    lock_with(key, None, Params::default(), &mut SystemRandom::new())
}

/// Locks `key` for a key backup with a password a server hardened (kdf `0x02`: the
/// [`HardenedPassword`] goes through PBKDF2-HMAC-SHA256 with `params`, then AES-256-GCM,
/// exactly as [`lock`] does with a password). Only [`unlock_hardened`] opens it.
pub fn lock_hardened(
    key: &PrivateKey,
    hardened: &HardenedPassword,
    params: Params,
) -> Result<Vec<u8>, Error> {
    lock_hardened_with(key, hardened, params, &mut SystemRandom::new())
}

pub(crate) fn lock_hardened_with(
    key: &PrivateKey,
    hardened: &HardenedPassword,
    params: Params,
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    lock_kdf(
        key,
        KDF_HARDENED_PBKDF2_SHA256,
        hardened.as_bytes(),
        params,
        rng,
    )
}

pub(crate) fn lock_with(
    key: &PrivateKey,
    password: Option<&[u8]>,
    params: Params,
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    match password {
        Some(password) => lock_kdf(key, KDF_PBKDF2_SHA256, password, params, rng),
        None => lock_kdf(key, KDF_NONE, &[], params, rng),
    }
}

fn lock_kdf(
    key: &PrivateKey,
    kdf: u8,
    password: &[u8],
    params: Params,
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let params = Params::with_iterations(params.iterations)?;
    let iterations = if kdf == KDF_NONE {
        0
    } else {
        params.iterations
    };
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt)?;
    rng.fill(&mut nonce)?;
    let (aead, check) = derive(kdf, password, &salt, iterations)?;
    let mut blob = Blob {
        magic: MAGIC,
        version: key.suite().id(),
        kdf,
        iterations,
        salt,
        check,
        nonce,
        ciphertext: [0; SEED_LEN + TAG_LEN],
    };
    let header = blob.header_bytes()?;
    let mut sealed = Zeroizing::new(Vec::with_capacity(SEED_LEN + TAG_LEN));
    sealed.extend_from_slice(key.to_seed().as_ref());
    aead_key(&aead)?
        .seal_append_tag(nonce, &header, &mut sealed)
        .map_err(|_| Error::Malformed)?;
    blob.ciphertext.copy_from_slice(&sealed);
    blob.encode()
}

fn decode(bytes: &[u8]) -> Result<Blob, Error> {
    // Check the magic and version first so a newer format gets a precise error.
    if bytes.get(..4) != Some(MAGIC.as_slice()) {
        return Err(Error::Malformed);
    }
    if bytes.get(4).copied().and_then(Suite::from_id).is_none() {
        return Err(Error::UnsupportedVersion);
    }
    if bytes.len() != BLOB_LEN {
        return Err(Error::Malformed);
    }
    let (blob, used): (Blob, usize) =
        bincode::decode_from_slice(bytes, bincode_config()).map_err(|_| Error::Malformed)?;
    if used != BLOB_LEN {
        return Err(Error::Malformed);
    }
    match (blob.kdf, blob.iterations) {
        (KDF_NONE, 0) => Ok(blob),
        (KDF_PBKDF2_SHA256 | KDF_HARDENED_PBKDF2_SHA256, n)
            if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&n) =>
        {
            Ok(blob)
        }
        (KDF_NONE | KDF_PBKDF2_SHA256 | KDF_HARDENED_PBKDF2_SHA256, _) => Err(Error::Malformed),
        _ => Err(Error::UnsupportedVersion),
    }
}

/// The suite of the key a blob holds (its version byte; no password needed).
pub fn suite_of(blob: &[u8]) -> Result<Suite, Error> {
    decode(blob).and_then(|blob| Suite::from_id(blob.version).ok_or(Error::UnsupportedVersion))
}

/// Whether a blob needs a password (`false` for [`lock_unprotected`] blobs).
pub fn is_password_protected(blob: &[u8]) -> Result<bool, Error> {
    decode(blob).map(|blob| blob.kdf != KDF_NONE)
}

/// Whether a blob is a key backup, locked with a hardened password ([`lock_hardened`]).
pub fn is_hardened(blob: &[u8]) -> Result<bool, Error> {
    decode(blob).map(|blob| blob.kdf == KDF_HARDENED_PBKDF2_SHA256)
}

/// Unlocks a key backup made by [`lock_hardened`], with the password hardened again by
/// the same server. Errors as [`unlock`]; a blob that is not a backup is
/// [`Misuse::NotHardenedBlob`].
pub fn unlock_hardened(blob: &[u8], hardened: &HardenedPassword) -> Result<PrivateKey, Error> {
    let blob = decode(blob)?;
    if blob.kdf != KDF_HARDENED_PBKDF2_SHA256 {
        return Err(Misuse::NotHardenedBlob.into());
    }
    open(&blob, hardened.as_bytes())
}

/// Unlocks a blob made by [`lock`] (give the password) or [`lock_unprotected`] (the
/// password is not needed and ignored).
///
/// Errors: [`Error::WrongPassword`] (or no password for a protected blob),
/// [`Error::Corrupted`] (the blob was damaged), [`Error::Malformed`] (not a key blob, or
/// an iteration count outside the accepted range, which is refused without running it),
/// [`Error::UnsupportedVersion`]; a key backup ([`lock_hardened`]) is
/// [`Misuse::HardenedBlob`].
pub fn unlock(blob: &[u8], password: Option<&[u8]>) -> Result<PrivateKey, Error> {
    let blob = decode(blob)?;
    let password = match (blob.kdf, password) {
        (KDF_NONE, _) => &[][..],
        (KDF_HARDENED_PBKDF2_SHA256, _) => return Err(Misuse::HardenedBlob.into()),
        (_, Some(password)) => password,
        (_, None) => return Err(Error::WrongPassword),
    };
    open(&blob, password)
}

fn open(blob: &Blob, password: &[u8]) -> Result<PrivateKey, Error> {
    let (aead, check) = derive(blob.kdf, password, &blob.salt, blob.iterations)?;
    if !bool::from(check.ct_eq(&blob.check)) {
        return Err(Error::WrongPassword);
    }
    let header = blob.header_bytes()?;
    let mut opened = Zeroizing::new(blob.ciphertext);
    let seed_len = aead_key(&aead)?
        .open_appended_tag(blob.nonce, &header, opened.as_mut())
        .map_err(|_| Error::Corrupted)?;
    let seed: &[u8; SEED_LEN] = opened
        .get(..seed_len)
        .and_then(|seed| seed.try_into().ok())
        .ok_or(Error::Corrupted)?;
    // The version byte is authenticated (it is in the AAD), so this is the locked suite.
    let suite = Suite::from_id(blob.version).ok_or(Error::UnsupportedVersion)?;
    PrivateKey::from_seed_with_suite(seed, suite)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Params {
        Params::with_iterations(MIN_ITERATIONS).unwrap()
    }

    #[test]
    fn round_trip_and_wrong_password() {
        let key = PrivateKey::from_seed(&[9; 32]).unwrap();
        let blob = lock(&key, b"pw", fast()).unwrap();
        assert_eq!(blob.len(), BLOB_LEN);
        assert!(is_password_protected(&blob).unwrap());
        assert_eq!(unlock(&blob, Some(b"pw")).unwrap(), key);
        assert_eq!(
            unlock(&blob, Some(b"pW")).unwrap_err(),
            Error::WrongPassword
        );
        assert_eq!(unlock(&blob, None).unwrap_err(), Error::WrongPassword);
    }

    #[test]
    fn a_backup_opens_only_with_its_hardened_password() {
        let key = PrivateKey::from_seed(&[9; 32]).unwrap();
        let hardened = HardenedPassword::from_bytes([7; 32]);
        let blob = lock_hardened(&key, &hardened, fast()).unwrap();
        assert_eq!(blob.len(), BLOB_LEN);
        assert_eq!(blob[5], KDF_HARDENED_PBKDF2_SHA256);
        assert!(is_hardened(&blob).unwrap());
        assert!(is_password_protected(&blob).unwrap());
        assert_eq!(unlock_hardened(&blob, &hardened).unwrap(), key);
        assert_eq!(
            unlock_hardened(&blob, &HardenedPassword::from_bytes([8; 32])).unwrap_err(),
            Error::WrongPassword
        );
        // The same 32 bytes as a plain password do not open it: a backup is never
        // mistaken for a key file.
        assert_eq!(
            unlock(&blob, Some(&[7; 32])).unwrap_err(),
            Error::Misuse(Misuse::HardenedBlob)
        );
        // Relabelled as a plain blob (kdf byte 0x01), the AAD no longer matches.
        let mut relabelled = blob.clone();
        relabelled[5] = KDF_PBKDF2_SHA256;
        assert_eq!(
            unlock(&relabelled, Some(&[7; 32])).unwrap_err(),
            Error::Corrupted
        );
        let plain = lock(&key, &[7; 32], fast()).unwrap();
        assert!(!is_hardened(&plain).unwrap());
        assert_eq!(
            unlock_hardened(&plain, &hardened).unwrap_err(),
            Error::Misuse(Misuse::NotHardenedBlob)
        );
        assert_eq!(alloc::format!("{hardened:?}"), "HardenedPassword(..)");
    }

    #[test]
    fn post_quantum_keys_keep_their_suite() {
        let key = PrivateKey::from_seed_with_suite(&[9; 32], Suite::PostQuantum).unwrap();
        let blob = lock(&key, b"pw", fast()).unwrap();
        assert_eq!(blob.len(), BLOB_LEN);
        assert_eq!(blob[4], 0x02);
        assert_eq!(suite_of(&blob), Ok(Suite::PostQuantum));
        let unlocked = unlock(&blob, Some(b"pw")).unwrap();
        assert_eq!(unlocked.suite(), Suite::PostQuantum);
        assert_eq!(unlocked.public_key(), key.public_key());
        let mut relabelled = blob;
        relabelled[4] = Suite::Classic.id();
        assert_eq!(
            unlock(&relabelled, Some(b"pw")).unwrap_err(),
            Error::Corrupted
        );
    }

    #[test]
    fn unprotected_is_marked_and_opens_without_password() {
        let key = PrivateKey::from_seed(&[9; 32]).unwrap();
        let blob = lock_unprotected(&key).unwrap();
        assert_eq!(blob[5], KDF_NONE);
        assert!(!is_password_protected(&blob).unwrap());
        assert_eq!(unlock(&blob, None).unwrap(), key);
        assert_eq!(unlock(&blob, Some(b"anything")).unwrap(), key);
    }

    #[test]
    fn every_byte_is_protected() {
        let key = PrivateKey::from_seed(&[9; 32]).unwrap();
        let blob = lock(&key, b"pw", fast()).unwrap();
        for index in 0..blob.len() {
            let mut bad = blob.clone();
            bad[index] ^= 0x01;
            assert!(
                unlock(&bad, Some(b"pw")).is_err(),
                "byte {index} not protected"
            );
        }
        // Damage after the check value is reported as corruption, not a wrong password.
        let mut bad = blob.clone();
        bad[BLOB_LEN - 1] ^= 1;
        assert_eq!(unlock(&bad, Some(b"pw")).unwrap_err(), Error::Corrupted);
    }

    #[test]
    fn absurd_iterations_are_refused_without_running() {
        let key = PrivateKey::from_seed(&[9; 32]).unwrap();
        let mut blob = lock(&key, b"pw", fast()).unwrap();
        blob[6..10].copy_from_slice(&u32::MAX.to_be_bytes());
        // Would take hours if it ran; returns at once.
        assert_eq!(unlock(&blob, Some(b"pw")).unwrap_err(), Error::Malformed);
        assert_eq!(
            Params::with_iterations(MAX_ITERATIONS + 1).unwrap_err(),
            Error::Misuse(Misuse::IterationsOutOfRange)
        );
        assert!(Params::with_iterations(MIN_ITERATIONS - 1).is_err());
    }

    #[test]
    fn wrong_sizes_and_versions() {
        let key = PrivateKey::from_seed(&[9; 32]).unwrap();
        let blob = lock(&key, b"pw", fast()).unwrap();
        assert_eq!(
            unlock(&blob[..BLOB_LEN - 1], Some(b"pw")).unwrap_err(),
            Error::Malformed
        );
        let mut longer = blob.clone();
        longer.push(0);
        assert_eq!(unlock(&longer, Some(b"pw")).unwrap_err(), Error::Malformed);
        let mut newer = blob.clone();
        newer[4] = 3;
        assert_eq!(
            unlock(&newer, Some(b"pw")).unwrap_err(),
            Error::UnsupportedVersion
        );
        // The suite is authenticated: relabelling a suite-1 blob as suite 2 does not
        // give the suite-2 key of the same seed.
        let mut relabelled = blob.clone();
        relabelled[4] = Suite::PostQuantum.id();
        assert_eq!(
            unlock(&relabelled, Some(b"pw")).unwrap_err(),
            Error::Corrupted
        );
        assert_eq!(unlock(b"", Some(b"pw")).unwrap_err(), Error::Malformed);
    }
}
