//! Pairing a new device against real servers (issue 31): the flow on SQLite and
//! PostgreSQL (both servers), which device reads what, and each defence as an attack
//! that must fail: a wrong code (one try), a stolen session answering first, a stolen
//! session swapping the new device's first message (the mailbox in the middle), and a
//! "new device" asking for a card that would replace or reset the user's cards.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::time::Duration;
use support::*;
use virgil::client::AppClient;
use virgil::{Error, PairingFailure, Virgil};
use virgil_card::Verifier;
use virgil_crypto::encoding::from_base64;
use virgil_crypto::pairing::{ExistingDevice, NewDevice, PairingSecret};

const WAIT: Duration = Duration::from_secs(30);

/// The same key, for another thread (keys are not `Clone`).
fn copy(key: &virgil::Key) -> virgil::Key {
    let private = key.private_key();
    virgil::Key::from_private_key(
        virgil_crypto::PrivateKey::from_seed_with_suite(&private.to_seed(), private.suite())
            .unwrap(),
    )
}

/// A second device of alice's: logged in, a new key, no card yet.
fn new_device(scene: &Scene, home: usize) -> (Virgil, virgil::Key) {
    let device = device(&scene.cards_url, &scene.app_url, scene.home(home));
    device.account().login("alice", PASSWORD).unwrap();
    let key = device.keys().generate().unwrap();
    (device, key)
}

/// Runs `existing` (a closure using its own device on home `home`) on another thread.
fn on_existing_device<T: Send + 'static>(
    scene: &Scene,
    home: usize,
    run: impl FnOnce(Virgil) -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let device = device(&scene.cards_url, &scene.app_url, scene.home(home));
    device.account().login("alice", PASSWORD).unwrap();
    std::thread::spawn(move || run(device))
}

/// The pairing context of alice's mailbox `mailbox` (format.md §17): public, so an
/// attacker has it too.
fn context(mailbox: &str) -> Vec<u8> {
    [
        &b"VGPC\x01"[..],
        &4u32.to_be_bytes(),
        b"chat",
        &5u32.to_be_bytes(),
        b"alice",
        &6u32.to_be_bytes(),
        mailbox.as_bytes(),
    ]
    .concat()
}

/// Waits for message 2 of `mailbox`, read as the holder of `session`.
fn second_message(
    app: &AppClient,
    session: &virgil_api::app::SessionResponse,
    mailbox: &str,
) -> Vec<u8> {
    loop {
        let pairing = app.pairing(session, mailbox).unwrap();
        if let Some(message) = pairing.messages.get(1) {
            return from_base64(message).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alice_card_count(scene: &Scene) -> usize {
    let observer = device(&scene.cards_url, &scene.app_url, scene.home(1));
    observer.account().login("bob", PASSWORD).unwrap();
    observer
        .cards()
        .find(&["alice"])
        .unwrap()
        .cards
        .iter()
        .filter(|found| found.status.is_active())
        .count()
}

fn pairing_flow_on(backend: &str, test: &str) {
    let Some(scene) = Scene::both_on(backend, test, 3) else {
        return;
    };
    let [alice, bob] = scene.devices::<2>();
    let cast = alice_and_bob(&alice, &bob);
    // Before the new device exists: bob writes to alice's only card.
    bob.messages()
        .send("alice", &cast.bob_key, "before the laptop")
        .unwrap();

    let (laptop, laptop_key) = new_device(&scene, 2);
    let joining = laptop.devices().join(&laptop_key).unwrap();
    let code = joining.code().to_string();
    let fingerprint = joining.fingerprint();
    let alice_key = copy(&cast.alice_key);
    let existing = on_existing_device(&scene, 0, move |phone| {
        let request = phone.devices().pair(&code, WAIT).unwrap();
        assert_eq!(request.fingerprint(), fingerprint);
        request.approve(&alice_key).unwrap()
    });
    let published = joining.wait(WAIT).unwrap();
    let approved = existing.join().unwrap();
    assert_eq!(published.card.id(), approved.card.id());
    assert_eq!(published.card.public_key(), laptop_key.public_key());
    assert!(published.card.is_linked_from(&cast.alice_card));

    // Bob's client takes the linked card as alice's (no key-change warning); a message
    // after the pairing reaches both devices, the one before only the phone.
    bob.messages()
        .send("alice", &cast.bob_key, "after the laptop")
        .unwrap();
    let on_laptop = laptop.messages().inbox(&laptop_key, 0).unwrap();
    assert!(
        matches!(
            on_laptop.messages[0].message,
            Err(Error::NotForThisKey { .. })
        ),
        "{:?}",
        on_laptop.messages[0].message
    );
    assert_eq!(
        on_laptop.messages[1].message.as_ref().unwrap().as_bytes(),
        b"after the laptop"
    );
    let on_phone = alice.messages().inbox(&cast.alice_key, 0).unwrap();
    assert_eq!(
        on_phone.messages[1].message.as_ref().unwrap().as_bytes(),
        b"after the laptop"
    );
    // Each device's self-check takes the other's card as its own.
    assert_eq!(laptop.self_check().unwrap().cards.len(), 2);
    assert_eq!(alice.self_check().unwrap().cards.len(), 2);
}

#[test]
fn sqlite_a_new_device_pairs_with_a_code() {
    pairing_flow_on("sqlite", "sqlite_a_new_device_pairs_with_a_code");
}

#[test]
fn postgres_a_new_device_pairs_with_a_code() {
    pairing_flow_on("postgres", "postgres_a_new_device_pairs_with_a_code");
}

/// The code with one digit wrong: the new device refuses the answer and ends the
/// pairing, so the right code typed next finds nothing: one guess per code.
#[test]
fn a_wrong_code_ends_the_pairing_after_one_try() {
    let scene = Scene::sqlite(3);
    let [alice, bob] = scene.devices::<2>();
    let _cast = alice_and_bob(&alice, &bob);
    let (laptop, laptop_key) = new_device(&scene, 2);
    let joining = laptop.devices().join(&laptop_key).unwrap();
    let right = joining.code().to_string();
    // The same code with its last digit changed.
    let last = if right.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &right[..right.len() - 1]);
    let existing = on_existing_device(&scene, 0, move |phone| {
        let first = phone.devices().pair(&wrong, WAIT).map(|_| ());
        let again = phone.devices().pair(&right, WAIT).map(|_| ());
        (first, again)
    });
    let refused = joining.wait(WAIT).unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Crypto(virgil_crypto::Error::PairingMismatch)
        ),
        "{refused:?}"
    );
    let (first, again) = existing.join().unwrap();
    assert!(
        matches!(first, Err(Error::Pairing(PairingFailure::Ended))),
        "{first:?}"
    );
    assert!(
        matches!(again, Err(Error::Pairing(PairingFailure::Ended))),
        "{again:?}"
    );
    assert_eq!(alice_card_count(&scene), 1);
}

/// Someone with a session token of alice's (or the application server itself) answers
/// the new device first, guessing the code: the new device refuses the answer and ends
/// the pairing; alice's own device then finds it gone or answered. Nothing is linked.
#[test]
fn a_stolen_session_answering_first_is_caught() {
    let scene = Scene::sqlite(3);
    let [alice, bob] = scene.devices::<2>();
    let _cast = alice_and_bob(&alice, &bob);
    let (laptop, laptop_key) = new_device(&scene, 2);
    let joining = laptop.devices().join(&laptop_key).unwrap();
    let mailbox = joining.code().mailbox().to_owned();

    let session = alice.account().session().unwrap().response;
    let thief = AppClient::new(&scene.app_url, Verifier::new());
    let pairing = thief.pairing(&session, &mailbox).unwrap();
    let message1 = from_base64(&pairing.messages[0]).unwrap();
    // The thief knows the context (app, user, mailbox) but not the 8 digits.
    let context = context(&mailbox);
    let guess = PairingSecret::parse("00000000").unwrap();
    let (_, message2) = ExistingDevice::respond(&guess, &context, &message1).unwrap();
    thief
        .add_pairing_message(&session, &mailbox, 1, &message2)
        .unwrap();

    let refused = joining.wait(WAIT).unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Crypto(virgil_crypto::Error::PairingMismatch)
        ),
        "{refused:?}"
    );
    // The real device, too late, finds the pairing ended.
    let code = format!("{mailbox}-0000-0000");
    let late = alice.devices().pair(&code, WAIT).map(|_| ()).unwrap_err();
    assert!(
        matches!(late, Error::Pairing(PairingFailure::Ended)),
        "{late:?}"
    );
    assert_eq!(alice_card_count(&scene), 1);
}

/// A stolen session (or the mailbox itself) swaps the new device's first message for
/// its own, made with a code it chose, then forges the card request: alice's device,
/// given the real code, refuses it, and the real new device refuses the answer too.
#[test]
fn a_swapped_first_message_is_caught_by_both_devices() {
    let scene = Scene::sqlite(3);
    let [alice, bob] = scene.devices::<2>();
    let cast = alice_and_bob(&alice, &bob);
    let (laptop, laptop_key) = new_device(&scene, 2);
    let joining = laptop.devices().join(&laptop_key).unwrap();
    let code = joining.code().to_string();
    let mailbox = joining.code().mailbox().to_owned();

    // The thief ends the mailbox and opens one of the same id with its own message 1.
    let session = alice.account().session().unwrap().response;
    let thief = AppClient::new(&scene.app_url, Verifier::new());
    thief.delete_pairing(&session, &mailbox).unwrap();
    let own_code = PairingSecret::parse("13572468").unwrap();
    let (thief_side, thief_message1) = NewDevice::start(&own_code).unwrap();
    thief
        .open_pairing(&session, &mailbox, &thief_message1)
        .unwrap();

    let alice_key = copy(&cast.alice_key);
    let existing = on_existing_device(&scene, 0, move |phone| {
        phone
            .devices()
            .pair(&code, WAIT)
            .map(|request| request.approve(&alice_key))
    });
    // The thief answers alice's message 2 with a request for its own key; its key
    // confirmation cannot be right without alice's code.
    let thief_key = virgil_crypto::PrivateKey::generate().unwrap();
    let thief_request = virgil_card::CardRequest::new("alice", "chat")
        .identity_type("user")
        .sign(&thief_key)
        .unwrap();
    let message2 = second_message(&thief, &session, &mailbox);
    let context = context(&mailbox);
    assert!(matches!(
        thief_side.finish(&context, &message2, thief_request.export().as_bytes()),
        Err(virgil_crypto::Error::PairingMismatch)
    ));
    // It sends a message 3 anyway: a confirmation and a request from an exchange of
    // its own (the only kind it can make without alice's code).
    let (side, forged1) = NewDevice::start(&own_code).unwrap();
    let (_, forged2) = ExistingDevice::respond(&own_code, &context, &forged1).unwrap();
    let (forged3, _) = side
        .finish(&context, &forged2, thief_request.export().as_bytes())
        .unwrap();
    thief
        .add_pairing_message(&session, &mailbox, 2, &forged3)
        .unwrap();
    let refused = existing.join().unwrap();
    assert!(
        matches!(
            refused,
            Err(Error::Crypto(virgil_crypto::Error::PairingMismatch))
        ),
        "{:?}",
        refused.map(|_| ())
    );
    // The real new device's mailbox was replaced: it never gets a valid answer.
    let stuck = joining.wait(Duration::from_secs(2)).unwrap_err();
    assert!(
        matches!(
            stuck,
            Error::Pairing(PairingFailure::Ended | PairingFailure::TimedOut { .. })
                | Error::Crypto(virgil_crypto::Error::PairingMismatch)
        ),
        "{stuck:?}"
    );
    assert_eq!(alice_card_count(&scene), 1);
}

/// A "new device" that knows the code (the user was talked into typing it) asks for a
/// card that would replace alice's card, or reset her cards, or is for someone else:
/// alice's device refuses to link it.
#[test]
fn an_existing_device_links_only_a_plain_new_device_card() {
    let scene = Scene::sqlite(3);
    let [alice, bob] = scene.devices::<2>();
    let cast = alice_and_bob(&alice, &bob);
    let session = alice.account().session().unwrap().response;
    let mallory = AppClient::new(&scene.app_url, Verifier::new());
    let mallory_key = virgil_crypto::PrivateKey::generate().unwrap();
    let requests = [
        virgil_card::CardRequest::new("alice", "chat")
            .identity_type("user")
            .replaces(*cast.alice_card.id())
            .sign(&mallory_key)
            .unwrap(),
        virgil_card::CardRequest::new("alice", "chat")
            .identity_type("user")
            .data(virgil_card::lifecycle::RESET_DATA_KEY, "1")
            .sign(&mallory_key)
            .unwrap(),
        virgil_card::CardRequest::new("bob", "chat")
            .identity_type("user")
            .sign(&mallory_key)
            .unwrap(),
        virgil_card::CardRequest::new("alice", "other-app")
            .identity_type("user")
            .sign(&mallory_key)
            .unwrap(),
    ];
    for (n, request) in requests.into_iter().enumerate() {
        let mailbox = format!("55555{n}");
        let code = PairingSecret::parse("24681357").unwrap();
        let (side, message1) = NewDevice::start(&code).unwrap();
        mallory.open_pairing(&session, &mailbox, &message1).unwrap();
        let typed = format!("{mailbox}-2468-1357");
        let existing = on_existing_device(&scene, 0, move |phone| {
            phone.devices().pair(&typed, WAIT).map(|_| ())
        });
        let message2 = second_message(&mallory, &session, &mailbox);
        let context = context(&mailbox);
        let (message3, _) = side
            .finish(&context, &message2, request.export().as_bytes())
            .unwrap();
        mallory
            .add_pairing_message(&session, &mailbox, 2, &message3)
            .unwrap();
        let refused = existing.join().unwrap().unwrap_err();
        assert!(
            matches!(
                refused,
                Error::Pairing(PairingFailure::UnexpectedRequest(_))
            ),
            "request {n}: {refused:?}"
        );
    }
    assert_eq!(alice_card_count(&scene), 1);
}

/// The mailbox takes each message once, in order, only from the account's sessions.
#[test]
fn the_mailbox_takes_each_message_once_in_order() {
    let scene = Scene::sqlite(2);
    let [alice, bob] = scene.devices::<2>();
    let _cast = alice_and_bob(&alice, &bob);
    let app = AppClient::new(&scene.app_url, Verifier::new());
    let alice_session = alice.account().session().unwrap().response;
    let bob_session = bob.account().session().unwrap().response;
    let code = |result: Result<_, virgil::client::ClientError>| match result {
        Err(virgil::client::ClientError::Api { code, .. }) => code,
        other => panic!("{:?}", other.map(|_: virgil_api::app::Pairing| ())),
    };
    app.open_pairing(&alice_session, "123456", b"one").unwrap();
    use virgil_api::ErrorCode as C;
    assert_eq!(
        code(app.open_pairing(&alice_session, "123456", b"again")),
        C::PairingExists
    );
    // Another account sees nothing of it.
    assert_eq!(code(app.pairing(&bob_session, "123456")), C::NoPairing);
    assert_eq!(
        code(app.add_pairing_message(&bob_session, "123456", 1, b"x")),
        C::NoPairing
    );
    assert_eq!(
        code(app.add_pairing_message(&alice_session, "123456", 2, b"x")),
        C::PairingOutOfTurn
    );
    app.add_pairing_message(&alice_session, "123456", 1, b"two")
        .unwrap();
    assert_eq!(
        code(app.add_pairing_message(&alice_session, "123456", 1, b"other")),
        C::PairingOutOfTurn
    );
    let pairing = app.pairing(&alice_session, "123456").unwrap();
    assert_eq!(pairing.messages.len(), 2);
    assert_eq!(from_base64(&pairing.messages[1]).unwrap(), b"two");
    for (id, message) in [("12345", &b"x"[..]), ("abcdef", b"x"), ("654321", b"")] {
        assert_eq!(
            code(app.open_pairing(&alice_session, id, message)),
            C::InvalidPairingMessage,
            "{id}"
        );
    }
    assert_eq!(
        code(app.open_pairing(&alice_session, "654321", &vec![0u8; 21 * 1024])),
        C::InvalidPairingMessage
    );
    // At most three live pairings per account.
    app.open_pairing(&alice_session, "000001", b"x").unwrap();
    app.open_pairing(&alice_session, "000002", b"x").unwrap();
    assert_eq!(
        code(app.open_pairing(&alice_session, "000003", b"x")),
        C::PairingExists
    );
    app.delete_pairing(&alice_session, "123456").unwrap();
    assert_eq!(code(app.pairing(&alice_session, "123456")), C::NoPairing);
    app.open_pairing(&alice_session, "000003", b"x").unwrap();
}
