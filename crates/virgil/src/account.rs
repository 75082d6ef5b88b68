//! The application server flow (feature `client`): register, log in, keep the cards
//! service's access token fresh, submit a card for approval, send and read messages.

use crate::{Buffer, Card, CardId, Error, Key, Virgil};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use virgil_api::app::{SessionInfo, SessionResponse};
use virgil_api::unix_now;
use virgil_client::{AppClient, CardsClient, ClientError, PublishedCard, TlsRoots, TokenSource};
use virgil_crypto::encoding::from_base64;

/// An access token this close to expiry (seconds) is refreshed before use (they live
/// 30 s: see the application server's `ACCESS_TOKEN_SECONDS`).
const REFRESH_MARGIN_SECONDS: u64 = 10;

/// A login to the application server: who, the session token for the application
/// server and the cards service's access token. Save it (it is a bearer secret: keep the
/// file private) and [`Account::resume`] it to stay logged in.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// Who is logged in.
    pub username: String,
    /// The application server's answer: session and access tokens.
    pub response: SessionResponse,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("username", &self.username)
            .field(
                "access_token_expires_at",
                &self.response.access_token_expires_at,
            )
            .finish_non_exhaustive()
    }
}

type SharedSession = Arc<Mutex<Option<Session>>>;

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Access tokens from the login session, refreshed through the application server when
/// they are about to expire.
struct SessionTokens {
    session: SharedSession,
    app: Option<Arc<AppClient>>,
}

impl SessionTokens {
    /// The session's access token, refreshed first if `force` or if it is about to
    /// expire.
    fn current(&self, force: bool) -> Result<String, ClientError> {
        let mut guard = locked(&self.session);
        let session = guard
            .as_mut()
            .ok_or_else(|| ClientError::Token(Error::NotLoggedIn.to_string()))?;
        if force || session.response.access_token_expires_at <= unix_now() + REFRESH_MARGIN_SECONDS
        {
            let app = self.app.as_ref().ok_or_else(|| {
                ClientError::Token(format!(
                    "the access token of {} has expired; log in again",
                    session.username
                ))
            })?;
            let fresh = app.refresh_access_token(&session.response)?;
            session.response.access_token = fresh.access_token;
            session.response.access_token_expires_at = fresh.access_token_expires_at;
        }
        Ok(session.response.access_token.clone())
    }
}

impl TokenSource for SessionTokens {
    fn token(&self) -> Result<String, ClientError> {
        self.current(false)
    }

    fn refresh(&self) -> Result<String, ClientError> {
        self.current(true)
    }
}

/// The servers a [`Virgil`] talks to.
pub(crate) struct Remote {
    cards_url: Option<String>,
    tls_roots: TlsRoots,
    cards: Option<CardsClient>,
    app: Option<Arc<AppClient>>,
    session: SharedSession,
    /// Tokens come from the login session (not from a token source of the config).
    session_tokens: bool,
}

impl Remote {
    pub(crate) fn new(
        cards_url: Option<String>,
        app_url: Option<String>,
        tokens: Option<Box<dyn TokenSource>>,
        tls_roots: TlsRoots,
        verifier: &virgil_card::Verifier,
        checkpoints: Arc<dyn virgil_client::directory::CheckpointStore>,
    ) -> Self {
        let app = app_url.map(|url| {
            Arc::new(AppClient::with_tls_roots(
                &url,
                verifier.clone(),
                &tls_roots,
            ))
        });
        let session = SharedSession::default();
        let session_tokens = tokens.is_none();
        let cards = cards_url.as_deref().map(|url| {
            let builder = CardsClient::builder(url, verifier.clone())
                .tls_roots(tls_roots.clone())
                .checkpoints(Arc::clone(&checkpoints));
            match tokens {
                Some(tokens) => builder.token_source(BoxedTokens(tokens)),
                None => builder.token_source(SessionTokens {
                    session: Arc::clone(&session),
                    app: app.clone(),
                }),
            }
            .build()
        });
        Self {
            cards_url,
            tls_roots,
            cards,
            app,
            session,
            session_tokens,
        }
    }

    pub(crate) fn tls_roots(&self) -> &TlsRoots {
        &self.tls_roots
    }

    pub(crate) fn cards_url(&self) -> Result<&str, Error> {
        self.cards_url
            .as_deref()
            .ok_or(Error::NotConfigured("cards service URL"))
    }

    /// The cards client, once there is a way to get tokens.
    pub(crate) fn cards(&self) -> Result<&CardsClient, Error> {
        let cards = self
            .cards
            .as_ref()
            .ok_or(Error::NotConfigured("cards service URL"))?;
        if self.session_tokens && locked(&self.session).is_none() {
            return Err(Error::NotLoggedIn);
        }
        Ok(cards)
    }

    pub(crate) fn app(&self) -> Result<&AppClient, Error> {
        self.app
            .as_deref()
            .ok_or(Error::NotConfigured("application server URL"))
    }

    pub(crate) fn session(&self) -> Result<Session, Error> {
        locked(&self.session).clone().ok_or(Error::NotLoggedIn)
    }
}

struct BoxedTokens(Box<dyn TokenSource>);

impl TokenSource for BoxedTokens {
    fn token(&self) -> Result<String, ClientError> {
        self.0.token()
    }

    fn refresh(&self) -> Result<String, ClientError> {
        self.0.refresh()
    }
}

/// The account on the application server ([`Virgil::account`]).
pub struct Account<'a> {
    pub(crate) virgil: &'a Virgil,
}

impl Account<'_> {
    fn remote(&self) -> &Remote {
        &self.virgil.remote
    }

    /// Registers `username` with `password`.
    pub fn register(&self, username: &str, password: &str) -> Result<(), Error> {
        self.remote()
            .app()?
            .register(username, password)
            .map_err(Error::AppServer)
    }

    /// Logs in; the session is used for everything after (and returned, to save).
    pub fn login(&self, username: &str, password: &str) -> Result<Session, Error> {
        let response = self
            .remote()
            .app()?
            .login(username, password)
            .map_err(Error::AppServer)?;
        let session = Session {
            username: username.to_owned(),
            response,
        };
        self.resume(session.clone());
        Ok(session)
    }

    /// Uses a saved session (from [`Account::login`] or [`Account::session`]).
    pub fn resume(&self, session: Session) {
        *locked(&self.remote().session) = Some(session);
    }

    /// The current session, with the freshest access token (save it after use).
    pub fn session(&self) -> Option<Session> {
        locked(&self.remote().session).clone()
    }

    /// Ends the session at the application server (its tokens stop working at once)
    /// and forgets it. Without a session there is nothing to do.
    pub fn logout(&self) -> Result<(), Error> {
        let Some(session) = self.session() else {
            return Ok(());
        };
        let ended = self
            .remote()
            .app()?
            .end_session(&session.response, "current");
        match ended {
            // Already ended or expired at the server: logged out all the same.
            Ok(())
            | Err(ClientError::Api {
                status: 401 | 404, ..
            }) => {}
            Err(other) => return Err(Error::AppServer(other)),
        }
        *locked(&self.remote().session) = None;
        Ok(())
    }

    /// The user's live sessions (this device's and others'), newest first.
    pub fn sessions(&self) -> Result<Vec<SessionInfo>, Error> {
        let session = self.remote().session()?;
        Ok(self
            .remote()
            .app()?
            .sessions(&session.response)
            .map_err(Error::AppServer)?
            .sessions)
    }

    /// Ends one of the user's sessions (an id from [`Account::sessions`]), e.g. of a
    /// lost device.
    pub fn end_session(&self, id: &str) -> Result<(), Error> {
        let session = self.remote().session()?;
        self.remote()
            .app()?
            .end_session(&session.response, id)
            .map_err(Error::AppServer)
    }

    /// Gets a fresh access token for the cards service now (it also happens by itself
    /// when the token is about to expire); returns the updated session.
    pub fn refresh(&self) -> Result<Session, Error> {
        let mut session = self.remote().session()?;
        let fresh = self
            .remote()
            .app()?
            .refresh_access_token(&session.response)
            .map_err(Error::AppServer)?;
        session.response.access_token = fresh.access_token;
        session.response.access_token_expires_at = fresh.access_token_expires_at;
        self.resume(session.clone());
        Ok(session)
    }

    /// Submits a reset card request (from [`crate::Cards::create_reset`]) for the
    /// logged-in user, with their account password, which the application server
    /// checks again: a session alone cannot replace a user's cards. The answer's status
    /// is [`crate::CardStatus::Pending`] while the reset waits out the cards service's
    /// delay, then active; when active, every other card of the user is revoked.
    pub fn publish_reset_card(
        &self,
        request: &Card,
        password: &str,
    ) -> Result<PublishedCard, Error> {
        let session = self.remote().session()?;
        let published = self
            .remote()
            .app()?
            .submit_reset_card(&session.response, request, password)
            .map_err(Error::AppServer)?;
        self.record_own(request, &published)?;
        Ok(published)
    }

    /// Submits the logged-in user's card request (from [`crate::Cards::create`]); the
    /// application server approves and publishes it. Returns the published, verified card.
    /// This device records it as one of its own, with every card the request is linked
    /// from (their keys signed the request here): the self-check trusts them.
    pub fn publish_card(&self, request: &Card) -> Result<PublishedCard, Error> {
        let session = self.remote().session()?;
        let published = self
            .remote()
            .app()?
            .submit_card(&session.response, request)
            .map_err(Error::AppServer)?;
        self.record_own(request, &published)?;
        Ok(published)
    }

    /// Changes the account password (the current one is checked again); the
    /// application server ends every other session of the account, and their access to
    /// the cards service stops within an access token's lifetime (30 s).
    pub fn change_password(&self, current: &str, new: &str) -> Result<(), Error> {
        let session = self.remote().session()?;
        self.remote()
            .app()?
            .change_password(&session.response, current, new)
            .map_err(Error::AppServer)
    }

    /// Records `published` (the answer to `request`) and the cards `request` is linked
    /// from as this device's own.
    pub(crate) fn record_own(
        &self,
        request: &Card,
        published: &PublishedCard,
    ) -> Result<(), Error> {
        let contacts = &self.virgil.contacts;
        contacts.record_own(&published.card)?;
        if published.card.id() != request.id() {
            return Ok(());
        }
        let cards = self.remote().cards()?;
        for from in request.links() {
            let linking = cards.get(from).map_err(Error::CardsService)?;
            if request.is_linked_from(&linking.card) {
                contacts.record_own(&linking.card)?;
            }
        }
        Ok(())
    }
}

/// A message sent through the relay.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sent {
    /// The relay's message id.
    pub id: i64,
    /// How many cards it was encrypted for (the recipient's and the sender's).
    pub cards: usize,
    /// What the card lookup found worth telling the user (first contact, a linked
    /// device, an accepted key change, a pending reset).
    pub events: Vec<crate::ContactEvent>,
}

/// A message from the inbox, decrypted and verified against the sender's cards.
#[derive(Debug)]
#[non_exhaustive]
pub struct Received {
    /// The relay's message id.
    pub id: i64,
    /// The sender's username (as the relay says; the signature is what proves it).
    pub from: String,
    /// When it was sent, seconds since the Unix epoch (as the relay says).
    pub sent_at: i64,
    /// The plaintext, or why the message was refused (not for this key, not signed by
    /// the sender's card, damaged).
    pub message: Result<Buffer, Error>,
}

/// What [`Messages::inbox`] read.
#[derive(Debug)]
#[non_exhaustive]
pub struct InboxRead {
    /// The messages after the cursor, oldest first.
    pub messages: Vec<Received>,
    /// The cursor to pass next time.
    pub cursor: i64,
}

/// Why a sender's cards were not used to verify their messages.
enum Refused {
    KeyChanged(crate::KeyChange),
    Revoked { identity: String, card: CardId },
}

impl Refused {
    fn to_error(&self) -> Error {
        match self {
            Refused::KeyChanged(change) => Error::KeyChanged(change.clone()),
            Refused::Revoked { identity, card } => Error::RevokedCardOffered {
                identity: identity.clone(),
                card: *card,
            },
        }
    }
}

/// Messages through the application server's relay ([`Virgil::messages`]).
pub struct Messages<'a> {
    pub(crate) virgil: &'a Virgil,
}

impl Messages<'_> {
    /// Signs `message` with `key`, encrypts it for every card of `to` and of the
    /// logged-in user (so their other devices can read it), and relays it. The key's
    /// [`crate::RecipientPolicy`] applies to all of those cards.
    pub fn send(&self, to: &str, key: &Key, message: impl AsRef<[u8]>) -> Result<Sent, Error> {
        let remote = &self.virgil.remote;
        let session = remote.session()?;
        let identities = [to, session.username.as_str()];
        let found = self.virgil.cards().find(&identities)?;
        found.check_each(&identities)?;
        let ciphertext = key.sign_then_encrypt(message, &found.cards)?;
        let id = remote
            .app()?
            .send_message(&session.response, to, ciphertext.as_bytes())
            .map_err(Error::AppServer)?;
        Ok(Sent {
            id,
            cards: found.cards.len(),
            events: found.events,
        })
    }

    /// Relays a ciphertext made with [`Key::sign_then_encrypt`] to user `to`; returns
    /// the relay's message id. ([`Messages::send`] does the lookup and encryption too.)
    pub fn send_ciphertext(&self, to: &str, ciphertext: &Buffer) -> Result<i64, Error> {
        let remote = &self.virgil.remote;
        let session = remote.session()?;
        remote
            .app()?
            .send_message(&session.response, to, ciphertext.as_bytes())
            .map_err(Error::AppServer)
    }

    /// Every message after `cursor` (0: from the start), each decrypted with `key` and
    /// verified against its sender's active cards.
    pub fn inbox(&self, key: &Key, cursor: i64) -> Result<InboxRead, Error> {
        let remote = &self.virgil.remote;
        let session = remote.session()?;
        let app = remote.app()?;
        let mut cursor = cursor;
        // Per sender: their cards, or why they cannot be used (a key change or a card
        // seen revoked: only that sender's messages are refused, not the whole inbox).
        let mut sender_cards: HashMap<String, Result<Vec<Card>, Refused>> = HashMap::new();
        let mut messages = Vec::new();
        loop {
            let page = app
                .inbox(&session.response, cursor)
                .map_err(Error::AppServer)?;
            if page.messages.is_empty() {
                break;
            }
            let page_start = cursor;
            for relayed in page.messages {
                if !sender_cards.contains_key(&relayed.from) {
                    let found = match self.virgil.cards().find(&[relayed.from.as_str()]) {
                        Ok(found) => Ok(found.into_cards()),
                        Err(Error::KeyChanged(change)) => Err(Refused::KeyChanged(change)),
                        Err(Error::RevokedCardOffered { identity, card }) => {
                            Err(Refused::Revoked { identity, card })
                        }
                        Err(other) => return Err(other),
                    };
                    sender_cards.insert(relayed.from.clone(), found);
                }
                let senders = sender_cards.get(&relayed.from);
                let opened = match senders {
                    Some(Err(refused)) => Err(refused.to_error()),
                    Some(Ok(senders)) => from_base64(&relayed.body)
                        .map_err(|_| Error::Crypto(virgil_crypto::Error::Malformed))
                        .and_then(|bytes| key.decrypt_then_verify_any(&bytes, senders)),
                    None => Err(Error::SenderHasNoCard {
                        identity: relayed.from.clone(),
                    }),
                };
                let senders = match senders {
                    Some(Ok(senders)) => senders.as_slice(),
                    _ => &[],
                };
                let message = match opened {
                    Err(Error::WrongSender { .. }) if senders.is_empty() => {
                        Err(Error::SenderHasNoCard {
                            identity: relayed.from.clone(),
                        })
                    }
                    other => other,
                };
                cursor = cursor.max(relayed.id);
                messages.push(Received {
                    id: relayed.id,
                    from: relayed.from,
                    sent_at: relayed.sent_at,
                    message,
                });
            }
            cursor = cursor.max(page.next_cursor);
            if cursor <= page_start {
                // A server that does not move the cursor forward would loop us forever.
                return Err(Error::StuckInbox);
            }
        }
        Ok(InboxRead { messages, cursor })
    }
}
