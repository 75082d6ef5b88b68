//! Key backup through the CLI and both real servers (issue 31): back up, lose the
//! device, restore on a new one and read what was sent meanwhile; a wrong backup
//! password; changing and deleting the backup; the guess limit per identity.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use support::*;

/// Writes `password` to a file in the deployment's directory; returns its path.
fn password_file(deployment: &Deployment, name: &str, password: &str) -> String {
    let path = deployment.path(name);
    std::fs::write(&path, format!("{password}\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `virgil key backup create KEY --backup-password-file FILE` as `user`.
fn create_args<'a>(key: &'a str, file: &'a str) -> [&'a str; 6] {
    [
        "key",
        "backup",
        "create",
        key,
        "--backup-password-file",
        file,
    ]
}

/// `virgil key restore NAME --backup-password-file FILE`.
fn restore_args<'a>(name: &'a str, file: &'a str) -> [&'a str; 5] {
    ["key", "restore", name, "--backup-password-file", file]
}

fn status_json(deployment: &Deployment, user: &str) -> serde_json::Value {
    serde_json::from_str(&deployment.ok(user, &["key", "backup", "status", "--json"])).unwrap()
}

#[test]
fn a_backed_up_key_is_restored_on_a_new_device() {
    let deployment = Deployment::start();
    deployment.onboard("alice");
    deployment.onboard("bob");
    let backup = password_file(&deployment, "backup.pw", "correct horse battery");
    let wrong = password_file(&deployment, "wrong.pw", "correct horse battery!");

    let status = deployment.ok("alice", &["key", "backup", "status"]);
    assert!(status.contains("backup:  none"), "{status}");
    let made = deployment.ok("alice", &create_args("alice", &backup));
    assert!(made.contains("backed up for alice"), "{made}");
    // A second backup replaces the first only when asked to.
    let stderr = deployment.fails("alice", &create_args("alice", &backup), 1);
    assert!(stderr.contains("--replace"), "{stderr}");

    // Bob writes while alice's device is lost.
    deployment.ok_with("bob", &["send", "alice"], Some(b"sent after the backup"));

    // A new device: log in, restore. A wrong backup password restores nothing.
    deployment.ok("alice-new", &["login", "alice"]);
    let stderr = deployment.fails("alice-new", &restore_args("alice", &wrong), 4);
    assert!(stderr.contains("wrong backup password"), "{stderr}");
    // Nothing was saved.
    deployment.fails("alice-new", &["key", "show", "alice"], 1);
    let restored = deployment.ok("alice-new", &restore_args("alice", &backup));
    assert!(restored.contains("restored from the backup"), "{restored}");
    assert!(restored.contains("its card is active"), "{restored}");
    let original_id = deployment.ok("alice", &["key", "show", "alice"]);
    let restored_id = deployment.ok("alice-new", &["key", "show", "alice"]);
    let key_id = |shown: &str| {
        shown
            .lines()
            .find(|line| line.contains("key id"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(key_id(&original_id), key_id(&restored_id));
    // Restoring never overwrites a key.
    let stderr = deployment.fails("alice-new", &restore_args("alice", &backup), 1);
    assert!(stderr.contains("exists"), "{stderr}");
    let inbox = deployment.ok("alice-new", &["inbox"]);
    assert!(inbox.contains("sent after the backup"), "{inbox}");

    // Every evaluation was counted: the backup, the wrong and the right restore.
    let status = status_json(&deployment, "alice-new");
    assert_eq!(status["guesses"]["total"], 3, "{status}");
    assert!(status["stored_at"].as_u64().is_some(), "{status}");

    // A new backup password: the old one stops working, the new one restores.
    let newer = password_file(&deployment, "newer.pw", "a new backup password");
    deployment.ok(
        "alice-new",
        &[
            "key",
            "backup",
            "passwd",
            "--backup-password-file",
            &backup,
            "--new-backup-password-file",
            &newer,
        ],
    );
    deployment.ok("alice-third", &["login", "alice"]);
    let stderr = deployment.fails("alice-third", &restore_args("alice", &backup), 4);
    assert!(stderr.contains("wrong backup password"), "{stderr}");
    deployment.ok("alice-third", &restore_args("alice", &newer));

    // Deleted, there is nothing to restore.
    deployment.ok("alice", &["key", "backup", "delete"]);
    let status = deployment.ok("alice", &["key", "backup", "status"]);
    assert!(status.contains("backup:  none"), "{status}");
    let stderr = deployment.fails("alice-third", &restore_args("alice-again", &newer), 1);
    assert!(stderr.contains("no_backup"), "{stderr}");
}

#[test]
fn backup_password_guesses_are_limited_per_identity() {
    let deployment = Deployment::start_with_cards_config(
        "\n[backup]\nfree_guesses = 2\nbase_delay_seconds = 600\n",
    );
    deployment.onboard("alice");
    deployment.onboard("bob");
    let backup = password_file(&deployment, "backup.pw", "correct horse battery");
    let wrong = password_file(&deployment, "wrong.pw", "tr0ub4dor");
    deployment.ok("alice", &create_args("alice", &backup));
    // Someone with alice's session guesses: the second guess is the last one answered.
    deployment.ok("thief", &["login", "alice"]);
    deployment.fails("thief", &restore_args("x", &wrong), 4);
    let stderr = deployment.fails("thief", &restore_args("x", &wrong), 4);
    assert!(
        stderr.contains("too many backup password attempts"),
        "{stderr}"
    );
    assert!(stderr.contains("backup_guess_limit"), "{stderr}");
    // The right password waits too: the limit is the identity's, whoever asks.
    let stderr = deployment.fails("alice", &restore_args("x", &backup), 4);
    assert!(stderr.contains("answered in"), "{stderr}");
    // Alice sees it.
    let status = deployment.ok("alice", &["key", "backup", "status"]);
    assert!(status.contains("2 in all"), "{status}");
    assert!(status.contains("if not you"), "{status}");
    // Bob's guesses are his own.
    let status = status_json(&deployment, "bob");
    assert_eq!(status["guesses"]["total"], 0, "{status}");
    assert_eq!(status["stored_at"], serde_json::Value::Null, "{status}");
}

/// A backup of a key whose card was replaced since: the restore says so and points to
/// a reset, instead of leaving the user with a key nobody encrypts to.
#[test]
fn restoring_a_replaced_key_says_so() {
    let deployment = Deployment::start();
    deployment.onboard("alice");
    let backup = password_file(&deployment, "backup.pw", "correct horse battery");
    deployment.ok("alice", &create_args("alice", &backup));
    deployment.ok("alice", &["key", "generate", "alice-2"]);
    deployment.ok(
        "alice",
        &["card", "publish", "--key", "alice-2", "--replaces", "alice"],
    );
    deployment.ok("alice-new", &["login", "alice"]);
    let restored = deployment.ok("alice-new", &restore_args("alice", &backup));
    assert!(
        restored.contains("no active card of alice has this key"),
        "{restored}"
    );
    assert!(restored.contains("virgil card reset"), "{restored}");
}
