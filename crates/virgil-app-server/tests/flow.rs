//! The application server with a real cards service, both on 127.0.0.1: register, log
//! in, approve and publish a card, relay a signed and encrypted message, and the errors.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use virgil_api::ErrorCode;
use virgil_card::{CardRequest, Signer, Verifier};
use virgil_client::{AppClient, CardsClient, ClientError};
use virgil_crypto::envelope;
use virgil_testkit::key;
use virgil_testkit::servers::{RelayQuota, spawn_deployment};

const APP: u8 = 100;
const SERVICE: u8 = 101;

fn verifier() -> Verifier {
    Verifier::new()
        .trust_service(key(SERVICE).public_key().clone())
        .trust_app("chat", key(APP).public_key().clone())
}

fn sqlite(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(name).display())
}

/// Starts both servers (the app server on SQLite); returns (cards URL, app URL).
fn start(dir: &std::path::Path) -> (String, String) {
    start_on(dir, &sqlite(dir, "app.db"))
}

/// Starts both servers, the app server's database at `app_db`.
fn start_on(dir: &std::path::Path, app_db: &str) -> (String, String) {
    spawn_deployment(&sqlite(dir, "cards.db"), app_db, RelayQuota::default())
}

fn app(url: &str) -> AppClient {
    AppClient::new(url, verifier())
}

/// The typed error code of a failed call.
fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (u16, ErrorCode) {
    match result {
        Err(ClientError::Api { status, code, .. }) => (status, code),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn register_login_publish_and_relay_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    register_login_publish_and_relay(start(dir.path()));
}

#[test]
fn register_login_publish_and_relay_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let database = virgil_testkit::postgres_or_skip!(register_login_publish_and_relay_on_postgres);
    register_login_publish_and_relay(start_on(dir.path(), database.url()));
}

fn register_login_publish_and_relay((cards_url, app_url): (String, String)) {
    let app = app(&app_url);
    for user in ["alice", "bob"] {
        app.register(user, "correct horse").unwrap();
    }
    assert_eq!(
        code(app.register("alice", "another one")),
        (409, ErrorCode::UsernameTaken)
    );
    assert_eq!(
        code(app.login("alice", "wrong password")),
        (401, ErrorCode::InvalidCredentials)
    );
    let alice = app.login("alice", "correct horse").unwrap();
    let bob = app.login("bob", "correct horse").unwrap();

    // Cards: each user's device makes a key and a request; the server approves and publishes.
    let (alice_key, bob_key) = (key(1), key(2));
    for (session, name, user_key) in [(&alice, "alice", &alice_key), (&bob, "bob", &bob_key)] {
        let request = CardRequest::new(name, "chat").sign(user_key).unwrap();
        let published = app.submit_card(session, &request).unwrap();
        assert!(
            published
                .card
                .signature_by(&Signer::App("chat".into()))
                .is_some()
        );
    }
    // Attack: bob's password alone (a second login, no key of bob's) cannot add a card
    // for bob, as a rotation or as a new device: the cards service wants a link.
    let attacker = app.login("bob", "correct horse").unwrap();
    let bob_card = app
        .submit_card(
            &bob,
            &CardRequest::new("bob", "chat").sign(&bob_key).unwrap(),
        )
        .unwrap()
        .card;
    for replaces in [Some(*bob_card.id()), None] {
        let mut planted = CardRequest::new("bob", "chat");
        if let Some(previous) = replaces {
            planted = planted.replaces(previous);
        }
        let planted = planted.sign(&key(66)).unwrap();
        assert_eq!(
            code(app.submit_card(&attacker, &planted)),
            (409, ErrorCode::LinkRequired)
        );
    }
    // Bob's own second device, linked from his first card, goes in; the same key sent
    // again gives the card it already has, never a duplicate.
    let mut second_device = CardRequest::new("bob", "chat")
        .device("laptop", "Bob's laptop")
        .sign(&key(4))
        .unwrap();
    second_device.link_from(&bob_card, &bob_key).unwrap();
    let second = app.submit_card(&bob, &second_device).unwrap().card;
    assert_eq!(second.id(), second_device.id());
    let again = CardRequest::new("bob", "chat")
        .created_at(1)
        .sign(&bob_key)
        .unwrap();
    assert_eq!(
        app.submit_card(&bob, &again).unwrap().card.id(),
        bob_card.id()
    );
    let bobs_cards = CardsClient::builder(&cards_url, verifier())
        .token_source(|| {
            Ok(virgil_api::token::issue(
                &key(APP),
                "chat",
                "alice",
                virgil_testkit::now(),
                300,
            ))
        })
        .build()
        .search(&["bob"])
        .unwrap();
    assert_eq!(bobs_cards.len(), 2, "bob's two devices, no duplicate");

    let forged = CardRequest::new("bob", "chat").sign(&key(3)).unwrap();
    assert_eq!(
        code(app.submit_card(&alice, &forged)),
        (403, ErrorCode::WrongIdentity)
    );
    let other_app = CardRequest::new("alice", "other-app")
        .sign(&key(1))
        .unwrap();
    assert_eq!(
        code(app.submit_card(&alice, &other_app)),
        (403, ErrorCode::WrongApplication)
    );
    let mut stranger = alice.clone();
    stranger.session_token = "not-a-session".into();
    assert_eq!(
        code(app.submit_card(&stranger, &forged)),
        (401, ErrorCode::InvalidSession)
    );

    // A session gets fresh access tokens without the password (alice's search below uses
    // one), and only for a valid session.
    let refreshed = app.refresh_access_token(&alice).unwrap();
    assert!(refreshed.access_token_expires_at >= alice.access_token_expires_at);
    assert_eq!(
        code(app.refresh_access_token(&stranger)),
        (401, ErrorCode::InvalidSession)
    );

    // Sessions: listed (this one marked), ended one by one server-side.
    let laptop = app.login("alice", "correct horse").unwrap();
    let listed = app.sessions(&alice).unwrap().sessions;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed.iter().filter(|s| s.current).count(), 1);
    let other = listed.iter().find(|s| !s.current).unwrap().id.clone();
    app.end_session(&alice, &other).unwrap();
    assert_eq!(
        code(app.inbox(&laptop, 0)),
        (401, ErrorCode::InvalidSession),
        "an ended session's token stops working at once"
    );
    assert_eq!(
        code(app.end_session(&alice, &other)),
        (404, ErrorCode::SessionNotFound)
    );
    assert_eq!(
        code(app.end_session(&bob, "current'; --")),
        (404, ErrorCode::SessionNotFound)
    );
    let spare = app.login("alice", "correct horse").unwrap();
    app.end_session(&spare, "current").unwrap();
    assert_eq!(code(app.inbox(&spare, 0)), (401, ErrorCode::InvalidSession));
    assert_eq!(app.sessions(&alice).unwrap().sessions.len(), 1);

    // Alice finds Bob's card with her access token, signs then encrypts, sends via the relay.
    let alice_token = refreshed.access_token.clone();
    let alice_cards = CardsClient::builder(&cards_url, verifier())
        .token_source(move || Ok(alice_token.clone()))
        .build();
    let bob_card = alice_cards
        .search(&["bob"])
        .unwrap()
        .into_iter()
        .map(|found| found.card)
        .find(|card| card.public_key() == bob_key.public_key())
        .unwrap();
    let message = b"Hey Bob, how's it going?";
    let cipher = envelope::sign_then_encrypt(
        message,
        &alice_key,
        &[bob_card.public_key(), alice_key.public_key()],
    )
    .unwrap();
    app.send_message(&alice, "bob", &cipher).unwrap();
    assert_eq!(
        code(app.send_message(&alice, "nobody", &cipher)),
        (404, ErrorCode::UnknownUser)
    );

    // Bob fetches his inbox, decrypts and verifies against Alice's card.
    let inbox = app.inbox(&bob, 0).unwrap();
    assert_eq!(inbox.messages.len(), 1);
    assert_eq!(inbox.messages[0].from, "alice");
    let alice_card = alice_cards.search(&["alice"]).unwrap().remove(0).card;
    let received = virgil_crypto::encoding::from_base64(&inbox.messages[0].body).unwrap();
    let opened =
        envelope::decrypt_then_verify(&received, &bob_key, &[alice_card.public_key()]).unwrap();
    assert_eq!(opened.plaintext, message);
    assert!(
        app.inbox(&bob, inbox.next_cursor)
            .unwrap()
            .messages
            .is_empty()
    );
    assert!(
        app.inbox(&alice, 0).unwrap().messages.is_empty(),
        "alice's inbox is hers alone"
    );
}

#[test]
fn failed_logins_are_rate_limited_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let (_, app_url) = start(dir.path());
    let app = app(&app_url);
    app.register("carol", "correct horse").unwrap();
    for _ in 0..5 {
        assert_eq!(
            code(app.login("carol", "guess guess")),
            (401, ErrorCode::InvalidCredentials)
        );
    }
    assert_eq!(
        code(app.login("carol", "correct horse")),
        (429, ErrorCode::TooManyAttempts)
    );
    assert_eq!(
        code(app.register("a/b", "correct horse")),
        (422, ErrorCode::InvalidUsername)
    );
}

/// One logged-in account that floods the server gets 429 `rate_limited`; another
/// account is served as before.
#[test]
fn an_account_over_its_rate_gets_429_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let cards_url = virgil_testkit::servers::spawn_cards_service(
        &sqlite(dir.path(), "cards"),
        key(101),
        &[("chat", key(100).public_key().clone())],
    );
    let app_url = virgil_testkit::servers::spawn_app_server_configured(
        &sqlite(dir.path(), "app"),
        &cards_url,
        "chat",
        key(100),
        key(101).public_key().clone(),
        virgil_server::runtime::ConnectionLimits::default(),
        // Four at once, then one every 15 s: longer than a client waits out by itself
        // (`MAX_RETRY_AFTER`), so the fifth call hears the 429.
        |server| server.with_account_rate(virgil_server::rate_limit::Rate::new(4, 4)),
    );
    let app = app(&app_url);
    app.register("alice", "correct horse").unwrap();
    app.register("bob", "correct horse").unwrap();
    let alice = app.login("alice", "correct horse").unwrap();
    let bob = app.login("bob", "correct horse").unwrap();
    for _ in 0..4 {
        app.inbox(&alice, 0).unwrap();
    }
    assert_eq!(code(app.inbox(&alice, 0)), (429, ErrorCode::RateLimited));
    app.inbox(&bob, 0).unwrap();
}

fn http_get(url: &str) -> (u16, String) {
    let response = ureq::get(url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.into_body().read_to_string().unwrap())
}

#[test]
fn openapi_document_is_served_and_covers_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let (_, app_url) = start(dir.path());
    let (status, served) = http_get(&format!("{app_url}/v1/openapi.json"));
    assert_eq!(status, 200);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/api/app-server.openapi.json"
    ))
    .unwrap();
    assert_eq!(
        served, committed,
        "served /v1/openapi.json differs from docs/api/app-server.openapi.json"
    );
    let document: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let mut documented: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut routes = virgil_app_server::server::ROUTES.to_vec();
    documented.sort_unstable();
    routes.sort_unstable();
    assert_eq!(
        documented, routes,
        "every route is documented, and nothing else"
    );
}

#[test]
fn metrics_count_requests_users_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (_, app_url) = start(dir.path());
    let app = app(&app_url);
    app.register("dave", "correct horse").unwrap();
    let _ = app.login("dave", "wrong password");
    let (status, text) = http_get(&format!("{app_url}/metrics"));
    assert_eq!(status, 200);
    for expected in [
        "virgil_http_requests_total{route=\"/v1/users\",status=\"201\"} 1",
        "virgil_http_requests_total{route=\"/v1/sessions\",status=\"401\"} 1",
        "virgil_app_users 1",
        "virgil_app_messages 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn oversized_bodies_get_a_json_413() {
    let dir = tempfile::tempdir().unwrap();
    let (_, app_url) = start(dir.path());
    let body = vec![b'a'; virgil_app_server::server::MAX_BODY_BYTES + 1];
    let response = ureq::post(format!("{app_url}/v1/users"))
        .config()
        .http_status_as_error(false)
        .build()
        .header("content-type", "application/json")
        .send(&body[..])
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let error: serde_json::Value =
        serde_json::from_str(&response.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(error["code"], "body_too_large");
}

/// When the cards service asks the app server to wait (here: it rate-limits the
/// application), the user hears 503 `cards_service_busy` with a `Retry-After`, not a
/// refusal of the card (it was 422 `cards_service_refused`).
#[test]
fn an_upstream_rate_limit_passes_through_as_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    // One request a minute from the app server's address: its first publish passes,
    // the second is rate-limited with a Retry-After of a minute.
    let cards_url = virgil_testkit::servers::spawn_cards_service_configured(
        &sqlite(dir.path(), "cards.db"),
        key(SERVICE),
        &[("chat", key(APP).public_key().clone())],
        {
            let mut limits = virgil_server::runtime::ConnectionLimits::default();
            limits.per_client = virgil_server::rate_limit::Rate::new(1, 1);
            limits
        },
        |service| service,
    );
    let app_url = virgil_testkit::servers::spawn_app_server(
        &sqlite(dir.path(), "app.db"),
        &cards_url,
        "chat",
        key(APP),
        key(SERVICE).public_key().clone(),
        virgil_testkit::servers::RelayQuota::default(),
    );
    let app = app(&app_url);
    let mut answers = Vec::new();
    for (n, name) in ["alice", "bob"].into_iter().enumerate() {
        app.register(name, "correct horse").unwrap();
        let session = app.login(name, "correct horse").unwrap();
        let request = CardRequest::new(name, "chat")
            .sign(&key(u8::try_from(n).unwrap() + 1))
            .unwrap();
        answers.push(app.submit_card(&session, &request));
    }
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    match &answers[1] {
        Err(ClientError::Api {
            status: 503,
            code: ErrorCode::CardsServiceBusy,
            retry_after_seconds: Some(seconds),
            ..
        }) => assert!((1..=60).contains(seconds), "Retry-After {seconds}"),
        other => panic!("expected 503 cards_service_busy with Retry-After, got {other:?}"),
    }
}
