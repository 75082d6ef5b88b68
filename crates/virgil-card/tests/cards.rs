//! Card model, verification policy, export/import and JSON: behaviour and tamper tests.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use virgil_card::{
    Card, CardContent, CardError, CardId, CardJson, CardRequest, Signer, Verifier, VerifyError,
};
use virgil_crypto::PrivateKey;
use virgil_testkit::key;

struct World {
    user: PrivateKey,
    app: PrivateKey,
    service: PrivateKey,
}

fn world() -> World {
    World {
        user: key(1),
        app: key(2),
        service: key(3),
    }
}

fn published(world: &World) -> Card {
    let mut card = CardRequest::new("alice", "chat")
        .data("team", "blue")
        .device("iPhone", "Alice's phone")
        .created_at(1_700_000_000)
        .sign(&world.user)
        .unwrap();
    card.sign_as(Signer::App("chat".into()), &world.app)
        .unwrap();
    card.sign_as(Signer::Service, &world.service).unwrap();
    card
}

fn verifier(world: &World) -> Verifier {
    Verifier::new()
        .trust_service(world.service.public_key().clone())
        .trust_app("chat", world.app.public_key().clone())
}

#[test]
fn a_published_card_verifies_and_keeps_its_id() {
    let world = world();
    let request = CardRequest::new("alice", "chat")
        .created_at(5)
        .sign(&world.user)
        .unwrap();
    let id = *request.id();
    let mut card = request.clone();
    card.sign_as(Signer::App("chat".into()), &world.app)
        .unwrap();
    card.sign_as(Signer::Service, &world.service).unwrap();
    assert_eq!(card.id(), &id, "adding signatures must not change the id");
    assert_eq!(card.id(), &CardId::of_snapshot(card.snapshot()));
    verifier(&world).verify(&card).unwrap();
    // A request (self-signed only) passes a verifier without service keys once approved.
    let mut approved = request;
    approved
        .sign_as(Signer::App("chat".into()), &world.app)
        .unwrap();
    Verifier::new()
        .trust_app("chat", world.app.public_key().clone())
        .verify(&approved)
        .unwrap();
}

#[test]
fn policy_failures_name_the_check() {
    let world = world();
    let card = published(&world);
    let id = *card.id();

    // Missing app signature.
    let mut no_app =
        Card::from_parts(card.snapshot().to_vec(), vec![card.signatures()[0].clone()]).unwrap();
    no_app.sign_as(Signer::Service, &world.service).unwrap();
    assert_eq!(
        verifier(&world).verify(&no_app),
        Err(VerifyError::MissingAppSignature {
            card: id,
            app_id: "chat".into()
        })
    );
    // Wrong service key.
    let wrong_service = Verifier::new()
        .trust_service(key(9).public_key().clone())
        .trust_app("chat", world.app.public_key().clone());
    assert_eq!(
        wrong_service.verify(&card),
        Err(VerifyError::BadServiceSignature { card: id })
    );
    // Wrong app key; untrusted app.
    let wrong_app = Verifier::new()
        .trust_service(world.service.public_key().clone())
        .trust_app("chat", key(9).public_key().clone());
    assert_eq!(
        wrong_app.verify(&card),
        Err(VerifyError::BadAppSignature {
            card: id,
            app_id: "chat".into()
        })
    );
    let other_app = Verifier::new()
        .trust_service(world.service.public_key().clone())
        .trust_app("mail", world.app.public_key().clone());
    assert!(matches!(
        other_app.verify(&card),
        Err(VerifyError::UntrustedApplication { .. })
    ));
    // Missing service signature.
    let mut unpublished = CardRequest::new("alice", "chat").sign(&world.user).unwrap();
    unpublished
        .sign_as(Signer::App("chat".into()), &world.app)
        .unwrap();
    assert!(matches!(
        verifier(&world).verify(&unpublished),
        Err(VerifyError::MissingServiceSignature { .. })
    ));
    // Self-signature by another key.
    let mut forged = Card::from_parts(card.snapshot().to_vec(), vec![]).unwrap();
    forged.sign_as(Signer::SelfSigned, &key(9)).unwrap();
    forged
        .sign_as(Signer::App("chat".into()), &world.app)
        .unwrap();
    forged.sign_as(Signer::Service, &world.service).unwrap();
    assert_eq!(
        verifier(&world).verify(&forged),
        Err(VerifyError::BadSelfSignature { card: id })
    );
}

#[test]
fn a_signature_in_one_role_never_counts_in_another() {
    let world = world();
    // The service key also trusted as the app key: a service signature must still not
    // stand in for the app signature, because the signer name is signed.
    let mut card = CardRequest::new("alice", "chat").sign(&world.user).unwrap();
    card.sign_as(Signer::Service, &world.service).unwrap();
    let service_sig = *card.signature_by(&Signer::Service).unwrap();
    card.push_signature(virgil_card::CardSignature {
        signer: Signer::App("chat".into()),
        signature: service_sig,
    })
    .unwrap();
    let verifier = Verifier::new()
        .trust_service(world.service.public_key().clone())
        .trust_app("chat", world.service.public_key().clone());
    assert!(matches!(
        verifier.verify(&card),
        Err(VerifyError::BadAppSignature { .. })
    ));
}

#[test]
fn extra_signers_are_rejected_unless_allowed() {
    let world = world();
    let mut card = published(&world);
    card.sign_as(Signer::App("other".into()), &key(9)).unwrap();
    assert!(matches!(
        verifier(&world).verify(&card),
        Err(VerifyError::UnexpectedSigner { signer: Signer::App(ref id), .. }) if id == "other"
    ));
    verifier(&world)
        .allow_extra_signers(true)
        .verify(&card)
        .unwrap();
}

#[test]
fn duplicate_signers_are_rejected() {
    let world = world();
    let mut card = published(&world);
    assert_eq!(
        card.sign_as(Signer::Service, &world.service),
        Err(CardError::DuplicateSigner(Signer::Service))
    );
    let mut signatures = card.signatures().to_vec();
    signatures.push(signatures[0].clone());
    assert!(matches!(
        Card::from_parts(card.snapshot().to_vec(), signatures),
        Err(CardError::DuplicateSigner(Signer::SelfSigned))
    ));
}

#[test]
fn validation_names_the_field_and_limit() {
    let user = key(1);
    let check = |request: CardRequest| request.sign(&user).unwrap_err();
    assert_eq!(
        check(CardRequest::new("", "chat")),
        CardError::Empty { field: "identity" }
    );
    assert_eq!(
        check(CardRequest::new(&"a".repeat(257), "chat")),
        CardError::TooLong {
            field: "identity",
            max: 256
        }
    );
    CardRequest::new(&"é".repeat(256), "chat")
        .sign(&user)
        .unwrap();
    assert!(matches!(
        check(CardRequest::new("a\nb", "chat")),
        CardError::InvalidCharacters {
            field: "identity",
            ..
        }
    ));
    assert!(matches!(
        check(CardRequest::new("a", "ch at")),
        CardError::InvalidCharacters {
            field: "app_id",
            ..
        }
    ));
    assert_eq!(
        check(CardRequest::new("a", "")),
        CardError::Empty { field: "app_id" }
    );
    assert!(matches!(
        check(CardRequest::new("a", "c").identity_type("x/y")),
        CardError::InvalidCharacters {
            field: "identity_type",
            ..
        }
    ));
    assert_eq!(
        check(CardRequest::new("a", "c").data(&"k".repeat(65), "v")),
        CardError::TooLong {
            field: "data key",
            max: 64
        }
    );
    assert_eq!(
        check(CardRequest::new("a", "c").data("k", &"v".repeat(257))),
        CardError::TooLong {
            field: "data value",
            max: 256
        }
    );
    let mut many = CardRequest::new("a", "c");
    for i in 0..17 {
        many = many.data(&format!("k{i}"), "v");
    }
    assert_eq!(check(many), CardError::TooManyDataEntries { max: 16 });
    assert_eq!(
        check(CardRequest::new("a", "c").device(&"d".repeat(257), "")),
        CardError::TooLong {
            field: "info.device",
            max: 256
        }
    );
}

#[test]
fn snapshot_decoding_rejects_non_canonical_and_invalid_keys() {
    let world = world();
    let card = published(&world);
    let snapshot = card.snapshot().to_vec();
    assert_eq!(
        CardContent::from_snapshot(&snapshot).unwrap(),
        *card.content()
    );
    let mut trailing = snapshot.clone();
    trailing.push(0);
    assert!(matches!(
        CardContent::from_snapshot(&trailing),
        Err(CardError::Malformed { .. })
    ));
    let mut version = snapshot.clone();
    version[4] = 3;
    assert!(matches!(
        CardContent::from_snapshot(&version),
        Err(CardError::UnsupportedVersion { version: 3, .. })
    ));
    // Read as version 2, the fixed 100-byte key becomes a length prefix: malformed.
    version[4] = 2;
    assert!(matches!(
        CardContent::from_snapshot(&version),
        Err(CardError::Malformed { .. })
    ));
    // Corrupt the P-256 point inside the public key (last byte of the 100-byte key).
    let key_bytes = world.user.public_key().as_bytes();
    let at = snapshot
        .windows(key_bytes.len())
        .position(|w| w == key_bytes)
        .unwrap();
    let mut bad_key = snapshot.clone();
    bad_key[at + 99] ^= 1;
    assert!(matches!(
        CardContent::from_snapshot(&bad_key),
        Err(CardError::InvalidPublicKey(_))
    ));
}

#[test]
fn export_import_and_json_round_trip() {
    let world = world();
    let card = published(&world);
    let imported = Card::import(&card.export()).unwrap();
    assert_eq!(imported, card);
    verifier(&world).verify(&imported).unwrap();

    let json = serde_json::to_string(&card.to_json()).unwrap();
    let parsed: CardJson = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.clone().into_card().unwrap(), card);

    // An id that does not match the snapshot.
    let mut wrong = parsed;
    wrong.id = CardId::of_snapshot(b"other");
    assert_eq!(
        wrong.into_card(),
        Err(CardError::IdMismatch {
            expected: *card.id()
        })
    );
    for bad in ["", "!!!", "VkdMWA==", &"A".repeat(100_000)] {
        assert!(Card::import(bad).is_err(), "{bad:.20}");
    }
}

#[test]
fn rotation_links_to_the_previous_card() {
    let world = world();
    let old = published(&world);
    let new = CardRequest::new("alice", "chat")
        .replaces(*old.id())
        .sign(&key(7))
        .unwrap();
    assert_eq!(new.content().previous_card_id, Some(*old.id()));
    assert_ne!(new.id(), old.id());
}

/// A second device's card linked from the first: the link verifies, survives export and
/// JSON, passes the verifier, and means nothing for another identity, another key, or
/// as any other kind of signature.
#[test]
fn a_card_linked_from_an_existing_one() {
    let world = world();
    let first = published(&world);
    let phone = key(9);
    let mut second = CardRequest::new("alice", "chat")
        .created_at(1_700_000_100)
        .sign(&phone)
        .unwrap();
    assert!(!second.is_linked_from(&first));
    second.link_from(&first, &world.user).unwrap();
    assert!(second.is_linked_from(&first));
    assert_eq!(second.links().collect::<Vec<_>>(), vec![first.id()]);
    let signer = Signer::Link(*first.id());
    assert_eq!(signer.to_string(), format!("link:{}", first.id()));
    assert_eq!(signer.to_string().parse::<Signer>().unwrap(), signer);

    let imported = Card::import(&second.export()).unwrap();
    assert!(imported.is_linked_from(&first));
    let json: CardJson = second.to_json();
    assert!(json.into_card().unwrap().is_linked_from(&first));
    second
        .sign_as(Signer::App("chat".into()), &world.app)
        .unwrap();
    second.sign_as(Signer::Service, &world.service).unwrap();
    verifier(&world).verify(&second).unwrap();

    // A link is by the linking card's key, for the same identity, never itself.
    let mut wrong_key = CardRequest::new("alice", "chat").sign(&key(10)).unwrap();
    assert!(matches!(
        wrong_key.link_from(&first, &phone),
        Err(CardError::InvalidLink(_))
    ));
    let mut bob = CardRequest::new("bob", "chat").sign(&key(11)).unwrap();
    assert!(matches!(
        bob.link_from(&first, &world.user),
        Err(CardError::InvalidLink(_))
    ));
    let mut itself = first.clone();
    assert!(matches!(
        itself.link_from(&first, &world.user),
        Err(CardError::InvalidLink(_))
    ));
    // A link signature forged with another key, or copied onto another card, fails.
    let mut forged = CardRequest::new("alice", "chat").sign(&key(12)).unwrap();
    forged.sign_as(Signer::Link(*first.id()), &key(12)).unwrap();
    assert!(!forged.is_linked_from(&first));
    let mut copied = CardRequest::new("alice", "chat").sign(&key(13)).unwrap();
    let link = *second.signature_by(&signer).unwrap();
    copied
        .push_signature(virgil_card::CardSignature {
            signer: signer.clone(),
            signature: link,
        })
        .unwrap();
    assert!(!copied.is_linked_from(&first));
    // The link context is its own: a link signature is not a self-signature's bytes.
    let self_signature = second.signature_by(&Signer::SelfSigned).unwrap();
    assert_ne!(self_signature, second.signature_by(&signer).unwrap());
    assert!("link:00".parse::<Signer>().is_err());
    assert!(
        format!("link:{}", "A".repeat(64))
            .parse::<Signer>()
            .is_err()
    );
}

fn pq_owner() -> PrivateKey {
    PrivateKey::from_seed_with_suite(&[9; 32], virgil_crypto::Suite::PostQuantum).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_content_round_trips(
        identity in "[^\\p{Cc}]{1,40}",
        identity_type in "[A-Za-z0-9_.-]{1,20}",
        data in proptest::collection::btree_map("[A-Za-z0-9_.-]{1,10}", "[^\\p{Cc}]{0,30}", 0..16),
        device in proptest::option::of(("[^\\p{Cc}]{0,20}", "[^\\p{Cc}]{0,20}")),
        created_at in any::<u64>(),
        previous in proptest::option::of(any::<[u8; 32]>()),
        post_quantum in any::<bool>(),
    ) {
        let mut request = CardRequest::new(&identity, "app").identity_type(&identity_type).created_at(created_at);
        for (k, v) in &data {
            request = request.data(k, v);
        }
        if let Some((d, n)) = &device {
            request = request.device(d, n);
        }
        if let Some(previous) = previous {
            request = request.replaces(CardId::from_bytes(previous));
        }
        // Both snapshot versions: 1 for a suite-1 key, 2 for a suite-2 key.
        let owner = if post_quantum { pq_owner() } else { key(1) };
        let card = request.sign(&owner).unwrap();
        prop_assert_eq!(card.snapshot()[4], if post_quantum { 2 } else { 1 });
        let decoded = CardContent::from_snapshot(card.snapshot()).unwrap();
        prop_assert_eq!(&decoded, card.content());
        prop_assert_eq!(decoded.to_snapshot().unwrap(), card.snapshot().to_vec());
        prop_assert_eq!(Card::import(&card.export()).unwrap(), card);
    }

    /// Any single-byte change to the snapshot or to a signature makes the card fail
    /// to decode or fail verification.
    #[test]
    fn prop_any_tamper_fails(position in any::<prop::sample::Index>(), flip in 1u8..=255, target in 0usize..4) {
        let world = world();
        let card = published(&world);
        let mut snapshot = card.snapshot().to_vec();
        let mut signatures = card.signatures().to_vec();
        if target == 0 {
            let i = position.index(snapshot.len());
            snapshot[i] ^= flip;
        } else {
            let entry = &mut signatures[target - 1];
            let mut bytes = *entry.signature.as_bytes();
            bytes[position.index(64)] ^= flip;
            entry.signature = virgil_crypto::sign::Signature::from_bytes(bytes);
        }
        if let Ok(tampered) = Card::from_parts(snapshot, signatures) {
            prop_assert!(verifier(&world).verify(&tampered).is_err());
        }
    }

    #[test]
    fn prop_import_never_panics(text in "\\PC{0,300}") {
        let _ = Card::import(&text);
    }

    #[test]
    fn prop_import_of_mutated_exports_never_panics(position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let world = world();
        let mut bytes = virgil_crypto::encoding::from_base64(&published(&world).export()).unwrap();
        let i = position.index(bytes.len());
        bytes[i] = byte;
        let _ = Card::import(&virgil_crypto::encoding::to_base64(&bytes));
        let _ = CardContent::from_snapshot(&bytes);
    }
}

/// A suite-2 key's card: snapshot version 2 with a length-prefixed 1251-byte key, one
/// encoding per content (a suite-1 key in a version-2 snapshot is not canonical).
#[test]
fn post_quantum_cards_use_snapshot_version_2() {
    use virgil_crypto::Suite;
    let pq = PrivateKey::from_seed_with_suite(&[5; 32], Suite::PostQuantum).unwrap();
    let content = |key: &PrivateKey| CardContent {
        identity: "alice".into(),
        identity_type: "user".into(),
        public_key: key.public_key().clone(),
        app_id: "chat".into(),
        data: Default::default(),
        info: None,
        created_at: 1_700_000_000,
        previous_card_id: None,
    };
    let snapshot = content(&pq).to_snapshot().unwrap();
    assert_eq!(&snapshot[..5], b"VGLC\x02");
    let decoded = CardContent::from_snapshot(&snapshot).unwrap();
    assert_eq!(decoded.public_key.suite(), Suite::PostQuantum);
    assert_eq!(decoded, content(&pq));

    // The same content with a suite-1 key, hand-framed as version 2.
    let classic = PrivateKey::from_seed(&[5; 32]).unwrap();
    let v1 = content(&classic).to_snapshot().unwrap();
    assert_eq!(v1[4], 1);
    let key_at = v1
        .windows(100)
        .position(|w| w == classic.public_key().as_bytes())
        .unwrap();
    let mut v2 = v1[..key_at].to_vec();
    v2[4] = 2;
    v2.extend_from_slice(&100u64.to_be_bytes());
    v2.extend_from_slice(&v1[key_at..]);
    assert!(matches!(
        CardContent::from_snapshot(&v2),
        Err(CardError::Malformed { .. })
    ));
    // A length prefix that disagrees with the key's suite is an invalid key.
    let mut short = snapshot.clone();
    let len_at = snapshot
        .windows(8)
        .position(|w| w == 1251u64.to_be_bytes())
        .unwrap();
    short[len_at..len_at + 8].copy_from_slice(&1250u64.to_be_bytes());
    short.remove(len_at + 8 + 1250);
    assert!(matches!(
        CardContent::from_snapshot(&short),
        Err(CardError::InvalidPublicKey(_))
    ));
    // A huge length prefix is refused by the decoder's limit, without allocating it.
    let mut huge = snapshot;
    huge[len_at..len_at + 8].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(
        CardContent::from_snapshot(&huge),
        Err(CardError::Malformed { .. })
    ));
}
