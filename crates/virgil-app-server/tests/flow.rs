//! The application server with a real cards service, both on 127.0.0.1: register, log
//! in, approve and publish a card, relay a signed and encrypted message, and the errors.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use virgil_app_server::server::{AppServer, SessionResponse, router as app_router};
use virgil_app_server::store::AppStore;
use virgil_card::api::CardResponse;
use virgil_card::{CardRequest, Signer, Verifier, token};
use virgil_cards_service::testing::spawn_service;
use virgil_client::CardsClient;
use virgil_crypto::{PrivateKey, envelope};

const APP: u8 = 100;
const SERVICE: u8 = 101;

fn key(n: u8) -> PrivateKey {
    PrivateKey::from_seed(&[n; 32]).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn verifier() -> Verifier {
    Verifier::new()
        .trust_service(key(SERVICE).public_key().clone())
        .trust_app("chat", key(APP).public_key().clone())
}

/// Starts both servers; returns (cards service URL, app server URL).
fn start(dir: &std::path::Path) -> (String, String) {
    let cards_db = format!("sqlite://{}?mode=rwc", dir.join("cards.db").display());
    let app_db = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let cards_url = spawn_service(
        &cards_db,
        key(SERVICE),
        &[("chat", key(APP).public_key().clone())],
    );
    let (sender, receiver) = std::sync::mpsc::channel();
    let client_url = cards_url.clone();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let client = CardsClient::builder(&client_url, verifier())
                    .token_source(|| Ok(token::issue(&key(APP), "chat", "chat", now(), 300)))
                    .build();
                let app = Arc::new(AppServer::new(
                    AppStore::connect(&app_db).await.unwrap(),
                    "chat",
                    key(APP),
                    client,
                    1_000,
                ));
                let app_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                sender
                    .send(format!("http://{}", app_listener.local_addr().unwrap()))
                    .unwrap();
                axum::serve(app_listener, app_router(app)).await.unwrap();
            });
    });
    (
        cards_url,
        receiver.recv_timeout(Duration::from_secs(10)).unwrap(),
    )
}

fn call(method: &str, url: &str, bearer: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let response = if method == "GET" {
        let mut request = agent.get(url);
        if let Some(auth) = &auth {
            request = request.header("Authorization", auth);
        }
        request.call()
    } else {
        let mut request = agent.post(url);
        if let Some(auth) = &auth {
            request = request.header("Authorization", auth);
        }
        request.send_json(body.unwrap_or(Value::Null))
    };
    let mut response = response.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_json().unwrap_or(Value::Null),
    )
}

fn login(app: &str, user: &str, password: &str) -> SessionResponse {
    let (status, body) = call(
        "POST",
        &format!("{app}/v1/sessions"),
        None,
        Some(json!({"username": user, "password": password})),
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

#[test]
fn register_login_publish_and_relay() {
    let dir = tempfile::tempdir().unwrap();
    let (cards_url, app) = start(dir.path());
    for user in ["alice", "bob"] {
        let (status, body) = call(
            "POST",
            &format!("{app}/v1/users"),
            None,
            Some(json!({"username": user, "password": "correct horse"})),
        );
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = call(
        "POST",
        &format!("{app}/v1/users"),
        None,
        Some(json!({"username": "alice", "password": "another one"})),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("username_taken"))
    );
    let (status, body) = call(
        "POST",
        &format!("{app}/v1/sessions"),
        None,
        Some(json!({"username": "alice", "password": "wrong password"})),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    let alice = login(&app, "alice", "correct horse");
    let bob = login(&app, "bob", "correct horse");

    // Cards: each user's device makes a key and a request; the server approves and publishes.
    let (alice_key, bob_key) = (key(1), key(2));
    for (session, name, user_key) in [(&alice, "alice", &alice_key), (&bob, "bob", &bob_key)] {
        let request = CardRequest::new(name, "chat").sign(user_key).unwrap();
        let (status, body) = call(
            "POST",
            &format!("{app}/v1/cards"),
            Some(&session.session_token),
            Some(json!({"card": request.export()})),
        );
        assert_eq!(status, 201, "{body}");
        let published = serde_json::from_value::<CardResponse>(body)
            .unwrap()
            .card
            .into_card()
            .unwrap();
        verifier().verify(&published).unwrap();
        assert!(
            published
                .signature_by(&Signer::App("chat".into()))
                .is_some()
        );
    }
    let forged = CardRequest::new("bob", "chat").sign(&key(3)).unwrap();
    let (status, body) = call(
        "POST",
        &format!("{app}/v1/cards"),
        Some(&alice.session_token),
        Some(json!({"card": forged.export()})),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("wrong_identity"))
    );
    let (status, body) = call(
        "POST",
        &format!("{app}/v1/cards"),
        Some("not-a-session"),
        Some(json!({"card": forged.export()})),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_session"))
    );

    // Alice finds Bob's card with her access token, signs then encrypts, sends via the relay.
    let alice_client = CardsClient::builder(&cards_url, verifier())
        .token_source({
            let token = alice.access_token.clone();
            move || Ok(token.clone())
        })
        .build();
    let bob_card = alice_client.search(&["bob"], None).unwrap().remove(0).card;
    let cipher = envelope::sign_then_encrypt(
        b"Hey Bob, how's it going?",
        &alice_key,
        &[bob_card.public_key(), alice_key.public_key()],
    )
    .unwrap();
    let text = virgil_crypto::encoding::to_base64(&cipher);
    let (status, body) = call(
        "POST",
        &format!("{app}/v1/messages"),
        Some(&alice.session_token),
        Some(json!({"to": "bob", "body": text})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        "POST",
        &format!("{app}/v1/messages"),
        Some(&alice.session_token),
        Some(json!({"to": "nobody", "body": text})),
    );
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_user")));

    // Bob fetches his inbox, decrypts and verifies against Alice's card.
    let (status, body) = call(
        "GET",
        &format!("{app}/v1/messages"),
        Some(&bob.session_token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["from"], "alice");
    let alice_card = alice_client
        .search(&["alice"], None)
        .unwrap()
        .remove(0)
        .card;
    let received =
        virgil_crypto::encoding::from_base64(messages[0]["body"].as_str().unwrap()).unwrap();
    let message =
        envelope::decrypt_then_verify(&received, &bob_key, &[alice_card.public_key()]).unwrap();
    assert_eq!(message.plaintext, b"Hey Bob, how's it going?");
    let cursor = body["next_cursor"].as_i64().unwrap();
    let (_, body) = call(
        "GET",
        &format!("{app}/v1/messages?after={cursor}"),
        Some(&bob.session_token),
        None,
    );
    assert!(body["messages"].as_array().unwrap().is_empty());
    let (_, body) = call(
        "GET",
        &format!("{app}/v1/messages"),
        Some(&alice.session_token),
        None,
    );
    assert!(
        body["messages"].as_array().unwrap().is_empty(),
        "alice's inbox is hers alone"
    );
}

#[test]
fn failed_logins_are_rate_limited_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let (_, app) = start(dir.path());
    call(
        "POST",
        &format!("{app}/v1/users"),
        None,
        Some(json!({"username": "carol", "password": "correct horse"})),
    );
    for _ in 0..5 {
        let (status, _) = call(
            "POST",
            &format!("{app}/v1/sessions"),
            None,
            Some(json!({"username": "carol", "password": "guess guess"})),
        );
        assert_eq!(status, 401);
    }
    let (status, body) = call(
        "POST",
        &format!("{app}/v1/sessions"),
        None,
        Some(json!({"username": "carol", "password": "correct horse"})),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts"))
    );
    let (status, body) = call(
        "POST",
        &format!("{app}/v1/users"),
        None,
        Some(json!({"username": "a/b", "password": "correct horse"})),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_username"))
    );
}
