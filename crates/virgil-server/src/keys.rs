//! Server key files (the service key, an application key): one key per file, in the
//! key store's record format ([`virgil_keystore::key_file`]), locked with a password
//! from an environment variable.

use crate::ConfigError;
use std::path::Path;
use virgil_crypto::PrivateKey;
use virgil_crypto::keyblob::Params;
use virgil_keystore::{KeyStoreError, key_file};

/// Creates a new key and writes it to `path` (mode 0600) named `name`, locked with
/// `password` (or unprotected with `None`). An existing file is never overwritten.
pub fn generate_key_file(
    path: &Path,
    name: &str,
    password: Option<&[u8]>,
) -> Result<PrivateKey, ConfigError> {
    let key = PrivateKey::generate().map_err(|e| ConfigError::Key(e.to_string()))?;
    key_file::create(path, name, &key, password, Params::default()).map_err(|e| match e {
        KeyStoreError::AlreadyExists { .. } => ConfigError::Key(format!(
            "{} exists; an existing key is never overwritten (move it away first)",
            path.display()
        )),
        other => ConfigError::Key(format!("cannot create {}: {other}", path.display())),
    })?;
    Ok(key)
}

/// Reads and unlocks a key file; `password_var` names the environment variable the
/// password comes from, for the error message.
pub fn load_key_file(
    path: &Path,
    password: Option<&[u8]>,
    password_var: &str,
) -> Result<PrivateKey, ConfigError> {
    key_file::open(path, password)
        .map(|(_, key)| key)
        .map_err(|e| match e {
            KeyStoreError::WrongPassword { .. } => ConfigError::Key(format!(
                "wrong or missing password for the key {} (set {password_var})",
                path.display()
            )),
            KeyStoreError::NotFound { .. } => ConfigError::Key(format!(
                "cannot read the key file {}: no such file",
                path.display()
            )),
            other => ConfigError::Key(format!("the key {} is unusable: {other}", path.display())),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_with_a_bare_file_name_writes_in_the_working_directory() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let child = std::process::Command::new(std::env::current_exe().unwrap_or_default())
            .args([
                "--exact",
                "keys::tests::bare_file_name_child",
                "--nocapture",
            ])
            .env("VIRGIL_KEYGEN_CHILD", "1")
            .current_dir(dir.path())
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(child.success());
        assert!(dir.path().join("service.key").is_file());
    }

    /// Run by the test above in its own process, whose working directory is a temp dir.
    #[test]
    fn bare_file_name_child() {
        if std::env::var_os("VIRGIL_KEYGEN_CHILD").is_none() {
            return;
        }
        let path = Path::new("service.key");
        let key = generate_key_file(path, "service", None).unwrap_or_else(|e| panic!("{e}"));
        let loaded = load_key_file(path, None, "X").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded, key);
    }
}
