//! Key storage: named private keys, locked with a password, on disk or in memory.
//!
//! A `KeyStore` saves a private key under a name as a password-locked blob (the format of
//! `virgil-crypto`), loads it back with the password, lists names without a password and
//! never loses or half-writes a key: writes go to a temporary file, are synced, and are
//! linked into place without replacing an existing key.
//!
//! Depend on it on devices that keep users' keys. Status: lands with the "cards and key
//! storage" issue; this crate is empty until then.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
