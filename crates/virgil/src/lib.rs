//! End-to-end encryption for applications, in the style of Virgil Security's SDK.
//!
//! This facade offers the tutorial's high-level API — keys, identities, cards,
//! `sign_then_encrypt` and `decrypt_then_verify` — over the layers, which it re-exports
//! behind features (`crypto`, `card`, `keystore`, `client`) for direct use. Application
//! developers depend on this crate; embedded users depend on `virgil-crypto` alone.
//!
//! ```no_run
//! use virgil::{Buffer, Config, Encoding, Virgil};
//! # let pinned = virgil_crypto::PrivateKey::generate()?.public_key().clone();
//! # let config = Config { cards_url: "http://127.0.0.1:8080".into(), service_key: pinned.clone(),
//! #     app_id: "chat".into(), app_key: pinned, key_dir: None, tokens: Box::new(|| Ok(String::new())) };
//! let virgil = Virgil::new(config)?;                  // pinned keys, URL, key store, tokens
//!
//! // Register: a key, saved under a name and a password, and a card request for the server.
//! let alice_key = virgil.keys().generate()?;
//! virgil.keys().save(&alice_key, "alice", Some("password"))?;
//! let alice = virgil.identities().create_user("alice");
//! let request = virgil.cards().create(&alice, &alice_key)?;
//! let exported = request.export();                   // send to your application server
//!
//! // Sign then encrypt for Bob (and for Alice herself).
//! let alice_key = virgil.keys().load("alice", Some("password"))?;
//! let bob_cards = virgil.cards().find(&["bob"])?;
//! let cipher_text = alice_key.sign_then_encrypt("Hey Bob, how's it going?", &bob_cards)?.to_string(Encoding::Base64);
//!
//! // Bob decrypts then verifies against Alice's card.
//! # let bob_key = virgil.keys().load("bob", Some("bob's password"))?; let alice_card_id = *request.id();
//! let alice_card = virgil.cards().get(&alice_card_id)?;
//! let message = bob_key.decrypt_then_verify(&Buffer::from_string(&cipher_text, Encoding::Base64)?, &alice_card)?;
//! println!("{}", message.to_string(Encoding::Utf8));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod buffer;

pub use buffer::{Buffer, Encoding};
pub use virgil_card::{Card, CardId};
pub use virgil_client::TokenSource;
pub use virgil_crypto::PublicKey;

#[cfg(feature = "card")]
pub use virgil_card as card;
#[cfg(feature = "client")]
pub use virgil_client as client;
#[cfg(feature = "crypto")]
pub use virgil_crypto as crypto;
#[cfg(feature = "keystore")]
pub use virgil_keystore as keystore;

use std::path::PathBuf;
use virgil_card::{CardRequest, Verifier};
use virgil_client::CardsClient;
use virgil_crypto::{PrivateKey, envelope};
use virgil_keystore::{DirKeyStore, KeyStore, MemoryKeyStore};

/// What can go wrong, with messages a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key store operation failed (names the key and, for files, the path).
    #[error(transparent)]
    KeyStore(#[from] virgil_keystore::KeyStoreError),
    /// The cards service could not be used, or returned a card that failed verification.
    #[error(transparent)]
    Client(#[from] virgil_client::ClientError),
    /// A card is not valid.
    #[error(transparent)]
    Card(#[from] virgil_card::CardError),
    /// The message is not encrypted for this key.
    #[error(
        "not encrypted for this key (key id {key_id}); was the message sent before this key's card was published?"
    )]
    NotForThisKey {
        /// The key that tried to decrypt.
        key_id: String,
    },
    /// The signature does not match the sender's card(s).
    #[error("signature does not match the sender's card: the message was not signed by {expected}")]
    WrongSender {
        /// The identities whose cards were tried.
        expected: String,
    },
    /// Encryption, decryption or text decoding failed.
    #[error(transparent)]
    Crypto(#[from] virgil_crypto::Error),
    /// The text is not in the stated encoding.
    #[error("the text is not valid {0}")]
    Encoding(&'static str),
}

/// How [`Virgil`] is set up. The two public keys are pinned: shipped with the app, never
/// fetched on first use.
pub struct Config {
    /// The cards service, e.g. `http://127.0.0.1:8080`.
    pub cards_url: String,
    /// The cards service's public key (pinned).
    pub service_key: PublicKey,
    /// Your application's id.
    pub app_id: String,
    /// Your application's public key (pinned).
    pub app_key: PublicKey,
    /// Where keys are kept: a directory, or `None` for memory only (tests, ephemeral use).
    pub key_dir: Option<PathBuf>,
    /// Access tokens for the cards service (from your application server).
    pub tokens: Box<dyn TokenSource>,
}

/// The entry point: keys, identities and cards.
pub struct Virgil {
    client: CardsClient,
    store: Box<dyn KeyStore>,
    app_id: String,
}

impl Virgil {
    /// Sets up the client and the key store.
    pub fn new(config: Config) -> Result<Self, Error> {
        let verifier = Verifier::new()
            .trust_service(config.service_key)
            .trust_app(&config.app_id, config.app_key);
        let client = CardsClient::builder(&config.cards_url, verifier)
            .token_source(BoxedTokens(config.tokens))
            .build();
        let store: Box<dyn KeyStore> = match config.key_dir {
            Some(dir) => Box::new(DirKeyStore::open(dir)?),
            None => Box::new(MemoryKeyStore::new()),
        };
        Ok(Self {
            client,
            store,
            app_id: config.app_id,
        })
    }

    /// Generating, saving and loading keys.
    pub fn keys(&self) -> Keys<'_> {
        Keys { virgil: self }
    }

    /// Creating identities.
    pub fn identities(&self) -> Identities {
        Identities
    }

    /// Creating, importing, finding and getting cards.
    pub fn cards(&self) -> Cards<'_> {
        Cards { virgil: self }
    }
}

struct BoxedTokens(Box<dyn TokenSource>);

impl TokenSource for BoxedTokens {
    fn token(&self) -> Result<String, virgil_client::ClientError> {
        self.0.token()
    }
}

/// A user's private key, with the tutorial's operations.
#[derive(Debug, PartialEq, Eq)]
pub struct Key(PrivateKey);

impl Key {
    /// The underlying private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.0
    }

    /// Signs `message`, then encrypts it for the holders of `cards` and for this key
    /// (so the sender can read what it sent).
    pub fn sign_then_encrypt(
        &self,
        message: impl AsRef<[u8]>,
        cards: &[Card],
    ) -> Result<Buffer, Error> {
        let mut recipients: Vec<&PublicKey> = cards.iter().map(Card::public_key).collect();
        recipients.push(self.0.public_key());
        Ok(Buffer::from_bytes(envelope::sign_then_encrypt(
            message.as_ref(),
            &self.0,
            &recipients,
        )?))
    }

    /// Decrypts with this key, then verifies that the sender is the holder of `sender`.
    pub fn decrypt_then_verify(&self, cipher: &Buffer, sender: &Card) -> Result<Buffer, Error> {
        self.decrypt_then_verify_any(cipher, std::slice::from_ref(sender))
    }

    /// Like [`Key::decrypt_then_verify`] when the sender is one of several cards (e.g.
    /// every card of one identity, or of a group).
    pub fn decrypt_then_verify_any(
        &self,
        cipher: &Buffer,
        senders: &[Card],
    ) -> Result<Buffer, Error> {
        let keys: Vec<&PublicKey> = senders.iter().map(Card::public_key).collect();
        match envelope::decrypt_then_verify(cipher.as_bytes(), &self.0, &keys) {
            Ok(message) => Ok(Buffer::from_bytes(message.plaintext)),
            Err(virgil_crypto::Error::NotARecipient) => Err(Error::NotForThisKey {
                key_id: self.0.key_id().to_string(),
            }),
            Err(virgil_crypto::Error::UnknownSender | virgil_crypto::Error::BadSignature) => {
                let names: Vec<&str> = senders.iter().map(Card::identity).collect();
                Err(Error::WrongSender {
                    expected: names.join(", "),
                })
            }
            Err(other) => Err(Error::Crypto(other)),
        }
    }
}

/// Key operations ([`Virgil::keys`]).
pub struct Keys<'a> {
    virgil: &'a Virgil,
}

impl Keys<'_> {
    /// A new key from the system's random generator.
    pub fn generate(&self) -> Result<Key, Error> {
        Ok(Key(PrivateKey::generate()?))
    }

    /// Saves `key` under `name`, locked with `password` (never replaces a key).
    pub fn save(&self, key: &Key, name: &str, password: Option<&str>) -> Result<(), Error> {
        self.virgil
            .store
            .save(name, &key.0, password.map(str::as_bytes))?;
        Ok(())
    }

    /// Loads the key `name` with its password.
    pub fn load(&self, name: &str, password: Option<&str>) -> Result<Key, Error> {
        Ok(Key(self
            .virgil
            .store
            .load(name, password.map(str::as_bytes))?))
    }
}

/// An identity to create a card for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The identity, e.g. a user name.
    pub value: String,
    /// Its type, e.g. `user`.
    pub identity_type: String,
}

/// Identity operations ([`Virgil::identities`]).
pub struct Identities;

impl Identities {
    /// A user identity (type `user`).
    pub fn create_user(&self, name: &str) -> Identity {
        Identity {
            value: name.to_owned(),
            identity_type: "user".to_owned(),
        }
    }
}

/// Card operations ([`Virgil::cards`]).
pub struct Cards<'a> {
    virgil: &'a Virgil,
}

impl Cards<'_> {
    /// A self-signed card request for `identity` and `key`, to export and send to your
    /// application server for approval.
    pub fn create(&self, identity: &Identity, key: &Key) -> Result<Card, Error> {
        Ok(CardRequest::new(&identity.value, &self.virgil.app_id)
            .identity_type(&identity.identity_type)
            .sign(&key.0)?)
    }

    /// Imports an exported card or card request.
    pub fn import(&self, exported: &str) -> Result<Card, Error> {
        Ok(Card::import(exported)?)
    }

    /// The active, verified cards of `identities`.
    pub fn find(&self, identities: &[&str]) -> Result<Vec<Card>, Error> {
        Ok(self
            .virgil
            .client
            .search(identities, None)?
            .into_iter()
            .map(|found| found.card)
            .collect())
    }

    /// A verified card by id, whatever its status (so old messages stay verifiable).
    pub fn get(&self, id: &CardId) -> Result<Card, Error> {
        Ok(self.virgil.client.get(id)?.card)
    }
}
