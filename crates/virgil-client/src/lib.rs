//! Blocking HTTP clients for the cards service ([`CardsClient`]) and the reference
//! application server ([`AppClient`]).
//!
//! Every card the client returns has been verified with the card crate's
//! [`Verifier`] (self, application and service signatures against pinned keys) before
//! the caller sees it: a card that fails is an error naming the failed check, never
//! silently dropped. The client never trusts the service blindly: it also checks that a
//! fetched card is the one asked for and that search results are active cards of the
//! identities asked for.
//!
//! Depend on it if you talk to the servers without the `virgil` facade.
//!
//! ```no_run
//! use virgil_client::CardsClient;
//! use virgil_card::Verifier;
//! # let service_key = virgil_crypto::PrivateKey::generate()?.public_key().clone();
//! # let app_key = virgil_crypto::PrivateKey::generate()?.public_key().clone();
//! // service_key and app_key: the pinned public keys shipped with the application.
//! let verifier = Verifier::new().trust_service(service_key).trust_app("chat", app_key);
//! let client = CardsClient::builder("http://127.0.0.1:8080", verifier)
//!     .token_source(|| Ok("<access token from your app server>".to_owned()))
//!     .build();
//! let bob_cards = client.search(&["bob"], None)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use virgil_api::app::{
    Credentials, Inbox, SendMessageRequest, SentMessage, SessionResponse, SubmitCardRequest,
};
use virgil_api::cards::{CardResponse, CardStatus, RevokeRequest, SearchRequest, SearchResponse};
use virgil_api::token;
use virgil_api::{ErrorBody, ErrorCode};
use virgil_card::{Card, CardError, CardId, RevocationRequest, Verifier, VerifyError};
use virgil_crypto::encoding::to_base64;
use virgil_crypto::sign::Signature;
use virgil_crypto::{PrivateKey, PublicKey};

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server could not be reached (after the configured retries).
    #[error("cannot reach {url}: {message}")]
    Transport {
        /// The URL called.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The service answered with an error.
    #[error("the server refused the request: {message} ({status} {code})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable error code (see docs/api.md).
        code: ErrorCode,
        /// The service's message.
        message: String,
    },
    /// The service's answer is not what the API promises.
    #[error("unexpected answer from the server: {0}")]
    InvalidResponse(String),
    /// A card from the service failed verification; it was not returned.
    #[error("a card from the cards service failed verification: {0}")]
    Verification(#[from] VerifyError),
    /// A card from the service does not decode.
    #[error("a card from the cards service is malformed: {0}")]
    Card(#[from] CardError),
    /// The token source failed.
    #[error("could not get an access token: {0}")]
    Token(String),
}

/// Lifetime of the tokens [`CardsClient::for_application`] signs (seconds).
pub const APPLICATION_TOKEN_SECONDS: u64 = 300;

use virgil_api::unix_now;

/// A card as the service returned it, after verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedCard {
    /// The verified card.
    pub card: Card,
    /// Its status at the service.
    pub status: CardStatus,
    /// When the service published it, seconds since the Unix epoch.
    pub published_at: u64,
}

/// Where access tokens come from; called before every request, so it can refresh them.
pub trait TokenSource: Send + Sync {
    /// A current access token.
    fn token(&self) -> Result<String, ClientError>;
}

impl<F: Fn() -> Result<String, ClientError> + Send + Sync> TokenSource for F {
    fn token(&self) -> Result<String, ClientError> {
        self()
    }
}

/// Configures a [`CardsClient`].
pub struct ClientBuilder {
    base_url: String,
    verifier: Verifier,
    tokens: Option<Box<dyn TokenSource>>,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
}

impl ClientBuilder {
    /// How to get access tokens (required for every `/v1/cards` call).
    pub fn token_source(mut self, tokens: impl TokenSource + 'static) -> Self {
        self.tokens = Some(Box::new(tokens));
        self
    }

    /// The timeout of one HTTP call (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a call is retried on connection errors, 5xx and 429 (default 2), and
    /// the first wait, doubled on each retry (default 200 ms).
    pub fn retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retries = retries;
        self.backoff = backoff;
        self
    }

    /// The client.
    pub fn build(self) -> CardsClient {
        CardsClient {
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            http: Http::new(self.timeout, self.retries, self.backoff),
            verifier: self.verifier,
            tokens: self.tokens,
        }
    }
}

/// A blocking client of the cards service.
pub struct CardsClient {
    base_url: String,
    http: Http,
    verifier: Verifier,
    tokens: Option<Box<dyn TokenSource>>,
}

impl std::fmt::Debug for CardsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardsClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

enum Method {
    Get,
    Post(Vec<u8>),
}

impl Method {
    fn json(body: &impl Serialize) -> Result<Self, ClientError> {
        serde_json::to_vec(body)
            .map(Method::Post)
            .map_err(|e| ClientError::InvalidResponse(e.to_string()))
    }
}

/// HTTP with JSON bodies, typed API errors and retries: shared by both clients.
struct Http {
    agent: ureq::Agent,
    retries: u32,
    backoff: Duration,
}

impl Http {
    fn new(timeout: Duration, retries: u32, backoff: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            retries,
            backoff,
        }
    }

    fn request<T: DeserializeOwned>(
        &self,
        url: &str,
        token: Option<&str>,
        method: &Method,
    ) -> Result<T, ClientError> {
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            let result = self.send(url, token, method);
            let retryable = match &result {
                Err(ClientError::Transport { .. }) => true,
                Err(ClientError::Api { status, .. }) => *status == 429 || *status >= 500,
                _ => false,
            };
            if !retryable || attempt >= self.retries {
                return result;
            }
            attempt += 1;
            std::thread::sleep(wait);
            wait = wait.saturating_mul(2);
        }
    }

    fn send<T: DeserializeOwned>(
        &self,
        url: &str,
        token: Option<&str>,
        method: &Method,
    ) -> Result<T, ClientError> {
        let transport = |e: ureq::Error| ClientError::Transport {
            url: url.to_owned(),
            message: e.to_string(),
        };
        let auth = token.map(|token| format!("Bearer {token}"));
        let response = match method {
            Method::Get => {
                let mut request = self.agent.get(url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            Method::Post(body) => {
                let mut request = self
                    .agent
                    .post(url)
                    .header("Content-Type", "application/json");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(&body[..])
            }
        };
        let mut response = response.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .map_err(transport)?;
        if !(200..300).contains(&status) {
            let error: ErrorBody = serde_json::from_str(&text).unwrap_or_else(|_| ErrorBody {
                code: ErrorCode::Other("unknown".to_owned()),
                message: text.chars().take(200).collect(),
            });
            return Err(ClientError::Api {
                status,
                code: error.code,
                message: error.message,
            });
        }
        serde_json::from_str(&text).map_err(|e| ClientError::InvalidResponse(format!("{url}: {e}")))
    }
}

impl CardsClient {
    /// A client of the service at `base_url` that verifies every card with `verifier`.
    pub fn builder(base_url: &str, verifier: Verifier) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_owned(),
            verifier,
            tokens: None,
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_millis(200),
        }
    }

    /// A client for an application's own use (its server publishing and revoking cards):
    /// it trusts the pinned `service_key` and the application's own key, and
    /// authenticates with short tokens (5 minutes, subject = the app id) signed by
    /// `app_key`.
    pub fn for_application(
        base_url: &str,
        service_key: PublicKey,
        app_id: &str,
        app_key: &PrivateKey,
    ) -> Result<CardsClient, ClientError> {
        let verifier = Verifier::new()
            .trust_service(service_key)
            .trust_app(app_id, app_key.public_key().clone());
        // The token source owns its own copy of the key (PrivateKey is not Clone).
        let signing_key = PrivateKey::from_seed(&app_key.to_seed())
            .map_err(|e| ClientError::Token(e.to_string()))?;
        let issuer = app_id.to_owned();
        Ok(CardsClient::builder(base_url, verifier)
            .token_source(move || {
                Ok(token::issue(
                    &signing_key,
                    &issuer,
                    &issuer,
                    unix_now(),
                    APPLICATION_TOKEN_SECONDS,
                ))
            })
            .build())
    }

    fn call<T: DeserializeOwned>(&self, path: &str, method: Method) -> Result<T, ClientError> {
        let token = match &self.tokens {
            Some(tokens) => Some(tokens.token()?),
            None => None,
        };
        self.http.request(
            &format!("{}{path}", self.base_url),
            token.as_deref(),
            &method,
        )
    }

    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(path, Method::json(body)?)
    }

    /// Publishes a card approved by its application (self + app signatures); returns
    /// it countersigned by the service. Publishing the same card again returns it.
    pub fn publish(&self, card: &Card) -> Result<PublishedCard, ClientError> {
        let response: CardResponse = self.post("/v1/cards", &card.to_json())?;
        let published = verified(&self.verifier, response)?;
        if published.card.id() != card.id() {
            return Err(ClientError::InvalidResponse(
                "the service returned another card".to_owned(),
            ));
        }
        Ok(published)
    }

    /// A card by id, whatever its status (superseded cards stay available so old
    /// messages remain verifiable).
    pub fn get(&self, id: &CardId) -> Result<PublishedCard, ClientError> {
        let response: CardResponse = self.call(&format!("/v1/cards/{id}"), Method::Get)?;
        let published = verified(&self.verifier, response)?;
        if published.card.id() != id {
            return Err(ClientError::InvalidResponse(format!(
                "asked for card {id}, got {}",
                published.card.id()
            )));
        }
        Ok(published)
    }

    /// The active cards of `identities` (1–50), of `identity_type` if given.
    pub fn search(
        &self,
        identities: &[&str],
        identity_type: Option<&str>,
    ) -> Result<Vec<PublishedCard>, ClientError> {
        let request = SearchRequest {
            identities: identities
                .iter()
                .map(|identity| (*identity).to_owned())
                .collect(),
            identity_type: identity_type.map(str::to_owned),
        };
        let response: SearchResponse = self.post("/v1/cards/actions/search", &request)?;
        response
            .cards
            .into_iter()
            .map(|card| {
                let published = verified(&self.verifier, card)?;
                let content = published.card.content();
                if !identities.contains(&content.identity.as_str())
                    || identity_type.is_some_and(|wanted| wanted != content.identity_type)
                    || published.status != CardStatus::Active
                {
                    return Err(ClientError::InvalidResponse(format!(
                        "search returned card {} that does not match the query",
                        published.card.id()
                    )));
                }
                Ok(published)
            })
            .collect()
    }

    /// Revokes a card with a revocation request signed by its application's key.
    pub fn revoke(
        &self,
        request: &RevocationRequest,
        signature: &Signature,
    ) -> Result<PublishedCard, ClientError> {
        let body = RevokeRequest {
            request: to_base64(&request.to_bytes()),
            signature: to_base64(signature.as_bytes()),
        };
        let response: CardResponse = self.post(
            &format!("/v1/cards/{}/actions/revoke", request.card_id),
            &body,
        )?;
        verified(&self.verifier, response)
    }
}

/// A blocking client of the reference application server: register, log in, submit a
/// card request for approval, relay messages. Cards it returns are verified like the
/// cards client's. Calls are not retried: registering or sending twice is not harmless.
pub struct AppClient {
    base_url: String,
    http: Http,
    verifier: Verifier,
}

impl std::fmt::Debug for AppClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl AppClient {
    /// A client of the application server at `base_url`; returned cards are checked
    /// with `verifier`.
    pub fn new(base_url: &str, verifier: Verifier) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: Http::new(Duration::from_secs(30), 0, Duration::ZERO),
            verifier,
        }
    }

    fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        session: Option<&SessionResponse>,
        method: Method,
    ) -> Result<T, ClientError> {
        let token = session.map(|session| session.session_token.as_str());
        self.http
            .request(&format!("{}{path}", self.base_url), token, &method)
    }

    /// Registers a user.
    pub fn register(&self, username: &str, password: &str) -> Result<(), ClientError> {
        let credentials = Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        self.call::<serde::de::IgnoredAny>("/v1/users", None, Method::json(&credentials)?)?;
        Ok(())
    }

    /// Logs in: a session for this server and an access token for the cards service.
    pub fn login(&self, username: &str, password: &str) -> Result<SessionResponse, ClientError> {
        let credentials = Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        self.call("/v1/sessions", None, Method::json(&credentials)?)
    }

    /// Submits the logged-in user's card request; returns the published, verified card.
    pub fn submit_card(
        &self,
        session: &SessionResponse,
        request: &Card,
    ) -> Result<PublishedCard, ClientError> {
        let body = SubmitCardRequest {
            card: request.export(),
        };
        let response: CardResponse = self.call("/v1/cards", Some(session), Method::json(&body)?)?;
        let published = verified(&self.verifier, response)?;
        if published.card.id() != request.id() {
            return Err(ClientError::InvalidResponse(
                "the server published another card".to_owned(),
            ));
        }
        Ok(published)
    }

    /// Relays `ciphertext` to user `to`; returns the message id.
    pub fn send_message(
        &self,
        session: &SessionResponse,
        to: &str,
        ciphertext: &[u8],
    ) -> Result<i64, ClientError> {
        let body = SendMessageRequest {
            to: to.to_owned(),
            body: to_base64(ciphertext),
        };
        let sent: SentMessage = self.call("/v1/messages", Some(session), Method::json(&body)?)?;
        Ok(sent.id)
    }

    /// The logged-in user's messages after the cursor `after` (0: from the start).
    pub fn inbox(&self, session: &SessionResponse, after: i64) -> Result<Inbox, ClientError> {
        self.call(
            &format!("/v1/messages?after={after}"),
            Some(session),
            Method::Get,
        )
    }
}

/// Decodes a card from a server and verifies it before anyone sees it.
fn verified(verifier: &Verifier, response: CardResponse) -> Result<PublishedCard, ClientError> {
    let card = response.card.into_card()?;
    verifier.verify(&card)?;
    Ok(PublishedCard {
        card,
        status: response.status,
        published_at: response.published_at,
    })
}
