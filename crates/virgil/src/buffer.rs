//! `Buffer`: bytes with text conversions (base64, hex, UTF-8), as in the tutorial.

use crate::Error;
use virgil_crypto::encoding;

/// A text encoding of a [`Buffer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Standard base64 with padding.
    Base64,
    /// Lowercase hex.
    Hex,
    /// UTF-8 text (lossy when printing bytes that are not UTF-8).
    Utf8,
}

/// Bytes: a message, a ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Buffer(Vec<u8>);

impl AsRef<[u8]> for Buffer {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Buffer {
    /// Wraps bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Decodes text in `encoding`.
    ///
    /// ```
    /// use virgil::{Buffer, Encoding};
    /// let buffer = Buffer::from_string("aGk=", Encoding::Base64)?;
    /// assert_eq!(buffer.to_string(Encoding::Utf8), "hi");
    /// assert_eq!(buffer.to_string(Encoding::Hex), "6869");
    /// # Ok::<(), virgil::Error>(())
    /// ```
    pub fn from_string(text: &str, encoding: Encoding) -> Result<Self, Error> {
        match encoding {
            Encoding::Base64 => encoding::from_base64(text.trim())
                .map(Self)
                .map_err(|_| Error::Encoding("base64")),
            Encoding::Hex => encoding::from_hex(text.trim())
                .map(Self)
                .map_err(|_| Error::Encoding("hex")),
            Encoding::Utf8 => Ok(Self(text.as_bytes().to_vec())),
        }
    }

    /// The bytes as text in `encoding`.
    pub fn to_string(&self, encoding: Encoding) -> String {
        match encoding {
            Encoding::Base64 => encoding::to_base64(&self.0),
            Encoding::Hex => encoding::to_hex(&self.0),
            Encoding::Utf8 => String::from_utf8_lossy(&self.0).into_owned(),
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The bytes, for the `_into` functions that refill this buffer in place.
    pub(crate) fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}
