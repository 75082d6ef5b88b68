//! A user's private key with the tutorial's operations, and the key store around it.

use crate::error::opening;
use crate::recipient::{self, Recipient};
use crate::{Buffer, Card, Error, PublicKey};
use std::path::PathBuf;
use virgil_crypto::{PrivateKey, Suite, envelope};
use virgil_keystore::{DirKeyStore, KeyEntry, KeyListing, KeyStore, MemoryKeyStore};

/// A user's private key, with the tutorial's operations.
///
/// Both tiers follow the same rules for it: a message it signs is also encrypted to it
/// (so the sender can read what it sent) unless [`Key::with_own_copy`] says otherwise,
/// and its [`RecipientPolicy`] is checked against every recipient first.
#[derive(Debug, PartialEq, Eq)]
pub struct Key {
    pub(crate) private: PrivateKey,
    pub(crate) policy: RecipientPolicy,
    pub(crate) own_copy: bool,
}

/// Which recipients a [`Key`] agrees to encrypt to ([`Config::recipient_policy`]).
///
/// An envelope is only as strong as its weakest stanza: one suite-1 recipient (or a
/// suite-1 sender, who is a recipient of their own message) lets a future quantum
/// computer read it. An application that must resist "harvest now, decrypt later"
/// therefore refuses suite-1 cards outright.
///
/// [`Config::recipient_policy`]: crate::Config::recipient_policy
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecipientPolicy {
    /// Encrypt to keys of any suite (the default).
    #[default]
    AnySuite,
    /// Encrypt only to post-quantum (suite 2) keys, the sender's own included:
    /// [`Error::NotPostQuantum`] names the first card (or own key) that is not.
    RequirePostQuantum,
}

impl RecipientPolicy {
    /// Checks `recipients` against this policy, as every encrypting function of the
    /// facade does before writing anything: [`Error::NotPostQuantum`] names the first
    /// one the policy refuses. Signed messages check their signer's policy themselves
    /// ([`Key::sign_then_encrypt`]); so do [`crate::Virgil::encrypt`] and
    /// [`crate::Virgil::encryptor`] with the deployment's. Call it before the free
    /// [`crate::encrypt`] or [`crate::stream::Encryptor::unsigned`], which follow no
    /// policy.
    ///
    /// ```
    /// # use virgil::{Key, RecipientPolicy};
    /// let classic = Key::from_private_key(virgil::crypto::PrivateKey::generate()?);
    /// let refused = RecipientPolicy::RequirePostQuantum.check_recipients(&[classic.public_key()]);
    /// assert!(matches!(refused, Err(virgil::Error::NotPostQuantum { .. })));
    /// assert!(RecipientPolicy::AnySuite.check_recipients(&[classic.public_key()]).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_recipients<R: Recipient>(self, recipients: &[R]) -> Result<(), Error> {
        self.check(
            recipients
                .iter()
                .map(|recipient| (recipient.public_key(), recipient.describe())),
        )
    }

    /// Checks `recipients`, named by `whose` for the error.
    pub(crate) fn check<'k>(
        self,
        recipients: impl IntoIterator<Item = (&'k PublicKey, String)>,
    ) -> Result<(), Error> {
        if self == RecipientPolicy::AnySuite {
            return Ok(());
        }
        for (key, whose) in recipients {
            if !key.suite().is_post_quantum() {
                return Err(Error::NotPostQuantum { whose });
            }
        }
        Ok(())
    }
}

/// Encrypts `message` for `recipients` without signing it: anyone could have sent it,
/// and nobody but the recipients can read it (not even its sender). To say who sent it,
/// use [`Key::sign_then_encrypt`]; the streaming tier's twin is
/// [`crate::stream::Encryptor::unsigned`].
///
/// With no key and no deployment, it follows no [`RecipientPolicy`]: under a
/// deployment's policy use [`crate::Virgil::encrypt`], or check first with
/// [`RecipientPolicy::check_recipients`].
///
/// ```
/// # use virgil::Key;
/// let bob = Key::from_private_key(virgil::crypto::PrivateKey::generate()?);
/// let cipher = virgil::encrypt("an anonymous tip", &[bob.public_key()])?;
/// assert_eq!(bob.decrypt(&cipher)?.as_bytes(), b"an anonymous tip");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encrypt<R: Recipient>(message: impl AsRef<[u8]>, recipients: &[R]) -> Result<Buffer, Error> {
    let keys = recipient::keys_for(None, recipients)?;
    let mut cipher = Buffer::default();
    envelope::encrypt_into(message.as_ref(), &keys, cipher.bytes_mut())?;
    Ok(cipher)
}

impl Key {
    /// Wraps a private key (e.g. one made with the crypto layer); it encrypts to any
    /// suite until [`Key::with_recipient_policy`] says otherwise, and keeps a copy of
    /// what it signs.
    pub fn from_private_key(key: PrivateKey) -> Self {
        Self {
            private: key,
            policy: RecipientPolicy::default(),
            own_copy: true,
        }
    }

    /// This key with `policy` for the recipients it encrypts to.
    pub fn with_recipient_policy(mut self, policy: RecipientPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// This key, encrypting what it signs to itself too (`true`, the default: the sender
    /// can read what it sent) or only to the recipients (`false`: e.g. a relay that must
    /// not keep readable copies). Applies to both tiers.
    pub fn with_own_copy(mut self, own_copy: bool) -> Self {
        self.own_copy = own_copy;
        self
    }

    /// The key's suite: [`Suite::PostQuantum`] or [`Suite::Classic`].
    pub fn suite(&self) -> Suite {
        self.private.suite()
    }

    /// The underlying private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        self.private.public_key()
    }

    /// Signs `message`, then encrypts it for `recipients` (cards, found cards or bare
    /// keys: [`Recipient`]) and for this key (see [`Key::with_own_copy`]). Under
    /// [`RecipientPolicy::RequirePostQuantum`], fails with [`Error::NotPostQuantum`] before
    /// encrypting anything if a recipient or this key is suite 1. Unsigned:
    /// [`crate::encrypt`]; streaming: [`crate::stream::Encryptor::signed`].
    pub fn sign_then_encrypt<R: Recipient>(
        &self,
        message: impl AsRef<[u8]>,
        recipients: &[R],
    ) -> Result<Buffer, Error> {
        let mut cipher = Buffer::default();
        self.sign_then_encrypt_into(message, recipients, &mut cipher)?;
        Ok(cipher)
    }

    /// [`Key::sign_then_encrypt`] into `cipher`, replacing its contents and reusing its
    /// memory: encrypting many messages through one `Buffer` allocates (and page-faults)
    /// once, not per message.
    ///
    /// ```
    /// # use virgil::{Buffer, Card, Key};
    /// let key = Key::from_private_key(virgil::crypto::PrivateKey::generate()?);
    /// let mut cipher = Buffer::default();
    /// for text in ["one", "two"] {
    ///     key.sign_then_encrypt_into(text, &[] as &[Card], &mut cipher)?;
    ///     assert_eq!(key.decrypt(&cipher)?.as_bytes(), text.as_bytes());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_then_encrypt_into<R: Recipient>(
        &self,
        message: impl AsRef<[u8]>,
        recipients: &[R],
        cipher: &mut Buffer,
    ) -> Result<(), Error> {
        let keys = recipient::keys_for(Some(self), recipients)?;
        Ok(envelope::sign_then_encrypt_into(
            message.as_ref(),
            &self.private,
            &keys,
            cipher.bytes_mut(),
        )?)
    }

    /// Decrypts with this key, then verifies that the sender is the holder of `sender`.
    pub fn decrypt_then_verify(
        &self,
        cipher: impl AsRef<[u8]>,
        sender: &Card,
    ) -> Result<Buffer, Error> {
        self.decrypt_then_verify_any(cipher, std::slice::from_ref(sender))
    }

    /// Like [`Key::decrypt_then_verify`] when the sender is one of several cards (e.g.
    /// every card of one identity, or of a group). Streaming:
    /// [`crate::stream::Decryptor::verified`].
    pub fn decrypt_then_verify_any(
        &self,
        cipher: impl AsRef<[u8]>,
        senders: &[Card],
    ) -> Result<Buffer, Error> {
        let mut message = Buffer::default();
        self.decrypt_then_verify_into(cipher, senders, &mut message)?;
        Ok(message)
    }

    /// [`Key::decrypt_then_verify_any`] into `message`, replacing its contents and
    /// reusing its memory (see [`Key::sign_then_encrypt_into`]); on any error `message`
    /// is left empty.
    pub fn decrypt_then_verify_into(
        &self,
        cipher: impl AsRef<[u8]>,
        senders: &[Card],
        message: &mut Buffer,
    ) -> Result<(), Error> {
        if senders.is_empty() {
            message.bytes_mut().clear();
            return Err(Error::NoSenderCards);
        }
        let keys: Vec<&PublicKey> = senders.iter().map(Card::public_key).collect();
        envelope::decrypt_then_verify_into(
            cipher.as_ref(),
            &self.private,
            &keys,
            message.bytes_mut(),
        )
        .map(|_| ())
        .map_err(|error| opening(error, &self.private, senders))
    }

    /// Decrypts with this key without checking who sent it: for unsigned messages
    /// ([`crate::encrypt`]). A signature, if there is one, is not checked, so the
    /// message may come from anyone: prefer [`Key::decrypt_then_verify`]. Streaming:
    /// [`crate::stream::Decryptor::unverified`].
    pub fn decrypt(&self, cipher: impl AsRef<[u8]>) -> Result<Buffer, Error> {
        let mut message = Buffer::default();
        envelope::decrypt_into(cipher.as_ref(), &self.private, message.bytes_mut())
            .map_err(|error| opening(error, &self.private, &[]))?;
        Ok(message)
    }
}

enum Storage {
    Dir(DirKeyStore),
    Memory(MemoryKeyStore),
}

/// A device's keys ([`crate::Virgil::keys`], or on their own with [`Keys::open`]):
/// generate, save (never replacing a key), load, list, delete, change a password.
pub struct Keys {
    storage: Storage,
    suite: Suite,
    policy: RecipientPolicy,
}

impl Keys {
    /// The keys in directory `dir` (created if missing; docs/format.md §3 for the files).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        Ok(Self {
            storage: Storage::Dir(DirKeyStore::open(dir)?),
            suite: Suite::default(),
            policy: RecipientPolicy::default(),
        })
    }

    /// The platform's default key directory (`$XDG_DATA_HOME/virgil/keys` or
    /// `~/.local/share/virgil/keys`), if there is a home directory.
    pub fn default_dir() -> Option<PathBuf> {
        DirKeyStore::default_dir()
    }

    /// Keys kept in memory only (tests, ephemeral use).
    pub fn in_memory() -> Self {
        Self {
            storage: Storage::Memory(MemoryKeyStore::new()),
            suite: Suite::default(),
            policy: RecipientPolicy::default(),
        }
    }

    fn store(&self) -> &dyn KeyStore {
        match &self.storage {
            Storage::Dir(store) => store,
            Storage::Memory(store) => store,
        }
    }

    /// The policy of the keys these keys make and load ([`crate::Config::recipient_policy`]).
    pub fn recipient_policy(&self) -> RecipientPolicy {
        self.policy
    }

    /// These keys, generating `suite` and encrypting under `policy`
    /// ([`crate::Config::key_suite`], [`crate::Config::recipient_policy`]).
    pub(crate) fn with_choices(mut self, suite: Suite, policy: RecipientPolicy) -> Self {
        self.suite = suite;
        self.policy = policy;
        self
    }

    /// A new key from the system's random generator, of the configured suite
    /// ([`crate::Config::key_suite`]; [`Suite::Classic`] by default).
    pub fn generate(&self) -> Result<Key, Error> {
        self.generate_with_suite(self.suite)
    }

    /// A new key of `suite` from the system's random generator.
    pub fn generate_with_suite(&self, suite: Suite) -> Result<Key, Error> {
        Ok(
            Key::from_private_key(PrivateKey::generate_with_suite(suite)?)
                .with_recipient_policy(self.policy),
        )
    }

    /// Saves `key` under `name`, locked with `password` (`None`: unprotected); never
    /// replaces a key.
    pub fn save(&self, key: &Key, name: &str, password: Option<&str>) -> Result<KeyEntry, Error> {
        Ok(self
            .store()
            .save(name, &key.private, password.map(str::as_bytes))?)
    }

    /// Loads the key `name` with its password.
    pub fn load(&self, name: &str, password: Option<&str>) -> Result<Key, Error> {
        let key = self.store().load(name, password.map(str::as_bytes))?;
        Ok(Key::from_private_key(key).with_recipient_policy(self.policy))
    }

    /// Whether a key is saved under `name`.
    pub fn exists(&self, name: &str) -> Result<bool, Error> {
        Ok(self.store().exists(name)?)
    }

    /// What is known about key `name` without its password: key id, creation time,
    /// whether a password protects it. Reads only that key.
    pub fn entry(&self, name: &str) -> Result<KeyEntry, Error> {
        Ok(self.store().entry(name)?)
    }

    /// Every saved key, by name, and the records that could not be read.
    pub fn list(&self) -> Result<KeyListing, Error> {
        Ok(self.store().list()?)
    }

    /// Deletes key `name`: messages encrypted for it can no longer be read.
    pub fn delete(&self, name: &str) -> Result<(), Error> {
        Ok(self.store().delete(name)?)
    }

    /// Changes the password of key `name` (`None`: none).
    pub fn change_password(
        &self,
        name: &str,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<(), Error> {
        Ok(self
            .store()
            .change_password(name, old.map(str::as_bytes), new.map(str::as_bytes))?)
    }

    /// The directory keys are kept in (`None` for a memory store).
    pub fn dir(&self) -> Option<&std::path::Path> {
        match &self.storage {
            Storage::Dir(store) => Some(store.dir()),
            Storage::Memory(_) => None,
        }
    }

    /// The file of key `name` (`None` for a memory store or a name that is not valid).
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        match &self.storage {
            Storage::Dir(store) => virgil_keystore::KeyName::new(name)
                .ok()
                .map(|name| store.path_of(&name)),
            Storage::Memory(_) => None,
        }
    }
}
