//! Card ids: SHA-256 of the snapshot, written as 64 lowercase hex digits.

use crate::CardError;
use core::fmt;
use core::str::FromStr;
use sha2::{Digest as _, Sha256};

/// SHA-256 of a card's snapshot. Parse one with [`str::parse`]; print it with `Display`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CardId([u8; 32]);

impl CardId {
    /// The id of a snapshot.
    pub fn of_snapshot(snapshot: &[u8]) -> Self {
        Self(Sha256::digest(snapshot).into())
    }

    /// Wraps 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for CardId {
    type Err = CardError;

    /// Accepts exactly 64 lowercase hex digits.
    fn from_str(text: &str) -> Result<Self, CardError> {
        let bytes =
            virgil_crypto::encoding::from_hex(text).map_err(|_| CardError::InvalidCardId)?;
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| CardError::InvalidCardId)
    }
}

impl fmt::Display for CardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&virgil_crypto::encoding::to_hex(&self.0))
    }
}

impl fmt::Debug for CardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardId({self})")
    }
}

impl serde::Serialize for CardId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for CardId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let id = CardId::of_snapshot(b"x");
        let text = id.to_string();
        assert_eq!(
            text,
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
        assert_eq!(text.parse::<CardId>().unwrap(), id);
        for bad in [
            "",
            "00",
            &text.to_uppercase(),
            &text[1..],
            &format!("{text}0"),
        ] {
            assert_eq!(
                bad.parse::<CardId>(),
                Err(CardError::InvalidCardId),
                "{bad:?}"
            );
        }
    }
}
