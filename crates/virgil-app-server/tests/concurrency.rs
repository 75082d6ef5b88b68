//! Many writers at once, through the real app server: concurrent registrations and
//! logins queue instead of failing (SQLite and PostgreSQL), and replicas starting
//! together on a fresh PostgreSQL database all come up.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use virgil_app_server::store::AppStore;
use virgil_card::Verifier;
use virgil_client::AppClient;
use virgil_testkit::servers::{RelayQuota, spawn_deployment};

const USERS: usize = 16;

fn concurrent_accounts_all_succeed(dir: &std::path::Path, app_db: &str) {
    let (_, app_url) = spawn_deployment(
        &format!("sqlite://{}?mode=rwc", dir.join("cards.db").display()),
        app_db,
        RelayQuota::default(),
    );
    let failures = virgil_testkit::all_at_once(USERS, |user| {
        let app = AppClient::new(&app_url, Verifier::new());
        let name = format!("user-{user}");
        let mut failures = Vec::new();
        if let Err(e) = app.register(&name, "correct horse") {
            failures.push(format!("register: {e}"));
        }
        for _ in 0..4 {
            if let Err(e) = app.login(&name, "correct horse") {
                failures.push(format!("login: {e}"));
            }
        }
        failures
    });
    virgil_testkit::assert_none_failed(&failures, USERS * 5, "concurrent account writes");
}

#[test]
fn concurrent_accounts_queue_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let app_db = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    concurrent_accounts_all_succeed(dir.path(), &app_db);
}

#[test]
fn concurrent_accounts_queue_on_postgres() {
    let database = virgil_testkit::postgres_or_skip!(concurrent_accounts_queue_on_postgres);
    let dir = tempfile::tempdir().unwrap();
    concurrent_accounts_all_succeed(dir.path(), database.url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_start_together_on_a_fresh_postgres_database() {
    for _ in 0..3 {
        let database =
            virgil_testkit::postgres_or_skip!(replicas_start_together_on_a_fresh_postgres_database);
        let url = database.url();
        let (a, b, c) = tokio::join!(
            AppStore::connect(url),
            AppStore::connect(url),
            AppStore::connect(url)
        );
        for (replica, result) in [a, b, c].into_iter().enumerate() {
            if let Err(e) = result {
                panic!("replica {replica} did not start: {e}");
            }
        }
    }
}

/// POSTs a login from `source` (a loopback address of its own); returns the status.
async fn login_from(source: &str, app_url: &str, username: &str, password: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address: std::net::SocketAddr = app_url.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    let request = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0)
}

/// 40 concurrent wrong passwords from a stranger's address: at most 5 are checked (the
/// rest get 429 before any password work), and the user still logs in from their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_are_limited_and_do_not_lock_the_user_out() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let (_, app_url) = spawn_deployment(
        &sqlite("cards.db"),
        &sqlite("app.db"),
        RelayQuota::default(),
    );
    let app = AppClient::new(&app_url, Verifier::new());
    tokio::task::spawn_blocking({
        let app_url = app_url.clone();
        move || {
            AppClient::new(&app_url, Verifier::new())
                .register("bob", "correct horse")
                .unwrap()
        }
    })
    .await
    .unwrap();
    drop(app);

    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let app_url = app_url.clone();
            tokio::spawn(async move {
                login_from("127.0.0.2", &app_url, "bob", &format!("guess number {i}")).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let checked = statuses.iter().filter(|status| **status == 401).count();
    let refused = statuses.iter().filter(|status| **status == 429).count();
    assert!(
        checked <= 5,
        "{checked} passwords were checked: {statuses:?}"
    );
    assert_eq!(checked + refused, 40, "{statuses:?}");

    assert_eq!(
        login_from("127.0.0.2", &app_url, "bob", "correct horse").await,
        429,
        "the stranger's address is locked"
    );
    assert_eq!(
        login_from("127.0.0.1", &app_url, "bob", "correct horse").await,
        200,
        "bob's own address is not"
    );
    // A username that cannot exist is refused before any work or tracking.
    let long = "b".repeat(100_000);
    assert_eq!(
        login_from("127.0.0.3", &app_url, &long, "whatever").await,
        422
    );
}

/// One account cannot fill the relay's disk: over its hourly quota of messages or bytes
/// the relay answers 429 `relay_quota_exceeded`, and other senders are not affected.
#[test]
fn senders_are_held_to_their_relay_quota() {
    use virgil_api::ErrorCode;
    use virgil_client::ClientError;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let (_, app_url) = spawn_deployment(
        &sqlite("cards.db"),
        &sqlite("app.db"),
        RelayQuota {
            messages_per_hour: 3,
            bytes_per_hour: 4_000,
        },
    );
    let app = AppClient::new(&app_url, Verifier::new());
    for user in ["mallory", "bob", "carol"] {
        app.register(user, "correct horse").unwrap();
    }
    let (mallory, carol) = (
        app.login("mallory", "correct horse").unwrap(),
        app.login("carol", "correct horse").unwrap(),
    );
    let refused = |result: Result<i64, ClientError>| {
        matches!(
            result,
            Err(ClientError::Api {
                status: 429,
                code: ErrorCode::RelayQuotaExceeded,
                ..
            })
        )
    };
    for _ in 0..3 {
        app.send_message(&mallory, "bob", b"spam").unwrap();
    }
    assert!(
        refused(app.send_message(&mallory, "bob", b"spam")),
        "a 4th message"
    );
    // Bytes count too: 3 100 bytes of ciphertext are over 4 000 of base64.
    assert!(
        refused(app.send_message(&carol, "bob", &[0u8; 3_100])),
        "too many bytes"
    );
    app.send_message(&carol, "bob", b"hello").unwrap();
}
