//! What a lookup tells the user: contacts' first cards, new devices, revoked cards, key
//! changes and pending resets, the user's own new devices, and the self-check's alarm.

use crate::CardId;
use std::fmt;
use virgil_card::RevocationReason;

/// What a lookup does when a contact's cards changed without a link from a card used
/// before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyChangePolicy {
    /// Refuse with [`crate::Error::KeyChanged`] until the user accepts ([`crate::Contacts::accept`]).
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
    /// blocked until verified again ([`crate::Contacts::trust`]).
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

/// `YYYY-MM-DD HH:MM:SS UTC`.
fn format_time(seconds: u64) -> String {
    virgil_api::format_time(i64::try_from(seconds).unwrap_or(i64::MAX))
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
