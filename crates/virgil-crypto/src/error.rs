//! The one error type of the crate.
//!
//! Decryption and verification errors are deliberately coarse: everything an attacker can
//! change without holding the content key (a flipped bit, a cut-off stream, a forged MAC)
//! is [`Error::Corrupted`], so no error can be used as a padding or partitioning oracle.
//! The finer errors ([`Error::UnknownSender`], [`Error::BadSignature`]) are only reported
//! after the payload has authenticated, i.e. only to someone who could decrypt it anyway.

use core::fmt;

/// Everything that can go wrong in `virgil-crypto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that should hold a public key do not (wrong length, unknown suite, a P-256
    /// point that is not on the curve, …).
    InvalidPublicKey,
    /// The envelope has no recipient stanza for this key: it was not encrypted for it.
    NotARecipient,
    /// The message was signed by a key that is not among the candidate senders given.
    UnknownSender,
    /// The message's signature does not match the sender's public key.
    BadSignature,
    /// The message is not signed, but a signed message was required.
    NotSigned,
    /// The data was modified, cut short or extended after it was made (failed MAC,
    /// failed AEAD tag, truncation). Nothing more is said, on purpose.
    Corrupted,
    /// The bytes are not in the expected format (bad magic, impossible lengths).
    Malformed,
    /// The format's version or suite is one this build does not know.
    UnsupportedVersion,
    /// The password does not unlock this key.
    WrongPassword,
    /// The operating system's random number generator failed.
    RandomFailed,
    /// A server's oblivious PRF answer does not come with a valid proof for its published
    /// key ([`crate::oprf`]): it was not evaluated with that key, or was changed.
    InvalidProof,
    /// A device-pairing exchange ([`crate::pairing`]) does not confirm: the code was
    /// typed wrong, or a message came from someone who does not know it. Nothing from
    /// the exchange was used.
    PairingMismatch,
    /// The caller used the API in a way it does not allow; the data is not at fault.
    Misuse(Misuse),
}

/// Ways the API can be misused (as opposed to bad data from a peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misuse {
    /// An envelope needs at least one recipient.
    NoRecipients,
    /// More recipients than [`crate::envelope::MAX_RECIPIENTS`].
    TooManyRecipients,
    /// A PBKDF2 iteration count outside [`crate::keyblob::MIN_ITERATIONS`] ..=
    /// [`crate::keyblob::MAX_ITERATIONS`].
    IterationsOutOfRange,
    /// The message is larger than the format can count (more than 2^64 chunks).
    MessageTooLong,
    /// A key backup (a blob locked with a hardened password, kdf `0x02`) was given to
    /// [`crate::keyblob::unlock`]; it opens only with
    /// [`crate::keyblob::unlock_hardened`], after the server hardened the password.
    HardenedBlob,
    /// A plain key blob was given to [`crate::keyblob::unlock_hardened`].
    NotHardenedBlob,
}

impl From<Misuse> for Error {
    fn from(misuse: Misuse) -> Self {
        Error::Misuse(misuse)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidPublicKey => f.write_str("invalid public key"),
            Error::NotARecipient => f.write_str(
                "not encrypted for this key (the message has no recipient entry for its key id)",
            ),
            Error::UnknownSender => {
                f.write_str("message signed by a key that is not among the expected senders' keys")
            }
            Error::BadSignature => f.write_str("signature does not match the sender's key"),
            Error::NotSigned => f.write_str("message is not signed, but a signature was required"),
            Error::Corrupted => f.write_str("data is corrupted, truncated or was tampered with"),
            Error::Malformed => f.write_str("data is not in the expected format"),
            Error::UnsupportedVersion => {
                f.write_str("unsupported format version (made by a newer version of the software?)")
            }
            Error::WrongPassword => f.write_str("wrong password for this key"),
            Error::RandomFailed => f.write_str("the system random number generator failed"),
            Error::InvalidProof => {
                f.write_str("the server's answer does not prove it used its published key: refused")
            }
            Error::PairingMismatch => f.write_str(
                "the pairing does not confirm: the code was typed wrong, or someone else answered; nothing was used",
            ),
            Error::Misuse(misuse) => fmt::Display::fmt(misuse, f),
        }
    }
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misuse::NoRecipients => f.write_str("an envelope needs at least one recipient"),
            Misuse::TooManyRecipients => write!(
                f,
                "too many recipients (at most {})",
                crate::envelope::MAX_RECIPIENTS
            ),
            Misuse::IterationsOutOfRange => write!(
                f,
                "PBKDF2 iterations must be between {} and {}",
                crate::keyblob::MIN_ITERATIONS,
                crate::keyblob::MAX_ITERATIONS
            ),
            Misuse::MessageTooLong => f.write_str("message too long for the envelope format"),
            Misuse::HardenedBlob => f.write_str(
                "this key blob is a backup locked with a hardened password: restore it (virgil key restore)",
            ),
            Misuse::NotHardenedBlob => {
                f.write_str("this key blob is locked with a plain password, not a hardened one")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        let kind = match error {
            Error::RandomFailed | Error::Misuse(_) => std::io::ErrorKind::Other,
            _ => std::io::ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, error)
    }
}
