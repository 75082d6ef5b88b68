//! The streaming tier: encrypt and decrypt any size in bounded memory over
//! `io::Write`/`io::Read`, binary or ASCII-armored (docs/format.md §4, §9).
//!
//! ```
//! use std::io::{Read as _, Write as _};
//! use virgil::stream::{Decryptor, Encryptor, Format};
//! # let alice = virgil::Key::from_private_key(virgil_crypto::PrivateKey::generate()?);
//! # let bob = virgil::Key::from_private_key(virgil_crypto::PrivateKey::generate()?);
//! # let alice_card = virgil_card::CardRequest::new("alice", "chat").sign(alice.private_key())?;
//! // Alice signs and encrypts for Bob, armored.
//! let mut writer = Encryptor::new(Vec::new(), Some(&alice), &[bob.public_key()], Format::Armored)?;
//! writer.write_all(b"a long report")?;
//! let armored = writer.finish()?;
//!
//! // Bob decrypts, requiring Alice's signature; armor is recognised.
//! let senders = [alice_card];
//! let mut reader = Decryptor::new(armored.as_slice(), &bob, &senders)?;
//! let mut report = Vec::new();
//! reader.read_to_end(&mut report)?;
//! assert_eq!(report, b"a long report");
//! assert_eq!(reader.sender().map(|card| card.identity()), Some("alice"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors while writing or reading come as `io::Error`s; `virgil::Error::from` takes back
//! the [`Error`] inside (e.g. [`Error::WrongSender`]). Plaintext is released chunk by
//! chunk as it authenticates: write it somewhere you can discard until the reader reached
//! the end without error.

use crate::error::opening;
use crate::{Card, Error, Key, PublicKey};
use std::io::{self, BufRead, Read, Write};
use virgil_crypto::armor::{self, ArmorReader, ArmorWriter};
use virgil_crypto::envelope::stream::{DecryptingReader, EncryptingWriter};

/// How ciphertext is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// The binary envelope.
    #[default]
    Binary,
    /// ASCII armor: base64 lines between `BEGIN`/`END VIRGIL MESSAGE` lines.
    Armored,
}

enum Sealer<'a, W: Write> {
    Binary(EncryptingWriter<'a, W>),
    Armored(EncryptingWriter<'a, ArmorWriter<W>>),
}

/// Encrypts what is written to it for `recipients` (signed when a signer is given) and
/// writes the envelope to `W`. Call [`Encryptor::finish`]: without it the message is cut
/// short and no reader accepts it.
pub struct Encryptor<'a, W: Write> {
    sealer: Sealer<'a, W>,
}

impl<'a, W: Write> Encryptor<'a, W> {
    /// Starts a message to `recipients` (a card's key is `card.public_key()`; add your
    /// own key to read it later), signed by `signer` if given; a signer's
    /// [`crate::RecipientPolicy`] applies to `recipients`.
    pub fn new(
        output: W,
        signer: Option<&'a Key>,
        recipients: &[&PublicKey],
        format: Format,
    ) -> Result<Self, Error> {
        fn start<'a, V: Write>(
            out: V,
            signer: Option<&'a Key>,
            recipients: &[&PublicKey],
        ) -> io::Result<EncryptingWriter<'a, V>> {
            match signer {
                Some(key) => EncryptingWriter::signed(out, &key.0, recipients),
                None => EncryptingWriter::unsigned(out, recipients),
            }
        }
        if let Some(key) = signer {
            let named = recipients
                .iter()
                .map(|public| (*public, format!("the key {}", public.key_id())));
            key.1.check(named)?;
        }
        let sealer = match format {
            Format::Binary => Sealer::Binary(start(output, signer, recipients)?),
            Format::Armored => {
                Sealer::Armored(start(ArmorWriter::new(output)?, signer, recipients)?)
            }
        };
        Ok(Self { sealer })
    }

    /// Ends the message (last chunk, signature, armor footer) and gives back the output.
    pub fn finish(self) -> Result<W, Error> {
        Ok(match self.sealer {
            Sealer::Binary(writer) => writer.finish()?,
            Sealer::Armored(writer) => writer.finish()?.finish()?,
        })
    }
}

impl<W: Write> Write for Encryptor<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.sealer {
            Sealer::Binary(writer) => writer.write(data),
            Sealer::Armored(writer) => writer.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sealer {
            Sealer::Binary(writer) => writer.flush(),
            Sealer::Armored(writer) => writer.flush(),
        }
    }
}

/// Encrypts all of `input` to `output` (see [`Encryptor::new`]); returns the output.
pub fn encrypt<W: Write>(
    input: &mut dyn Read,
    output: W,
    signer: Option<&Key>,
    recipients: &[&PublicKey],
    format: Format,
) -> Result<W, Error> {
    let mut writer = Encryptor::new(output, signer, recipients, format)?;
    io::copy(input, &mut writer)?;
    writer.finish()
}

enum Source<R: BufRead> {
    Binary(R),
    Armored(ArmorReader<R>),
}

impl<R: BufRead> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Binary(input) => input.read(buf),
            Source::Armored(input) => input.read(buf),
        }
    }
}

/// Decrypts an envelope (binary or armored, recognised by its first line) read from `R`.
/// With sender cards, the message must be signed by one of them; with none, the sender
/// is not checked.
pub struct Decryptor<'s, R: BufRead> {
    reader: DecryptingReader<Source<R>>,
    key: &'s Key,
    senders: &'s [Card],
}

/// The key ids of a message's recipients, read from its header (binary or armored)
/// without decrypting anything: to pick which of several keys opens it. Reads at most
/// the largest possible header from `input`.
pub fn recipients<R: BufRead>(mut input: R) -> Result<Vec<virgil_crypto::KeyId>, Error> {
    let armored = input
        .fill_buf()
        .map_err(Error::Io)?
        .starts_with(armor::BEGIN.as_bytes());
    let limit = u64::try_from(virgil_crypto::envelope::MAX_HEADER_LEN).unwrap_or(u64::MAX);
    let mut start = Vec::new();
    let read = if armored {
        ArmorReader::new(input).and_then(|reader| reader.take(limit).read_to_end(&mut start))
    } else {
        input.take(limit).read_to_end(&mut start)
    };
    read.map_err(Error::Io)?;
    Ok(virgil_crypto::envelope::recipients(&start)?)
}

impl<'s, R: BufRead> Decryptor<'s, R> {
    /// Reads the header and finds this key's stanza ([`Error::NotForThisKey`] if none).
    pub fn new(mut input: R, key: &'s Key, senders: &'s [Card]) -> Result<Self, Error> {
        let fail = |error: io::Error| match Error::from(error) {
            Error::Crypto(error) => opening(error, &key.0, senders),
            other => other,
        };
        let armored = input
            .fill_buf()
            .map_err(Error::Io)?
            .starts_with(armor::BEGIN.as_bytes());
        let source = if armored {
            Source::Armored(ArmorReader::new(input).map_err(fail)?)
        } else {
            Source::Binary(input)
        };
        let keys: Vec<&PublicKey> = senders.iter().map(Card::public_key).collect();
        let reader = if senders.is_empty() {
            DecryptingReader::unverified(source, &key.0)
        } else {
            DecryptingReader::verified(source, &key.0, &keys)
        }
        .map_err(fail)?;
        Ok(Self {
            reader,
            key,
            senders,
        })
    }

    /// The card whose key signed the message, once all of it was read without error
    /// (`None` before that, and when no sender cards were given).
    pub fn sender(&self) -> Option<&'s Card> {
        let key_id = self.reader.sender()?;
        self.senders
            .iter()
            .find(|card| card.public_key().key_id() == key_id)
    }

    /// Decrypts everything to `output`; returns the plaintext length.
    pub fn copy_to(&mut self, output: &mut dyn Write) -> Result<u64, Error> {
        Ok(io::copy(self, output)?)
    }
}

impl<R: BufRead> Read for Decryptor<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf).map_err(|error| {
            let kind = error.kind();
            match Error::from(error) {
                Error::Crypto(crypto) => {
                    io::Error::new(kind, opening(crypto, &self.key.0, self.senders))
                }
                Error::Io(error) => error,
                other => io::Error::new(kind, other),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use virgil_card::CardRequest;
    use virgil_crypto::PrivateKey;

    fn key() -> Key {
        Key::from_private_key(PrivateKey::generate().unwrap())
    }

    fn card(name: &str, key: &Key) -> Card {
        CardRequest::new(name, "chat").sign(&key.0).unwrap()
    }

    fn decrypt(cipher: &[u8], key: &Key, senders: &[Card]) -> Result<Vec<u8>, Error> {
        let mut reader = Decryptor::new(cipher, key, senders)?;
        let mut plain = Vec::new();
        reader.copy_to(&mut plain)?;
        Ok(plain)
    }

    #[test]
    fn both_formats_round_trip_and_name_the_sender() {
        let (alice, bob) = (key(), key());
        let senders = [card("alice", &alice)];
        let message = vec![7u8; 200_000];
        for format in [Format::Binary, Format::Armored] {
            let cipher = encrypt(
                &mut message.as_slice(),
                Vec::new(),
                Some(&alice),
                &[bob.public_key()],
                format,
            )
            .unwrap();
            assert_eq!(
                cipher.starts_with(armor::BEGIN.as_bytes()),
                format == Format::Armored
            );
            let mut reader = Decryptor::new(cipher.as_slice(), &bob, &senders).unwrap();
            let mut plain = Vec::new();
            reader.copy_to(&mut plain).unwrap();
            assert_eq!(plain, message);
            assert_eq!(reader.sender().map(Card::identity), Some("alice"));
        }
    }

    #[test]
    fn failures_are_told_in_terms_of_keys_and_cards() {
        let (alice, bob, carol) = (key(), key(), key());
        let signed = |signer: Option<&Key>| {
            encrypt(
                &mut &b"hi"[..],
                Vec::new(),
                signer,
                &[bob.public_key()],
                Format::Binary,
            )
            .unwrap()
        };
        let from_alice = signed(Some(&alice));
        assert!(matches!(
            decrypt(&from_alice, &carol, &[]),
            Err(Error::NotForThisKey { .. })
        ));
        match decrypt(&from_alice, &bob, &[card("carol", &carol)]) {
            Err(Error::WrongSender { expected }) => assert_eq!(expected, "carol"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decrypt(&signed(None), &bob, &[card("alice", &alice)]),
            Err(Error::NotSigned { .. })
        ));
        assert_eq!(decrypt(&signed(None), &bob, &[]).unwrap(), b"hi");
        let mut cut = from_alice.clone();
        cut.truncate(cut.len() - 1);
        assert!(matches!(
            decrypt(&cut, &bob, &[card("alice", &alice)]),
            Err(Error::Crypto(virgil_crypto::Error::Corrupted))
        ));
    }
}
