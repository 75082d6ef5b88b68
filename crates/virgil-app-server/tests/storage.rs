//! The application server when its storage fails: a full SQLite database, a PostgreSQL
//! database that turns read-only and drops its connections. Every write path answers
//! success only for what it stored and 503 `storage_unavailable` (with `Retry-After`)
//! otherwise; health says *degraded* and metrics count it; once the storage is back the
//! server recovers without a restart, and every acknowledged write is there exactly
//! once. Also: sends are idempotent (a client-chosen `message_id`), and the inbox
//! cursor never skips a message under concurrent senders and several app servers.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use virgil_server::database::STORAGE_EPISODE;
use virgil_server::runtime::ConnectionLimits;
use virgil_testkit::http::{Answer, Raw};
use virgil_testkit::key;
use virgil_testkit::servers::{APP_ID, spawn_app_server_configured, spawn_cards_service};
use virgil_testkit::storage::{Fault, attempts, until_refused, until_stored};

/// The app server's calls, over [`Raw`].
trait AppCalls {
    fn register(&self, name: &str, password: &str) -> Answer;
    fn login(&self, name: &str, password: &str) -> Answer;
    fn session(&self, name: &str, password: &str) -> String;
    fn send(&self, token: &str, to: &str, body: &str, message_id: &str) -> Answer;
    fn inbox(&self, token: &str, after: i64) -> Vec<(i64, String)>;
}

impl AppCalls for Raw {
    fn register(&self, name: &str, password: &str) -> Answer {
        self.call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"username": name, "password": password})),
        )
    }

    fn login(&self, name: &str, password: &str) -> Answer {
        self.call(
            "POST",
            "/v1/sessions",
            None,
            Some(json!({"username": name, "password": password})),
        )
    }

    /// Logs in (which must work): the session token.
    fn session(&self, name: &str, password: &str) -> String {
        let answer = self.login(name, password);
        assert_eq!(answer.status, 200, "login {name}: {answer:?}");
        answer.body["session_token"].as_str().unwrap().to_owned()
    }

    fn send(&self, token: &str, to: &str, body: &str, message_id: &str) -> Answer {
        self.call(
            "POST",
            "/v1/messages",
            Some(token),
            Some(json!({"to": to, "body": body, "message_id": message_id})),
        )
    }

    /// Every message of the inbox after `after`, following the cursor: (place, body).
    fn inbox(&self, token: &str, mut after: i64) -> Vec<(i64, String)> {
        let mut messages = Vec::new();
        loop {
            let answer = self.call(
                "GET",
                &format!("/v1/messages?after={after}"),
                Some(token),
                None,
            );
            assert_eq!(answer.status, 200, "inbox: {answer:?}");
            let page = answer.body["messages"].as_array().unwrap();
            if page.is_empty() {
                return messages;
            }
            for message in page {
                messages.push((
                    message["id"].as_i64().unwrap(),
                    message["body"].as_str().unwrap().to_owned(),
                ));
            }
            after = answer.body["next_cursor"].as_i64().unwrap();
        }
    }
}

/// A message body (base64) of a few KiB, different for every `n`: each needs room of
/// its own in the database.
fn body(n: usize) -> String {
    let bytes: Vec<u8> = (0..3_000).map(|i| ((i * 31 + n * 7) % 251) as u8).collect();
    virgil_crypto::encoding::to_base64(&bytes)
}

/// Starts a cards service (SQLite, healthy) and `replicas` app servers over `app_db`,
/// without the per-account rate limit (the tests send and poll fast); returns the app
/// servers' URLs.
fn app_servers(dir: &std::path::Path, app_db: &str, replicas: usize) -> Vec<String> {
    let cards_url = spawn_cards_service(
        &format!("sqlite://{}?mode=rwc", dir.join("cards.db").display()),
        key(101),
        &[(APP_ID, key(100).public_key().clone())],
    );
    (0..replicas)
        .map(|_| {
            spawn_app_server_configured(
                app_db,
                &cards_url,
                APP_ID,
                key(100),
                key(101).public_key().clone(),
                ConnectionLimits::without_rate_limit(),
                |server| server.with_account_rate(None),
            )
        })
        .collect()
}

/// Every write path of the app server on a storage that breaks and heals.
fn nothing_acknowledged_is_lost(fault: &impl Fault, app_db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let app = Raw::new(&app_servers(dir.path(), app_db, 1)[0]);
    for user in ["alice", "bob", "dave"] {
        assert_eq!(app.register(user, "correct horse").status, 201);
    }
    let alice = app.session("alice", "correct horse");
    let bob = app.session("bob", "correct horse");
    let dave = app.session("dave", "correct horse");
    let mut sent: BTreeMap<String, String> = BTreeMap::new(); // message id -> body
    let mut places: BTreeMap<String, i64> = BTreeMap::new(); // message id -> place
    for n in 0..10 {
        let id = format!("before-{n:04}");
        let answer = app.send(&alice, "bob", &body(n), &id);
        assert_eq!(answer.status, 201, "{answer:?}");
        places.insert(id.clone(), answer.body["id"].as_i64().unwrap());
        sent.insert(id, body(n));
    }
    assert_eq!(app.health()["status"], "ok");

    fault.break_storage();

    // Relay: every acknowledged send is stored, at the place it was told.
    let (acked, refused_send) = until_refused("send", |n| {
        app.send(&alice, "bob", &body(1_000 + n), &format!("during-{n:04}"))
    });
    for (n, answer) in &acked {
        let id = format!("during-{n:04}");
        places.insert(id.clone(), answer.body["id"].as_i64().unwrap());
        sent.insert(id, body(1_000 + n));
    }
    let health = app.health();
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{health}"
    );
    // Accounts, sessions, passwords.
    let (registered, _) = until_refused("register", |n| {
        app.register(&format!("carol-{n}"), "correct horse")
    });
    let (logins, _) = until_refused("login", |_| app.login("alice", "correct horse"));
    // A new password hash takes no more room than the old one: a full disk may take
    // it, a read-only database must not.
    let most = if fault.refuses_every_write() { 300 } else { 5 };
    let (password, refused) = attempts("change password", most, |n| {
        let (current, new) = if n % 2 == 0 {
            ("correct horse", "battery staple")
        } else {
            ("battery staple", "correct horse")
        };
        app.call(
            "POST",
            "/v1/account/password",
            Some(&dave),
            Some(json!({"current_password": current, "new_password": new})),
        )
    });
    assert!(refused.is_some() || !fault.refuses_every_write());
    // Ending a session deletes a row: on a full SQLite database that may still work
    // (it needs no new page), on a read-only one it may not.
    let ended = app.call("DELETE", "/v1/sessions/current", Some(&bob), None);
    let bob_ended = ended.stored_or_refused("end a session");
    // Reads go on while writes fail.
    assert!(app.metric("virgil_storage_failures_total") >= 3);
    assert_eq!(app.metric("virgil_storage_degraded"), 1);

    fault.heal_storage();

    // Without a restart: the refused send, retried with its id, is stored once; an
    // acknowledged one, retried, answers its place again and stores nothing.
    let retried = format!("during-{refused_send:04}");
    let answer = until_stored("send after recovery", || {
        app.send(&alice, "bob", &body(1_000 + refused_send), &retried)
    });
    assert_eq!(answer.status, 201, "{answer:?}");
    places.insert(retried.clone(), answer.body["id"].as_i64().unwrap());
    sent.insert(retried, body(1_000 + refused_send));
    if let Some((n, first)) = acked.first() {
        let again = app.send(&alice, "bob", &body(1_000 + n), &format!("during-{n:04}"));
        assert_eq!((again.status, &again.body["id"]), (200, &first.body["id"]));
    }
    let answer = until_stored("register after recovery", || {
        app.register("erin", "correct horse")
    });
    assert_eq!(answer.status, 201);
    // Healthy again once STORAGE_EPISODE passes without a failure.
    let deadline = Instant::now() + STORAGE_EPISODE + Duration::from_secs(5);
    while app.health()["status"] != "ok" {
        assert!(Instant::now() < deadline, "still degraded after recovery");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(app.metric("virgil_storage_degraded"), 0);

    // Every acknowledged message exactly once, at its acknowledged place, in order.
    let reader = if bob_ended {
        app.session("bob", "correct horse")
    } else {
        bob.clone()
    };
    let inbox = app.inbox(&reader, 0);
    let mut expected: Vec<(i64, String)> = places
        .iter()
        .map(|(id, place)| (*place, sent[id].clone()))
        .collect();
    expected.sort();
    assert_eq!(
        inbox.len(),
        expected.len(),
        "messages stored != acknowledged"
    );
    assert_eq!(inbox, expected);
    let numbered: Vec<i64> = (1..=i64::try_from(inbox.len()).unwrap()).collect();
    assert_eq!(
        inbox.iter().map(|(place, _)| *place).collect::<Vec<_>>(),
        numbered
    );
    // Every acknowledged account, session and password change holds.
    for (n, _) in &registered {
        assert_eq!(
            app.login(&format!("carol-{n}"), "correct horse").status,
            200
        );
    }
    for (_, login) in &logins {
        let token = login.body["session_token"].as_str().unwrap();
        assert_eq!(
            app.call("GET", "/v1/sessions", Some(token), None).status,
            200
        );
    }
    let dave_password = if password.len() % 2 == 1 {
        "battery staple"
    } else {
        "correct horse"
    };
    assert_eq!(
        app.login("dave", dave_password).status,
        200,
        "dave's last acknowledged password"
    );
    // An acknowledged end of a session holds; a refused one left it alive.
    let old_bob = app.call("GET", "/v1/sessions", Some(&bob), None).status;
    assert_eq!(old_bob, if bob_ended { 401 } else { 200 });
}

virgil_testkit::storage_fault_tests!(nothing_acknowledged_is_lost, "app.db");

/// Senders at once, through `replicas` app servers over one database, while a reader
/// polls the recipient's inbox with the cursor: the reader gets every acknowledged
/// message exactly once, at the place its sender was told.
fn a_polling_reader_gets_every_message_once(app_db: &str, replicas: usize) {
    const SENDERS: usize = 16;
    const MESSAGES: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let apps: Vec<Raw> = app_servers(dir.path(), app_db, replicas)
        .iter()
        .map(|url| Raw::new(url))
        .collect();
    assert_eq!(apps[0].register("bob", "correct horse").status, 201);
    let senders: Vec<String> = (0..SENDERS)
        .map(|n| {
            let name = format!("sender-{n}");
            assert_eq!(apps[0].register(&name, "correct horse").status, 201);
            apps[n % replicas].session(&name, "correct horse")
        })
        .collect();
    let reader = apps[replicas - 1].session("bob", "correct horse");
    let sending = std::sync::atomic::AtomicBool::new(true);
    let (acked, read) = std::thread::scope(|scope| {
        let reading = scope.spawn(|| {
            let app = &apps[replicas - 1];
            let (mut cursor, mut read) = (0_i64, Vec::new());
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let done = !sending.load(std::sync::atomic::Ordering::SeqCst);
                let answer = app.call(
                    "GET",
                    &format!("/v1/messages?after={cursor}"),
                    Some(&reader),
                    None,
                );
                assert_eq!(answer.status, 200, "{answer:?}");
                let page = answer.body["messages"].as_array().unwrap();
                for message in page {
                    read.push((
                        message["id"].as_i64().unwrap(),
                        message["body"].as_str().unwrap().to_owned(),
                    ));
                }
                cursor = answer.body["next_cursor"].as_i64().unwrap();
                // Once every sender is done, one more empty page ends it.
                if done && page.is_empty() {
                    return read;
                }
                assert!(Instant::now() < deadline, "the reader never finished");
            }
        });
        let workers: Vec<_> = senders
            .iter()
            .enumerate()
            .map(|(n, token)| {
                let app = &apps[n % replicas];
                scope.spawn(move || {
                    (0..MESSAGES)
                        .map(|m| {
                            let body =
                                virgil_crypto::encoding::to_base64(format!("{n}/{m}").as_bytes());
                            let answer = app.send(token, "bob", &body, &format!("message-{n}-{m}"));
                            assert_eq!(answer.status, 201, "{answer:?}");
                            (answer.body["id"].as_i64().unwrap(), body)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let acked: Vec<(i64, String)> = workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect();
        sending.store(false, std::sync::atomic::Ordering::SeqCst);
        (acked, reading.join().unwrap())
    });
    let mut acked = acked;
    acked.sort();
    assert_eq!(acked.len(), SENDERS * MESSAGES);
    let mut seen = read.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), read.len(), "the reader got a message twice");
    let missed = acked
        .iter()
        .filter(|m| seen.binary_search(m).is_err())
        .count();
    assert_eq!(
        missed,
        0,
        "{missed} of {} acknowledged messages never reached the polling reader",
        acked.len()
    );
    assert_eq!(seen, acked);
}

#[test]
fn the_inbox_cursor_skips_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let app_db = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    a_polling_reader_gets_every_message_once(&app_db, 2);
}

#[test]
fn the_inbox_cursor_skips_nothing_on_postgres_with_two_app_servers() {
    let database = virgil_testkit::postgres_or_skip!(
        the_inbox_cursor_skips_nothing_on_postgres_with_two_app_servers
    );
    a_polling_reader_gets_every_message_once(database.url(), 2);
}

/// A send retried with its `message_id` (its answer was lost) is stored once and
/// answers the same place; the id reused for another message is refused.
#[test]
fn sends_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let app_db = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    let app = Raw::new(&app_servers(dir.path(), &app_db, 1)[0]);
    for user in ["alice", "bob", "carol"] {
        assert_eq!(app.register(user, "correct horse").status, 201);
    }
    let alice = app.session("alice", "correct horse");
    let bob = app.session("bob", "correct horse");
    let first = app.send(&alice, "bob", &body(1), "retry-me-0001");
    assert_eq!(first.status, 201, "{first:?}");
    let again = app.send(&alice, "bob", &body(1), "retry-me-0001");
    assert_eq!((again.status, &again.body), (200, &first.body));
    for (to, message) in [("bob", body(2)), ("carol", body(1))] {
        let reused = app.send(&alice, to, &message, "retry-me-0001");
        assert_eq!(
            (reused.status, reused.code()),
            (409, Some("message_id_reused")),
            "{reused:?}"
        );
    }
    // Another sender may use the same id: ids are per sender.
    let carol = app.session("carol", "correct horse");
    assert_eq!(
        app.send(&carol, "bob", &body(3), "retry-me-0001").status,
        201
    );
    for bad in ["short", "has space in it", &"x".repeat(65)] {
        let answer = app.send(&alice, "bob", &body(4), bad);
        assert_eq!(
            (answer.status, answer.code()),
            (422, Some("invalid_message")),
            "{bad}"
        );
    }
    let inbox = app.inbox(&bob, 0);
    assert_eq!(inbox, vec![(1, body(1)), (2, body(3))]);
}
