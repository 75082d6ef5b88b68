//! The envelope header: who can open it, and the keys derived from the content key.
//!
//! ```text
//! header  = "VGLE" ‖ version 0x01 ‖ suite ‖ nonce[16] ‖ u32be(n) ‖ stanza × n
//! suite 0x01: stanza = key_id[32] ‖ enc[65] ‖ sealed_content_key[48]   (all P-256)
//! suite 0x02: stanza = kind u8 ‖ key_id[32] ‖ enc[65 | 1120] ‖ sealed_content_key[48]
//! mac     = HMAC-SHA256(mac_key, header_hash)   header_hash = BLAKE3 (see digest.rs)
//! ```
//!
//! A writer uses suite 0x01, byte for byte the format of before suite 2, whenever every
//! recipient is a suite-1 key, and suite 0x02 (each stanza tagged with its kind: the
//! recipient key's suite) as soon as one is not.

use super::{CHUNK_SIZE, MAX_RECIPIENTS};
use crate::Error;
use crate::backend::AeadKey;
use crate::hpke::dhkem_p256::{DhKemP256, POINT_LEN};
use crate::hpke::xwing::XWing;
use crate::hpke::{self, TAG_LEN};
use crate::key::{DecryptionKey, EncryptionKey, KEY_ID_LEN, PrivateKey, PublicKey, Suite};
use crate::rng::RandomSource;
use alloc::vec::Vec;
use hkdf::Hkdf;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use zeroize::Zeroizing;

pub(crate) const MAGIC: [u8; 4] = *b"VGLE";
pub(crate) const VERSION: u8 = 0x01;
/// Header suite 0x01: every stanza is an untagged P-256 stanza.
pub(crate) const SUITE_CLASSIC: u8 = 0x01;
/// Header suite 0x02: every stanza starts with its kind.
pub(crate) const SUITE_TAGGED: u8 = 0x02;
pub(crate) const NONCE_LEN: usize = 16;
/// Magic, version, suite, nonce, recipient count.
pub(crate) const FIXED_LEN: usize = 4 + 1 + 1 + NONCE_LEN + 4;
pub(crate) const CONTENT_KEY_LEN: usize = 32;
const SEALED_LEN: usize = CONTENT_KEY_LEN + TAG_LEN;
/// A stanza of a suite-0x01 header.
pub(crate) const STANZA_LEN: usize = KEY_ID_LEN + POINT_LEN + SEALED_LEN;
/// The longest stanza: a tagged X-Wing one.
pub(crate) const MAX_STANZA_LEN: usize = 1 + KEY_ID_LEN + hpke::xwing::ENC_LEN + SEALED_LEN;
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
    pub(crate) payload_key: AeadKey,
    pub(crate) header_hash: [u8; 32],
}

/// Derives the MAC key and the payload key from the content key and the header nonce.
fn derive_keys(
    content_key: &[u8; CONTENT_KEY_LEN],
    nonce: &[u8],
) -> Result<(Zeroizing<[u8; 32]>, AeadKey), Error> {
    let hkdf = Hkdf::<Sha256>::new(Some(nonce), content_key);
    let mut mac_key = Zeroizing::new([0u8; 32]);
    let mut payload_key = Zeroizing::new([0u8; 32]);
    hkdf.expand(LABEL_MAC, mac_key.as_mut())
        .map_err(|_| Error::Corrupted)?;
    hkdf.expand(LABEL_PAYLOAD, payload_key.as_mut())
        .map_err(|_| Error::Corrupted)?;
    let payload_key = AeadKey::new(&payload_key).map_err(|_| Error::Corrupted)?;
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

    let tagged = unique
        .iter()
        .any(|recipient| recipient.suite() != Suite::Classic);
    let stanzas = seal_stanzas(&unique, &content_key, tagged, rng)?;
    let stanzas_len: usize = stanzas.iter().map(Vec::len).sum();
    let mut bytes = Vec::with_capacity(FIXED_LEN + stanzas_len + MAC_LEN);
    bytes.extend_from_slice(&MAGIC);
    bytes.push(VERSION);
    bytes.push(if tagged { SUITE_TAGGED } else { SUITE_CLASSIC });
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&count.to_be_bytes());
    for stanza in stanzas {
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

/// Seals the content key to one recipient: `[kind ‖] key_id ‖ enc ‖ sealed_key`.
fn seal_stanza(
    recipient: &PublicKey,
    content_key: &[u8; CONTENT_KEY_LEN],
    tagged: bool,
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let key_id = recipient.key_id().as_bytes();
    let mut stanza = Vec::with_capacity(MAX_STANZA_LEN);
    if tagged {
        stanza.push(recipient.suite().id());
    }
    stanza.extend_from_slice(key_id);
    let sealed = match recipient.encryption_key() {
        EncryptionKey::P256 => {
            let point = recipient.p256_point().ok_or(Error::InvalidPublicKey)?;
            let sealed = hpke::seal::<DhKemP256>(point, HPKE_INFO, key_id, content_key, rng)?;
            stanza.extend_from_slice(&sealed.enc);
            sealed.ciphertext
        }
        EncryptionKey::XWing(public) => {
            let sealed = hpke::seal::<XWing>(public, HPKE_INFO, key_id, content_key, rng)?;
            stanza.extend_from_slice(sealed.enc.as_slice());
            sealed.ciphertext
        }
    };
    if sealed.len() != SEALED_LEN {
        return Err(Error::Malformed);
    }
    stanza.extend_from_slice(&sealed);
    Ok(stanza)
}

/// Below this many recipients, sealing on one thread is as fast.
#[cfg(feature = "parallel")]
const PARALLEL_RECIPIENTS: usize = 8;

fn seal_stanzas(
    recipients: &[&PublicKey],
    content_key: &[u8; CONTENT_KEY_LEN],
    tagged: bool,
    rng: &mut dyn RandomSource,
) -> Result<Vec<Vec<u8>>, Error> {
    // Each stanza has its own ephemeral key, so with the system generator they are
    // independent; a deterministic generator must be drawn from in order.
    #[cfg(feature = "parallel")]
    if recipients.len() >= PARALLEL_RECIPIENTS && rng.system().is_some() {
        use rayon::prelude::*;
        return recipients
            .par_iter()
            .map(|recipient| {
                seal_stanza(
                    recipient,
                    content_key,
                    tagged,
                    &mut crate::rng::SystemRandom::new(),
                )
            })
            .collect();
    }
    recipients
        .iter()
        .map(|recipient| seal_stanza(recipient, content_key, tagged, rng))
        .collect()
}

/// What the fixed part of a header says about the stanzas that follow it.
#[derive(Clone, Copy)]
pub(crate) struct Fixed {
    /// Suite 0x02: every stanza starts with its kind.
    tagged: bool,
    /// How many stanzas follow, 1 ..= [`MAX_RECIPIENTS`].
    pub(crate) count: usize,
}

impl Fixed {
    /// The kind and length of the stanza that starts with `first` (its kind, in a
    /// tagged header); *malformed* for an unknown kind.
    pub(crate) fn stanza(self, first: u8) -> Result<(Suite, usize), Error> {
        if !self.tagged {
            return Ok((Suite::Classic, STANZA_LEN));
        }
        match Suite::from_id(first) {
            Some(Suite::Classic) => Ok((Suite::Classic, 1 + STANZA_LEN)),
            Some(Suite::PostQuantum) => Ok((Suite::PostQuantum, MAX_STANZA_LEN)),
            None => Err(Error::Malformed),
        }
    }

    /// The length of the whole header (fixed part and stanzas), walking the stanzas in
    /// `header`, which starts with the fixed part; *malformed* if it is cut short.
    pub(crate) fn header_len(self, header: &[u8]) -> Result<usize, Error> {
        if !self.tagged {
            return Ok(FIXED_LEN + self.count * STANZA_LEN);
        }
        let mut offset = FIXED_LEN;
        for _ in 0..self.count {
            let first = header.get(offset).copied().ok_or(Error::Malformed)?;
            offset += self.stanza(first)?.1;
        }
        Ok(offset)
    }
}

/// Checks the fixed part of a header.
pub(crate) fn parse_fixed(fixed: &[u8; FIXED_LEN]) -> Result<Fixed, Error> {
    let (magic, rest) = fixed.split_at(4);
    if magic != MAGIC {
        return Err(Error::Malformed);
    }
    let tagged = match (rest.first(), rest.get(1)) {
        (Some(&VERSION), Some(&SUITE_CLASSIC)) => false,
        (Some(&VERSION), Some(&SUITE_TAGGED)) => true,
        _ => return Err(Error::UnsupportedVersion),
    };
    let count_bytes: [u8; 4] = rest
        .get(2 + NONCE_LEN..)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Error::Malformed)?;
    let count = u32::from_be_bytes(count_bytes) as usize;
    if count == 0 || count > MAX_RECIPIENTS {
        return Err(Error::Malformed);
    }
    Ok(Fixed { tagged, count })
}

/// One stanza of a header.
pub(crate) struct Stanza<'a> {
    /// The suite of the key it is sealed to.
    pub(crate) kind: Suite,
    pub(crate) key_id: &'a [u8],
    pub(crate) enc: &'a [u8],
    pub(crate) sealed: &'a [u8],
}

/// The stanzas of a complete header (fixed part included, MAC excluded), in order.
pub(crate) fn stanzas(header: &[u8]) -> Result<Vec<Stanza<'_>>, Error> {
    let fixed: &[u8; FIXED_LEN] = header
        .get(..FIXED_LEN)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Error::Malformed)?;
    let fixed = parse_fixed(fixed)?;
    let mut rest = header.get(FIXED_LEN..).ok_or(Error::Malformed)?;
    let mut stanzas = Vec::with_capacity(fixed.count);
    for _ in 0..fixed.count {
        let first = rest.first().copied().ok_or(Error::Malformed)?;
        let (kind, len) = fixed.stanza(first)?;
        let (stanza, after) = rest.split_at_checked(len).ok_or(Error::Malformed)?;
        rest = after;
        let body = if fixed.tagged {
            stanza.get(1..).ok_or(Error::Malformed)?
        } else {
            stanza
        };
        let (key_id, body) = body.split_at_checked(KEY_ID_LEN).ok_or(Error::Malformed)?;
        let (enc, sealed) = body
            .split_at_checked(body.len().saturating_sub(SEALED_LEN))
            .ok_or(Error::Malformed)?;
        stanzas.push(Stanza {
            kind,
            key_id,
            enc,
            sealed,
        });
    }
    if !rest.is_empty() {
        return Err(Error::Malformed);
    }
    Ok(stanzas)
}

/// Finds `key`'s stanza in a complete header, unwraps the content key and checks the
/// MAC. `header` is everything before the MAC (its length already checked by the
/// caller against the stanzas).
pub(crate) fn open(header: &[u8], mac: &[u8], key: &PrivateKey) -> Result<Opened, Error> {
    let nonce = header.get(6..6 + NONCE_LEN).ok_or(Error::Malformed)?;
    let my_id = key.key_id().as_bytes();
    let stanzas = stanzas(header)?;
    let stanza = stanzas
        .iter()
        .find(|stanza| stanza.key_id == my_id.as_slice())
        .ok_or(Error::NotARecipient)?;
    // The key id names the suite (it hashes the suite byte), so a stanza of another kind
    // under this key's id was not made by an honest writer.
    let content_key = match (stanza.kind, key.decryption_key()) {
        (Suite::Classic, DecryptionKey::P256(sk)) => {
            hpke::open::<DhKemP256>(stanza.enc, sk, HPKE_INFO, stanza.key_id, stanza.sealed)?
        }
        (Suite::PostQuantum, DecryptionKey::XWing(sk)) => {
            hpke::open::<XWing>(stanza.enc, sk, HPKE_INFO, stanza.key_id, stanza.sealed)?
        }
        _ => return Err(Error::Corrupted),
    };
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
