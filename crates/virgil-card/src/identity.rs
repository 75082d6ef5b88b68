//! Whose card a card is: one definition, used by the link rule, the reset rule, the
//! cards service's lookups and locks, revocations and the clients' contact store alike.
//!
//! A card belongs to a [`CardIdentity`]: its application and its identity (`"bob"`).
//! The identity type (`"user"`) is a label the card carries, not part of whose card it
//! is: every card a lookup by name returns for `"bob"` is one of bob's, whatever its
//! type, and subject to the same rules. (A type that split one name into several owners
//! let a session token add an unlinked card "bob" of another type, which lookups by
//! name returned with bob's: docs/decisions.md, 2026-12-05.)

use crate::Card;
use std::fmt;

/// The owner of a card: (application id, identity).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardIdentity {
    /// The application the card belongs to.
    pub app_id: String,
    /// The identity, e.g. a user name.
    pub identity: String,
}

impl CardIdentity {
    /// `identity` in application `app_id`.
    pub fn new(app_id: &str, identity: &str) -> Self {
        Self {
            app_id: app_id.to_owned(),
            identity: identity.to_owned(),
        }
    }

    /// Whether `card` is one of this identity's.
    pub fn owns(&self, card: &Card) -> bool {
        let content = card.content();
        content.identity == self.identity && content.app_id == self.app_id
    }
}

impl fmt::Display for CardIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (application {})", self.identity, self.app_id)
    }
}

impl Card {
    /// Whose card this is.
    pub fn owner(&self) -> CardIdentity {
        CardIdentity::new(&self.content().app_id, self.identity())
    }

    /// Whether `other` has the same owner ([`CardIdentity`]) as this card.
    pub fn same_owner(&self, other: &Card) -> bool {
        let (a, b) = (self.content(), other.content());
        a.identity == b.identity && a.app_id == b.app_id
    }
}
