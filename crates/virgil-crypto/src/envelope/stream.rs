//! Streaming envelopes over `std::io`: memory stays bounded (about two chunks) for any
//! message size, and the ciphertext is identical in format to the one-shot functions'.
//!
//! Reading a signed message: plaintext is released as chunks authenticate, except the
//! last chunk, which is held back until the sender's signature has been verified. If
//! anything fails — a modified or truncated stream, an unknown sender, a bad signature —
//! `read` returns an error, never a clean end of file. Plaintext released before a
//! failure was authenticated by the content key (someone who could decrypt), but only
//! reaching end of file proves who the sender was.
//!
//! Errors come in the order of `docs/format.md` §4.6, the same as the one-shot
//! functions': what the first chunk says about the sender (*not signed*, *unknown
//! sender*, a bad kind byte) is reported only once every chunk has authenticated, so a
//! stream that is also modified further on is *corrupted*. No plaintext is released
//! from such a message.

use super::digest::IncrementalDigest;
use super::{
    CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, KIND_SIGNED, KIND_UNSIGNED, SIGNED_PREFIX_LEN, TAG_LEN,
    header, open_chunk, seal_chunk, signed_message,
};
use crate::backend::AeadKey;
use crate::key::{KEY_ID_LEN, KeyId, PrivateKey, PublicKey};
use crate::rng::{RandomSource, SystemRandom};
use crate::sign::{self, Context, SIGNATURE_LEN, Signature};
use crate::{Error, Misuse};
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
    key: AeadKey,
    counter: u64,
    /// Pending bytes of `inner`, at most one chunk.
    chunk: Vec<u8>,
    signing: Option<(&'a PrivateKey, IncrementalDigest, [u8; 32])>,
    /// Set when a write to `out` failed: the envelope is then incomplete for good.
    failed: bool,
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
            failed: false,
        })
    }

    fn check_not_failed(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(
                "an earlier write of this envelope failed; start a new one",
            ));
        }
        Ok(())
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
    /// (the last chunk must be sealed with the last-chunk flag). With `hash`, the bytes
    /// are plaintext and are hashed from the chunk buffer right after they are copied
    /// there, while they are in cache (one pass over the caller's data, not two).
    fn push_inner(&mut self, mut data: &[u8], hash: bool) -> io::Result<()> {
        while !data.is_empty() {
            if self.chunk.len() == CHUNK_SIZE {
                self.flush_chunk(false)?;
            }
            let take = (CHUNK_SIZE - self.chunk.len()).min(data.len());
            let (now, rest) = data.split_at(take);
            let start = self.chunk.len();
            self.chunk.extend_from_slice(now);
            if let (true, Some((_, digest, _))) = (hash, self.signing.as_mut()) {
                digest.update(self.chunk.get(start..).unwrap_or_default());
            }
            data = rest;
        }
        Ok(())
    }

    /// Signs (if signing), seals the last chunk and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.check_not_failed()?;
        if let Some((signer, digest, header_hash)) = self.signing.take() {
            let message = signed_message(&header_hash, &digest.finalize());
            let signature = sign::sign(signer, Context::MESSAGE, &message);
            self.push_inner(signature.as_bytes(), false)?;
        }
        self.flush_chunk(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for EncryptingWriter<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_not_failed()?;
        // Once part of `data` is hashed and buffered, a failure cannot be retried
        // cleanly, so the writer refuses all further use.
        self.push_inner(data, true)
            .inspect_err(|_| self.failed = true)?;
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

impl SenderCheck {
    fn verify(senders: &[&PublicKey]) -> Self {
        Self::Verify(senders.iter().map(|&sender| sender.clone()).collect())
    }
}

/// Decrypts an envelope read from `R`; see the module docs for when plaintext is
/// released.
///
/// Each chunk is read into one buffer and decrypted in place; plaintext is served from
/// there. Of a signed message, the last 64 bytes seen so far may be the signature, so
/// they are held back and carried over (copied) to be served before the next chunk.
pub struct DecryptingReader<R: Read> {
    input: R,
    key: AeadKey,
    header_hash: [u8; 32],
    check: SenderCheck,
    counter: u64,
    /// A byte read ahead to learn whether the previous chunk was the last.
    lookahead: Option<u8>,
    /// One encrypted chunk (always `ENCRYPTED_CHUNK_SIZE` long); decrypted in place.
    chunk: Vec<u8>,
    /// Plaintext in `chunk` to serve: `serve..serve_end`; `held..plain_end` is held back.
    serve: usize,
    serve_end: usize,
    held: usize,
    plain_end: usize,
    /// Held-back bytes of the previous chunk, served before `chunk`: `carry[carry_pos..carry_len]`.
    carry: [u8; SIGNATURE_LEN],
    carry_pos: usize,
    carry_len: usize,
    /// `Some` once the first chunk has said whether the payload is signed.
    sender: Option<Option<KeyId>>,
    /// What the first chunk said is wrong with the sender (§4.5, §4.6), reported once
    /// the last chunk has authenticated; nothing is served meanwhile.
    deferred: Option<Error>,
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
        Self::new(input, key, SenderCheck::verify(senders))
    }

    /// A reader that decrypts without checking who sent the message.
    pub fn unverified(input: R, key: &PrivateKey) -> io::Result<Self> {
        Self::new(input, key, SenderCheck::Ignore)
    }

    fn new(mut input: R, key: &PrivateKey, check: SenderCheck) -> io::Result<Self> {
        let mut fixed = [0u8; header::FIXED_LEN];
        read_exact_or(&mut input, &mut fixed, Error::Malformed)?;
        let layout = header::parse_fixed(&fixed)?;
        // At most MAX_RECIPIENTS stanzas of at most MAX_STANZA_LEN bytes (≈ 12 MiB), and
        // never more than was actually read.
        let mut header_bytes = fixed.to_vec();
        for _ in 0..layout.count {
            let start = header_bytes.len();
            let mut first = [0u8; 1];
            read_exact_or(&mut input, &mut first, Error::Malformed)?;
            let (_, len) = layout.stanza(first[0])?;
            header_bytes.push(first[0]);
            header_bytes.resize(start + len, 0);
            let rest = header_bytes.get_mut(start + 1..).ok_or(Error::Malformed)?;
            read_exact_or(&mut input, rest, Error::Malformed)?;
        }
        let mut mac = [0u8; header::MAC_LEN];
        read_exact_or(&mut input, &mut mac, Error::Malformed)?;
        let opened = header::open(&header_bytes, &mac, key)?;
        Ok(Self::after_header(input, opened, check))
    }

    /// A reader past an already opened header (the testing sealer's shortcut around
    /// HPKE): `input` starts with the payload; `senders: None` reads unverified.
    #[cfg(feature = "test-util")]
    pub(crate) fn from_opened(
        input: R,
        opened: header::Opened,
        senders: Option<&[&PublicKey]>,
    ) -> Self {
        let check = senders.map_or(SenderCheck::Ignore, SenderCheck::verify);
        Self::after_header(input, opened, check)
    }

    fn after_header(input: R, opened: header::Opened, check: SenderCheck) -> Self {
        Self {
            input,
            key: opened.payload_key,
            header_hash: opened.header_hash,
            check,
            counter: 0,
            lookahead: None,
            chunk: std::vec![0; ENCRYPTED_CHUNK_SIZE],
            serve: 0,
            serve_end: 0,
            held: 0,
            plain_end: 0,
            carry: [0; SIGNATURE_LEN],
            carry_pos: 0,
            carry_len: 0,
            sender: None,
            deferred: None,
            digest: IncrementalDigest::new(),
            state: ReaderState::Reading,
        }
    }

    /// The verified sender, once the whole message has been read without error (for a
    /// reader made with [`DecryptingReader::verified`]); `None` before that.
    pub fn sender(&self) -> Option<&KeyId> {
        match (&self.state, &self.check, &self.sender) {
            (ReaderState::Done, SenderCheck::Verify(_), Some(Some(sender))) => Some(sender),
            _ => None,
        }
    }

    /// Reads the next encrypted chunk into `self.chunk`; returns its length and whether
    /// it is the last one.
    fn read_chunk(&mut self) -> io::Result<(usize, bool)> {
        let mut filled = 0;
        if let (Some(byte), Some(first)) = (self.lookahead.take(), self.chunk.first_mut()) {
            *first = byte;
            filled = 1;
        }
        while let Some(window) = self.chunk.get_mut(filled..).filter(|w| !w.is_empty()) {
            let n = read_some(&mut self.input, window)?;
            if n == 0 {
                return Ok((filled, true));
            }
            filled += n;
        }
        let mut byte = [0u8; 1];
        if read_some(&mut self.input, &mut byte)? == 0 {
            Ok((filled, true))
        } else {
            self.lookahead = Some(byte[0]);
            Ok((filled, false))
        }
    }

    /// Decrypts the next chunk and sets up what to serve (and what to hold back).
    fn next_chunk(&mut self) -> io::Result<()> {
        // The bytes held back from the previous chunk are released with this one.
        let held = self
            .chunk
            .get(self.held..self.plain_end)
            .unwrap_or_default();
        let carry = self.carry.get_mut(..held.len()).ok_or(Error::Malformed)?;
        carry.copy_from_slice(held);
        self.carry_len = held.len();
        self.carry_pos = 0;
        (self.serve, self.serve_end, self.held, self.plain_end) = (0, 0, 0, 0);

        let (len, last) = self.read_chunk()?;
        self.open_chunk(len, last)?;
        Ok(())
    }

    fn open_chunk(&mut self, len: usize, last: bool) -> Result<(), Error> {
        let data_len = len
            .checked_sub(TAG_LEN)
            .filter(|&n| n > 0)
            .ok_or(Error::Corrupted)?;
        let encrypted = self.chunk.get_mut(..len).ok_or(Error::Corrupted)?;
        let (data, tag) = encrypted.split_at_mut(data_len);
        open_chunk(&self.key, self.counter, last, data, tag)?;
        self.counter = self.counter.checked_add(1).ok_or(Error::Corrupted)?;
        let plain: &[u8] = data;

        let mut start = 0;
        if self.sender.is_none() && self.deferred.is_none() {
            match read_sender(plain, last, &self.check) {
                Ok((sender, prefix_len)) => {
                    self.sender = Some(sender);
                    start = prefix_len;
                }
                Err(error) => self.deferred = Some(error),
            }
        }
        if let Some(error) = self.deferred {
            // Authenticate the rest of the stream before saying what is wrong with the
            // sender, and serve nothing of it.
            if last {
                return Err(error);
            }
            (self.serve, self.serve_end, self.held, self.plain_end) = (0, 0, 0, 0);
            return Ok(());
        }
        if start > data_len {
            return Err(Error::Malformed);
        }

        let signed = matches!(self.sender, Some(Some(_)));
        if !signed {
            (self.serve, self.serve_end, self.held, self.plain_end) =
                (start, data_len, data_len, data_len);
        } else if !last {
            // Hold back the last 64 bytes (a non-last chunk is 64 KiB, so they exist).
            let held = data_len.saturating_sub(SIGNATURE_LEN).max(start);
            (self.serve, self.serve_end, self.held, self.plain_end) = (start, held, held, data_len);
            let carry = self.carry.get(..self.carry_len).unwrap_or_default();
            self.digest.update(carry);
            self.digest
                .update(plain.get(start..held).unwrap_or_default());
        } else {
            // The signature is the last 64 bytes of carry ‖ plain[start..].
            let body = plain.get(start..).unwrap_or_default();
            let mut signature = [0u8; SIGNATURE_LEN];
            let from_body = body.len().min(SIGNATURE_LEN);
            let from_carry = SIGNATURE_LEN - from_body;
            if from_carry > self.carry_len {
                return Err(Error::Malformed);
            }
            let carry_keep = self.carry_len - from_carry;
            let (sig_carry, sig_body) = signature.split_at_mut(from_carry);
            sig_carry.copy_from_slice(
                self.carry
                    .get(carry_keep..self.carry_len)
                    .unwrap_or_default(),
            );
            sig_body.copy_from_slice(body.get(body.len() - from_body..).unwrap_or_default());
            self.carry_len = carry_keep;
            let body_end = data_len - from_body;
            self.digest
                .update(self.carry.get(..carry_keep).unwrap_or_default());
            self.digest
                .update(plain.get(start..body_end).unwrap_or_default());
            // Nothing of the last chunk is served before the signature verifies.
            self.verify(&Signature::from_bytes(signature))?;
            (self.serve, self.serve_end, self.held, self.plain_end) =
                (start, body_end, body_end, body_end);
        }
        if last {
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

    /// Copies ready plaintext into `out`: first the carried-over bytes, then the chunk's.
    fn serve_into(&mut self, out: &mut [u8]) -> usize {
        let source = if self.carry_pos < self.carry_len {
            let source = self
                .carry
                .get(self.carry_pos..self.carry_len)
                .unwrap_or_default();
            let n = source.len().min(out.len());
            self.carry_pos += n;
            source.get(..n).unwrap_or_default()
        } else {
            let source = self
                .chunk
                .get(self.serve..self.serve_end)
                .unwrap_or_default();
            let n = source.len().min(out.len());
            self.serve += n;
            source.get(..n).unwrap_or_default()
        };
        let n = source.len();
        if let Some(target) = out.get_mut(..n) {
            target.copy_from_slice(source);
        }
        n
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let served = self.serve_into(out);
            if served > 0 {
                return Ok(served);
            }
            match self.state {
                ReaderState::Done => return Ok(0),
                ReaderState::Failed(error) => return Err(error.into()),
                ReaderState::FailedIo(kind) => return Err(kind.into()),
                ReaderState::Reading => {
                    if let Err(error) = self.next_chunk() {
                        // Failures are sticky: a reader never resumes after one.
                        (self.serve, self.serve_end, self.carry_len) = (0, 0, 0);
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

/// The sender a first chunk names (`None`: unsigned) and the length of its prefix, or
/// what is wrong with it for this reader, in the order of §4.5 then §4.6.
fn read_sender(
    plain: &[u8],
    last: bool,
    check: &SenderCheck,
) -> Result<(Option<KeyId>, usize), Error> {
    let (sender, prefix_len) = match plain.first() {
        Some(&KIND_UNSIGNED) => (None, 1),
        // A signed `inner` holds at least its prefix and signature (a chunk that is not
        // the last is full, hence long enough).
        Some(&KIND_SIGNED) if last && plain.len() < SIGNED_PREFIX_LEN + SIGNATURE_LEN => {
            return Err(Error::Malformed);
        }
        Some(&KIND_SIGNED) => {
            let id: [u8; KEY_ID_LEN] = plain
                .get(1..SIGNED_PREFIX_LEN)
                .and_then(|id| id.try_into().ok())
                .ok_or(Error::Malformed)?;
            (Some(KeyId::from_bytes(id)), SIGNED_PREFIX_LEN)
        }
        _ => return Err(Error::Malformed),
    };
    if let SenderCheck::Verify(senders) = check {
        let sender = sender.ok_or(Error::NotSigned)?;
        if !senders
            .iter()
            .any(|candidate| candidate.key_id() == &sender)
        {
            return Err(Error::UnknownSender);
        }
    }
    Ok((sender, prefix_len))
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
