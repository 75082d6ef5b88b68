//! The envelope header: who can open it, and the keys derived from the content key.
//!
//! ```text
//! header  = "VGLE" ‖ version 0x01 ‖ suite 0x01 ‖ nonce[16] ‖ u32be(n) ‖ stanza × n
//! stanza  = key_id[32] ‖ enc[65] ‖ sealed_content_key[48]
//! mac     = HMAC-SHA256(mac_key, header_hash)   header_hash = BLAKE3 (see digest.rs)
//! ```

use super::{CHUNK_SIZE, MAX_RECIPIENTS};
use crate::Error;
use crate::hpke::{self, POINT_LEN, TAG_LEN};
use crate::key::{KEY_ID_LEN, PrivateKey, PublicKey};
use crate::rng::RandomSource;
use alloc::vec::Vec;
use hkdf::Hkdf;
use hmac::{Hmac, Mac as _};
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use sha2::Sha256;
use zeroize::Zeroizing;

pub(crate) const MAGIC: [u8; 4] = *b"VGLE";
pub(crate) const VERSION: u8 = 0x01;
pub(crate) const SUITE: u8 = 0x01;
pub(crate) const NONCE_LEN: usize = 16;
/// Magic, version, suite, nonce, recipient count.
pub(crate) const FIXED_LEN: usize = 4 + 1 + 1 + NONCE_LEN + 4;
pub(crate) const CONTENT_KEY_LEN: usize = 32;
pub(crate) const STANZA_LEN: usize = KEY_ID_LEN + POINT_LEN + CONTENT_KEY_LEN + TAG_LEN;
pub(crate) const MAC_LEN: usize = 32;

/// HPKE `info` of every stanza.
pub(crate) const HPKE_INFO: &[u8] = b"virgil-envelope-v1 content key";
const LABEL_MAC: &[u8] = b"virgil-envelope-v1 header mac";
const LABEL_PAYLOAD: &[u8] = b"virgil-envelope-v1 payload";

// The chunk size is fixed by the version; tie it to the constant the format names.
const _: () = assert!(CHUNK_SIZE == 64 * 1024);

/// The keys a content key gives, plus what the signature covers.
#[derive(Clone)]
pub(crate) struct Opened {
    pub(crate) payload_key: LessSafeKey,
    pub(crate) header_hash: [u8; 32],
}

/// Derives the MAC key and the payload key from the content key and the header nonce.
fn derive_keys(
    content_key: &[u8; CONTENT_KEY_LEN],
    nonce: &[u8],
) -> Result<(Zeroizing<[u8; 32]>, LessSafeKey), Error> {
    let hkdf = Hkdf::<Sha256>::new(Some(nonce), content_key);
    let mut mac_key = Zeroizing::new([0u8; 32]);
    let mut payload_key = Zeroizing::new([0u8; 32]);
    hkdf.expand(LABEL_MAC, mac_key.as_mut())
        .map_err(|_| Error::Corrupted)?;
    hkdf.expand(LABEL_PAYLOAD, payload_key.as_mut())
        .map_err(|_| Error::Corrupted)?;
    let payload_key = UnboundKey::new(&AES_256_GCM, payload_key.as_ref())
        .map(LessSafeKey::new)
        .map_err(|_| Error::Corrupted)?;
    Ok((mac_key, payload_key))
}

fn header_mac(mac_key: &[u8; 32]) -> Result<Hmac<Sha256>, Error> {
    <Hmac<Sha256>>::new_from_slice(mac_key).map_err(|_| Error::Corrupted)
}

/// A freshly sealed header, ready to be written.
pub(crate) struct SealedHeader {
    /// Header bytes followed by the MAC.
    pub(crate) bytes: Vec<u8>,
    pub(crate) opened: Opened,
}

/// Makes a header for `recipients` (duplicates by key id are dropped, order kept).
pub(crate) fn seal(
    recipients: &[&PublicKey],
    rng: &mut dyn RandomSource,
) -> Result<SealedHeader, Error> {
    if recipients.is_empty() {
        return Err(crate::Misuse::NoRecipients.into());
    }
    let mut unique: Vec<&PublicKey> = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        if !unique
            .iter()
            .any(|seen| seen.key_id() == recipient.key_id())
        {
            unique.push(recipient);
        }
    }
    if unique.len() > MAX_RECIPIENTS {
        return Err(crate::Misuse::TooManyRecipients.into());
    }
    let count = u32::try_from(unique.len()).map_err(|_| crate::Misuse::TooManyRecipients)?;

    let mut content_key = Zeroizing::new([0u8; CONTENT_KEY_LEN]);
    rng.fill(content_key.as_mut())?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce)?;

    let mut bytes = Vec::with_capacity(FIXED_LEN + unique.len() * STANZA_LEN + MAC_LEN);
    bytes.extend_from_slice(&MAGIC);
    bytes.push(VERSION);
    bytes.push(SUITE);
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&count.to_be_bytes());
    for stanza in seal_stanzas(&unique, &content_key, rng)? {
        bytes.extend_from_slice(&stanza);
    }

    let header_hash = super::digest::header_hash(&bytes);
    let (mac_key, payload_key) = derive_keys(&content_key, &nonce)?;
    let mut mac = header_mac(&mac_key)?;
    mac.update(&header_hash);
    bytes.extend_from_slice(&mac.finalize().into_bytes());
    Ok(SealedHeader {
        bytes,
        opened: Opened {
            payload_key,
            header_hash,
        },
    })
}

/// Seals the content key to one recipient: `key_id ‖ enc ‖ sealed_key`.
fn seal_stanza(
    recipient: &PublicKey,
    content_key: &[u8; CONTENT_KEY_LEN],
    rng: &mut dyn RandomSource,
) -> Result<[u8; STANZA_LEN], Error> {
    let key_id = recipient.key_id().as_bytes();
    let sealed = hpke::seal(recipient.p256_point(), HPKE_INFO, key_id, content_key, rng)?;
    let mut stanza = [0u8; STANZA_LEN];
    let (id_part, rest) = stanza.split_at_mut(KEY_ID_LEN);
    let (enc_part, sealed_part) = rest.split_at_mut(POINT_LEN);
    id_part.copy_from_slice(key_id);
    enc_part.copy_from_slice(&sealed.enc);
    if sealed.ciphertext.len() != sealed_part.len() {
        return Err(Error::Malformed);
    }
    sealed_part.copy_from_slice(&sealed.ciphertext);
    Ok(stanza)
}

/// Below this many recipients, sealing on one thread is as fast.
#[cfg(feature = "parallel")]
const PARALLEL_RECIPIENTS: usize = 8;

fn seal_stanzas(
    recipients: &[&PublicKey],
    content_key: &[u8; CONTENT_KEY_LEN],
    rng: &mut dyn RandomSource,
) -> Result<Vec<[u8; STANZA_LEN]>, Error> {
    // Each stanza has its own ephemeral key, so with the system generator they are
    // independent; a deterministic generator must be drawn from in order.
    #[cfg(feature = "parallel")]
    if recipients.len() >= PARALLEL_RECIPIENTS && rng.system().is_some() {
        use rayon::prelude::*;
        return recipients
            .par_iter()
            .map(|recipient| {
                seal_stanza(recipient, content_key, &mut crate::rng::SystemRandom::new())
            })
            .collect();
    }
    recipients
        .iter()
        .map(|recipient| seal_stanza(recipient, content_key, rng))
        .collect()
}

/// Checks the fixed part of a header and returns the number of stanzas that follow.
pub(crate) fn parse_fixed(fixed: &[u8; FIXED_LEN]) -> Result<usize, Error> {
    let (magic, rest) = fixed.split_at(4);
    if magic != MAGIC {
        return Err(Error::Malformed);
    }
    if rest.first() != Some(&VERSION) || rest.get(1) != Some(&SUITE) {
        return Err(Error::UnsupportedVersion);
    }
    let count_bytes: [u8; 4] = rest
        .get(2 + NONCE_LEN..)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Error::Malformed)?;
    let count = u32::from_be_bytes(count_bytes) as usize;
    if count == 0 || count > MAX_RECIPIENTS {
        return Err(Error::Malformed);
    }
    Ok(count)
}

/// Finds `key`'s stanza in a complete header, unwraps the content key and checks the
/// MAC. `header` is everything before the MAC (its length already checked by the
/// caller against the count).
pub(crate) fn open(header: &[u8], mac: &[u8], key: &PrivateKey) -> Result<Opened, Error> {
    let nonce = header.get(6..6 + NONCE_LEN).ok_or(Error::Malformed)?;
    let stanzas = header.get(FIXED_LEN..).ok_or(Error::Malformed)?;
    let my_id = key.key_id().as_bytes();
    let stanza = stanzas
        .chunks_exact(STANZA_LEN)
        .find(|stanza| stanza.get(..KEY_ID_LEN) == Some(my_id.as_slice()))
        .ok_or(Error::NotARecipient)?;
    let (key_id, rest) = stanza.split_at(KEY_ID_LEN);
    let (enc, sealed) = rest.split_at(POINT_LEN);
    let content_key = hpke::open(enc, key.decryption_key(), HPKE_INFO, key_id, sealed)?;
    let content_key: &[u8; CONTENT_KEY_LEN] = content_key
        .as_slice()
        .try_into()
        .map_err(|_| Error::Corrupted)?;

    let header_hash = super::digest::header_hash(header);
    let (mac_key, payload_key) = derive_keys(content_key, nonce)?;
    let mut expected = header_mac(&mac_key)?;
    expected.update(&header_hash);
    // `verify_slice` compares in constant time.
    expected.verify_slice(mac).map_err(|_| Error::Corrupted)?;
    Ok(Opened {
        payload_key,
        header_hash,
    })
}
