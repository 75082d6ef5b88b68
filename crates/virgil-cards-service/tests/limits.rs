//! The accept loop's limits, through the real service on 127.0.0.1: a client that sends
//! headers slowly (slowloris) or a body slowly is cut off, idle keep-alive connections
//! are closed, and connections over the cap are refused at once.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use virgil_server::runtime::ConnectionLimits;
use virgil_testkit::key;
use virgil_testkit::servers::spawn_cards_service_configured;

fn start(dir: &std::path::Path, limits: ConnectionLimits) -> String {
    start_configured(dir, limits, |service| service)
}

/// The service on SQLite in `dir`, its host and port; `configure` sets its limits.
fn start_configured(
    dir: &std::path::Path,
    limits: ConnectionLimits,
    configure: impl FnOnce(
        virgil_cards_service::server::Service,
    ) -> virgil_cards_service::server::Service
    + Send
    + 'static,
) -> String {
    let url = spawn_cards_service_configured(
        &format!("sqlite://{}?mode=rwc", dir.join("cards.db").display()),
        key(101),
        &[("chat", key(100).public_key().clone())],
        limits,
        configure,
    );
    url.trim_start_matches("http://").to_owned()
}

fn limits(header_seconds: u64, request_seconds: u64, connections: usize) -> ConnectionLimits {
    let mut limits = ConnectionLimits::default();
    limits.header_timeout = Duration::from_secs(header_seconds);
    limits.request_timeout = Duration::from_secs(request_seconds);
    limits.max_connections = connections;
    limits
}

/// Reads until the server closes the connection (or `patience` runs out: `None`);
/// returns what it sent and how long it took.
fn until_closed(stream: &mut TcpStream, patience: Duration) -> Option<(String, Duration)> {
    let started = Instant::now();
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => Some((
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            Some((String::new(), started.elapsed()))
        }
        Err(_) => None,
    }
}

#[test]
fn slow_headers_and_idle_connections_are_closed_within_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let address = start(dir.path(), limits(1, 30, 64));

    // Slowloris: half a request's headers, then nothing.
    let mut slow = TcpStream::connect(&address).unwrap();
    slow.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let closed = until_closed(&mut slow, Duration::from_secs(8));
    let (_, after) = closed.expect("a slowloris connection stayed open 8 s");
    assert!(
        after < Duration::from_secs(4),
        "closed only after {after:?}"
    );

    // Idle keep-alive: one request answered, then silence.
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (answer, after) =
        until_closed(&mut idle, Duration::from_secs(8)).expect("an idle connection stayed open");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        after < Duration::from_secs(4),
        "closed only after {after:?}"
    );
}

#[test]
fn a_slow_body_gets_408_within_the_request_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let address = start(dir.path(), limits(10, 1, 64));
    let mut slow = TcpStream::connect(&address).unwrap();
    slow.write_all(
        b"POST /v1/cards HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"card\":",
    )
    .unwrap();
    let (answer, after) =
        until_closed(&mut slow, Duration::from_secs(8)).expect("a slow body was waited for 8 s");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(
        after < Duration::from_secs(4),
        "answered only after {after:?}"
    );
}

/// At the cap, a new connection closes the one idle longest (here: stalled mid-headers,
/// no request in flight) instead of being refused, so connections held open cannot lock
/// everyone out.
#[test]
fn at_the_cap_the_connection_idle_longest_makes_room() {
    let dir = tempfile::tempdir().unwrap();
    let address = start(dir.path(), limits(20, 30, 4));
    // Four connections hold every slot, each mid-headers; the first is the oldest.
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).unwrap();
            stream.write_all(b"GET /v1/health HTTP/1.1\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = TcpStream::connect(&address).unwrap();
    fifth
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (answer, _) = until_closed(&mut fifth, Duration::from_secs(8)).expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The oldest held connection was closed to make room, at once and without an answer.
    let (answer, after) =
        until_closed(&mut held[0], Duration::from_secs(8)).expect("the oldest was closed");
    assert!(answer.is_empty(), "{answer}");
    assert!(
        after < Duration::from_secs(2),
        "closed only after {after:?}"
    );
}

/// An access token that claims to be valid for a century is refused (a stolen
/// application key cannot mint long-lived tokens); an hour's is accepted.
#[test]
fn access_tokens_valid_for_too_long_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let address = start(dir.path(), ConnectionLimits::default());
    let status_with = |ttl: u64| {
        let token =
            virgil_api::token::issue(&key(100), "chat", "alice", virgil_testkit::now(), ttl);
        let mut stream = TcpStream::connect(&address).unwrap();
        let body = r#"{"identities":["bob"]}"#;
        write!(
            stream,
            "POST /v1/cards/actions/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        until_closed(&mut stream, Duration::from_secs(8)).unwrap().0
    };
    let century = status_with(100 * 365 * 24 * 3600);
    assert!(century.starts_with("HTTP/1.1 401"), "{century}");
    assert!(century.contains("token_lifetime_too_long"), "{century}");
    let hour = status_with(3600);
    assert!(hour.starts_with("HTTP/1.1 200"), "{hour}");
}

/// One request on its own connection; the whole answer, header names lowercased.
fn request(address: &str, head: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{head}\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let (answer, _) = until_closed(&mut stream, Duration::from_secs(8)).unwrap();
    answer.to_ascii_lowercase()
}

/// A client that floods the service from one address gets 429 `rate_limited` with a
/// `Retry-After` once its burst is spent.
#[test]
fn a_client_over_its_rate_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut limits = ConnectionLimits::default();
    limits.per_client = virgil_server::rate_limit::Rate::new(60, 5);
    let address = start(dir.path(), limits);
    for _ in 0..5 {
        let answer = request(&address, "GET /v1/health HTTP/1.1", "");
        assert!(answer.starts_with("http/1.1 200"), "{answer}");
    }
    let answer = request(&address, "GET /v1/health HTTP/1.1", "");
    assert!(answer.starts_with("http/1.1 429"), "{answer}");
    assert!(answer.contains("\r\nretry-after: 1\r\n"), "{answer}");
    assert!(answer.contains("\"rate_limited\""), "{answer}");
}

/// One account's tokens over its rate get 429; another account of the same
/// application, and the application itself, are not held back by it.
#[test]
fn an_account_over_its_rate_gets_429_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let address = &start_configured(
        dir.path(),
        ConnectionLimits::without_rate_limit(),
        |service| service.with_account_rate(virgil_server::rate_limit::Rate::new(60, 3)),
    );
    let search_as = |subject: &str| {
        let token =
            virgil_api::token::issue(&key(100), "chat", subject, virgil_testkit::now(), 600);
        request(
            address,
            &format!("POST /v1/cards/actions/search HTTP/1.1\r\nAuthorization: Bearer {token}"),
            r#"{"identities":["bob"]}"#,
        )
    };
    for _ in 0..3 {
        let answer = search_as("alice");
        assert!(answer.starts_with("http/1.1 200"), "{answer}");
    }
    let answer = search_as("alice");
    assert!(answer.starts_with("http/1.1 429"), "{answer}");
    assert!(answer.contains("retry-after: "), "{answer}");
    assert!(answer.contains("this account"), "{answer}");
    let answer = search_as("bob");
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    for _ in 0..5 {
        let answer = search_as("chat");
        assert!(
            answer.starts_with("http/1.1 200"),
            "the application: {answer}"
        );
    }
}

/// Audits (the directory's most expensive answer, asked without a token) have their own
/// rate per client address: over it, 429 `rate_limited`, while the same address's other
/// requests are still answered.
#[test]
fn audits_over_their_rate_get_429_and_other_requests_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let address = &start_configured(
        dir.path(),
        ConnectionLimits::without_rate_limit(),
        |service| service.with_audit_rate(virgil_server::rate_limit::Rate::new(60, 3)),
    );
    let audit = || {
        request(
            address,
            "POST /v1/directory/actions/audit HTTP/1.1",
            r#"{"from":1,"to":2}"#,
        )
    };
    for _ in 0..3 {
        let answer = audit();
        assert!(!answer.starts_with("http/1.1 429"), "{answer}");
    }
    let answer = audit();
    assert!(answer.starts_with("http/1.1 429"), "{answer}");
    assert!(answer.contains("retry-after: "), "{answer}");
    assert!(answer.contains("this address (audits)"), "{answer}");
    let answer = request(address, "GET /v1/health HTTP/1.1", "");
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
}
