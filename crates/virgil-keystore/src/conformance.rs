//! The behaviour every [`KeyStore`] must have, as one function any implementation can
//! run against a fresh, empty store (in the style of akd's storage tests).
//!
//! ```
//! use virgil_keystore::{MemoryKeyStore, conformance};
//! use virgil_crypto::keyblob::Params;
//! conformance::run(&MemoryKeyStore::with_params(Params::with_iterations(1_000).unwrap()));
//! ```

// This module is a test suite shipped as a library: panicking is how it reports.
#![allow(clippy::panic, clippy::indexing_slicing)]

use crate::{KeyStore, KeyStoreError};
use virgil_crypto::PrivateKey;

fn key(n: u8) -> PrivateKey {
    PrivateKey::from_seed(&[n; 32]).unwrap_or_else(|e| panic!("fixed seed: {e}"))
}

macro_rules! expect_err {
    ($result:expr, $pattern:pat, $what:expr) => {
        match $result {
            Err($pattern) => {}
            other => panic!(
                "{}: expected {}, got {other:?}",
                $what,
                stringify!($pattern)
            ),
        }
    };
}

/// Runs every check; panics with a message naming the failed behaviour.
pub fn run(store: &dyn KeyStore) {
    assert!(
        store
            .list()
            .unwrap_or_else(|e| panic!("list: {e}"))
            .entries
            .is_empty(),
        "the store must start empty"
    );
    round_trip_and_passwords(store);
    never_overwrites(store);
    invalid_names_are_refused(store);
    list_needs_no_password(store);
    delete(store);
    change_password(store);
    for entry in store.list().unwrap_or_default().entries {
        let _ = store.delete(entry.name.as_str());
    }
}

fn round_trip_and_passwords(store: &dyn KeyStore) {
    let alice = key(1);
    let entry = store
        .save("alice", &alice, Some(b"pw"))
        .unwrap_or_else(|e| panic!("save: {e}"));
    assert_eq!(&entry.key_id, alice.key_id());
    assert!(entry.password_protected);
    assert_eq!(
        store
            .load("alice", Some(b"pw"))
            .unwrap_or_else(|e| panic!("load: {e}")),
        alice
    );
    expect_err!(
        store.load("alice", Some(b"PW")),
        KeyStoreError::WrongPassword { .. },
        "wrong password"
    );
    expect_err!(
        store.load("alice", None),
        KeyStoreError::WrongPassword { .. },
        "no password for a protected key"
    );
    expect_err!(
        store.load("nobody", Some(b"pw")),
        KeyStoreError::NotFound { .. },
        "missing key"
    );
    assert!(store.exists("alice").unwrap_or(false), "exists after save");
    assert!(
        !store.exists("nobody").unwrap_or(true),
        "exists for a missing key"
    );

    let open = key(2);
    let entry = store
        .save("unprotected", &open, None)
        .unwrap_or_else(|e| panic!("save unprotected: {e}"));
    assert!(!entry.password_protected);
    assert_eq!(store.load("unprotected", None).ok(), Some(open));
}

fn never_overwrites(store: &dyn KeyStore) {
    expect_err!(
        store.save("alice", &key(3), Some(b"other")),
        KeyStoreError::AlreadyExists { .. },
        "second save"
    );
    assert_eq!(
        store.load("alice", Some(b"pw")).ok(),
        Some(key(1)),
        "the first key must survive"
    );
}

fn invalid_names_are_refused(store: &dyn KeyStore) {
    for name in ["", "../x", "a/b", ".hidden", "a\0b", &"x".repeat(65)] {
        expect_err!(
            store.save(name, &key(4), None),
            KeyStoreError::InvalidName { .. },
            format!("save {name:?}")
        );
        expect_err!(
            store.load(name, None),
            KeyStoreError::InvalidName { .. },
            format!("load {name:?}")
        );
        expect_err!(
            store.exists(name),
            KeyStoreError::InvalidName { .. },
            format!("exists {name:?}")
        );
        expect_err!(
            store.delete(name),
            KeyStoreError::InvalidName { .. },
            format!("delete {name:?}")
        );
    }
}

fn list_needs_no_password(store: &dyn KeyStore) {
    let entries = store.list().unwrap_or_else(|e| panic!("list: {e}")).entries;
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["alice", "unprotected"], "list is sorted by name");
    for name in names {
        assert_eq!(
            store
                .entry(name)
                .map(|entry| entry.name.as_str().to_owned())
                .ok(),
            Some(name.to_owned()),
            "entry({name}) without a password"
        );
    }
    expect_err!(
        store.entry("nobody"),
        KeyStoreError::NotFound { .. },
        "entry of a missing key"
    );
    assert_eq!(&entries[0].key_id, key(1).key_id());
    assert!(entries[0].password_protected && !entries[1].password_protected);
}

fn delete(store: &dyn KeyStore) {
    store
        .delete("unprotected")
        .unwrap_or_else(|e| panic!("delete: {e}"));
    expect_err!(
        store.load("unprotected", None),
        KeyStoreError::NotFound { .. },
        "load after delete"
    );
    expect_err!(
        store.delete("unprotected"),
        KeyStoreError::NotFound { .. },
        "delete twice"
    );
    store
        .save("unprotected", &key(5), None)
        .unwrap_or_else(|e| panic!("save after delete: {e}"));
}

fn change_password(store: &dyn KeyStore) {
    let before = store.list().unwrap_or_default().entries;
    expect_err!(
        store.change_password("alice", Some(b"wrong"), Some(b"new")),
        KeyStoreError::WrongPassword { .. },
        "change with a wrong password"
    );
    assert_eq!(
        store.load("alice", Some(b"pw")).ok(),
        Some(key(1)),
        "a failed change keeps the old password"
    );
    store
        .change_password("alice", Some(b"pw"), Some(b"new"))
        .unwrap_or_else(|e| panic!("change: {e}"));
    assert_eq!(store.load("alice", Some(b"new")).ok(), Some(key(1)));
    expect_err!(
        store.load("alice", Some(b"pw")),
        KeyStoreError::WrongPassword { .. },
        "old password after change"
    );
    let after = store.list().unwrap_or_default().entries;
    assert_eq!(
        before[0].created_at, after[0].created_at,
        "created_at survives a password change"
    );
    store
        .change_password("alice", Some(b"new"), None)
        .unwrap_or_else(|e| panic!("remove password: {e}"));
    assert_eq!(store.load("alice", None).ok(), Some(key(1)));
    expect_err!(
        store.change_password("nobody", None, None),
        KeyStoreError::NotFound { .. },
        "change a missing key"
    );
}
