//! Key-change warnings through the facade, against both real servers on 127.0.0.1: a
//! contact's new device linked from a known card is accepted with a notice; a card no
//! known card links (here: the application key revokes bob's cards and an attacker
//! with bob's password publishes a new "first" card) stops alice's next send until she
//! accepts it; a verified contact stays blocked until verified again.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use virgil::{Card, Config, ContactEvent, Error, KeyChangePolicy, RevocationReason, Virgil};
use virgil_testkit::key;
use virgil_testkit::servers::{RelayQuota, spawn_deployment};

const APP: u8 = 100;
const SERVICE: u8 = 101;
const PASSWORD: &str = "correct horse";

fn device(cards_url: &str, app_url: &str, dir: &std::path::Path) -> Virgil {
    Virgil::new(
        Config::new(
            "chat",
            key(APP).public_key().clone(),
            key(SERVICE).public_key().clone(),
        )
        .contacts_file(dir.join("contacts.json"))
        .cards_service(cards_url)
        .app_server(app_url),
    )
    .unwrap()
}

fn publish(
    virgil: &Virgil,
    name: &str,
    link_from: Option<(&Card, &virgil::Key)>,
) -> (virgil::Key, Card) {
    virgil.account().login(name, PASSWORD).unwrap();
    let user_key = virgil.keys().generate().unwrap();
    let identity = virgil.identities().create_user(name);
    let mut request = virgil.cards().create(&identity, &user_key).unwrap();
    if let Some((existing, existing_key)) = link_from {
        virgil
            .cards()
            .link(&mut request, existing, existing_key)
            .unwrap();
    }
    virgil.account().publish_card(&request).unwrap();
    (user_key, request)
}

#[test]
fn an_unlinked_card_stops_the_send_and_a_linked_device_is_only_announced() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let (cards_url, app_url) = spawn_deployment(
        &sqlite("cards.db"),
        &sqlite("app.db"),
        RelayQuota::default(),
    );
    let homes: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let [alice, bob, bob_phone, mallory] =
        std::array::from_fn(|i| device(&cards_url, &app_url, homes[i].path()));
    alice.account().register("alice", PASSWORD).unwrap();
    bob.account().register("bob", PASSWORD).unwrap();
    let (alice_key, _) = publish(&alice, "alice", None);
    let (bob_key, bob_card) = publish(&bob, "bob", None);

    // First contact: pinned, and said so.
    let found = alice.cards().find_reviewed(&["bob"]).unwrap();
    assert!(
        matches!(&found.events[..], [ContactEvent::FirstContact { identity, .. }] if identity == "bob")
    );
    assert!(
        alice
            .cards()
            .find_reviewed(&["bob"])
            .unwrap()
            .events
            .is_empty(),
        "said once"
    );

    // Bob's phone, linked from his laptop's card: accepted, announced once.
    let (_, phone_card) = publish(&bob_phone, "bob", Some((&bob_card, &bob_key)));
    let found = alice.cards().find_reviewed(&["bob"]).unwrap();
    assert_eq!(found.cards.len(), 2);
    assert!(matches!(
        &found.events[..],
        [ContactEvent::Linked { identity, card, from }]
            if identity == "bob" && card == phone_card.id() && from == bob_card.id()
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
    // Trusting again (after comparing safety numbers) is the way back.
    let number = alice.contacts().safety_number("alice", "bob").unwrap();
    assert_eq!(
        number,
        bob.contacts().safety_number("bob", "alice").unwrap()
    );
    alice.contacts().trust("bob").unwrap();
    let found = alice.cards().find(&["bob"]).unwrap();
    assert_eq!(
        found.iter().map(|c| *c.id()).collect::<Vec<_>>(),
        vec![*second_forgery.id()]
    );
}

#[test]
fn under_the_warn_policy_a_key_change_is_used_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let (cards_url, app_url) = spawn_deployment(
        &sqlite("cards.db"),
        &sqlite("app.db"),
        RelayQuota::default(),
    );
    let homes: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = Virgil::new(
        Config::new(
            "chat",
            key(APP).public_key().clone(),
            key(SERVICE).public_key().clone(),
        )
        .contacts_file(homes[0].path().join("contacts.json"))
        .key_changes(KeyChangePolicy::Warn)
        .cards_service(&cards_url)
        .app_server(&app_url),
    )
    .unwrap();
    let bob = device(&cards_url, &app_url, homes[1].path());
    alice.account().register("alice", PASSWORD).unwrap();
    bob.account().register("bob", PASSWORD).unwrap();
    publish(&alice, "alice", None);
    let (_, bob_card) = publish(&bob, "bob", None);
    alice.cards().find(&["bob"]).unwrap();
    bob.cards()
        .revoke_as_application(bob_card.id(), RevocationReason::Unspecified, &key(APP))
        .unwrap();
    let (_, reset) = publish(&bob, "bob", None);
    let found = alice.cards().find_reviewed(&["bob"]).unwrap();
    assert!(
        matches!(&found.events[..], [ContactEvent::KeyChanged(change)] if change.cards == vec![*reset.id()])
    );
    assert!(
        alice
            .cards()
            .find_reviewed(&["bob"])
            .unwrap()
            .events
            .is_empty(),
        "pinned after the warning"
    );
}
