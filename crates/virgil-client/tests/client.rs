//! The client against the real cards service on 127.0.0.1:0 (temporary SQLite file).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;
use virgil_api::cards::CardStatus;
use virgil_api::token;
use virgil_card::{
    Card, CardRequest, RevocationReason, RevocationRequest, Signer, Verifier, VerifyError,
};
use virgil_client::{CardsClient, ClientError};
use virgil_testkit::servers::spawn_cards_service;
use virgil_testkit::{key, now};

const APP: u8 = 100;
const SERVICE: u8 = 102;

/// Starts the service; returns the base URL.
fn start_service(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}?mode=rwc", dir.join("cards.db").display());
    spawn_cards_service(
        &url,
        key(SERVICE),
        &[("chat", key(APP).public_key().clone())],
    )
}

fn verifier(service: u8) -> Verifier {
    Verifier::new()
        .trust_service(key(service).public_key().clone())
        .trust_app("chat", key(APP).public_key().clone())
}

fn client(base: &str, service: u8) -> CardsClient {
    CardsClient::builder(base, verifier(service))
        .token_source(|| Ok(token::issue(&key(APP), "chat", "alice", now(), 300)))
        .retries(1, Duration::from_millis(10))
        .build()
}

fn approved(identity: &str, owner: u8, replaces: Option<&Card>) -> Card {
    let mut request = CardRequest::new(identity, "chat");
    if let Some(previous) = replaces {
        request = request.replaces(*previous.id());
    }
    let mut card = request.sign(&key(owner)).unwrap();
    card.sign_as(Signer::App("chat".into()), &key(APP)).unwrap();
    card
}

#[test]
fn publish_get_search_rotate_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let base = start_service(dir.path());
    let client = client(&base, SERVICE);

    let alice = approved("alice", 1, None);
    let published = client.publish(&alice).unwrap();
    assert_eq!(published.card.id(), alice.id());
    assert!(published.card.signature_by(&Signer::Service).is_some());
    assert_eq!(
        client.publish(&alice).unwrap().card,
        published.card,
        "idempotent"
    );
    assert_eq!(client.get(alice.id()).unwrap().card, published.card);

    let bob = approved("bob", 2, None);
    client.publish(&bob).unwrap();
    let found = client.search(&["alice", "bob", "nobody"]).unwrap();
    assert_eq!(found.len(), 2);

    let mut alice2 = approved("alice", 3, Some(&alice));
    alice2.link_from(&alice, &key(1)).unwrap();
    client.publish(&alice2).unwrap();
    let found = client.search(&["alice"]).unwrap();
    assert_eq!(
        found.iter().map(|c| *c.card.id()).collect::<Vec<_>>(),
        [*alice2.id()]
    );
    assert_eq!(
        client.get(alice.id()).unwrap().status,
        CardStatus::Superseded { by: *alice2.id() }
    );

    let request = RevocationRequest {
        card_id: *bob.id(),
        reason: RevocationReason::Unspecified,
        created_at: now(),
    };
    let revoked = client.revoke(&request, &request.sign(&key(APP))).unwrap();
    assert!(matches!(revoked.status, CardStatus::Revoked { .. }));

    match client.get(&virgil_card::CardId::of_snapshot(b"none")) {
        Err(ClientError::Api {
            status: 404, code, ..
        }) => assert_eq!(code, virgil_api::ErrorCode::CardNotFound),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cards_that_fail_verification_are_errors_naming_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let base = start_service(dir.path());
    let honest = client(&base, SERVICE);
    let alice = approved("alice", 1, None);
    honest.publish(&alice).unwrap();

    // A client that pins another service key refuses every card from this service.
    let pinned_elsewhere = client(&base, 99);
    match pinned_elsewhere.get(alice.id()) {
        Err(ClientError::Verification(VerifyError::BadServiceSignature { card })) => {
            assert_eq!(card, *alice.id())
        }
        other => panic!("{other:?}"),
    }
    // A search answer is refused as a whole: its one signature is not the pinned key's.
    assert!(matches!(
        pinned_elsewhere.search(&["alice"]),
        Err(ClientError::Status(
            virgil_card::StatusError::AnswerNotSigned
        ))
    ));
}

#[test]
fn unreachable_service_is_a_transport_error_after_retries() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client(&format!("http://127.0.0.1:{port}"), SERVICE);
    let started = std::time::Instant::now();
    assert!(matches!(
        client.search(&["alice"]),
        Err(ClientError::Transport { .. })
    ));
    assert!(
        started.elapsed() >= Duration::from_millis(10),
        "one retry with 10 ms backoff"
    );
}

/// A 429 with `Retry-After` is waited out (not retried at once, which would be refused
/// again) and the call then succeeds.
#[test]
fn a_rate_limited_call_waits_for_retry_after_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let base = virgil_testkit::servers::spawn_cards_service_configured(
        &format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("cards.db").display()
        ),
        key(SERVICE),
        &[("chat", key(APP).public_key().clone())],
        virgil_server::runtime::ConnectionLimits::without_rate_limit(),
        |service| service.with_account_rate(virgil_server::rate_limit::Rate::new(60, 2)),
    );
    let client = client(&base, SERVICE);
    client.search(&["bob"]).unwrap();
    client.search(&["bob"]).unwrap();
    let started = std::time::Instant::now();
    client.search(&["bob"]).unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "retried after {:?}, before the server's Retry-After",
        started.elapsed()
    );
}

/// A man in the middle between client and service (here a plain-HTTP proxy; with TLS,
/// whoever terminates it) that rewrites every JSON answer with `relabel`
/// (`virgil_testkit::proxy`). Serves until the process exits; returns its base URL.
fn relabeling_proxy(upstream: &str, relabel: fn(&mut serde_json::Value)) -> String {
    virgil_testkit::proxy::spawn_tampering_proxy(upstream, move |_, body| {
        let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        relabel(&mut json);
        json.to_string().into_bytes()
    })
}

/// Every `"status"` object in `value` (a card answer or a search) set to active.
fn relabel_active(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.contains_key("status_signature") {
                map.insert("status".into(), serde_json::json!({"state": "active"}));
            }
            map.values_mut().for_each(relabel_active);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(relabel_active),
        _ => {}
    }
}

/// Attack: a proxy relabels a revoked card `active`. The status is the service's signed
/// statement, so the client refuses the answer instead of using the revoked card; an
/// honest proxy's answer (same path, nothing changed) is accepted.
#[test]
fn a_revoked_card_relabelled_active_on_the_way_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = start_service(dir.path());
    let direct = client(&base, SERVICE);
    let bob = approved("bob", 2, None);
    direct.publish(&bob).unwrap();
    let request = RevocationRequest {
        card_id: *bob.id(),
        reason: RevocationReason::Compromised,
        created_at: now(),
    };
    direct.revoke(&request, &request.sign(&key(APP))).unwrap();

    let honest = client(&relabeling_proxy(&base, |_| {}), SERVICE);
    assert!(matches!(
        honest.get(bob.id()).unwrap().status,
        CardStatus::Revoked { .. }
    ));
    let lying = client(&relabeling_proxy(&base, relabel_active), SERVICE);
    match lying.get(bob.id()) {
        Err(ClientError::Status(error)) => {
            assert!(error.to_string().contains("not signed"), "{error}");
        }
        other => panic!("a relabelled status was accepted: {other:?}"),
    }
}

/// Owners revoke their own cards with their own keys (the card's, or another active
/// card's of the identity); nobody revokes another identity's card with their key, and
/// a revoked card's key revokes nothing more.
#[test]
fn owners_revoke_their_own_cards_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let base = start_service(dir.path());
    let client = client(&base, SERVICE);
    let laptop = approved("bob", 2, None);
    client.publish(&laptop).unwrap();
    let mut phone = approved("bob", 3, None);
    phone.link_from(&laptop, &key(2)).unwrap();
    client.publish(&phone).unwrap();
    let alice = approved("alice", 1, None);
    client.publish(&alice).unwrap();
    let request = |card: &Card| RevocationRequest {
        card_id: *card.id(),
        reason: RevocationReason::Compromised,
        created_at: now(),
    };
    let refused = |result: Result<_, ClientError>| match result {
        Err(ClientError::Api {
            status: 403, code, ..
        }) => {
            assert_eq!(code, virgil_api::ErrorCode::BadRevocationSignature);
        }
        other => panic!("expected 403 bad_revocation_signature, got {other:?}"),
    };

    // Alice's key cannot revoke bob's card, whichever card she names as signer.
    let forged = request(&phone);
    refused(client.revoke_as_owner(&forged, &forged.sign(&key(1)), alice.id()));
    refused(client.revoke_as_owner(&forged, &forged.sign(&key(1)), phone.id()));
    // Bob's laptop revokes his lost phone.
    let lost = request(&phone);
    let revoked = client
        .revoke_as_owner(&lost, &lost.sign(&key(2)), laptop.id())
        .unwrap();
    assert!(matches!(revoked.status, CardStatus::Revoked { .. }));
    // The revoked phone's key can no longer revoke the laptop.
    let revenge = request(&laptop);
    refused(client.revoke_as_owner(&revenge, &revenge.sign(&key(3)), phone.id()));
    // A card revokes itself with its own key.
    let retire = request(&laptop);
    client
        .revoke_as_owner(&retire, &retire.sign(&key(2)), laptop.id())
        .unwrap();
    assert!(client.search(&["bob"]).unwrap().is_empty());
}

/// Attack: a proxy relabels a pending reset card `active` in a search answer, so that
/// clients would encrypt to the card of whoever started the reset. The answer's one
/// signature over the query and every status refuses it; an answer with that signature
/// stripped is refused too: there is no fallback to the cards' own status signatures.
#[test]
fn a_pending_reset_relabelled_active_in_a_search_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    );
    let base = virgil_testkit::servers::spawn_cards_service_configured(
        &url,
        key(SERVICE),
        &[("chat", key(APP).public_key().clone())],
        virgil_server::runtime::ConnectionLimits::default(),
        |service| service.with_reset_delay(3_600),
    );
    let direct = client(&base, SERVICE);
    direct.publish(&approved("bob", 2, None)).unwrap();
    let mut reset = CardRequest::new("bob", "chat")
        .data(virgil_card::lifecycle::RESET_DATA_KEY, "1")
        .sign(&key(3))
        .unwrap();
    reset
        .sign_as(Signer::App("chat".into()), &key(APP))
        .unwrap();
    let pending = direct.publish(&reset).unwrap();
    assert!(matches!(pending.status, CardStatus::Pending { .. }));

    let honest = client(&relabeling_proxy(&base, |_| {}), SERVICE);
    assert_eq!(honest.search(&["bob"]).unwrap().len(), 2);
    fn activate(value: &mut serde_json::Value) {
        for card in value["cards"].as_array_mut().unwrap() {
            card["status"] = serde_json::json!({"state": "active"});
        }
    }
    fn activate_and_strip(value: &mut serde_json::Value) {
        activate(value);
        value.as_object_mut().unwrap().remove("statuses_signature");
    }
    let lying = client(&relabeling_proxy(&base, activate), SERVICE);
    match lying.search(&["bob"]) {
        Err(ClientError::Status(error)) => {
            assert!(error.to_string().contains("not signed"), "{error}");
        }
        other => panic!("a relabelled status was accepted: {other:?}"),
    }
    let stripped = client(&relabeling_proxy(&base, activate_and_strip), SERVICE);
    assert!(
        stripped.search(&["bob"]).is_err(),
        "an answer without its signature was accepted"
    );
}
