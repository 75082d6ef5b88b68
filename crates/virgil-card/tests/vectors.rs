//! The card vectors in `docs/vectors/cards.json`, regenerated and compared byte for byte
//! (`VIRGIL_REGENERATE_VECTORS=1 cargo test -p virgil-card --test vectors` after an
//! intentional format change), and checked on their own.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{Value, json};
use virgil_card::{
    Card, CardContent, CardId, CardRequest, RevocationReason, RevocationRequest, Signer, Verifier,
};
use virgil_crypto::encoding::{from_hex, to_hex};
use virgil_crypto::sign::Signature;
use virgil_crypto::{PrivateKey, Suite};
use virgil_testkit::vectors;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/vectors/cards.json");

fn seed(n: u8) -> [u8; 32] {
    let mut seed = [n; 32];
    seed[0] = 0xa0;
    seed
}

fn key(n: u8) -> PrivateKey {
    PrivateKey::from_seed(&seed(n)).unwrap()
}

fn pq_key(n: u8) -> PrivateKey {
    PrivateKey::from_seed_with_suite(&seed(n), Suite::PostQuantum).unwrap()
}

fn generate() -> Value {
    let (user, app, service) = (key(1), key(5), key(6));
    let minimal = CardRequest::new("alice", "chat")
        .created_at(1_700_000_000)
        .sign(&user)
        .unwrap();
    let mut full = CardRequest::new("bob@example.com", "chat")
        .identity_type("email")
        .data("team", "blue")
        .data("avatar", "https://example.com/b.png")
        .device("iPhone", "Bob's phone")
        .created_at(1_700_000_001)
        .replaces(*minimal.id())
        .sign(&key(2))
        .unwrap();
    full.sign_as(Signer::App("chat".into()), &app).unwrap();
    full.sign_as(Signer::Service, &service).unwrap();
    // A suite-2 (post-quantum) key's card: snapshot version 2.
    let mut post_quantum = CardRequest::new("carol", "chat")
        .created_at(1_700_000_004)
        .sign(&pq_key(7))
        .unwrap();
    post_quantum
        .sign_as(Signer::App("chat".into()), &app)
        .unwrap();
    post_quantum.sign_as(Signer::Service, &service).unwrap();
    let cards: Vec<Value> = [(&minimal, 1u8, 1u8), (&full, 2, 1), (&post_quantum, 7, 2)]
        .into_iter()
        .map(|(card, owner, suite)| {
            json!({
                "owner_seed": to_hex(&seed(owner)),
                "owner_suite": suite,
                "identity": card.identity(),
                "snapshot": to_hex(card.snapshot()),
                "id": card.id().to_string(),
                "signatures": card.signatures().iter().map(|s| json!({
                    "signer": s.signer.to_string(),
                    "signature": to_hex(s.signature.as_bytes()),
                })).collect::<Vec<_>>(),
                "export": card.export(),
            })
        })
        .collect();
    // A second device of alice's (key seed(3)), linked from her first card.
    let mut linked = CardRequest::new("alice", "chat")
        .created_at(1_700_000_003)
        .sign(&key(3))
        .unwrap();
    linked.link_from(&minimal, &user).unwrap();
    let link_signer = Signer::Link(*minimal.id());
    let links = vec![json!({
        "export": linked.export(),
        "id": linked.id().to_string(),
        "owner_seed": to_hex(&seed(3)),
        "linked_from": minimal.id().to_string(),
        "linking_seed": to_hex(&seed(1)),
        "signer": link_signer.to_string(),
        "signature": to_hex(linked.signature_by(&link_signer).unwrap().as_bytes()),
    })];
    let revocation = RevocationRequest {
        card_id: *full.id(),
        reason: RevocationReason::Compromised,
        created_at: 1_700_000_002,
    };
    // Snapshots every decoder refuses: reserved data keys (§7), made by renaming the key
    // of an otherwise valid snapshot (so nothing else is wrong with them).
    let reserved = |key: &str, value: &str| {
        let stand_in = key.replacen("virgil.", "zirgil.", 1);
        let card = CardRequest::new("alice", "chat")
            .data(&stand_in, value)
            .created_at(1_700_000_005)
            .sign(&user)
            .unwrap();
        let snapshot = to_hex(card.snapshot());
        snapshot.replacen(&to_hex(stand_in.as_bytes()), &to_hex(key.as_bytes()), 1)
    };
    let negative_snapshots = vec![
        json!({"name": "reserved data key virgil.other", "snapshot": reserved("virgil.other", "1"), "error": "malformed"}),
        json!({"name": "virgil.reset with a value other than \"1\"", "snapshot": reserved("virgil.reset", "0"), "error": "malformed"}),
    ];
    // A request for reason 2 (reset) is refused: that reason is the service's own.
    let mut reset_reason = revocation.to_bytes();
    reset_reason[37] = 2;
    // Safety numbers (§13): alice's two devices (seed(1) and the linked seed(3)) and bob
    // (seed(2)), each side's public keys in any order.
    let side = |identity: &str, keys: &[&PrivateKey]| {
        json!({
            "app_id": "chat",
            "identity": identity,
            "public_keys": keys.iter().map(|key| to_hex(key.public_key().as_bytes())).collect::<Vec<_>>(),
        })
    };
    let alice_cards = [minimal.clone(), linked.clone()];
    let bob_card = CardRequest::new("bob", "chat")
        .created_at(1_700_000_006)
        .sign(&key(2))
        .unwrap();
    let number = virgil_card::safety_number(&alice_cards, std::slice::from_ref(&bob_card)).unwrap();
    json!({
        "about": "virgil-card format vectors; see docs/format.md. Keys: seed(n) = a0 ‖ n × 31, suite 1 unless a vector says otherwise; app key seed(5), service key seed(6), both suite 1; app id \"chat\".",
        "app_seed": to_hex(&seed(5)),
        "app_suite": 1,
        "service_seed": to_hex(&seed(6)),
        "service_suite": 1,
        "cards": cards,
        "links": links,
        "negative_snapshots": negative_snapshots,
        "revocation": {
            "request": to_hex(&revocation.to_bytes()),
            "signature": to_hex(revocation.sign(&app).as_bytes()),
        },
        "negative_revocations": [
            {"name": "reason 2 (reset) is never requested", "request": to_hex(&reset_reason), "error": "malformed"},
        ],
        "safety_numbers": [{
            "ours": side("alice", &[&key(3), &user]),
            "theirs": side("bob", &[&key(2)]),
            "number": number.digits(),
        }],
    })
}

#[test]
fn vectors_file_matches_the_code() {
    vectors::check_file(
        PATH,
        &generate(),
        "§6–§9, §13",
        "cargo test -p virgil-card --test vectors",
    );
}

#[test]
fn stored_vectors_check_out() {
    if vectors::regenerating() {
        return;
    }
    let stored = vectors::stored(PATH);
    let (app, service) = (key(5), key(6));
    for vector in stored["cards"].as_array().unwrap() {
        let snapshot = from_hex(vector["snapshot"].as_str().unwrap()).unwrap();
        let content = CardContent::from_snapshot(&snapshot).unwrap();
        assert_eq!(content.identity, vector["identity"].as_str().unwrap());
        assert_eq!(
            CardId::of_snapshot(&snapshot).to_string(),
            vector["id"].as_str().unwrap()
        );
        let card = Card::import(vector["export"].as_str().unwrap()).unwrap();
        assert_eq!(card.snapshot(), &snapshot[..]);
        card.verify_self_signature().unwrap();
        assert_eq!(
            u64::from(card.public_key().suite().id()),
            vector["owner_suite"].as_u64().unwrap()
        );
        for signature in vector["signatures"].as_array().unwrap() {
            let signer: Signer = signature["signer"].as_str().unwrap().parse().unwrap();
            let bytes: [u8; 64] = from_hex(signature["signature"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            assert_eq!(
                card.signature_by(&signer),
                Some(&Signature::from_bytes(bytes))
            );
        }
        if card.signatures().len() == 3 {
            Verifier::new()
                .trust_app("chat", app.public_key().clone())
                .trust_service(service.public_key().clone())
                .verify(&card)
                .unwrap();
        }
    }
    let cards = stored["cards"].as_array().unwrap();
    for link in stored["links"].as_array().unwrap() {
        let card = Card::import(link["export"].as_str().unwrap()).unwrap();
        assert_eq!(card.id().to_string(), link["id"].as_str().unwrap());
        let from = cards
            .iter()
            .map(|vector| Card::import(vector["export"].as_str().unwrap()).unwrap())
            .find(|candidate| candidate.id().to_string() == link["linked_from"].as_str().unwrap())
            .unwrap();
        assert!(card.is_linked_from(&from));
        let signer: Signer = link["signer"].as_str().unwrap().parse().unwrap();
        assert_eq!(signer, Signer::Link(*from.id()));
    }
    let request = RevocationRequest::from_bytes(
        &from_hex(stored["revocation"]["request"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let signature: [u8; 64] = from_hex(stored["revocation"]["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert!(request.verify(app.public_key(), &Signature::from_bytes(signature)));
    for vector in stored["negative_snapshots"].as_array().unwrap() {
        let snapshot = from_hex(vector["snapshot"].as_str().unwrap()).unwrap();
        assert!(
            matches!(
                CardContent::from_snapshot(&snapshot),
                Err(virgil_card::CardError::ReservedData { .. })
            ),
            "{}",
            vector["name"]
        );
    }
    for vector in stored["negative_revocations"].as_array().unwrap() {
        let bytes = from_hex(vector["request"].as_str().unwrap()).unwrap();
        let error = RevocationRequest::from_bytes(&bytes).unwrap_err();
        assert!(error.to_string().contains("reset"), "{error}");
    }
}
