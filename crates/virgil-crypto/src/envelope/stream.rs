//! Streaming envelopes over `std::io`: memory stays bounded (about two chunks) for any
//! message size, and the ciphertext is identical in format to the one-shot functions'.
//!
//! Reading a signed message: plaintext is released as chunks authenticate, except the
//! last chunk, which is held back until the sender's signature has been verified. If
//! anything fails — a modified or truncated stream, an unknown sender, a bad signature —
//! `read` returns an error, never a clean end of file. Plaintext released before a
//! failure was authenticated by the content key (someone who could decrypt), but only
//! reaching end of file proves who the sender was.

use super::digest::IncrementalDigest;
use super::{
    CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, KIND_SIGNED, KIND_UNSIGNED, SIGNED_PREFIX_LEN, TAG_LEN,
    header, open_chunk, seal_chunk, signed_message,
};
use crate::key::{KEY_ID_LEN, KeyId, PrivateKey, PublicKey};
use crate::rng::{RandomSource, SystemRandom};
use crate::sign::{self, Context, SIGNATURE_LEN, Signature};
use crate::{Error, Misuse};
use ring::aead::LessSafeKey;
use std::io::{self, Read, Write};
use std::vec::Vec;

/// Encrypts (and optionally signs) everything written to it into `W`.
///
/// Call [`EncryptingWriter::finish`] at the end: without it the envelope is truncated
/// and every reader rejects it.
///
/// ```
/// use std::io::Write;
/// use virgil_crypto::{PrivateKey, envelope::stream::{EncryptingWriter, DecryptingReader}};
/// let alice = PrivateKey::generate()?;
/// let bob = PrivateKey::generate()?;
/// let mut writer = EncryptingWriter::signed(Vec::new(), &alice, &[bob.public_key()])?;
/// writer.write_all(b"a large file, in pieces")?;
/// let ciphertext = writer.finish()?;
///
/// let mut reader = DecryptingReader::verified(&ciphertext[..], &bob, &[alice.public_key()])?;
/// let mut plaintext = Vec::new();
/// std::io::Read::read_to_end(&mut reader, &mut plaintext)?;
/// assert_eq!(plaintext, b"a large file, in pieces");
/// assert_eq!(reader.sender(), Some(alice.key_id()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EncryptingWriter<'a, W: Write> {
    out: W,
    key: LessSafeKey,
    counter: u64,
    /// Pending bytes of `inner`, at most one chunk.
    chunk: Vec<u8>,
    signing: Option<(&'a PrivateKey, IncrementalDigest, [u8; 32])>,
}

impl<'a, W: Write> EncryptingWriter<'a, W> {
    /// A writer whose output is signed by `signer` and readable by `recipients`.
    pub fn signed(out: W, signer: &'a PrivateKey, recipients: &[&PublicKey]) -> io::Result<Self> {
        Self::with_rng(out, Some(signer), recipients, &mut SystemRandom::new())
    }

    /// A writer whose output is readable by `recipients` and not signed.
    pub fn unsigned(out: W, recipients: &[&PublicKey]) -> io::Result<Self> {
        Self::with_rng(out, None, recipients, &mut SystemRandom::new())
    }

    pub(crate) fn with_rng(
        mut out: W,
        signer: Option<&'a PrivateKey>,
        recipients: &[&PublicKey],
        rng: &mut dyn RandomSource,
    ) -> io::Result<Self> {
        let sealed = header::seal(recipients, rng)?;
        out.write_all(&sealed.bytes)?;
        let mut chunk = Vec::with_capacity(CHUNK_SIZE + TAG_LEN);
        let signing = match signer {
            Some(signer) => {
                chunk.push(KIND_SIGNED);
                chunk.extend_from_slice(signer.key_id().as_bytes());
                Some((signer, IncrementalDigest::new(), sealed.opened.header_hash))
            }
            None => {
                chunk.push(KIND_UNSIGNED);
                None
            }
        };
        Ok(Self {
            out,
            key: sealed.opened.payload_key,
            counter: 0,
            chunk,
            signing,
        })
    }

    /// Seals the pending (full) chunk as a non-last chunk and writes it.
    fn flush_chunk(&mut self, last: bool) -> io::Result<()> {
        let tag = seal_chunk(&self.key, self.counter, last, &mut self.chunk)?;
        self.chunk.extend_from_slice(tag.as_ref());
        self.out.write_all(&self.chunk)?;
        self.chunk.clear();
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or(Error::Misuse(Misuse::MessageTooLong))?;
        Ok(())
    }

    /// Appends bytes of `inner`, sealing full chunks only once more data follows them
    /// (the last chunk must be sealed with the last-chunk flag).
    fn push_inner(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.chunk.len() == CHUNK_SIZE {
                self.flush_chunk(false)?;
            }
            let take = (CHUNK_SIZE - self.chunk.len()).min(data.len());
            let (now, rest) = data.split_at(take);
            self.chunk.extend_from_slice(now);
            data = rest;
        }
        Ok(())
    }

    /// Signs (if signing), seals the last chunk and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some((signer, digest, header_hash)) = self.signing.take() {
            let message = signed_message(&header_hash, &digest.finalize());
            let signature = sign::sign(signer, Context::MESSAGE, &message);
            self.push_inner(signature.as_bytes())?;
        }
        self.flush_chunk(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for EncryptingWriter<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some((_, digest, _)) = self.signing.as_mut() {
            digest.update(data);
        }
        self.push_inner(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Pending bytes cannot be sealed before more data or `finish` says whether their
        // chunk is the last one; flush what is already sealed.
        self.out.flush()
    }
}

/// How a reader treats the sender's signature.
enum SenderCheck {
    /// Require a signature by one of these keys.
    Verify(Vec<PublicKey>),
    /// Ignore any signature.
    Ignore,
}

/// Decrypts an envelope read from `R`; see the module docs for when plaintext is
/// released.
pub struct DecryptingReader<R: Read> {
    input: R,
    key: LessSafeKey,
    header_hash: [u8; 32],
    check: SenderCheck,
    counter: u64,
    /// A byte read ahead to learn whether the previous chunk was the last.
    lookahead: Option<u8>,
    encrypted: Vec<u8>,
    /// Plaintext ready to be read, from `position` on.
    ready: Vec<u8>,
    position: usize,
    /// Signed messages: the last bytes seen, which may be the signature.
    held: Vec<u8>,
    /// `Some` once the first chunk has said whether the payload is signed.
    sender: Option<Option<KeyId>>,
    digest: IncrementalDigest,
    state: ReaderState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    Reading,
    Done,
    Failed(Error),
    FailedIo(io::ErrorKind),
}

impl<R: Read> DecryptingReader<R> {
    /// A reader that requires the message to be signed by one of `senders`.
    pub fn verified(input: R, key: &PrivateKey, senders: &[&PublicKey]) -> io::Result<Self> {
        let senders = senders.iter().map(|&sender| sender.clone()).collect();
        Self::new(input, key, SenderCheck::Verify(senders))
    }

    /// A reader that decrypts without checking who sent the message.
    pub fn unverified(input: R, key: &PrivateKey) -> io::Result<Self> {
        Self::new(input, key, SenderCheck::Ignore)
    }

    fn new(mut input: R, key: &PrivateKey, check: SenderCheck) -> io::Result<Self> {
        let mut fixed = [0u8; header::FIXED_LEN];
        read_exact_or(&mut input, &mut fixed, Error::Malformed)?;
        let count = header::parse_fixed(&fixed)?;
        // `count` ≤ MAX_RECIPIENTS, so this allocation is bounded (≈ 1.4 MiB).
        let mut header_bytes = fixed.to_vec();
        header_bytes.resize(header::FIXED_LEN + count * header::STANZA_LEN, 0);
        let (_, stanzas) = header_bytes.split_at_mut(header::FIXED_LEN);
        read_exact_or(&mut input, stanzas, Error::Malformed)?;
        let mut mac = [0u8; header::MAC_LEN];
        read_exact_or(&mut input, &mut mac, Error::Malformed)?;
        let opened = header::open(&header_bytes, &mac, key)?;
        Ok(Self {
            input,
            key: opened.payload_key,
            header_hash: opened.header_hash,
            check,
            counter: 0,
            lookahead: None,
            encrypted: Vec::with_capacity(ENCRYPTED_CHUNK_SIZE),
            ready: Vec::new(),
            position: 0,
            held: Vec::new(),
            sender: None,
            digest: IncrementalDigest::new(),
            state: ReaderState::Reading,
        })
    }

    /// The verified sender, once the whole message has been read without error (for a
    /// reader made with [`DecryptingReader::verified`]); `None` before that.
    pub fn sender(&self) -> Option<&KeyId> {
        match (&self.state, &self.check, &self.sender) {
            (ReaderState::Done, SenderCheck::Verify(_), Some(Some(sender))) => Some(sender),
            _ => None,
        }
    }

    /// Reads the next encrypted chunk into `self.encrypted`; returns whether it is last.
    fn read_chunk(&mut self) -> io::Result<bool> {
        self.encrypted.clear();
        if let Some(byte) = self.lookahead.take() {
            self.encrypted.push(byte);
        }
        let mut buffer = [0u8; 8192];
        while self.encrypted.len() < ENCRYPTED_CHUNK_SIZE {
            let want = (ENCRYPTED_CHUNK_SIZE - self.encrypted.len()).min(buffer.len());
            let (window, _) = buffer.split_at_mut(want);
            let n = read_some(&mut self.input, window)?;
            if n == 0 {
                break;
            }
            self.encrypted
                .extend_from_slice(window.get(..n).ok_or(Error::Corrupted)?);
        }
        if self.encrypted.len() < ENCRYPTED_CHUNK_SIZE {
            return Ok(true);
        }
        let mut byte = [0u8; 1];
        if read_some(&mut self.input, &mut byte)? == 0 {
            Ok(true)
        } else {
            self.lookahead = Some(byte[0]);
            Ok(false)
        }
    }

    /// Decrypts the next chunk and makes its plaintext ready (or holds it back).
    fn next_chunk(&mut self) -> io::Result<()> {
        let last = self.read_chunk()?;
        self.open_chunk(last)?;
        Ok(())
    }

    fn open_chunk(&mut self, last: bool) -> Result<(), Error> {
        if self.encrypted.len() <= TAG_LEN {
            return Err(Error::Corrupted);
        }
        let data_len = self.encrypted.len() - TAG_LEN;
        let (data, tag) = self.encrypted.split_at_mut(data_len);
        open_chunk(&self.key, self.counter, last, data, tag)?;
        self.counter = self.counter.checked_add(1).ok_or(Error::Corrupted)?;

        let mut plain: &[u8] = self.encrypted.get(..data_len).ok_or(Error::Corrupted)?;
        if self.sender.is_none() {
            let (sender, prefix_len) = match plain.first() {
                Some(&KIND_UNSIGNED) => (None, 1),
                Some(&KIND_SIGNED) => {
                    let id: [u8; KEY_ID_LEN] = plain
                        .get(1..SIGNED_PREFIX_LEN)
                        .and_then(|id| id.try_into().ok())
                        .ok_or(Error::Malformed)?;
                    (Some(KeyId::from_bytes(id)), SIGNED_PREFIX_LEN)
                }
                _ => return Err(Error::Malformed),
            };
            if let (SenderCheck::Verify(senders), sender) = (&self.check, sender) {
                let sender = sender.ok_or(Error::NotSigned)?;
                if !senders
                    .iter()
                    .any(|candidate| candidate.key_id() == &sender)
                {
                    return Err(Error::UnknownSender);
                }
            }
            self.sender = Some(sender);
            plain = plain.get(prefix_len..).ok_or(Error::Malformed)?;
        }

        self.ready.clear();
        self.position = 0;
        let signed = matches!(self.sender, Some(Some(_)));
        if !signed {
            self.ready.extend_from_slice(plain);
        } else {
            // Keep the last SIGNATURE_LEN bytes seen: they may be the signature.
            self.held.extend_from_slice(plain);
            let keep_from = self.held.len().saturating_sub(SIGNATURE_LEN);
            if last {
                if self.held.len() < SIGNATURE_LEN {
                    return Err(Error::Malformed);
                }
                let (_, tail) = self.held.split_at(keep_from);
                let signature = Signature::from_slice(tail)?;
                self.held.truncate(keep_from);
                self.digest.update(&self.held);
                self.verify(&signature)?;
            } else {
                let (release, _) = self.held.split_at(keep_from);
                self.ready.extend_from_slice(release);
                self.held.drain(..keep_from);
                self.digest.update(&self.ready);
            }
        }
        if last {
            // Release the held-back tail only now that everything has verified.
            self.ready.append(&mut self.held);
            self.state = ReaderState::Done;
        }
        Ok(())
    }

    fn verify(&mut self, signature: &Signature) -> Result<(), Error> {
        let SenderCheck::Verify(senders) = &self.check else {
            return Ok(());
        };
        let sender_id = self.sender.flatten().ok_or(Error::NotSigned)?;
        let sender = senders
            .iter()
            .find(|candidate| candidate.key_id() == &sender_id)
            .ok_or(Error::UnknownSender)?;
        let digest = core::mem::replace(&mut self.digest, IncrementalDigest::new()).finalize();
        sign::verify(
            sender,
            Context::MESSAGE,
            &signed_message(&self.header_hash, &digest),
            signature,
        )
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.position < self.ready.len() {
                let (_, available) = self.ready.split_at(self.position);
                let n = available.len().min(out.len());
                let (target, _) = out.split_at_mut(n);
                let (source, _) = available.split_at(n);
                target.copy_from_slice(source);
                self.position += n;
                return Ok(n);
            }
            match self.state {
                ReaderState::Done => return Ok(0),
                ReaderState::Failed(error) => return Err(error.into()),
                ReaderState::FailedIo(kind) => return Err(kind.into()),
                ReaderState::Reading => {
                    if let Err(error) = self.next_chunk() {
                        // Failures are sticky: a reader never resumes after one.
                        self.ready.clear();
                        self.held.clear();
                        self.state = match error.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
                            Some(crypto) => ReaderState::Failed(*crypto),
                            None => ReaderState::FailedIo(error.kind()),
                        };
                        return Err(error);
                    }
                }
            }
        }
    }
}

/// `read`, retrying on `Interrupted`; other I/O errors pass through unchanged.
fn read_some(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buffer) {
            Ok(n) => return Ok(n),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
}

fn read_exact_or(input: &mut impl Read, buffer: &mut [u8], short: Error) -> io::Result<()> {
    match input.read_exact(buffer) {
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Err(short.into()),
        other => other,
    }
}
