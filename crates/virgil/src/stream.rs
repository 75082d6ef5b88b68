//! The streaming tier: encrypt and decrypt any size in bounded memory over
//! `io::Write`/`io::Read`, binary or ASCII-armored (docs/format.md §4, §9).
//!
//! ```
//! use std::io::{Read as _, Write as _};
//! use virgil::stream::{Decryptor, Encryptor, Format};
//! # let alice = virgil::Key::from_private_key(virgil_crypto::PrivateKey::generate()?);
//! # let bob = virgil::Key::from_private_key(virgil_crypto::PrivateKey::generate()?);
//! # let alice_card = virgil_card::CardRequest::new("alice", "chat").sign(alice.private_key())?;
//! // Alice signs and encrypts for Bob (and herself), armored.
//! let mut writer = Encryptor::signed(Vec::new(), &alice, &[bob.public_key()], Format::Armored)?;
//! writer.write_all(b"a long report")?;
//! let armored = writer.finish()?;
//!
//! // Bob decrypts, requiring Alice's signature; armor is recognised.
//! let senders = [alice_card];
//! let mut reader = Decryptor::verified(armored.as_slice(), &bob, &senders)?;
//! let mut report = Vec::new();
//! reader.read_to_end(&mut report)?;
//! assert_eq!(report, b"a long report");
//! assert_eq!(reader.sender().map(|card| card.identity()), Some("alice"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The tiers match: [`Encryptor::signed`] is [`crate::Key::sign_then_encrypt`] (the same
//! [`Recipient`]s, the signer added under the same rule), [`Encryptor::unsigned`] is
//! [`crate::encrypt`], [`Decryptor::verified`] is
//! [`crate::Key::decrypt_then_verify_any`] and [`Decryptor::unverified`] is
//! [`crate::Key::decrypt`].
//!
//! Errors while writing or reading come as `io::Error`s; `virgil::Error::from` takes back
//! the [`Error`] inside (e.g. [`Error::WrongSender`]). Plaintext is released chunk by
//! chunk as it authenticates: write it somewhere you can discard until the reader reached
//! the end without error.

use crate::error::opening;
use crate::recipient::{self, Recipient};
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

/// Encrypts what is written to it for `recipients` (signed or not) and writes the
/// envelope to `W`. Call [`Encryptor::finish`]: without it the message is cut short and
/// no reader accepts it.
pub struct Encryptor<'a, W: Write> {
    sealer: Sealer<'a, W>,
}

impl<'a, W: Write> Encryptor<'a, W> {
    /// Starts a message signed by `signer` to `recipients` and to the signer itself
    /// (unless [`Key::with_own_copy`] says otherwise), after checking the signer's
    /// [`crate::RecipientPolicy`]: the rules of [`Key::sign_then_encrypt`].
    pub fn signed<R: Recipient>(
        output: W,
        signer: &'a Key,
        recipients: &[R],
        format: Format,
    ) -> Result<Self, Error> {
        let keys = recipient::keys_for(Some(signer), recipients)?;
        Self::start(output, Some(signer), &keys, format)
    }

    /// Starts an unsigned message to `recipients` only: [`crate::encrypt`]'s rules.
    pub fn unsigned<R: Recipient>(
        output: W,
        recipients: &[R],
        format: Format,
    ) -> Result<Self, Error> {
        let keys = recipient::keys_for(None, recipients)?;
        Self::start(output, None, &keys, format)
    }

    fn start(
        output: W,
        signer: Option<&'a Key>,
        keys: &[&PublicKey],
        format: Format,
    ) -> Result<Self, Error> {
        fn begin<'a, V: Write>(
            out: V,
            signer: Option<&'a Key>,
            keys: &[&PublicKey],
        ) -> io::Result<EncryptingWriter<'a, V>> {
            match signer {
                Some(key) => EncryptingWriter::signed(out, &key.private, keys),
                None => EncryptingWriter::unsigned(out, keys),
            }
        }
        let sealer = match format {
            Format::Binary => Sealer::Binary(begin(output, signer, keys)?),
            Format::Armored => Sealer::Armored(begin(ArmorWriter::new(output)?, signer, keys)?),
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

/// Decrypts an envelope (binary or armored, recognised by its first line) read from `R`:
/// [`Decryptor::verified`] requires a signature by one of the sender cards,
/// [`Decryptor::unverified`] does not check the sender.
pub struct Decryptor<'s, R: BufRead> {
    reader: DecryptingReader<Source<R>>,
    key: &'s Key,
    senders: &'s [Card],
    sender_keys: Vec<&'s PublicKey>,
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
    /// Reads the header and finds this key's stanza ([`Error::NotForThisKey`] if none);
    /// the message must be signed by one of `senders` ([`Error::NotSigned`],
    /// [`Error::WrongSender`] otherwise, when the end is read): the rules of
    /// [`Key::decrypt_then_verify_any`]. With no senders: [`Error::NoSenderCards`].
    pub fn verified(input: R, key: &'s Key, senders: &'s [Card]) -> Result<Self, Error> {
        if senders.is_empty() {
            return Err(Error::NoSenderCards);
        }
        Self::start(input, key, Some(senders))
    }

    /// Like [`Decryptor::verified`], the message signed by one of the bare public keys
    /// `senders` (keys a user was handed, `vpk:…`, which no card vouches for);
    /// [`Decryptor::sender_key`] says which.
    pub fn verified_by_keys(
        input: R,
        key: &'s Key,
        senders: &'s [PublicKey],
    ) -> Result<Self, Error> {
        if senders.is_empty() {
            return Err(Error::NoSenderCards);
        }
        Self::open(input, key, &[], senders.iter().collect(), true)
    }

    /// Reads the header and finds this key's stanza, without checking who sent the
    /// message (a signature, if any, is not checked): [`Key::decrypt`]'s rules.
    pub fn unverified(input: R, key: &'s Key) -> Result<Self, Error> {
        Self::start(input, key, None)
    }

    fn start(input: R, key: &'s Key, senders: Option<&'s [Card]>) -> Result<Self, Error> {
        let verify = senders.is_some();
        let senders = senders.unwrap_or_default();
        let keys: Vec<&PublicKey> = senders.iter().map(Card::public_key).collect();
        Self::open(input, key, senders, keys, verify)
    }

    fn open(
        mut input: R,
        key: &'s Key,
        senders: &'s [Card],
        keys: Vec<&'s PublicKey>,
        verify: bool,
    ) -> Result<Self, Error> {
        let fail = |error: io::Error| match Error::from(error) {
            Error::Crypto(error) => opened(error, &key.private, senders, &keys),
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
        let reader = if verify {
            DecryptingReader::verified(source, &key.private, &keys)
        } else {
            DecryptingReader::unverified(source, &key.private)
        }
        .map_err(fail)?;
        Ok(Self {
            reader,
            key,
            senders,
            sender_keys: keys,
        })
    }

    /// The public key that signed the message, once all of it was read without error
    /// (`None` before that, and when unverified).
    pub fn sender_key(&self) -> Option<&'s PublicKey> {
        let key_id = self.reader.sender()?;
        self.sender_keys
            .iter()
            .copied()
            .find(|key| key.key_id() == key_id)
    }

    /// The card whose key signed the message, once all of it was read without error
    /// (`None` before that, and when unverified).
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
                Error::Crypto(crypto) => io::Error::new(
                    kind,
                    opened(crypto, &self.key.private, self.senders, &self.sender_keys),
                ),
                Error::Io(error) => error,
                other => io::Error::new(kind, other),
            }
        })
    }
}

/// What opening failed with: the senders named by their cards' identities, or, for bare
/// keys, by their key ids.
fn opened(
    error: virgil_crypto::Error,
    key: &virgil_crypto::PrivateKey,
    senders: &[Card],
    keys: &[&PublicKey],
) -> Error {
    if senders.is_empty() && !keys.is_empty() {
        let ids = || {
            keys.iter()
                .map(|key| format!("key {}", key.key_id()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        crate::error::opening_expecting(error, key, ids)
    } else {
        opening(error, key, senders)
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
        CardRequest::new(name, "chat").sign(&key.private).unwrap()
    }

    fn decrypt(cipher: &[u8], key: &Key, senders: &[Card]) -> Result<Vec<u8>, Error> {
        let mut reader = if senders.is_empty() {
            Decryptor::unverified(cipher, key)?
        } else {
            Decryptor::verified(cipher, key, senders)?
        };
        let mut plain = Vec::new();
        reader.copy_to(&mut plain)?;
        Ok(plain)
    }

    fn encrypt(message: &[u8], signer: Option<&Key>, to: &[&PublicKey], format: Format) -> Vec<u8> {
        let mut writer = match signer {
            Some(signer) => Encryptor::signed(Vec::new(), signer, to, format),
            None => Encryptor::unsigned(Vec::new(), to, format),
        }
        .unwrap();
        writer.write_all(message).unwrap();
        writer.finish().unwrap()
    }

    #[test]
    fn both_formats_round_trip_and_name_the_sender() {
        let (alice, bob) = (key(), key());
        let senders = [card("alice", &alice)];
        let message = vec![7u8; 200_000];
        for format in [Format::Binary, Format::Armored] {
            let cipher = encrypt(&message, Some(&alice), &[bob.public_key()], format);
            assert_eq!(
                cipher.starts_with(armor::BEGIN.as_bytes()),
                format == Format::Armored
            );
            let mut reader = Decryptor::verified(cipher.as_slice(), &bob, &senders).unwrap();
            let mut plain = Vec::new();
            reader.copy_to(&mut plain).unwrap();
            assert_eq!(plain, message);
            assert_eq!(reader.sender().map(Card::identity), Some("alice"));
        }
    }

    #[test]
    fn failures_are_told_in_terms_of_keys_and_cards() {
        let (alice, bob, carol) = (key(), key(), key());
        let signed =
            |signer: Option<&Key>| encrypt(b"hi", signer, &[bob.public_key()], Format::Binary);
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

/// The two tiers follow one shape: the same recipients, the same sender rule, signed and
/// unsigned in both, and each tier's output opens with the other tier's reader.
#[cfg(test)]
mod tiers_agree {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::Buffer;
    use virgil_card::CardRequest;
    use virgil_crypto::PrivateKey;

    fn key() -> Key {
        Key::from_private_key(PrivateKey::generate().unwrap())
    }

    fn streamed(writer: Result<Encryptor<'_, Vec<u8>>, Error>, message: &[u8]) -> Vec<u8> {
        let mut writer = writer.unwrap();
        writer.write_all(message).unwrap();
        writer.finish().unwrap()
    }

    fn read_all(mut reader: Decryptor<'_, &[u8]>) -> Result<Vec<u8>, Error> {
        let mut plain = Vec::new();
        reader.copy_to(&mut plain)?;
        Ok(plain)
    }

    #[test]
    fn a_signed_message_reaches_its_sender_in_both_tiers_unless_told_not_to() {
        let (alice, bob) = (key(), key());
        let to = [CardRequest::new("bob", "chat").sign(&bob.private).unwrap()];
        let one_shot = alice.sign_then_encrypt(b"hi", &to).unwrap();
        let streaming = streamed(
            Encryptor::signed(Vec::new(), &alice, &to, Format::Binary),
            b"hi",
        );
        for cipher in [one_shot.as_bytes(), streaming.as_slice()] {
            let mut ids = recipients(cipher).unwrap();
            ids.sort();
            let mut expected = vec![*alice.public_key().key_id(), *bob.public_key().key_id()];
            expected.sort();
            assert_eq!(ids, expected);
            assert_eq!(alice.decrypt(cipher).unwrap().as_bytes(), b"hi");
        }
        let alice = alice.with_own_copy(false);
        let one_shot = alice.sign_then_encrypt(b"hi", &to).unwrap();
        let streaming = streamed(
            Encryptor::signed(Vec::new(), &alice, &to, Format::Binary),
            b"hi",
        );
        for cipher in [one_shot.as_bytes(), streaming.as_slice()] {
            assert_eq!(
                recipients(cipher).unwrap(),
                vec![*bob.public_key().key_id()]
            );
            assert!(matches!(
                alice.decrypt(cipher),
                Err(Error::NotForThisKey { .. })
            ));
        }
    }

    #[test]
    fn unsigned_messages_exist_in_both_tiers_and_reach_only_their_recipients() {
        let bob = key();
        let to = [bob.public_key()];
        let one_shot = crate::encrypt(b"tip", &to).unwrap();
        let streaming = streamed(
            Encryptor::unsigned(Vec::new(), &to, Format::Armored),
            b"tip",
        );
        for cipher in [one_shot.as_bytes(), streaming.as_slice()] {
            assert_eq!(
                recipients(cipher).unwrap(),
                vec![*bob.public_key().key_id()]
            );
            assert_eq!(
                read_all(Decryptor::unverified(cipher, &bob).unwrap()).unwrap(),
                b"tip"
            );
        }
        assert_eq!(bob.decrypt(&one_shot).unwrap().as_bytes(), b"tip");
        // Unsigned is refused where a sender is required, in both tiers.
        let card = CardRequest::new("alice", "chat")
            .sign(&key().private)
            .unwrap();
        assert!(matches!(
            bob.decrypt_then_verify(&one_shot, &card),
            Err(Error::NotSigned { .. })
        ));
        let senders = [card];
        assert!(matches!(
            read_all(Decryptor::verified(one_shot.as_bytes(), &bob, &senders).unwrap()),
            Err(Error::NotSigned { .. })
        ));
    }

    #[test]
    fn both_tiers_refuse_to_verify_against_no_cards() {
        let (alice, bob) = (key(), key());
        let cipher = alice
            .sign_then_encrypt(b"signed", &[bob.public_key()])
            .unwrap();
        let one_shot = bob.decrypt_then_verify_any(&cipher, &[]);
        let streamed = Decryptor::verified(cipher.as_bytes(), &bob, &[]).map(drop);
        for refused in [one_shot.err(), streamed.err()] {
            assert!(matches!(refused, Some(Error::NoSenderCards)), "{refused:?}");
        }
    }

    #[test]
    fn each_tier_reads_the_other_and_checks_the_same_policy() {
        let (alice, bob) = (key(), key());
        let alice_card = [CardRequest::new("alice", "chat")
            .sign(&alice.private)
            .unwrap()];
        let streamed_cipher = streamed(
            Encryptor::signed(Vec::new(), &alice, &[bob.public_key()], Format::Binary),
            b"both ways",
        );
        let opened = bob
            .decrypt_then_verify_any(&streamed_cipher, &alice_card)
            .unwrap();
        assert_eq!(opened.as_bytes(), b"both ways");
        let one_shot: Buffer = alice
            .sign_then_encrypt(b"both ways", &[bob.public_key()])
            .unwrap();
        let reader = Decryptor::verified(one_shot.as_bytes(), &bob, &alice_card).unwrap();
        assert_eq!(read_all(reader).unwrap(), b"both ways");

        let strict = key().with_recipient_policy(crate::RecipientPolicy::RequirePostQuantum);
        let classic = [bob.public_key()];
        let refused_one_shot = strict.sign_then_encrypt(b"x", &classic);
        let refused_stream = Encryptor::signed(Vec::new(), &strict, &classic, Format::Binary);
        for refused in [refused_one_shot.err(), refused_stream.err()] {
            assert!(
                matches!(refused, Some(Error::NotPostQuantum { .. })),
                "{refused:?}"
            );
        }
    }
}
