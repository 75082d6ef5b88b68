//! The application server flow through the facade, against both real servers on
//! 127.0.0.1: register, log in, publish a card, send, read the inbox, token refresh.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use virgil::{Config, Encoding, Error, Virgil};
use virgil_testkit::key;
use virgil_testkit::servers::{RelayQuota, spawn_deployment};

const APP: u8 = 100;
const SERVICE: u8 = 101;
const PASSWORD: &str = "correct horse";

fn start(dir: &std::path::Path) -> (String, String) {
    let sqlite = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());
    spawn_deployment(
        &sqlite("cards.db"),
        &sqlite("app.db"),
        RelayQuota::default(),
    )
}

fn device(cards_url: &str, app_url: &str) -> Virgil {
    device_with(
        cards_url,
        app_url,
        virgil::Suite::Classic,
        virgil::RecipientPolicy::AnySuite,
    )
}

/// Registers, logs in, makes a key and publishes its card.
fn sign_up(virgil: &Virgil, name: &str) -> virgil::Key {
    virgil.account().register(name, PASSWORD).unwrap();
    virgil.account().login(name, PASSWORD).unwrap();
    let user_key = virgil.keys().generate().unwrap();
    let identity = virgil.identities().create_user(name);
    let request = virgil.cards().create(&identity, &user_key).unwrap();
    let published = virgil.account().publish_card(&request).unwrap();
    assert_eq!(published.card.id(), request.id());
    user_key
}

#[test]
fn alice_and_bob_talk_through_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let (cards_url, app_url) = start(dir.path());
    let (alice, bob) = (device(&cards_url, &app_url), device(&cards_url, &app_url));
    assert!(matches!(
        alice.cards().find(&["bob"]),
        Err(Error::NotLoggedIn)
    ));
    let alice_key = sign_up(&alice, "alice");
    let bob_key = sign_up(&bob, "bob");

    let sent = alice
        .messages()
        .send("bob", &alice_key, "Hey Bob, how's it going?")
        .unwrap();
    assert_eq!(sent.cards, 2, "bob's card and alice's own");
    assert!(matches!(
        alice.messages().send("nobody", &alice_key, "hi"),
        Err(Error::NoCard { identity }) if identity == "nobody"
    ));

    let read = bob.messages().inbox(&bob_key, 0).unwrap();
    assert_eq!(read.messages.len(), 1);
    let received = &read.messages[0];
    assert_eq!((received.id, received.from.as_str()), (sent.id, "alice"));
    assert_eq!(
        received.message.as_ref().unwrap().to_string(Encoding::Utf8),
        "Hey Bob, how's it going?"
    );
    assert!(
        bob.messages()
            .inbox(&bob_key, read.cursor)
            .unwrap()
            .messages
            .is_empty()
    );

    // A message for bob's inbox that is not for bob's key is refused, not shown.
    let stranger = bob.keys().generate().unwrap();
    let read = bob.messages().inbox(&stranger, 0).unwrap();
    assert!(matches!(
        read.messages[0].message,
        Err(Error::NotForThisKey { .. })
    ));
}

#[test]
fn an_expired_access_token_is_refreshed_with_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let (cards_url, app_url) = start(dir.path());
    let alice = device(&cards_url, &app_url);
    sign_up(&alice, "alice");

    // A saved session whose access token has expired (and is no longer valid at all).
    let mut saved = alice.account().session().unwrap();
    saved.response.access_token = "expired".into();
    saved.response.access_token_expires_at = 0;
    let later = device(&cards_url, &app_url);
    later.account().resume(saved);
    // This device holds none of alice's keys: it looks her cards up but cannot vouch
    // for them (no own card is used).
    assert!(!later.self_check().unwrap().checked);
    let refreshed = later.account().session().unwrap();
    assert!(refreshed.response.access_token_expires_at > 0);
    assert_ne!(refreshed.response.access_token, "expired");

    // Without a valid session there is nothing to refresh with: the server's refusal.
    let mut dead = refreshed;
    dead.response.session_token = "not-a-session".into();
    dead.response.access_token_expires_at = 0;
    later.account().resume(dead);
    match later.cards().find(&["alice"]) {
        Err(Error::CardsService(virgil_client::ClientError::Api { status: 401, .. })) => {}
        other => panic!("{other:?}"),
    }
}

/// A device making keys of `suite` that encrypt under `policy`.
fn device_with(
    cards_url: &str,
    app_url: &str,
    suite: virgil::Suite,
    policy: virgil::RecipientPolicy,
) -> Virgil {
    Virgil::new(
        Config::new(
            "chat",
            key(APP).public_key().clone(),
            key(SERVICE).public_key().clone(),
        )
        .cards_service(cards_url)
        .app_server(app_url)
        .key_suite(suite)
        .recipient_policy(policy),
    )
    .unwrap()
}

/// Issue 15: the tutorial with alice post-quantum and bob classic, both ways, through
/// the real servers (a suite-2 card is published, found, verified and pinned); then a
/// device that requires post-quantum recipients refuses bob's classic card and sends
/// nothing, and accepts carol's post-quantum one.
#[test]
fn mixed_suites_talk_and_a_post_quantum_policy_refuses_classic_cards() {
    use virgil::{RecipientPolicy, Suite};
    let dir = tempfile::tempdir().unwrap();
    let (cards_url, app_url) = start(dir.path());
    let pq = |policy| device_with(&cards_url, &app_url, Suite::PostQuantum, policy);
    let alice = pq(RecipientPolicy::AnySuite);
    let bob = device_with(
        &cards_url,
        &app_url,
        Suite::Classic,
        RecipientPolicy::AnySuite,
    );
    let alice_key = sign_up(&alice, "alice");
    let bob_key = sign_up(&bob, "bob");
    assert_eq!(alice_key.suite(), Suite::PostQuantum);
    assert_eq!(bob_key.suite(), Suite::Classic);
    let bobs_cards = alice.cards().find(&["bob"]).unwrap().into_cards();
    assert_eq!(bobs_cards[0].public_key().suite(), Suite::Classic);
    let alices_cards = bob.cards().find(&["alice"]).unwrap().into_cards();
    assert_eq!(alices_cards[0].public_key().suite(), Suite::PostQuantum);

    alice
        .messages()
        .send("bob", &alice_key, "pq to classic")
        .unwrap();
    bob.messages()
        .send("alice", &bob_key, "classic to pq")
        .unwrap();
    let text = |read: virgil::InboxRead| {
        read.messages[0]
            .message
            .as_ref()
            .unwrap()
            .to_string(Encoding::Utf8)
    };
    assert_eq!(
        text(bob.messages().inbox(&bob_key, 0).unwrap()),
        "pq to classic"
    );
    assert_eq!(
        text(alice.messages().inbox(&alice_key, 0).unwrap()),
        "classic to pq"
    );

    // Carol requires post-quantum recipients: bob's classic card is refused before
    // anything is encrypted or sent.
    let carol = pq(RecipientPolicy::RequirePostQuantum);
    let carol_key = sign_up(&carol, "carol");
    let refused = carol.messages().send("bob", &carol_key, "secret");
    assert!(
        matches!(&refused, Err(Error::NotPostQuantum { whose }) if whose.contains("\"bob\"")),
        "{refused:?}"
    );
    assert!(bob.messages().inbox(&bob_key, 0).unwrap().messages.len() == 1);
    let bobs = carol.cards().find(&["bob"]).unwrap().cards;
    assert!(matches!(
        carol_key.sign_then_encrypt("secret", &bobs),
        Err(Error::NotPostQuantum { .. })
    ));
    carol
        .messages()
        .send("alice", &carol_key, "pq only")
        .unwrap();
    // Her own key counts too: a classic key under the same policy refuses even a
    // post-quantum recipient.
    let classic_own =
        virgil::Key::from_private_key(virgil::crypto::PrivateKey::generate().unwrap())
            .with_recipient_policy(RecipientPolicy::RequirePostQuantum);
    let alices = carol.cards().find(&["alice"]).unwrap().cards;
    assert!(matches!(
        classic_own.sign_then_encrypt("x", &alices),
        Err(Error::NotPostQuantum { whose }) if whose == "your own key"
    ));
}
