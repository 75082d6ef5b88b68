//! Device pairing (docs/format.md §17): a new device hands its card request to one of
//! the user's existing devices through a server mailbox, authenticated end to end by a
//! short code the new device shows and the user types on the existing one.
//!
//! The code's secret part (8 digits) is the password of a SPAKE2 exchange (RustCrypto's
//! `spake2`, Ed25519 group); the shared key it yields is confirmed by each side with an
//! HMAC before anything is used, and the request and the reply are each sealed with
//! AES-256-GCM under a key of their own. The mailbox (the application server) sees the
//! messages but not the code: to insert itself it must guess the 8 digits, and a wrong
//! guess ends the exchange (one guess in 10^8).
//!
//! Four messages, in order:
//!
//! | # | from | holds |
//! |---|------|-------|
//! | 1 | new device | its SPAKE2 message |
//! | 2 | existing device | its SPAKE2 message and its key confirmation |
//! | 3 | new device | its key confirmation and the sealed request |
//! | 4 | existing device | the sealed reply |
//!
//! ```
//! use virgil_crypto::pairing::{ExistingDevice, NewDevice, PairingSecret};
//!
//! let context = b"app alice mailbox 123456";
//! // The new device shows the secret; the user types it on the existing device.
//! let secret = PairingSecret::generate()?;
//! let (new_device, message1) = NewDevice::start(&secret)?;
//! let typed = PairingSecret::parse(secret.as_str())?;
//! let (existing, message2) = ExistingDevice::respond(&typed, context, &message1)?;
//! let (message3, reply_opener) = new_device.finish(context, &message2, b"card request")?;
//! let (request, reply_sealer) = existing.open_request(&message3)?;
//! assert_eq!(request, b"card request");
//! let message4 = reply_sealer.seal(b"published")?;
//! assert_eq!(reply_opener.open(&message4)?, b"published");
//! # Ok::<(), virgil_crypto::Error>(())
//! ```

use crate::Error;
use crate::backend::AeadKey;
use crate::rng::RandCoreRng;
use crate::rng::{RandomSource, SystemRandom};
use alloc::vec::Vec;
use core::fmt;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use spake2::{Ed25519Group, Identity, Password, Spake2};
use zeroize::Zeroizing;

/// Digits in the secret part of a pairing code.
pub const SECRET_DIGITS: usize = 8;
/// The largest request or reply a pairing message carries, in bytes.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024;
/// The largest pairing message, in bytes (message 3 with the largest request).
pub const MAX_MESSAGE_LEN: usize = 1 + MAC_LEN + MAX_PAYLOAD_LEN + TAG_LEN;

const VERSION: u8 = 0x01;
const SPAKE_LEN: usize = 33;
const MAC_LEN: usize = 32;
const TAG_LEN: usize = 16;
const MESSAGE1_LEN: usize = 1 + SPAKE_LEN;
const MESSAGE2_LEN: usize = 1 + SPAKE_LEN + MAC_LEN;
const SALT: &[u8] = b"virgil/pairing/v1";
const ID_NEW: &[u8] = b"virgil/pairing/v1 new device";
const ID_EXISTING: &[u8] = b"virgil/pairing/v1 existing device";
const NONCE: [u8; 12] = [0; 12];

/// The secret part of a pairing code: 8 decimal digits, uniformly random. Shown by the new
/// device, typed on the existing one; never sent to a server.
pub struct PairingSecret(Zeroizing<[u8; SECRET_DIGITS]>);

impl PairingSecret {
    /// 8 random digits from the system generator.
    pub fn generate() -> Result<Self, Error> {
        const LIMIT: u32 = 4_200_000_000; // 42 × 10^8 ≤ 2^32: no modulo bias below it
        let mut rng = SystemRandom::new();
        loop {
            let mut bytes = [0u8; 4];
            rng.fill(&mut bytes)?;
            let value = u32::from_be_bytes(bytes);
            if value < LIMIT {
                let mut value = value % 100_000_000;
                let mut digits = Zeroizing::new([b'0'; SECRET_DIGITS]);
                for digit in digits.iter_mut().rev() {
                    // `value % 10` is below 10, so the cast cannot truncate.
                    *digit = b'0' + (value % 10) as u8;
                    value /= 10;
                }
                return Ok(Self(digits));
            }
        }
    }

    /// Exactly 8 ASCII digits; anything else is [`Error::Malformed`].
    pub fn parse(digits: &str) -> Result<Self, Error> {
        let bytes: [u8; SECRET_DIGITS] =
            digits.as_bytes().try_into().map_err(|_| Error::Malformed)?;
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(Error::Malformed);
        }
        Ok(Self(Zeroizing::new(bytes)))
    }

    /// The 8 digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        core::str::from_utf8(self.0.as_slice()).unwrap_or_default()
    }
}

impl fmt::Debug for PairingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingSecret(redacted)")
    }
}

/// The keys both sides derive from the SPAKE2 key and the context.
struct Keys {
    confirm_new: Zeroizing<[u8; 32]>,
    confirm_existing: Zeroizing<[u8; 32]>,
    request: Zeroizing<[u8; 32]>,
    reply: Zeroizing<[u8; 32]>,
}

impl Keys {
    fn derive(shared: &[u8], context: &[u8]) -> Result<Self, Error> {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), shared);
        let expand = |label: &[u8]| -> Result<Zeroizing<[u8; 32]>, Error> {
            let mut out = Zeroizing::new([0u8; 32]);
            hkdf.expand_multi_info(&[label, &[0], context], out.as_mut())
                .map_err(|_| Error::Malformed)?;
            Ok(out)
        };
        Ok(Self {
            confirm_new: expand(b"confirm new device")?,
            confirm_existing: expand(b"confirm existing device")?,
            request: expand(b"request")?,
            reply: expand(b"reply")?,
        })
    }
}

fn confirmation(key: &[u8; 32], transcript: &[u8]) -> Result<[u8; MAC_LEN], Error> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| Error::Malformed)?;
    mac.update(transcript);
    Ok(mac.finalize().into_bytes().into())
}

/// Checks a key confirmation in constant time; a wrong one is
/// [`Error::PairingMismatch`].
fn check_confirmation(key: &[u8; 32], transcript: &[u8], tag: &[u8]) -> Result<(), Error> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| Error::Malformed)?;
    mac.update(transcript);
    mac.verify_slice(tag).map_err(|_| Error::PairingMismatch)
}

fn aad(number: u8) -> [u8; 6] {
    [b'V', b'G', b'P', b'R', VERSION, number]
}

fn seal(key: &[u8; 32], number: u8, payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(Error::Malformed);
    }
    let mut sealed = Zeroizing::new(Vec::with_capacity(payload.len() + TAG_LEN));
    sealed.extend_from_slice(payload);
    AeadKey::new(key)
        .and_then(|aead| aead.seal_append_tag(NONCE, &aad(number), &mut sealed))
        .map_err(|_| Error::Malformed)?;
    out.extend_from_slice(&sealed);
    Ok(())
}

fn open(key: &[u8; 32], number: u8, sealed: &[u8]) -> Result<Vec<u8>, Error> {
    if sealed.len() < TAG_LEN || sealed.len() > MAX_PAYLOAD_LEN + TAG_LEN {
        return Err(Error::Malformed);
    }
    let mut buffer = sealed.to_vec();
    let len = AeadKey::new(key)
        .map_err(|_| Error::Malformed)?
        .open_appended_tag(NONCE, &aad(number), &mut buffer)
        .map_err(|_| Error::Corrupted)?;
    buffer.truncate(len);
    Ok(buffer)
}

fn versioned(message: &[u8]) -> Result<&[u8], Error> {
    match message.split_first() {
        Some((&VERSION, rest)) => Ok(rest),
        Some(_) => Err(Error::UnsupportedVersion),
        None => Err(Error::Malformed),
    }
}

fn spake_start(
    secret: &PairingSecret,
    new_side: bool,
) -> Result<(Spake2<Ed25519Group>, Vec<u8>), Error> {
    let password = Password::new(secret.0.as_slice());
    let (id_new, id_existing) = (Identity::new(ID_NEW), Identity::new(ID_EXISTING));
    let mut rng = RandCoreRng::new();
    let (state, message) = if new_side {
        Spake2::<Ed25519Group>::start_a_with_rng(&password, &id_new, &id_existing, &mut rng)
    } else {
        Spake2::<Ed25519Group>::start_b_with_rng(&password, &id_new, &id_existing, &mut rng)
    };
    rng.check()?;
    if message.len() != SPAKE_LEN {
        return Err(Error::Malformed);
    }
    Ok((state, message))
}

/// The new device's side, after message 1.
pub struct NewDevice {
    spake: Spake2<Ed25519Group>,
    message1: [u8; MESSAGE1_LEN],
}

impl NewDevice {
    /// Starts with the secret the device shows; returns message 1, for the mailbox.
    pub fn start(secret: &PairingSecret) -> Result<(Self, Vec<u8>), Error> {
        let (spake, outbound) = spake_start(secret, true)?;
        let mut message1 = [0u8; MESSAGE1_LEN];
        message1[0] = VERSION;
        message1[1..].copy_from_slice(&outbound);
        Ok((Self { spake, message1 }, message1.to_vec()))
    }

    /// Takes message 2, checks the existing device's key confirmation (a wrong code, or
    /// anyone else's message: [`Error::PairingMismatch`]), and returns message 3 sealing
    /// `request`, and what opens the reply. `context` names the exchange (format.md
    /// §17); both sides must give the same.
    pub fn finish(
        self,
        context: &[u8],
        message2: &[u8],
        request: &[u8],
    ) -> Result<(Vec<u8>, ReplyOpener), Error> {
        let body = versioned(message2)?;
        if message2.len() != MESSAGE2_LEN {
            return Err(Error::Malformed);
        }
        let (spake_message, tag) = body.split_at(SPAKE_LEN);
        let shared = Zeroizing::new(
            self.spake
                .finish(spake_message)
                .map_err(|_| Error::PairingMismatch)?,
        );
        let keys = Keys::derive(&shared, context)?;
        let mut transcript = Vec::with_capacity(MESSAGE1_LEN + MESSAGE2_LEN);
        transcript.extend_from_slice(&self.message1);
        transcript.push(VERSION);
        transcript.extend_from_slice(spake_message);
        check_confirmation(&keys.confirm_existing, &transcript, tag)?;
        let mut message3 = Vec::with_capacity(1 + MAC_LEN + request.len() + TAG_LEN);
        message3.push(VERSION);
        message3.extend_from_slice(&confirmation(&keys.confirm_new, &transcript)?);
        seal(&keys.request, 3, request, &mut message3)?;
        Ok((message3, ReplyOpener { key: keys.reply }))
    }
}

impl fmt::Debug for NewDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewDevice(awaiting message 2)")
    }
}

/// The existing device's side.
pub struct ExistingDevice;

impl ExistingDevice {
    /// Takes message 1 and the secret the user typed; returns the state awaiting message
    /// 3, and message 2 for the mailbox.
    pub fn respond(
        secret: &PairingSecret,
        context: &[u8],
        message1: &[u8],
    ) -> Result<(AwaitingRequest, Vec<u8>), Error> {
        let body = versioned(message1)?;
        if message1.len() != MESSAGE1_LEN {
            return Err(Error::Malformed);
        }
        let (spake, outbound) = spake_start(secret, false)?;
        let shared = Zeroizing::new(spake.finish(body).map_err(|_| Error::Malformed)?);
        let keys = Keys::derive(&shared, context)?;
        let mut transcript = Vec::with_capacity(MESSAGE1_LEN + MESSAGE2_LEN);
        transcript.extend_from_slice(message1);
        transcript.push(VERSION);
        transcript.extend_from_slice(&outbound);
        let mut message2 = Vec::with_capacity(MESSAGE2_LEN);
        message2.push(VERSION);
        message2.extend_from_slice(&outbound);
        message2.extend_from_slice(&confirmation(&keys.confirm_existing, &transcript)?);
        Ok((AwaitingRequest { keys, transcript }, message2))
    }
}

/// The existing device after message 2, awaiting message 3.
pub struct AwaitingRequest {
    keys: Keys,
    transcript: Vec<u8>,
}

impl AwaitingRequest {
    /// Takes message 3: checks the new device's key confirmation (a wrong code, or
    /// anyone else's message: [`Error::PairingMismatch`]) and opens the request (changed
    /// in transit: [`Error::Corrupted`]); returns it and what seals the reply.
    pub fn open_request(self, message3: &[u8]) -> Result<(Vec<u8>, ReplySealer), Error> {
        let body = versioned(message3)?;
        let (tag, sealed) = body.split_at_checked(MAC_LEN).ok_or(Error::Malformed)?;
        check_confirmation(&self.keys.confirm_new, &self.transcript, tag)?;
        let request = open(&self.keys.request, 3, sealed)?;
        Ok((
            request,
            ReplySealer {
                key: self.keys.reply,
            },
        ))
    }
}

impl fmt::Debug for AwaitingRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AwaitingRequest(redacted)")
    }
}

/// Seals the existing device's reply (message 4).
pub struct ReplySealer {
    key: Zeroizing<[u8; 32]>,
}

impl ReplySealer {
    /// Message 4, sealing `reply`.
    pub fn seal(self, reply: &[u8]) -> Result<Vec<u8>, Error> {
        let mut message4 = Vec::with_capacity(1 + reply.len() + TAG_LEN);
        message4.push(VERSION);
        seal(&self.key, 4, reply, &mut message4)?;
        Ok(message4)
    }
}

impl fmt::Debug for ReplySealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplySealer(redacted)")
    }
}

/// Opens the existing device's reply (message 4) on the new device.
pub struct ReplyOpener {
    key: Zeroizing<[u8; 32]>,
}

impl ReplyOpener {
    /// The reply message 4 seals (changed in transit: [`Error::Corrupted`]).
    pub fn open(&self, message4: &[u8]) -> Result<Vec<u8>, Error> {
        open(&self.key, 4, versioned(message4)?)
    }
}

impl fmt::Debug for ReplyOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyOpener(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec;

    const CONTEXT: &[u8] = b"VGPC test context";

    fn secret(digits: &str) -> PairingSecret {
        PairingSecret::parse(digits).unwrap()
    }

    #[test]
    fn the_right_code_pairs() {
        let (new_device, m1) = NewDevice::start(&secret("12345678")).unwrap();
        let (existing, m2) = ExistingDevice::respond(&secret("12345678"), CONTEXT, &m1).unwrap();
        assert_eq!((m1.len(), m2.len()), (MESSAGE1_LEN, MESSAGE2_LEN));
        let (m3, opener) = new_device.finish(CONTEXT, &m2, b"request").unwrap();
        let (request, sealer) = existing.open_request(&m3).unwrap();
        assert_eq!(request, b"request");
        assert_eq!(
            opener.open(&sealer.seal(b"reply").unwrap()).unwrap(),
            b"reply"
        );
    }

    #[test]
    fn a_wrong_code_is_caught_by_the_new_device_before_it_sends_anything() {
        let (new_device, m1) = NewDevice::start(&secret("12345678")).unwrap();
        let (_, m2) = ExistingDevice::respond(&secret("12345679"), CONTEXT, &m1).unwrap();
        assert_eq!(
            new_device.finish(CONTEXT, &m2, b"request").unwrap_err(),
            Error::PairingMismatch
        );
    }

    #[test]
    fn another_context_is_caught() {
        let (new_device, m1) = NewDevice::start(&secret("12345678")).unwrap();
        let (_, m2) = ExistingDevice::respond(&secret("12345678"), b"other", &m1).unwrap();
        assert_eq!(
            new_device.finish(CONTEXT, &m2, b"request").unwrap_err(),
            Error::PairingMismatch
        );
    }

    #[test]
    fn a_man_in_the_middle_without_the_code_is_caught_by_the_existing_device() {
        // The mailbox replaces message 1 with its own, made with a guessed code, and
        // answers message 2 with a message 3 of its own.
        let (mallory, m1) = NewDevice::start(&secret("00000000")).unwrap();
        let (existing, m2) = ExistingDevice::respond(&secret("12345678"), CONTEXT, &m1).unwrap();
        assert_eq!(
            mallory.finish(CONTEXT, &m2, b"mallory").unwrap_err(),
            Error::PairingMismatch
        );
        // Mallory cannot make the confirmation; whatever it sends is refused.
        let mut forged = vec![VERSION];
        forged.extend_from_slice(&[0u8; MAC_LEN]);
        forged.extend_from_slice(&[0u8; 40]);
        assert_eq!(
            existing.open_request(&forged).unwrap_err(),
            Error::PairingMismatch
        );
    }

    #[test]
    fn every_flipped_bit_of_messages_2_3_and_4_is_refused() {
        let (new_device, m1) = NewDevice::start(&secret("87654321")).unwrap();
        let (existing, m2) = ExistingDevice::respond(&secret("87654321"), CONTEXT, &m1).unwrap();
        for bit in 8..m2.len() * 8 {
            let (again, _) = NewDevice::start(&secret("87654321")).unwrap();
            let mut flipped = m2.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(again.finish(CONTEXT, &flipped, b"x").is_err());
        }
        let (m3, opener) = new_device.finish(CONTEXT, &m2, b"request").unwrap();
        let check = |flipped: &[u8]| {
            let (existing, _) = ExistingDevice::respond(&secret("87654321"), CONTEXT, &m1).unwrap();
            existing.open_request(flipped).is_err()
        };
        for bit in 0..m3.len() * 8 {
            let mut flipped = m3.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(check(&flipped), "bit {bit}");
        }
        let (_, sealer) = existing.open_request(&m3).unwrap();
        let m4 = sealer.seal(b"reply").unwrap();
        for bit in 0..m4.len() * 8 {
            let mut flipped = m4.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(opener.open(&flipped).is_err(), "bit {bit}");
        }
        assert!(opener.open(&m4[..m4.len() - 1]).is_err());
    }

    #[test]
    fn secrets_are_eight_digits() {
        for bad in ["1234567", "123456789", "1234567a", "１２３４５６７８", ""] {
            assert_eq!(PairingSecret::parse(bad).unwrap_err(), Error::Malformed);
        }
        let generated = PairingSecret::generate().unwrap();
        assert_eq!(generated.as_str().len(), SECRET_DIGITS);
        assert!(generated.as_str().bytes().all(|b| b.is_ascii_digit()));
        assert!(!format!("{generated:?}").contains(generated.as_str()));
    }

    #[test]
    fn malformed_messages_are_refused_without_panicking() {
        let (_, m1) = NewDevice::start(&secret("12345678")).unwrap();
        for bad in [&[][..], &[1], &[2; 34], &m1[..33], &[1; 200]] {
            assert!(ExistingDevice::respond(&secret("12345678"), CONTEXT, bad).is_err());
            let (new_device, _) = NewDevice::start(&secret("12345678")).unwrap();
            assert!(new_device.finish(CONTEXT, bad, b"").is_err());
        }
        let (existing, _) = ExistingDevice::respond(&secret("12345678"), CONTEXT, &m1).unwrap();
        assert!(existing.open_request(&[1; 10]).is_err());
    }

    #[test]
    fn oversized_payloads_are_refused() {
        let (new_device, m1) = NewDevice::start(&secret("12345678")).unwrap();
        let (_, m2) = ExistingDevice::respond(&secret("12345678"), CONTEXT, &m1).unwrap();
        let big = vec![0u8; MAX_PAYLOAD_LEN + 1];
        assert_eq!(
            new_device.finish(CONTEXT, &m2, &big).unwrap_err(),
            Error::Malformed
        );
    }
}
