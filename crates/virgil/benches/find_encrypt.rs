//! `card find` + encrypt for one recipient, before and after the key-change checks of
//! issue 12, in one run against one real cards service on 127.0.0.1 (docs/performance.md).
//!
//! - `verify-only`: what a lookup did before: search over HTTP, decode each card and
//!   check its self, application and service signatures (`Verifier`), then
//!   sign-then-encrypt 1 KiB for the cards found.
//! - `reviewed`: `Cards::find` as it is now: the same, plus the answer's signed statuses
//!   (one signature per answer; revocation records), the link chain and the contact
//!   store (a file, as on a device), then the same encryption.
//! - `decode-verify` / `decode-verify-status`: decoding and verifying the answer alone,
//!   without and with its status signature (no network, no encryption).
//!
//! The recipient has 1 card, or 10 cards each linked from the one before (a chain).
//! `cargo bench -p virgil --bench find_encrypt`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use virgil::{Config, Virgil};
use virgil_api::cards::{SearchRequest, SearchResponse};
use virgil_api::token;
use virgil_card::{Card, CardRequest, Signer, Verifier};
use virgil_client::CardsClient;
use virgil_crypto::envelope;
use virgil_server::runtime::ConnectionLimits;
use virgil_testkit::servers::spawn_cards_service_configured;
use virgil_testkit::{key, now};

const APP: u8 = 100;
const SERVICE: u8 = 101;

fn verifier() -> Verifier {
    Verifier::new()
        .trust_service(key(SERVICE).public_key().clone())
        .trust_app("chat", key(APP).public_key().clone())
}

/// One access token for the whole run (10 minutes), as a logged-in client holds one:
/// signing a fresh one per lookup would cost more than the checks measured here.
fn app_token() -> String {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN
        .get_or_init(|| token::issue(&key(APP), "chat", "chat", now(), 600))
        .clone()
}

/// Publishes `count` cards for `identity`, each linked from the one before.
fn publish_chain(base: &str, identity: &str, count: u8, first_key: u8) {
    let client = CardsClient::builder(base, verifier())
        .token_source(|| Ok(app_token()))
        .build();
    let mut previous: Option<(Card, u8)> = None;
    for n in 0..count {
        let owner = first_key + n;
        let mut card = CardRequest::new(identity, "chat")
            .sign(&key(owner))
            .unwrap();
        if let Some((from, from_owner)) = &previous {
            card.link_from(from, &key(*from_owner)).unwrap();
        }
        card.sign_as(Signer::App("chat".into()), &key(APP)).unwrap();
        client.publish(&card).unwrap();
        previous = Some((card, owner));
    }
}

/// The search answer's text for `identity`, as the service sends it.
fn search_text(agent: &ureq::Agent, base: &str, identity: &str) -> String {
    // The request as `virgil_client` sends it: a JSON body with a length.
    let body = serde_json::to_vec(&SearchRequest {
        identities: vec![identity.to_owned()],
    })
    .unwrap();
    agent
        .post(&format!("{base}/v1/cards/actions/search"))
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Bearer {}", app_token()))
        .send(&body[..])
        .unwrap()
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_string()
        .unwrap()
}

/// Decodes a search answer and checks each card with `Verifier` (self, application and
/// service signatures); with `status`, also the answer's one signature over every
/// card's status.
fn decode(verifier: &Verifier, identity: &str, text: &str, status: bool) -> Vec<Card> {
    let answer: SearchResponse = serde_json::from_str(text).unwrap();
    if status {
        let signature = virgil_crypto::encoding::from_base64(&answer.statuses_signature).unwrap();
        let signature = virgil_crypto::sign::Signature::from_slice(&signature).unwrap();
        let statement = virgil_card::SearchStatement::new(
            &answer.app_id,
            [identity],
            answer.as_of,
            answer
                .cards
                .iter()
                .map(|card| (&card.card.id, &card.status, card.status_as_of)),
        );
        assert!(statement.is_signed(&signature, verifier.service_keys()));
    }
    answer
        .cards
        .into_iter()
        .map(|found| {
            let card = found.card.into_card().unwrap();
            verifier.verify(&card).unwrap();
            card
        })
        .collect()
}

/// The lookup before issue 12: search, decode, `Verifier` only.
fn verify_only(verifier: &Verifier, agent: &ureq::Agent, base: &str, identity: &str) -> Vec<Card> {
    decode(
        verifier,
        identity,
        &search_text(agent, base, identity),
        false,
    )
}

fn find_then_encrypt(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    );
    let base = spawn_cards_service_configured(
        &url,
        key(SERVICE),
        &[("chat", key(APP).public_key().clone())],
        ConnectionLimits::without_rate_limit(),
        |service| service.with_account_rate(None),
    );
    publish_chain(&base, "one", 1, 1);
    publish_chain(&base, "ten", 10, 20);
    let device = Virgil::new(
        Config::new(
            "chat",
            key(APP).public_key().clone(),
            key(SERVICE).public_key().clone(),
        )
        .cards_service(&base)
        .contacts_file(dir.path().join("contacts.json"))
        .tokens(|| Ok(app_token())),
    )
    .unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(true)
        .build()
        .into();
    let sender = key(90);
    // Made once: deriving keys from seeds costs more than verifying with them.
    let verifier = verifier();
    let message = vec![7u8; 1024];

    let mut group = c.benchmark_group("find_encrypt");
    group
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(500));
    for (identity, chain) in [("one", 1), ("ten", 10)] {
        // First contact outside the measurement: the device pins the cards once.
        assert_eq!(device.cards().find(&[identity]).unwrap().cards.len(), chain);
        group.bench_with_input(BenchmarkId::new("reviewed", chain), &identity, |b, id| {
            b.iter(|| {
                let found = device.cards().find(&[id]).unwrap();
                let keys: Vec<_> = found.cards.iter().map(|f| f.card.public_key()).collect();
                black_box(envelope::sign_then_encrypt(&message, &sender, &keys).unwrap())
            });
        });
        group.bench_with_input(
            BenchmarkId::new("verify-only", chain),
            &identity,
            |b, id| {
                b.iter(|| {
                    let cards = verify_only(&verifier, &agent, &base, id);
                    let keys: Vec<_> = cards.iter().map(Card::public_key).collect();
                    black_box(envelope::sign_then_encrypt(&message, &sender, &keys).unwrap())
                });
            },
        );
        // Without the network: what checking each card's signed status adds to
        // decoding and verifying the answer.
        let text = search_text(&agent, &base, identity);
        for (name, status) in [("decode-verify", false), ("decode-verify-status", true)] {
            group.bench_with_input(BenchmarkId::new(name, chain), &text, |b, text| {
                b.iter(|| black_box(decode(&verifier, identity, text, status)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, find_then_encrypt);
criterion_main!(benches);
