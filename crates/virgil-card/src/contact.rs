//! Contacts: what a client remembers of the cards it has used for an identity, how a
//! new set of cards compares with that memory, and safety numbers.
//!
//! A [`Contact`] pins the cards (id and public key) a client has verified and used for
//! one identity. When a lookup returns the identity's active cards again,
//! [`Contact::review`] sorts each card into *known* (pinned), *linked* (carries a link
//! signature, format.md §7, that verifies against a pinned card's key, directly or
//! through other linked cards of the same answer) or *unlinked* — a key change the
//! user must hear about: a reset, or a directory that skipped the link rule. A card the
//! client has seen revoked is never accepted as active again.
//!
//! The pinned state is small and serializable (`docs/format.md` §13 gives its JSON
//! form); where it is stored is the caller's business (the `virgil` facade keeps it in
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
//! let review = contact.review(&[first.clone(), second.clone()]);
//! assert_eq!(review.linked.len(), 1);            // "bob added a device, linked from …"
//! assert!(!review.is_key_change());
//!
//! let unlinked = CardRequest::new("bob", "chat").sign(&stranger)?;
//! assert!(contact.review(&[first, unlinked]).is_key_change());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::{Card, CardError, CardId, Signer};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha512};
use std::fmt;
use virgil_crypto::encoding::{from_hex, to_hex};
use virgil_crypto::{PQ_PUBLIC_KEY_LEN, PUBLIC_KEY_LEN, PublicKey, Suite};

/// The data entry that marks a reset card: the one card an identity may get without a
/// link, after its owner lost every key (format.md §3). The `virgil.` prefix of data
/// keys is reserved for such markers.
pub const RESET_DATA_KEY: &str = "virgil.reset";

/// Whether `card` says, in its signed content, that it is a reset card.
pub fn is_reset(card: &Card) -> bool {
    card.content()
        .data
        .get(RESET_DATA_KEY)
        .is_some_and(|value| value == "1")
}

/// At most this many cards are remembered per contact (the oldest revoked ones are
/// forgotten first, then the oldest others), so a contact file stays small whatever a
/// directory answers.
pub const MAX_PINNED_CARDS: usize = 64;

/// A card a contact is known by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PinnedCardJson", into = "PinnedCardJson")]
pub struct PinnedCard {
    /// The card's id.
    pub id: CardId,
    /// Its public key's encoding (format.md §2), so a later card linked from it can be
    /// checked without it. Decoded only when a link from it is checked: reading the
    /// contact file costs no key decoding, however many contacts it holds.
    pub public_key: Vec<u8>,
    /// Whether the client has seen it revoked (then it is never accepted as active,
    /// and links from it do not count).
    pub revoked: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedCardJson {
    id: CardId,
    public_key: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    revoked: bool,
}

impl TryFrom<PinnedCardJson> for PinnedCard {
    type Error = String;
    fn try_from(json: PinnedCardJson) -> Result<Self, String> {
        let bytes = from_hex(&json.public_key).map_err(|error| error.to_string())?;
        if !Suite::ALL
            .iter()
            .any(|suite| suite.public_key_len() == bytes.len())
        {
            return Err(format!(
                "a public key is {PUBLIC_KEY_LEN} or {PQ_PUBLIC_KEY_LEN} bytes"
            ));
        }
        Ok(Self {
            id: json.id,
            public_key: bytes,
            revoked: json.revoked,
        })
    }
}

impl From<PinnedCard> for PinnedCardJson {
    fn from(card: PinnedCard) -> Self {
        Self {
            id: card.id,
            public_key: to_hex(&card.public_key),
            revoked: card.revoked,
        }
    }
}

/// What a client remembers of one identity (application, identity type, identity).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// The application id.
    pub app_id: String,
    /// The identity type, e.g. `user`.
    pub identity_type: String,
    /// The identity, e.g. `bob`.
    pub identity: String,
    /// The cards used for it, oldest first.
    pub cards: Vec<PinnedCard>,
    /// Whether the user compared safety numbers and marked the contact verified. A
    /// verified contact's unlinked key change is refused under every policy until the
    /// user verifies again.
    #[serde(default)]
    pub verified: bool,
}

/// A new card linked from a card the contact is known by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkedCard {
    /// The new card.
    pub card: CardId,
    /// The pinned (or, through a chain, already linked) card whose key signed the link.
    pub from: CardId,
}

/// How a set of active cards compares with what a [`Contact`] remembers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Review {
    /// Cards already pinned.
    pub known: Vec<CardId>,
    /// New cards linked from a pinned card (another device, or a rotation).
    pub linked: Vec<LinkedCard>,
    /// New cards not linked from any pinned card: a key change.
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
    /// An empty contact for `card`'s identity (nothing pinned yet).
    pub fn new(card: &Card) -> Self {
        let content = card.content();
        Self {
            app_id: content.app_id.clone(),
            identity_type: content.identity_type.clone(),
            identity: content.identity.clone(),
            cards: Vec::new(),
            verified: false,
        }
    }

    /// Whether `card` is of this contact's identity.
    pub fn is_for(&self, card: &Card) -> bool {
        let content = card.content();
        content.identity == self.identity
            && content.identity_type == self.identity_type
            && content.app_id == self.app_id
    }

    /// The pinned card with this id.
    pub fn pinned(&self, id: &CardId) -> Option<&PinnedCard> {
        self.cards.iter().find(|pinned| pinned.id == *id)
    }

    /// Compares `cards` (the identity's active cards, already verified against the
    /// pinned application and service keys) with what is pinned. Cards of another
    /// identity are reported unlinked.
    pub fn review(&self, cards: &[Card]) -> Review {
        let mut review = Review::default();
        // Keys links may be checked against: pinned cards not seen revoked, then every
        // card found linked in this answer (a chain of devices added since). A pinned
        // key is decoded only when a card claims a link from it.
        let mut linked_now: Vec<(CardId, PublicKey)> = Vec::new();
        let mut pending: Vec<&Card> = Vec::new();
        for card in cards {
            match self.pinned(card.id()) {
                Some(pinned) if pinned.revoked => review.revoked.push(*card.id()),
                Some(_) if self.is_for(card) => review.known.push(*card.id()),
                _ => pending.push(card),
            }
        }
        loop {
            let before = pending.len();
            pending.retain(|card| {
                let from = self
                    .is_for(card)
                    .then(|| {
                        card.links().find(|link| {
                            let key = match self.pinned(link) {
                                Some(pinned) if !pinned.revoked => {
                                    PublicKey::from_bytes(&pinned.public_key).ok()
                                }
                                Some(_) => None,
                                None => linked_now
                                    .iter()
                                    .find(|(id, _)| id == *link)
                                    .map(|(_, key)| key.clone()),
                            };
                            *link != card.id()
                                && key.is_some_and(|key| {
                                    card.is_signed_by(&Signer::Link(**link), &key)
                                })
                        })
                    })
                    .flatten()
                    .copied();
                match from {
                    Some(from) => {
                        review.linked.push(LinkedCard {
                            card: *card.id(),
                            from,
                        });
                        linked_now.push((*card.id(), card.public_key().clone()));
                        false
                    }
                    None => true,
                }
            });
            if pending.len() == before {
                break;
            }
        }
        for card in pending {
            review.unlinked.push(*card.id());
            if is_reset(card) {
                review.reset.push(*card.id());
            }
        }
        review
    }

    /// Pins `cards` of this identity (others are ignored): after a first contact, a
    /// linked change, or a key change the user accepted.
    pub fn pin(&mut self, cards: &[Card]) {
        for card in cards {
            if self.is_for(card) && self.pinned(card.id()).is_none() {
                self.cards.push(PinnedCard {
                    id: *card.id(),
                    public_key: card.public_key().as_bytes().to_vec(),
                    revoked: false,
                });
            }
        }
        self.forget_oldest();
    }

    /// Remembers that card `id` is revoked (pinning it as revoked if unknown, so it is
    /// refused if offered later).
    pub fn mark_revoked(&mut self, card: &Card) {
        if !self.is_for(card) {
            return;
        }
        match self.cards.iter_mut().find(|pinned| pinned.id == *card.id()) {
            Some(pinned) => pinned.revoked = true,
            None => self.cards.push(PinnedCard {
                id: *card.id(),
                public_key: card.public_key().as_bytes().to_vec(),
                revoked: true,
            }),
        }
        self.forget_oldest();
    }

    fn forget_oldest(&mut self) {
        while self.cards.len() > MAX_PINNED_CARDS {
            let index = self
                .cards
                .iter()
                .position(|pinned| pinned.revoked)
                .unwrap_or(0);
            self.cards.remove(index);
        }
    }
}

/// A number two people compare (read aloud, or side by side) to know that each holds
/// the other's real keys: 60 digits, the same on both devices, derived from both
/// identities and both sides' current public keys. Shown as 12 groups of 5 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    /// The 60 digits, without spaces.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, group) in self.0.as_bytes().chunks(5).enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            f.write_str(std::str::from_utf8(group).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyNumber({self})")
    }
}

/// Domain separation for the safety number's hash.
const SAFETY_NUMBER_CONTEXT: &[u8] = b"virgil/safety-number/v1";

/// The safety number of two identities' current cards (`ours` and `theirs`, each all
/// of one identity; the order of the two arguments and of the cards within each does
/// not matter). It changes whenever either side's set of keys changes.
///
/// Each side's 30 digits are the first 30 bytes of
/// `SHA-512(context ‖ len‖app id ‖ len‖identity type ‖ len‖identity ‖ count ‖ keys…)`,
/// keys sorted, taken as six 5-byte big-endian numbers modulo 100 000; the two halves
/// are concatenated in ascending order (format.md §13).
pub fn safety_number(ours: &[Card], theirs: &[Card]) -> Result<SafetyNumber, CardError> {
    let mut halves = [side_digits(ours)?, side_digits(theirs)?];
    halves.sort();
    Ok(SafetyNumber(halves.concat()))
}

fn side_digits(cards: &[Card]) -> Result<String, CardError> {
    let first = cards.first().ok_or(CardError::Empty {
        field: "the cards of a safety number",
    })?;
    let contact = Contact::new(first);
    if !cards.iter().all(|card| contact.is_for(card)) {
        return Err(CardError::InvalidLink(
            "a safety number's cards on one side must all be of one identity",
        ));
    }
    let mut keys: Vec<&[u8]> = cards
        .iter()
        .map(|card| card.public_key().as_bytes())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut hash = Sha512::new();
    hash.update(SAFETY_NUMBER_CONTEXT);
    for field in [&contact.app_id, &contact.identity_type, &contact.identity] {
        hash.update((field.len() as u32).to_be_bytes());
        hash.update(field.as_bytes());
    }
    hash.update((keys.len() as u32).to_be_bytes());
    for key in keys {
        hash.update(key);
    }
    let digest = hash.finalize();
    let mut digits = String::with_capacity(30);
    for chunk in digest.chunks_exact(5).take(6) {
        let value = chunk
            .iter()
            .fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
        digits.push_str(&format!("{:05}", value % 100_000));
    }
    Ok(digits)
}

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)]
mod tests {
    use super::*;
    use crate::CardRequest;
    use virgil_crypto::PrivateKey;

    fn card(identity: &str, key: &PrivateKey) -> Card {
        CardRequest::new(identity, "chat")
            .sign(key)
            .expect("valid card")
    }

    fn keys<const N: usize>() -> [PrivateKey; N] {
        std::array::from_fn(|_| PrivateKey::generate().expect("key"))
    }

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
        let review = contact.review(&[third.clone(), second.clone()]);
        assert_eq!(review.linked.len(), 2);
        assert!(review.unlinked.is_empty() && review.known.is_empty());
        // A link signature by a key that is not pinned does not count.
        let mut forged = card("bob", &x);
        forged.sign_as(Signer::Link(*first.id()), &x).expect("sign");
        let review = contact.review(&[first.clone(), forged.clone()]);
        assert_eq!(review.unlinked, vec![*forged.id()]);
        assert!(review.is_key_change());
        // A card of another identity linked by a pinned key is not bob's.
        let mut other = card("mallory", &b);
        other.sign_as(Signer::Link(*first.id()), &a).expect("sign");
        assert!(contact.review(&[other]).is_key_change());
    }

    #[test]
    fn a_card_seen_revoked_is_refused_and_its_links_do_not_count() {
        let [a, b] = keys();
        let first = card("bob", &a);
        let mut contact = Contact::new(&first);
        contact.pin(std::slice::from_ref(&first));
        contact.mark_revoked(&first);
        let mut second = card("bob", &b);
        second.link_from(&first, &a).expect("link");
        let review = contact.review(&[first.clone(), second.clone()]);
        assert_eq!(review.revoked, vec![*first.id()]);
        assert_eq!(review.unlinked, vec![*second.id()]);
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
        let review = contact.review(&[reset.clone()]);
        assert_eq!(review.reset, vec![*reset.id()]);
    }

    #[test]
    fn the_pinned_state_round_trips_through_json_and_stays_bounded() {
        let [a] = keys();
        let first = card("bob", &a);
        let mut contact = Contact::new(&first);
        for _ in 0..MAX_PINNED_CARDS + 5 {
            let [k] = keys();
            contact.pin(&[card("bob", &k)]);
        }
        contact.mark_revoked(&first);
        assert_eq!(contact.cards.len(), MAX_PINNED_CARDS);
        let json = serde_json::to_string(&contact).expect("json");
        let back: Contact = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, contact);
        assert!(
            serde_json::from_str::<Contact>(
                &json.replace("\"public_key\":\"", "\"public_key\":\"00")
            )
            .is_err()
        );
    }

    #[test]
    fn safety_numbers_are_the_same_on_both_sides_and_change_with_any_key() {
        let [a, b, c] = keys();
        let (alice, bob) = (card("alice", &a), card("bob", &b));
        let number = safety_number(&[alice.clone()], &[bob.clone()]).expect("number");
        assert_eq!(
            number,
            safety_number(&[bob.clone()], &[alice.clone()]).expect("number")
        );
        assert_eq!(number.digits().len(), 60);
        assert!(number.digits().bytes().all(|d| d.is_ascii_digit()));
        assert_eq!(number.to_string().split(' ').count(), 12);
        let bob_phone = card("bob", &c);
        let more =
            safety_number(&[alice.clone()], &[bob.clone(), bob_phone.clone()]).expect("number");
        assert_ne!(more, number);
        assert_eq!(
            more,
            safety_number(&[alice.clone()], &[bob_phone, bob.clone()]).expect("number")
        );
        // The identity counts, not only the keys.
        assert_ne!(
            safety_number(&[card("alice", &a)], &[card("carol", &b)]).expect("number"),
            number
        );
        assert!(safety_number(&[], &[bob]).is_err());
    }
}
