//! Key-change warnings through the facade, against both real servers on 127.0.0.1: a
//! contact's new device linked from a known card is accepted with a notice; a card no
//! known card links (here: the application key revokes bob's cards and an attacker
//! with bob's password publishes a new "first" card) stops alice's next send until she
//! accepts it; a verified contact stays blocked until verified again. Bob's password
//! alone can only reset bob's cards: loud to bob's devices (and cancellable by them
//! within the reset delay) and a key change for alice.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use support::*;
use virgil::{Card, ContactEvent, Error, KeyChangePolicy, RevocationReason, Virgil};
use virgil_testkit::key;

#[test]
fn an_unlinked_card_stops_the_send_and_a_linked_device_is_only_announced() {
    let scene = Scene::sqlite(4);
    let [alice, bob, bob_phone, mallory] = scene.devices();
    let Cast {
        alice_key,
        bob_key,
        bob_card,
        ..
    } = alice_and_bob(&alice, &bob);

    // First contact: pinned, and said so.
    let found = alice.cards().find(&["bob"]).unwrap();
    assert!(
        matches!(&found.events[..], [ContactEvent::FirstContact { identity, .. }] if identity == "bob")
    );
    assert!(
        alice.cards().find(&["bob"]).unwrap().events.is_empty(),
        "said once"
    );

    // Bob's phone, linked from his laptop's card: accepted, announced once.
    let (_, phone_card) = publish(&bob_phone, "bob", Some((&bob_card, &bob_key)));
    let found = alice.cards().find(&["bob"]).unwrap();
    assert_eq!(found.cards.len(), 2);
    assert!(matches!(
        &found.events[..],
        [ContactEvent::Linked { identity, card, from }]
            if identity == "bob" && *card == *phone_card.id() && *from == *bob_card.id()
    ));
    assert!(found.events[0].to_string().contains("bob added a device"));
    let sent = alice.messages().send("bob", &alice_key, "hi both").unwrap();
    assert_eq!(sent.cards, 3);

    // The attack: the application key revokes bob's cards, and bob's password alone
    // publishes a new first card for bob (the cards service accepts it: no active card
    // left to link from). Alice's client knows no card that links it.
    for card in [&bob_card, &phone_card] {
        mallory
            .cards()
            .revoke_as_application(card.id(), RevocationReason::Unspecified, &key(APP))
            .unwrap();
    }
    let (_, forged) = publish(&mallory, "bob", None);
    match alice.messages().send("bob", &alice_key, "secret") {
        Err(Error::KeyChanged(change)) => {
            assert_eq!(change.identity, "bob");
            assert_eq!(change.cards, vec![*forged.id()]);
            assert!(!change.verified);
            assert!(change.to_string().contains("virgil contact accept bob"));
        }
        other => panic!("the send went ahead: {other:?}"),
    }
    assert!(matches!(
        alice.cards().find(&["bob"]),
        Err(Error::KeyChanged(_))
    ));

    // Accepting (after asking bob) pins the new card; the send then goes ahead.
    alice.contacts().accept("bob").unwrap();
    alice
        .messages()
        .send("bob", &alice_key, "hi again")
        .unwrap();

    // Once verified, a key change is refused even where a plain accept would do.
    alice.contacts().trust("bob").unwrap();
    mallory
        .cards()
        .revoke_as_application(forged.id(), RevocationReason::Compromised, &key(APP))
        .unwrap();
    let (_, second_forgery) = publish(&mallory, "bob", None);
    assert!(
        matches!(alice.cards().find(&["bob"]), Err(Error::KeyChanged(change)) if change.verified)
    );
    assert!(matches!(
        alice.contacts().accept("bob"),
        Err(Error::KeyChanged(_))
    ));
    // Comparing safety numbers is what catches it: bob's own device computes its half
    // from the cards it knows are bob's, and those were revoked by the application, so
    // it raises an alarm instead of the number alice sees.
    alice.contacts().safety_number("bob").unwrap();
    assert!(matches!(
        bob.contacts().safety_number("alice"),
        Err(Error::SelfCheck(alarm)) if alarm.cards[0].card == *second_forgery.id() && alarm.own_active == 0
    ));
    // Trusting again (after comparing safety numbers) is the way back.
    alice.contacts().trust("bob").unwrap();
    assert_eq!(card_ids(&alice, "bob"), vec![*second_forgery.id()]);
}

#[test]
fn under_the_warn_policy_a_key_change_is_used_and_reported() {
    let scene = Scene::sqlite(2);
    let (cards_url, app_url) = (&scene.cards_url, &scene.app_url);
    let alice = device_with(cards_url, app_url, scene.home(0), KeyChangePolicy::Warn);
    let bob = device(cards_url, app_url, scene.home(1));
    let Cast { bob_card, .. } = alice_and_bob(&alice, &bob);
    alice.cards().find(&["bob"]).unwrap();
    bob.cards()
        .revoke_as_application(bob_card.id(), RevocationReason::Unspecified, &key(APP))
        .unwrap();
    let (_, reset) = publish(&bob, "bob", None);
    let found = alice.cards().find(&["bob"]).unwrap();
    assert!(
        matches!(&found.events[..], [
            ContactEvent::CardRevoked { card, reason: Some(RevocationReason::Unspecified), .. },
            ContactEvent::KeyChanged(change),
        ] if change.cards == vec![*reset.id()] && *card == *bob_card.id()),
        "{:?}",
        found.events
    );
    assert!(
        alice.cards().find(&["bob"]).unwrap().events.is_empty(),
        "pinned after the warning"
    );

    // Under Accept, the next change is used and pinned without an event.
    let quiet = device_with(cards_url, app_url, scene.home(0), KeyChangePolicy::Accept);
    quiet.account().login("alice", PASSWORD).unwrap();
    bob.cards()
        .revoke_as_application(reset.id(), RevocationReason::Unspecified, &key(APP))
        .unwrap();
    let (_, again) = publish(&bob, "bob", None);
    let found = quiet.cards().find(&["bob"]).unwrap();
    assert!(
        !found
            .events
            .iter()
            .any(|event| matches!(event, ContactEvent::KeyChanged(_))),
        "{:?}",
        found.events
    );
    assert_eq!(found.cards[0].card.id(), again.id());
    assert!(
        alice.cards().find(&["bob"]).unwrap().events.is_empty(),
        "pinned by the quiet lookup"
    );
}

/// Logs `virgil` in as `name` and submits a reset card for a new key, with `password`.
fn reset(
    virgil: &Virgil,
    name: &str,
    password: Option<&str>,
) -> Result<(virgil::Key, virgil::PublishedCard), Error> {
    virgil.account().login(name, PASSWORD).unwrap();
    let new_key = virgil.keys().generate().unwrap();
    let identity = virgil.identities().create_user(name);
    let request = virgil.cards().create_reset(&identity, &new_key).unwrap();
    match password {
        Some(password) => virgil.account().publish_reset_card(&request, password),
        None => virgil.account().publish_card(&request),
    }
    .map(|published| (new_key, published))
}

fn api_code(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::AppServer(virgil_client::ClientError::Api { code, .. })) => code.to_string(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn bobs_password_alone_only_resets_and_bobs_device_sees_and_cancels_it() {
    password_alone_only_resets("sqlite", "");
}

#[test]
fn bobs_password_alone_only_resets_on_postgres() {
    password_alone_only_resets(
        "postgres",
        concat!(
            module_path!(),
            "::bobs_password_alone_only_resets_on_postgres"
        ),
    );
}

/// Bob's password, and a login with it: a new card is refused (not linked), a reset
/// needs the password again and then waits out the delay, bob's device and alice are
/// told, nobody encrypts to it, and bob's key cancels it.
fn password_alone_only_resets(backend: &str, test: &str) {
    let Some(scene) = Scene::on(backend, test, 3, 86_400) else {
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

    // With bob's password, a new card is refused: it is not linked from bob's card.
    mallory.account().login("bob", PASSWORD).unwrap();
    let stolen = mallory.keys().generate().unwrap();
    let request = mallory
        .cards()
        .create(&mallory.identities().create_user("bob"), &stolen)
        .unwrap();
    assert_eq!(
        api_code(mallory.account().publish_card(&request)),
        "link_required"
    );
    // A reset needs the password again (a session token alone cannot), and then only
    // starts the delay.
    assert_eq!(
        api_code(reset(&mallory, "bob", None)),
        "reauthentication_required"
    );
    assert_eq!(
        api_code(reset(&mallory, "bob", Some("wrong password"))),
        "invalid_credentials"
    );
    let (_, pending) = reset(&mallory, "bob", Some(PASSWORD)).unwrap();
    assert!(matches!(pending.status, virgil::CardStatus::Pending { .. }));

    // Bob's device hears of it on its next request (an alarm: a card of his that none
    // of his keys made), and so does alice; nobody encrypts to the pending card.
    let found = bob.cards().pending_resets("bob").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].card.id(), pending.card.id());
    match bob.messages().send("alice", &bob_key, "hi") {
        Err(Error::SelfCheck(alarm)) => {
            assert_eq!(alarm.cards[0].card, *pending.card.id());
            assert!(alarm.cards[0].pending_until.is_some());
            assert!(
                alarm
                    .to_string()
                    .contains(&format!("virgil card revoke {}", pending.card.id())),
                "{alarm}"
            );
        }
        other => panic!("bob was not alarmed: {other:?}"),
    }
    let sent = alice
        .messages()
        .send("bob", &alice_key, "still you?")
        .unwrap();
    assert_eq!(
        sent.cards, 2,
        "bob's one card and alice's, not the pending one"
    );
    assert!(
        sent.events
            .iter()
            .any(|event| matches!(event, ContactEvent::ResetPending { .. }))
    );

    // Bob cancels it with his own key: the reset card is revoked, his card stays.
    bob.cards()
        .revoke(pending.card.id(), RevocationReason::Compromised, &bob_key)
        .unwrap();
    assert!(bob.cards().pending_resets("bob").unwrap().is_empty());
    let sent = alice.messages().send("bob", &alice_key, "good").unwrap();
    assert!(sent.events.is_empty(), "{:?}", sent.events);
    assert_eq!(card_ids(&alice, "bob"), vec![*bob_card.id()]);
}

#[test]
fn a_reset_replaces_every_card_and_stops_contacts_until_accepted() {
    let scene = Scene::sqlite(3);
    let [alice, bob, bob_new] = scene.devices();
    let Cast {
        alice_key,
        bob_card,
        ..
    } = alice_and_bob(&alice, &bob);
    alice.messages().send("bob", &alice_key, "hello").unwrap();

    // No reset delay (the demo's): the reset card is active at once and bob's old
    // card is revoked.
    let (new_key, reset_card) = reset(&bob_new, "bob", Some(PASSWORD)).unwrap();
    assert_eq!(reset_card.status, virgil::CardStatus::Active);
    assert!(matches!(
        alice.cards().get(bob_card.id()).unwrap().status,
        virgil::CardStatus::Revoked {
            reason: RevocationReason::Reset,
            ..
        }
    ));
    match alice.messages().send("bob", &alice_key, "secret") {
        Err(Error::KeyChanged(change)) => {
            assert!(change.reset, "{change}");
            assert_eq!(change.cards, vec![*reset_card.card.id()]);
            assert!(change.to_string().contains("reset"));
        }
        other => panic!("the send went ahead: {other:?}"),
    }
    // A message from bob's new key is refused in alice's inbox (that message only, the
    // inbox still reads) until she accepts the change.
    bob_new
        .messages()
        .send("alice", &new_key, "it's me")
        .unwrap();
    let read = alice.messages().inbox(&alice_key, 0).unwrap();
    assert!(matches!(
        &read.messages[..],
        [virgil::Received {
            message: Err(Error::KeyChanged(_)),
            ..
        }]
    ));
    alice.contacts().accept("bob").unwrap();
    let read = alice.messages().inbox(&alice_key, 0).unwrap();
    assert_eq!(
        read.messages[0].message.as_ref().unwrap().as_bytes(),
        b"it's me"
    );
    let sent = alice
        .messages()
        .send("bob", &alice_key, "welcome back")
        .unwrap();
    assert_eq!(sent.cards, 2);
    // Lost everything (issue 31): no key, no backup, a reset. Alice's next message is
    // for bob's new card only (and her own), and his new device reads it.
    assert_eq!(card_ids(&alice, "bob"), vec![*reset_card.card.id()]);
    let read = bob_new.messages().inbox(&new_key, 0).unwrap();
    let last = read.messages.last().unwrap();
    assert_eq!(last.message.as_ref().unwrap().as_bytes(), b"welcome back");
}

/// Issue 15: bob moves from a classic (suite-1) card to a post-quantum one that replaces
/// it (linked from the old card, superseding it). Alice's client takes the change as a
/// linked one (no warning), her next message to bob is sealed to his X-Wing key, and what
/// bob signed with his classic key before still verifies against that card, fetched from
/// the history.
#[test]
fn a_classic_card_rotates_to_a_post_quantum_one() {
    use virgil::{Encoding, Suite};
    let scene = Scene::sqlite(2);
    let [alice, bob] = scene.devices();
    let Cast {
        alice_key,
        bob_key: old_key,
        bob_card: old_card,
        ..
    } = alice_and_bob(&alice, &bob);
    assert_eq!(old_card.public_key().suite(), Suite::Classic);
    assert_eq!(card_ids(&alice, "bob"), vec![*old_card.id()]);
    let alices = bob.cards().find(&["alice"]).unwrap().cards;
    let signed_before = old_key
        .sign_then_encrypt("from classic bob", &alices)
        .unwrap();

    // The rotation: a post-quantum key whose card replaces the classic card (linked
    // from it, superseding it when published).
    let new_key = bob.keys().generate_with_suite(Suite::PostQuantum).unwrap();
    let request = bob
        .cards()
        .create_replacement(
            &bob.identities().create_user("bob"),
            &new_key,
            &old_card,
            &old_key,
        )
        .unwrap();
    let new_card = bob.account().publish_card(&request).unwrap().card;

    let found = alice.cards().find(&["bob"]).unwrap();
    assert!(
        found
            .events
            .iter()
            .all(|event| !matches!(event, ContactEvent::FirstContact { .. })),
        "{:?}",
        found.events
    );
    let cards: Vec<Card> = found.cards.into_iter().map(|found| found.card).collect();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].id(), new_card.id());
    assert_eq!(cards[0].public_key().suite(), Suite::PostQuantum);
    alice
        .messages()
        .send("bob", &alice_key, "to pq bob")
        .unwrap();
    let read = bob.messages().inbox(&new_key, 0).unwrap();
    assert_eq!(
        read.messages[0]
            .message
            .as_ref()
            .unwrap()
            .to_string(Encoding::Utf8),
        "to pq bob"
    );
    // Sealed to the new card only: the replaced classic key cannot read it.
    assert!(matches!(
        bob.messages().inbox(&old_key, 0).unwrap().messages[0].message,
        Err(Error::NotForThisKey { .. })
    ));

    // The history: bob's superseded classic card still verifies what he signed with it.
    let history = alice.cards().get(old_card.id()).unwrap().card;
    let alice_reads = alice_key
        .decrypt_then_verify(&signed_before, &history)
        .unwrap();
    assert_eq!(alice_reads.to_string(Encoding::Utf8), "from classic bob");
}
