//! Issue 27's attacks on the key-change protection, through both real servers on
//! 127.0.0.1 (SQLite, and PostgreSQL where the store decides). Each test is the attack,
//! asserting the defence; each was seen to succeed against the code before the defence.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use support::*;
use virgil::card::{CardRequest, Signer};
use virgil::{Card, ContactEvent, Error, Identity, RevocationReason};
use virgil_client::{CardsClient, ClientError, TlsRoots};
use virgil_testkit::key;

/// What the application key alone can do at the cards service: publish cards it
/// approved, revoke any card.
fn app_key_client(cards_url: &str) -> CardsClient {
    CardsClient::for_application(
        cards_url,
        key(SERVICE).public_key().clone(),
        "chat",
        &key(APP),
        TlsRoots::default(),
    )
    .unwrap()
}

/// A card for `identity` (of `identity_type`) with a fresh key, approved with the
/// application key.
fn app_approved_card(identity: &str, identity_type: &str) -> Card {
    let attacker = virgil::crypto::PrivateKey::generate().unwrap();
    let mut card = CardRequest::new(identity, "chat")
        .identity_type(identity_type)
        .sign(&attacker)
        .unwrap();
    card.sign_as(Signer::App("chat".into()), &key(APP)).unwrap();
    card
}

fn api_code<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::AppServer(ClientError::Api { code, .. }))
        | Err(Error::CardsService(ClientError::Api { code, .. })) => code.to_string(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn client_code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> String {
    match result {
        Err(ClientError::Api { code, .. }) => code.to_string(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Hole 1: with bob's session token alone (or the application key alone), a card whose
/// identity is "bob" but whose identity type is another one. A card's owner is its
/// application and identity: the link rule applies to it like to any card of bob's.
fn another_identity_type_needs_a_link(backend: &str, test: &str) {
    let Some(scene) = Scene::on(backend, test, 3, 0) else {
        return;
    };
    let cards_url = &scene.cards_url;
    let [alice, bob, mallory] = scene.devices();
    let Cast {
        alice_key,
        bob_card,
        ..
    } = alice_and_bob(&alice, &bob);
    alice.contacts().trust("bob").unwrap();

    // Through the application server, with a copy of bob's session token.
    mallory.account().resume(bob.account().session().unwrap());
    let stolen = mallory.keys().generate().unwrap();
    let other_type = Identity {
        value: "bob".into(),
        identity_type: "other".into(),
    };
    let request = mallory.cards().create(&other_type, &stolen).unwrap();
    assert_eq!(
        api_code(mallory.account().publish_card(&request)),
        "link_required"
    );
    // Straight to the cards service, with the application key.
    assert_eq!(
        client_code(app_key_client(cards_url).publish(&app_approved_card("bob", "email"))),
        "link_required"
    );
    // Nothing reached alice, nor bob's own devices.
    let sent = alice
        .messages()
        .send("bob", &alice_key, "for bob only")
        .unwrap();
    assert_eq!(sent.cards, 2, "bob's one card and alice's");
    assert_eq!(card_ids(&alice, "bob"), vec![*bob_card.id()]);
    assert_eq!(bob.self_check().unwrap().cards.len(), 1);
}

#[test]
fn a_card_of_another_identity_type_needs_a_link() {
    another_identity_type_needs_a_link("sqlite", "");
}

#[test]
fn a_card_of_another_identity_type_needs_a_link_on_postgres() {
    another_identity_type_needs_a_link(
        "postgres",
        concat!(
            module_path!(),
            "::a_card_of_another_identity_type_needs_a_link_on_postgres"
        ),
    );
}

/// Hole 2: each device computed its own half of the safety number from the directory's
/// answer about itself, so a card swap shown to everyone gave the same number on both
/// devices. Now bob's device computes his half from the cards it knows are his: the
/// swap is an alarm on his device, never a matching number.
#[test]
fn a_swap_served_to_everyone_does_not_give_matching_safety_numbers() {
    let scene = Scene::sqlite(2);
    let cards_url = &scene.cards_url;
    let [alice, bob] = scene.devices();
    let Cast { bob_card, .. } = alice_and_bob(&alice, &bob);
    let honest = alice.contacts().safety_number("bob").unwrap();
    assert_eq!(honest, bob.contacts().safety_number("alice").unwrap());

    // The application key revokes bob's card and approves one of its own for "bob":
    // everyone, bob included, is served the swapped card.
    bob.cards()
        .revoke_as_application(bob_card.id(), RevocationReason::Unspecified, &key(APP))
        .unwrap();
    let swapped = app_approved_card("bob", "user");
    app_key_client(cards_url).publish(&swapped).unwrap();

    // Alice (accepting the change, as a first contact would) computes a number with
    // the swapped card; bob's device refuses to: none of its cards is active and the
    // directory's card for bob is not one it made.
    alice.contacts().accept("bob").unwrap();
    let alices = alice.contacts().safety_number("bob").unwrap();
    assert_ne!(alices, honest);
    match bob.contacts().safety_number("alice") {
        Err(Error::SelfCheck(alarm)) => {
            assert_eq!(alarm.cards[0].card, *swapped.id());
            assert_eq!(alarm.own_active, 0);
        }
        other => panic!("bob's device showed a number for the swapped view: {other:?}"),
    }
}

/// Hole 2, a swap beside the real card (a directory that skips the link rule, or a
/// database edit): alice's half holds both keys, bob's device alarms instead of
/// answering with the directory's view.
#[test]
fn a_card_added_beside_the_owners_is_an_alarm_not_a_safety_number() {
    let scene = Scene::sqlite(2);
    let [alice, bob] = scene.devices();
    alice_and_bob(&alice, &bob);
    // Written straight into the service's database, with the app and service keys, and
    // marked for the key directory's next epoch (a row alone is never served: the
    // cards served are the directory's).
    let mut added = app_approved_card("bob", "user");
    added.sign_as(Signer::Service, &key(SERVICE)).unwrap();
    insert_card(&scene.dir.path().join("cards.db"), &added);

    let number = alice.contacts().safety_number("bob").unwrap();
    assert!(!number.digits().is_empty());
    // Within a few epochs (the publisher wakes at least every second) bob sees it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match bob.contacts().safety_number("alice") {
            Err(Error::SelfCheck(alarm)) => {
                assert!(alarm.cards[0].card == *added.id() && alarm.own_active == 1);
                break;
            }
            other => assert!(
                std::time::Instant::now() < deadline,
                "no alarm: {:?}",
                other.map(|n| n.digits().to_owned())
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Inserts `card` as active into the SQLite cards database at `path` and marks its
/// owner's directory entry changed, as someone who can write to the database would (no
/// rule is checked).
fn insert_card(path: &std::path::Path, card: &Card) {
    insert_card_row(path, card);
    db_exec(path, &[mark_changed(card.identity())]);
}

/// Hole 3 at the service: a card linked from a card revoked as compromised (here a
/// reset card, which needs no link, carrying one to pass as "a new device") is refused.
fn a_link_from_a_revoked_card_is_refused_by_the_service(backend: &str, test: &str) {
    let Some(scene) = Scene::on(backend, test, 3, 0) else {
        return;
    };
    let [alice, bob, mallory] = scene.devices();
    let Cast {
        alice_key,
        bob_key,
        bob_card,
        ..
    } = alice_and_bob(&alice, &bob);
    alice.messages().send("bob", &alice_key, "hello").unwrap();

    // Mallory steals bob's key and password; bob notices and revokes the card.
    bob.cards()
        .revoke(bob_card.id(), RevocationReason::Compromised, &bob_key)
        .unwrap();
    mallory.account().login("bob", PASSWORD).unwrap();
    let thief = mallory.keys().generate().unwrap();
    let identity = mallory.identities().create_user("bob");
    let mut request = mallory.cards().create_reset(&identity, &thief).unwrap();
    mallory
        .cards()
        .link(&mut request, &bob_card, &bob_key)
        .unwrap();
    assert_eq!(
        api_code(mallory.account().publish_reset_card(&request, PASSWORD)),
        "invalid_link"
    );
    // …and as an ordinary card ("first", since bob has no active card left).
    let mut request = mallory.cards().create(&identity, &thief).unwrap();
    mallory
        .cards()
        .link(&mut request, &bob_card, &bob_key)
        .unwrap();
    assert_eq!(
        api_code(mallory.account().publish_card(&request)),
        "invalid_link"
    );
    // Alice is told that the card she used for bob was revoked as compromised.
    match alice.messages().send("bob", &alice_key, "secret") {
        Err(Error::NoCard { identity }) => assert_eq!(identity, "bob"),
        other => panic!("{other:?}"),
    }
    let contact = alice.contacts().list().unwrap();
    assert!(matches!(
        contact[0].cards.get(bob_card.id()).unwrap().state,
        virgil::card::PinnedState::Revoked(RevocationReason::Compromised)
    ));
}

#[test]
fn a_link_from_a_revoked_card_is_refused() {
    a_link_from_a_revoked_card_is_refused_by_the_service("sqlite", "");
}

#[test]
fn a_link_from_a_revoked_card_is_refused_on_postgres() {
    a_link_from_a_revoked_card_is_refused_by_the_service(
        "postgres",
        concat!(
            module_path!(),
            "::a_link_from_a_revoked_card_is_refused_on_postgres"
        ),
    );
}

/// Hole 3 at the client: the thief linked a card from bob's key while that card was
/// still active (the service had to accept it), then bob revoked the stolen card as
/// compromised. Alice's client learns the revocation, and the link from the revoked
/// card no longer counts: a key change, not "bob added a device".
#[test]
fn a_card_revoked_as_compromised_vouches_for_nothing_at_the_client() {
    let scene = Scene::sqlite(3);
    let (cards_url, app_url) = (&scene.cards_url, &scene.app_url);
    let [alice, bob, mallory] = scene.devices();
    let Cast {
        alice_key,
        bob_key,
        bob_card,
        ..
    } = alice_and_bob(&alice, &bob);
    alice.messages().send("bob", &alice_key, "hello").unwrap();

    let (_, thiefs) = publish(&mallory, "bob", Some((&bob_card, &bob_key)));
    bob.cards()
        .revoke(bob_card.id(), RevocationReason::Compromised, &bob_key)
        .unwrap();

    match alice.messages().send("bob", &alice_key, "secret") {
        Err(Error::KeyChanged(change)) => assert_eq!(change.cards, vec![*thiefs.id()]),
        other => panic!("alice sent to the thief's card: {other:?}"),
    }
    // Under Warn she hears both: the revocation and the key change.
    let warned = device_with(
        cards_url,
        app_url,
        scene.home(0),
        virgil::KeyChangePolicy::Warn,
    );
    warned.account().login("alice", PASSWORD).unwrap();
    let contacts = warned.contacts().list().unwrap();
    assert!(matches!(
        contacts[0].cards.get(bob_card.id()).unwrap().state,
        virgil::card::PinnedState::Revoked(RevocationReason::Compromised)
    ));
    let found = warned.cards().find(&["bob"]).unwrap();
    assert!(
        found
            .events
            .iter()
            .any(|event| matches!(event, ContactEvent::KeyChanged(change) if change.cards == vec![*thiefs.id()])),
        "{:?}",
        found.events
    );
}

/// Hole 3, the told part: a contact's client records (and says, once) that a card it
/// used was revoked, even when no new card appears.
#[test]
fn contacts_learn_that_a_card_they_used_was_revoked() {
    let scene = Scene::sqlite(3);
    let [alice, bob, bob_phone] = scene.devices();
    let Cast {
        alice_key,
        bob_key,
        bob_card,
        ..
    } = alice_and_bob(&alice, &bob);
    let (_, phone) = publish(&bob_phone, "bob", Some((&bob_card, &bob_key)));
    assert_eq!(
        alice
            .messages()
            .send("bob", &alice_key, "hi")
            .unwrap()
            .cards,
        3
    );

    bob.cards()
        .revoke(phone.id(), RevocationReason::Compromised, &bob_key)
        .unwrap();
    let sent = alice.messages().send("bob", &alice_key, "hi").unwrap();
    assert_eq!(sent.cards, 2);
    match &sent.events[..] {
        [
            event @ ContactEvent::CardRevoked {
                card,
                reason: Some(RevocationReason::Compromised),
                ..
            },
        ] => {
            assert_eq!(card, phone.id());
            assert!(event.to_string().contains("COMPROMISED"), "{event}");
        }
        other => panic!("alice was not told: {other:?}"),
    }
    assert!(
        alice
            .messages()
            .send("bob", &alice_key, "hi")
            .unwrap()
            .events
            .is_empty(),
        "said once"
    );
}

/// Hole 4: bob's own device pinned the application's card for bob as a "first contact"
/// and sent to it. Now every lookup of bob's own identity on his device is checked
/// against the cards its keys made: an alarm, never pinned, never encrypted to, never
/// "accept".
#[test]
fn the_owners_device_alarms_on_a_card_it_did_not_make() {
    let scene = Scene::sqlite(2);
    let (cards_url, app_url) = (&scene.cards_url, &scene.app_url);
    let [alice, bob] = scene.devices();
    let Cast {
        bob_key, bob_card, ..
    } = alice_and_bob(&alice, &bob);
    // A device of bob's linked from his first card: announced, not an alarm.
    let phone_home = tempfile::tempdir().unwrap();
    let phone = device(cards_url, app_url, phone_home.path());
    let (_, phone_card) = publish(&phone, "bob", Some((&bob_card, &bob_key)));
    let check = bob.self_check().unwrap();
    assert!(check.checked);
    assert_eq!(check.cards.len(), 2);
    assert!(matches!(
        &check.events[..],
        [ContactEvent::OwnCardLinked { card, from }] if card == phone_card.id() && from == bob_card.id()
    ));
    // …and the phone, which holds only its own key, trusts the card it was linked from.
    assert_eq!(phone.self_check().unwrap().cards.len(), 2);

    for card in [&bob_card, &phone_card] {
        bob.cards()
            .revoke_as_application(card.id(), RevocationReason::Unspecified, &key(APP))
            .unwrap();
    }
    let swapped = app_approved_card("bob", "user");
    app_key_client(cards_url).publish(&swapped).unwrap();

    // Every door of bob's device: the self-check, a lookup naming him, a send (which
    // looks the sender up), the safety number; and "accept" is refused for himself.
    for outcome in [
        bob.self_check().map(|_| ()),
        bob.cards().find(&["alice", "bob"]).map(|_| ()),
        bob.messages().send("alice", &bob_key, "hi").map(|_| ()),
        bob.contacts().safety_number("alice").map(|_| ()),
        phone.self_check().map(|_| ()),
    ] {
        match outcome {
            Err(Error::SelfCheck(alarm)) => {
                assert_eq!(alarm.identity, "bob");
                assert_eq!(alarm.cards[0].card, *swapped.id());
                assert_eq!(alarm.own_active, 0);
                assert!(!alarm.to_string().contains("contact accept"), "{alarm}");
            }
            other => panic!("bob's device went ahead: {other:?}"),
        }
    }
    assert!(matches!(
        bob.contacts().accept("bob"),
        Err(Error::OwnIdentity { .. })
    ));
    assert!(matches!(
        bob.contacts().trust("bob"),
        Err(Error::OwnIdentity { .. })
    ));
    assert!(
        bob.contacts()
            .list()
            .unwrap()
            .iter()
            .all(|c| c.identity != "bob"),
        "bob is never his own contact"
    );
}

/// Hole 4, the reset door: with the password alone and a reset delay of 0, the thief's
/// reset card is active at once. Bob's device is alarmed, and told to act, never to
/// accept the change.
#[test]
fn a_reset_the_owner_did_not_make_is_an_alarm_on_their_device() {
    let scene = Scene::sqlite(2);
    let [bob, mallory] = scene.devices();
    bob.account().register("bob", PASSWORD).unwrap();
    publish(&bob, "bob", None);
    mallory.account().login("bob", PASSWORD).unwrap();
    let thief = mallory.keys().generate().unwrap();
    let request = mallory
        .cards()
        .create_reset(&mallory.identities().create_user("bob"), &thief)
        .unwrap();
    mallory
        .account()
        .publish_reset_card(&request, PASSWORD)
        .unwrap();
    match bob.self_check() {
        Err(Error::SelfCheck(alarm)) => {
            assert_eq!(alarm.cards[0].card, *request.id());
            assert!(!alarm.to_string().contains("accept"), "{alarm}");
        }
        other => panic!("{other:?}"),
    }
    // The thief's own device, which made the reset, sees nothing wrong: it is the
    // directory and bob's other devices that tell.
    assert!(mallory.self_check().is_ok());
}

/// Hole 5: a proxy dropped the pending reset card from bob's search answers, and the
/// client, finding the answer's one signature invalid, fell back to each card's own
/// status signature: no alarm. Now an answer is used only with the service's signature
/// over exactly its query and every card in it.
#[test]
fn a_trimmed_or_replayed_search_answer_is_refused() {
    let Some(scene) = Scene::on("sqlite", "", 3, 86_400) else {
        return;
    };
    let (cards_url, app_url) = (&scene.cards_url, &scene.app_url);
    let trimming = virgil_testkit::proxy::spawn_tampering_proxy(cards_url, |path, body| {
        if path != "/v1/cards/actions/search" {
            return body;
        }
        let mut answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if let Some(cards) = answer["cards"].as_array_mut() {
            cards.retain(|card| card["status"]["state"] != "pending");
        }
        serde_json::to_vec(&answer).unwrap()
    });
    let bob = device(&trimming, app_url, scene.home(0));
    let mallory = device(cards_url, app_url, scene.home(1));
    bob.account().register("bob", PASSWORD).unwrap();
    publish(&bob, "bob", None);
    mallory.account().login("bob", PASSWORD).unwrap();
    let thief = mallory.keys().generate().unwrap();
    let request = mallory
        .cards()
        .create_reset(&mallory.identities().create_user("bob"), &thief)
        .unwrap();
    mallory
        .account()
        .publish_reset_card(&request, PASSWORD)
        .unwrap();

    for outcome in [
        bob.cards().pending_resets("bob").map(|_| ()),
        bob.self_check().map(|_| ()),
    ] {
        assert!(
            matches!(
                outcome,
                Err(Error::CardsService(ClientError::Status(
                    virgil::card::StatusError::AnswerNotSigned
                )))
            ),
            "the trimmed answer was used: {outcome:?}"
        );
    }
    // The honest answer to the same device raises the alarm.
    let direct = device(cards_url, app_url, scene.home(0));
    direct.account().resume(bob.account().session().unwrap());
    assert!(matches!(direct.self_check(), Err(Error::SelfCheck(_))));

    // A proxy that answers another query (bob's lookup of alice and bob, asked as one
    // of alice only: "bob has no card") is refused too.
    let narrowing = virgil_testkit::proxy::spawn_rewriting_proxy(cards_url, |path, request| {
        if path == "/v1/cards/actions/search" {
            br#"{"identities":["alice"]}"#.to_vec()
        } else {
            request
        }
    });
    let narrowed = device(&narrowing, app_url, scene.home(2));
    narrowed.account().resume(bob.account().session().unwrap());
    assert!(matches!(
        narrowed.cards().find(&["alice", "bob"]),
        Err(Error::CardsService(ClientError::Status(
            virgil::card::StatusError::AnswerNotSigned
        )))
    ));
}

/// Hole 6: after bob cancels a reset, the thief resets again at once, without end. Now
/// no reset starts within the cooldown (the reset delay) after a cancellation.
fn a_cancelled_reset_cannot_start_again_at_once(backend: &str, test: &str) {
    let Some(scene) = Scene::on(backend, test, 2, 86_400) else {
        return;
    };
    let (cards_url, app_url) = (&scene.cards_url, &scene.app_url);
    let bob = device(cards_url, app_url, scene.home(0));
    let mallory = device(cards_url, app_url, scene.home(1));
    bob.account().register("bob", PASSWORD).unwrap();
    let (bob_key, _) = publish(&bob, "bob", None);
    mallory.account().login("bob", PASSWORD).unwrap();
    let reset = || {
        let thief = mallory.keys().generate().unwrap();
        let request = mallory
            .cards()
            .create_reset(&mallory.identities().create_user("bob"), &thief)
            .unwrap();
        mallory.account().publish_reset_card(&request, PASSWORD)
    };
    let first = reset().unwrap();
    bob.cards()
        .revoke(first.card.id(), RevocationReason::Compromised, &bob_key)
        .unwrap();
    assert_eq!(api_code(reset()), "reset_too_soon");
}

#[test]
fn a_cancelled_reset_cannot_start_again_at_once_on_sqlite() {
    a_cancelled_reset_cannot_start_again_at_once("sqlite", "");
}

#[test]
fn a_cancelled_reset_cannot_start_again_at_once_on_postgres() {
    a_cancelled_reset_cannot_start_again_at_once(
        "postgres",
        concat!(
            module_path!(),
            "::a_cancelled_reset_cannot_start_again_at_once_on_postgres"
        ),
    );
}

/// Hole 6, the password: the alarm tells the user to change it, and now they can. The
/// change ends every other session of the account at once (the thief's login), and the
/// old password stops working.
#[test]
fn a_password_change_ends_every_other_session() {
    let scene = Scene::sqlite(2);
    let [bob, mallory] = scene.devices();
    bob.account().register("bob", PASSWORD).unwrap();
    bob.account().login("bob", PASSWORD).unwrap();
    mallory.account().login("bob", PASSWORD).unwrap();
    assert_eq!(mallory.account().sessions().unwrap().len(), 2);

    assert_eq!(
        api_code(
            bob.account()
                .change_password("wrong password", "a new password")
        ),
        "invalid_credentials"
    );
    bob.account()
        .change_password(PASSWORD, "a new password")
        .unwrap();
    assert_eq!(api_code(mallory.account().sessions()), "invalid_session");
    assert_eq!(
        bob.account().sessions().unwrap().len(),
        1,
        "bob's own stays"
    );
    assert_eq!(
        api_code(mallory.account().login("bob", PASSWORD)),
        "invalid_credentials"
    );
    mallory.account().login("bob", "a new password").unwrap();
}

/// Hole 7: the client sent the account password over plain HTTP to any host. Now a
/// plain `http://` URL whose host is not loopback is refused before anything is sent,
/// with the servers' rule and words.
#[test]
fn the_password_never_goes_over_plain_http_to_another_host() {
    use std::io::{Read as _, Write as _};
    let Some(ip) = non_loopback_address() else {
        virgil_testkit::postgres::report_skip(
            "attacks::the_password_never_goes_over_plain_http_to_another_host",
            "this machine has no non-loopback address",
        );
        return;
    };
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let eavesdropper = std::thread::spawn(move || {
        let mut heard = Vec::new();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::time::Instant::now() < until {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
                        .unwrap();
                    let mut buffer = [0u8; 4096];
                    if let Ok(n) = stream.read(&mut buffer) {
                        heard.extend_from_slice(&buffer[..n]);
                    }
                    let _ = stream.write_all(
                        b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        heard
    });
    let home = tempfile::tempdir().unwrap();
    let url = format!("http://{address}");
    let device = device(&url, &url, home.path());
    let login = device.account().login("bob", PASSWORD);
    let register = device.account().register("bob", PASSWORD);
    let heard = eavesdropper.join().unwrap();
    assert!(heard.is_empty(), "something was sent to {address}");
    for outcome in [login.map(|_| ()), register] {
        let message = outcome.expect_err("refused").to_string();
        assert!(message.contains("refusing plain HTTP"), "{message}");
    }
}

/// A non-loopback address of this machine (the one it would use towards TEST-NET-1),
/// if it has one.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Hole 8: after logout, the session's cards-service access token kept working for up
/// to 10 minutes. Now access tokens live 30 s and the service allows 5 s of clock skew:
/// a copied token stops within 35 s of being issued, plus up to one second because
/// token times are whole seconds (so at most 36 s after the logout that follows it; the
/// test allows one more second for its 250 ms polling and the request itself).
#[test]
fn logging_out_stops_the_access_tokens_within_seconds() {
    let scene = Scene::sqlite(1);
    let cards_url = &scene.cards_url;
    let [bob] = scene.devices();
    bob.account().register("bob", PASSWORD).unwrap();
    publish(&bob, "bob", None);
    let issued = std::time::Instant::now();
    let stolen = bob.account().refresh().unwrap().response.access_token;
    bob.account().logout().unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let status = loop {
        let status = agent
            .post(&format!("{cards_url}/v1/cards/actions/search"))
            .header("Authorization", &format!("Bearer {stolen}"))
            .header("Content-Type", "application/json")
            .send(&br#"{"identities":["bob"]}"#[..])
            .unwrap()
            .status()
            .as_u16();
        if status != 200 || issued.elapsed().as_secs() > 60 {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    assert_eq!(status, 401);
    assert!(
        issued.elapsed() <= std::time::Duration::from_secs(37),
        "the token worked for {:?} after it was issued",
        issued.elapsed()
    );
}
