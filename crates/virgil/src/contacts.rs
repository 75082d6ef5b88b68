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

use crate::{CardId, Error, Virgil};
use std::fmt;
use std::sync::Mutex;
use virgil_card::contact::{PinnedCards, PinnedState};
use virgil_card::{Card, CardIdentity, CardStatus, Contact, OwnCards, RevocationReason};
use virgil_client::PublishedCard;
use virgil_crypto::KeyId;
use virgil_keystore::StateFile;

/// The contact file is refused when larger than this.
pub(crate) const MAX_CONTACT_FILE_LEN: usize = 8 << 20;

/// What a lookup does when a contact's cards changed without a link from a card used
/// before.
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
    /// A card used for a contact was revoked (or replaced): it is not used again, and
    /// links from a revoked card do not count. Revoked as compromised, whoever stole
    /// its key could read what was sent to it.
    CardRevoked {
        /// The identity.
        identity: String,
        /// The card.
        card: CardId,
        /// Why; `None`: superseded by a newer card of the same owner.
        reason: Option<RevocationReason>,
    },
    /// A contact's reset is pending: when it becomes active, every other card of the
    /// identity is revoked and the reset card will be a key change.
    ResetPending {
        /// The identity.
        identity: String,
        /// The pending reset card.
        card: CardId,
        /// When it becomes active, seconds since the Unix epoch.
        activates_at: u64,
    },
    /// A new card of the user's own, linked from one of the cards this device knows
    /// as its own: another device of theirs. Said once.
    OwnCardLinked {
        /// The new card.
        card: CardId,
        /// The card whose key linked it.
        from: CardId,
    },
    /// A reset this device made is pending: until `activates_at`, the user's other
    /// devices can cancel it.
    OwnResetPending {
        /// The reset card.
        card: CardId,
        /// When it becomes active.
        activates_at: u64,
    },
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
            Self::CardRevoked {
                identity,
                card,
                reason,
            } => match reason {
                None => write!(
                    f,
                    "{identity}'s card {} was replaced by a newer one",
                    short(card)
                ),
                Some(RevocationReason::Compromised) => write!(
                    f,
                    "WARNING: {identity}'s card {} was revoked as COMPROMISED: whoever stole its key may read what was sent to it; it is no longer used",
                    short(card)
                ),
                Some(reason) => write!(
                    f,
                    "{identity}'s card {} was revoked ({}); it is no longer used",
                    short(card),
                    reason_text(*reason)
                ),
            },
            Self::ResetPending {
                identity,
                card,
                activates_at,
            } => write!(
                f,
                "{identity}'s cards are being reset (card {}, in {}): when it becomes active you will be asked to accept their new key",
                short(card),
                time_left(*activates_at, virgil_api::unix_now())
            ),
            Self::OwnCardLinked { card, from } => write!(
                f,
                "a new card of yours, {}, linked from your card {}: if you did not add a device, revoke both (virgil card revoke)",
                short(card),
                short(from)
            ),
            Self::OwnResetPending { card, activates_at } => write!(
                f,
                "your reset (card {}) becomes active in {}; until then your other devices can cancel it",
                short(card),
                time_left(*activates_at, virgil_api::unix_now())
            ),
        }
    }
}

fn reason_text(reason: RevocationReason) -> &'static str {
    match reason {
        RevocationReason::Unspecified => "no reason given",
        RevocationReason::Compromised => "compromised",
        RevocationReason::Reset => "replaced by a reset",
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

/// A card of the user's own identity that nothing this device knows vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForeignCard {
    /// The card.
    pub card: CardId,
    /// When it says it was created, seconds since the Unix epoch.
    pub created_at: u64,
    /// When it becomes active, if it is a pending reset.
    pub pending_until: Option<u64>,
}

/// The self-check's alarm: the user's own identity has cards this device did not make
/// and no card it made links. Someone with the account password, a session, or the
/// application's key added them; or (for a pending reset) is replacing every key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelfCheckAlarm {
    /// The user's identity.
    pub identity: String,
    /// The cards.
    pub cards: Vec<ForeignCard>,
    /// How many cards this device trusts as its own are still active.
    pub own_active: usize,
}

impl fmt::Display for SelfCheckAlarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALARM: {} has {} card(s) that this device's keys did not make and no card of theirs links:",
            self.identity,
            self.cards.len()
        )?;
        for card in &self.cards {
            write!(
                f,
                " card {} (created {}{})",
                card.card,
                format_time(card.created_at),
                match card.pending_until {
                    Some(at) => format!(
                        ", a RESET that replaces all of your cards at {}",
                        format_time(at)
                    ),
                    None => String::new(),
                }
            )?;
        }
        if self.own_active == 0 {
            write!(
                f,
                ". None of the cards this device knows as yours is active any more (revoked by the application, or replaced): tell the operator; once you hold your keys again, reset (`virgil card reset`). Nothing was sent."
            )
        } else {
            let first = self.cards.first().map(|card| card.card.to_string());
            write!(
                f,
                ". If you did not make it, someone has your account password or session (or the application's key): revoke it with one of your keys (`virgil card revoke {}`), then change your password (`virgil passwd`). Nothing was sent.",
                first.unwrap_or_default()
            )
        }
    }
}

/// `YYYY-MM-DD HH:MM UTC`.
fn format_time(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
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
    /// [`Error::NoCard`] for the first of `identities` without an active card here.
    pub fn check_each(&self, identities: &[&str]) -> Result<(), Error> {
        let cards: Vec<&Card> = self.cards.iter().map(|found| &found.card).collect();
        crate::cards::each_has_a_card(identities, &cards)
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

/// The contact file (format.md §13): version 2. Version 1 (hex keys, cards keyed by
/// identity type too) is read and rewritten as version 2 on the next change.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactBook {
    version: u32,
    #[serde(default)]
    own: Vec<OwnCards>,
    contacts: Vec<Contact>,
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

    fn contact(&mut self, owner: &CardIdentity) -> &mut Contact {
        if !self.contacts.iter().any(|c| c.is_of(owner)) {
            self.contacts.push(Contact::for_owner(owner));
        }
        match self.contacts.iter_mut().find(|c| c.is_of(owner)) {
            Some(contact) => contact,
            None => unreachable!("the contact was just added"),
        }
    }

    fn own(&mut self, owner: &CardIdentity) -> &mut OwnCards {
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
    fn update<T>(
        &self,
        change: impl Fn(&mut ContactBook) -> Result<(bool, T), Error>,
    ) -> Result<T, Error> {
        self.update_from(self.read()?, change)
    }

    /// Runs `change` on `book` (read before, without the lock). Most lookups change
    /// nothing, and then that is all; only a change runs again under the lock, on what
    /// is there then, and writes.
    fn update_from<T>(
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

    /// Reviews a lookup under `policy`: the user's own identity against what this
    /// device knows of it (an alarm is an error), every other identity against its
    /// contact (pinning what is accepted).
    pub(crate) fn review(
        &self,
        book: ContactBook,
        lookup: &Lookup<'_>,
        policy: KeyChangePolicy,
    ) -> Result<Reviewed, Error> {
        // What was learned (a revocation, a card recorded) is saved even when the lookup
        // is refused: the refusal is the closure's result, not its failure.
        self.update_from(book, |book| {
            let mut reviewed = Reviewed {
                cards: Vec::new(),
                events: Vec::new(),
                own_checked: false,
            };
            let mut changed = false;
            let mut done: Vec<&str> = Vec::new();
            for identity in lookup.identities {
                if done.contains(identity) {
                    continue;
                }
                done.push(identity);
                let owner = CardIdentity::new(lookup.app_id, identity);
                let found: Vec<&PublishedCard> = lookup
                    .found
                    .iter()
                    .filter(|f| owner.owns(&f.card))
                    .collect();
                let outcome = if lookup.me == Some(&owner) {
                    review_own(book, &owner, &found, lookup, &mut reviewed, &mut changed)
                } else {
                    review_contact(
                        book,
                        &owner,
                        &found,
                        lookup,
                        policy,
                        &mut reviewed,
                        &mut changed,
                    )
                };
                if let Err(refused) = outcome {
                    return Ok((changed, Err(refused)));
                }
            }
            Ok((changed, Ok(reviewed)))
        })?
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

    fn pin_all(&self, cards: &[PublishedCard], verify: bool) -> Result<usize, Error> {
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

/// Records the fetched statuses of `pinned` cards the answer no longer holds; returns
/// what changed.
fn record_statuses(
    pinned: &mut PinnedCards,
    answer: &[&Card],
    statuses: &[PublishedCard],
) -> Result<Vec<(CardId, PinnedState)>, Error> {
    let mut changes = Vec::new();
    for id in pinned.missing_from(answer) {
        if let Some(fetched) = statuses.iter().find(|f| *f.card.id() == id)
            && let Some(state) = pinned.record_status(&id, &fetched.status)?
        {
            changes.push((id, state));
        }
    }
    Ok(changes)
}

/// The user's own identity: trusted cards are used, a pending reset of this device's
/// is announced, and anything else is an alarm. Sets `changed` when the book changed
/// (also before raising the alarm).
fn review_own(
    book: &mut ContactBook,
    owner: &CardIdentity,
    found: &[&PublishedCard],
    lookup: &Lookup<'_>,
    reviewed: &mut Reviewed,
    changed: &mut bool,
) -> Result<(), Error> {
    let own = book.own(owner);
    let answer: Vec<&Card> = found.iter().map(|f| &f.card).collect();
    *changed |= !record_statuses(&mut own.cards, &answer, lookup.statuses)?.is_empty();
    let with_status: Vec<(&Card, &CardStatus)> =
        found.iter().map(|f| (&f.card, &f.status)).collect();
    let review = own.review(&with_status, lookup.local_keys);
    reviewed.own_checked = review.knows;
    if review.is_alarm() {
        return Err(Error::SelfCheck(SelfCheckAlarm {
            identity: owner.identity.clone(),
            cards: found
                .iter()
                .filter(|f| review.foreign.contains(f.card.id()))
                .map(|f| ForeignCard {
                    card: *f.card.id(),
                    created_at: f.card.content().created_at,
                    pending_until: match f.status {
                        CardStatus::Pending { activates_at } => Some(activates_at),
                        _ => None,
                    },
                })
                .collect(),
            own_active: found
                .iter()
                .filter(|f| review.trusted.contains(f.card.id()) && f.status.is_active())
                .count(),
        }));
    }
    reviewed.events.extend(
        review
            .linked
            .iter()
            .map(|link| ContactEvent::OwnCardLinked {
                card: link.card,
                from: link.from,
            }),
    );
    for found in found
        .iter()
        .filter(|f| review.trusted.contains(f.card.id()))
    {
        if own.cards.get(found.card.id()).is_none() {
            own.record(&found.card);
            *changed = true;
        }
        match found.status {
            CardStatus::Active => reviewed.cards.push((*found).clone()),
            CardStatus::Pending { activates_at } => {
                reviewed.events.push(ContactEvent::OwnResetPending {
                    card: *found.card.id(),
                    activates_at,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Another identity: its active cards against its contact. Sets `changed` when the
/// book changed (also before refusing a key change).
fn review_contact(
    book: &mut ContactBook,
    owner: &CardIdentity,
    found: &[&PublishedCard],
    lookup: &Lookup<'_>,
    policy: KeyChangePolicy,
    reviewed: &mut Reviewed,
    changed: &mut bool,
) -> Result<(), Error> {
    let identity = owner.identity.clone();
    let (active, pending): (Vec<&PublishedCard>, Vec<&PublishedCard>) =
        found.iter().partition(|f| f.status.is_active());
    reviewed
        .events
        .extend(pending.iter().filter_map(|f| match f.status {
            CardStatus::Pending { activates_at } => Some(ContactEvent::ResetPending {
                identity: identity.clone(),
                card: *f.card.id(),
                activates_at,
            }),
            _ => None,
        }));
    let known = book.contacts.iter().any(|c| c.is_of(owner));
    if !known && active.is_empty() {
        return Ok(());
    }
    let contact = book.contact(owner);
    let answer: Vec<&Card> = active.iter().map(|f| &f.card).collect();
    let changes = record_statuses(&mut contact.cards, &answer, lookup.statuses)?;
    *changed |= !changes.is_empty();
    reviewed.events.extend(
        changes
            .into_iter()
            .map(|(card, state)| ContactEvent::CardRevoked {
                identity: identity.clone(),
                card,
                reason: match state {
                    PinnedState::Revoked(reason) => Some(reason),
                    _ => None,
                },
            }),
    );
    if active.is_empty() {
        return Ok(());
    }
    let cards: Vec<Card> = active.iter().map(|f| f.card.clone()).collect();
    if contact.cards.0.is_empty() {
        reviewed.events.push(ContactEvent::FirstContact {
            identity,
            cards: cards.iter().map(|c| *c.id()).collect(),
        });
        contact.pin(&cards);
        reviewed.cards.extend(active.into_iter().cloned());
        *changed = true;
        return Ok(());
    }
    let review = contact.review(&answer);
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
            KeyChangePolicy::Warn => reviewed.events.push(ContactEvent::KeyChanged(change)),
            KeyChangePolicy::Accept => {}
        }
        *changed = true;
    }
    reviewed
        .events
        .extend(review.linked.iter().map(|link| ContactEvent::Linked {
            identity: identity.clone(),
            card: link.card,
            from: link.from,
        }));
    *changed |= !review.linked.is_empty();
    contact.pin(&cards);
    reviewed.cards.extend(active.into_iter().cloned());
    Ok(())
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
}
