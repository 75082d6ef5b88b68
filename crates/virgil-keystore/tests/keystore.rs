//! Key store behaviour: the conformance suite on both stores, plus what only files can
//! get wrong — permissions, concurrent saves (threads and processes), crashes, damage.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;
use virgil_crypto::keyblob::Params;
use virgil_keystore::{DirKeyStore, KeyStore, KeyStoreError, MemoryKeyStore, conformance};
use virgil_testkit::key;

fn fast() -> Params {
    Params::with_iterations(1_000).unwrap()
}

fn dir_store(dir: &Path) -> DirKeyStore {
    DirKeyStore::open(dir).unwrap().with_params(fast())
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn memory_store_conforms() {
    conformance::run(&MemoryKeyStore::with_params(fast()));
}

#[test]
fn dir_store_conforms_and_leaves_no_temp_files() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("keys");
    conformance::run(&dir_store(&dir));
    assert!(
        files_in(&dir).is_empty(),
        "left behind: {:?}",
        files_in(&dir)
    );
}

#[cfg(unix)]
#[test]
fn directory_is_0700_and_files_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("nested").join("keys");
    let store = dir_store(&dir);
    store.save("alice", &key(1), Some(b"pw")).unwrap();
    store
        .change_password("alice", Some(b"pw"), Some(b"pw2"))
        .unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("alice.vkey")), 0o600);
}

#[test]
fn concurrent_saves_of_one_name_from_threads_one_wins() {
    let temp = tempfile::tempdir().unwrap();
    let store = Arc::new(dir_store(temp.path()));
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8u8)
        .map(|i| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                store.save("shared", &key(10 + i), Some(b"pw")).map(|_| i)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<u8> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for result in &results {
        if let Err(error) = result {
            assert!(
                matches!(error, KeyStoreError::AlreadyExists { .. }),
                "{error}"
            );
        }
    }
    assert_eq!(
        store.load("shared", Some(b"pw")).unwrap(),
        key(10 + winners[0])
    );
    assert_eq!(files_in(temp.path()), ["shared.vkey"]);
}

/// Run by `concurrent_saves_from_two_processes` in child processes (no-op otherwise).
#[test]
fn child_process_save() {
    let (Ok(dir), Ok(seed)) = (
        std::env::var("VIRGIL_TEST_CHILD_DIR"),
        std::env::var("VIRGIL_TEST_CHILD_SEED"),
    ) else {
        return;
    };
    let store = dir_store(Path::new(&dir));
    let start = std::time::Instant::now();
    // Start together: spin until the parent's start file appears.
    while !Path::new(&dir).join("go").exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::yield_now();
    }
    let outcome = match store.save("shared", &key(seed.parse().unwrap()), Some(b"pw")) {
        Ok(_) => "saved",
        Err(KeyStoreError::AlreadyExists { .. }) => "exists",
        Err(other) => panic!("unexpected: {other}"),
    };
    std::fs::write(Path::new(&dir).join(format!("outcome-{seed}")), outcome).unwrap();
}

#[test]
fn concurrent_saves_from_two_processes_one_wins() {
    let temp = tempfile::tempdir().unwrap();
    let keys = temp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = [21u8, 22]
        .iter()
        .map(|seed| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_process_save", "--nocapture"])
                .env("VIRGIL_TEST_CHILD_DIR", &keys)
                .env("VIRGIL_TEST_CHILD_SEED", seed.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(keys.join("go"), b"").unwrap();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let outcomes: Vec<String> = [21, 22]
        .iter()
        .map(|seed| std::fs::read_to_string(keys.join(format!("outcome-{seed}"))).unwrap())
        .collect();
    let winners = outcomes.iter().filter(|o| *o == "saved").count();
    assert_eq!(winners, 1, "{outcomes:?}");
    let winner = if outcomes[0] == "saved" { 21 } else { 22 };
    assert_eq!(
        dir_store(&keys).load("shared", Some(b"pw")).unwrap(),
        key(winner)
    );
}

#[test]
fn a_crash_before_link_leaves_no_key_and_a_stale_temp_file_that_is_cleaned_up() {
    let temp = tempfile::tempdir().unwrap();
    let store = dir_store(temp.path());
    store.simulate_crash_before_link(true);
    assert!(store.save("alice", &key(1), Some(b"pw")).is_err());
    store.simulate_crash_before_link(false);
    // Either no key or the whole key: here, no key.
    assert!(!store.exists("alice").unwrap());
    assert!(
        store.list().unwrap().entries.is_empty(),
        "list must ignore temp files"
    );
    assert_eq!(
        files_in(temp.path()).len(),
        1,
        "the crash leaves the synced temp file"
    );
    // A fresh temp file may belong to a save in progress: kept.
    assert_eq!(
        store
            .remove_stale_temp_files(Duration::from_secs(3600))
            .unwrap(),
        0
    );
    assert_eq!(store.remove_stale_temp_files(Duration::ZERO).unwrap(), 1);
    assert!(files_in(temp.path()).is_empty());
    store.save("alice", &key(1), Some(b"pw")).unwrap();
    assert_eq!(store.load("alice", Some(b"pw")).unwrap(), key(1));
}

#[test]
fn damaged_files_are_corrupted_naming_the_file() {
    let temp = tempfile::tempdir().unwrap();
    let store = dir_store(temp.path());
    store.save("alice", &key(1), Some(b"pw")).unwrap();
    let path = temp.path().join("alice.vkey");
    let good = std::fs::read(&path).unwrap();

    let check = |bytes: &[u8], what: &str| {
        std::fs::write(&path, bytes).unwrap();
        match store.load("alice", Some(b"pw")) {
            Err(KeyStoreError::Corrupted { path: Some(p), .. }) => assert_eq!(p, path, "{what}"),
            Err(KeyStoreError::WrongPassword { .. }) => {} // damage inside the password check value
            other => panic!("{what}: {other:?}"),
        }
    };
    check(&good[..good.len() - 1], "truncated");
    check(b"", "empty");
    check(&[0u8; 10_000], "garbage");
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        match store.load("alice", Some(b"pw")) {
            Ok(loaded) => {
                // Only the created-at field may change without detection (it is not a secret
                // and not used by load).
                assert_eq!(loaded, key(1), "byte {i} changed the key");
            }
            Err(KeyStoreError::Corrupted { .. } | KeyStoreError::WrongPassword { .. }) => {}
            Err(other) => panic!("byte {i}: {other}"),
        }
    }
    // A record copied under another name is refused.
    std::fs::write(&path, &good).unwrap();
    std::fs::write(temp.path().join("bob.vkey"), &good).unwrap();
    assert!(matches!(
        store.load("bob", Some(b"pw")),
        Err(KeyStoreError::Corrupted { .. })
    ));
    // The listing names the damaged record and still shows the good one.
    let listing = store.list().unwrap();
    let good: Vec<&str> = listing.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(good, ["alice"]);
    assert_eq!(listing.damaged.len(), 1);
    assert!(matches!(
        &listing.damaged[0],
        KeyStoreError::Corrupted { name, path: Some(_), .. } if name == "bob"
    ));
    assert!(
        store.entry("alice").is_ok(),
        "one key is read without the others"
    );
}

#[test]
fn default_dir_follows_the_environment() {
    use std::ffi::OsString;
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |var: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| OsString::from(v))
        }
    };
    assert_eq!(
        DirKeyStore::default_dir_from(env(&[
            ("VIRGIL_HOME", "/v"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h")
        ])),
        Some("/v/keys".into())
    );
    assert_eq!(
        DirKeyStore::default_dir_from(env(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")])),
        Some("/x/virgil/keys".into())
    );
    assert_eq!(
        DirKeyStore::default_dir_from(env(&[("HOME", "/h")])),
        Some("/h/.local/share/virgil/keys".into())
    );
    assert_eq!(
        DirKeyStore::default_dir_from(env(&[("VIRGIL_HOME", "")])),
        None
    );
}
