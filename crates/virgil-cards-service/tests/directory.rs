//! The key directory through the real service: a published card is provable when the
//! publish returns, search answers carry proofs the clients' functions accept, and the
//! directory outlives a restart.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{Value, json};
use std::time::Instant;
use virgil_api::token;
use virgil_card::checkpoint::SignedCheckpoint;
use virgil_card::directory;
use virgil_card::{Card, CardIdentity, CardRequest, CardStatus, Signer};
use virgil_crypto::encoding::from_base64;
use virgil_server::runtime::ConnectionLimits;
use virgil_testkit::http::Raw;
use virgil_testkit::servers::spawn_cards_service_configured;
use virgil_testkit::{key, now};

const CHAT: u8 = 100;
const SERVICE: u8 = 101;

fn approved(identity: &str, owner: u8) -> Card {
    let mut card = CardRequest::new(identity, "chat")
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
    fn start(url: &str) -> Self {
        Self {
            raw: Raw::new(&spawn_cards_service_configured(
                url,
                key(SERVICE),
                &[("chat", key(CHAT).public_key().clone())],
                ConnectionLimits::without_rate_limit(),
                |service| service.with_account_rate(None),
            )),
            token: token::issue(&key(CHAT), "chat", "the-app-server", now(), 3_600),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.raw.call(method, path, Some(&self.token), body);
        assert!(answer.status < 300, "{method} {path}: {answer:?}");
        answer.body
    }

    /// `identity`'s proven history (every version of its entry).
    fn history(&self, identity: &str) -> Vec<directory::ProvenEntry> {
        let history = self.call(
            "POST",
            "/v1/directory/actions/history",
            Some(json!({"identity": identity})),
        );
        let checkpoint = SignedCheckpoint::from_base64(history["checkpoint"].as_str().unwrap())
            .unwrap()
            .checkpoint;
        directory::verify_history(
            &checkpoint,
            &CardIdentity::new("chat", identity),
            &from_base64(history["proof"].as_str().unwrap()).unwrap(),
            None,
        )
        .unwrap()
    }

    /// Publishes `identity`'s card approved by the application (made with key `owner`).
    fn publish(&self, identity: &str, owner: u8) -> Card {
        let card = approved(identity, owner);
        self.call(
            "POST",
            "/v1/cards",
            Some(serde_json::to_value(card.to_json()).unwrap()),
        );
        card
    }

    fn search(&self, identity: &str) -> Value {
        self.call(
            "POST",
            "/v1/cards/actions/search",
            Some(json!({"identities": [identity]})),
        )
    }
}

/// The search answer's checkpoint, verified, and `identity`'s proven entry.
fn proven(answer: &Value, identity: &str) -> (u64, directory::DirectoryEntry) {
    let checkpoint =
        SignedCheckpoint::from_base64(answer["directory"]["checkpoint"].as_str().unwrap()).unwrap();
    let checkpoint = checkpoint
        .verify(&[key(SERVICE).public_key().clone()])
        .unwrap()
        .clone();
    let proof = answer["directory"]["proofs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|proof| proof["identity"] == identity)
        .unwrap_or_else(|| panic!("no proof for {identity}: {answer}"));
    let proof = from_base64(proof["proof"].as_str().unwrap()).unwrap();
    let owner = CardIdentity::new("chat", identity);
    let entry = directory::verify_lookup(&checkpoint, &owner, &proof).unwrap();
    (checkpoint.epoch, entry.entry)
}

fn published_cards_are_provable_at_once(url: &str) {
    let cards = Cards::start(url);
    let started = Instant::now();
    let alice = cards.publish("alice", 1);
    let publish = started.elapsed();
    let answer = cards.search("alice");
    let (epoch, entry) = proven(&answer, "alice");
    assert!(epoch >= 1);
    assert_eq!(
        entry.state_of(alice.id()),
        Some(directory::EntryState::Active)
    );
    assert!(publish.as_secs_f64() < 1.5, "publish took {publish:?}");
    let served: Vec<(virgil_card::CardId, CardStatus)> = answer["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|card| {
            (
                card["card"]["id"].as_str().unwrap().parse().unwrap(),
                serde_json::from_value(card["status"].clone()).unwrap(),
            )
        })
        .collect();
    entry
        .check_served(
            &CardIdentity::new("chat", "alice"),
            epoch,
            served.iter().map(|(id, status)| (id, status)),
            true,
        )
        .unwrap();
    // The checkpoint endpoint answers the same epoch, and the history proves it.
    let latest = cards.call("GET", "/v1/directory/checkpoint", None);
    assert_eq!(latest["checkpoint"], answer["directory"]["checkpoint"]);
    let versions = cards.history("alice");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].entry, entry);
    // Nobody never published has no proof and no card.
    let nobody = cards.search("nobody");
    assert_eq!(nobody["cards"].as_array().unwrap().len(), 0);
    assert_eq!(nobody["directory"]["proofs"].as_array().unwrap().len(), 0);

    // A second service over the same database (a restart) continues the epochs.
    let again = Cards::start(url);
    again.publish("bob", 2);
    let (later, entry) = proven(&again.search("bob"), "bob");
    assert!(later > epoch, "{later} after {epoch}");
    assert_eq!(entry.len(), 1);
    let (_, alice_entry) = proven(&again.search("alice"), "alice");
    assert_eq!(
        alice_entry.state_of(alice.id()),
        Some(directory::EntryState::Active)
    );
}

/// A write is answered at once, before its epoch; every lookup door waits for the epoch
/// that publishes it (read your writes): a search (also one naming other identities), a
/// get by id, a history, a search right after a revocation, and the latest checkpoint.
/// Without the wait each answers from the epoch before the write: the card missing, "try
/// again", still active, or an epoch without it.
fn every_lookup_sees_the_write_before_it(url: &str) {
    let cards = Cards::start(url);
    // Epochs come at most one per interval: after this one, the next write waits.
    cards.publish("first", 9);
    let _ = cards.search("first");
    let publish = |identity: &str, owner: u8| cards.publish(identity, owner);
    // Search, with an identity that has no change among those named.
    let alice = publish("alice", 1);
    let answer = cards.call(
        "POST",
        "/v1/cards/actions/search",
        Some(json!({"identities": ["first", "alice"]})),
    );
    let (_, entry) = proven(&answer, "alice");
    assert_eq!(
        entry.state_of(alice.id()),
        Some(directory::EntryState::Active),
        "search"
    );
    // Get by id.
    let bob = publish("bob", 2);
    let got = cards.raw.call(
        "GET",
        &format!("/v1/cards/{}", bob.id()),
        Some(&cards.token),
        None,
    );
    assert_eq!(got.status, 200, "get: {got:?}");
    assert_eq!(got.body["status"]["state"], "active", "{got:?}");
    // History.
    let carol = publish("carol", 3);
    let versions = cards.history("carol");
    assert_eq!(
        versions.last().unwrap().entry.state_of(carol.id()),
        Some(directory::EntryState::Active),
        "history"
    );
    // A revocation, then a search: the card is no longer listed. (Alice is looked up
    // just before, so her proof is kept for the epoch before the revocation: it must not
    // be the answer after it.)
    let (_, entry) = proven(&cards.search("alice"), "alice");
    assert_eq!(
        entry.state_of(alice.id()),
        Some(directory::EntryState::Active)
    );
    let request = virgil_card::RevocationRequest {
        card_id: *alice.id(),
        reason: virgil_card::RevocationReason::Compromised,
        created_at: now(),
    };
    cards.call(
        "POST",
        &format!("/v1/cards/{}/actions/revoke", alice.id()),
        Some(json!({
            "request": virgil_crypto::encoding::to_base64(&request.to_bytes()),
            "signature": virgil_crypto::encoding::to_base64(request.sign(&key(CHAT)).as_bytes()),
        })),
    );
    let (revoked_at, entry) = proven(&cards.search("alice"), "alice");
    assert_eq!(
        entry.state_of(alice.id()),
        None,
        "search after a revocation"
    );
    // The latest checkpoint (what an auditor or a monitor asks first): its epoch holds
    // a write stored before the call.
    publish("dave", 4);
    let latest = cards.call("GET", "/v1/directory/checkpoint", None);
    let latest = SignedCheckpoint::from_base64(latest["checkpoint"].as_str().unwrap())
        .unwrap()
        .checkpoint;
    assert!(
        latest.epoch > revoked_at,
        "the latest checkpoint after a write: epoch {} (the write is not in it)",
        latest.epoch
    );
}

/// Answers interleaved with epochs being written: while one client publishes card after
/// card, two others search and read histories, and every answer verifies against its
/// signed checkpoint, with epochs never going back. No proof is made while an epoch is
/// written (the publisher's epoch lock): with proofs made meanwhile, this test failed in
/// 2 of 8 runs (a history proof that did not verify; akd's commit empties its
/// transaction before it updates its cache, so a read in between can cache an old
/// node).
fn proofs_made_while_epochs_are_written_all_verify(url: &str) {
    let cards = Cards::start(url);
    let seeded: Vec<String> = (0..24).map(|n| format!("seed{n}")).collect();
    for (n, identity) in seeded.iter().enumerate() {
        cards.publish(identity, u8::try_from(10 + n).unwrap());
    }
    let _ = cards.search(&seeded[0]);
    let writing = std::sync::atomic::AtomicBool::new(true);
    let (first, last) = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|reader| {
                let (cards, seeded, writing) = (&cards, &seeded, &writing);
                scope.spawn(move || {
                    let mut epochs = Vec::new();
                    let mut n = reader;
                    while writing.load(std::sync::atomic::Ordering::SeqCst) {
                        let names = [&seeded[n % 24], &seeded[(n + 7) % 24]];
                        let answer = cards.call(
                            "POST",
                            "/v1/cards/actions/search",
                            Some(json!({"identities": names})),
                        );
                        for name in names {
                            let (epoch, entry) = proven(&answer, name);
                            assert_eq!(entry.len(), 1, "{name} at epoch {epoch}");
                            epochs.push(epoch);
                        }
                        if n % 5 == 0 {
                            assert_eq!(cards.history(&seeded[n % 24]).len(), 1);
                        }
                        n += 2;
                    }
                    epochs
                })
            })
            .collect();
        for n in 0..60 {
            cards.publish(&format!("writer{n}"), 200);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        writing.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut first = u64::MAX;
        let mut last = 0;
        for reader in readers {
            let epochs = reader.join().unwrap();
            assert!(
                epochs.windows(2).all(|pair| pair[0] <= pair[1]),
                "an epoch went back: {epochs:?}"
            );
            first = first.min(*epochs.first().unwrap());
            last = last.max(*epochs.last().unwrap());
        }
        (first, last)
    });
    assert!(
        last >= first + 3,
        "the readers saw epochs {first} to {last} only: not read while epochs were written"
    );
}

#[test]
fn sqlite_proofs_made_while_epochs_are_written_all_verify() {
    let dir = tempfile::tempdir().unwrap();
    proofs_made_while_epochs_are_written_all_verify(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    ));
}

#[test]
fn postgres_proofs_made_while_epochs_are_written_all_verify() {
    let database =
        virgil_testkit::postgres_or_skip!(postgres_proofs_made_while_epochs_are_written_all_verify);
    proofs_made_while_epochs_are_written_all_verify(database.url());
}

#[test]
fn sqlite_every_lookup_sees_the_write_before_it() {
    let dir = tempfile::tempdir().unwrap();
    every_lookup_sees_the_write_before_it(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    ));
}

#[test]
fn postgres_every_lookup_sees_the_write_before_it() {
    let database =
        virgil_testkit::postgres_or_skip!(postgres_every_lookup_sees_the_write_before_it);
    every_lookup_sees_the_write_before_it(database.url());
}

#[test]
fn sqlite_published_cards_are_provable_at_once() {
    let dir = tempfile::tempdir().unwrap();
    published_cards_are_provable_at_once(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    ));
}

#[test]
fn postgres_published_cards_are_provable_at_once() {
    let database = virgil_testkit::postgres_or_skip!(postgres_published_cards_are_provable_at_once);
    published_cards_are_provable_at_once(database.url());
}

#[test]
fn a_directory_id_of_0_or_over_64_bytes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    );
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = virgil_cards_service::store::CardStore::connect(&url)
            .await
            .unwrap();
        for id in [String::new(), "x".repeat(65)] {
            let opened = virgil_cards_service::directory::Publisher::open(
                store.clone(),
                key(SERVICE),
                Some(id),
                1 << 20,
            )
            .await;
            assert!(
                matches!(
                    opened,
                    Err(virgil_cards_service::directory::PublishError::BadDirectoryId(_))
                ),
                "{:?}",
                opened.map(|p| p.directory_id().to_owned())
            );
        }
        let opened = virgil_cards_service::directory::Publisher::open(
            store,
            key(SERVICE),
            Some("x".repeat(64)),
            1 << 20,
        )
        .await
        .unwrap();
        assert_eq!(opened.directory_id().len(), 64);
    });
}
