//! Safety numbers: a number two people compare (read aloud, or side by side) to know
//! that each holds the other's real keys (docs/format.md §13).
//!
//! Each side contributes 30 digits computed from one owner and a set of its cards' keys.
//! The *inputs* are the point: a device computes its own half from the cards it knows
//! are its own ([`crate::OwnCards`]: its keys and the cards they made or linked), and the
//! other half from the contact's cards it uses. A directory that swaps a card for
//! everyone then changes the half of the victim's contacts but not the victim's own, and
//! the numbers differ.

use crate::{Card, CardError};
use sha2::{Digest as _, Sha512};
use std::fmt;

/// 60 digits, shown as 12 groups of 5.
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
const CONTEXT: &[u8] = b"virgil/safety-number/v2";

/// The safety number of two owners' cards: `ours` (all of one owner) and `theirs` (all
/// of another); the order of the two arguments and of the cards within each does not
/// matter. It changes whenever either side's set of keys changes.
///
/// Each side's 30 digits are the first 30 bytes of
/// `SHA-512("virgil/safety-number/v2" ‖ len‖app id ‖ len‖identity ‖ count ‖ keys…)`,
/// keys sorted and deduplicated, taken as six 5-byte big-endian numbers modulo 100 000;
/// the two halves are concatenated in ascending order (format.md §13).
pub fn safety_number(ours: &[Card], theirs: &[Card]) -> Result<SafetyNumber, CardError> {
    let mut halves = [half(ours)?, half(theirs)?];
    halves.sort();
    Ok(SafetyNumber(halves.concat()))
}

fn half(cards: &[Card]) -> Result<String, CardError> {
    let first = cards.first().ok_or(CardError::Empty {
        field: "the cards of a safety number",
    })?;
    let owner = first.owner();
    if !cards.iter().all(|card| owner.owns(card)) {
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
    hash.update(CONTEXT);
    for field in [&owner.app_id, &owner.identity] {
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
    use crate::testing::{card, keys};

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
        // The identity counts, not only the keys; the identity type does not.
        assert_ne!(
            safety_number(&[card("alice", &a)], &[card("carol", &b)]).expect("number"),
            number
        );
        let typed = CardRequest::new("bob", "chat")
            .identity_type("other")
            .sign(&b)
            .expect("card");
        assert_eq!(
            safety_number(&[alice.clone()], &[typed]).expect("number"),
            number
        );
        assert!(safety_number(&[], &[bob]).is_err());
    }
}
