//! The facade's one error type, and how crypto errors become messages a user can act on.

use crate::{Card, CardId};
use std::io;
use virgil_crypto::PrivateKey;

/// What can go wrong, with messages a user can act on.
///
/// Decryption and verification failures say what the user can check ("not encrypted for
/// this key", "signature does not match the sender's card") and nothing more.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key store operation failed (names the key and, for files, the path).
    #[error(transparent)]
    KeyStore(#[from] virgil_keystore::KeyStoreError),
    /// The cards service could not be used, refused, or returned a card that failed
    /// verification.
    #[cfg(feature = "client")]
    #[error("the cards service: {0}")]
    CardsService(virgil_client::ClientError),
    /// The application server could not be used, or refused.
    #[cfg(feature = "client")]
    #[error("the application server: {0}")]
    AppServer(virgil_client::ClientError),
    /// A card is not valid.
    #[error(transparent)]
    Card(#[from] virgil_card::CardError),
    /// A card does not verify against the pinned service and application keys.
    #[error("the card of {identity} does not verify: {error}")]
    CardNotTrusted {
        /// The card's identity.
        identity: String,
        /// Which check failed.
        error: virgil_card::VerifyError,
    },
    /// The message is not encrypted for this key.
    #[error(
        "not encrypted for this key (key id {key_id}); was the message sent before this key's card was published?"
    )]
    NotForThisKey {
        /// The key that tried to decrypt.
        key_id: String,
    },
    /// A message was to be verified against its sender's cards, but none were given.
    #[error(
        "no sender's card to verify the message with: pass the cards of whoever may have sent it (to read it without checking who sent it, use the unverified decryption)"
    )]
    NoSenderCards,
    /// The signature does not match the sender's card(s).
    #[error("signature does not match the sender's card: the message was not signed by {expected}")]
    WrongSender {
        /// The identities whose cards were tried.
        expected: String,
    },
    /// A signature was required, but the message is not signed.
    #[error("the message is not signed, but a signature by {expected} is required")]
    NotSigned {
        /// The identities whose signature was required.
        expected: String,
    },
    /// The key's [`crate::RecipientPolicy`] requires post-quantum recipients and one is
    /// suite 1.
    #[error(
        "{whose} is a classic (suite-1) key, and this application encrypts only to post-quantum keys: its owner must move to a post-quantum key (`virgil key generate --suite pq NEW`, then `virgil card publish --key NEW --link-from OLD`)"
    )]
    NotPostQuantum {
        /// Which card or key.
        whose: String,
    },
    /// The sender has no published card to verify the message with.
    #[error("{identity} has no published card to verify the message with")]
    SenderHasNoCard {
        /// The sender.
        identity: String,
    },
    /// An identity has no active card (not registered, or its cards were revoked).
    #[error("{identity:?} has no card (not registered, or the card was revoked)")]
    NoCard {
        /// The identity looked up.
        identity: String,
    },
    /// The key is neither the card's nor that of another active card of its identity.
    #[error(
        "card {card} is {identity:?}'s and this key belongs to none of {identity:?}'s active cards: only the owner's keys revoke a card"
    )]
    NotYourCard {
        /// The card.
        card: CardId,
        /// Its identity.
        identity: String,
    },
    /// An identity's cards changed without a link from any card used for it before
    /// (docs/key-changes.md): refused until the user accepts or verifies again.
    #[cfg(feature = "client")]
    #[error("{0}")]
    KeyChanged(crate::KeyChange),
    /// A card this device saw revoked was offered as active again.
    #[error("card {card} of {identity:?} was revoked and is offered as active again: refused")]
    RevokedCardOffered {
        /// The identity.
        identity: String,
        /// The card.
        card: CardId,
    },
    /// The check of the user's own identity found a card that neither this device's
    /// keys made nor a link from them vouches for (docs/key-changes.md,
    /// "self-monitoring"): it is never used, and the user must act.
    #[cfg(feature = "client")]
    #[error("{0}")]
    SelfCheck(crate::SelfCheckAlarm),
    /// The key directory's proven history of the user's own identity holds a card this
    /// device did not make, or a card listed again after it was revoked
    /// ([`crate::Virgil::monitor`]): the user must act.
    #[cfg(feature = "client")]
    #[error("{0}")]
    Monitor(crate::MonitorAlarm),
    /// A change to the user's own identity cannot be accepted like a contact's.
    #[error(
        "{identity:?} is you: a change to your own cards is never accepted as a contact's would be; `virgil card list` shows your cards and how to revoke one you did not make"
    )]
    OwnIdentity {
        /// The identity.
        identity: String,
    },
    /// The directory contradicts itself: a card it left out of a signed, complete
    /// answer for its identity is still active by id.
    #[error(transparent)]
    Directory(#[from] virgil_card::contact::StatusConflict),
    /// The contact store could not be read or written.
    #[error("the contact store is damaged: {0}")]
    ContactStore(String),
    /// This needs a login to the application server (`Account::login`) or a token source.
    #[error("not logged in: log in to the application server first")]
    NotLoggedIn,
    /// The client configuration file (`client.toml`) does not parse or names something
    /// unusable.
    #[error("the client configuration: {0}")]
    ClientFile(String),
    /// This needs a server the configuration does not name.
    #[error("no {0} is configured")]
    NotConfigured(&'static str),
    /// Pairing a device did not complete ([`crate::Devices`]); a wrong code is
    /// [`Error::Crypto`] with [`virgil_crypto::Error::PairingMismatch`].
    #[cfg(feature = "client")]
    #[error(transparent)]
    Pairing(#[from] crate::devices::PairingFailure),
    /// The application server's inbox cursor did not move forward (a broken server).
    #[error("the app server's inbox cursor did not advance; stopping")]
    StuckInbox,
    /// Encryption or decryption failed (a damaged or modified message, a bad key).
    #[error(transparent)]
    Crypto(#[from] virgil_crypto::Error),
    /// Reading the input or writing the output failed.
    #[error("input/output failed: {0}")]
    Io(io::Error),
    /// The text is not in the stated encoding.
    #[error("the text is not valid {0}")]
    Encoding(&'static str),
}

impl From<io::Error> for Error {
    /// Takes back the facade or crypto error a streaming type carried inside an
    /// `io::Error`; anything else is [`Error::Io`].
    fn from(error: io::Error) -> Self {
        let carries = |e: &io::Error| {
            e.get_ref()
                .is_some_and(|inner| inner.is::<Error>() || inner.is::<virgil_crypto::Error>())
        };
        if !carries(&error) {
            return Error::Io(error);
        }
        match error.into_inner() {
            Some(inner) => match inner.downcast::<Error>() {
                Ok(error) => *error,
                Err(inner) => match inner.downcast::<virgil_crypto::Error>() {
                    Ok(error) => Error::Crypto(*error),
                    Err(inner) => Error::Io(io::Error::other(inner)),
                },
            },
            None => Error::Io(io::Error::other("unknown error")),
        }
    }
}

/// The error of opening a message with `key`, told in terms of the `senders` tried.
pub(crate) fn opening(error: virgil_crypto::Error, key: &PrivateKey, senders: &[Card]) -> Error {
    let mut names: Vec<&str> = senders.iter().map(Card::identity).collect();
    names.dedup();
    opening_expecting(error, key, || names.join(", "))
}

/// [`opening`], the expected senders said by `expected` (e.g. bare keys' ids).
pub(crate) fn opening_expecting(
    error: virgil_crypto::Error,
    key: &PrivateKey,
    expected: impl Fn() -> String,
) -> Error {
    match error {
        virgil_crypto::Error::NotARecipient => Error::NotForThisKey {
            key_id: key.key_id().to_string(),
        },
        virgil_crypto::Error::UnknownSender | virgil_crypto::Error::BadSignature => {
            Error::WrongSender {
                expected: expected(),
            }
        }
        virgil_crypto::Error::NotSigned => Error::NotSigned {
            expected: expected(),
        },
        other => Error::Crypto(other),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn io_errors_give_back_what_they_carry() {
        let carried = io::Error::new(
            io::ErrorKind::InvalidData,
            Error::NotSigned {
                expected: "alice".into(),
            },
        );
        assert!(matches!(Error::from(carried), Error::NotSigned { .. }));
        let crypto = io::Error::new(io::ErrorKind::InvalidData, virgil_crypto::Error::Corrupted);
        assert!(matches!(
            Error::from(crypto),
            Error::Crypto(virgil_crypto::Error::Corrupted)
        ));
        let plain = io::Error::new(io::ErrorKind::BrokenPipe, "pipe");
        match Error::from(plain) {
            Error::Io(e) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
            other => panic!("{other:?}"),
        }
    }
}
