//! The seed tutorial, step by step, against a real cards service on 127.0.0.1 (the test
//! plays the application server: it approves and publishes the exported card requests).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use virgil::{Buffer, Config, Encoding, Error, RecipientPolicy, Suite, Virgil};
use virgil_api::token;
use virgil_card::{Signer, Verifier};
use virgil_client::CardsClient;
use virgil_testkit::servers::spawn_cards_service;
use virgil_testkit::{key, now};

mod support;

const APP: u8 = 100;
const SERVICE: u8 = 101;

fn start_service(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}?mode=rwc", dir.join("cards.db").display());
    spawn_cards_service(
        &url,
        key(SERVICE),
        &[("chat", key(APP).public_key().clone())],
    )
}

/// A device of user `who`: its own key directory.
fn device(base: &str, dir: &std::path::Path, who: &'static str) -> Virgil {
    let config = Config::new(
        "chat",
        key(APP).public_key().clone(),
        key(SERVICE).public_key().clone(),
    )
    .cards_service(base)
    .key_dir(dir.join(who))
    .tokens(move || Ok(token::issue(&key(APP), "chat", who, now(), 300)))
    // Tokens come from "your server" here, not from a login: say who the user is, so
    // that lookups of their own identity are checked against this device's keys.
    .identity(who);
    Virgil::new(config).unwrap()
}

/// The application server's part: approve an exported card request and publish it.
fn approve_and_publish(base: &str, exported: &str) {
    let mut card = virgil_card::Card::import(exported).unwrap();
    card.verify_self_signature().unwrap();
    card.sign_as(Signer::App("chat".into()), &key(APP)).unwrap();
    let verifier = Verifier::new()
        .trust_service(key(SERVICE).public_key().clone())
        .trust_app("chat", key(APP).public_key().clone());
    CardsClient::builder(base, verifier)
        .token_source(|| Ok(token::issue(&key(APP), "chat", "chat", now(), 300)))
        .build()
        .publish(&card)
        .unwrap();
}

#[test]
fn alice_sends_bob_a_signed_encrypted_message() {
    let dir = tempfile::tempdir().unwrap();
    let base = start_service(dir.path());
    let alice_device = device(&base, dir.path(), "alice");
    let bob_device = device(&base, dir.path(), "bob");

    // Register users: generate keys, save them, create cards, transmit to the server.
    let mut card_ids = Vec::new();
    for (virgil, name) in [(&alice_device, "alice"), (&bob_device, "bob")] {
        let user_key = virgil.keys().generate().unwrap();
        virgil
            .keys()
            .save(&user_key, name, Some("[KEY_PASSWORD]"))
            .unwrap();
        let identity = virgil.identities().create_user(name);
        let card = virgil.cards().create(&identity, &user_key).unwrap();
        let exported_card = card.export();
        approve_and_publish(&base, &exported_card);
        card_ids.push(*card.id());
    }
    let alice_card_id = card_ids[0];

    // Sign & encrypt.
    let alice_key = alice_device
        .keys()
        .load("alice", Some("[KEY_PASSWORD]"))
        .unwrap();
    let bob_cards = alice_device.cards().find(&["bob"]).unwrap().cards;
    assert_eq!(bob_cards.len(), 1);
    let message = "Hey Bob, how's it going?";
    let cipher_text = alice_key
        .sign_then_encrypt(message, &bob_cards)
        .unwrap()
        .to_string(Encoding::Base64);

    // Decrypt & verify.
    let bob_key = bob_device
        .keys()
        .load("bob", Some("[KEY_PASSWORD]"))
        .unwrap();
    let alice_card = bob_device.cards().get(&alice_card_id).unwrap().card;
    let cipher_buff = Buffer::from_string(&cipher_text, Encoding::Base64).unwrap();
    let original_message = bob_key
        .decrypt_then_verify(&cipher_buff, &alice_card)
        .unwrap()
        .to_string(Encoding::Utf8);
    assert_eq!(original_message, message);

    // Alice can read what she sent; Bob's own card is not Alice's: clear errors.
    assert_eq!(
        alice_key
            .decrypt_then_verify(&cipher_buff, &alice_card)
            .unwrap()
            .to_string(Encoding::Utf8),
        message
    );
    match bob_key.decrypt_then_verify(&cipher_buff, &bob_cards[0].card) {
        Err(error @ Error::WrongSender { .. }) => assert!(
            error
                .to_string()
                .contains("signature does not match the sender's card")
        ),
        other => panic!("{other:?}"),
    }
    // Many messages through one buffer (docs/guide.md).
    let mut cipher = Buffer::default();
    let mut received = Buffer::default();
    for text in ["one", "two", "three"] {
        alice_key
            .sign_then_encrypt_into(text, &bob_cards, &mut cipher)
            .unwrap();
        bob_key
            .decrypt_then_verify_into(&cipher, std::slice::from_ref(&alice_card), &mut received)
            .unwrap();
        assert_eq!(received.to_string(Encoding::Utf8), text);
    }
    let stranger = alice_device.keys().generate().unwrap();
    assert!(matches!(
        stranger.decrypt_then_verify(&cipher_buff, &alice_card),
        Err(Error::NotForThisKey { .. })
    ));
    assert!(matches!(
        alice_device.keys().load("alice", Some("wrong")),
        Err(Error::KeyStore(_))
    ));

    // Key changes: bob adds a phone, linked from his first card.
    let phone_key = bob_device.keys().generate().unwrap();
    let bob = bob_device.identities().create_user("bob");
    let mut phone_card = bob_device.cards().create(&bob, &phone_key).unwrap();
    bob_device
        .cards()
        .link(&mut phone_card, &bob_cards[0].card, &bob_key)
        .unwrap();
    approve_and_publish(&base, &phone_card.export());
    let found = alice_device.cards().find(&["bob"]).unwrap();
    assert!(matches!(
        &found.events[..],
        [virgil::ContactEvent::Linked { card, .. }] if card == phone_card.id()
    ));
    let bob_cards = alice_device.cards().find(&["bob"]).unwrap().cards;
    assert_eq!(bob_cards.len(), 2);
    match alice_device.cards().find(&["bob"]) {
        Ok(found) => {
            for event in &found.events {
                println!("{event}"); // "bob added a device (card …), linked from card …"
            }
        }
        Err(Error::KeyChanged(change)) => {
            println!("{change}"); // ask alice; if bob confirms:
            alice_device.contacts().accept("bob").unwrap();
        }
        Err(other) => panic!("{other}"),
    }
    let number = alice_device.contacts().safety_number("bob").unwrap();
    println!("read this to bob: {number}");
    // …and once bob's device shows the same 60 digits:
    alice_device.contacts().trust("bob").unwrap();
    assert_eq!(
        number,
        bob_device.contacts().safety_number("alice").unwrap()
    );
    assert!(alice_device.contacts().list().unwrap()[0].verified);
    match bob_device.monitor() {
        Ok(monitored) => println!(
            "{} versions of bob's cards checked, up to epoch {:?}",
            monitored.versions, monitored.epoch
        ),
        Err(Error::Monitor(alarm)) => println!("{alarm}"), // tell bob: revoke, change password
        Err(other) => panic!("{other}"),
    }
    let code = alice_device.contacts().verification_code("bob").unwrap();
    println!("or scan this: {}", code.encode()); // number + alice's directory checkpoint
    assert!(bob_device.monitor().unwrap().versions >= 2);
}

/// The guide's "Post-quantum keys": the suite of new keys and the policy that refuses
/// classic recipients (no server needed: the policy is checked before encrypting).
#[test]
fn post_quantum_keys_and_the_policy() {
    let config = Config::new(
        "chat",
        key(APP).public_key().clone(),
        key(SERVICE).public_key().clone(),
    )
    .key_suite(Suite::PostQuantum)
    .recipient_policy(RecipientPolicy::RequirePostQuantum);
    let virgil = Virgil::new(config).unwrap();
    let pq_key = virgil.keys().generate().unwrap();
    assert_eq!(pq_key.suite(), Suite::PostQuantum);

    let classic_key = virgil.keys().generate_with_suite(Suite::Classic).unwrap();
    let carol = virgil.identities().create_user("carol");
    let classic_card = virgil.cards().create(&carol, &classic_key).unwrap();
    match pq_key.sign_then_encrypt("for carol", &[classic_card]) {
        Err(Error::NotPostQuantum { whose }) => println!("not sent: {whose} is classic"),
        other => panic!("encrypted to a classic card: {other:?}"),
    }

    // A post-quantum card is accepted, and its holder reads the message.
    let dana_key = virgil.keys().generate().unwrap();
    let dana = virgil.identities().create_user("dana");
    let dana_card = virgil.cards().create(&dana, &dana_key).unwrap();
    let sealed = pq_key.sign_then_encrypt("for dana", &[dana_card]).unwrap();
    let own_card = virgil
        .cards()
        .create(&virgil.identities().create_user("me"), &pq_key)
        .unwrap();
    let read = dana_key.decrypt_then_verify(&sealed, &own_card).unwrap();
    assert_eq!(read.to_string(Encoding::Utf8), "for dana");
}

/// The deployment's policy guards every way a device encrypts: keys it generates and
/// loads, both tiers, signed and unsigned, the sender's own copy. Only the free unsigned
/// functions, which know no deployment, follow none (documented).
#[test]
fn every_door_follows_the_deployments_policy() {
    use std::io::Write as _;
    use virgil::stream::{Encryptor, Format};
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(
        "chat",
        key(APP).public_key().clone(),
        key(SERVICE).public_key().clone(),
    )
    .key_suite(Suite::PostQuantum)
    .recipient_policy(RecipientPolicy::RequirePostQuantum)
    .key_dir(dir.path());
    let virgil = Virgil::new(config).unwrap();
    let refused = |result: Result<(), Error>, door: &str| match result {
        Err(Error::NotPostQuantum { whose }) => whose,
        other => panic!("{door}: encrypted to a classic key: {other:?}"),
    };
    let pq = virgil.keys().generate().unwrap();
    let classic = virgil.keys().generate_with_suite(Suite::Classic).unwrap();
    let classic_to = [classic.public_key().clone()];
    let pq_to = [pq.public_key().clone()];

    refused(
        virgil.encrypt("x", &classic_to).map(drop),
        "Virgil::encrypt",
    );
    refused(
        virgil
            .encryptor(Vec::new(), &classic_to, Format::Armored)
            .map(drop),
        "Virgil::encryptor",
    );
    refused(
        pq.sign_then_encrypt("x", &classic_to).map(drop),
        "one-shot, signed",
    );
    refused(
        Encryptor::signed(Vec::new(), &pq, &classic_to, Format::Binary).map(drop),
        "streaming, signed",
    );
    virgil.keys().save(&pq, "pq", Some("pw")).unwrap();
    let loaded = virgil.keys().load("pq", Some("pw")).unwrap();
    refused(
        loaded.sign_then_encrypt("x", &classic_to).map(drop),
        "loaded key",
    );
    // A classic sender's own copy is a classic stanza too; without the copy it may send.
    let whose = refused(classic.sign_then_encrypt("x", &pq_to).map(drop), "own copy");
    assert_eq!(whose, "your own key");
    let classic = classic.with_own_copy(false);
    assert!(classic.sign_then_encrypt("x", &pq_to).is_ok());

    // Post-quantum recipients pass every door.
    assert!(virgil.encrypt("x", &pq_to).is_ok());
    let mut writer = virgil
        .encryptor(Vec::new(), &pq_to, Format::Binary)
        .unwrap();
    writer.write_all(b"x").unwrap();
    assert_eq!(
        pq.decrypt(writer.finish().unwrap()).unwrap().as_bytes(),
        b"x"
    );
    // The free functions know no deployment: they follow no policy.
    assert!(virgil::encrypt("x", &classic_to).is_ok());
}

/// docs/guide.md, "A second device": pairing through real servers.
#[test]
fn a_second_device_pairs_with_a_code() {
    let scene = support::Scene::sqlite(2);
    let [phone, laptop] = scene.devices::<2>();
    phone
        .account()
        .register("alice", support::PASSWORD)
        .unwrap();
    let (phone_key, _) = support::publish(&phone, "alice", None);
    laptop.account().login("alice", support::PASSWORD).unwrap();
    // The laptop (new, logged in as alice) makes its key and shows a code;
    // alice types it on her phone, which has her card.
    let laptop_key = laptop.keys().generate().unwrap();
    let joining = laptop.devices().join(&laptop_key).unwrap();
    let code = joining.code().to_string();
    let fingerprint = joining.fingerprint();
    let wait = std::time::Duration::from_secs(600);
    let card = std::thread::scope(|both| {
        let on_phone = both.spawn(|| {
            let request = phone.devices().pair(&code, wait).unwrap();
            assert_eq!(request.fingerprint(), fingerprint); // alice compares the screens
            request.approve(&phone_key).unwrap()
        });
        let card = joining.wait(wait).unwrap();
        assert_eq!(on_phone.join().unwrap().card.id(), card.card.id());
        card
    });
    assert_eq!(card.card.public_key(), laptop_key.public_key());
}

/// Every Rust block of docs/guide.md appears, line for line, in this file.
#[test]
fn the_guide_is_this_test() {
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/guide.md"))
            .unwrap();
    let this =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tutorial.rs")).unwrap();
    let normalize = |text: &str| {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let this = normalize(&this);
    let mut blocks = 0;
    for block in guide.split("```rust").skip(1) {
        let code = block.split("```").next().unwrap();
        assert!(
            this.contains(&normalize(code)),
            "docs/guide.md has code that is not in tests/tutorial.rs:\n{code}"
        );
        blocks += 1;
    }
    assert!(blocks >= 5, "only {blocks} code blocks found in the guide");
}
