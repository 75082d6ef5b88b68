//! The multi-recipient, signed envelope: the ciphertext of `sign_then_encrypt`.
//!
//! Layout (every byte is specified in `docs/format.md`, "Envelope"):
//!
//! ```text
//! envelope = header ‖ mac[32] ‖ payload
//! payload  = STREAM(AES-256-GCM, payload_key, inner), 64 KiB chunks, each ‖ tag[16]
//! inner    = 0x00 ‖ plaintext                                   (unsigned)
//!          | 0x01 ‖ sender_key_id[32] ‖ plaintext ‖ signature[64] (signed)
//! signature = Ed25519 over context "virgil/message", header_hash ‖ digest(plaintext)
//! ```
//!
//! A fresh random content key is sealed to each recipient with HPKE; the recipient's key
//! id is in the clear next to its stanza, so opening costs one HPKE open whatever the
//! number of recipients. The sender's identity and signature are inside the encrypted
//! payload. The signature covers the header, hence the recipient list, so a recipient
//! cannot forward the signed message to a third party as if it had been addressed to them.
//!
//! One-shot functions live here; streaming types are in [`stream`] (feature `std`).

pub(crate) mod digest;
pub(crate) mod header;
#[cfg(feature = "std")]
pub mod stream;

use crate::backend::{AEAD_NONCE_LEN, AEAD_TAG_LEN, AeadKey};
use crate::key::{KEY_ID_LEN, KeyId, PrivateKey, PublicKey};
use crate::rng::{RandomSource, SystemRandom};
use crate::sign::{self, Context, SIGNATURE_LEN, Signature};
use crate::{Error, Misuse};
use alloc::vec;
use alloc::vec::Vec;

/// Bytes of `inner` per payload chunk (fixed by format version 1).
pub const CHUNK_SIZE: usize = 64 * 1024;
/// The most recipients one envelope may have.
pub const MAX_RECIPIENTS: usize = 10_000;

const TAG_LEN: usize = AEAD_TAG_LEN;
const ENCRYPTED_CHUNK_SIZE: usize = CHUNK_SIZE + TAG_LEN;
const KIND_UNSIGNED: u8 = 0x00;
pub(crate) const KIND_SIGNED: u8 = 0x01;
pub(crate) const SIGNED_PREFIX_LEN: usize = 1 + KEY_ID_LEN;

/// The largest header an envelope can have (format.md §4.1: 26 bytes and at most 1201
/// per recipient, at most [`MAX_RECIPIENTS`]), so a reader of [`recipients`] knows how
/// much to read at most.
pub const MAX_HEADER_LEN: usize = header::FIXED_LEN + header::MAX_STANZA_LEN * MAX_RECIPIENTS;

/// The key ids of an envelope's recipients, in header order, read from the start of
/// the envelope (`start`: at least its header; more is ignored) without decrypting
/// anything: which of several keys can open it. *Malformed* or *unsupported version*
/// as for decryption.
pub fn recipients(start: &[u8]) -> Result<Vec<KeyId>, Error> {
    Ok(recipient_suites(start)?
        .into_iter()
        .map(|(key_id, _)| key_id)
        .collect())
}

/// The key id and suite of each recipient, as [`recipients`].
pub fn recipient_suites(start: &[u8]) -> Result<Vec<(KeyId, crate::Suite)>, Error> {
    let header = header_of(start)?;
    Ok(header::stanzas(header)?
        .iter()
        .filter_map(|stanza| {
            let id = <[u8; KEY_ID_LEN]>::try_from(stanza.key_id).ok()?;
            Some((KeyId::from_bytes(id), stanza.kind))
        })
        .collect())
}

/// The header (fixed part and stanzas) at the start of `start`.
fn header_of(start: &[u8]) -> Result<&[u8], Error> {
    let fixed: &[u8; header::FIXED_LEN] = start
        .get(..header::FIXED_LEN)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Error::Malformed)?;
    let header_len = header::parse_fixed(fixed)?.header_len(start)?;
    start.get(..header_len).ok_or(Error::Malformed)
}

/// The STREAM nonce of chunk `counter`: 11-byte big-endian counter ‖ last-chunk flag.
fn chunk_nonce(counter: u64, last: bool) -> [u8; AEAD_NONCE_LEN] {
    let mut nonce = [0u8; AEAD_NONCE_LEN];
    nonce[3..11].copy_from_slice(&counter.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

fn seal_chunk(
    key: &AeadKey,
    counter: u64,
    last: bool,
    data: &mut [u8],
) -> Result<[u8; TAG_LEN], Error> {
    key.seal_separate_tag(chunk_nonce(counter, last), &[], data)
        .map_err(|_| Error::Misuse(Misuse::MessageTooLong))
}

fn open_chunk(
    key: &AeadKey,
    counter: u64,
    last: bool,
    data: &mut [u8],
    tag: &[u8],
) -> Result<(), Error> {
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| Error::Corrupted)?;
    key.open_separate_tag(chunk_nonce(counter, last), &[], data, tag)
        .map_err(|_| Error::Corrupted)
}

/// The bytes the sender signs: header_hash ‖ digest(plaintext).
pub(crate) fn signed_message(header_hash: &[u8; 32], plaintext_digest: &[u8; 32]) -> [u8; 64] {
    let mut message = [0u8; 64];
    message[..32].copy_from_slice(header_hash);
    message[32..].copy_from_slice(plaintext_digest);
    message
}

/// A decrypted message whose signature has been verified.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The key id of the sender, one of the candidate senders given.
    pub sender: KeyId,
}

impl core::fmt::Debug for Verified {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verified")
            .field("plaintext_len", &self.plaintext.len())
            .field("sender", &self.sender)
            .finish()
    }
}

/// `inner` as three pieces, copied into chunks without building it in memory.
struct Inner<'a> {
    pieces: [&'a [u8]; 3],
}

impl Inner<'_> {
    /// Copies `inner[offset .. offset + out.len()]` into `out`.
    fn copy_to(&self, mut offset: usize, mut out: &mut [u8]) {
        for piece in self.pieces {
            if out.is_empty() {
                return;
            }
            if offset >= piece.len() {
                offset -= piece.len();
                continue;
            }
            let available = piece.get(offset..).unwrap_or_default();
            let take = available.len().min(out.len());
            let (now, rest) = core::mem::take(&mut out).split_at_mut(take);
            now.copy_from_slice(available.get(..take).unwrap_or_default());
            out = rest;
            offset = 0;
        }
    }
}

/// Signs `plaintext` with `signer` and encrypts it for every recipient.
///
/// Include the sender's own public key among the recipients if the sender must be able
/// to read the message later. Recipients with the same key id are deduplicated.
///
/// ```
/// use virgil_crypto::{PrivateKey, envelope};
/// let alice = PrivateKey::generate()?;
/// let bob = PrivateKey::generate()?;
/// let ciphertext = envelope::sign_then_encrypt(b"Hey Bob", &alice, &[bob.public_key()])?;
/// let message = envelope::decrypt_then_verify(&ciphertext, &bob, &[alice.public_key()])?;
/// assert_eq!(message.plaintext, b"Hey Bob");
/// assert_eq!(&message.sender, alice.key_id());
/// # Ok::<(), virgil_crypto::Error>(())
/// ```
pub fn sign_then_encrypt(
    plaintext: &[u8],
    signer: &PrivateKey,
    recipients: &[&PublicKey],
) -> Result<Vec<u8>, Error> {
    seal(
        plaintext,
        Some(signer),
        recipients,
        &mut SystemRandom::new(),
    )
}

/// Encrypts `plaintext` for every recipient without signing it: recipients learn nothing
/// about who sent it. Prefer [`sign_then_encrypt`] whenever the sender has a key.
pub fn encrypt(plaintext: &[u8], recipients: &[&PublicKey]) -> Result<Vec<u8>, Error> {
    seal(plaintext, None, recipients, &mut SystemRandom::new())
}

/// [`sign_then_encrypt`] into `out`, replacing what it held and reusing its memory: a
/// caller that encrypts repeatedly with the same `Vec` pays for fresh pages once, not per
/// message (at 64 MiB, faulting in fresh memory costs more than the cryptography). There
/// is no need to clear `out` first; on error it is left empty.
///
/// ```
/// use virgil_crypto::{PrivateKey, envelope};
/// let (alice, bob) = (PrivateKey::generate()?, PrivateKey::generate()?);
/// let (mut ciphertext, mut plaintext) = (Vec::new(), Vec::new());
/// for message in [&b"first"[..], b"second"] {
///     envelope::sign_then_encrypt_into(message, &alice, &[bob.public_key()], &mut ciphertext)?;
///     let sender = envelope::decrypt_then_verify_into(&ciphertext, &bob, &[alice.public_key()], &mut plaintext)?;
///     assert_eq!((plaintext.as_slice(), &sender), (message, alice.key_id()));
/// }
/// # Ok::<(), virgil_crypto::Error>(())
/// ```
pub fn sign_then_encrypt_into(
    plaintext: &[u8],
    signer: &PrivateKey,
    recipients: &[&PublicKey],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    seal_into(
        plaintext,
        Some(signer),
        recipients,
        &mut SystemRandom::new(),
        out,
    )
}

/// [`encrypt`] into `out`, reusing its memory as [`sign_then_encrypt_into`] does.
pub fn encrypt_into(
    plaintext: &[u8],
    recipients: &[&PublicKey],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    seal_into(plaintext, None, recipients, &mut SystemRandom::new(), out)
}

/// Decrypts an envelope with `key` and verifies that one of `senders` signed it.
///
/// Errors: [`Error::NotARecipient`] (not encrypted for `key`), [`Error::Corrupted`]
/// (modified or truncated), [`Error::NotSigned`], [`Error::UnknownSender`] (signed by a
/// key not in `senders`), [`Error::BadSignature`], [`Error::Malformed`],
/// [`Error::UnsupportedVersion`]. No plaintext is returned unless everything checks out.
pub fn decrypt_then_verify(
    ciphertext: &[u8],
    key: &PrivateKey,
    senders: &[&PublicKey],
) -> Result<Verified, Error> {
    let mut plaintext = Vec::new();
    let sender = decrypt_then_verify_into(ciphertext, key, senders, &mut plaintext)?;
    Ok(Verified { plaintext, sender })
}

/// [`decrypt_then_verify`] into `out`, replacing what it held and reusing its memory
/// (see [`sign_then_encrypt_into`]); returns the sender. On any error `out` is left
/// empty, its memory zeroed: no plaintext is released unless everything checks out.
pub fn decrypt_then_verify_into(
    ciphertext: &[u8],
    key: &PrivateKey,
    senders: &[&PublicKey],
    out: &mut Vec<u8>,
) -> Result<KeyId, Error> {
    let verified =
        open_into(ciphertext, key, true, out).and_then(|opened| verify_opened(opened, senders));
    if verified.is_err() {
        zeroize::Zeroize::zeroize(out);
    }
    verified
}

/// The signature check of §4.6 on a decrypted payload: the sender, or why not.
fn verify_opened(opened: Opened, senders: &[&PublicKey]) -> Result<KeyId, Error> {
    let (sender_id, signature) = opened.signature.ok_or(Error::NotSigned)?;
    let sender = senders
        .iter()
        .find(|candidate| candidate.key_id() == &sender_id)
        .ok_or(Error::UnknownSender)?;
    let digest = opened.digest.ok_or(Error::Malformed)?;
    sign::verify(
        sender,
        Context::MESSAGE,
        &signed_message(&opened.header_hash, &digest),
        &signature,
    )?;
    Ok(sender_id)
}

/// [`decrypt_then_verify_into`] past an already opened header (the testing sealer's
/// shortcut around HPKE); same result for an envelope made under that header.
#[cfg(any(test, feature = "test-util"))]
pub(crate) fn decrypt_then_verify_opened(
    opened: &header::Opened,
    ciphertext: &[u8],
    senders: &[&PublicKey],
) -> Result<Vec<u8>, Error> {
    let payload = split(ciphertext)?.payload;
    let mut out = Vec::new();
    open_payload(opened, payload, true, &mut out)
        .and_then(|opened| verify_opened(opened, senders))?;
    Ok(out)
}

/// [`decrypt`] past an already opened header (see [`decrypt_then_verify_opened`]).
#[cfg(any(test, feature = "test-util"))]
pub(crate) fn decrypt_opened(opened: &header::Opened, ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
    let payload = split(ciphertext)?.payload;
    let mut out = Vec::new();
    open_payload(opened, payload, false, &mut out)?;
    Ok(out)
}

/// Decrypts an envelope with `key` without checking who sent it. A signature, if the
/// message has one, is ignored: use [`decrypt_then_verify`] to check it.
pub fn decrypt(ciphertext: &[u8], key: &PrivateKey) -> Result<Vec<u8>, Error> {
    let mut plaintext = Vec::new();
    decrypt_into(ciphertext, key, &mut plaintext)?;
    Ok(plaintext)
}

/// [`decrypt`] into `out`, reusing its memory (see [`sign_then_encrypt_into`]). On any
/// error `out` is left empty, its memory zeroed.
pub fn decrypt_into(ciphertext: &[u8], key: &PrivateKey, out: &mut Vec<u8>) -> Result<(), Error> {
    let opened = open_into(ciphertext, key, false, out).map(|_| ());
    if opened.is_err() {
        zeroize::Zeroize::zeroize(out);
    }
    opened
}

/// Makes `out` exactly `len` bytes long for a writer that overwrites every byte, at the
/// least cost: a buffer already long enough is truncated (its bytes are all rewritten),
/// one with the capacity grows in place, and otherwise a fresh zeroed allocation (whose
/// pages the OS maps lazily) replaces it.
fn prepare(out: &mut Vec<u8>, len: usize) {
    if out.len() >= len {
        out.truncate(len);
    } else if out.capacity() >= len {
        out.resize(len, 0);
    } else {
        *out = vec![0u8; len];
    }
}

/// Like [`sign_then_encrypt`]/[`encrypt`] with a caller-chosen generator (test vectors).
pub(crate) fn seal(
    plaintext: &[u8],
    signer: Option<&PrivateKey>,
    recipients: &[&PublicKey],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    seal_into(plaintext, signer, recipients, rng, &mut out)?;
    Ok(out)
}

/// Leaves `out` empty on error.
fn seal_into(
    plaintext: &[u8],
    signer: Option<&PrivateKey>,
    recipients: &[&PublicKey],
    rng: &mut dyn RandomSource,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let header = header::seal(recipients, rng).inspect_err(|_| out.clear())?;
    let mut prefix = [0u8; SIGNED_PREFIX_LEN];
    let prefix: &[u8] = match signer {
        Some(signer) => {
            prefix[0] = KIND_SIGNED;
            prefix[1..].copy_from_slice(signer.key_id().as_bytes());
            &prefix
        }
        None => &prefix[..1],
    };
    write_envelope(&header, prefix, plaintext, signer, out)
}

/// Writes `header ‖ mac ‖ STREAM(prefix ‖ plaintext ‖ signature)` into `out` (the
/// signature only with a signer), reusing its memory (`out` keeps its length until
/// `prepare`, so it is not refilled first). Leaves `out` empty on error.
fn write_envelope(
    header: &header::SealedHeader,
    prefix: &[u8],
    plaintext: &[u8],
    signer: Option<&PrivateKey>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let suffix_len = if signer.is_some() { SIGNATURE_LEN } else { 0 };
    let inner_len = prefix.len() + plaintext.len() + suffix_len;
    let chunks = inner_len.div_ceil(CHUNK_SIZE);
    let payload_len = inner_len.checked_add(chunks * TAG_LEN).ok_or_else(|| {
        out.clear();
        Misuse::MessageTooLong
    })?;
    let header_len = header.bytes.len();
    prepare(out, header_len + payload_len);
    let (head, payload) = out.split_at_mut(header_len);
    head.copy_from_slice(&header.bytes);
    let writer = PayloadWriter {
        key: &header.opened.payload_key,
        header_hash: &header.opened.header_hash,
        prefix,
        plaintext,
        signer,
        chunks,
    };
    let written = writer.write(payload);
    if written.is_err() {
        out.clear();
    }
    written
}

/// Seals `inner` as it is — any bytes, well-formed or not (§4.3) — under an already
/// sealed header: the testing feature's way to reach what lies behind the MACs.
#[cfg(any(test, feature = "test-util"))]
pub(crate) fn seal_inner(header: &header::SealedHeader, inner: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write_envelope(header, inner, &[], None, &mut out)?;
    Ok(out)
}

/// Fills a payload buffer: copies `inner` chunk by chunk and seals each in place.
struct PayloadWriter<'a> {
    key: &'a AeadKey,
    header_hash: &'a [u8; 32],
    prefix: &'a [u8],
    plaintext: &'a [u8],
    signer: Option<&'a PrivateKey>,
    chunks: usize,
}

impl PayloadWriter<'_> {
    fn sign(&self, signer: &PrivateKey, digest: &[u8; 32]) -> Signature {
        sign::sign(
            signer,
            Context::MESSAGE,
            &signed_message(self.header_hash, digest),
        )
    }

    /// Copies `inner[offset ..]` into `data` and seals it as chunk `index`.
    fn seal_one(&self, index: usize, chunk: &mut [u8], signature: &[u8]) -> Result<(), Error> {
        let data_len = chunk.len() - TAG_LEN;
        let (data, tag) = chunk.split_at_mut(data_len);
        Inner {
            pieces: [self.prefix, self.plaintext, signature],
        }
        .copy_to(index * CHUNK_SIZE, data);
        let sealed = seal_chunk(self.key, index as u64, index + 1 == self.chunks, data)?;
        tag.copy_from_slice(sealed.as_ref());
        Ok(())
    }

    /// All cores: hash the plaintext (BLAKE3 over rayon), sign, then seal chunks in
    /// parallel.
    #[cfg(feature = "parallel")]
    fn write(&self, payload: &mut [u8]) -> Result<(), Error> {
        use rayon::prelude::*;
        let signature = self
            .signer
            .map(|signer| self.sign(signer, &digest::digest(self.plaintext)));
        let signature: &[u8] = signature.as_ref().map_or(&[], |s| s.as_bytes());
        payload
            .par_chunks_mut(ENCRYPTED_CHUNK_SIZE)
            .enumerate()
            .try_for_each(|(index, chunk)| self.seal_one(index, chunk, signature))
    }

    /// One core, one pass: each chunk's plaintext is hashed right after it is copied,
    /// while it is still in cache, and sealed right after. The signature is made when
    /// the first chunk that holds signature bytes is reached, by which point all the
    /// plaintext has been hashed (the signature comes last in `inner`).
    #[cfg(not(feature = "parallel"))]
    fn write(&self, payload: &mut [u8]) -> Result<(), Error> {
        let body_start = self.prefix.len();
        let body_end = body_start + self.plaintext.len();
        let mut digest = Some(digest::IncrementalDigest::new());
        let mut signature: Option<Signature> = None;
        for (index, chunk) in payload.chunks_mut(ENCRYPTED_CHUNK_SIZE).enumerate() {
            let start = index * CHUNK_SIZE;
            let end = start + chunk.len() - TAG_LEN;
            if let Some(signer) = self.signer {
                if let Some(digest) = digest.as_mut() {
                    let body = self
                        .plaintext
                        .get(start.saturating_sub(body_start)..end.min(body_end) - body_start)
                        .unwrap_or_default();
                    digest.update(body);
                }
                if end > body_end && signature.is_none() {
                    let digest = digest.take().ok_or(Error::Malformed)?.finalize();
                    signature = Some(self.sign(signer, &digest));
                }
            }
            let suffix: &[u8] = signature.as_ref().map_or(&[], |s| s.as_bytes());
            self.seal_one(index, chunk, suffix)?;
        }
        Ok(())
    }
}

/// What a decrypted payload says besides its plaintext, before any signature check.
struct Opened {
    signature: Option<(KeyId, Signature)>,
    header_hash: [u8; 32],
    /// The plaintext digest, for signed messages when asked for.
    digest: Option<[u8; 32]>,
}

/// Decrypts and authenticates a whole envelope; with `want_digest`, also computes the
/// plaintext digest of a signed message (on one core, in the same pass, chunk by chunk
/// while each chunk is in cache).
/// The plaintext goes to `out` (see [`prepare`]); on error it holds unauthenticated
/// bytes, which the callers wipe.
fn open_into(
    ciphertext: &[u8],
    key: &PrivateKey,
    want_digest: bool,
    out: &mut Vec<u8>,
) -> Result<Opened, Error> {
    let parts = split(ciphertext)?;
    let opened = header::open(parts.header, parts.mac, key)?;
    open_payload(&opened, parts.payload, want_digest, out)
}

/// The three parts of an envelope (§4).
pub(crate) struct Parts<'a> {
    pub(crate) header: &'a [u8],
    pub(crate) mac: &'a [u8],
    pub(crate) payload: &'a [u8],
}

/// An envelope's header, MAC and payload (§4.1), found without any key.
pub(crate) fn split(ciphertext: &[u8]) -> Result<Parts<'_>, Error> {
    let header_bytes = header_of(ciphertext)?;
    let header_len = header_bytes.len();
    let mac = ciphertext
        .get(header_len..header_len + header::MAC_LEN)
        .ok_or(Error::Malformed)?;
    let payload = ciphertext
        .get(header_len + header::MAC_LEN..)
        .ok_or(Error::Malformed)?;
    Ok(Parts {
        header: header_bytes,
        mac,
        payload,
    })
}

/// Decrypts and authenticates the payload (§4.4–§4.6) under an opened header.
fn open_payload(
    opened: &header::Opened,
    payload: &[u8],
    want_digest: bool,
    out: &mut Vec<u8>,
) -> Result<Opened, Error> {
    // Every chunk but the last is full; the last holds 1..=CHUNK_SIZE bytes of inner.
    let chunks = payload.len().div_ceil(ENCRYPTED_CHUNK_SIZE);
    let last_len = payload.len() - chunks.saturating_sub(1) * ENCRYPTED_CHUNK_SIZE;
    if chunks == 0 || last_len <= TAG_LEN {
        return Err(Error::Corrupted);
    }
    let inner_len = payload.len() - chunks * TAG_LEN;
    let key = &opened.payload_key;

    // The first chunk says which kind of payload this is, hence where plaintext starts.
    let first = payload
        .get(..ENCRYPTED_CHUNK_SIZE.min(payload.len()))
        .ok_or(Error::Corrupted)?;
    let (first_data, first_tag) = first.split_at(first.len() - TAG_LEN);
    let mut first_plain = first_data.to_vec();
    open_chunk(key, 0, chunks == 1, &mut first_plain, first_tag)?;
    // A bad kind is *malformed*, reported once every chunk has authenticated (§4.6).
    let (prefix_len, suffix_len, kind_known) = match first_plain.first() {
        Some(&KIND_UNSIGNED) => (1, 0, true),
        Some(&KIND_SIGNED) => (SIGNED_PREFIX_LEN, SIGNATURE_LEN, true),
        _ => (1, 0, false),
    };
    let body_len = inner_len
        .checked_sub(prefix_len + suffix_len)
        .ok_or(Error::Malformed)?;
    let sender = first_plain
        .get(1..SIGNED_PREFIX_LEN)
        .and_then(|id| <[u8; KEY_ID_LEN]>::try_from(id).ok())
        .map(KeyId::from_bytes);

    // `out` receives inner without its prefix: chunk 0's tail, then chunks 1.. in place.
    prepare(out, inner_len - prefix_len);
    let first_tail = first_plain.get(prefix_len..).ok_or(Error::Malformed)?;
    let (head, rest) = out.split_at_mut(first_tail.len());
    head.copy_from_slice(first_tail);
    let encrypted_rest = payload.get(ENCRYPTED_CHUNK_SIZE..).unwrap_or_default();
    let open_one = |(index, (data, encrypted)): (usize, (&mut [u8], &[u8]))| {
        let (ciphertext, tag) = encrypted.split_at(encrypted.len() - TAG_LEN);
        data.copy_from_slice(ciphertext);
        let counter = index + 1;
        open_chunk(key, counter as u64, counter == chunks - 1, data, tag)
    };
    let mut digest = (want_digest && suffix_len > 0).then(digest::IncrementalDigest::new);
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        rest.par_chunks_mut(CHUNK_SIZE)
            .zip(encrypted_rest.par_chunks(ENCRYPTED_CHUNK_SIZE))
            .enumerate()
            .try_for_each(open_one)?;
    }
    #[cfg(not(feature = "parallel"))]
    if let Some(digest) = digest.as_mut() {
        // Hash the body part of each chunk right after it opens; the parallel build
        // hashes the whole body afterwards instead.
        let first_len = head.len();
        digest.update(head.get(..body_len.min(first_len)).unwrap_or_default());
        for (index, pair) in rest
            .chunks_mut(CHUNK_SIZE)
            .zip(encrypted_rest.chunks(ENCRYPTED_CHUNK_SIZE))
            .enumerate()
        {
            let offset = first_len + index * CHUNK_SIZE;
            let body_here = body_len.saturating_sub(offset).min(pair.0.len());
            open_one((index, (&mut *pair.0, pair.1)))?;
            digest.update(pair.0.get(..body_here).unwrap_or_default());
        }
    } else {
        rest.chunks_mut(CHUNK_SIZE)
            .zip(encrypted_rest.chunks(ENCRYPTED_CHUNK_SIZE))
            .enumerate()
            .try_for_each(open_one)?;
    }
    if !kind_known {
        return Err(Error::Malformed);
    }
    #[cfg(feature = "parallel")]
    if let Some(digest) = digest.as_mut() {
        digest.update_large(out.get(..body_len).unwrap_or_default());
    }

    let signature = if suffix_len > 0 {
        let signature = Signature::from_slice(out.get(body_len..).ok_or(Error::Malformed)?)?;
        out.truncate(body_len);
        Some((sender.ok_or(Error::Malformed)?, signature))
    } else {
        None
    };
    Ok(Opened {
        signature,
        header_hash: opened.header_hash,
        digest: digest.map(digest::IncrementalDigest::finalize),
    })
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_pq;
