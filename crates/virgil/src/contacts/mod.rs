//! The contact store, key-change warnings and the self-check: every card found for an
//! identity is compared with what this device knows, by the card crate's rules
//! (`virgil_card::contact`). For a contact: a card linked from a known one is accepted
//! and reported once; a card linked from none (a reset, or a directory adding a key) is
//! a [`KeyChange`], refused under the default [`KeyChangePolicy::Block`]; a pinned card
//! the directory no longer lists has its status fetched, and a revoked one is reported
//! and vouches for nothing. For the user's own identity: any card that neither this
//! device's keys made nor a link from them vouches for is a [`SelfCheckAlarm`], never
//! accepted. State lives in `contacts.json` beside the key store (atomic replace under
//! a lock), or in memory. docs/key-changes.md has the rules; format.md §13 the file.

mod book;
mod events;
mod review;

pub(crate) use book::{ContactStore, Lookup};
pub use events::{ContactEvent, ForeignCard, KeyChange, KeyChangePolicy, SelfCheckAlarm};

use crate::{Error, Virgil};
use virgil_card::{Card, Contact};
use virgil_client::PublishedCard;

/// Cards found and reviewed against the contact store, with what to tell the user.
#[derive(Debug)]
#[non_exhaustive]
pub struct Reviewed {
    /// The usable cards: active, verified, and accepted (a contact's) or vouched for
    /// (the user's own).
    pub cards: Vec<PublishedCard>,
    /// First contacts, linked devices, revoked cards, pending resets, the user's own
    /// new devices and (under `Warn`) key changes.
    pub events: Vec<ContactEvent>,
    /// Whether the user's own identity was looked up and this device knew enough of it
    /// to check it.
    pub(crate) own_checked: bool,
}

impl Reviewed {
    /// The cards alone, without when each was published: what
    /// [`crate::Key::decrypt_then_verify_any`] takes as senders.
    pub fn into_cards(self) -> Vec<Card> {
        self.cards.into_iter().map(|found| found.card).collect()
    }

    /// [`Error::NoCard`] for the first of `identities` without an active card here.
    pub fn check_each(&self, identities: &[&str]) -> Result<(), Error> {
        let cards: Vec<&Card> = self.cards.iter().map(|found| &found.card).collect();
        each_has_a_card(identities, &cards)
    }
}

/// [`Error::NoCard`] for the first of `identities` without a card in `found`.
pub(crate) fn each_has_a_card<C: std::borrow::Borrow<Card>>(
    identities: &[&str],
    found: &[C],
) -> Result<(), Error> {
    match identities.iter().find(|identity| {
        !found
            .iter()
            .any(|card| card.borrow().identity() == **identity)
    }) {
        Some(missing) => Err(Error::NoCard {
            identity: (*missing).to_owned(),
        }),
        None => Ok(()),
    }
}

/// What the self-check of the user's own identity found ([`Virgil::self_check`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct SelfCheck {
    /// The user's cards this device trusts and that are active.
    pub cards: Vec<PublishedCard>,
    /// New devices of the user's, and a reset of theirs that is pending.
    pub events: Vec<ContactEvent>,
    /// Whether the device could check: it holds a key of one of the identity's cards,
    /// or has published or linked one. A device that knows nothing of its identity
    /// yet (a new one) cannot tell its owner's cards from others.
    pub checked: bool,
}

/// The contact store ([`Virgil::contacts`]).
pub struct Contacts<'a> {
    pub(crate) virgil: &'a Virgil,
}

impl Contacts<'_> {
    /// Every contact, as pinned.
    pub fn list(&self) -> Result<Vec<Contact>, Error> {
        self.virgil
            .contacts
            .update(|book| Ok((false, book.contacts.clone())))
    }

    fn not_me(&self, identity: &str) -> Result<(), Error> {
        if self
            .virgil
            .own_identity()
            .is_some_and(|me| me.identity == identity)
        {
            return Err(Error::OwnIdentity {
                identity: identity.to_owned(),
            });
        }
        Ok(())
    }

    /// Accepts `identity`'s current cards after a key change the user confirmed with
    /// them: pins every active card. A verified contact needs [`Contacts::trust`]. The
    /// user's own identity is refused ([`Error::OwnIdentity`]).
    pub fn accept(&self, identity: &str) -> Result<Vec<PublishedCard>, Error> {
        self.not_me(identity)?;
        let found = self.virgil.cards().find_unreviewed(&[identity])?;
        if found.is_empty() {
            return Err(Error::NoCard {
                identity: identity.to_owned(),
            });
        }
        self.virgil.contacts.pin_all(&found, false)?;
        Ok(found)
    }

    /// Marks `identity` verified after the user compared safety numbers with them
    /// ([`Contacts::safety_number`]): pins its current cards. From then on a key change
    /// of theirs is refused until verified again.
    pub fn trust(&self, identity: &str) -> Result<Vec<PublishedCard>, Error> {
        self.not_me(identity)?;
        let found = self.virgil.cards().find_unreviewed(&[identity])?;
        if found.is_empty() {
            return Err(Error::NoCard {
                identity: identity.to_owned(),
            });
        }
        self.virgil.contacts.pin_all(&found, true)?;
        Ok(found)
    }

    /// The safety number of the logged-in user and `theirs`, the same on both sides'
    /// devices when each holds the other's real keys. This device's half comes from the
    /// cards it knows are its own ([`Virgil::self_check`]: its keys and the cards they
    /// made or linked), never from the directory's word alone: a card swapped for
    /// everyone changes the contact's number but not the victim's, and a card of yours
    /// you did not make is an alarm instead of a number. The other half is their
    /// current active cards.
    pub fn safety_number(&self, theirs: &str) -> Result<virgil_card::SafetyNumber, Error> {
        let ours: Vec<Card> = self
            .virgil
            .self_check()?
            .cards
            .into_iter()
            .map(|found| found.card)
            .collect();
        if ours.is_empty() {
            // Nothing this device knows as its own is active: there is no honest half.
            return Err(Error::NoCard {
                identity: self
                    .virgil
                    .own_identity()
                    .map(|me| me.identity)
                    .unwrap_or_default(),
            });
        }
        let found: Vec<Card> = self
            .virgil
            .cards()
            .find_unreviewed(&[theirs])?
            .into_iter()
            .map(|found| found.card)
            .collect();
        if found.is_empty() {
            return Err(Error::NoCard {
                identity: theirs.to_owned(),
            });
        }
        Ok(virgil_card::safety_number(&ours, &found)?)
    }

    /// The safety number of you and `theirs` with this device's newest key directory
    /// checkpoint, as one QR-ready line ([`virgil_card::VerificationCode::encode`]):
    /// comparing two devices' codes also compares their views of the directory.
    pub fn verification_code(&self, theirs: &str) -> Result<virgil_card::VerificationCode, Error> {
        let number = self.safety_number(theirs)?;
        Ok(virgil_card::VerificationCode {
            number,
            checkpoint: self.virgil.newest_checkpoint()?,
        })
    }
}
