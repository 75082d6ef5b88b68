//! The contact store and key-change warnings: every card found for an identity is
//! compared with the cards used for it before ([`virgil_card::Contact::review`]). A new
//! card linked from a known one is accepted and reported once; a card linked from none
//! (a reset, or a directory adding a key) is a [`KeyChange`], refused under the default
//! [`KeyChangePolicy::Block`]. State lives in `contacts.json` beside the key store
//! (atomic replace under a lock), or in memory. docs/key-changes.md has the rules.

use crate::{CardId, Error, Virgil};
use std::fmt;
use std::sync::Mutex;
use virgil_card::{Card, Contact, SafetyNumber};
use virgil_client::PublishedCard;
use virgil_keystore::StateFile;

/// The contact file is refused when larger than this.
pub(crate) const MAX_CONTACT_FILE_LEN: usize = 8 << 20;

/// What a lookup does when an identity's cards changed without a link from any card
/// used for it before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyChangePolicy {
    /// Refuse with [`Error::KeyChanged`] until the user accepts ([`Contacts::accept`]).
    #[default]
    Block,
    /// Use the new cards, pin them, and report a [`ContactEvent::KeyChanged`].
    Warn,
    /// Use the new cards and pin them without an event: for applications that tell
    /// their users about key changes some other way. A verified contact is still
    /// refused until verified again. Not recommended: nobody hears of a swapped key.
    Accept,
}

/// Something the user should hear about, from a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContactEvent {
    /// The first cards seen for an identity, now pinned (trust on first use: compare
    /// safety numbers to be sure).
    FirstContact {
        /// The identity.
        identity: String,
        /// Its cards.
        cards: Vec<CardId>,
    },
    /// A new card linked from one already used: another device, or a new key.
    Linked {
        /// The identity.
        identity: String,
        /// The new card.
        card: CardId,
        /// The card whose key linked it.
        from: CardId,
    },
    /// Cards not linked from any card used before, accepted under
    /// [`KeyChangePolicy::Warn`].
    KeyChanged(KeyChange),
    /// A reset of the identity's cards is pending: when it becomes active, every other
    /// card of the identity is revoked. Until then any of those cards can cancel it. For
    /// the user's own identity this is an alarm: someone with the account password is
    /// replacing their keys.
    ResetPending {
        /// The identity.
        identity: String,
        /// The pending reset card (revoke it to cancel the reset).
        card: CardId,
        /// When it becomes active, seconds since the Unix epoch.
        activates_at: u64,
    },
}

impl ContactEvent {
    /// The [`ContactEvent::ResetPending`] for `found`, if it is a pending reset card
    /// (as [`crate::Cards::pending_resets`] returns them).
    pub fn reset_pending(found: &PublishedCard) -> Option<Self> {
        match found.status {
            crate::CardStatus::Pending { activates_at } => Some(Self::ResetPending {
                identity: found.card.identity().to_owned(),
                card: *found.card.id(),
                activates_at,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for ContactEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FirstContact { identity, cards } => write!(
                f,
                "first contact with {identity}: pinned {} card(s) (compare safety numbers: virgil contact verify {identity})",
                cards.len()
            ),
            Self::Linked {
                identity,
                card,
                from,
            } => write!(
                f,
                "{identity} added a device (card {}), linked from card {}",
                short(card),
                short(from)
            ),
            Self::KeyChanged(change) => write!(f, "WARNING: {change}"),
            Self::ResetPending {
                identity,
                card,
                activates_at,
            } => write!(
                f,
                "WARNING: a reset of {identity}'s cards is pending (card {}): in {} it replaces all of them; if {identity} did not ask for it, any of their devices can cancel it: virgil card revoke {card}",
                short(card),
                time_left(*activates_at, virgil_api::unix_now())
            ),
        }
    }
}

/// A key change: cards of an identity that no card used before links.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyChange {
    /// The identity.
    pub identity: String,
    /// The unlinked cards.
    pub cards: Vec<CardId>,
    /// Whether the identity's owner says it reset (lost every key).
    pub reset: bool,
    /// Whether the contact was verified (safety numbers compared): then it stays
    /// blocked until verified again ([`Contacts::trust`]).
    pub verified: bool,
}

impl fmt::Display for KeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cards: Vec<String> = self.cards.iter().map(short).collect();
        write!(
            f,
            "{}'s keys changed: card(s) {} {}",
            self.identity,
            cards.join(", "),
            if self.reset {
                "are a reset (they say every old key was lost)"
            } else {
                "are not linked from any card you used for them (a reset, or someone adding a key)"
            }
        )?;
        if self.verified {
            write!(
                f,
                "; {} was verified: compare safety numbers again, then `virgil contact trust {}`",
                self.identity, self.identity
            )
        } else {
            write!(
                f,
                "; if {} confirms it, accept with `virgil contact accept {}` or --accept-key-change",
                self.identity, self.identity
            )
        }
    }
}

/// "3 h 20 min", "12 min", "under a minute" until `at`.
fn time_left(at: u64, now: u64) -> String {
    let minutes = at.saturating_sub(now) / 60;
    match (minutes / 60, minutes % 60) {
        (0, 0) => "under a minute".to_owned(),
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn short(id: &CardId) -> String {
    id.to_string().chars().take(12).collect()
}

/// Cards found and reviewed against the contact store, with what to tell the user.
#[derive(Debug)]
#[non_exhaustive]
pub struct Reviewed {
    /// The active, verified cards.
    pub cards: Vec<PublishedCard>,
    /// First contacts, linked devices, pending resets and (under `Warn`) key changes.
    pub events: Vec<ContactEvent>,
}

impl Reviewed {
    /// [`Error::NoCard`] for the first of `identities` without an active card here.
    pub fn check_each(&self, identities: &[&str]) -> Result<(), Error> {
        let cards: Vec<&Card> = self.cards.iter().map(|found| &found.card).collect();
        crate::cards::each_has_a_card(identities, &cards)
    }
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactBook {
    version: u32,
    contacts: Vec<Contact>,
}

impl ContactBook {
    fn entry(&mut self, card: &Card) -> &mut Contact {
        if !self.contacts.iter().any(|c| c.is_for(card)) {
            self.contacts.push(Contact::new(card));
        }
        let position = self.contacts.iter().position(|c| c.is_for(card));
        match position.and_then(|index| self.contacts.get_mut(index)) {
            Some(contact) => contact,
            None => unreachable!("the contact was just added"),
        }
    }
}

/// Where contacts are kept.
pub(crate) enum ContactStore {
    File(StateFile),
    Memory(Mutex<Vec<u8>>),
}

impl ContactStore {
    pub(crate) fn file(path: std::path::PathBuf) -> Self {
        Self::File(StateFile::new(path, MAX_CONTACT_FILE_LEN))
    }

    pub(crate) fn memory() -> Self {
        Self::Memory(Mutex::new(Vec::new()))
    }

    /// Runs `change` on the book and saves it if it returns `true` with `Ok`. Most
    /// lookups change nothing, so the file is first read without its lock (it is only
    /// ever replaced whole, atomically); only a change runs again under the lock, on
    /// what is there then, and writes.
    fn update<T>(
        &self,
        change: impl Fn(&mut ContactBook) -> Result<(bool, T), Error>,
    ) -> Result<T, Error> {
        let decode = |bytes: Option<&[u8]>| -> Result<ContactBook, Error> {
            match bytes {
                None | Some([]) => Ok(ContactBook {
                    version: 1,
                    contacts: Vec::new(),
                }),
                Some(bytes) => {
                    let book: ContactBook = serde_json::from_slice(bytes)
                        .map_err(|error| Error::ContactStore(error.to_string()))?;
                    if book.version != 1 {
                        return Err(Error::ContactStore(format!(
                            "unsupported version {} (made by a newer version?)",
                            book.version
                        )));
                    }
                    Ok(book)
                }
            }
        };
        let encode = |book: &ContactBook| {
            serde_json::to_vec_pretty(book).map_err(|error| Error::ContactStore(error.to_string()))
        };
        match self {
            Self::File(file) => {
                let mut book = decode(file.read()?.as_deref())?;
                let (changed, result) = change(&mut book)?;
                if !changed {
                    return Ok(result);
                }
                file.update(|bytes| {
                    let mut book = decode(bytes)?;
                    let (changed, result) = change(&mut book)?;
                    Ok((changed.then(|| encode(&book)).transpose()?, result))
                })
            }
            Self::Memory(bytes) => {
                let mut bytes = bytes
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let mut book = decode(Some(&bytes))?;
                let (changed, result) = change(&mut book)?;
                if changed {
                    *bytes = encode(&book)?;
                }
                Ok(result)
            }
        }
    }

    /// Reviews `found` (grouped by identity) under `policy`, pinning what is accepted.
    pub(crate) fn review(
        &self,
        found: &[PublishedCard],
        policy: KeyChangePolicy,
    ) -> Result<Vec<ContactEvent>, Error> {
        self.update(|book| {
            let mut events = Vec::new();
            let mut changed = false;
            let mut done: Vec<&Card> = Vec::new();
            for first in found.iter().map(|f| &f.card) {
                if done.iter().any(|seen| Contact::new(seen).is_for(first)) {
                    continue;
                }
                done.push(first);
                let contact = book.entry(first);
                let cards: Vec<Card> = found
                    .iter()
                    .filter(|f| contact.is_for(&f.card))
                    .map(|f| f.card.clone())
                    .collect();
                let identity = contact.identity.clone();
                if contact.cards.is_empty() {
                    events.push(ContactEvent::FirstContact {
                        identity,
                        cards: cards.iter().map(|c| *c.id()).collect(),
                    });
                    contact.pin(&cards);
                    continue;
                }
                let review = contact.review(&cards);
                if let Some(card) = review.revoked.first() {
                    return Err(Error::RevokedCardOffered {
                        identity,
                        card: *card,
                    });
                }
                if review.is_key_change() {
                    let change = KeyChange {
                        identity: identity.clone(),
                        cards: review.unlinked.clone(),
                        reset: !review.reset.is_empty(),
                        verified: contact.verified,
                    };
                    match policy {
                        _ if contact.verified => return Err(Error::KeyChanged(change)),
                        KeyChangePolicy::Block => return Err(Error::KeyChanged(change)),
                        KeyChangePolicy::Warn => events.push(ContactEvent::KeyChanged(change)),
                        KeyChangePolicy::Accept => changed = true,
                    }
                }
                events.extend(review.linked.iter().map(|link| ContactEvent::Linked {
                    identity: identity.clone(),
                    card: link.card,
                    from: link.from,
                }));
                contact.pin(&cards);
            }
            let changed = changed || !events.is_empty();
            Ok((changed, events))
        })
    }

    /// Remembers that `card` was seen revoked, if it is a contact's.
    pub(crate) fn saw_revoked(&self, card: &Card) -> Result<(), Error> {
        self.update(
            |book| match book.contacts.iter_mut().find(|c| c.is_for(card)) {
                Some(contact) if contact.pinned(card.id()).is_none_or(|p| !p.revoked) => {
                    contact.mark_revoked(card);
                    Ok((true, ()))
                }
                _ => Ok((false, ())),
            },
        )
    }

    fn pin_all(&self, cards: &[PublishedCard], verify: bool) -> Result<usize, Error> {
        self.update(|book| {
            let mut pinned = 0;
            for found in cards {
                let contact = book.entry(&found.card);
                if !verify
                    && contact.verified
                    && contact
                        .review(std::slice::from_ref(&found.card))
                        .is_key_change()
                {
                    return Err(Error::KeyChanged(KeyChange {
                        identity: contact.identity.clone(),
                        cards: vec![*found.card.id()],
                        reset: virgil_card::contact::is_reset(&found.card),
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

    /// Accepts `identity`'s current cards after a key change the user confirmed with
    /// them: pins every active card. A verified contact needs [`Contacts::trust`].
    pub fn accept(&self, identity: &str) -> Result<Vec<PublishedCard>, Error> {
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
        let found = self.virgil.cards().find_unreviewed(&[identity])?;
        if found.is_empty() {
            return Err(Error::NoCard {
                identity: identity.to_owned(),
            });
        }
        self.virgil.contacts.pin_all(&found, true)?;
        Ok(found)
    }

    /// The safety number of `mine` and `theirs`: both identities' current active
    /// cards, the same number on both sides' devices.
    pub fn safety_number(&self, mine: &str, theirs: &str) -> Result<SafetyNumber, Error> {
        let cards = |identity: &str| -> Result<Vec<Card>, Error> {
            let found: Vec<Card> = self
                .virgil
                .cards()
                .find_unreviewed(&[identity])?
                .into_iter()
                .map(|found| found.card)
                .collect();
            if found.is_empty() {
                return Err(Error::NoCard {
                    identity: identity.to_owned(),
                });
            }
            Ok(found)
        };
        Ok(virgil_card::safety_number(&cards(mine)?, &cards(theirs)?)?)
    }
}
