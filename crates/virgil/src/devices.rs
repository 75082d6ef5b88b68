//! Pairing a new device ([`Virgil::devices`], docs/format.md §17): the new device shows
//! a short code; on one of the user's devices, logged in, the user types it, checks the
//! new key's fingerprint, and that device links the new card from its own and publishes
//! it. Neither server can insert itself: the code authenticates the exchange end to end
//! (SPAKE2 with key confirmation), and a wrong code ends it.
//!
//! ```no_run
//! # fn run(new: &virgil::Virgil, old: &virgil::Virgil, new_key: &virgil::Key, old_key: &virgil::Key) -> Result<(), virgil::Error> {
//! use std::time::Duration;
//! // On the new device (logged in as the same user), with its new key:
//! let joining = new.devices().join(new_key)?;
//! println!("on your other device: virgil device pair {}", joining.code());
//! // On the existing device:
//! let request = old.devices().pair(&joining.code().to_string(), Duration::from_secs(600))?;
//! assert_eq!(request.fingerprint(), joining.fingerprint());
//! request.approve(old_key)?;
//! // Back on the new device:
//! let published = joining.wait(Duration::from_secs(600))?;
//! # Ok(()) }
//! ```

use crate::{Error, Key, PublishedCard, Virgil};
use std::fmt;
use std::time::{Duration, Instant};
use virgil_api::ErrorCode;
use virgil_api::app::Pairing;
use virgil_card::{Card, CardId};
use virgil_client::ClientError;
use virgil_crypto::encoding::from_base64;
use virgil_crypto::pairing::{
    AwaitingRequest, ExistingDevice, NewDevice, PairingSecret, ReplyOpener, ReplySealer,
};

/// The scheme of a pairing code's QR-ready form.
pub const PAIRING_URI_SCHEME: &str = "virgil-pair";
/// How often a waiting device looks at the mailbox.
const POLL_INTERVAL: Duration = Duration::from_millis(400);
/// The reply's first byte: approved (then the card id) or declined.
const REPLY_APPROVED: u8 = 0x01;
const REPLY_DECLINED: u8 = 0x00;

/// Why a pairing did not complete (besides a wrong code, which is
/// [`virgil_crypto::Error::PairingMismatch`] in [`Error::Crypto`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairingFailure {
    /// The code is not 14 digits (`123456-1234-5678`) or a `virgil-pair:` string.
    #[error(
        "not a pairing code: it is 14 digits as the new device shows them (123456-1234-5678), or its virgil-pair: string"
    )]
    InvalidCode,
    /// The code is for another account than the one logged in here.
    #[error("the code is for {code_user:?}, but you are logged in as {you:?}")]
    WrongAccount {
        /// The account the code names.
        code_user: String,
        /// The account logged in here.
        you: String,
    },
    /// The other device did not answer in time.
    #[error("the other device did not answer within {seconds} s; start again on the new device")]
    TimedOut {
        /// How long this device waited.
        seconds: u64,
    },
    /// The mailbox is gone: it expired (10 minutes), or the other side ended it (a
    /// wrong code ends it).
    #[error(
        "the pairing ended: it expired, or the other device ended it (a wrong code ends it); start again on the new device"
    )]
    Ended,
    /// Someone answered the new device before this device did: each pairing takes one
    /// answer.
    #[error(
        "this pairing was answered already (by another device, or someone with your session): start again on the new device, and if you did not answer it, end your other sessions"
    )]
    AnsweredAlready,
    /// The existing device declined the new device's card.
    #[error("your other device declined this device's card")]
    Declined,
    /// The new device asked for a card this device will not link: not a plain new-device
    /// card of this account.
    #[error("the new device asked for a card that is not a new device's card of yours: {0}")]
    UnexpectedRequest(String),
    /// The key this device was to link the new card from has no active card of the
    /// account.
    #[error(
        "key {0} has no active card of yours: approve with the key of one of your active cards (`virgil card list`)"
    )]
    NoCardForKey(String),
    /// The card the existing device says it published is not this device's, or not
    /// active.
    #[error("the card your other device published is not this device's active card: {0}")]
    UnexpectedCard(String),
}

/// A pairing code: the mailbox id (6 digits, the server sees it) and the secret (8
/// digits, it never leaves the two devices), for the account `username`. Displays as
/// `123456-1234-5678`; [`PairingCode::uri`] is the QR-ready form.
pub struct PairingCode {
    username: String,
    mailbox: String,
    secret: PairingSecret,
}

impl PairingCode {
    /// Parses a code as the new device shows it (`123456-1234-5678`, spaces and dashes
    /// anywhere) or its `virgil-pair:1:USER:CODE` form; `username` is the account
    /// logged in here (checked against the form that names one).
    pub fn parse(text: &str, username: &str) -> Result<Self, Error> {
        let text = text.trim();
        let digits_part = match text.strip_prefix(PAIRING_URI_SCHEME) {
            Some(rest) => {
                let mut fields = rest.split(':');
                let (Some(""), Some("1"), Some(user), Some(code), None) = (
                    fields.next(),
                    fields.next(),
                    fields.next(),
                    fields.next(),
                    fields.next(),
                ) else {
                    return Err(Error::Pairing(PairingFailure::InvalidCode));
                };
                if user != username {
                    return Err(Error::Pairing(PairingFailure::WrongAccount {
                        code_user: user.to_owned(),
                        you: username.to_owned(),
                    }));
                }
                code
            }
            None => text,
        };
        let digits: String = digits_part
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .collect();
        if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Pairing(PairingFailure::InvalidCode));
        }
        let (mailbox, secret) = digits.split_at(6);
        Ok(Self {
            username: username.to_owned(),
            mailbox: mailbox.to_owned(),
            secret: PairingSecret::parse(secret)
                .map_err(|_| Error::Pairing(PairingFailure::InvalidCode))?,
        })
    }

    fn generate(username: &str) -> Result<Self, Error> {
        let secret = PairingSecret::generate()?;
        let mailbox = PairingSecret::generate()?;
        Ok(Self {
            username: username.to_owned(),
            mailbox: mailbox.as_str()[..6].to_owned(),
            secret,
        })
    }

    /// The mailbox id (the first 6 digits).
    pub fn mailbox(&self) -> &str {
        &self.mailbox
    }

    /// The QR-ready form: `virgil-pair:1:USER:123456-12345678`.
    pub fn uri(&self) -> String {
        format!(
            "{PAIRING_URI_SCHEME}:1:{}:{}-{}",
            self.username,
            self.mailbox,
            self.secret.as_str()
        )
    }

    /// What binds the exchange to this application, account and mailbox (format.md
    /// §17): `"VGPC" ‖ 0x01 ‖ str(app_id) ‖ str(username) ‖ str(mailbox)`.
    fn context(&self, app_id: &str) -> Vec<u8> {
        let mut context = b"VGPC\x01".to_vec();
        for part in [app_id, &self.username, &self.mailbox] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            context.extend_from_slice(&len.to_be_bytes());
            context.extend_from_slice(part.as_bytes());
        }
        context
    }
}

impl fmt::Display for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = self.secret.as_str();
        write!(
            f,
            "{}-{}-{}",
            self.mailbox,
            secret.get(..4).unwrap_or_default(),
            secret.get(4..).unwrap_or_default()
        )
    }
}

impl fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingCode")
            .field("username", &self.username)
            .field("mailbox", &self.mailbox)
            .field("secret", &"(redacted)")
            .finish()
    }
}

/// A key's fingerprint as both devices show it: the key id's first 20 bytes, hex, in
/// groups of four.
pub fn fingerprint(key: &virgil_crypto::PublicKey) -> String {
    let hex = key.key_id().to_string();
    hex.as_bytes()
        .chunks(4)
        .take(10)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Pairing devices of the logged-in user ([`Virgil::devices`]).
pub struct Devices<'a> {
    pub(crate) virgil: &'a Virgil,
}

impl<'a> Devices<'a> {
    fn username(&self) -> Result<String, Error> {
        Ok(self.virgil.remote.session()?.username)
    }

    fn mailbox(&self, id: &str) -> Result<Pairing, Error> {
        let session = self.virgil.remote.session()?;
        self.virgil
            .remote
            .app()?
            .pairing(&session.response, id)
            .map_err(ended_or)
    }

    /// Waits until mailbox `id` holds more than `have` messages; returns message `have`.
    fn wait_for(&self, id: &str, have: usize, deadline: Instant) -> Result<Vec<u8>, Error> {
        loop {
            let pairing = self.mailbox(id)?;
            if let Some(message) = pairing.messages.get(have) {
                return from_base64(message)
                    .map_err(|_| Error::Crypto(virgil_crypto::Error::Malformed));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Pairing(PairingFailure::TimedOut { seconds: 0 }));
            }
            std::thread::sleep(POLL_INTERVAL.min(deadline - now));
        }
    }

    fn add(&self, id: &str, index: u32, message: &[u8]) -> Result<(), Error> {
        let session = self.virgil.remote.session()?;
        self.virgil
            .remote
            .app()?
            .add_pairing_message(&session.response, id, index, message)
            .map(|_| ())
            .map_err(|error| match error {
                ClientError::Api {
                    code: ErrorCode::PairingOutOfTurn,
                    ..
                } => Error::Pairing(PairingFailure::AnsweredAlready),
                other => ended_or(other),
            })
    }

    fn end(&self, id: &str) {
        if let Ok(session) = self.virgil.remote.session()
            && let Ok(app) = self.virgil.remote.app()
        {
            // Best effort: the mailbox expires anyway.
            let _ = app.delete_pairing(&session.response, id);
        }
    }

    /// On the new device, logged in: opens a pairing for `key` (a new key of this
    /// device, with no card yet) and returns the code to show. The card request is
    /// made here and sent only to the device that proves it knows the code.
    pub fn join(&self, key: &Key) -> Result<Joining<'a>, Error> {
        let username = self.username()?;
        let identity = self.virgil.identities().create_user(&username);
        let request = self.virgil.cards().create(&identity, key)?;
        let session = self.virgil.remote.session()?;
        let app = self.virgil.remote.app()?;
        // A 6-digit mailbox id may be taken by another live pairing of this account.
        for _ in 0..5 {
            let code = PairingCode::generate(&username)?;
            let (state, message1) = NewDevice::start(&code.secret)?;
            match app.open_pairing(&session.response, code.mailbox(), &message1) {
                Ok(pairing) => {
                    return Ok(Joining {
                        virgil: self.virgil,
                        code,
                        state,
                        request,
                        expires_at: pairing.expires_at,
                    });
                }
                Err(ClientError::Api {
                    code: ErrorCode::PairingExists,
                    ..
                }) => continue,
                Err(other) => return Err(Error::AppServer(other)),
            }
        }
        Err(Error::AppServer(ClientError::Api {
            status: 409,
            code: ErrorCode::PairingExists,
            message: "too many live pairings on this account: finish or end one".to_owned(),
            retry_after_seconds: None,
        }))
    }

    /// On an existing device, logged in: takes the code the new device shows, answers
    /// its pairing, and waits (up to `timeout`) for its card request. A wrong code is
    /// found out here ([`virgil_crypto::Error::PairingMismatch`]) or by the new device,
    /// which then ends the pairing ([`PairingFailure::Ended`]); either way nothing is
    /// linked, and the pairing must start again.
    pub fn pair(&self, code: &str, timeout: Duration) -> Result<PairingRequest<'a>, Error> {
        let username = self.username()?;
        let code = PairingCode::parse(code, &username)?;
        let deadline = Instant::now() + timeout;
        let pairing = self.mailbox(code.mailbox())?;
        if pairing.messages.len() != 1 {
            return Err(Error::Pairing(PairingFailure::AnsweredAlready));
        }
        let message1 = pairing
            .messages
            .first()
            .and_then(|m| from_base64(m).ok())
            .ok_or(Error::Crypto(virgil_crypto::Error::Malformed))?;
        let context = code.context(&self.virgil.app_id);
        let (awaiting, message2) = ExistingDevice::respond(&code.secret, &context, &message1)?;
        self.add(code.mailbox(), 1, &message2)?;
        let message3 = self
            .wait_for(code.mailbox(), 2, deadline)
            .map_err(|e| timed_out(e, timeout))?;
        let (card, sealer) = match self.open_request(awaiting, &message3, &username) {
            Ok(opened) => opened,
            Err(error) => {
                self.end(code.mailbox());
                return Err(error);
            }
        };
        Ok(PairingRequest {
            virgil: self.virgil,
            mailbox: code.mailbox,
            card,
            sealer,
        })
    }

    /// Opens message 3 and checks that it asks for a plain new-device card of this
    /// account: its identity, application and identity type, self-signed, not a
    /// replacement or a reset, not linked from anything yet.
    fn open_request(
        &self,
        awaiting: AwaitingRequest,
        message3: &[u8],
        username: &str,
    ) -> Result<(Card, ReplySealer), Error> {
        let (request, sealer) = awaiting.open_request(message3)?;
        let unexpected = |why: &str| Error::Pairing(PairingFailure::UnexpectedRequest(why.into()));
        let text = std::str::from_utf8(&request).map_err(|_| unexpected("not a card"))?;
        let card = Card::import(text).map_err(|e| unexpected(&e.to_string()))?;
        let expected = self.virgil.identities().create_user(username);
        let content = card.content();
        if content.app_id != self.virgil.app_id
            || content.identity != expected.value
            || content.identity_type != expected.identity_type
        {
            return Err(unexpected(&format!(
                "it is for {:?} ({}) in application {:?}",
                content.identity, content.identity_type, content.app_id
            )));
        }
        if content.previous_card_id.is_some() || !content.data.is_empty() {
            return Err(unexpected(
                "it would replace or reset a card (or carries data), not add a device",
            ));
        }
        if card.signatures().len() != 1 {
            return Err(unexpected("it carries signatures besides its own"));
        }
        card.verify_self_signature()
            .map_err(|e| unexpected(&e.to_string()))?;
        Ok((card, sealer))
    }
}

fn ended_or(error: ClientError) -> Error {
    match error {
        ClientError::Api {
            code: ErrorCode::NoPairing,
            ..
        } => Error::Pairing(PairingFailure::Ended),
        other => Error::AppServer(other),
    }
}

fn timed_out(error: Error, timeout: Duration) -> Error {
    match error {
        Error::Pairing(PairingFailure::TimedOut { .. }) => {
            Error::Pairing(PairingFailure::TimedOut {
                seconds: timeout.as_secs(),
            })
        }
        other => other,
    }
}

/// The new device's pairing in progress ([`Devices::join`]): show [`Joining::code`],
/// then [`Joining::wait`].
pub struct Joining<'a> {
    virgil: &'a Virgil,
    code: PairingCode,
    state: NewDevice,
    request: Card,
    expires_at: u64,
}

impl Joining<'_> {
    /// The code to show (and [`PairingCode::uri`] for a QR code).
    pub fn code(&self) -> &PairingCode {
        &self.code
    }

    /// The new key's fingerprint, for the user to compare with what the other device
    /// shows.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.request.public_key())
    }

    /// The card request the other device will link and publish.
    pub fn card_request(&self) -> &Card {
        &self.request
    }

    /// When the mailbox expires, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Waits (up to `timeout`) for the other device: checks its answer (a wrong code:
    /// [`virgil_crypto::Error::PairingMismatch`], and the pairing is ended so no second
    /// guess is possible), sends the card request sealed, and waits for the card it
    /// published, which is fetched, verified and recorded as this device's own.
    pub fn wait(self, timeout: Duration) -> Result<PublishedCard, Error> {
        let devices = self.virgil.devices();
        let deadline = Instant::now() + timeout;
        let mailbox = self.code.mailbox().to_owned();
        let result = self.exchange(&devices, &mailbox, deadline);
        if result.is_err() {
            devices.end(&mailbox);
        }
        result.map_err(|e| timed_out(e, timeout))
    }

    fn exchange(
        self,
        devices: &Devices<'_>,
        mailbox: &str,
        deadline: Instant,
    ) -> Result<PublishedCard, Error> {
        let Joining {
            virgil,
            code,
            state,
            request,
            ..
        } = self;
        let message2 = devices.wait_for(mailbox, 1, deadline)?;
        let context = code.context(&virgil.app_id);
        let (message3, opener) = state.finish(&context, &message2, request.export().as_bytes())?;
        devices.add(mailbox, 2, &message3)?;
        let message4 = devices.wait_for(mailbox, 3, deadline)?;
        let published = published(virgil, &request, &opener, &message4)?;
        devices.end(mailbox);
        Ok(published)
    }
}

/// The card the reply names: the new device's `request`, linked, active.
fn published(
    virgil: &Virgil,
    request: &Card,
    opener: &ReplyOpener,
    message4: &[u8],
) -> Result<PublishedCard, Error> {
    {
        let reply = opener.open(message4)?;
        let id = match reply.split_first() {
            Some((&REPLY_APPROVED, id)) => CardId::from_bytes(
                id.try_into()
                    .map_err(|_| Error::Crypto(virgil_crypto::Error::Malformed))?,
            ),
            Some((&REPLY_DECLINED, [])) => return Err(Error::Pairing(PairingFailure::Declined)),
            _ => return Err(Error::Crypto(virgil_crypto::Error::Malformed)),
        };
        let unexpected = |why: &str| Error::Pairing(PairingFailure::UnexpectedCard(why.into()));
        let published = virgil.cards().get(&id)?;
        if published.card.public_key() != request.public_key()
            || published.card.identity() != request.identity()
        {
            return Err(unexpected("another key or identity"));
        }
        if !published.status.is_active() {
            return Err(unexpected("not active"));
        }
        virgil.account().record_own(&published.card, &published)?;
        Ok(published)
    }
}

impl fmt::Debug for Joining<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Joining")
            .field("code", &self.code)
            .field("request", self.request.id())
            .finish_non_exhaustive()
    }
}

/// A new device's card request, received by an existing device ([`Devices::pair`]):
/// compare [`PairingRequest::fingerprint`] with the new device's screen, then approve or
/// decline.
pub struct PairingRequest<'a> {
    virgil: &'a Virgil,
    mailbox: String,
    card: Card,
    sealer: ReplySealer,
}

impl PairingRequest<'_> {
    /// The new device's card request (self-signed, for this account).
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// The new key's fingerprint: the new device shows the same.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.card.public_key())
    }

    /// Links the new card from this device's active card of `key` and publishes it
    /// through the application server; tells the new device which card it is.
    pub fn approve(self, key: &Key) -> Result<PublishedCard, Error> {
        let devices = self.virgil.devices();
        let result = self.link_and_publish(key);
        let reply = match &result {
            Ok(published) => {
                let mut reply = vec![REPLY_APPROVED];
                reply.extend_from_slice(published.card.id().as_bytes());
                reply
            }
            Err(_) => vec![REPLY_DECLINED],
        };
        let sent = self
            .sealer
            .seal(&reply)
            .map_err(Error::Crypto)
            .and_then(|message4| devices.add(&self.mailbox, 3, &message4));
        let published = result?;
        sent?;
        Ok(published)
    }

    fn link_and_publish(&self, key: &Key) -> Result<PublishedCard, Error> {
        let username = self.virgil.remote.session()?.username;
        let mine = self.virgil.cards().find(&[username.as_str()])?;
        let own = mine
            .into_cards()
            .into_iter()
            .find(|card| card.public_key() == key.public_key())
            .ok_or_else(|| {
                Error::Pairing(PairingFailure::NoCardForKey(
                    key.public_key().key_id().to_string(),
                ))
            })?;
        let mut request = self.card.clone();
        self.virgil.cards().link(&mut request, &own, key)?;
        self.virgil.account().publish_card(&request)
    }

    /// Declines: the new device is told, and nothing is published.
    pub fn decline(self) -> Result<(), Error> {
        let message4 = self.sealer.seal(&[REPLY_DECLINED])?;
        self.virgil.devices().add(&self.mailbox, 3, &message4)
    }
}

impl fmt::Debug for PairingRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingRequest")
            .field("mailbox", &self.mailbox)
            .field("card", self.card.id())
            .finish_non_exhaustive()
    }
}

impl Virgil {
    /// Pairing a new device of the logged-in user.
    pub fn devices(&self) -> Devices<'_> {
        Devices { virgil: self }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_parse_in_both_forms() {
        let code = PairingCode::parse(" 123456-1234-5678 ", "alice").unwrap();
        assert_eq!(code.to_string(), "123456-1234-5678");
        assert_eq!(code.uri(), "virgil-pair:1:alice:123456-12345678");
        let again = PairingCode::parse(&code.uri(), "alice").unwrap();
        assert_eq!(again.to_string(), code.to_string());
        assert!(matches!(
            PairingCode::parse(&code.uri(), "bob"),
            Err(Error::Pairing(PairingFailure::WrongAccount { .. }))
        ));
        for bad in [
            "12345-1234-5678",
            "123456-1234-567x",
            "virgil-pair:2:alice:12345612345678",
            "",
        ] {
            assert!(
                matches!(
                    PairingCode::parse(bad, "alice"),
                    Err(Error::Pairing(PairingFailure::InvalidCode))
                ),
                "{bad}"
            );
        }
        assert!(!format!("{code:?}").contains("1234-5678"));
        assert!(!format!("{code:?}").contains("12345678"));
    }

    #[test]
    fn the_context_binds_app_account_and_mailbox() {
        let code = PairingCode::parse("123456-1234-5678", "alice").unwrap();
        let other = PairingCode::parse("123457-1234-5678", "alice").unwrap();
        assert_ne!(code.context("chat"), other.context("chat"));
        assert_ne!(code.context("chat"), code.context("chat2"));
        assert_eq!(
            code.context("chat"),
            b"VGPC\x01\0\0\0\x04chat\0\0\0\x05alice\0\0\0\x06123456".to_vec()
        );
    }
}
