//! `virgil demo`: the seed tutorial, end to end, against real servers on loopback.

use serde_json::{Value, json};
use std::sync::Arc;
use virgil::{Buffer, Config, Encoding, Virgil};
use virgil_app_server::server::{AppServer, SessionResponse};
use virgil_app_server::store::AppStore;
use virgil_card::{CardId, Verifier, token};
use virgil_cards_service::auth::Applications;
use virgil_cards_service::server::Service;
use virgil_cards_service::store::CardStore;
use virgil_client::CardsClient;
use virgil_crypto::PrivateKey;

const APP_ID: &str = "demo-chat";
const PASSWORD: &str = "correct horse battery staple";
const MESSAGE: &str = "Hey Bob, how's it going?";

fn step(text: impl std::fmt::Display) {
    println!("  ✓ {text}");
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs())
}

fn err(context: &str) -> impl FnOnce(String) -> String + '_ {
    move |e| format!("{context}: {e}")
}

/// One JSON call to the app server; an error status is an error naming the code.
fn call(
    method: &str,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Result<Value, String> {
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
    let mut response = response.map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status();
    let value: Value = response
        .body_mut()
        .read_json()
        .map_err(|e| format!("{method} {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{method} {url}: {status} {value}"));
    }
    Ok(value)
}

/// Starts both servers on the runtime; returns their URLs.
fn start_servers(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    service_key: PrivateKey,
    app_key: PrivateKey,
) -> Result<(String, String), String> {
    let cards_db = format!("sqlite://{}?mode=rwc", dir.join("cards.db").display());
    let app_db = format!("sqlite://{}?mode=rwc", dir.join("app.db").display());
    let app_public = app_key.public_key().clone();
    let service_public = service_key.public_key().clone();
    runtime.block_on(async move {
        let mut applications = Applications::new();
        applications
            .register(APP_ID, app_public.clone())
            .map_err(|e| e.message)?;
        let store = CardStore::connect(&cards_db)
            .await
            .map_err(|e| e.to_string())?;
        let service = Arc::new(Service::new(store, service_key, applications));
        let cards_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let cards_url = format!(
            "http://{}",
            cards_listener.local_addr().map_err(|e| e.to_string())?
        );
        tokio::spawn(async move {
            axum::serve(
                cards_listener,
                virgil_cards_service::server::router(service),
            )
            .await
        });

        let verifier = Verifier::new()
            .trust_service(service_public)
            .trust_app(APP_ID, app_public);
        let signing_key = PrivateKey::from_seed(&app_key.to_seed()).map_err(|e| e.to_string())?;
        let client = CardsClient::builder(&cards_url, verifier)
            .token_source(move || Ok(token::issue(&signing_key, APP_ID, APP_ID, now(), 300)))
            .build();
        let app_store = AppStore::connect(&app_db)
            .await
            .map_err(|e| e.to_string())?;
        // 600 000 PBKDF2 iterations, as in production.
        let app = Arc::new(AppServer::new(app_store, APP_ID, app_key, client, 600_000));
        let app_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let app_url = format!(
            "http://{}",
            app_listener.local_addr().map_err(|e| e.to_string())?
        );
        tokio::spawn(async move {
            axum::serve(app_listener, virgil_app_server::server::router(app)).await
        });
        Ok((cards_url, app_url))
    })
}

/// Runs the demo.
pub(crate) fn run() -> Result<(), String> {
    println!("virgil demo: Alice sends Bob a signed, encrypted message through real servers\n");
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("runtime: {e}"))?;

    // Set up the servers.
    let service_key = PrivateKey::generate().map_err(|e| e.to_string())?;
    let app_key = PrivateKey::generate().map_err(|e| e.to_string())?;
    let (service_public, app_public) = (
        service_key.public_key().clone(),
        app_key.public_key().clone(),
    );
    step(format!(
        "generated the cards service key ({}) and the application key ({})",
        service_public.key_id(),
        app_public.key_id()
    ));
    let (cards_url, app_url) = start_servers(&runtime, dir.path(), service_key, app_key)?;
    step(format!(
        "cards service listening on {cards_url} (SQLite in {})",
        dir.path().display()
    ));
    step(format!("application server listening on {app_url}"));

    // Register users, log in, set up each device.
    let mut sessions = Vec::new();
    for user in ["alice", "bob"] {
        call(
            "POST",
            &format!("{app_url}/v1/users"),
            None,
            Some(json!({"username": user, "password": PASSWORD})),
        )?;
        let session: SessionResponse = serde_json::from_value(call(
            "POST",
            &format!("{app_url}/v1/sessions"),
            None,
            Some(json!({"username": user, "password": PASSWORD})),
        )?)
        .map_err(|e| e.to_string())?;
        step(format!(
            "{user} registered and logged in (session + cards-service access token)"
        ));
        sessions.push(session);
    }
    let device = |user: usize| -> Result<Virgil, String> {
        let access_token = sessions
            .get(user)
            .map(|s| s.access_token.clone())
            .ok_or("no session")?;
        Virgil::new(Config {
            cards_url: cards_url.clone(),
            service_key: service_public.clone(),
            app_id: APP_ID.to_owned(),
            app_key: app_public.clone(),
            key_dir: Some(dir.path().join(format!("device-{user}"))),
            tokens: Box::new(move || Ok(access_token.clone())),
        })
        .map_err(|e| e.to_string())
    };
    let (alice_device, bob_device) = (device(0)?, device(1)?);

    // Keys and cards.
    let mut card_ids: Vec<CardId> = Vec::new();
    for (index, (virgil, user)) in [(&alice_device, "alice"), (&bob_device, "bob")]
        .into_iter()
        .enumerate()
    {
        let key = virgil.keys().generate().map_err(|e| e.to_string())?;
        virgil
            .keys()
            .save(&key, user, Some(PASSWORD))
            .map_err(|e| e.to_string())?;
        let identity = virgil.identities().create_user(user);
        let request = virgil
            .cards()
            .create(&identity, &key)
            .map_err(|e| e.to_string())?;
        let session = sessions.get(index).ok_or("no session")?;
        let published = call(
            "POST",
            &format!("{app_url}/v1/cards"),
            Some(&session.session_token),
            Some(json!({"card": request.export()})),
        )
        .map_err(err("publishing the card"))?;
        let id: CardId = published
            .pointer("/card/id")
            .and_then(Value::as_str)
            .ok_or("no card id")?
            .parse()
            .map_err(|e| format!("{e}"))?;
        step(format!(
            "{user}: key generated and saved (password-locked), card {id} approved and published"
        ));
        card_ids.push(id);
    }
    let alice_card_id = *card_ids.first().ok_or("no card for alice")?;

    // Sign & encrypt, transmit.
    let alice_key = alice_device
        .keys()
        .load("alice", Some(PASSWORD))
        .map_err(|e| e.to_string())?;
    let bob_cards = alice_device
        .cards()
        .find(&["bob"])
        .map_err(|e| e.to_string())?;
    step(format!(
        "alice found and verified bob's card ({} card)",
        bob_cards.len()
    ));
    let cipher_text = alice_key
        .sign_then_encrypt(MESSAGE, &bob_cards)
        .map_err(|e| e.to_string())?
        .to_string(Encoding::Base64);
    let alice_session = sessions.first().ok_or("no session")?;
    call(
        "POST",
        &format!("{app_url}/v1/messages"),
        Some(&alice_session.session_token),
        Some(json!({"to": "bob", "body": cipher_text})),
    )?;
    step(format!(
        "alice signed, encrypted and sent {} bytes of ciphertext through the relay",
        cipher_text.len()
    ));

    // Decrypt & verify.
    let bob_session = sessions.get(1).ok_or("no session")?;
    let inbox = call(
        "GET",
        &format!("{app_url}/v1/messages"),
        Some(&bob_session.session_token),
        None,
    )?;
    let received = inbox
        .pointer("/messages/0/body")
        .and_then(Value::as_str)
        .ok_or("bob's inbox is empty")?;
    let bob_key = bob_device
        .keys()
        .load("bob", Some(PASSWORD))
        .map_err(|e| e.to_string())?;
    let alice_card = bob_device
        .cards()
        .get(&alice_card_id)
        .map_err(|e| e.to_string())?;
    let message = bob_key
        .decrypt_then_verify(
            &Buffer::from_string(received, Encoding::Base64).map_err(|e| e.to_string())?,
            &alice_card,
        )
        .map_err(|e| e.to_string())?
        .to_string(Encoding::Utf8);
    step("bob fetched the message, decrypted it and verified alice's signature against her card");
    if message != MESSAGE {
        return Err(format!("bob read {message:?}, expected {MESSAGE:?}"));
    }
    println!("\n  bob reads: \"{message}\"\n");
    runtime.shutdown_background();
    dir.close()
        .map_err(|e| format!("removing the temporary directory: {e}"))?;
    step("everything verified; servers stopped, temporary files removed");
    Ok(())
}
