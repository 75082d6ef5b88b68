//! The `virgil` CLI as a user runs it: `virgil init`, both servers started with
//! `virgil serve …` as subprocesses on 127.0.0.1, and every step of the tutorial as its
//! own `virgil` process, each user with their own home directory (their "device"). Then
//! the failure paths: wrong passwords, tampered ciphertext, an unknown user, a card for
//! another identity, expired access tokens, revocation.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use virgil_testkit::now;

mod support;

use support::*;

#[test]
fn the_tutorial_through_the_cli() {
    let deployment = Deployment::start();
    deployment.onboard("alice");
    deployment.onboard("bob");

    // The relay: Alice sends, Bob reads and verifies; a second `inbox` has nothing new.
    let sent = deployment.ok_with(
        "alice",
        &["send", "bob"],
        Some(b"Hey Bob, how's it going?\n"),
    );
    assert!(sent.contains("sent to bob"), "{sent}");
    let inbox = deployment.ok("bob", &["inbox"]);
    assert!(inbox.contains("from alice"), "{inbox}");
    assert!(inbox.contains("(signature verified)"), "{inbox}");
    assert!(inbox.contains("Hey Bob, how's it going?"), "{inbox}");
    assert!(deployment.ok("bob", &["inbox"]).contains("no new messages"));
    assert!(
        deployment
            .ok("bob", &["inbox", "--all"])
            .contains("Hey Bob")
    );

    // Cards: find, get, inspect (text and JSON), export for offline use.
    let found = deployment.ok("alice", &["card", "find", "bob"]);
    let bob_card_id = found.split_whitespace().next().unwrap().to_owned();
    let got = deployment.ok("alice", &["card", "get", &bob_card_id]);
    assert!(got.contains("identity:      bob (user)"), "{got}");
    assert!(got.contains("status:        active"), "{got}");
    assert!(got.contains("verification:  OK"), "{got}");
    let exported = deployment.ok("alice", &["card", "find", "--export", "bob"]);
    std::fs::write(deployment.path("bob.card"), &exported).unwrap();
    let inspected = deployment.ok("alice", &["card", "inspect", "bob.card"]);
    assert!(inspected.contains(&bob_card_id), "{inspected}");
    assert!(inspected.contains("signed by:     service"), "{inspected}");
    let json: serde_json::Value =
        serde_json::from_str(&deployment.ok("alice", &["card", "inspect", "--json", "bob.card"]))
            .unwrap();
    assert_eq!(json["id"], bob_card_id.as_str());
    // A card request (not approved or published) fails verification: exit 3.
    deployment.ok(
        "alice",
        &["card", "create", "--key", "alice", "-o", "request.card"],
    );
    let failed = deployment.run_as("alice", &["card", "inspect", "request.card"], None);
    assert_eq!(failed.status.code(), Some(3));
    assert!(text(&failed.stdout).contains("verification:  FAILED"));

    // Files: signed and encrypted for Bob (by identity) and for a card file, binary and armored.
    let plaintext: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(deployment.path("report.bin"), &plaintext).unwrap();
    deployment.ok(
        "alice",
        &[
            "encrypt",
            "--to",
            "bob",
            "--sign-with",
            "alice",
            "-i",
            "report.bin",
            "-o",
            "report.virgil",
        ],
    );
    deployment.ok(
        "alice",
        &[
            "encrypt",
            "--to",
            "bob.card",
            "--to",
            "alice",
            "--sign-with",
            "alice",
            "--armor",
            "-i",
            "report.bin",
            "-o",
            "report.asc",
        ],
    );
    let armored = std::fs::read_to_string(deployment.path("report.asc")).unwrap();
    assert!(armored.starts_with("-----BEGIN VIRGIL MESSAGE-----\n"));
    for input in ["report.virgil", "report.asc"] {
        let out = format!("{input}.out");
        let output = deployment.run_as(
            "bob",
            &[
                "decrypt", "--key", "bob", "--from", "alice", "-i", input, "-o", &out,
            ],
            None,
        );
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(text(&output.stderr).contains("signature verified: from alice"));
        assert_eq!(std::fs::read(deployment.path(&out)).unwrap(), plaintext);
    }
    // Standard input to standard output.
    let cipher = std::fs::read(deployment.path("report.virgil")).unwrap();
    let output = deployment.run_as(
        "bob",
        &["decrypt", "--key", "bob", "--from", "alice"],
        Some(&cipher),
    );
    assert!(output.status.success());
    assert_eq!(output.stdout, plaintext);
}

#[test]
fn failures_are_one_line_with_the_documented_exit_codes() {
    let deployment = Deployment::start();
    deployment.onboard("alice");
    deployment.onboard("bob");
    std::fs::write(deployment.path("note.txt"), b"for bob only").unwrap();
    deployment.ok(
        "alice",
        &[
            "encrypt",
            "--to",
            "bob",
            "--sign-with",
            "alice",
            "--no-self",
            "-i",
            "note.txt",
            "-o",
            "note.virgil",
        ],
    );

    // Wrong key password (exit 4), wrong account password (4), unknown login (4).
    let wrong = deployment.run_as(
        "bob",
        &[
            "decrypt",
            "--key",
            "bob",
            "-i",
            "note.virgil",
            "--password-file",
            "/dev/null",
        ],
        None,
    );
    assert_eq!(wrong.status.code(), Some(4), "{}", text(&wrong.stderr));
    assert!(text(&wrong.stderr).contains("wrong password for key \"bob\""));
    std::fs::write(deployment.path("wrong.pass"), "not the password\n").unwrap();
    let stderr = deployment.fails(
        "bob",
        &["login", "bob", "--account-password-file", "wrong.pass"],
        4,
    );
    assert!(stderr.contains("invalid_credentials"), "{stderr}");
    assert!(!stderr.contains("log in again"), "{stderr}");
    deployment.fails("bob", &["login", "nobody"], 4);

    // Tampered ciphertext: exit 3, and no output file left behind.
    let mut tampered = std::fs::read(deployment.path("note.virgil")).unwrap();
    let last = tampered.len() - 10;
    tampered[last] ^= 0x01;
    std::fs::write(deployment.path("tampered.virgil"), &tampered).unwrap();
    let stderr = deployment.fails(
        "bob",
        &[
            "decrypt",
            "--key",
            "bob",
            "--from",
            "alice",
            "-i",
            "tampered.virgil",
            "-o",
            "out.txt",
        ],
        3,
    );
    assert!(stderr.contains("modified or cut short"), "{stderr}");
    assert!(!deployment.path("out.txt").exists(), "no partial output");
    let leftovers: Vec<_> = std::fs::read_dir(deployment.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files are removed");
    // Verified against the wrong sender: exit 3, the clear message.
    let stderr = deployment.fails(
        "bob",
        &[
            "decrypt",
            "--key",
            "bob",
            "--from",
            "bob",
            "-i",
            "note.virgil",
            "-o",
            "out.txt",
        ],
        3,
    );
    assert!(
        stderr.contains("signature does not match the sender's card"),
        "{stderr}"
    );
    // Not for this key.
    let stderr = deployment.fails(
        "alice",
        &["decrypt", "--key", "alice", "-i", "note.virgil"],
        3,
    );
    assert!(
        stderr.contains("not encrypted for key \"alice\""),
        "{stderr}"
    );

    // Unknown user: no card to encrypt for, and the relay refuses too.
    let stderr = deployment.fails_with("alice", &["send", "nobody"], Some(b"hello"), 1);
    assert!(stderr.contains("\"nobody\" has no card"), "{stderr}");
    let stderr = deployment.fails("alice", &["encrypt", "--to", "nobody", "-i", "note.txt"], 1);
    assert!(stderr.contains("\"nobody\" has no card"), "{stderr}");

    // A card for another identity: the app server refuses to approve it (403).
    deployment.ok(
        "alice",
        &[
            "card",
            "create",
            "--key",
            "alice",
            "--identity",
            "bob",
            "-o",
            "forged.card",
        ],
    );
    let stderr = deployment.fails("alice", &["card", "publish", "forged.card"], 1);
    assert!(stderr.contains("wrong_identity"), "{stderr}");

    // Expired access tokens: refreshed with the session (no password) and saved; refused
    // by the cards service when the session lies about the expiry.
    let mut session = deployment.session("alice");
    session["response"]["access_token"] = "expired".into();
    session["response"]["access_token_expires_at"] = 1.into();
    deployment.set_session("alice", &session);
    deployment.ok("alice", &["card", "find", "bob"]);
    let refreshed = deployment.session("alice");
    assert_ne!(refreshed["response"]["access_token"], "expired");
    assert!(
        refreshed["response"]["access_token_expires_at"]
            .as_u64()
            .unwrap()
            > now()
    );
    session["response"]["session_token"] = "not-a-session".into();
    deployment.set_session("alice", &session);
    let stderr = deployment.fails("alice", &["card", "find", "bob"], 4);
    assert!(stderr.contains("invalid_session"), "{stderr}");
    let (_, app_key) =
        virgil_keystore::key_file::open(&deployment.path("local/app.key"), None).unwrap();
    session["response"]["access_token"] =
        virgil_api::token::issue(&app_key, "chat", "alice", now() - 3600, 60).into();
    session["response"]["access_token_expires_at"] = (now() + 600).into();
    deployment.set_session("alice", &session);
    // The expired token is refreshed with the session, which is gone too.
    let stderr = deployment.fails("alice", &["card", "find", "bob"], 4);
    assert!(stderr.contains("invalid_session"), "{stderr}");
    deployment.ok("alice", &["login", "alice"]);
    deployment.ok("alice", &["card", "find", "bob"]);

    // Sessions: this device's is listed; logout ends it at the server, so a copy of the
    // session file is useless afterwards.
    let listed = deployment.ok("alice", &["session", "list"]);
    assert!(listed.contains("(this device)"), "{listed}");
    let copied = deployment.session("alice");
    deployment.ok("alice", &["logout"]);
    deployment.set_session("alice", &copied);
    let stderr = deployment.fails("alice", &["inbox"], 4);
    assert!(stderr.contains("invalid_session"), "{stderr}");
    deployment.ok("alice", &["logout"]);

    // Not logged in.
    let stderr = deployment.fails("alice", &["card", "find", "bob"], 4);
    assert!(stderr.contains("not logged in"), "{stderr}");

    // An unreachable server: exit 5.
    let mut config: toml::Table =
        toml::from_str(&std::fs::read_to_string(&deployment.client_config).unwrap()).unwrap();
    config.insert("app_url".into(), "http://127.0.0.1:9".into());
    let unreachable = deployment.path("local/unreachable.toml");
    std::fs::write(&unreachable, toml::to_string(&config).unwrap()).unwrap();
    let stderr = deployment.fails(
        "alice",
        &["--config", unreachable.to_str().unwrap(), "login", "alice"],
        5,
    );
    assert!(stderr.contains("cannot reach the app server"), "{stderr}");

    // Revocation by the operator: Bob's card is gone from searches.
    let bob_card_id = deployment
        .ok("bob", &["card", "find", "bob"])
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let revoked = deployment.ok(
        "bob",
        &[
            "card",
            "revoke",
            &bob_card_id,
            "--app-key-file",
            "local/app.key",
            "--reason",
            "compromised",
        ],
    );
    assert!(revoked.contains("revoked"), "{revoked}");
    deployment.ok("alice", &["login", "alice"]);
    let stderr = deployment.fails("alice", &["encrypt", "--to", "bob", "-i", "note.txt"], 1);
    assert!(stderr.contains("\"bob\" has no card"), "{stderr}");
}

#[test]
fn keys_are_managed_without_leaking_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], envs: &[(&str, &str)]| {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("VIRGIL_HOME", dir.path())
            .env_remove("VIRGIL_PASSWORD");
        for (key, value) in envs {
            command.env(key, value);
        }
        command.stdin(Stdio::null()).output().unwrap()
    };
    let with_password = [("VIRGIL_PASSWORD", KEY_PASSWORD)];
    for short in ["", "1", "seven c"] {
        let refused = run(&["key", "generate", "carol"], &[("VIRGIL_PASSWORD", short)]);
        assert_eq!(refused.status.code(), Some(1), "{short:?}");
        assert!(
            text(&refused.stderr).contains("use at least 8"),
            "{}",
            text(&refused.stderr)
        );
    }
    assert!(
        run(&["key", "generate", "carol"], &with_password)
            .status
            .success()
    );
    let again = run(&["key", "generate", "carol"], &with_password);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists"));
    // No terminal, no variable, no file: a clear error instead of a hang.
    let no_password = run(&["key", "export-public", "carol"], &[]);
    assert_eq!(no_password.status.code(), Some(4));
    assert!(text(&no_password.stderr).contains("set VIRGIL_PASSWORD or pass --password-file"));
    let public = text(&run(&["key", "export-public", "carol"], &with_password).stdout);
    assert!(public.starts_with("vpk:"), "{public}");
    assert_eq!(
        public.trim().len(),
        4 + 136,
        "vpk: and base64 of the 100-byte public key"
    );
    let list = text(&run(&["key", "list"], &[]).stdout);
    assert!(list.starts_with("carol"), "{list}");
    assert!(!list.contains(KEY_PASSWORD));
    assert!(text(&run(&["key", "show", "carol"], &[]).stdout).contains("password:  yes"));
    // passwd: the old password opens it no more, the new one does.
    let changed = run(
        &["key", "passwd", "carol"],
        &[
            ("VIRGIL_PASSWORD", KEY_PASSWORD),
            ("VIRGIL_NEW_PASSWORD", "new password 2"),
        ],
    );
    assert!(changed.status.success(), "{}", text(&changed.stderr));
    assert_eq!(
        run(&["key", "export-public", "carol"], &with_password)
            .status
            .code(),
        Some(4)
    );
    assert_eq!(
        text(
            &run(
                &["key", "export-public", "carol"],
                &[("VIRGIL_PASSWORD", "new password 2")]
            )
            .stdout
        ),
        public
    );
    // delete needs --yes when not on a terminal.
    assert_eq!(run(&["key", "delete", "carol"], &[]).status.code(), Some(1));
    assert!(
        run(&["key", "delete", "carol", "--yes"], &[])
            .status
            .success()
    );
    assert!(text(&run(&["key", "list"], &[]).stdout).contains("no keys"));
}

#[test]
fn every_command_has_help_with_examples() {
    for command in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["serve", "cards", "--help"],
        vec!["serve", "app", "--help"],
        vec!["key", "generate", "--help"],
        vec!["card", "publish", "--help"],
        vec!["encrypt", "--help"],
        vec!["decrypt", "--help"],
        vec!["send", "--help"],
        vec!["inbox", "--help"],
    ] {
        let output = Command::new(BIN).args(&command).output().unwrap();
        let help = text(&output.stdout);
        assert!(output.status.success(), "{command:?}");
        assert!(
            help.contains("Example"),
            "`virgil {}` has no example:\n{help}",
            command.join(" ")
        );
    }
    let usage = Command::new(BIN).args(["encrypt"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2), "usage errors exit 2");
}

/// `-o` never replaces what is not a regular file: a character device or FIFO is written
/// through, a symbolic link or directory is refused and left as it was. (`key
/// export-public -o` and `decrypt -o` share the same output code.)
#[test]
fn output_never_replaces_what_is_not_a_regular_file() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = tempfile::tempdir().unwrap();
    let export = |output: &std::path::Path| {
        Command::new(BIN)
            .args(["key", "export-public", "dora", "-o"])
            .arg(output)
            .env("VIRGIL_HOME", dir.path())
            .env("VIRGIL_PASSWORD", KEY_PASSWORD)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let generated = Command::new(BIN)
        .args(["key", "generate", "dora"])
        .env("VIRGIL_HOME", dir.path())
        .env("VIRGIL_PASSWORD", KEY_PASSWORD)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", text(&generated.stderr));

    // A regular file is replaced, all at once.
    let file = dir.path().join("dora.pub");
    std::fs::write(&file, "old").unwrap();
    assert!(export(&file).status.success());
    let public = std::fs::read_to_string(&file).unwrap();
    assert_eq!(public.trim().len(), 4 + 136);

    // A symbolic link: refused, the link and its target untouched.
    let target = dir.path().join("precious.txt");
    std::fs::write(&target, "precious").unwrap();
    let link = dir.path().join("link.pub");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let refused = export(&link);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("is a symbolic link"),
        "{}",
        text(&refused.stderr)
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");

    // A directory: refused.
    let refused = export(dir.path());
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("is a directory"));

    // A FIFO: written through (a reader gets the key), still a FIFO afterwards.
    let fifo = dir.path().join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    assert!(export(&fifo).status.success());
    assert_eq!(reader.join().unwrap(), public);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    // A character device (a private copy of /dev/null where we may make one): written
    // through, still a device afterwards.
    let device = dir.path().join("null");
    let made = Command::new("mknod")
        .arg(&device)
        .args(["c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if made {
        assert!(export(&device).status.success());
        assert!(
            std::fs::metadata(&device)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    } else {
        eprintln!("note: mknod not permitted here; the character-device case ran only on FIFOs");
    }
}

/// One bad key file does not make the others unusable (`cp carol.vkey zed.vkey`).
#[test]
fn a_damaged_key_file_does_not_hide_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("VIRGIL_HOME", dir.path())
            .env("VIRGIL_PASSWORD", KEY_PASSWORD)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for name in ["bob", "carol"] {
        assert!(run(&["key", "generate", name]).status.success());
    }
    let keys = dir.path().join("keys");
    std::fs::copy(keys.join("carol.vkey"), keys.join("zed.vkey")).unwrap();
    let list = run(&["key", "list"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let listed = text(&list.stdout);
    assert!(
        listed.contains("bob") && listed.contains("carol"),
        "{listed}"
    );
    assert!(
        listed.contains("DAMAGED: key \"zed\" is corrupted") && listed.contains("zed.vkey"),
        "{listed}"
    );
    assert!(run(&["key", "export-public", "bob"]).status.success());
    assert!(run(&["key", "show", "carol"]).status.success());
    let zed = run(&["key", "export-public", "zed"]);
    assert_eq!(zed.status.code(), Some(1));
    assert!(
        text(&zed.stderr).contains("corrupted"),
        "{}",
        text(&zed.stderr)
    );
}

/// The deployment `virgil init` makes speaks TLS only: a plain-HTTP client gets no
/// answer, a client that does not pin the local CA refuses the servers, and a server
/// without TLS will not listen on a non-loopback address unless told.
#[test]
fn the_servers_speak_tls_and_plain_http_stays_on_loopback() {
    use std::io::{Read as _, Write as _};
    let deployment = Deployment::start();
    let config: toml::Table =
        toml::from_str(&std::fs::read_to_string(&deployment.client_config).unwrap()).unwrap();
    let cards_url = config["cards_url"].as_str().unwrap().to_owned();
    assert!(cards_url.starts_with("https://"), "{cards_url}");

    // Plain HTTP to the TLS port: no HTTP answer.
    let address = cards_url.trim_start_matches("https://");
    let mut plain = std::net::TcpStream::connect(address).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "a plain-HTTP request was answered on the TLS port"
    );

    // Everything works with the pinned CA…
    deployment.ok("alice", &["register", "alice"]);
    deployment.ok("alice", &["login", "alice"]);
    // …and nothing without it: the public CAs do not vouch for the local certificate.
    let mut unpinned = config.clone();
    unpinned.remove("ca_file");
    let unpinned_path = deployment.path("unpinned.toml");
    std::fs::write(&unpinned_path, toml::to_string(&unpinned).unwrap()).unwrap();
    let stderr = deployment.fails(
        "alice",
        &[
            "--config",
            unpinned_path.to_str().unwrap(),
            "login",
            "alice",
        ],
        5,
    );
    assert!(stderr.contains("cannot reach the app server"), "{stderr}");

    // A cards service without [tls] refuses 0.0.0.0, unless --insecure-http.
    let mut cards: toml::Table =
        toml::from_str(&std::fs::read_to_string(deployment.path("local/cards.toml")).unwrap())
            .unwrap();
    cards.remove("tls");
    let plain_toml = deployment.path("local/plain-cards.toml");
    std::fs::write(&plain_toml, toml::to_string(&cards).unwrap()).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "cards", "--config"])
        .arg(&plain_toml)
        .args(["--listen", "0.0.0.0:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the cards service started plain HTTP on 0.0.0.0");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let refused = child.wait_with_output().unwrap();
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("refusing plain HTTP on 0.0.0.0"),
        "{}",
        text(&refused.stderr)
    );
    let insecure = serve(&[
        "cards",
        "--config",
        plain_toml.to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
        "--insecure-http",
    ]);
    assert!(
        insecure.url.starts_with("http://0.0.0.0:"),
        "{}",
        insecure.url
    );
    insecure.stop();
}

/// A second key for a user who has a card: refused unless linked from the first
/// (`--link-from`), with the fix in the message; publishing the first key again makes
/// no duplicate.
#[test]
fn a_second_device_is_linked_from_the_first() {
    let deployment = Deployment::start();
    deployment.onboard("carol");
    deployment.ok("carol", &["key", "generate", "carol-phone"]);
    let stderr = deployment.fails("carol", &["card", "publish", "--key", "carol-phone"], 3);
    assert!(stderr.contains("--link-from"), "{stderr}");
    let linked = deployment.ok(
        "carol",
        &[
            "card",
            "publish",
            "--key",
            "carol-phone",
            "--link-from",
            "carol",
        ],
    );
    assert!(linked.contains("linked from your card"), "{linked}");
    assert!(linked.contains("approved and published"), "{linked}");
    let found = deployment.ok("carol", &["card", "find", "carol"]);
    assert_eq!(found.lines().count(), 2, "{found}");
    // (Within the same second the request is byte-identical to the first and is simply
    // the same card again; later it is a new request for a key that has a card.)
    let again = deployment.ok("carol", &["card", "publish"]);
    assert!(
        again.contains("already has card") || again.contains("approved and published"),
        "{again}"
    );
    let found = deployment.ok("carol", &["card", "find", "carol"]);
    assert_eq!(found.lines().count(), 2, "no duplicate: {found}");

    // Her cards, each with its local key; the phone's card revoked from the laptop key.
    let listed = deployment.ok("carol", &["card", "list"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("key \"carol\""), "{listed}");
    let phone_line = listed
        .lines()
        .find(|line| line.contains("key \"carol-phone\""))
        .unwrap();
    let phone_card = phone_line.split_whitespace().next().unwrap();
    let revoked = deployment.ok(
        "carol",
        &[
            "card",
            "revoke",
            phone_card,
            "--key",
            "carol",
            "--reason",
            "compromised",
        ],
    );
    assert!(revoked.contains("revoked"), "{revoked}");
    assert_eq!(deployment.ok("carol", &["card", "list"]).lines().count(), 1);
    // Nobody else's key revokes carol's card.
    deployment.onboard("mallory");
    let carol_card = deployment
        .ok("carol", &["card", "list"])
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let stderr = deployment.fails("mallory", &["card", "revoke", &carol_card], 3);
    assert!(stderr.contains("only the owner's keys"), "{stderr}");
}

/// Carol rotates her key (`--replaces`): the new card is linked from the old one and
/// supersedes it, so erin's client takes it as carol's new key, not a key change.
#[test]
fn a_rotation_is_no_key_change_for_contacts() {
    let deployment = Deployment::start();
    deployment.onboard("carol");
    deployment.onboard("erin");
    assert!(
        deployment
            .run_as("erin", &["send", "carol"], Some(b"hi"))
            .status
            .success()
    );
    deployment.ok("carol", &["key", "generate", "carol-2027"]);
    let rotated = deployment.ok(
        "carol",
        &[
            "card",
            "publish",
            "--key",
            "carol-2027",
            "--replaces",
            "carol",
        ],
    );
    assert!(rotated.contains("replaces your card"), "{rotated}");
    let listed = deployment.ok("carol", &["card", "list"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("key \"carol-2027\""), "{listed}");
    let sent = deployment.run_as("erin", &["send", "carol"], Some(b"hi again"));
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let said = text(&sent.stderr);
    assert!(said.contains("replaced by a newer one"), "{said}");
    assert!(said.contains("carol added a device"), "{said}");
    assert!(!said.contains("WARNING"), "{said}");
}

/// Dave lost his key and resets from a new device: erin's next send stops with a
/// key-change warning (exit 3) naming the reset, goes ahead with --accept-key-change
/// (said on stderr), and dave reads it on the new device.
#[test]
fn a_reset_stops_contacts_until_they_accept_it() {
    let deployment = Deployment::start();
    deployment.onboard("dave");
    deployment.onboard("erin");
    let sent = deployment.run_as("erin", &["send", "dave"], Some(b"hello"));
    assert!(sent.status.success());
    assert!(text(&sent.stderr).contains("first contact with dave"));

    deployment.ok("dave-new", &["key", "generate", "dave"]);
    deployment.ok("dave-new", &["login", "dave"]);
    let reset = deployment.ok("dave-new", &["card", "reset"]);
    assert!(reset.contains("published and active"), "{reset}");

    let stderr = deployment.fails_with("erin", &["send", "dave"], Some(b"secret"), 3);
    assert!(stderr.contains("dave's keys changed"), "{stderr}");
    assert!(stderr.contains("reset"), "{stderr}");
    let accepted = deployment.run_as(
        "erin",
        &["--accept-key-change", "send", "dave"],
        Some(b"welcome back"),
    );
    assert!(accepted.status.success(), "{}", text(&accepted.stderr));
    assert!(text(&accepted.stderr).contains("WARNING: dave's keys changed"));
    // Accepted once: the next send says nothing.
    let again = deployment.run_as("erin", &["send", "dave"], Some(b"again"));
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        !text(&again.stderr).contains("WARNING"),
        "{}",
        text(&again.stderr)
    );
    // The first message was for the lost key: shown as not for this key (exit 3).
    let inbox = deployment.run_as("dave-new", &["inbox"], None);
    let shown = text(&inbox.stdout);
    assert!(shown.contains("welcome back"), "{shown}");
    assert!(shown.contains("REJECTED: not encrypted for key"), "{shown}");
}

/// With a reset delay, a reset made with frank's password alone is pending: frank's
/// device is alarmed on its next inbox read and in `card list`, and cancels it.
#[test]
fn a_pending_reset_alarms_the_owner_who_cancels_it() {
    let deployment = Deployment::start_with_reset_delay(86_400);
    deployment.onboard("frank");
    let monitored = deployment.ok("frank", &["monitor"]);
    assert!(
        monitored.contains("proven up to epoch")
            && monitored.contains("every card in them is yours"),
        "{monitored}"
    );
    deployment.ok("thief", &["key", "generate", "frank"]);
    deployment.ok("thief", &["login", "frank"]);
    let reset = deployment.ok("thief", &["card", "reset"]);
    assert!(reset.contains("pending until"), "{reset}");

    // The inbox is still read, but the alarm comes first and the exit status is 3.
    let inbox = deployment.run_as("frank", &["inbox"], None);
    assert_eq!(inbox.status.code(), Some(3), "{}", text(&inbox.stderr));
    let alarm = text(&inbox.stderr);
    assert!(
        alarm.contains("a RESET that replaces all of your cards"),
        "{alarm}"
    );
    assert!(text(&inbox.stdout).contains("no new messages"));
    let listed = deployment.fails("frank", &["card", "list"], 3);
    let pending_card = listed
        .split("virgil card revoke ")
        .nth(1)
        .and_then(|rest| rest.get(..64))
        .unwrap_or_else(|| panic!("{listed}"))
        .to_owned();
    assert!(alarm.contains(&pending_card), "{alarm}");
    for command in [&["login", "frank"][..], &["send", "frank"], &["monitor"]] {
        let stderr = deployment.fails_with("frank", command, Some(b"hi"), 3);
        assert!(stderr.contains(&pending_card), "{stderr}");
    }
    let cancelled = deployment.ok("frank", &["card", "revoke", &pending_card]);
    assert!(cancelled.contains("revoked"), "{cancelled}");
    let inbox = deployment.run_as("frank", &["inbox"], None);
    assert!(
        !text(&inbox.stderr).contains("RESET"),
        "{}",
        text(&inbox.stderr)
    );
    assert!(!deployment.ok("frank", &["card", "list"]).contains("RESET"));
}

/// `virgil` with no configuration, in `dir`, with its home in `dir/home` and the key
/// password in `VIRGIL_PASSWORD`: what bare-key use needs.
struct Offline {
    dir: PathBuf,
}

impl Offline {
    fn in_dir(dir: &std::path::Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(&self.dir)
            .env("VIRGIL_HOME", self.dir.join("home"))
            .env("VIRGIL_PASSWORD", KEY_PASSWORD)
            .env_remove("VIRGIL_CONFIG")
            .output()
            .unwrap()
    }

    /// Like `run`, and the command must succeed.
    fn ok(&self, args: &[&str]) -> Output {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "`virgil {}`: {}",
            args.join(" "),
            text(&output.stderr)
        );
        output
    }
}

/// With no password in the environment or a file and no terminal to ask on (a service,
/// a job started by a daemon), the CLI says so in words, before printing any prompt.
#[test]
fn no_terminal_to_ask_for_a_password_is_said_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("setsid")
        .arg("-w")
        .arg(BIN)
        .args(["key", "generate", "x"])
        .env("VIRGIL_HOME", dir.path())
        .env_remove("VIRGIL_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "virgil: cannot ask for the password: there is no terminal to ask on; set VIRGIL_PASSWORD or pass --password-file"
    );
}

/// A message signed with a key that has no card, to a bare key, is opened and verified
/// with `--from vpk:…` (or a file holding the key), offline; signed by another key, or
/// not signed, it is refused and nothing is written.
#[test]
fn a_signature_by_a_bare_key_is_verified_with_from() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Offline::in_dir(dir.path());
    let ok = |args: &[&str]| cli.ok(args);
    for key in ["alice", "bob", "mallory"] {
        ok(&["key", "generate", key]);
    }
    ok(&["key", "export-public", "alice", "-o", "alice.pub"]);
    let alice = text(&ok(&["key", "export-public", "alice"]).stdout);
    let bob = text(&ok(&["key", "export-public", "bob"]).stdout);
    std::fs::write(dir.path().join("note.txt"), "signed by alice").unwrap();
    for (signer, file) in [("alice", "a.virgil"), ("mallory", "m.virgil")] {
        ok(&[
            "encrypt",
            "--sign-with",
            signer,
            "--to",
            bob.trim(),
            "-i",
            "note.txt",
            "-o",
            file,
        ]);
    }
    ok(&[
        "encrypt",
        "--no-sign",
        "--to",
        bob.trim(),
        "-i",
        "note.txt",
        "-o",
        "u.virgil",
    ]);
    for from in [alice.trim(), "alice.pub"] {
        let opened = ok(&[
            "decrypt", "--key", "bob", "--from", from, "-o", "out.txt", "a.virgil",
        ]);
        assert!(
            text(&opened.stderr).contains("signature verified: from key vpk:"),
            "{}",
            text(&opened.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
            "signed by alice"
        );
        std::fs::remove_file(dir.path().join("out.txt")).unwrap();
    }
    for (file, says) in [
        ("m.virgil", "signature does not match"),
        ("u.virgil", "not signed"),
    ] {
        let refused = cli.run(&[
            "decrypt",
            "--key",
            "bob",
            "--from",
            alice.trim(),
            "-o",
            "out.txt",
            file,
        ]);
        assert_eq!(refused.status.code(), Some(3), "{file}");
        assert!(
            text(&refused.stderr).contains(says),
            "{}",
            text(&refused.stderr)
        );
        assert!(!dir.path().join("out.txt").exists());
    }
}

/// Like age: recipients as public key strings or files (`--to`, `-R`), no configuration
/// and no server needed for them, and a mistyped card path reported as a missing file
/// instead of being looked up as a name.
#[test]
fn bare_keys_encrypt_locally_and_typos_are_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Offline::in_dir(dir.path());
    let run = |args: &[&str]| cli.run(args);
    let ok = |args: &[&str]| cli.ok(args);
    ok(&["key", "generate", "bob"]);
    ok(&["key", "generate", "carol"]);
    ok(&["key", "export-public", "bob", "-o", "bob.pub"]);
    let carol = text(&ok(&["key", "export-public", "carol"]).stdout);
    std::fs::write(dir.path().join("message.txt"), "for bob and carol").unwrap();
    std::fs::write(
        dir.path().join("team.txt"),
        format!("# the team\n{}\n", carol.trim()),
    )
    .unwrap();

    let encrypted = ok(&[
        "encrypt",
        "--to",
        "bob.pub",
        "-R",
        "team.txt",
        "-i",
        "message.txt",
        "-o",
        "message.virgil",
    ]);
    let said = text(&encrypted.stderr);
    assert!(
        said.contains("a bare key: not verified by any directory"),
        "{said}"
    );
    assert!(said.contains("not signed: not logged in"), "{said}");
    for key in ["bob", "carol"] {
        let out = format!("{key}.txt");
        // Nobody to check a signature against: refused unless asked for.
        let refused = run(&["decrypt", "--key", key, "-i", "message.virgil", "-o", &out]);
        assert_eq!(refused.status.code(), Some(3));
        assert!(text(&refused.stderr).contains("--allow-unsigned"));
        assert!(!dir.path().join(&out).exists());
        ok(&[
            "decrypt",
            "--key",
            key,
            "--allow-unsigned",
            "-o",
            &out,
            "message.virgil",
        ]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&out)).unwrap(),
            "for bob and carol"
        );
    }
    // The key string itself works too, and so does older output without the prefix.
    ok(&[
        "encrypt",
        "--to",
        carol.trim(),
        "-i",
        "message.txt",
        "-o",
        "c.virgil",
    ]);
    let raw = carol.trim().strip_prefix("vpk:").unwrap();
    ok(&[
        "encrypt",
        "--to",
        raw,
        "-i",
        "message.txt",
        "-o",
        "c2.virgil",
    ]);

    // With two keys and nobody logged in, the error names both ways to choose.
    let which = run(&["decrypt", "--allow-unsigned", "-o", "c.txt", "c.virgil"]);
    assert!(!which.status.success());
    let which = text(&which.stderr);
    assert!(
        which.contains("--key NAME") && which.contains("--any-key"),
        "{which}"
    );
    // --any-key finds the local key the message is for, from its header.
    let found = ok(&[
        "decrypt",
        "--any-key",
        "--allow-unsigned",
        "-o",
        "c.txt",
        "c.virgil",
    ]);
    assert!(text(&found.stderr).contains("with key \"carol\""));
    let stranger = format!(
        "vpk:{}",
        virgil::crypto::encoding::to_base64(virgil_testkit::key(77).public_key().as_bytes())
    );
    ok(&[
        "encrypt",
        "--to",
        &stranger,
        "-o",
        "s.virgil",
        "message.txt",
    ]);
    let none = run(&["decrypt", "--any-key", "--allow-unsigned", "s.virgil"]);
    assert_eq!(none.status.code(), Some(3));
    assert!(text(&none.stderr).contains("not encrypted for any of the 2 key(s) here"));

    // A typo is a missing file (exit 1), not a lookup of a user named "alice.card".
    let typo = run(&[
        "encrypt",
        "--to",
        "alice.card",
        "-i",
        "message.txt",
        "-o",
        "x",
    ]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        text(&typo.stderr).contains("no such file: alice.card"),
        "{}",
        text(&typo.stderr)
    );
    let missing = run(&[
        "encrypt",
        "-R",
        "nobody.txt",
        "-i",
        "message.txt",
        "-o",
        "x",
    ]);
    assert!(text(&missing.stderr).contains("no such recipients file"));
    assert!(!dir.path().join("x").exists());
    // An identity still needs the configuration (and says how to get one).
    let named = run(&["encrypt", "--to", "bob", "-i", "message.txt", "-o", "x"]);
    assert!(!named.status.success());
    // Another tool's recipient is named as such, not looked up as a user.
    for foreign in [
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFoo alice@host",
    ] {
        let said = run(&["encrypt", "--to", foreign, "-i", "message.txt", "-o", "x"]);
        assert_eq!(said.status.code(), Some(1));
        let said = text(&said.stderr);
        assert!(
            said.contains("not a recipient virgil understands"),
            "{said}"
        );
        assert!(!said.contains("configuration"), "{said}");
    }
    assert!(!dir.path().join("x").exists());
}

/// Safe defaults: `encrypt` signs with the logged-in user's key and includes it as a
/// recipient (`--no-sign`, `--no-self` opt out); `decrypt` uses the logged-in user's key
/// and takes the input as an argument, like age.
#[test]
fn encrypt_signs_and_includes_you_by_default() {
    let deployment = Deployment::start();
    deployment.onboard("alice");
    deployment.onboard("bob");
    std::fs::write(deployment.path("note.txt"), b"signed by default").unwrap();
    let sent = deployment.run_as(
        "alice",
        &["encrypt", "--to", "bob", "-o", "note.virgil", "note.txt"],
        None,
    );
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let said = text(&sent.stderr);
    assert!(said.contains("you (key \"alice\", classic)"), "{said}");
    assert!(said.contains("signed with key \"alice\""), "{said}");
    for (user, out) in [("bob", "bob.txt"), ("alice", "alice.txt")] {
        let read = deployment.run_as(
            user,
            &["decrypt", "--from", "alice", "-o", out, "note.virgil"],
            None,
        );
        assert!(read.status.success(), "{user}: {}", text(&read.stderr));
        assert!(text(&read.stderr).contains("signature verified: from alice"));
        assert_eq!(
            std::fs::read(deployment.path(out)).unwrap(),
            b"signed by default"
        );
    }

    let bare = deployment.run_as(
        "alice",
        &[
            "encrypt",
            "--to",
            "bob",
            "--no-sign",
            "--no-self",
            "-o",
            "bare.virgil",
            "note.txt",
        ],
        None,
    );
    assert!(text(&bare.stderr).contains("not signed: --no-sign"));
    let stderr = deployment.fails("alice", &["decrypt", "--from", "alice", "bare.virgil"], 3);
    assert!(
        stderr.contains("not encrypted for key \"alice\""),
        "{stderr}"
    );
    let stderr = deployment.fails("bob", &["decrypt", "--from", "alice", "bare.virgil"], 3);
    assert!(stderr.contains("not signed"), "{stderr}");
}

/// `virgil completions SHELL` prints a script; `virgil man --dir D` writes the manual
/// pages, which are checked in under docs/man/ and must match what the binary writes
/// (`VIRGIL_REGENERATE_MAN=1 cargo test -p virgil-cli --test cli manual` updates them,
/// as does `cargo xtask man`).
#[test]
fn completions_and_manual_pages_are_generated_and_checked_in() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}");
        let script = text(&output.stdout);
        assert!(
            script.contains("encrypt") && script.contains("recipients-file"),
            "{shell}"
        );
    }
    let checked_in = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/man"));
    let dir = tempfile::tempdir().unwrap();
    let written = Command::new(BIN)
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(written.status.success(), "{}", text(&written.stderr));
    let pages = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    if std::env::var_os("VIRGIL_REGENERATE_MAN").is_some() {
        let _ = std::fs::remove_dir_all(&checked_in);
        std::fs::create_dir_all(&checked_in).unwrap();
        for name in pages(dir.path()) {
            std::fs::copy(dir.path().join(&name), checked_in.join(&name)).unwrap();
        }
        return;
    }
    let generated = pages(dir.path());
    assert!(
        generated.contains(&"virgil-encrypt.1".to_owned()),
        "{generated:?}"
    );
    assert_eq!(
        generated,
        pages(&checked_in),
        "docs/man/ is out of date: run `cargo xtask man`"
    );
    for name in generated {
        assert!(
            std::fs::read(dir.path().join(&name)).unwrap()
                == std::fs::read(checked_in.join(&name)).unwrap(),
            "docs/man/{name} is out of date: run `cargo xtask man`"
        );
    }
}

/// The README's shell walkthrough, extracted and run as written by bash in an empty
/// directory (fresh HOME, the built `virgil` first on PATH, free ports in CARDS_PORT and
/// APP_PORT), so it cannot drift from what the CLI does.
#[test]
fn the_readme_walkthrough_runs_as_written() {
    run_the_readme_walkthrough(&[]);
}

/// The same walkthrough with both servers on PostgreSQL, as deploy/compose.yaml runs
/// them: the database URLs come from the environment, which wins over the files.
#[test]
fn the_readme_walkthrough_runs_on_postgres() {
    let name = concat!(module_path!(), "::the_readme_walkthrough_runs_on_postgres");
    let (Some(cards), Some(app)) = (
        virgil_testkit::postgres::TempPostgres::or_skip(name),
        virgil_testkit::postgres::TempPostgres::or_skip(name),
    ) else {
        return;
    };
    run_the_readme_walkthrough(&[
        ("VIRGIL_CARDS_DATABASE_URL", cards.url()),
        ("VIRGIL_APP_DATABASE_URL", app.url()),
    ]);
}

/// If a server cannot start (here: its port is taken), the walkthrough stops at once and
/// shows the server's own error, instead of waiting forever for "listening on".
#[test]
fn the_readme_walkthrough_fails_fast_when_a_server_cannot_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let mut child = readme_walkthrough(dir.path(), &[("CARDS_PORT", &port)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the walkthrough still waits a minute after the cards service failed");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("a server stopped:"), "{stderr}");
    assert!(
        stderr.contains(&port),
        "the server's own error names the port: {stderr}"
    );
    drop(taken);
}

/// The README's walkthrough as a command in `dir`: a fresh HOME, the built `virgil`
/// first on PATH, free ports in CARDS_PORT and APP_PORT (unless `envs` sets them).
fn readme_walkthrough(dir: &std::path::Path, envs: &[(&str, &str)]) -> Command {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let block = readme
        .split("<!-- walkthrough -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /walkthrough -->").next())
        .expect("README.md has a walkthrough block");
    let script = block
        .trim()
        .strip_prefix("```sh")
        .and_then(|rest| rest.strip_suffix("```"))
        .expect("the walkthrough is one sh block");
    std::fs::write(dir.join("walkthrough.sh"), script).unwrap();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string()
    };
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .args(["-euo", "pipefail", "walkthrough.sh"])
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir)
        .env("CARDS_PORT", free_port())
        .env("APP_PORT", free_port())
        .env_remove("VIRGIL_CONFIG")
        .env_remove("VIRGIL_HOME")
        .env_remove("VIRGIL_PASSWORD")
        .env_remove("VIRGIL_ACCOUNT_PASSWORD")
        .env_remove("XDG_DATA_HOME")
        .envs(envs.iter().copied());
    command
}

fn run_the_readme_walkthrough(envs: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let output = readme_walkthrough(dir.path(), envs).output().unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "the walkthrough failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}\ncards.log:\n{}\napp.log:\n{}",
        output.status.code(),
        std::fs::read_to_string(dir.path().join("cards.log")).unwrap_or_default(),
        std::fs::read_to_string(dir.path().join("app.log")).unwrap_or_default()
    );
    assert!(stdout.contains("bob read alice's file"), "{stdout}");
    assert!(stdout.contains("Hey Bob"), "{stdout}");
    assert!(stdout.contains("(signature verified)"), "{stdout}");
    // Server logs went to their files, not between the users' output.
    assert!(!stdout.contains("listening on"), "{stdout}");
    // On PostgreSQL, the SQLite files init configured were never created.
    if !envs.is_empty() {
        assert!(!dir.path().join("local/cards.db").exists());
        assert!(!dir.path().join("local/app.db").exists());
    }
}

/// `--json` prints the documented shapes (docs/cli.md) for scripts.
#[test]
fn json_output_has_the_documented_shape() {
    let deployment = Deployment::start();
    deployment.onboard("alice");
    deployment.onboard("bob");
    let sent = deployment.run_as("alice", &["send", "bob"], Some(b"Hey Bob"));
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let json = |user: &str, args: &[&str]| -> serde_json::Value {
        let out = deployment.ok(user, args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    };
    let inbox = json("bob", &["inbox", "--json"]);
    assert_eq!(inbox["messages"][0]["from"], "alice");
    assert_eq!(inbox["messages"][0]["verified"], true);
    assert_eq!(inbox["messages"][0]["text"], "Hey Bob");
    assert!(inbox["cursor"].as_i64().unwrap() > 0);
    let keys = json("alice", &["key", "list", "--json"]);
    assert_eq!(keys["keys"][0]["name"], "alice");
    assert_eq!(keys["keys"][0]["password_protected"], true);
    assert_eq!(keys["keys"][0]["key_id"].as_str().unwrap().len(), 64);
    let key = json("alice", &["key", "show", "--json", "alice"]);
    assert!(
        key["file"].as_str().unwrap().ends_with("alice.vkey"),
        "{key}"
    );
    let cards = json("alice", &["card", "find", "--json", "bob"]);
    assert_eq!(cards["cards"][0]["identity"], "bob");
    assert_eq!(cards["cards"][0]["status"]["state"], "active");
    assert!(cards["cards"][0]["export"].as_str().unwrap().len() > 100);
    let contacts = json("alice", &["contact", "list", "--json"]);
    let bob = contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|contact| contact["identity"] == "bob")
        .unwrap_or_else(|| panic!("{contacts}"));
    assert_eq!(bob["verified"], false);
    assert_eq!(bob["cards"][0]["state"], "active");
    let mine = json("alice", &["card", "list", "--json"]);
    assert_eq!(mine["cards"][0]["identity"], "alice");
    assert_eq!(mine["cards"][0]["local_key"], "alice");
    assert_eq!(mine["pending_resets"], serde_json::json!([]));
    let sessions = json("alice", &["session", "list", "--json"]);
    assert_eq!(sessions["sessions"][0]["current"], true);

    // encrypt/decrypt summaries (with -o: standard output is free for them).
    std::fs::write(deployment.path("j.txt"), b"summarised").unwrap();
    let sealed = json(
        "alice",
        &[
            "encrypt", "--to", "bob", "--json", "-o", "j.virgil", "j.txt",
        ],
    );
    assert_eq!(sealed["recipients"][0]["identity"], "bob");
    assert_eq!(sealed["recipients"][1]["self"], "alice");
    assert_eq!(sealed["signed_by"], "alice");
    let opened = json(
        "bob",
        &[
            "decrypt", "--from", "alice", "--json", "-o", "j.out", "j.virgil",
        ],
    );
    assert_eq!(opened["verified"], true);
    assert_eq!(opened["key"], "bob");
    assert_eq!(opened["sender"]["identity"], "alice");
    assert_eq!(opened["sender_key"], serde_json::Value::Null);
    let usage = deployment.run_as(
        "alice",
        &["encrypt", "--to", "bob", "--json", "j.txt"],
        None,
    );
    assert_eq!(usage.status.code(), Some(2), "--json needs -o");
}

/// The files in deploy/ (Dockerfile, compose.yaml, systemd units) name only binaries,
/// subcommands, flags, environment variables, crates and ports that exist, so they
/// cannot drift from the real binaries (their options are the ones `virgil serve
/// cards|app` and `virgil init` take). No image is built here.
#[test]
fn deploy_files_use_only_what_the_binaries_have() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let help = |args: &[&str]| text(&Command::new(BIN).args(args).output().unwrap().stdout);
    let helps = [
        help(&["serve", "cards", "--help"]),
        help(&["serve", "app", "--help"]),
        help(&["init", "--help"]),
        help(&["--help"]),
    ]
    .join("\n");
    // Passwords come from the environment only and are documented in docs/cli.md.
    let secrets = ["VIRGIL_SERVICE_KEY_PASSWORD", "VIRGIL_APP_KEY_PASSWORD"];
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("deploy"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    for file in &files {
        let content = std::fs::read_to_string(file).unwrap();
        for line in content
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
        {
            // Lines that run one of our binaries (not cargo, useradd, …).
            let runs_ours = [
                "ExecStart",
                "command:",
                "CMD",
                "ENTRYPOINT",
                "test: [\"CMD\", \"virgil",
            ]
            .iter()
            .any(|marker| line.contains(marker));
            for token in line.split(|c: char| !word(c)).filter(|t| !t.is_empty()) {
                if let Some(flag) = token.strip_prefix("--").filter(|_| runs_ours) {
                    let known = helps.contains(&format!("--{flag}")) || flag == "version";
                    assert!(known, "{}: unknown flag --{flag}", file.display());
                }
                if token.starts_with("VIRGIL_") {
                    assert!(
                        helps.contains(token) || secrets.contains(&token),
                        "{}: unknown variable {token}",
                        file.display()
                    );
                }
                if token.starts_with("virgil-") && !token.ends_with(".service") {
                    let crate_dir = root.join("crates").join(token);
                    let binary = token == "virgil-cards-service" || token == "virgil-app-server";
                    assert!(
                        binary || crate_dir.is_dir(),
                        "{}: no binary or crate {token}",
                        file.display()
                    );
                }
            }
            // Every server is started with `serve`.
            for binary in ["virgil-cards-service", "virgil-app-server"] {
                if line.contains(&format!("{binary} ")) && line.contains("ExecStart") {
                    assert!(line.contains(&format!("{binary} serve --config")), "{line}");
                }
            }
        }
    }
    // Published ports match the listen addresses the containers are given.
    let compose = std::fs::read_to_string(root.join("deploy/compose.yaml")).unwrap();
    for (variable, port) in [
        ("VIRGIL_CARDS_LISTEN", "8080"),
        ("VIRGIL_APP_LISTEN", "8081"),
    ] {
        assert!(
            compose.contains(&format!("{variable}: 0.0.0.0:{port}")),
            "{variable}"
        );
        assert!(
            compose.contains(&format!("\"{port}:{port}\"")),
            "port {port}"
        );
    }
    let dockerfile = std::fs::read_to_string(root.join("deploy/Dockerfile")).unwrap();
    assert!(dockerfile.contains("EXPOSE 8080 8081") && dockerfile.contains("USER virgil"));
    // The build context (the repository, `COPY . .`) leaves out build products and a
    // deployment's secrets: docker is not on these machines, so the patterns are checked.
    let ignored = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    let patterns: Vec<&str> = ignored
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .collect();
    for needed in ["/target", "/.git", "/deploy/local", "**/*.key", "**/*.db"] {
        assert!(patterns.contains(&needed), ".dockerignore lacks {needed}");
    }
}

/// Issue 15: `--suite pq` keys, the suite shown by `key show`/`key list`/`encrypt`, and
/// `encrypt --require-pq` refusing a classic recipient before writing anything.
#[test]
fn post_quantum_keys_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Offline::in_dir(dir.path());
    let run = |args: &[&str]| cli.run(args);
    let ok = |args: &[&str]| cli.ok(args);
    let made = ok(&["key", "generate", "alice", "--suite", "pq"]);
    assert!(text(&made.stdout).contains("suite pq (post-quantum)"));
    ok(&["key", "generate", "bob"]);
    assert!(text(&ok(&["key", "show", "alice"]).stdout).contains("suite:     pq (post-quantum)"));
    assert!(text(&ok(&["key", "show", "bob"]).stdout).contains("suite:     classic"));
    let listed: serde_json::Value =
        serde_json::from_slice(&ok(&["key", "list", "--json"]).stdout).unwrap();
    let suites: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["suite"].as_str().unwrap())
        .collect();
    assert_eq!(suites, ["pq", "classic"]);
    let alice = text(&ok(&["key", "export-public", "alice"]).stdout);
    assert_eq!(
        alice.trim().len(),
        4 + 1668,
        "vpk: and 1251 bytes of base64"
    );
    std::fs::write(dir.path().join("alice.pub"), &alice).unwrap();
    ok(&["key", "export-public", "bob", "-o", "bob.pub"]);
    std::fs::write(dir.path().join("m.txt"), "harvest now, decrypt never").unwrap();

    let refused = run(&[
        "encrypt",
        "--require-pq",
        "--to",
        "alice.pub",
        "--to",
        "bob.pub",
        "-i",
        "m.txt",
        "-o",
        "m.virgil",
    ]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("is a classic (suite-1) key; nothing was encrypted"));
    assert!(!dir.path().join("m.virgil").exists());
    // The signer's own copy is a recipient too: classic bob signing for post-quantum
    // alice is refused, unless he keeps no copy (--no-self).
    let own = run(&[
        "encrypt",
        "--require-pq",
        "--to",
        "alice.pub",
        "--sign-with",
        "bob",
        "-i",
        "m.txt",
        "-o",
        "own.virgil",
    ]);
    assert!(!own.status.success());
    assert!(
        text(&own.stderr).contains("your own key"),
        "{}",
        text(&own.stderr)
    );
    assert!(!dir.path().join("own.virgil").exists());
    ok(&[
        "encrypt",
        "--require-pq",
        "--to",
        "alice.pub",
        "--sign-with",
        "bob",
        "--no-self",
        "-i",
        "m.txt",
        "-o",
        "own.virgil",
    ]);

    let sent = ok(&[
        "encrypt",
        "--require-pq",
        "--to",
        "alice.pub",
        "-i",
        "m.txt",
        "-o",
        "m.virgil",
    ]);
    assert!(
        text(&sent.stderr).contains("(pq; a bare key"),
        "{}",
        text(&sent.stderr)
    );
    ok(&[
        "decrypt",
        "--key",
        "alice",
        "--allow-unsigned",
        "-i",
        "m.virgil",
        "-o",
        "out.txt",
    ]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "harvest now, decrypt never"
    );
    // Mixed recipients without the flag: both read it.
    ok(&[
        "encrypt",
        "--to",
        "alice.pub",
        "--to",
        "bob.pub",
        "-i",
        "m.txt",
        "-o",
        "mixed.virgil",
    ]);
    for key in ["alice", "bob"] {
        let out = format!("{key}.out");
        ok(&[
            "decrypt",
            "--key",
            key,
            "--allow-unsigned",
            "-i",
            "mixed.virgil",
            "-o",
            &out,
        ]);
    }
}

/// Issue 15: an operator's `require_post_quantum = true` in client.toml makes every
/// client refuse classic cards, for `send` and `encrypt` alike (exit 3, nothing sent or
/// written), while post-quantum users keep talking.
#[test]
fn a_deployment_can_require_post_quantum_recipients() {
    let deployment = Deployment::start();
    deployment.onboard("bob");
    for user in ["alice", "carol"] {
        assert!(
            deployment
                .ok(user, &["key", "generate", user, "--suite", "pq"])
                .contains("pq (post-quantum)")
        );
        deployment.ok(user, &["register", user]);
        deployment.ok(user, &["login", user]);
        deployment.ok(user, &["card", "publish"]);
    }
    let found = deployment.ok("alice", &["card", "find", "carol", "bob"]);
    assert!(found.contains(" (pq)  published"), "{found}");
    assert!(found.contains(" (classic)  published"), "{found}");
    deployment.ok_with("alice", &["send", "bob"], Some(b"before the rule"));

    let rules = std::fs::read_to_string(&deployment.client_config).unwrap();
    std::fs::write(
        &deployment.client_config,
        format!("{rules}require_post_quantum = true\n"),
    )
    .unwrap();
    let said = deployment.fails_with("alice", &["send", "bob"], Some(b"secret"), 3);
    assert!(said.contains("is a classic (suite-1) key"), "{said}");
    std::fs::write(deployment.path("note.txt"), "secret").unwrap();
    let said = deployment.fails(
        "alice",
        &["encrypt", "--to", "bob", "-o", "note.virgil", "note.txt"],
        3,
    );
    assert!(said.contains("nothing was encrypted"), "{said}");
    assert!(!deployment.path("note.virgil").exists());
    deployment.ok_with("alice", &["send", "carol"], Some(b"pq only"));
    assert!(deployment.ok("carol", &["inbox"]).contains("pq only"));
    assert!(!deployment.ok("bob", &["inbox"]).contains("secret"));
}

/// `virgil audit` verifies every epoch append-only, remembers where it stopped, goes on
/// from there, and compares another auditor's or a device's checkpoint; a second root
/// signed for an epoch (the service key showing two views) is an ALARM, exit 3.
#[test]
fn the_key_directory_is_audited_and_compared() {
    let deployment = Deployment::start();
    deployment.onboard("alice");
    let first = deployment.ok("auditor", &["audit"]);
    assert!(first.contains("verified append-only"), "{first}");
    let state = deployment.path("auditor").join("audit.checkpoint");
    let read = |path: &std::path::Path| {
        virgil::card::checkpoint::SignedCheckpoint::from_bytes(&std::fs::read(path).unwrap())
            .unwrap()
    };
    let audited = read(&state).checkpoint.epoch;
    assert!(audited >= 1);

    deployment.onboard("bob");
    let again = deployment.ok("auditor", &["audit"]);
    let latest = read(&state).checkpoint.epoch;
    assert!(latest > audited, "{again}");
    assert!(
        again.contains(&format!("({} new)", latest - audited)),
        "{again}"
    );
    // From epoch 1 into another file: the same chain.
    let other = deployment.path("other.checkpoint");
    deployment.ok(
        "auditor",
        &["audit", "--from", "1", "--state", other.to_str().unwrap()],
    );
    assert_eq!(read(&other), read(&state));

    // A device's view (bob's lookups kept its newest checkpoint) agrees.
    deployment.ok_with("bob", &["send", "alice"], Some(b"hi"));
    let device = deployment
        .path("bob")
        .join("keys")
        .join("directory.checkpoint");
    let compared = deployment.ok("auditor", &["audit", "--compare", device.to_str().unwrap()]);
    assert!(compared.contains("is the same directory"), "{compared}");

    // The service key signs another root for an audited epoch: shown to someone else,
    // it is caught when their file is compared.
    let (_, service_key) = virgil_keystore::key_file::open(
        &deployment.dir.path().join("local").join("service.key"),
        None,
    )
    .unwrap();
    let mut forked = read(&state).checkpoint;
    forked.root[0] ^= 1;
    let forked_file = deployment.path("forked.checkpoint");
    std::fs::write(&forked_file, forked.sign(&service_key).to_bytes()).unwrap();
    let alarm = deployment.fails(
        "auditor",
        &["audit", "--compare", forked_file.to_str().unwrap()],
        3,
    );
    assert!(
        alarm.contains("signed two different directories"),
        "{alarm}"
    );
    // And an auditor whose own record was of the other view is alarmed by the chain.
    std::fs::copy(&forked_file, &state).unwrap();
    let alarm = deployment.fails("auditor", &["audit"], 3);
    assert!(alarm.contains("forked"), "{alarm}");
    // The same for a record of an older epoch: the chain from it starts elsewhere.
    let mut older = read(&other).checkpoint;
    older.epoch = 1;
    older.root = [7; 32];
    std::fs::write(&state, older.sign(&service_key).to_bytes()).unwrap();
    let alarm = deployment.fails("auditor", &["audit"], 3);
    assert!(alarm.contains("forked at epoch 1"), "{alarm}");
}

/// The verification code carries each device's newest directory checkpoint: comparing
/// codes in person checks the safety number and that both devices see one directory
/// (the same checkpoint, or epochs on one append-only chain); a second root signed for
/// an epoch is an ALARM, exit 3.
#[test]
fn comparing_verification_codes_is_also_a_fork_check() {
    let deployment = Deployment::start();
    deployment.onboard("alice");
    deployment.onboard("bob");
    let code_of = |user: &str, contact: &str| {
        let shown = deployment.ok(user, &["contact", "verify", contact]);
        shown
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("virgil-verify:1:"))
            .unwrap_or_else(|| panic!("{shown}"))
            .to_owned()
    };
    let alices = code_of("alice", "bob");
    let matched = deployment.ok("bob", &["contact", "verify", "alice", "--code", &alices]);
    assert!(
        matched.contains("the safety numbers match")
            && matched.contains("both devices see one key directory"),
        "{matched}"
    );
    // A second root for the very epoch bob holds (shown to alice): caught at once.
    let (_, service_key) = virgil_keystore::key_file::open(
        &deployment.dir.path().join("local").join("service.key"),
        None,
    )
    .unwrap();
    let bobs = virgil::card::VerificationCode::parse(&code_of("bob", "alice")).unwrap();
    let mut same_epoch = bobs.checkpoint.clone().unwrap().checkpoint;
    same_epoch.root = [8; 32];
    let forked_now = virgil::card::VerificationCode {
        number: bobs.number.clone(),
        checkpoint: Some(same_epoch.sign(&service_key)),
    }
    .encode();
    let alarm = deployment.fails(
        "bob",
        &["contact", "verify", "alice", "--code", &forked_now],
        3,
    );
    assert!(
        alarm.contains("signed two different directories"),
        "{alarm}"
    );
    // Bob's view moves on (carol joins, bob looks her up); alice's older code still
    // checks out: both epochs are on one chain.
    deployment.onboard("carol");
    deployment.ok_with("bob", &["send", "carol"], Some(b"hi"));
    let later = deployment.ok("bob", &["contact", "verify", "alice", "--code", &alices]);
    assert!(later.contains("on one append-only chain"), "{later}");

    // Alice was shown another directory for her epoch (the service key signed a second
    // root): comparing codes in person catches it.
    let code = virgil::card::VerificationCode::parse(&alices).unwrap();
    let mut shown_to_alice = code.checkpoint.clone().unwrap().checkpoint;
    shown_to_alice.root = [9; 32];
    let forked = virgil::card::VerificationCode {
        number: code.number.clone(),
        checkpoint: Some(shown_to_alice.sign(&service_key)),
    }
    .encode();
    let alarm = deployment.fails("bob", &["contact", "verify", "alice", "--code", &forked], 3);
    assert!(
        alarm.contains("signed two different directories"),
        "{alarm}"
    );

    // Another number: refused whatever the directory says.
    let other_number = alices.replacen("virgil-verify:1:", "virgil-verify:1:1", 1);
    let other_number = format!(
        "virgil-verify:1:{}{}",
        &other_number["virgil-verify:1:".len()..][..60],
        &alices["virgil-verify:1:".len() + 60..]
    );
    let differ = deployment.fails(
        "bob",
        &["contact", "verify", "alice", "--code", &other_number],
        3,
    );
    assert!(differ.contains("the safety numbers differ"), "{differ}");
}
