//! An in-memory key store, for tests and ephemeral use. Keys are kept locked exactly as
//! on disk, so passwords behave the same.

use crate::record::{self, KeyEntry};
use crate::{KeyListing, KeyName, KeyStore, KeyStoreError};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use virgil_crypto::PrivateKey;
use virgil_crypto::keyblob::Params;

/// Keys in a map behind a mutex; gone when dropped.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    records: Mutex<BTreeMap<KeyName, Vec<u8>>>,
    params: Params,
}

impl MemoryKeyStore {
    /// An empty store locking keys with the default PBKDF2 parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store locking keys with `params` (e.g. fewer iterations in tests).
    pub fn with_params(params: Params) -> Self {
        Self {
            records: Mutex::default(),
            params,
        }
    }

    fn records(&self) -> MutexGuard<'_, BTreeMap<KeyName, Vec<u8>>> {
        // A panic while holding the lock cannot leave a half-written record (inserts
        // are single operations), so a poisoned map is still consistent.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, name: &KeyName) -> Result<Vec<u8>, KeyStoreError> {
        self.records()
            .get(name)
            .cloned()
            .ok_or_else(|| KeyStoreError::NotFound {
                name: name.to_string(),
            })
    }
}

impl KeyStore for MemoryKeyStore {
    fn save(
        &self,
        name: &str,
        key: &PrivateKey,
        password: Option<&[u8]>,
    ) -> Result<KeyEntry, KeyStoreError> {
        let name = KeyName::new(name)?;
        let (entry, bytes) = record::seal(&name, key, password, self.params, record::now())?;
        let mut records = self.records();
        if records.contains_key(&name) {
            return Err(KeyStoreError::AlreadyExists {
                name: name.to_string(),
            });
        }
        records.insert(name, bytes);
        Ok(entry)
    }

    fn load(&self, name: &str, password: Option<&[u8]>) -> Result<PrivateKey, KeyStoreError> {
        let name = KeyName::new(name)?;
        record::open(Some(&name), &self.get(&name)?, password, None).map(|(_, key)| key)
    }

    fn exists(&self, name: &str) -> Result<bool, KeyStoreError> {
        let name = KeyName::new(name)?;
        Ok(self.records().contains_key(&name))
    }

    fn entry(&self, name: &str) -> Result<KeyEntry, KeyStoreError> {
        let name = KeyName::new(name)?;
        let records = self.records();
        let bytes = records.get(&name).ok_or_else(|| KeyStoreError::NotFound {
            name: name.to_string(),
        })?;
        record::entry(Some(&name), bytes, None)
    }

    fn list(&self) -> Result<KeyListing, KeyStoreError> {
        let mut listing = KeyListing::default();
        for (name, bytes) in self.records().iter() {
            match record::entry(Some(name), bytes, None) {
                Ok(entry) => listing.entries.push(entry),
                Err(damaged) => listing.damaged.push(damaged),
            }
        }
        Ok(listing)
    }

    fn delete(&self, name: &str) -> Result<(), KeyStoreError> {
        let name = KeyName::new(name)?;
        self.records()
            .remove(&name)
            .map(|_| ())
            .ok_or_else(|| KeyStoreError::NotFound {
                name: name.to_string(),
            })
    }

    fn change_password(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<(), KeyStoreError> {
        let name = KeyName::new(name)?;
        let (entry, key) = record::open(Some(&name), &self.get(&name)?, old, None)?;
        let (_, bytes) = record::seal(&name, &key, new, self.params, entry.created_at)?;
        self.records().insert(name, bytes);
        Ok(())
    }
}
