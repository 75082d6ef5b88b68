//! The cards service when its storage fails: a full SQLite database, a PostgreSQL
//! database that turns read-only (its connections lost), PostgreSQL commits that fail.
//! Every write path (publish, rotation, revocation, a due reset settled by a read)
//! answers success only for what it stored and 503 `storage_unavailable` with
//! `Retry-After` otherwise; health says *degraded*; once the storage is back the
//! service recovers without a restart and every acknowledged write holds.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use virgil_api::token;
use virgil_card::{Card, CardRequest, RevocationReason, RevocationRequest, Signer};
use virgil_crypto::encoding::to_base64;
use virgil_server::database::STORAGE_EPISODE;
use virgil_server::runtime::ConnectionLimits;
use virgil_testkit::http::{Answer, Raw};
use virgil_testkit::servers::spawn_cards_service_configured;
use virgil_testkit::storage::{Fault, attempts, until_refused, until_stored};
use virgil_testkit::{key, now};

const CHAT: u8 = 100;
const SERVICE: u8 = 101;

/// A card for `identity` with the key `key(owner)`, approved by the application; a
/// replacement of `replaces` is linked from it (its owner's key `key(previous_owner)`).
fn approved(identity: &str, owner: u8, replaces: Option<(&Card, u8)>) -> Card {
    let mut request = CardRequest::new(identity, "chat");
    if let Some((previous, _)) = replaces {
        request = request.replaces(*previous.id());
    }
    let mut card = request.sign(&key(owner)).unwrap();
    card.sign_as(Signer::App("chat".into()), &key(CHAT))
        .unwrap();
    if let Some((previous, previous_owner)) = replaces {
        card.link_from(previous, &key(previous_owner)).unwrap();
    }
    card
}

/// A reset card (every earlier key lost) for `identity` with the key `key(owner)`.
fn reset(identity: &str, owner: u8) -> Card {
    let mut card = CardRequest::new(identity, "chat")
        .data(virgil_card::lifecycle::RESET_DATA_KEY, "1")
        .sign(&key(owner))
        .unwrap();
    card.sign_as(Signer::App("chat".into()), &key(CHAT))
        .unwrap();
    card
}

struct Cards {
    raw: Raw,
    token: String,
}

impl Cards {
    fn publish(&self, card: &Card) -> Answer {
        self.raw.call(
            "POST",
            "/v1/cards",
            Some(&self.token),
            Some(serde_json::to_value(card.to_json()).unwrap()),
        )
    }

    fn get(&self, card: &Card) -> Answer {
        self.raw.call(
            "GET",
            &format!("/v1/cards/{}", card.id()),
            Some(&self.token),
            None,
        )
    }

    /// The status of `card` (which must be found): "active", "pending", "revoked".
    fn status(&self, card: &Card) -> Value {
        let answer = self.get(card);
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body["status"]["state"].clone()
    }

    fn revoke(&self, card: &Card) -> Answer {
        let request = RevocationRequest {
            card_id: *card.id(),
            reason: RevocationReason::Compromised,
            created_at: now(),
        };
        self.raw.call(
            "POST",
            &format!("/v1/cards/{}/actions/revoke", card.id()),
            Some(&self.token),
            Some(json!({
                "request": to_base64(&request.to_bytes()),
                "signature": to_base64(request.sign(&key(CHAT)).as_bytes()),
            })),
        )
    }
}

fn state(status: &Value) -> &str {
    status
        .as_str()
        .unwrap_or_else(|| panic!("no state in {status}"))
}

fn every_acknowledged_card_write_holds(fault: &impl Fault, url: &str) {
    let cards = Cards {
        raw: Raw::new(&spawn_cards_service_configured(
            url,
            key(SERVICE),
            &[("chat", key(CHAT).public_key().clone())],
            ConnectionLimits::without_rate_limit(),
            // A reset waits 1–2 seconds: long enough to be pending, short enough to come
            // due while the storage is broken.
            |service| service.with_reset_delay(2).with_account_rate(None),
        )),
        token: token::issue(&key(CHAT), "chat", "the-app-server", now(), 3_600),
    };
    // Before: cards to revoke, a card to rotate, a pending reset.
    let victims: Vec<Card> = (0..40)
        .map(|n| {
            let card = approved(&format!("victim-{n}"), 1, None);
            assert_eq!(cards.publish(&card).status, 201);
            card
        })
        .collect();
    let mut rotor = (approved("rotor", 2, None), 2_u8);
    assert_eq!(cards.publish(&rotor.0).status, 201);
    let phoenix_old = approved("phoenix", 3, None);
    assert_eq!(cards.publish(&phoenix_old).status, 201);
    let phoenix_reset = reset("phoenix", 4);
    assert_eq!(cards.publish(&phoenix_reset).status, 201);
    assert_eq!(state(&cards.status(&phoenix_reset)), "pending");
    assert_eq!(cards.raw.health()["status"], "ok");

    fault.break_storage();

    // New cards.
    let new: Vec<Card> = (0..300)
        .map(|n| approved(&format!("new-{n}"), 5, None))
        .collect();
    let (published, refused_card) = until_refused("publish", |n| cards.publish(&new[n]));
    let health = cards.raw.health();
    assert_eq!(health["status"], "degraded", "{health}");
    // Rotations: each acknowledged one is the identity's card now.
    let most = if fault.refuses_every_write() { 300 } else { 30 };
    let (rotations, _) = attempts("rotate", most, |n| {
        let owner = 10 + u8::try_from(n % 200).unwrap();
        let next = approved("rotor", owner, Some((&rotor.0, rotor.1)));
        let answer = cards.publish(&next);
        if answer.status == 201 {
            rotor = (next, owner);
        }
        answer
    });
    // Revocations.
    let (revoked, refused_revocation) = attempts("revoke", most, |n| cards.revoke(&victims[n]));
    assert!(refused_revocation.is_some() || !fault.refuses_every_write());
    // A reset that came due while the storage failed: a read settles it first, so it
    // may be refused too, and must not claim what it did not store.
    std::thread::sleep(Duration::from_millis(2_200));
    let during = cards.get(&phoenix_reset);
    if during.stored_or_refused("a read that settles a reset") {
        assert_eq!(state(&during.body["status"]["state"]), "active");
    }
    assert!(cards.raw.metric("virgil_storage_failures_total") >= 1);

    fault.heal_storage();

    // Without a restart: the refused card goes in now; everything acknowledged holds.
    let retried = &new[refused_card];
    assert_eq!(
        until_stored("publish after recovery", || cards.publish(retried)).status,
        201
    );
    for (n, _) in &published {
        assert_eq!(state(&cards.status(&new[*n])), "active", "new-{n}");
    }
    assert_eq!(
        rotations.iter().filter(|(_, a)| a.status == 201).count(),
        rotations.len()
    );
    assert_eq!(
        state(&cards.status(&rotor.0)),
        "active",
        "the last rotation"
    );
    let search = cards.raw.call(
        "POST",
        "/v1/cards/actions/search",
        Some(&cards.token),
        Some(json!({"identities": ["rotor"]})),
    );
    assert_eq!(search.status, 200, "{search:?}");
    assert_eq!(search.body["cards"].as_array().unwrap().len(), 1);
    assert_eq!(
        search.body["cards"][0]["card"]["content_snapshot"],
        serde_json::to_value(rotor.0.to_json()).unwrap()["content_snapshot"]
    );
    for (n, victim) in victims.iter().enumerate() {
        let expected = if n < revoked.len() {
            "revoked"
        } else {
            "active"
        };
        assert_eq!(state(&cards.status(victim)), expected, "victim-{n}");
    }
    assert_eq!(state(&cards.status(&phoenix_reset)), "active");
    assert_eq!(state(&cards.status(&phoenix_old)), "revoked");
    let deadline = Instant::now() + STORAGE_EPISODE + Duration::from_secs(5);
    while cards.raw.health()["status"] != "ok" {
        assert!(Instant::now() < deadline, "still degraded after recovery");
        std::thread::sleep(Duration::from_millis(250));
    }
}

virgil_testkit::storage_fault_tests!(every_acknowledged_card_write_holds, "cards.db");
