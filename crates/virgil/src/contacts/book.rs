//! The contact file (format.md §13) and where it is kept: `contacts.json` beside the key
//! store (read without a lock, replaced atomically under one) or memory.

use super::KeyChange;
use crate::{CardId, Error};
use std::sync::Mutex;
use virgil_card::contact::{PinnedCards, PinnedState};
use virgil_card::{Card, CardIdentity, CardStatus, Contact, OwnCards, RevocationReason};
use virgil_client::PublishedCard;
use virgil_crypto::KeyId;
use virgil_keystore::StateFile;

/// The contact file is refused when larger than this.
pub(crate) const MAX_CONTACT_FILE_LEN: usize = 8 << 20;

/// The contact file (format.md §13): version 2. Version 1 (hex keys, cards keyed by
/// identity type too) is read and rewritten as version 2 on the next change.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactBook {
    version: u32,
    #[serde(default)]
    own: Vec<OwnCards>,
    pub(super) contacts: Vec<Contact>,
}

const BOOK_VERSION: u32 = 2;

/// Version 1's shapes, read once to convert.
mod v1 {
    #[derive(serde::Deserialize)]
    pub(super) struct Book {
        pub(super) contacts: Vec<Contact>,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Contact {
        pub(super) app_id: String,
        #[allow(dead_code)]
        pub(super) identity_type: String,
        pub(super) identity: String,
        pub(super) cards: Vec<Pinned>,
        #[serde(default)]
        pub(super) verified: bool,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Pinned {
        pub(super) id: virgil_card::CardId,
        pub(super) public_key: String,
        #[serde(default)]
        pub(super) revoked: bool,
    }
}

impl ContactBook {
    fn decode(bytes: Option<&[u8]>) -> Result<Self, Error> {
        let bytes = match bytes {
            None | Some([]) => {
                return Ok(Self {
                    version: BOOK_VERSION,
                    ..Self::default()
                });
            }
            Some(bytes) => bytes,
        };
        let damaged = |error: serde_json::Error| Error::ContactStore(error.to_string());
        #[derive(serde::Deserialize)]
        struct Version {
            version: u32,
        }
        match serde_json::from_slice::<Version>(bytes)
            .map_err(damaged)?
            .version
        {
            BOOK_VERSION => serde_json::from_slice(bytes).map_err(damaged),
            1 => Self::from_v1(serde_json::from_slice(bytes).map_err(damaged)?),
            other => Err(Error::ContactStore(format!(
                "unsupported version {other} (made by a newer version?)"
            ))),
        }
    }

    /// Version 1 keyed contacts by identity type too; a card's owner is now
    /// (application, identity), so entries of one owner merge: the first one (the
    /// oldest) is kept and later ones dropped, so that a card pinned under another type
    /// is reviewed again, as a key change if nothing known links it.
    fn from_v1(old: v1::Book) -> Result<Self, Error> {
        let mut book = Self {
            version: BOOK_VERSION,
            ..Self::default()
        };
        for entry in old.contacts {
            if book
                .contacts
                .iter()
                .any(|c| c.app_id == entry.app_id && c.identity == entry.identity)
            {
                continue;
            }
            let mut cards = Vec::with_capacity(entry.cards.len());
            for pinned in entry.cards {
                let public_key = virgil_crypto::encoding::from_hex(&pinned.public_key)
                    .map_err(|error| Error::ContactStore(error.to_string()))?;
                cards.push(virgil_card::contact::PinnedCard {
                    id: pinned.id,
                    public_key,
                    state: if pinned.revoked {
                        PinnedState::Revoked(RevocationReason::Unspecified)
                    } else {
                        PinnedState::Active
                    },
                });
            }
            book.contacts.push(Contact {
                app_id: entry.app_id,
                identity: entry.identity,
                cards: PinnedCards(cards),
                verified: entry.verified,
            });
        }
        Ok(book)
    }

    /// The pinned (or own) cards of `identities` that were last known active but are
    /// missing from `found`: their status must be fetched before the answer is reviewed.
    pub(crate) fn missing(
        &self,
        app_id: &str,
        identities: &[&str],
        found: &[PublishedCard],
        me: Option<&CardIdentity>,
    ) -> Vec<CardId> {
        let mut missing = Vec::new();
        for identity in identities {
            let owner = CardIdentity::new(app_id, identity);
            let pinned = if me == Some(&owner) {
                self.own.iter().find(|o| o.is_of(&owner)).map(|o| &o.cards)
            } else {
                self.contacts
                    .iter()
                    .find(|c| c.is_of(&owner))
                    .map(|c| &c.cards)
            };
            let Some(pinned) = pinned else {
                continue;
            };
            let answer: Vec<&Card> = found
                .iter()
                .map(|f| &f.card)
                .filter(|card| owner.owns(card))
                .collect();
            for id in pinned.missing_from(&answer) {
                if !missing.contains(&id) {
                    missing.push(id);
                }
            }
        }
        missing
    }

    pub(super) fn contact(&mut self, owner: &CardIdentity) -> &mut Contact {
        if !self.contacts.iter().any(|c| c.is_of(owner)) {
            self.contacts.push(Contact::for_owner(owner));
        }
        match self.contacts.iter_mut().find(|c| c.is_of(owner)) {
            Some(contact) => contact,
            None => unreachable!("the contact was just added"),
        }
    }

    pub(crate) fn own(&mut self, owner: &CardIdentity) -> &mut OwnCards {
        if !self.own.iter().any(|o| o.is_of(owner)) {
            self.own.push(OwnCards::for_owner(owner));
        }
        match self.own.iter_mut().find(|o| o.is_of(owner)) {
            Some(own) => own,
            None => unreachable!("the record was just added"),
        }
    }
}

/// Where contacts are kept.
pub(crate) enum ContactStore {
    File(StateFile),
    Memory(Mutex<Vec<u8>>),
}

/// A lookup to review: who asked for what, and what the directory said.
pub(crate) struct Lookup<'a> {
    /// The application.
    pub(crate) app_id: &'a str,
    /// The identities asked for.
    pub(crate) identities: &'a [&'a str],
    /// The answer: every active and pending card of them, verified.
    pub(crate) found: &'a [PublishedCard],
    /// The user's own identity, if known.
    pub(crate) me: Option<&'a CardIdentity>,
    /// The ids of the keys this device holds.
    pub(crate) local_keys: &'a [KeyId],
    /// The statuses fetched for pinned cards the answer no longer holds.
    pub(crate) statuses: &'a [PublishedCard],
}

impl ContactStore {
    pub(crate) fn file(path: std::path::PathBuf) -> Self {
        Self::File(StateFile::new(path, MAX_CONTACT_FILE_LEN))
    }

    pub(crate) fn memory() -> Self {
        Self::Memory(Mutex::new(Vec::new()))
    }

    /// The book as it is now, read without the lock (the file is only ever replaced
    /// whole, atomically).
    pub(crate) fn read(&self) -> Result<ContactBook, Error> {
        match self {
            Self::File(file) => ContactBook::decode(file.read()?.as_deref()),
            Self::Memory(bytes) => ContactBook::decode(Some(
                &bytes
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            )),
        }
    }

    /// Runs `change` on the book and saves it if it returns `true` with `Ok`.
    pub(super) fn update<T>(
        &self,
        change: impl Fn(&mut ContactBook) -> Result<(bool, T), Error>,
    ) -> Result<T, Error> {
        self.update_from(self.read()?, change)
    }

    /// Runs `change` on `book` (read before, without the lock). Most lookups change
    /// nothing, and then that is all; only a change runs again under the lock, on what
    /// is there then, and writes.
    pub(super) fn update_from<T>(
        &self,
        mut book: ContactBook,
        change: impl Fn(&mut ContactBook) -> Result<(bool, T), Error>,
    ) -> Result<T, Error> {
        let encode = |book: &ContactBook| {
            serde_json::to_vec_pretty(book).map_err(|error| Error::ContactStore(error.to_string()))
        };
        let (changed, result) = change(&mut book)?;
        if !changed {
            return Ok(result);
        }
        match self {
            Self::File(file) => file.update(|bytes| {
                let mut book = ContactBook::decode(bytes)?;
                let (changed, result) = change(&mut book)?;
                Ok((changed.then(|| encode(&book)).transpose()?, result))
            }),
            Self::Memory(bytes) => {
                let mut bytes = bytes
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let mut book = ContactBook::decode(Some(&bytes))?;
                let (changed, result) = change(&mut book)?;
                if changed {
                    *bytes = encode(&book)?;
                }
                Ok(result)
            }
        }
    }

    /// Records `card` as one of the device's own: published from it, or the card it
    /// was linked from.
    pub(crate) fn record_own(&self, card: &Card) -> Result<(), Error> {
        self.update(|book| {
            let own = book.own(&card.owner());
            if own
                .cards
                .get(card.id())
                .is_some_and(|pinned| pinned.state == PinnedState::Active)
            {
                return Ok((false, ()));
            }
            own.record(card);
            Ok((true, ()))
        })
    }

    /// Remembers that `card` was seen revoked, if it is a contact's or the device's own.
    pub(crate) fn saw_revoked(&self, card: &Card, reason: RevocationReason) -> Result<(), Error> {
        self.update(|book| {
            let owner = card.owner();
            let state = PinnedState::Revoked(reason);
            let own = book
                .own
                .iter_mut()
                .filter(|o| o.is_of(&owner))
                .map(|o| &mut o.cards);
            let contact = book
                .contacts
                .iter_mut()
                .filter(|c| c.is_of(&owner))
                .map(|c| &mut c.cards);
            let mut changed = false;
            for pinned in own.chain(contact) {
                if pinned.get(card.id()).is_some_and(|p| p.state != state) {
                    let status = CardStatus::Revoked { reason, at: 0 };
                    changed |= pinned.record_status(card.id(), &status)?.is_some();
                }
            }
            Ok((changed, ()))
        })
    }

    pub(super) fn pin_all(&self, cards: &[PublishedCard], verify: bool) -> Result<usize, Error> {
        self.update(|book| {
            let mut pinned = 0;
            for found in cards {
                let contact = book.contact(&found.card.owner());
                if !verify && contact.verified && contact.review(&[&found.card]).is_key_change() {
                    return Err(Error::KeyChanged(KeyChange {
                        identity: contact.identity.clone(),
                        cards: vec![*found.card.id()],
                        reset: virgil_card::lifecycle::is_reset(&found.card),
                        verified: true,
                    }));
                }
                contact.pin(std::slice::from_ref(&found.card));
                contact.verified |= verify;
                pinned += 1;
            }
            Ok((true, pinned))
        })
    }
}
