//! Key storage: named private keys, locked with a password, on disk or in memory.
//!
//! The seed tutorial's `key.save(name, password)` and `keys.load(name, password)`. A
//! [`KeyStore`] saves a key under a [`KeyName`] as a password-locked blob (the
//! `virgil-crypto` key blob, PBKDF2 + AES-256-GCM), loads it back with the password,
//! lists names without a password, and never loses, half-writes or silently replaces a
//! key. [`DirKeyStore`] keeps one file per key (see its docs for the write protocol);
//! [`MemoryKeyStore`] keeps them in memory. Both pass [`conformance::run`] (feature
//! `test-util`), which other implementations can run too.
//!
//! ```
//! use virgil_keystore::{DirKeyStore, KeyStore, KeyStoreError};
//! use virgil_crypto::{PrivateKey, keyblob::Params};
//!
//! let dir = std::env::temp_dir().join(format!("virgil-doc-{}", std::process::id()));
//! let store = DirKeyStore::open(&dir)?.with_params(Params::with_iterations(10_000)?);
//! let key = PrivateKey::generate()?;
//! store.save("alice", &key, Some(b"correct horse"))?;
//! assert_eq!(store.load("alice", Some(b"correct horse"))?, key);
//! assert!(matches!(store.load("alice", Some(b"wrong")), Err(KeyStoreError::WrongPassword { .. })));
//! assert!(matches!(store.save("alice", &key, None), Err(KeyStoreError::AlreadyExists { .. })));
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod atomic;
#[cfg(feature = "test-util")]
pub mod conformance;
mod dir;
mod error;
pub mod key_file;
mod memory;
mod name;
mod record;
pub mod state_file;

pub use dir::DirKeyStore;
pub use error::KeyStoreError;
pub use memory::MemoryKeyStore;
pub use name::{KeyName, MAX_NAME_LEN};
pub use record::KeyEntry;
pub use state_file::StateFile;

use virgil_crypto::PrivateKey;

/// A listing of a key store.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct KeyListing {
    /// The readable keys, sorted by name.
    pub entries: Vec<KeyEntry>,
    /// Records that could not be read, sorted by name: each error names the key and,
    /// for files, the path.
    pub damaged: Vec<KeyStoreError>,
}

/// Named, password-locked private keys.
///
/// Names are checked first: an invalid name is [`KeyStoreError::InvalidName`] and
/// nothing is read or written. `None` as a password stores or loads a key without one
/// (anyone who can read the store then has the key).
pub trait KeyStore {
    /// Saves `key` under `name`, locked with `password`. Never replaces an existing key:
    /// [`KeyStoreError::AlreadyExists`].
    fn save(
        &self,
        name: &str,
        key: &PrivateKey,
        password: Option<&[u8]>,
    ) -> Result<KeyEntry, KeyStoreError>;
    /// Loads and unlocks the key `name`: [`KeyStoreError::NotFound`],
    /// [`KeyStoreError::WrongPassword`] or [`KeyStoreError::Corrupted`] on failure.
    fn load(&self, name: &str, password: Option<&[u8]>) -> Result<PrivateKey, KeyStoreError>;
    /// Whether a key `name` exists.
    fn exists(&self, name: &str) -> Result<bool, KeyStoreError>;
    /// What is known about key `name` without unlocking it; reads only that key's
    /// record ([`KeyStoreError::NotFound`], [`KeyStoreError::Corrupted`]).
    fn entry(&self, name: &str) -> Result<KeyEntry, KeyStoreError>;
    /// Every key, sorted by name, without unlocking any. A damaged record does not hide
    /// the others: it is listed in [`KeyListing::damaged`].
    fn list(&self) -> Result<KeyListing, KeyStoreError>;
    /// Deletes the key `name`.
    fn delete(&self, name: &str) -> Result<(), KeyStoreError>;
    /// Re-locks the key `name` with `new` after unlocking it with `old`. The stored key
    /// is replaced atomically: afterwards it opens with either the old or the new
    /// password, never neither.
    fn change_password(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<(), KeyStoreError>;
}
