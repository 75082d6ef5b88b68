//! Key store errors: each names the key (and the file, for the directory store).

use std::path::PathBuf;

/// Everything a key store operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// The name is not a valid key name; nothing was read or written.
    #[error("invalid key name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name (cut to 80 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No key has this name.
    #[error("no key named {name:?}")]
    NotFound {
        /// The key name.
        name: String,
    },
    /// A key with this name exists already; it was not replaced.
    #[error("a key named {name:?} already exists (delete it first to replace it)")]
    AlreadyExists {
        /// The key name.
        name: String,
    },
    /// The password does not unlock this key (or a password-protected key was loaded
    /// without one).
    #[error("wrong password for key {name:?}")]
    WrongPassword {
        /// The key name.
        name: String,
    },
    /// The stored key is damaged or not a key file.
    #[error("key {name:?} is corrupted{}: {reason}", path.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default())]
    Corrupted {
        /// The key name.
        name: String,
        /// The file, for the directory store.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing the key store failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The key could not be locked (bad parameters, random generator failure).
    #[error("could not lock the key: {0}")]
    Crypto(virgil_crypto::Error),
}
