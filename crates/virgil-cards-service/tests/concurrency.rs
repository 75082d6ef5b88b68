//! Many writers at once, through the real service: concurrent publishes queue instead of
//! failing (SQLite and PostgreSQL), and replicas starting together on a fresh PostgreSQL
//! database all come up.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;
use virgil_api::token;
use virgil_card::{Card, CardRequest, Signer, Verifier};
use virgil_cards_service::store::CardStore;
use virgil_client::CardsClient;
use virgil_crypto::PrivateKey;
use virgil_testkit::servers::spawn_cards_service;
use virgil_testkit::{key, now};

const APP: u8 = 100;
const SERVICE: u8 = 101;
const PUBLISHERS: usize = 16;
const CARDS_EACH: usize = 8;

/// An app-approved card for a new key and identity.
fn approved(identity: &str) -> Card {
    let user = PrivateKey::generate().unwrap();
    let mut card = CardRequest::new(identity, "chat").sign(&user).unwrap();
    card.sign_as(Signer::App("chat".into()), &key(APP)).unwrap();
    card
}

/// A cards service over `database_url` serving `chat`; its base URL.
fn start(database_url: &str) -> String {
    spawn_cards_service(
        database_url,
        key(SERVICE),
        &[("chat", key(APP).public_key().clone())],
    )
}

/// A client publishing as the application, without retries (a failure must show).
fn publisher(url: &str) -> CardsClient {
    let verifier = Verifier::new()
        .trust_service(key(SERVICE).public_key().clone())
        .trust_app("chat", key(APP).public_key().clone());
    CardsClient::builder(url, verifier)
        .retries(0, Duration::ZERO)
        .token_source(|| Ok(token::issue(&key(APP), "chat", "chat", now(), 300)))
        .build()
}

/// 16 publishers at once, 8 cards each, no client retries: every publish must succeed.
fn concurrent_publishes_all_succeed(database_url: &str) {
    let url = start(database_url);
    let failures = virgil_testkit::all_at_once(PUBLISHERS, |worker| {
        let client = publisher(&url);
        let cards: Vec<Card> = (0..CARDS_EACH)
            .map(|n| approved(&format!("user-{worker}-{n}")))
            .collect();
        cards
            .iter()
            .filter_map(|card| client.publish(card).err().map(|e| e.to_string()))
            .collect::<Vec<_>>()
    });
    virgil_testkit::assert_none_failed(&failures, PUBLISHERS * CARDS_EACH, "concurrent publishes");
}

#[test]
fn concurrent_publishes_queue_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_publishes_all_succeed(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    ));
}

#[test]
fn concurrent_publishes_queue_on_postgres() {
    let database = virgil_testkit::postgres_or_skip!(concurrent_publishes_queue_on_postgres);
    concurrent_publishes_all_succeed(database.url());
}

/// 16 unlinked first cards for each of 8 identities at once (keys racing to be "the
/// first"): exactly one per identity is published, every other is refused as needing a
/// link. Without the
/// per-identity lock, concurrent transactions each see no active card and all go in.
fn racing_first_cards_publish_exactly_one(database_url: &str) {
    let url = start(database_url);
    // Several contested identities, each raced by 16 keys: one race can be won cleanly
    // by luck, eight in a row cannot.
    let cards: Vec<Card> = (0..PUBLISHERS * CARDS_EACH)
        .map(|n| approved(&format!("contested-{}", n % CARDS_EACH)))
        .collect();
    let barrier = std::sync::Barrier::new(cards.len());
    let outcomes: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = cards
            .iter()
            .map(|card| {
                let (url, barrier) = (&url, &barrier);
                scope.spawn(move || {
                    let client = publisher(url);
                    barrier.wait();
                    match client.publish(card) {
                        Ok(_) => Ok(()),
                        Err(virgil_client::ClientError::Api {
                            code: virgil_api::ErrorCode::LinkRequired,
                            ..
                        }) => Err("link_required".to_owned()),
                        Err(other) => panic!("unexpected failure: {other}"),
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let published = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(
        published, CARDS_EACH,
        "one card per contested identity: {outcomes:?}"
    );
}

#[test]
fn racing_first_cards_publish_exactly_one_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    racing_first_cards_publish_exactly_one(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    ));
}

#[test]
fn racing_first_cards_publish_exactly_one_on_postgres() {
    let database =
        virgil_testkit::postgres_or_skip!(racing_first_cards_publish_exactly_one_on_postgres);
    racing_first_cards_publish_exactly_one(database.url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_start_together_on_a_fresh_postgres_database() {
    for _ in 0..3 {
        let database =
            virgil_testkit::postgres_or_skip!(replicas_start_together_on_a_fresh_postgres_database);
        let url = database.url();
        let started = start_three(url).await;
        for (replica, result) in started.into_iter().enumerate() {
            if let Err(e) = result {
                panic!("replica {replica} did not start: {e}");
            }
        }
    }
}

async fn start_three(url: &str) -> Vec<Result<CardStore, virgil_cards_service::store::StoreError>> {
    let (a, b, c) = tokio::join!(
        CardStore::connect(url),
        CardStore::connect(url),
        CardStore::connect(url)
    );
    vec![a, b, c]
}
