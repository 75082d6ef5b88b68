//! What a client remembers of the cards it has used, and how a lookup's answer compares
//! with that memory: for a contact ([`Contact`]) and for the device's own identity
//! ([`OwnCards`]). Both apply the same rule ([`crate::lifecycle::vouched`]): a card is
//! accepted if a card already trusted links it, directly or through a chain.
//!
//! - A [`Contact`] pins the cards (id and public key) a client has verified and used
//!   for one owner ([`CardIdentity`]). [`Contact::review`] sorts the owner's active
//!   cards into *known* (pinned), *linked* (from a pinned card that is still active, or
//!   was superseded) or *unlinked* — a key change the user must hear about. A pinned
//!   card the answer no longer holds has its status fetched and recorded
//!   ([`PinnedCards::record_status`]): a revoked card vouches for nothing and is never
//!   accepted as active again.
//! - [`OwnCards`] is the device's record of its own identity's cards: those its keys
//!   made, those it linked and those it was linked from. [`OwnCards::review`] trusts the
//!   answer's cards whose key is on the device, the recorded ones, and what they link;
//!   any other card of the owner is *foreign*: an alarm, never accepted.
//!
//! The state is small and serializable (`docs/format.md` §13 gives its JSON form);
//! where it is stored is the caller's business (the `virgil` facade keeps it in
//! `contacts.json` beside the key store).
//!
//! ```
//! use virgil_card::{CardRequest, Contact};
//! use virgil_crypto::PrivateKey;
//!
//! let (laptop, phone, stranger) = (PrivateKey::generate()?, PrivateKey::generate()?, PrivateKey::generate()?);
//! let first = CardRequest::new("bob", "chat").sign(&laptop)?;
//! let mut contact = Contact::new(&first);
//! contact.pin(std::slice::from_ref(&first));
//!
//! let mut second = CardRequest::new("bob", "chat").sign(&phone)?;
//! second.link_from(&first, &laptop)?;
//! let review = contact.review(&[&first, &second]);
//! assert_eq!(review.linked.len(), 1);            // "bob added a device, linked from …"
//! assert!(!review.is_key_change());
//!
//! let unlinked = CardRequest::new("bob", "chat").sign(&stranger)?;
//! assert!(contact.review(&[&first, &unlinked]).is_key_change());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::lifecycle::{LinkedCard, is_reset, vouched};
use crate::{Card, CardId, CardIdentity, CardStatus, RevocationReason};
use serde::{Deserialize, Serialize};
use virgil_crypto::encoding::{from_base64, to_base64};
use virgil_crypto::{KeyId, PQ_PUBLIC_KEY_LEN, PUBLIC_KEY_LEN, PublicKey, Suite};

/// At most this many cards are remembered per contact (the oldest revoked ones are
/// forgotten first, then the oldest others), so a contact file stays small whatever a
/// directory answers.
pub const MAX_PINNED_CARDS: usize = 64;

/// What a client knows of a pinned card's status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PinnedState {
    /// Active when last seen.
    #[default]
    Active,
    /// Replaced by a card linked from an active card of the owner: links it made count.
    Superseded,
    /// Revoked (for `reason`): never accepted as active again, and links from it do not
    /// count.
    Revoked(RevocationReason),
}

/// A card a client trusts (a contact's, or its own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PinnedCardJson", into = "PinnedCardJson")]
pub struct PinnedCard {
    /// The card's id.
    pub id: CardId,
    /// Its public key's encoding (format.md §2), so a later card linked from it can be
    /// checked without it. Decoded only when a link from it is checked: reading the
    /// contact file costs no key decoding, however many contacts it holds.
    pub public_key: Vec<u8>,
    /// What the client knows of its status.
    pub state: PinnedState,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedCardJson {
    id: CardId,
    public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
}

impl TryFrom<PinnedCardJson> for PinnedCard {
    type Error = String;
    fn try_from(json: PinnedCardJson) -> Result<Self, String> {
        let bytes = from_base64(&json.public_key).map_err(|error| error.to_string())?;
        if !Suite::ALL
            .iter()
            .any(|suite| suite.public_key_len() == bytes.len())
        {
            return Err(format!(
                "a public key is {PUBLIC_KEY_LEN} or {PQ_PUBLIC_KEY_LEN} bytes"
            ));
        }
        let state = match json.state.as_deref() {
            None => PinnedState::Active,
            Some("superseded") => PinnedState::Superseded,
            Some("revoked") => PinnedState::Revoked(RevocationReason::Unspecified),
            Some("compromised") => PinnedState::Revoked(RevocationReason::Compromised),
            Some("reset") => PinnedState::Revoked(RevocationReason::Reset),
            Some(other) => return Err(format!("unknown card state {other:?}")),
        };
        Ok(Self {
            id: json.id,
            public_key: bytes,
            state,
        })
    }
}

impl From<PinnedCard> for PinnedCardJson {
    fn from(card: PinnedCard) -> Self {
        let state = match card.state {
            PinnedState::Active => None,
            PinnedState::Superseded => Some("superseded"),
            PinnedState::Revoked(RevocationReason::Unspecified) => Some("revoked"),
            PinnedState::Revoked(RevocationReason::Compromised) => Some("compromised"),
            PinnedState::Revoked(RevocationReason::Reset) => Some("reset"),
        };
        Self {
            id: card.id,
            public_key: to_base64(&card.public_key),
            state: state.map(str::to_owned),
        }
    }
}

impl PinnedCard {
    fn of(card: &Card, state: PinnedState) -> Self {
        Self {
            id: *card.id(),
            public_key: card.public_key().as_bytes().to_vec(),
            state,
        }
    }

    fn is_revoked(&self) -> bool {
        matches!(self.state, PinnedState::Revoked(_))
    }

    /// Its key, if links from it may count (not revoked).
    fn key_if_vouching(&self) -> Option<PublicKey> {
        (!self.is_revoked())
            .then(|| PublicKey::from_bytes(&self.public_key).ok())
            .flatten()
    }
}

/// A pinned card's status, learned because a complete answer no longer held it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusConflict {
    /// The directory said the card is active (or pending) by id, but left it out of a
    /// signed, complete answer for its owner: it hides cards.
    #[error(
        "the cards service left card {0} out of a complete answer for its identity, but says by id that it is still active: the directory is inconsistent; nothing was used"
    )]
    Hidden(CardId),
}

/// Cards a client trusts for one owner, and what it knows of their status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PinnedCards(pub Vec<PinnedCard>);

impl PinnedCards {
    /// The pinned cards, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &PinnedCard> {
        self.0.iter()
    }

    /// The pinned card with this id.
    pub fn get(&self, id: &CardId) -> Option<&PinnedCard> {
        self.0.iter().find(|pinned| pinned.id == *id)
    }

    /// Pinned cards last known active that `answer` (a complete answer of the owner's
    /// active and pending cards) does not hold: their status must be fetched and
    /// recorded ([`PinnedCards::record_status`]) before the answer is reviewed.
    pub fn missing_from(&self, answer: &[&Card]) -> Vec<CardId> {
        self.0
            .iter()
            .filter(|pinned| pinned.state == PinnedState::Active)
            .filter(|pinned| !answer.iter().any(|card| *card.id() == pinned.id))
            .map(|pinned| pinned.id)
            .collect()
    }

    /// Records what the directory says of pinned card `id`, which a complete answer no
    /// longer holds: superseded or revoked. Returns the new state if it changed.
    pub fn record_status(
        &mut self,
        id: &CardId,
        status: &CardStatus,
    ) -> Result<Option<PinnedState>, StatusConflict> {
        let state = match status {
            CardStatus::Superseded { .. } => PinnedState::Superseded,
            CardStatus::Revoked { reason, .. } => PinnedState::Revoked(*reason),
            CardStatus::Active | CardStatus::Pending { .. } => {
                return Err(StatusConflict::Hidden(*id));
            }
        };
        Ok(self.set_state(id, state))
    }

    fn set_state(&mut self, id: &CardId, state: PinnedState) -> Option<PinnedState> {
        let pinned = self.0.iter_mut().find(|pinned| pinned.id == *id)?;
        // Revoked is final; superseded can still become revoked.
        if pinned.state == state || pinned.is_revoked() {
            return None;
        }
        pinned.state = state;
        Some(state)
    }

    /// Pins `card` (a no-op if it is pinned already).
    fn pin(&mut self, card: &Card) {
        if self.get(card.id()).is_none() {
            self.0.push(PinnedCard::of(card, PinnedState::Active));
        }
        self.forget_oldest();
    }

    /// Remembers that `card` was seen revoked (pinning it as revoked if unknown, so it
    /// is refused if offered later).
    fn mark_revoked(&mut self, card: &Card, reason: RevocationReason) {
        if self.get(card.id()).is_none() {
            self.0
                .push(PinnedCard::of(card, PinnedState::Revoked(reason)));
        } else {
            self.set_state(card.id(), PinnedState::Revoked(reason));
        }
        self.forget_oldest();
    }

    fn forget_oldest(&mut self) {
        while self.0.len() > MAX_PINNED_CARDS {
            let index = self.0.iter().position(PinnedCard::is_revoked).unwrap_or(0);
            self.0.remove(index);
        }
    }

    /// The key of pinned card `id` if links from it count: it is active and in the
    /// `answer`, or superseded. A revoked card vouches for nothing, and a card last
    /// known active but missing from the answer is not trusted until its status is known.
    fn anchor(&self, id: &CardId, answer: &[&Card]) -> Option<PublicKey> {
        let pinned = self.get(id)?;
        match pinned.state {
            PinnedState::Superseded => pinned.key_if_vouching(),
            PinnedState::Active if answer.iter().any(|card| card.id() == id) => {
                pinned.key_if_vouching()
            }
            _ => None,
        }
    }
}

/// What a client remembers of one contact: the cards used for them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// The application id.
    pub app_id: String,
    /// The identity, e.g. `bob`.
    pub identity: String,
    /// The cards used for them, oldest first.
    pub cards: PinnedCards,
    /// Whether the user compared safety numbers and marked the contact verified. A
    /// verified contact's unlinked key change is refused under every policy until the
    /// user verifies again.
    #[serde(default)]
    pub verified: bool,
}

/// How an owner's active cards compare with what a [`Contact`] remembers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Review {
    /// Cards already pinned.
    pub known: Vec<CardId>,
    /// New cards linked from a pinned card (another device, or a rotation).
    pub linked: Vec<LinkedCard>,
    /// New cards not linked from any pinned card that may vouch: a key change.
    pub unlinked: Vec<CardId>,
    /// Of the unlinked cards, those that say they are reset cards.
    pub reset: Vec<CardId>,
    /// Cards the client has seen revoked, offered as active again: always refused.
    pub revoked: Vec<CardId>,
}

impl Review {
    /// Whether the set holds a card the user must hear about before it is used: one
    /// not linked from any card they already know.
    pub fn is_key_change(&self) -> bool {
        !self.unlinked.is_empty()
    }
}

impl Contact {
    /// An empty contact for `card`'s owner (nothing pinned yet).
    pub fn new(card: &Card) -> Self {
        Self::for_owner(&card.owner())
    }

    /// An empty contact for `owner`.
    pub fn for_owner(owner: &CardIdentity) -> Self {
        Self {
            app_id: owner.app_id.clone(),
            identity: owner.identity.clone(),
            cards: PinnedCards::default(),
            verified: false,
        }
    }

    /// Whose cards these are.
    pub fn owner(&self) -> CardIdentity {
        CardIdentity::new(&self.app_id, &self.identity)
    }

    /// Whether this is the contact of `owner`.
    pub fn is_of(&self, owner: &CardIdentity) -> bool {
        self.app_id == owner.app_id && self.identity == owner.identity
    }

    /// Whether `card` is of this contact's owner.
    pub fn is_for(&self, card: &Card) -> bool {
        let content = card.content();
        content.identity == self.identity && content.app_id == self.app_id
    }

    /// The pinned card with this id.
    pub fn pinned(&self, id: &CardId) -> Option<&PinnedCard> {
        self.cards.get(id)
    }

    /// Compares `answer` (the owner's active cards, verified against the pinned
    /// application and service keys, after [`PinnedCards::missing_from`] were recorded)
    /// with what is pinned. Cards of another owner are reported unlinked.
    pub fn review(&self, answer: &[&Card]) -> Review {
        let mut review = Review::default();
        let mut candidates: Vec<&Card> = Vec::new();
        for card in answer {
            match self.pinned(card.id()) {
                Some(pinned) if pinned.is_revoked() => review.revoked.push(*card.id()),
                Some(_) if self.is_for(card) => review.known.push(*card.id()),
                _ if self.is_for(card) => candidates.push(card),
                _ => review.unlinked.push(*card.id()),
            }
        }
        review.linked = vouched(&candidates, |id| self.cards.anchor(id, answer));
        for card in candidates {
            if !review.linked.iter().any(|linked| linked.card == *card.id()) {
                review.unlinked.push(*card.id());
                if is_reset(card) {
                    review.reset.push(*card.id());
                }
            }
        }
        review
    }

    /// Pins `cards` of this owner (others are ignored): after a first contact, a
    /// linked change, or a key change the user accepted.
    pub fn pin(&mut self, cards: &[Card]) {
        let owner = self.owner();
        for card in cards.iter().filter(|card| owner.owns(card)) {
            self.cards.pin(card);
        }
    }

    /// Remembers that `card` was seen revoked for `reason`.
    pub fn mark_revoked(&mut self, card: &Card, reason: RevocationReason) {
        if self.is_for(card) {
            self.cards.mark_revoked(card, reason);
        }
    }
}

/// A device's record of its own identity's cards: the cards its keys made (published
/// from it), the cards it linked, and the cards it was linked from. Kept beside the
/// contacts; the device's own half of a safety number and its self-check come from it
/// and from the keys it holds, never from the directory's word alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnCards {
    /// The application id.
    pub app_id: String,
    /// The identity.
    pub identity: String,
    /// The cards, oldest first.
    pub cards: PinnedCards,
}

/// How the owner's cards in a lookup compare with what the device knows of its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnReview {
    /// Cards the device trusts: made by its keys, recorded, or linked from those.
    pub trusted: Vec<CardId>,
    /// Of the trusted cards, those newly vouched by a link (not recorded before).
    pub linked: Vec<LinkedCard>,
    /// Cards nothing the device knows vouches for: an alarm.
    pub foreign: Vec<CardId>,
    /// Cards that a reset *this device* made replaces (the keys it declared lost):
    /// neither trusted nor an alarm.
    pub replaced: Vec<CardId>,
    /// Whether the device knows anything of its identity (a recorded card, or a card of
    /// the answer whose key it holds). A device that knows nothing cannot check: its
    /// review has no foreign cards.
    pub knows: bool,
}

impl OwnReview {
    /// Whether the owner must be alarmed.
    pub fn is_alarm(&self) -> bool {
        !self.foreign.is_empty()
    }
}

impl OwnCards {
    /// An empty record for `owner`.
    pub fn for_owner(owner: &CardIdentity) -> Self {
        Self {
            app_id: owner.app_id.clone(),
            identity: owner.identity.clone(),
            cards: PinnedCards::default(),
        }
    }

    /// Whose cards these are.
    pub fn owner(&self) -> CardIdentity {
        CardIdentity::new(&self.app_id, &self.identity)
    }

    /// Whether this is the record of `owner`'s cards.
    pub fn is_of(&self, owner: &CardIdentity) -> bool {
        self.app_id == owner.app_id && self.identity == owner.identity
    }

    /// Records `card` as one of the device's own (published from it, linked by it, or
    /// the card it was linked from). Cards of another owner are ignored.
    pub fn record(&mut self, card: &Card) {
        if self.owner().owns(card) {
            self.cards.pin(card);
        }
    }

    /// Compares `answer` (the owner's active and pending cards with their statuses,
    /// verified, after [`PinnedCards::missing_from`] were recorded) with what the device
    /// knows: `local_keys` are the ids of the keys it holds.
    pub fn review(&self, answer: &[(&Card, &CardStatus)], local_keys: &[KeyId]) -> OwnReview {
        let statuses = answer;
        let answer: Vec<&Card> = statuses.iter().map(|(card, _)| *card).collect();
        let answer = answer.as_slice();
        let owner = self.owner();
        let mut review = OwnReview::default();
        let mut candidates: Vec<&Card> = Vec::new();
        for card in answer.iter().filter(|card| owner.owns(card)) {
            let holds_key = local_keys.contains(card.public_key().key_id());
            let recorded = self
                .cards
                .get(card.id())
                .is_some_and(|pinned| !pinned.is_revoked());
            if holds_key || recorded {
                review.trusted.push(*card.id());
            } else {
                candidates.push(card);
            }
        }
        review.knows = !review.trusted.is_empty() || !self.cards.0.is_empty();
        let trusted_now: Vec<&Card> = answer
            .iter()
            .copied()
            .filter(|card| review.trusted.contains(card.id()))
            .collect();
        review.linked = vouched(&candidates, |id| {
            trusted_now
                .iter()
                .find(|card| card.id() == id)
                .map(|card| card.public_key().clone())
                .or_else(|| self.cards.anchor(id, answer))
        });
        review
            .trusted
            .extend(review.linked.iter().map(|linked| linked.card));
        // A reset this device made, still pending: the other cards are the keys it
        // declared lost.
        let resetting = statuses.iter().any(|(card, status)| {
            review.trusted.contains(card.id())
                && is_reset(card)
                && matches!(status, CardStatus::Pending { .. })
        });
        for card in candidates {
            if review.trusted.contains(card.id()) {
                continue;
            }
            if resetting {
                review.replaced.push(*card.id());
            } else if review.knows {
                review.foreign.push(*card.id());
            }
        }
        review
    }
}

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)]
mod tests {
    use super::*;
    use crate::lifecycle::RESET_DATA_KEY;
    use crate::testing::{card, keys};
    use crate::{CardRequest, Signer};

    const ACTIVE: CardStatus = CardStatus::Active;

    #[test]
    fn a_chain_of_links_from_a_pinned_card_is_accepted_and_anything_else_is_a_key_change() {
        let [a, b, c, x] = keys();
        let first = card("bob", &a);
        let mut contact = Contact::new(&first);
        contact.pin(std::slice::from_ref(&first));
        let mut second = card("bob", &b);
        second.link_from(&first, &a).expect("link");
        let mut third = card("bob", &c);
        third.link_from(&second, &b).expect("link");
        // The chain is found whatever the order of the answer.
        let review = contact.review(&[&third, &second, &first]);
        assert_eq!(review.linked.len(), 2);
        assert!(review.unlinked.is_empty());
        // A link signature by a key that is not pinned does not count.
        let mut forged = card("bob", &x);
        forged.sign_as(Signer::Link(*first.id()), &x).expect("sign");
        let review = contact.review(&[&first, &forged]);
        assert_eq!(review.unlinked, vec![*forged.id()]);
        assert!(review.is_key_change());
        // A card of another identity linked by a pinned key is not bob's.
        let mut other = card("mallory", &b);
        other.sign_as(Signer::Link(*first.id()), &a).expect("sign");
        assert!(contact.review(&[&first, &other]).is_key_change());
    }

    #[test]
    fn a_card_of_another_identity_type_is_the_same_owners_and_needs_a_link() {
        let [a, x] = keys();
        let first = card("bob", &a);
        let mut contact = Contact::new(&first);
        contact.pin(std::slice::from_ref(&first));
        let other_type = CardRequest::new("bob", "chat")
            .identity_type("other")
            .sign(&x)
            .expect("card");
        assert!(contact.is_for(&other_type));
        let review = contact.review(&[&first, &other_type]);
        assert_eq!(review.unlinked, vec![*other_type.id()]);
    }

    #[test]
    fn a_revoked_card_is_refused_and_vouches_for_nothing() {
        let [a, b] = keys();
        let first = card("bob", &a);
        let mut contact = Contact::new(&first);
        contact.pin(std::slice::from_ref(&first));
        let mut second = card("bob", &b);
        second.link_from(&first, &a).expect("link");
        // Learned from a fetch: the pinned card is revoked (compromised).
        assert_eq!(contact.cards.missing_from(&[&second]), vec![*first.id()]);
        let status = CardStatus::Revoked {
            reason: RevocationReason::Compromised,
            at: 1,
        };
        assert_eq!(
            contact.cards.record_status(first.id(), &status),
            Ok(Some(PinnedState::Revoked(RevocationReason::Compromised)))
        );
        let review = contact.review(&[&second]);
        assert_eq!(review.unlinked, vec![*second.id()]);
        assert!(contact.cards.missing_from(&[&second]).is_empty());
        // Offered as active again: refused.
        assert_eq!(contact.review(&[&first]).revoked, vec![*first.id()]);
    }

    #[test]
    fn a_pinned_card_missing_from_the_answer_vouches_only_once_known_superseded() {
        let [a, b] = keys();
        let first = card("bob", &a);
        let mut contact = Contact::new(&first);
        contact.pin(std::slice::from_ref(&first));
        let mut rotated = card("bob", &b);
        rotated.link_from(&first, &a).expect("link");
        // Missing, status not yet known: not trusted.
        assert!(contact.review(&[&rotated]).is_key_change());
        let status = CardStatus::Superseded { by: *rotated.id() };
        contact
            .cards
            .record_status(first.id(), &status)
            .expect("recorded");
        assert_eq!(contact.review(&[&rotated]).linked.len(), 1);
        // A directory that says by id that a card it left out is active hides cards.
        let mut hiding = Contact::new(&first);
        hiding.pin(std::slice::from_ref(&first));
        assert_eq!(
            hiding.cards.record_status(first.id(), &CardStatus::Active),
            Err(StatusConflict::Hidden(*first.id()))
        );
    }

    #[test]
    fn a_reset_card_is_reported_as_one() {
        let [a, b] = keys();
        let first = card("bob", &a);
        let mut contact = Contact::new(&first);
        contact.pin(std::slice::from_ref(&first));
        let reset = CardRequest::new("bob", "chat")
            .data(RESET_DATA_KEY, "1")
            .sign(&b)
            .expect("card");
        let review = contact.review(&[&reset]);
        assert_eq!(review.reset, vec![*reset.id()]);
    }

    #[test]
    fn the_pinned_state_round_trips_through_json_and_stays_bounded() {
        let [a, b] = keys();
        let first = card("bob", &a);
        let mut contact = Contact::new(&first);
        contact.pin(&[first.clone(), card("bob", &b)]);
        contact.mark_revoked(&first, RevocationReason::Compromised);
        let json = serde_json::to_string(&contact).expect("json");
        assert!(json.contains("\"state\":\"compromised\""), "{json}");
        let back: Contact = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, contact);
        assert!(
            serde_json::from_str::<Contact>(
                &json.replace("\"public_key\":\"", "\"public_key\":\"AAAA")
            )
            .is_err()
        );
        // However many cards a directory shows, at most MAX_PINNED_CARDS are kept, the
        // revoked ones forgotten first.
        for _ in 0..MAX_PINNED_CARDS + 5 {
            let [k] = keys();
            contact.pin(&[card("bob", &k)]);
        }
        assert_eq!(contact.cards.0.len(), MAX_PINNED_CARDS);
        assert!(contact.pinned(first.id()).is_none());
    }

    #[test]
    fn a_device_trusts_its_own_keys_cards_and_their_links_and_alarms_on_any_other() {
        let [laptop, phone, thief] = keys();
        let mine = card("bob", &laptop);
        let mut own = OwnCards::for_owner(&mine.owner());
        let local = [*laptop.key_id()];
        // Nothing recorded, the key on the device: trusted.
        let review = own.review(&[(&mine, &ACTIVE)], &local);
        assert_eq!(review.trusted, vec![*mine.id()]);
        assert!(!review.is_alarm());
        own.record(&mine);
        // A device linked from the laptop's card: trusted, said once.
        let mut second = card("bob", &phone);
        second.link_from(&mine, &laptop).expect("link");
        let review = own.review(&[(&mine, &ACTIVE), (&second, &ACTIVE)], &local);
        assert_eq!(review.linked.len(), 1);
        assert!(!review.is_alarm());
        // A card nothing of the device's vouches for: an alarm, even if a contact's
        // client would accept it, and even with every own card revoked.
        let swapped = card("bob", &thief);
        assert_eq!(
            own.review(&[(&mine, &ACTIVE), (&swapped, &ACTIVE)], &local)
                .foreign,
            vec![*swapped.id()]
        );
        let revoked = CardStatus::Revoked {
            reason: RevocationReason::Unspecified,
            at: 1,
        };
        own.cards.record_status(mine.id(), &revoked).expect("known");
        assert_eq!(
            own.review(&[(&swapped, &ACTIVE)], &[]).foreign,
            vec![*swapped.id()]
        );
        // A device that knows nothing of its identity cannot check, and says nothing.
        let fresh = OwnCards::for_owner(&mine.owner());
        let review = fresh.review(&[(&swapped, &ACTIVE)], &[]);
        assert!(!review.knows && !review.is_alarm());
    }

    #[test]
    fn a_device_that_resets_does_not_alarm_on_the_cards_it_replaces() {
        let [old, new, thief] = keys();
        let lost = card("bob", &old);
        let reset = CardRequest::new("bob", "chat")
            .data(RESET_DATA_KEY, "1")
            .sign(&new)
            .expect("card");
        let own = OwnCards::for_owner(&lost.owner());
        let pending = CardStatus::Pending { activates_at: 9 };
        let review = own.review(&[(&lost, &ACTIVE), (&reset, &pending)], &[*new.key_id()]);
        assert_eq!(review.trusted, vec![*reset.id()]);
        assert_eq!(review.replaced, vec![*lost.id()]);
        assert!(!review.is_alarm());
        // Once active, the reset card is an ordinary card: a later card nothing vouches
        // for is an alarm again.
        let mut after = OwnCards::for_owner(&lost.owner());
        after.record(&reset);
        let intruder = card("bob", &thief);
        assert_eq!(
            after
                .review(&[(&reset, &ACTIVE), (&intruder, &ACTIVE)], &[*new.key_id()])
                .foreign,
            vec![*intruder.id()]
        );
        // The old device sees the reset it did not make: an alarm.
        let mut old_device = OwnCards::for_owner(&lost.owner());
        old_device.record(&lost);
        assert_eq!(
            old_device
                .review(&[(&lost, &ACTIVE), (&reset, &pending)], &[*old.key_id()])
                .foreign,
            vec![*reset.id()]
        );
    }
}
