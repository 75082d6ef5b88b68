//! End-to-end encryption for applications, in the style of Virgil Security's SDK.
//!
//! This facade is the SDK: the tutorial's high-level API — keys, identities, cards,
//! `sign_then_encrypt` and `decrypt_then_verify` — plus a streaming tier
//! ([`stream`]: any size, binary or armored), the key store ([`Keys`]) and the
//! application server flow ([`Account`]: register, log in, token refresh, card approval;
//! [`Messages`]: send and read through the relay). It re-exports the layers behind
//! features (`crypto`, `card`, `keystore`, `client`) for direct use. Application
//! developers depend on this crate; embedded users depend on `virgil-crypto` alone.
//!
//! With `default-features = false` the HTTP client is left out: keys, card requests,
//! card verification and encryption work offline; finding cards and the account need
//! the `client` feature.
//!
//! ```no_run
//! use virgil::{Buffer, Config, Encoding, Virgil};
//! # let pinned = virgil_crypto::PrivateKey::generate()?.public_key().clone();
//! # let (app_key, service_key) = (pinned.clone(), pinned);
//! let virgil = Virgil::new(
//!     Config::new("chat", app_key, service_key)      // pinned keys, shipped with the app
//!         .cards_service("http://127.0.0.1:8080")
//!         .app_server("http://127.0.0.1:8081")
//!         .key_dir("keys"),
//! )?;
//! virgil.account().login("alice", "correct horse")?; // tokens for the cards service
//!
//! // Register: a key, saved under a name and a password, and a card for the server.
//! let alice_key = virgil.keys().generate()?;
//! virgil.keys().save(&alice_key, "alice", Some("password"))?;
//! let alice = virgil.identities().create_user("alice");
//! let request = virgil.cards().create(&alice, &alice_key)?;
//! virgil.account().publish_card(&request)?;          // approved by your app server
//!
//! // Sign then encrypt for Bob (and for Alice herself).
//! let alice_key = virgil.keys().load("alice", Some("password"))?;
//! let bob = virgil.cards().find(&["bob"])?;
//! let cipher_text = alice_key.sign_then_encrypt("Hey Bob, how's it going?", &bob.cards)?.to_string(Encoding::Base64);
//!
//! // Bob decrypts then verifies against Alice's card.
//! # let bob_key = virgil.keys().load("bob", Some("bob's password"))?; let alice_card_id = *request.id();
//! let alice_card = virgil.cards().get(&alice_card_id)?.card;
//! let message = bob_key.decrypt_then_verify(&Buffer::from_string(&cipher_text, Encoding::Base64)?, &alice_card)?;
//! println!("{}", message.to_string(Encoding::Utf8));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "client")]
mod account;
#[cfg(feature = "client")]
mod backup;
mod buffer;
mod cards;
#[cfg(feature = "client")]
mod checkpoints;
#[cfg(feature = "client")]
mod client_file;
#[cfg(feature = "client")]
mod contacts;
#[cfg(feature = "client")]
mod devices;
mod error;
mod key;
#[cfg(feature = "client")]
mod monitor;
mod recipient;
pub mod stream;

#[cfg(feature = "client")]
pub use account::{Account, InboxRead, Messages, Received, Sent, Session};
#[cfg(feature = "client")]
pub use backup::{BackupStatus, Backups};
pub use buffer::{Buffer, Encoding};
pub use cards::{Cards, Identities, Identity};
#[cfg(feature = "client")]
pub use client_file::ClientFile;
#[cfg(feature = "client")]
pub use contacts::{
    ContactEvent, Contacts, ForeignCard, KeyChange, KeyChangePolicy, Reviewed, SelfCheck,
    SelfCheckAlarm,
};
#[cfg(feature = "client")]
pub use devices::{
    Devices, Joining, PAIRING_URI_SCHEME, PairingCode, PairingFailure, PairingRequest, fingerprint,
};
pub use error::Error;
pub use key::{Key, Keys, RecipientPolicy, encrypt};
#[cfg(feature = "client")]
pub use monitor::{MonitorAlarm, MonitorFinding, Monitored};
pub use recipient::Recipient;
#[cfg(feature = "client")]
pub use virgil_api::app::SessionInfo;
#[cfg(feature = "client")]
pub use virgil_api::cards::{BackupGuesses, CardStatus};
pub use virgil_card::{Card, CardId, CardIdentity, RevocationReason};
pub use virgil_card::{Contact, SafetyNumber};
#[cfg(feature = "client")]
pub use virgil_client::{PublishedCard, TlsRoots, TokenSource};
pub use virgil_crypto::{PublicKey, Suite};
pub use virgil_keystore::{KeyEntry, KeyListing};

#[cfg(feature = "card")]
pub use virgil_card as card;
#[cfg(feature = "client")]
pub use virgil_client as client;
#[cfg(feature = "crypto")]
pub use virgil_crypto as crypto;
#[cfg(feature = "keystore")]
pub use virgil_keystore as keystore;

use std::path::PathBuf;
use virgil_card::Verifier;

/// How [`Virgil`] is set up. The two public keys are pinned: shipped with the app, never
/// fetched on first use.
///
/// Keys are kept in memory unless [`Config::key_dir`] names a directory. Access tokens
/// for the cards service come from the login session ([`Account::login`]) unless
/// [`Config::tokens`] gives another source.
pub struct Config {
    app_id: String,
    app_key: PublicKey,
    service_key: PublicKey,
    key_dir: Option<PathBuf>,
    key_suite: Suite,
    recipient_policy: RecipientPolicy,
    #[cfg(feature = "client")]
    cards_url: Option<String>,
    #[cfg(feature = "client")]
    app_url: Option<String>,
    #[cfg(feature = "client")]
    tokens: Option<Box<dyn TokenSource>>,
    #[cfg(feature = "client")]
    tls_roots: TlsRoots,
    #[cfg(feature = "client")]
    contacts_file: Option<PathBuf>,
    #[cfg(feature = "client")]
    key_changes: KeyChangePolicy,
    #[cfg(feature = "client")]
    identity: Option<String>,
}

impl Config {
    /// Your application's id and public key, and the cards service's public key.
    pub fn new(app_id: &str, app_key: PublicKey, service_key: PublicKey) -> Self {
        Self {
            app_id: app_id.to_owned(),
            app_key,
            service_key,
            key_dir: None,
            key_suite: Suite::default(),
            recipient_policy: RecipientPolicy::default(),
            #[cfg(feature = "client")]
            cards_url: None,
            #[cfg(feature = "client")]
            app_url: None,
            #[cfg(feature = "client")]
            tokens: None,
            #[cfg(feature = "client")]
            tls_roots: TlsRoots::default(),
            #[cfg(feature = "client")]
            contacts_file: None,
            #[cfg(feature = "client")]
            key_changes: KeyChangePolicy::default(),
            #[cfg(feature = "client")]
            identity: None,
        }
    }

    /// The user's own identity, checked on every lookup that includes it
    /// ([`Virgil::self_check`]) [default: the logged-in user's name
    /// ([`Account::login`]); set it when tokens come from your own server
    /// ([`Config::tokens`])].
    #[cfg(feature = "client")]
    pub fn identity(mut self, identity: &str) -> Self {
        self.identity = Some(identity.to_owned());
        self
    }

    /// Keep the contact store (the cards used per identity, docs/key-changes.md) in this
    /// file [default: `contacts.json` in the key directory, or memory without one].
    #[cfg(feature = "client")]
    pub fn contacts_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.contacts_file = Some(path.into());
        self
    }

    /// What a lookup does when a contact's cards changed without a link from a card
    /// used before [default: [`KeyChangePolicy::Block`]].
    #[cfg(feature = "client")]
    pub fn key_changes(mut self, policy: KeyChangePolicy) -> Self {
        self.key_changes = policy;
        self
    }

    /// Which certificate authorities to trust for `https://` servers: the public web's
    /// (default), or your deployment's own CA, pinned
    /// (`TlsRoots::from_pem(&std::fs::read("ca.pem")?)?`).
    #[cfg(feature = "client")]
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.tls_roots = roots;
        self
    }

    /// The suite of the keys [`Keys::generate`] makes [default: [`Suite::Classic`]; see
    /// docs/decisions.md for when to choose [`Suite::PostQuantum`]].
    pub fn key_suite(mut self, suite: Suite) -> Self {
        self.key_suite = suite;
        self
    }

    /// Which recipients the keys of [`Virgil::keys`], [`Virgil::encrypt`] and
    /// [`Virgil::encryptor`] encrypt to [default: [`RecipientPolicy::AnySuite`]]. With
    /// [`RecipientPolicy::RequirePostQuantum`] none of them encrypts to a suite-1 card or
    /// key. The free [`crate::encrypt`] and [`stream::Encryptor::unsigned`] know no
    /// deployment and follow no policy.
    pub fn recipient_policy(mut self, policy: RecipientPolicy) -> Self {
        self.recipient_policy = policy;
        self
    }

    /// Keep keys in this directory (created if missing) instead of memory.
    pub fn key_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.key_dir = Some(dir.into());
        self
    }

    /// The cards service, e.g. `http://127.0.0.1:8080`.
    #[cfg(feature = "client")]
    pub fn cards_service(mut self, url: &str) -> Self {
        self.cards_url = Some(url.to_owned());
        self
    }

    /// The application server (the reference `virgil-app-server` API), for
    /// [`Virgil::account`] and [`Virgil::messages`].
    #[cfg(feature = "client")]
    pub fn app_server(mut self, url: &str) -> Self {
        self.app_url = Some(url.to_owned());
        self
    }

    /// Where access tokens for the cards service come from, when not from a login to
    /// the reference application server (e.g. your own server's endpoint).
    #[cfg(feature = "client")]
    pub fn tokens(mut self, tokens: impl TokenSource + 'static) -> Self {
        self.tokens = Some(Box::new(tokens));
        self
    }
}

/// The entry point: keys, identities, cards and (feature `client`) the account and
/// messages.
pub struct Virgil {
    app_id: String,
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    service_key: PublicKey,
    verifier: Verifier,
    keys: Keys,
    #[cfg(feature = "client")]
    remote: account::Remote,
    #[cfg(feature = "client")]
    contacts: contacts::ContactStore,
    #[cfg(feature = "client")]
    key_changes: KeyChangePolicy,
    #[cfg(feature = "client")]
    identity: Option<String>,
}

impl Virgil {
    /// Sets up the key store and the clients.
    pub fn new(config: Config) -> Result<Self, Error> {
        let verifier = Verifier::new()
            .trust_service(config.service_key.clone())
            .trust_app(&config.app_id, config.app_key);
        #[cfg(feature = "client")]
        let contacts_file = config
            .contacts_file
            .or_else(|| config.key_dir.as_ref().map(|dir| dir.join("contacts.json")));
        // The directory checkpoint lives beside the contact store: both are this
        // device's memory of what the directory showed it.
        #[cfg(feature = "client")]
        let checkpoints: std::sync::Arc<dyn virgil_client::directory::CheckpointStore> =
            match contacts_file.as_ref().and_then(|path| path.parent()) {
                Some(dir) => std::sync::Arc::new(checkpoints::FileCheckpoints::new(
                    dir.join(checkpoints::CHECKPOINT_FILE),
                )),
                None => std::sync::Arc::new(virgil_client::directory::MemoryCheckpoints::default()),
            };
        #[cfg(feature = "client")]
        let contacts = match contacts_file {
            Some(path) => contacts::ContactStore::file(path),
            None => contacts::ContactStore::memory(),
        };
        Ok(Self {
            #[cfg(feature = "client")]
            contacts,
            #[cfg(feature = "client")]
            key_changes: config.key_changes,
            #[cfg(feature = "client")]
            identity: config.identity,
            #[cfg(feature = "client")]
            remote: account::Remote::new(
                config.cards_url,
                config.app_url,
                config.tokens,
                config.tls_roots,
                &verifier,
                checkpoints,
            ),
            keys: match config.key_dir {
                Some(dir) => Keys::open(dir)?,
                None => Keys::in_memory(),
            }
            .with_choices(config.key_suite, config.recipient_policy),
            app_id: config.app_id,
            service_key: config.service_key,
            verifier,
        })
    }

    /// The pinned cards service key.
    pub fn service_key(&self) -> &PublicKey {
        &self.service_key
    }

    /// Generating, saving, loading and managing keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// [`crate::encrypt`] (unsigned, to `recipients` only) under the deployment's
    /// [`Config::recipient_policy`], checked before anything is encrypted.
    pub fn encrypt<R: Recipient>(
        &self,
        message: impl AsRef<[u8]>,
        recipients: &[R],
    ) -> Result<Buffer, Error> {
        self.keys.recipient_policy().check_recipients(recipients)?;
        key::encrypt(message, recipients)
    }

    /// [`stream::Encryptor::unsigned`] under the deployment's
    /// [`Config::recipient_policy`], checked before anything is written: the streaming
    /// twin of [`Virgil::encrypt`].
    pub fn encryptor<'a, W: std::io::Write, R: Recipient>(
        &self,
        output: W,
        recipients: &[R],
        format: stream::Format,
    ) -> Result<stream::Encryptor<'a, W>, Error> {
        self.keys.recipient_policy().check_recipients(recipients)?;
        stream::Encryptor::unsigned(output, recipients, format)
    }

    /// Creating identities.
    pub fn identities(&self) -> Identities {
        Identities
    }

    /// Creating, importing, verifying, finding and getting cards.
    pub fn cards(&self) -> Cards<'_> {
        Cards { virgil: self }
    }

    /// The account on the application server: register, log in, publish a card.
    #[cfg(feature = "client")]
    pub fn account(&self) -> Account<'_> {
        Account { virgil: self }
    }

    /// The contact store: the cards used per identity, key changes, safety numbers.
    #[cfg(feature = "client")]
    pub fn contacts(&self) -> Contacts<'_> {
        Contacts { virgil: self }
    }

    /// Sending and reading messages through the application server's relay.
    #[cfg(feature = "client")]
    pub fn messages(&self) -> Messages<'_> {
        Messages { virgil: self }
    }

    /// The user's own identity: [`Config::identity`], else the logged-in user's.
    #[cfg(feature = "client")]
    pub fn own_identity(&self) -> Option<CardIdentity> {
        self.identity
            .clone()
            .or_else(|| self.account().session().map(|session| session.username))
            .map(|identity| CardIdentity::new(&self.app_id, &identity))
    }

    /// Checks the user's own identity (docs/key-changes.md, "self-monitoring"): every
    /// active or pending card of it must be one this device's keys made, one it
    /// published or was linked from, or one linked from those. Any other card is an
    /// [`Error::SelfCheck`] alarm (someone with the account password, a session token
    /// or the application's key added it, or is resetting the identity); it is never
    /// pinned and never encrypted to. Every lookup that includes the user's identity
    /// (`send` looks the sender up too) makes the same check; call this on start, after
    /// login and before reading the inbox.
    #[cfg(feature = "client")]
    pub fn self_check(&self) -> Result<SelfCheck, Error> {
        let me = self.own_identity().ok_or(Error::NotLoggedIn)?;
        let found = self.cards().find(&[me.identity.as_str()])?;
        Ok(SelfCheck {
            checked: found.own_checked,
            cards: found.cards,
            events: found.events,
        })
    }
}
