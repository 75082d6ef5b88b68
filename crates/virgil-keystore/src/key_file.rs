//! One key in a file of its own, at a path an operator picks: the cards service's
//! service key, the application server's application key. The file is the same record
//! as a [`crate::DirKeyStore`] `<name>.vkey` file (`docs/format.md`, key store record),
//! written with the same protocol: a synced temporary file in the same directory,
//! hard-linked into place, so an existing file is never replaced and a crash leaves
//! either no key file or a whole one.
//!
//! ```
//! use virgil_keystore::key_file;
//! use virgil_crypto::{PrivateKey, keyblob::Params};
//!
//! let dir = std::env::temp_dir().join(format!("virgil-key-file-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("service.key");
//! let key = PrivateKey::generate()?;
//! let params = Params::with_iterations(10_000)?;
//! key_file::create(&path, "service", &key, Some(b"long password"), params)?;
//! let (entry, loaded) = key_file::open(&path, Some(b"long password"))?;
//! assert_eq!((entry.name.as_str(), &loaded), ("service", &key));
//! // Never replaced:
//! assert!(key_file::create(&path, "service", &key, None, params).is_err());
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::record::{self, KeyEntry};
use crate::{KeyName, KeyStoreError, atomic};
use std::path::Path;
use virgil_crypto::PrivateKey;
use virgil_crypto::keyblob::Params;

/// Writes `key`, named `name` inside the file and locked with `password` (`None`: no
/// password), to a new file at `path` (mode 0600). An existing file is never replaced:
/// [`KeyStoreError::AlreadyExists`].
pub fn create(
    path: &Path,
    name: &str,
    key: &PrivateKey,
    password: Option<&[u8]>,
    params: Params,
) -> Result<KeyEntry, KeyStoreError> {
    let name = KeyName::new(name)?;
    let exists = || KeyStoreError::AlreadyExists {
        name: path.display().to_string(),
    };
    if path.exists() {
        return Err(exists());
    }
    let (entry, bytes) = record::seal(&name, key, password, params, record::now())?;
    let temp = atomic::write_temp(atomic::parent_dir(path), name.as_str(), &bytes)?;
    if !atomic::link_new(&temp, path)? {
        return Err(exists());
    }
    Ok(entry)
}

/// Reads and unlocks the key file at `path`: [`KeyStoreError::NotFound`],
/// [`KeyStoreError::WrongPassword`] or [`KeyStoreError::Corrupted`] (naming the path)
/// on failure.
pub fn open(path: &Path, password: Option<&[u8]>) -> Result<(KeyEntry, PrivateKey), KeyStoreError> {
    let bytes = atomic::read_bounded(path)?.ok_or_else(|| KeyStoreError::NotFound {
        name: path.display().to_string(),
    })?;
    record::open(None, &bytes, password, Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::with_iterations(1_000).unwrap_or_default()
    }

    #[test]
    fn a_key_file_round_trips_and_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("app.key");
        let key = PrivateKey::generate().unwrap_or_else(|e| panic!("{e}"));
        let entry = create(&path, "app", &key, Some(b"password"), params())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(entry.password_protected);
        let other = PrivateKey::generate().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            create(&path, "app", &other, None, params()),
            Err(KeyStoreError::AlreadyExists { .. })
        ));
        let (_, loaded) = open(&path, Some(b"password")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded, key);
        assert!(matches!(
            open(&path, Some(b"wrong")),
            Err(KeyStoreError::WrongPassword { .. })
        ));
        assert!(matches!(
            open(&dir.path().join("missing.key"), None),
            Err(KeyStoreError::NotFound { .. })
        ));
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("app.key")]);
    }

    #[test]
    fn a_damaged_key_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("service.key");
        std::fs::write(&path, b"not a key").unwrap_or_else(|e| panic!("{e}"));
        match open(&path, None) {
            Err(KeyStoreError::Corrupted { name, .. }) => {
                assert!(name.contains("service.key"), "{name}");
            }
            other => panic!("expected Corrupted, got {other:?}"),
        }
    }
}
