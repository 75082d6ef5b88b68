//! What a message can be encrypted to, in both tiers ([`crate::Key::sign_then_encrypt`],
//! [`crate::encrypt`], [`crate::stream::Encryptor`]).

use crate::{Card, PublicKey};

mod sealed {
    /// Keeps [`super::Recipient`] closed: the envelope's recipients are keys of the two
    /// suites, nothing else (docs/decisions.md: no public recipient plug-ins).
    pub trait Sealed {}
}

/// Something a message can be encrypted to: a [`Card`] (the usual case: found and
/// verified), a `PublishedCard` (what [`crate::Cards::find`] returns), or a bare
/// [`PublicKey`] (no directory involved: its holder told you the key). Both tiers take a
/// slice of any one of them, so `&cards`, `&found.cards` and `&[bob.public_key()]` all
/// work.
///
/// The trait is sealed: it cannot be implemented outside this crate.
pub trait Recipient: sealed::Sealed {
    /// The key the message is encrypted to.
    fn public_key(&self) -> &PublicKey;

    /// How errors name this recipient (e.g. "the card 4f2a… of \"bob\"").
    fn describe(&self) -> String;
}

impl sealed::Sealed for Card {}
impl Recipient for Card {
    fn public_key(&self) -> &PublicKey {
        Card::public_key(self)
    }

    fn describe(&self) -> String {
        format!("the card {} of {:?}", self.id(), self.identity())
    }
}

#[cfg(feature = "client")]
impl sealed::Sealed for crate::PublishedCard {}
#[cfg(feature = "client")]
impl Recipient for crate::PublishedCard {
    fn public_key(&self) -> &PublicKey {
        self.card.public_key()
    }

    fn describe(&self) -> String {
        self.card.describe()
    }
}

impl sealed::Sealed for PublicKey {}
impl Recipient for PublicKey {
    fn public_key(&self) -> &PublicKey {
        self
    }

    fn describe(&self) -> String {
        format!("the key {}", self.key_id())
    }
}

impl<T: Recipient + ?Sized> sealed::Sealed for &T {}
impl<T: Recipient + ?Sized> Recipient for &T {
    fn public_key(&self) -> &PublicKey {
        (**self).public_key()
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// The keys a message from `sender` (if signed) to `recipients` is encrypted to: the
/// recipients' keys, then the sender's own when it keeps a copy (the one rule both tiers
/// follow; the envelope drops duplicates). Checks the sender's
/// [`crate::RecipientPolicy`] first.
pub(crate) fn keys_for<'k, R: Recipient>(
    sender: Option<&'k crate::Key>,
    recipients: &'k [R],
) -> Result<Vec<&'k PublicKey>, crate::Error> {
    let mut keys: Vec<&PublicKey> = recipients.iter().map(Recipient::public_key).collect();
    if let Some(sender) = sender {
        let own = sender
            .own_copy
            .then(|| (sender.public_key(), "your own key".to_owned()));
        let named = recipients
            .iter()
            .map(|recipient| (recipient.public_key(), recipient.describe()));
        sender.policy.check(own.into_iter().chain(named))?;
        if sender.own_copy {
            keys.push(sender.public_key());
        }
    }
    Ok(keys)
}
