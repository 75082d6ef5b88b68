//! `virgil demo`: the seed tutorial, end to end, against real servers on loopback.

use crate::error::CliError;
use virgil::{Config, ContactEvent, Encoding, RecipientPolicy, Suite, TlsRoots, Virgil};
use virgil_deploy::LocalDeployment;

const APP_ID: &str = "demo-chat";
const PASSWORD: &str = "correct horse battery staple";
const MESSAGE: &str = "Hey Bob, how's it going?";

fn step(text: impl std::fmt::Display) {
    println!("  ✓ {text}");
}

/// A failed step: `demo FAILED: …`.
fn fail(message: impl Into<String>) -> CliError {
    CliError::new(format!("demo FAILED: {}", message.into()))
}

fn err<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> CliError + '_ {
    move |e| fail(format!("{context}: {e}"))
}

/// Runs the demo with user keys of `suite`.
pub(crate) fn run(suite: Suite) -> Result<(), CliError> {
    println!("virgil demo: Alice sends Bob a signed, encrypted message through real servers\n");
    // A post-quantum deployment also refuses to encrypt to any classic card.
    let policy = if suite.is_post_quantum() {
        RecipientPolicy::RequirePostQuantum
    } else {
        RecipientPolicy::AnySuite
    };
    let dir = tempfile::tempdir().map_err(|e| fail(format!("temporary directory: {e}")))?;

    // Set up the servers: HTTPS from a throwaway local CA; 600 000 PBKDF2 iterations
    // for account passwords, as in production.
    let local = LocalDeployment::builder(dir.path())
        .app_id(APP_ID)
        .tls(true)
        .start()
        .map_err(err("starting the servers"))?;
    let (service_public, app_public) = (local.service_key().clone(), local.app_key().clone());
    let roots: TlsRoots = local.tls_roots().cloned().unwrap_or_default();
    let (cards_url, app_url) = (local.cards_url().to_owned(), local.app_url().to_owned());
    step(format!(
        "generated the cards service key ({}) and the application key ({})",
        service_public.key_id(),
        app_public.key_id()
    ));
    step(format!(
        "cards service listening on {cards_url} (SQLite in {}; reset delay 0 for the demo, where `virgil init` writes a day)",
        dir.path().display()
    ));
    step(format!(
        "application server listening on {app_url} (TLS: a throwaway local CA, pinned by the clients)"
    ));

    // Register users, log in, set up each device.
    // A device: its own key directory (and contact file), the same servers and pins.
    let open_device = |name: &str| -> Result<Virgil, CliError> {
        Virgil::new(
            Config::new(APP_ID, app_public.clone(), service_public.clone())
                .cards_service(&cards_url)
                .app_server(&app_url)
                .tls_roots(roots.clone())
                .key_suite(suite)
                .recipient_policy(policy)
                .key_dir(dir.path().join(format!("device-{name}"))),
        )
        .map_err(err(name))
    };
    let device = |user: &str| -> Result<Virgil, CliError> {
        let virgil = open_device(user)?;
        virgil
            .account()
            .register(user, PASSWORD)
            .map_err(err(user))?;
        virgil.account().login(user, PASSWORD).map_err(err(user))?;
        step(format!(
            "{user} registered and logged in (session + cards-service access token)"
        ));
        Ok(virgil)
    };
    let (alice_device, bob_device) = (device("alice")?, device("bob")?);

    // Keys and cards: made on each device, approved and published by the app server.
    let mut first_cards = Vec::new();
    for (virgil, user) in [(&alice_device, "alice"), (&bob_device, "bob")] {
        let key = virgil.keys().generate().map_err(err(user))?;
        virgil
            .keys()
            .save(&key, user, Some(PASSWORD))
            .map_err(err(user))?;
        let identity = virgil.identities().create_user(user);
        let request = virgil.cards().create(&identity, &key).map_err(err(user))?;
        let published = virgil
            .account()
            .publish_card(&request)
            .map_err(err("publishing the card"))?;
        step(format!(
            "{user}: {} key generated and saved (password-locked), card {} approved and published (its status signed by the cards service, checked against the pinned key)",
            crate::key::suite_label(key.suite()),
            published.card.id()
        ));
        first_cards.push((key, published.card));
    }

    // Alice looks bob up: his card is verified and pinned as a new contact.
    let found = alice_device
        .cards()
        .find(&["bob"])
        .map_err(err("finding bob"))?;
    if !found
        .events
        .iter()
        .any(|event| matches!(event, ContactEvent::FirstContact { .. }))
    {
        return Err(fail("alice's first lookup of bob pinned nothing"));
    }
    step(
        "alice found bob's card and pinned it as a new contact (later changes are checked against it)",
    );

    // Bob adds a phone: its card is linked from his first card with that card's key.
    let phone = open_device("bob-phone")?;
    phone
        .account()
        .login("bob", PASSWORD)
        .map_err(err("bob's phone"))?;
    let phone_key = phone.keys().generate().map_err(err("bob's phone"))?;
    let mut phone_request = phone
        .cards()
        .create(&phone.identities().create_user("bob"), &phone_key)
        .map_err(err("bob's phone"))?;
    let (bob_first_key, bob_first_card) =
        first_cards.get(1).ok_or_else(|| fail("bob has no card"))?;
    bob_device
        .cards()
        .link(&mut phone_request, bob_first_card, bob_first_key)
        .map_err(err("linking bob's phone"))?;
    let phone_card = phone
        .account()
        .publish_card(&phone_request)
        .map_err(err("publishing bob's phone card"))?
        .card;
    step(format!(
        "bob added a phone: card {} carries a link signature by his first card's key (the cards service refuses a new card for bob without one)",
        phone_card.id()
    ));

    // Sign & encrypt, transmit.
    let alice_key = alice_device
        .keys()
        .load("alice", Some(PASSWORD))
        .map_err(err("alice"))?;
    let found = alice_device
        .cards()
        .find(&["bob"])
        .map_err(err("finding bob"))?;
    if !found.events.iter().any(
        |event| matches!(event, ContactEvent::Linked { card, .. } if *card == *phone_card.id()),
    ) {
        return Err(fail("alice's client did not see bob's phone as linked"));
    }
    let bob_cards: Vec<_> = found.cards.into_iter().map(|found| found.card).collect();
    step(format!(
        "alice found and verified bob's {} cards: the phone's link from the card she pinned checks out, so no key-change warning",
        bob_cards.len()
    ));
    let own = bob_device.self_check().map_err(err("bob's self-check"))?;
    step(format!(
        "bob's laptop checked bob's own cards: all {} were made by its key or linked from it (self-check; any other card of bob's would be an alarm)",
        own.cards.len()
    ));
    let number = alice_device
        .contacts()
        .safety_number("bob")
        .map_err(err("safety number"))?;
    let on_bobs_side = bob_device
        .contacts()
        .safety_number("alice")
        .map_err(err("safety number"))?;
    if number != on_bobs_side {
        return Err(fail("the two sides computed different safety numbers"));
    }
    step(format!(
        "safety number of alice and bob, the same on both devices (each computed its own half from its own cards): {number}"
    ));
    let cipher = alice_key
        .sign_then_encrypt(MESSAGE, &bob_cards)
        .map_err(err("encrypting"))?;
    alice_device
        .messages()
        .send_ciphertext("bob", &cipher)
        .map_err(err("sending"))?;
    step(format!(
        "alice signed, encrypted (for both of bob's devices{}) and sent {} bytes of ciphertext through the relay",
        if suite.is_post_quantum() {
            ", X-Wing stanzas only: the policy refuses classic cards"
        } else {
            ""
        },
        cipher.as_bytes().len()
    ));

    // Decrypt & verify: bob's inbox decrypts each message and verifies it against the
    // sender's cards (found and verified like alice found bob's).
    let bob_key = bob_device
        .keys()
        .load("bob", Some(PASSWORD))
        .map_err(err("bob"))?;
    let inbox = bob_device
        .messages()
        .inbox(&bob_key, 0)
        .map_err(err("fetching the inbox"))?;
    let received = inbox
        .messages
        .first()
        .ok_or_else(|| fail("bob's inbox is empty"))?;
    let message = received
        .message
        .as_ref()
        .map_err(|e| fail(format!("decrypting: {e}")))?
        .to_string(Encoding::Utf8);
    step("bob fetched the message, decrypted it and verified alice's signature against her card");
    let phone_read = phone
        .messages()
        .inbox(&phone_key, 0)
        .map_err(err("bob's phone inbox"))?;
    if phone_read
        .messages
        .first()
        .is_none_or(|received| received.message.is_err())
    {
        return Err(fail("bob's phone could not read the message"));
    }
    step("bob's phone read it too, with its own key");
    if message != MESSAGE {
        return Err(fail(format!("bob read {message:?}, expected {MESSAGE:?}")));
    }
    println!("\n  bob reads: \"{message}\"\n");
    local
        .stop()
        .map_err(|e| fail(format!("stopping the servers: {e}")))?;
    dir.close()
        .map_err(|e| fail(format!("removing the temporary directory: {e}")))?;
    step("everything verified; servers stopped, temporary files removed");
    Ok(())
}
