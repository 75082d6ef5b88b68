//! `virgil demo`: the seed tutorial, end to end, against real servers on loopback.

use crate::error::CliError;
use virgil::{Config, ContactEvent, Encoding, RecipientPolicy, Suite, TlsRoots, Virgil};
use virgil_deploy::LocalDeployment;

const APP_ID: &str = "demo-chat";
const PASSWORD: &str = "correct horse battery staple";
const MESSAGE: &str = "Hey Bob, how's it going?";
const REPLY: &str = "Fine, and you?";
const BACKUP_PASSWORD: &str = "a backup password of its own";

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

/// The demo's shared state: the deployment and how a device reaches it.
struct Demo {
    dir: tempfile::TempDir,
    local: LocalDeployment,
    suite: Suite,
    policy: RecipientPolicy,
}

/// A user's device with the key it generated and its published card.
struct Device {
    virgil: Virgil,
    key: virgil::Key,
    card: virgil::Card,
}

/// Runs the demo with user keys of `suite`; with `backup`, alice also backs her key up
/// and restores it on a new device.
pub(crate) fn run(suite: Suite, backup: bool) -> Result<(), CliError> {
    println!("virgil demo: Alice sends Bob a signed, encrypted message through real servers\n");
    let demo = Demo::start(suite)?;
    let alice = demo.user("alice")?;
    let bob = demo.user("bob")?;
    find_bob(
        &alice,
        |event| matches!(event, ContactEvent::FirstContact { .. }),
        "alice's first lookup of bob pinned nothing",
    )?;
    step(
        "alice found bob's card and pinned it as a new contact (later changes are checked against it)",
    );
    let phone = demo.add_phone(&bob)?;
    demo.send(&alice, &bob, &phone.card)?;
    demo.read(&bob, &phone)?;
    if backup {
        demo.backup_and_restore(&alice, &bob)?;
    }
    demo.stop()
}

/// Alice looks bob up; the lookup must report an event `expected` accepts.
fn find_bob(
    alice: &Device,
    expected: impl Fn(&ContactEvent) -> bool,
    otherwise: &str,
) -> Result<virgil::Reviewed, CliError> {
    let found = alice
        .virgil
        .cards()
        .find(&["bob"])
        .map_err(err("finding bob"))?;
    if found.events.iter().any(expected) {
        Ok(found)
    } else {
        Err(fail(otherwise))
    }
}

impl Demo {
    /// Starts the servers: HTTPS from a throwaway local CA; 600 000 PBKDF2 iterations
    /// for account passwords, as in production. A post-quantum demo also refuses to
    /// encrypt to any classic card.
    fn start(suite: Suite) -> Result<Self, CliError> {
        let policy = if suite.is_post_quantum() {
            RecipientPolicy::RequirePostQuantum
        } else {
            RecipientPolicy::AnySuite
        };
        let dir = tempfile::tempdir().map_err(|e| fail(format!("temporary directory: {e}")))?;
        let local = LocalDeployment::builder(dir.path())
            .app_id(APP_ID)
            .tls(true)
            .start()
            .map_err(err("starting the servers"))?;
        step(format!(
            "generated the cards service key ({}) and the application key ({})",
            local.service_key().key_id(),
            local.app_key().key_id()
        ));
        step(format!(
            "cards service listening on {} (SQLite in {}; reset delay 0 for the demo, where `virgil init` writes a day)",
            local.cards_url(),
            dir.path().display()
        ));
        step(format!(
            "application server listening on {} (TLS: a throwaway local CA, pinned by the clients)",
            local.app_url()
        ));
        Ok(Self {
            dir,
            local,
            suite,
            policy,
        })
    }

    /// A device: its own key directory (and contact file), the same servers and pins.
    fn open_device(&self, name: &str) -> Result<Virgil, CliError> {
        let roots: TlsRoots = self.local.tls_roots().cloned().unwrap_or_default();
        Virgil::new(
            Config::new(
                APP_ID,
                self.local.app_key().clone(),
                self.local.service_key().clone(),
            )
            .cards_service(self.local.cards_url())
            .app_server(self.local.app_url())
            .tls_roots(roots)
            .key_suite(self.suite)
            .recipient_policy(self.policy)
            .key_dir(self.dir.path().join(format!("device-{name}"))),
        )
        .map_err(err(name))
    }

    /// Registers `user`, logs in, and makes a key and a card on the device, approved and
    /// published by the app server.
    fn user(&self, user: &str) -> Result<Device, CliError> {
        let virgil = self.open_device(user)?;
        virgil
            .account()
            .register(user, PASSWORD)
            .map_err(err(user))?;
        virgil.account().login(user, PASSWORD).map_err(err(user))?;
        step(format!(
            "{user} registered and logged in (session + cards-service access token)"
        ));
        let key = virgil.keys().generate().map_err(err(user))?;
        virgil
            .keys()
            .save(&key, user, Some(PASSWORD))
            .map_err(err(user))?;
        let identity = virgil.identities().create_user(user);
        let request = virgil.cards().create(&identity, &key).map_err(err(user))?;
        let card = virgil
            .account()
            .publish_card(&request)
            .map_err(err("publishing the card"))?
            .card;
        step(format!(
            "{user}: {} key generated and saved (password-locked), card {} approved and published (its status signed by the cards service, checked against the pinned key)",
            crate::key::suite_label(key.suite()),
            card.id()
        ));
        Ok(Device { virgil, key, card })
    }

    /// Bob adds a phone: its card is linked from his first card with that card's key.
    fn add_phone(&self, bob: &Device) -> Result<Device, CliError> {
        let phone = self.open_device("bob-phone")?;
        phone
            .account()
            .login("bob", PASSWORD)
            .map_err(err("bob's phone"))?;
        let key = phone.keys().generate().map_err(err("bob's phone"))?;
        let mut request = phone
            .cards()
            .create(&phone.identities().create_user("bob"), &key)
            .map_err(err("bob's phone"))?;
        bob.virgil
            .cards()
            .link(&mut request, &bob.card, &bob.key)
            .map_err(err("linking bob's phone"))?;
        let card = phone
            .account()
            .publish_card(&request)
            .map_err(err("publishing bob's phone card"))?
            .card;
        step(format!(
            "bob added a phone: card {} carries a link signature by his first card's key (the cards service refuses a new card for bob without one)",
            card.id()
        ));
        Ok(Device {
            virgil: phone,
            key,
            card,
        })
    }

    /// Alice finds bob's cards (the phone's linked from the one she pinned), both sides
    /// check their safety number, and alice signs, encrypts and sends.
    fn send(&self, alice: &Device, bob: &Device, phone: &virgil::Card) -> Result<(), CliError> {
        let alice_key = alice
            .virgil
            .keys()
            .load("alice", Some(PASSWORD))
            .map_err(err("alice"))?;
        let found = find_bob(
            alice,
            |event| matches!(event, ContactEvent::Linked { card, .. } if *card == *phone.id()),
            "alice's client did not see bob's phone as linked",
        )?;
        step(format!(
            "alice found and verified bob's {} cards: the phone's link from the card she pinned checks out, so no key-change warning",
            found.cards.len()
        ));
        step(format!(
            "alice's lookup was proven by the cards service's key directory: bob's {} cards are exactly his entry at epoch {}, against a checkpoint the pinned service key signed (nothing hidden, added or un-revoked)",
            found.cards.len(),
            found
                .cards
                .first()
                .and_then(|card| card.directory_epoch)
                .unwrap_or_default()
        ));
        let monitored = bob.virgil.monitor().map_err(err("bob's monitor"))?;
        step(format!(
            "bob's laptop checked bob's own cards: all {} were made by its key or linked from it, and so was every card in the {} versions of his directory entry up to epoch {} (monitor; any other card of bob's would be an alarm)",
            monitored.check.cards.len(),
            monitored.versions,
            monitored.epoch.unwrap_or_default()
        ));
        let number = alice
            .virgil
            .contacts()
            .safety_number("bob")
            .map_err(err("safety number"))?;
        let on_bobs_side = bob
            .virgil
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
            .sign_then_encrypt(MESSAGE, &found.cards)
            .map_err(err("encrypting"))?;
        alice
            .virgil
            .messages()
            .send_ciphertext("bob", &cipher)
            .map_err(err("sending"))?;
        step(format!(
            "alice signed, encrypted (for both of bob's devices{}) and sent {} bytes of ciphertext through the relay",
            if self.suite.is_post_quantum() {
                ", X-Wing stanzas only: the policy refuses classic cards"
            } else {
                ""
            },
            cipher.as_bytes().len()
        ));
        Ok(())
    }

    /// Bob's inbox decrypts each message and verifies it against the sender's cards
    /// (found and verified like alice found bob's), on the laptop and on the phone.
    fn read(&self, bob: &Device, phone: &Device) -> Result<(), CliError> {
        let bob_key = bob
            .virgil
            .keys()
            .load("bob", Some(PASSWORD))
            .map_err(err("bob"))?;
        let inbox = bob
            .virgil
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
        step(
            "bob fetched the message, decrypted it and verified alice's signature against her card",
        );
        let phone_read = phone
            .virgil
            .messages()
            .inbox(&phone.key, 0)
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
        Ok(())
    }

    /// Alice backs her key up, bob replies, alice's device is lost; on a new one she
    /// logs in, restores the key with her backup password and reads the reply.
    fn backup_and_restore(&self, alice: &Device, bob: &Device) -> Result<(), CliError> {
        alice
            .virgil
            .backups()
            .backup(&alice.key, BACKUP_PASSWORD, None)
            .map_err(err("alice's backup"))?;
        step(
            "alice backed her key up at the application server, locked with a backup password the cards service hardened without seeing it (RFC 9497 OPRF, its proof checked against the key the pinned service key signed); neither server alone can test a guess",
        );
        let bob_key = bob
            .virgil
            .keys()
            .load("bob", Some(PASSWORD))
            .map_err(err("bob"))?;
        bob.virgil
            .messages()
            .send("alice", &bob_key, REPLY)
            .map_err(err("bob's reply"))?;
        step("bob replied; then alice lost her device");
        let new_device = self.open_device("alice-new")?;
        new_device
            .account()
            .login("alice", PASSWORD)
            .map_err(err("alice's new device"))?;
        let wrong = new_device.backups().restore("not the backup password");
        if !matches!(
            wrong,
            Err(virgil::Error::Crypto(virgil::crypto::Error::WrongPassword))
        ) {
            return Err(fail("a wrong backup password was not refused"));
        }
        let restored = new_device
            .backups()
            .restore(BACKUP_PASSWORD)
            .map_err(err("restoring alice's key"))?;
        if restored.public_key() != alice.key.public_key() {
            return Err(fail("the restored key is not alice's"));
        }
        let guesses = new_device
            .backups()
            .status()
            .map_err(err("the backup's status"))?
            .guesses;
        step(format!(
            "on a new device alice logged in and restored her key (a wrong backup password first: refused); the cards service counted {} guesses, {} answered at once per hour",
            guesses.total, guesses.free_per_window
        ));
        let inbox = new_device
            .messages()
            .inbox(&restored, 0)
            .map_err(err("alice's inbox"))?;
        let reply = inbox
            .messages
            .iter()
            .find_map(|received| received.message.as_ref().ok())
            .map(|message| message.to_string(Encoding::Utf8))
            .ok_or_else(|| fail("alice's new device read no message"))?;
        if reply != REPLY {
            return Err(fail(format!("alice read {reply:?}, expected {REPLY:?}")));
        }
        step("alice's new device decrypted bob's reply and verified his signature");
        println!("\n  alice reads: \"{reply}\"\n");
        Ok(())
    }

    /// Stops the servers and removes the temporary files.
    fn stop(self) -> Result<(), CliError> {
        self.local
            .stop()
            .map_err(|e| fail(format!("stopping the servers: {e}")))?;
        self.dir
            .close()
            .map_err(|e| fail(format!("removing the temporary directory: {e}")))?;
        step("everything verified; servers stopped, temporary files removed");
        Ok(())
    }
}
