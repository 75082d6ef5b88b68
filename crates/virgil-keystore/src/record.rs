//! The stored form of one key: a small clear header (so `list` needs no password) and
//! the password-locked key blob of `virgil-crypto`.
//!
//! ```text
//! record = bincode { "VGLS", version 0x01, name: string, created_at: u64be, key_id[32], blob: bytes }
//! ```
//!
//! The header is not secret and not authenticated by the blob: `load` checks that the
//! name matches the file's name and that the unlocked key has the recorded key id, so a
//! damaged header is reported as corruption, never as a wrong key.

use crate::{KeyName, KeyStoreError};
use bincode::{Decode, Encode};
use std::path::Path;
use virgil_crypto::keyblob::{self, Params};
use virgil_crypto::{Error as CryptoError, KeyId, PrivateKey, Suite};

const MAGIC: [u8; 4] = *b"VGLS";
const VERSION: u8 = 1;
/// The largest record a reader accepts.
pub(crate) const MAX_RECORD_LEN: usize = 4096;

/// What `list` says about a stored key, without its password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    /// The key's name.
    pub name: KeyName,
    /// When it was saved, seconds since the Unix epoch.
    pub created_at: u64,
    /// The key id of its public key.
    pub key_id: KeyId,
    /// Whether a password is needed to load it.
    pub password_protected: bool,
    /// The key's suite (classic or post-quantum).
    pub suite: Suite,
}

#[derive(Encode, Decode)]
struct RecordWire {
    magic: [u8; 4],
    version: u8,
    name: String,
    created_at: u64,
    key_id: [u8; 32],
    blob: Vec<u8>,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_RECORD_LEN>()
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Locks `key` and encodes its record.
pub(crate) fn seal(
    name: &KeyName,
    key: &PrivateKey,
    password: Option<&[u8]>,
    params: Params,
    created_at: u64,
) -> Result<(KeyEntry, Vec<u8>), KeyStoreError> {
    let blob = match password {
        Some(password) => keyblob::lock(key, password, params),
        None => keyblob::lock_unprotected(key),
    }
    .map_err(KeyStoreError::Crypto)?;
    let wire = RecordWire {
        magic: MAGIC,
        version: VERSION,
        name: name.as_str().to_owned(),
        created_at,
        key_id: *key.key_id().as_bytes(),
        blob,
    };
    let bytes = bincode::encode_to_vec(wire, config())
        .map_err(|_| KeyStoreError::Crypto(CryptoError::Malformed))?;
    let entry = KeyEntry {
        name: name.clone(),
        created_at,
        key_id: *key.key_id(),
        password_protected: password.is_some(),
        suite: key.suite(),
    };
    Ok((entry, bytes))
}

/// How an error names a record: its expected name, else its file.
fn label(name: Option<&KeyName>, path: Option<&Path>) -> String {
    match (name, path) {
        (Some(name), _) => name.to_string(),
        (None, Some(path)) => path.display().to_string(),
        (None, None) => String::new(),
    }
}

/// Decodes a record; with `name`, the name inside must be that one (a store's file
/// name), without, any valid name is accepted (a key file).
fn decode(
    name: Option<&KeyName>,
    bytes: &[u8],
    path: Option<&Path>,
) -> Result<(KeyEntry, Vec<u8>), KeyStoreError> {
    let corrupted = |reason: &str| KeyStoreError::Corrupted {
        name: label(name, path),
        path: path.map(Path::to_path_buf),
        reason: reason.to_owned(),
    };
    if bytes.get(..4) != Some(MAGIC.as_slice()) {
        return Err(corrupted("not a key file (wrong magic)"));
    }
    if bytes.get(4) != Some(&VERSION) {
        return Err(corrupted(
            "unsupported key file version (made by a newer version?)",
        ));
    }
    if bytes.len() > MAX_RECORD_LEN {
        return Err(corrupted("file too large"));
    }
    let (wire, used): (RecordWire, usize) = bincode::decode_from_slice(bytes, config())
        .map_err(|_| corrupted("truncated or damaged"))?;
    if used != bytes.len() {
        return Err(corrupted("trailing bytes"));
    }
    let recorded = KeyName::new(&wire.name).map_err(|_| corrupted("invalid name inside"))?;
    if name.is_some_and(|name| *name != recorded) {
        return Err(corrupted(
            "the name inside the file does not match the file name",
        ));
    }
    let password_protected =
        keyblob::is_password_protected(&wire.blob).map_err(|_| corrupted("damaged key blob"))?;
    let suite = keyblob::suite_of(&wire.blob).map_err(|_| corrupted("damaged key blob"))?;
    let entry = KeyEntry {
        name: recorded,
        created_at: wire.created_at,
        key_id: KeyId::from_bytes(wire.key_id),
        password_protected,
        suite,
    };
    Ok((entry, wire.blob))
}

/// The header of a record, for `list`.
pub(crate) fn entry(
    name: Option<&KeyName>,
    bytes: &[u8],
    path: Option<&Path>,
) -> Result<KeyEntry, KeyStoreError> {
    decode(name, bytes, path).map(|(entry, _)| entry)
}

/// Unlocks a record.
pub(crate) fn open(
    name: Option<&KeyName>,
    bytes: &[u8],
    password: Option<&[u8]>,
    path: Option<&Path>,
) -> Result<(KeyEntry, PrivateKey), KeyStoreError> {
    let (entry, blob) = decode(name, bytes, path)?;
    let key = keyblob::unlock(&blob, password).map_err(|error| match error {
        CryptoError::WrongPassword => KeyStoreError::WrongPassword {
            name: label(name, path),
        },
        other => KeyStoreError::Corrupted {
            name: label(name, path),
            path: path.map(Path::to_path_buf),
            reason: format!("key blob: {other}"),
        },
    })?;
    if key.key_id() != &entry.key_id {
        return Err(KeyStoreError::Corrupted {
            name: label(name, path),
            path: path.map(Path::to_path_buf),
            reason: "the key does not match the key id recorded with it".to_owned(),
        });
    }
    Ok((entry, key))
}
