//! The card status vectors in `docs/vectors/status.json` (docs/format.md §12),
//! regenerated and compared byte for byte (`VIRGIL_REGENERATE_VECTORS=1 cargo test -p
//! virgil-card --test status` after an intentional format change), and checked on their
//! own.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{Value, json};
use virgil_card::{CardId, CardStatus, RevocationReason, SearchStatement};
use virgil_crypto::PrivateKey;
use virgil_crypto::encoding::{from_hex, to_hex};
use virgil_crypto::sign::Signature;
use virgil_testkit::vectors;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/vectors/status.json"
);

/// The service key of the card vectors: seed(6) = a0 ‖ 06 × 31.
fn service_seed() -> [u8; 32] {
    let mut seed = [6u8; 32];
    seed[0] = 0xa0;
    seed
}

fn generate() -> Value {
    let service = PrivateKey::from_seed(&service_seed()).unwrap();
    let card = CardId::of_snapshot(b"a card");
    let replacement = CardId::of_snapshot(b"its replacement");
    let as_of = 1_700_000_100;
    let statuses = [
        ("active", CardStatus::Active),
        ("superseded", CardStatus::Superseded { by: replacement }),
        (
            "revoked",
            CardStatus::Revoked {
                reason: RevocationReason::Compromised,
                at: 1_700_000_050,
            },
        ),
        (
            "revoked by a reset",
            CardStatus::Revoked {
                reason: RevocationReason::Reset,
                at: 1_700_000_060,
            },
        ),
        (
            "pending reset",
            CardStatus::Pending {
                activates_at: 1_700_086_400,
            },
        ),
    ];
    let vectors: Vec<Value> = statuses
        .iter()
        .map(|(name, status)| {
            json!({
                "name": name,
                "card_id": card.to_string(),
                "status": status,
                "as_of": as_of,
                "statement": to_hex(&status.statement(&card, as_of)),
                "signature": to_hex(status.sign(&card, as_of, &service).as_bytes()),
            })
        })
        .collect();
    // A search answer's one signature: application "chat", the query ["bob", "alice"]
    // (sorted in the statement), the answer's time, and the first two statuses.
    let search = SearchStatement::new(
        "chat",
        ["bob", "alice"],
        as_of,
        statuses[..2]
            .iter()
            .map(|(_, status)| (&card, status, as_of)),
    );
    json!({
        "about": "card status statements (docs/format.md §12), signed by the service key seed(6) = a0 ‖ 06 × 31 (a suite-1 key) under context \"virgil/card-status\"; search: application \"chat\", identities [\"bob\", \"alice\"], as_of, and the statements of the first two, signed once under \"virgil/search-status\"",
        "service_seed": to_hex(&service_seed()),
        "service_suite": 1,
        "statuses": vectors,
        "search": {
            "app_id": "chat",
            "identities": ["bob", "alice"],
            "as_of": as_of,
            "statement": to_hex(search.as_bytes()),
            "signature": to_hex(search.sign(&service).as_bytes()),
        },
    })
}

#[test]
fn vectors_file_matches_the_code() {
    vectors::check_file(
        PATH,
        &generate(),
        "§12",
        "cargo test -p virgil-card --test status",
    );
}

#[test]
fn stored_vectors_check_out() {
    if vectors::regenerating() {
        return;
    }
    let stored = vectors::stored(PATH);
    let service = PrivateKey::from_seed(&service_seed()).unwrap();
    for vector in stored["statuses"].as_array().unwrap() {
        let card: CardId = vector["card_id"].as_str().unwrap().parse().unwrap();
        let status: CardStatus = serde_json::from_value(vector["status"].clone()).unwrap();
        let as_of = vector["as_of"].as_u64().unwrap();
        let statement = from_hex(vector["statement"].as_str().unwrap()).unwrap();
        assert_eq!(status.statement(&card, as_of), statement);
        let signature = Signature::from_bytes(
            from_hex(vector["signature"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
        );
        assert!(status.is_signed(&card, as_of, &signature, service.public_key()));
        assert!(!status.is_signed(&card, as_of + 1, &signature, service.public_key()));
    }
}
