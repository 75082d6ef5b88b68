//! Text forms of binary values: lowercase hex and standard base64 (RFC 4648 §4, padded).
//!
//! These are the only text encodings the formats use (key ids and card ids in hex,
//! envelopes, key blobs and exported cards in base64). Decoding never panics and rejects
//! anything that is not the canonical form, so every value has exactly one text form.

use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine as _;
use core::fmt;

/// A text value that is not valid hex or base64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Hex text has an odd length or a character outside `0-9a-f`.
    InvalidHex,
    /// Base64 text has a character outside the standard alphabet, bad padding or
    /// non-zero trailing bits.
    InvalidBase64,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::InvalidHex => "not lowercase hex (expected an even number of 0-9a-f)",
            DecodeError::InvalidBase64 => "not base64 (standard alphabet, padded)",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encodes bytes as lowercase hex.
///
/// ```
/// assert_eq!(virgil_crypto::encoding::to_hex(&[0x01, 0xab]), "01ab");
/// ```
pub fn to_hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0x0f] {
            // A nibble is < 16, so the lookup cannot miss.
            if let Some(digit) = HEX_DIGITS.get(usize::from(nibble)) {
                text.push(char::from(*digit));
            }
        }
    }
    text
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// Decodes lowercase hex. Uppercase digits are rejected so that ids have one text form.
///
/// ```
/// use virgil_crypto::encoding::from_hex;
/// assert_eq!(from_hex("01ab").unwrap(), vec![0x01, 0xab]);
/// assert!(from_hex("01AB").is_err());
/// ```
pub fn from_hex(text: &str) -> Result<Vec<u8>, DecodeError> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(DecodeError::InvalidHex);
    }
    digits
        .chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => match (hex_value(*high), hex_value(*low)) {
                (Some(high), Some(low)) => Ok(high << 4 | low),
                _ => Err(DecodeError::InvalidHex),
            },
            _ => Err(DecodeError::InvalidHex),
        })
        .collect()
}

/// Encodes bytes as standard, padded base64.
///
/// ```
/// assert_eq!(virgil_crypto::encoding::to_base64(b"hi"), "aGk=");
/// ```
pub fn to_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard, padded base64; whitespace and non-canonical trailing bits are errors.
///
/// ```
/// use virgil_crypto::encoding::from_base64;
/// assert_eq!(from_base64("aGk=").unwrap(), b"hi");
/// assert!(from_base64("aGk").is_err());
/// ```
pub fn from_base64(text: &str) -> Result<Vec<u8>, DecodeError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| DecodeError::InvalidBase64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_known_answers() {
        assert_eq!(to_hex(&[]), "");
        assert_eq!(to_hex(&[0x00, 0x0f, 0xf0, 0xff]), "000ff0ff");
        assert_eq!(from_hex("000ff0ff").unwrap(), [0x00, 0x0f, 0xf0, 0xff]);
    }

    #[test]
    fn hex_rejects_non_canonical() {
        for bad in ["0", "0g", "AB", " 00", "0x00", "é0"] {
            assert_eq!(from_hex(bad), Err(DecodeError::InvalidHex), "{bad:?}");
        }
    }

    #[test]
    fn base64_rejects_non_canonical() {
        // Unpadded, non-zero trailing bits, whitespace, URL-safe alphabet.
        for bad in ["aGk", "aGl=", "aG k=", "-_8="] {
            assert_eq!(from_base64(bad), Err(DecodeError::InvalidBase64), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn hex_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            prop_assert_eq!(from_hex(&to_hex(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn base64_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            prop_assert_eq!(from_base64(&to_base64(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn decoders_never_panic(text in "\\PC*") {
            let _ = from_hex(&text);
            let _ = from_base64(&text);
        }
    }
}
