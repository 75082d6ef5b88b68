//! Unlocking a key of the home's key store: its password asked only when it has one.
//! (`virgil key` and every command that signs or decrypts use it.)

use crate::error::CliError;
use crate::password::{self, PasswordArgs};
use virgil::keystore::KeyStoreError;
use virgil::{Key, KeyEntry, Keys};

/// What the store says about key `name` without its password (`None` if unreadable).
pub(crate) fn entry(store: &Keys, name: &str) -> Result<Option<KeyEntry>, CliError> {
    match store.entry(name) {
        Ok(entry) => Ok(Some(entry)),
        Err(virgil::Error::KeyStore(KeyStoreError::Corrupted { .. })) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The password of key `name` if it has one (asked only then).
pub(crate) fn password_of(
    store: &Keys,
    name: &str,
    password: &PasswordArgs,
) -> Result<Option<zeroize::Zeroizing<String>>, CliError> {
    if !store.exists(name)? {
        return Err(KeyStoreError::NotFound {
            name: name.to_owned(),
        }
        .into());
    }
    // A key the listing cannot read is treated as protected; loading then says what is wrong.
    let protected = entry(store, name)?.is_none_or(|entry| entry.password_protected);
    if protected {
        Ok(Some(password::key_password(password, name, false)?))
    } else {
        Ok(None)
    }
}

/// Loads and unlocks key `name`.
pub(crate) fn load(store: &Keys, name: &str, password: &PasswordArgs) -> Result<Key, CliError> {
    let secret = password_of(store, name, password)?;
    Ok(store.load(name, secret.as_ref().map(|p| p.as_str()))?)
}
