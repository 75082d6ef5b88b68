//! The HTTP API over real HTTP: the router on 127.0.0.1:0, driven with ureq, every test
//! once on SQLite (a temporary file) and once on PostgreSQL (a fresh database at
//! `VIRGIL_TEST_POSTGRES_URL`, dropped afterwards). Covers publish, idempotent re-publish, get, search, rotation,
//! revocation, tenants (two applications) and the error codes.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{Value, json};
use std::sync::Arc;
use virgil_api::cards::{CardResponse, CardStatus, SearchResponse};
use virgil_api::token;
use virgil_card::{Card, CardRequest, RevocationReason, RevocationRequest, Signer, Verifier};
use virgil_cards_service::auth::Applications;
use virgil_cards_service::server::{Service, router};
use virgil_cards_service::store::CardStore;
use virgil_crypto::encoding::to_base64;
use virgil_testkit::postgres::TempPostgres;
use virgil_testkit::{key, now};

const CHAT: u8 = 100; // app key of "chat"
const MAIL: u8 = 101; // app key of "mail"
const SERVICE: u8 = 102;

struct Server {
    base: String,
    _dir: tempfile::TempDir,
    _database: Option<TempPostgres>,
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A server on `backend`; `None` if the backend is PostgreSQL and it is unreachable
/// (the test is then skipped, visibly; see `virgil_testkit::postgres`).
async fn start(backend: Backend, test: &str) -> Option<Server> {
    let dir = tempfile::tempdir().unwrap();
    let (url, database) = match backend {
        Backend::Sqlite => (
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("cards.db").display()
            ),
            None,
        ),
        Backend::Postgres => {
            let database = TempPostgres::or_skip(test)?;
            (database.url().to_owned(), Some(database))
        }
    };
    let mut applications = Applications::new();
    applications
        .register("chat", key(CHAT).public_key().clone())
        .unwrap();
    applications
        .register("mail", key(MAIL).public_key().clone())
        .unwrap();
    let service = Arc::new(Service::new(
        CardStore::connect(&url).await.unwrap(),
        key(SERVICE),
        applications,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        virgil_server::runtime::serve(listener, router(service), std::future::pending())
            .await
            .unwrap()
    });
    Some(Server {
        base,
        _dir: dir,
        _database: database,
    })
}

fn token_for(app: &str, app_key: u8, subject: &str) -> String {
    token::issue(&key(app_key), app, subject, now(), 300)
}

/// One blocking HTTP call; returns the status and the JSON body.
async fn call(
    method: &'static str,
    url: String,
    token: Option<String>,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match (method, body) {
            ("GET", _) => {
                let mut request = agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            (_, body) => {
                let mut request = agent.post(&url).header("Content-Type", "application/json");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(&body.unwrap_or_default()[..])
            }
        };
        let mut response = response.unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    })
    .await
    .unwrap()
}

fn json_body(value: &impl serde::Serialize) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(value).unwrap())
}

/// A card request approved by `app` with the key `app_key`.
fn approved(identity: &str, app: &str, app_key: u8, owner: u8, replaces: Option<&Card>) -> Card {
    let mut request = CardRequest::new(identity, app);
    if let Some(previous) = replaces {
        request = request.replaces(*previous.id());
    }
    let mut card = request.sign(&key(owner)).unwrap();
    card.sign_as(Signer::App(app.into()), &key(app_key))
        .unwrap();
    card
}

fn code(body: &Value) -> &str {
    body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

async fn the_card_lifecycle_over_http(server: Server) {
    let chat = Some(token_for("chat", CHAT, "alice"));
    let cards = format!("{}/v1/cards", server.base);

    // Publish: 201 with the service signature; again: 200, same card.
    let alice = approved("alice", "chat", CHAT, 1, None);
    let (status, body) = call(
        "POST",
        cards.clone(),
        chat.clone(),
        json_body(&alice.to_json()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let published: CardResponse = serde_json::from_value(body).unwrap();
    let published_card = published.card.clone().into_card().unwrap();
    Verifier::new()
        .trust_app("chat", key(CHAT).public_key().clone())
        .trust_service(key(SERVICE).public_key().clone())
        .verify(&published_card)
        .unwrap();
    let (status, body) = call(
        "POST",
        cards.clone(),
        chat.clone(),
        json_body(&alice.to_json()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_value::<CardResponse>(body).unwrap().card,
        published.card
    );

    // Get and search.
    let (status, body) = call("GET", format!("{cards}/{}", alice.id()), chat.clone(), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_value::<CardResponse>(body).unwrap().status,
        CardStatus::Active
    );
    let bob = approved("bob", "chat", CHAT, 2, None);
    assert_eq!(
        call(
            "POST",
            cards.clone(),
            chat.clone(),
            json_body(&bob.to_json())
        )
        .await
        .0,
        201
    );
    let search = format!("{cards}/actions/search");
    let (status, body) = call(
        "POST",
        search.clone(),
        chat.clone(),
        json_body(&json!({"identities": ["alice", "bob", "nobody"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let found: SearchResponse = serde_json::from_value(body).unwrap();
    assert_eq!(found.cards.len(), 2);
    // Every card of a name, whatever its identity type: the old type filter is gone.
    let (_, body) = call(
        "POST",
        search.clone(),
        chat.clone(),
        json_body(&json!({"identities": ["alice"], "identity_type": "email"})),
    )
    .await;
    assert_eq!(
        serde_json::from_value::<SearchResponse>(body)
            .unwrap()
            .cards
            .len(),
        1
    );

    // Attack: with the application key alone (no key of alice's), a card for alice is
    // approved and sent in; the service refuses it, as a rotation and as a new device.
    for replaces in [Some(&alice), None] {
        let planted = approved("alice", "chat", CHAT, 66, replaces);
        let (status, body) = call(
            "POST",
            cards.clone(),
            chat.clone(),
            json_body(&planted.to_json()),
        )
        .await;
        assert_eq!((status, code(&body)), (409, "link_required"), "{body}");
    }

    // Rotation: search returns only the new card; get of the old one still works.
    let mut alice2 = approved("alice", "chat", CHAT, 3, Some(&alice));
    alice2.link_from(&alice, &key(1)).unwrap();
    assert_eq!(
        call(
            "POST",
            cards.clone(),
            chat.clone(),
            json_body(&alice2.to_json())
        )
        .await
        .0,
        201
    );
    let (_, body) = call(
        "POST",
        search.clone(),
        chat.clone(),
        json_body(&json!({"identities": ["alice"]})),
    )
    .await;
    let found: SearchResponse = serde_json::from_value(body).unwrap();
    assert_eq!(found.cards.len(), 1);
    assert_eq!(found.cards[0].card.id, *alice2.id());
    let (_, body) = call("GET", format!("{cards}/{}", alice.id()), chat.clone(), None).await;
    assert_eq!(
        serde_json::from_value::<CardResponse>(body).unwrap().status,
        CardStatus::Superseded { by: *alice2.id() }
    );
    let mut alice3 = approved("alice", "chat", CHAT, 4, Some(&alice));
    alice3.link_from(&alice2, &key(3)).unwrap();
    let (status, body) = call(
        "POST",
        cards.clone(),
        chat.clone(),
        json_body(&alice3.to_json()),
    )
    .await;
    assert_eq!((status, code(&body)), (409, "previous_card_not_active"));

    // Revocation, signed by the app key.
    let request = RevocationRequest {
        card_id: *bob.id(),
        reason: RevocationReason::Compromised,
        created_at: now(),
    };
    let revoke = json!({"request": to_base64(&request.to_bytes()), "signature": to_base64(request.sign(&key(CHAT)).as_bytes())});
    let revoke_url = format!("{cards}/{}/actions/revoke", bob.id());
    // Reason 2 (reset) is the service's own: refused, and the message says so (it said
    // "not valid base64" before).
    let mut reset_reason = request.to_bytes();
    reset_reason[37] = 2;
    let (status, body) = call(
        "POST",
        revoke_url.clone(),
        chat.clone(),
        json_body(
            &json!({"request": to_base64(&reset_reason), "signature": to_base64(&[0u8; 64])}),
        ),
    )
    .await;
    assert_eq!((status, code(&body)), (422, "invalid_revocation"));
    assert!(
        body["message"].as_str().unwrap().contains("reset"),
        "{body}"
    );
    let forged = json!({"request": to_base64(&request.to_bytes()), "signature": to_base64(request.sign(&key(MAIL)).as_bytes())});
    let (status, body) = call("POST", revoke_url.clone(), chat.clone(), json_body(&forged)).await;
    assert_eq!((status, code(&body)), (403, "bad_revocation_signature"));
    let (status, body) = call("POST", revoke_url.clone(), chat.clone(), json_body(&revoke)).await;
    assert_eq!(status, 200, "{body}");
    assert!(matches!(
        serde_json::from_value::<CardResponse>(body).unwrap().status,
        CardStatus::Revoked {
            reason: RevocationReason::Compromised,
            ..
        }
    ));
    let (status, body) = call("POST", revoke_url.clone(), chat.clone(), json_body(&revoke)).await;
    assert_eq!((status, code(&body)), (409, "card_already_revoked"));

    // Service key and health need no token.
    let (status, body) = call("GET", format!("{}/v1/service-key", server.base), None, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["key_id"], key(SERVICE).key_id().to_string());
    let (status, body) = call("GET", format!("{}/v1/health", server.base), None, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = call("GET", format!("{}/metrics", server.base), None, None).await;
    assert_eq!(status, 200);
    let text = body.as_str().unwrap();
    assert!(
        text.contains("virgil_http_requests_total{route=\"/v1/cards\",status=\"201\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("virgil_http_requests_total{route=\"/v1/cards\",status=\"409\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("virgil_http_request_duration_seconds_count{route=\"/v1/cards/{id}\"}"),
        "{text}"
    );
    assert!(text.contains("virgil_cards_stored 3"), "{text}");
}

async fn applications_are_tenants(server: Server) {
    let cards = format!("{}/v1/cards", server.base);
    let chat = Some(token_for("chat", CHAT, "alice"));
    let mail = Some(token_for("mail", MAIL, "alice"));
    let alice = approved("alice", "chat", CHAT, 1, None);
    assert_eq!(
        call(
            "POST",
            cards.clone(),
            chat.clone(),
            json_body(&alice.to_json())
        )
        .await
        .0,
        201
    );

    let (status, body) = call("GET", format!("{cards}/{}", alice.id()), mail.clone(), None).await;
    assert_eq!((status, code(&body)), (404, "card_not_found"));
    let (_, body) = call(
        "POST",
        format!("{cards}/actions/search"),
        mail.clone(),
        json_body(&json!({"identities": ["alice"]})),
    )
    .await;
    assert!(
        serde_json::from_value::<SearchResponse>(body)
            .unwrap()
            .cards
            .is_empty()
    );
    let other = approved("bob", "chat", CHAT, 2, None);
    let (status, body) = call(
        "POST",
        cards.clone(),
        mail.clone(),
        json_body(&other.to_json()),
    )
    .await;
    assert_eq!((status, code(&body)), (403, "wrong_application"));
    // A "chat" card approved by the mail app's key.
    let forged = approved("carol", "chat", MAIL, 3, None);
    let (status, body) = call("POST", cards, chat, json_body(&forged.to_json())).await;
    assert_eq!((status, code(&body)), (422, "card_verification_failed"));
}

async fn bad_requests_get_clear_error_codes(server: Server) {
    let cards = format!("{}/v1/cards", server.base);
    let alice = approved("alice", "chat", CHAT, 1, None);
    let body = json_body(&alice.to_json());

    // Tokens: missing, malformed, expired, unknown key, wrong issuer.
    let (status, b) = call("POST", cards.clone(), None, body.clone()).await;
    assert_eq!((status, code(&b)), (401, "missing_token"));
    let (status, b) = call(
        "POST",
        cards.clone(),
        Some("not.a.jwt".into()),
        body.clone(),
    )
    .await;
    assert_eq!((status, code(&b)), (401, "malformed_token"));
    let expired = token::issue(&key(CHAT), "chat", "alice", now() - 1000, 300);
    let (status, b) = call("POST", cards.clone(), Some(expired), body.clone()).await;
    assert_eq!((status, code(&b)), (401, "token_expired"));
    let unknown = token::issue(&key(77), "chat", "alice", now(), 300);
    let (status, b) = call("POST", cards.clone(), Some(unknown), body.clone()).await;
    assert_eq!((status, code(&b)), (401, "unknown_key"));
    let wrong_issuer = token::issue(&key(CHAT), "mail", "alice", now(), 300);
    let (status, b) = call("POST", cards.clone(), Some(wrong_issuer), body.clone()).await;
    assert_eq!((status, code(&b)), (401, "wrong_issuer"));
    // A token whose signature was made by another key but claims the chat key's kid.
    let good = token_for("chat", CHAT, "alice");
    let other = token_for("chat", MAIL, "alice");
    let spliced = format!(
        "{}.{}",
        good.rsplit_once('.').unwrap().0,
        other.rsplit_once('.').unwrap().1
    );
    let (status, b) = call("POST", cards.clone(), Some(spliced), body.clone()).await;
    assert_eq!((status, code(&b)), (401, "bad_token_signature"));

    let chat = Some(token_for("chat", CHAT, "alice"));
    let (status, b) = call(
        "POST",
        cards.clone(),
        chat.clone(),
        Some(b"{not json".to_vec()),
    )
    .await;
    assert_eq!((status, code(&b)), (400, "invalid_json"));
    let mut bad_card = alice.to_json();
    bad_card.content_snapshot = "AAAA".into();
    let (status, b) = call("POST", cards.clone(), chat.clone(), json_body(&bad_card)).await;
    assert_eq!((status, code(&b)), (422, "invalid_card"));
    let (status, b) = call(
        "POST",
        cards.clone(),
        chat.clone(),
        Some(vec![b' '; 70 * 1024]),
    )
    .await;
    assert_eq!((status, code(&b)), (413, "body_too_large"));
    let (status, b) = call("GET", format!("{cards}/xyz"), chat.clone(), None).await;
    assert_eq!((status, code(&b)), (400, "invalid_card_id"));
    let (status, b) = call("GET", format!("{cards}/{}", alice.id()), chat.clone(), None).await;
    assert_eq!((status, code(&b)), (404, "card_not_found"));
    let many: Vec<String> = (0..51).map(|i| format!("user{i}")).collect();
    let (status, b) = call(
        "POST",
        format!("{cards}/actions/search"),
        chat.clone(),
        json_body(&json!({"identities": many})),
    )
    .await;
    assert_eq!((status, code(&b)), (422, "too_many_identities"));
    let (status, b) = call(
        "POST",
        format!("{cards}/actions/search"),
        chat.clone(),
        json_body(&json!({"identities": []})),
    )
    .await;
    assert_eq!((status, code(&b)), (422, "no_identities"));
    let (status, b) = call(
        "POST",
        format!("{cards}/actions/search"),
        chat.clone(),
        json_body(&json!({"identities": [""]})),
    )
    .await;
    assert_eq!((status, code(&b)), (422, "invalid_identity"));

    // Rotation errors: the card to replace is unknown, or belongs to another identity.
    let ghost = approved("ghost", "chat", CHAT, 9, None); // never published
    let orphan = approved("ghost", "chat", CHAT, 10, Some(&ghost));
    let (status, b) = call(
        "POST",
        cards.clone(),
        chat.clone(),
        json_body(&orphan.to_json()),
    )
    .await;
    assert_eq!((status, code(&b)), (422, "previous_card_not_found"));
    assert_eq!(
        call(
            "POST",
            cards.clone(),
            chat.clone(),
            json_body(&alice.to_json())
        )
        .await
        .0,
        201
    );
    let mallory = approved("mallory", "chat", CHAT, 11, Some(&alice));
    let (status, b) = call(
        "POST",
        cards.clone(),
        chat.clone(),
        json_body(&mallory.to_json()),
    )
    .await;
    assert_eq!((status, code(&b)), (409, "previous_card_mismatch"));

    // Revocation requests that do not decode, or name another card.
    let revoke_url = format!("{cards}/{}/actions/revoke", alice.id());
    let (status, b) = call(
        "POST",
        revoke_url.clone(),
        chat.clone(),
        json_body(&json!({"request": "!!", "signature": ""})),
    )
    .await;
    assert_eq!((status, code(&b)), (422, "invalid_revocation"));
    let other = RevocationRequest {
        card_id: *mallory.id(),
        reason: RevocationReason::Unspecified,
        created_at: now(),
    };
    let body = json!({"request": to_base64(&other.to_bytes()), "signature": to_base64(other.sign(&key(CHAT)).as_bytes())});
    let (status, b) = call("POST", revoke_url, chat, json_body(&body)).await;
    assert_eq!((status, code(&b)), (422, "invalid_revocation"));
}

async fn the_openapi_document_is_served_and_covers_every_route(server: Server) {
    let (status, served) = call(
        "GET",
        format!("{}/v1/openapi.json", server.base),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/api/cards-service.openapi.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        served, committed,
        "served /v1/openapi.json differs from docs/api/cards-service.openapi.json"
    );
    let mut documented: Vec<&str> = committed["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut routes = virgil_cards_service::server::ROUTES.to_vec();
    documented.sort_unstable();
    routes.sort_unstable();
    assert_eq!(
        documented, routes,
        "every route is documented, and nothing else"
    );
}

/// Every test above, once per storage backend.
macro_rules! on_each_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let test = concat!(module_path!(), "::", stringify!($test));
                    let server = super::start(super::Backend::Sqlite, test).await;
                    super::$test(server.expect("SQLite needs no server")).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let test = concat!(module_path!(), "::", stringify!($test));
                    if let Some(server) = super::start(super::Backend::Postgres, test).await {
                        super::$test(server).await;
                    }
                }
            )*
        }
    };
}

on_each_backend!(
    the_card_lifecycle_over_http,
    applications_are_tenants,
    bad_requests_get_clear_error_codes,
    the_openapi_document_is_served_and_covers_every_route
);
