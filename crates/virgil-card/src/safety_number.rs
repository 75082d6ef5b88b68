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

/// What `virgil contact verify` shows beside the number, as one QR-ready line: the
/// safety number and the device's newest directory checkpoint, so that comparing the
/// two devices' codes also checks that both see one key directory (docs/format.md §13):
///
/// ```text
/// code = "virgil-verify:1:" ‖ 60 digits ‖ ":" ‖ base64(signed checkpoint, §14)  (or nothing)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationCode {
    /// The safety number.
    pub number: SafetyNumber,
    /// The device's newest directory checkpoint, if it has one.
    pub checkpoint: Option<crate::checkpoint::SignedCheckpoint>,
}

/// The start of every [`VerificationCode`].
pub const VERIFICATION_CODE_PREFIX: &str = "virgil-verify:1:";

/// Why a verification code was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerificationCodeError {
    /// Not a code of this format.
    #[error("not a verification code (virgil-verify:1:<60 digits>:<checkpoint>): {0}")]
    Malformed(&'static str),
}

impl VerificationCode {
    /// The one-line form.
    pub fn encode(&self) -> String {
        let checkpoint = self
            .checkpoint
            .as_ref()
            .map(crate::checkpoint::SignedCheckpoint::to_base64)
            .unwrap_or_default();
        format!(
            "{VERIFICATION_CODE_PREFIX}{}:{checkpoint}",
            self.number.digits()
        )
    }

    /// Reads the one-line form (surrounding white space ignored).
    pub fn parse(text: &str) -> Result<Self, VerificationCodeError> {
        let malformed = VerificationCodeError::Malformed;
        let rest = text
            .trim()
            .strip_prefix(VERIFICATION_CODE_PREFIX)
            .ok_or(malformed("wrong start"))?;
        let (digits, checkpoint) = rest
            .split_once(':')
            .ok_or(malformed("no checkpoint part"))?;
        if digits.len() != 60 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("the number is not 60 digits"));
        }
        let checkpoint = match checkpoint {
            "" => None,
            encoded => Some(
                crate::checkpoint::SignedCheckpoint::from_base64(encoded)
                    .map_err(|_| malformed("the checkpoint does not decode"))?,
            ),
        };
        Ok(Self {
            number: SafetyNumber(digits.to_owned()),
            checkpoint,
        })
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
    fn a_verification_code_round_trips_and_anything_else_is_refused() {
        let [a, b, service] = keys();
        let number = safety_number(&[card("alice", &a)], &[card("bob", &b)]).expect("number");
        let checkpoint = crate::checkpoint::Checkpoint {
            directory: "cards.example".to_owned(),
            epoch: 9,
            root: [1; 32],
            vrf_key: [2; 32],
            published_at: 1_700_000_000,
        }
        .sign(&service);
        for code in [
            VerificationCode {
                number: number.clone(),
                checkpoint: Some(checkpoint),
            },
            VerificationCode {
                number: number.clone(),
                checkpoint: None,
            },
        ] {
            let line = code.encode();
            assert!(line.starts_with("virgil-verify:1:"));
            assert_eq!(VerificationCode::parse(&format!(" {line}\n")), Ok(code));
        }
        let good = format!("virgil-verify:1:{}:", number.digits());
        for bad in [
            "",
            "virgil-verify:2:",
            &good[..good.len() - 2],
            &format!("virgil-verify:1:x{}:", &number.digits()[1..]),
            &format!("{good}AAAA"),
            &format!("{good}{}", "A".repeat(10_000)),
        ] {
            assert!(VerificationCode::parse(bad).is_err(), "{bad:?}");
        }
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
