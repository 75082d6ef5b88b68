//! The reference application server's client: register, log in, submit a card, relay.

use crate::ClientError;
use crate::cards::{PublishedCard, verified};
use crate::http::{Http, Method, TlsRoots};
use serde::de::DeserializeOwned;
use std::time::Duration;
use virgil_api::app::{
    AccessTokenResponse, Credentials, DeleteBackupRequest, Inbox, KeyBackup, OpenPairingRequest,
    Pairing, PairingMessageRequest, PasswordChange, SendMessageRequest, SessionList,
    SessionResponse, StoreBackupRequest, SubmitCardRequest,
};
use virgil_api::endpoints::{self, Endpoint, app};
use virgil_card::{Card, Verifier};
use virgil_crypto::encoding::to_base64;

/// A blocking client of the reference application server: register, log in, submit a
/// card request for approval, relay messages. Cards it returns are verified like the
/// cards client's. Calls that are safe to repeat (reading, and sending a message, which
/// carries its own idempotency key) are retried on connection errors, 429 and 503
/// (waiting out `Retry-After`); the others are not: registering twice is not harmless.
pub struct AppClient {
    base_url: String,
    http: Http,
    retrying: Http,
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
        Self::with_tls_roots(base_url, verifier, &TlsRoots::default())
    }

    /// Like [`AppClient::new`], trusting `roots` for `https://`.
    pub fn with_tls_roots(base_url: &str, verifier: Verifier, roots: &TlsRoots) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: Http::new(Duration::from_secs(30), 0, Duration::ZERO, roots),
            retrying: Http::new(
                Duration::from_secs(30),
                2,
                Duration::from_millis(250),
                roots,
            ),
            verifier,
        }
    }

    /// Calls endpoint `E` with its path `parameters`, the session's token and `body`.
    fn call<E>(
        &self,
        parameters: &[&str],
        query: &str,
        session: Option<&SessionResponse>,
        body: Option<&E::Request>,
    ) -> Result<E::Response, ClientError>
    where
        E: Endpoint + 'static,
        E::Request: serde::Serialize,
        E::Response: DeserializeOwned,
    {
        let method = match (E::METHOD, body) {
            (endpoints::Method::Get, _) => Method::Get,
            (endpoints::Method::Delete, _) => Method::Delete,
            (endpoints::Method::Post, Some(body)) => Method::json(body)?,
            (endpoints::Method::Post, None) => Method::Post(Vec::new()),
        };
        let token = session.map(|session| session.session_token.as_str());
        let http = if E::METHOD == endpoints::Method::Get
            || std::any::TypeId::of::<E>() == std::any::TypeId::of::<app::SendMessage>()
        {
            &self.retrying
        } else {
            &self.http
        };
        http.request(
            &format!("{}{}{query}", self.base_url, E::path(parameters)),
            token,
            &method,
        )
    }

    /// Registers a user.
    pub fn register(&self, username: &str, password: &str) -> Result<(), ClientError> {
        let credentials = Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        self.call::<app::Register>(&[], "", None, Some(&credentials))?;
        Ok(())
    }

    /// Logs in: a session for this server and an access token for the cards service.
    pub fn login(&self, username: &str, password: &str) -> Result<SessionResponse, ClientError> {
        let credentials = Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        self.call::<app::Login>(&[], "", None, Some(&credentials))
    }

    /// A fresh access token for the cards service, for a session that is still valid
    /// (no password needed).
    pub fn refresh_access_token(
        &self,
        session: &SessionResponse,
    ) -> Result<AccessTokenResponse, ClientError> {
        self.call::<app::AccessToken>(&[], "", Some(session), None)
    }

    /// The logged-in user's live sessions, newest first.
    pub fn sessions(&self, session: &SessionResponse) -> Result<SessionList, ClientError> {
        self.call::<app::Sessions>(&[], "", Some(session), None)
    }

    /// Ends session `id` (from [`AppClient::sessions`]; `"current"`: this one) at once.
    pub fn end_session(&self, session: &SessionResponse, id: &str) -> Result<(), ClientError> {
        self.call::<app::EndSession>(&[id], "", Some(session), None)
    }

    /// Changes the logged-in user's account password; the server ends every other
    /// session of the account.
    pub fn change_password(
        &self,
        session: &SessionResponse,
        current_password: &str,
        new_password: &str,
    ) -> Result<(), ClientError> {
        let body = PasswordChange {
            current_password: current_password.to_owned(),
            new_password: new_password.to_owned(),
        };
        self.call::<app::ChangePassword>(&[], "", Some(session), Some(&body))
    }

    /// Submits the logged-in user's card request; returns the published, verified card.
    pub fn submit_card(
        &self,
        session: &SessionResponse,
        request: &Card,
    ) -> Result<PublishedCard, ClientError> {
        self.submit(session, request, None)
    }

    /// Submits a reset card request (one that says every earlier key was lost,
    /// docs/key-changes.md) with the account password, which the server checks again.
    pub fn submit_reset_card(
        &self,
        session: &SessionResponse,
        request: &Card,
        password: &str,
    ) -> Result<PublishedCard, ClientError> {
        self.submit(session, request, Some(password))
    }

    fn submit(
        &self,
        session: &SessionResponse,
        request: &Card,
        password: Option<&str>,
    ) -> Result<PublishedCard, ClientError> {
        let body = SubmitCardRequest {
            card: request.export(),
            password: password.map(str::to_owned),
        };
        let response = self.call::<app::SubmitCard>(&[], "", Some(session), Some(&body))?;
        let published = verified(&self.verifier, response)?;
        crate::cards::same_key_card(request, &published.card)?;
        Ok(published)
    }

    /// Relays `ciphertext` to user `to`; returns its place in their inbox. Each call
    /// gives the message a new idempotency key (32 hex digits, unique to this call:
    /// a hash of the recipient, the ciphertext, the time, the process and a counter),
    /// so it is retried safely: a retry after a lost answer is stored once, while two
    /// calls with the same bytes are two messages.
    pub fn send_message(
        &self,
        session: &SessionResponse,
        to: &str,
        ciphertext: &[u8],
    ) -> Result<i64, ClientError> {
        use sha2::Digest as _;
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let digest = sha2::Sha256::new()
            .chain_update(b"virgil/message-id\0")
            .chain_update(to.as_bytes())
            .chain_update([0])
            .chain_update(ciphertext)
            .chain_update(now.to_be_bytes())
            .chain_update(std::process::id().to_be_bytes())
            .chain_update(call.to_be_bytes())
            .finalize();
        let message_id = virgil_crypto::encoding::to_hex(&digest);
        let body = SendMessageRequest {
            to: to.to_owned(),
            body: to_base64(ciphertext),
            message_id: message_id.get(..32).map(str::to_owned),
        };
        let sent = self.call::<app::SendMessage>(&[], "", Some(session), Some(&body))?;
        Ok(sent.id)
    }

    /// Stores the logged-in user's key backup (a hardened key blob). Replacing one
    /// needs the account password (`401 reauthentication_required` without it).
    pub fn store_backup(
        &self,
        session: &SessionResponse,
        blob: &[u8],
        account_password: Option<&str>,
    ) -> Result<KeyBackup, ClientError> {
        let body = StoreBackupRequest {
            blob: to_base64(blob),
            password: account_password.map(str::to_owned),
        };
        self.call::<app::StoreBackup>(&[], "", Some(session), Some(&body))
    }

    /// The logged-in user's key backup (`404 no_backup` when there is none).
    pub fn fetch_backup(&self, session: &SessionResponse) -> Result<KeyBackup, ClientError> {
        self.call::<app::FetchBackup>(&[], "", Some(session), None)
    }

    /// Deletes the logged-in user's key backup (the account password again).
    pub fn delete_backup(
        &self,
        session: &SessionResponse,
        account_password: &str,
    ) -> Result<(), ClientError> {
        let body = DeleteBackupRequest {
            password: account_password.to_owned(),
        };
        self.call::<app::DeleteBackup>(&[], "", Some(session), Some(&body))
    }

    /// Opens a pairing mailbox `id` (6 digits) with message 1 (docs/format.md §17).
    pub fn open_pairing(
        &self,
        session: &SessionResponse,
        id: &str,
        message: &[u8],
    ) -> Result<Pairing, ClientError> {
        let body = OpenPairingRequest {
            id: id.to_owned(),
            message: to_base64(message),
        };
        self.call::<app::OpenPairing>(&[], "", Some(session), Some(&body))
    }

    /// The logged-in user's pairing mailbox `id`: the messages so far (`404 no_pairing`
    /// when it expired or was ended).
    pub fn pairing(&self, session: &SessionResponse, id: &str) -> Result<Pairing, ClientError> {
        self.call::<app::GetPairing>(&[id], "", Some(session), None)
    }

    /// Adds message `index` (0-based: 1 is the existing device's answer) to pairing `id`.
    pub fn add_pairing_message(
        &self,
        session: &SessionResponse,
        id: &str,
        index: u32,
        message: &[u8],
    ) -> Result<Pairing, ClientError> {
        let body = PairingMessageRequest {
            index,
            message: to_base64(message),
        };
        self.call::<app::AddPairingMessage>(&[id], "", Some(session), Some(&body))
    }

    /// Ends pairing `id` (either side).
    pub fn delete_pairing(&self, session: &SessionResponse, id: &str) -> Result<(), ClientError> {
        self.call::<app::DeletePairing>(&[id], "", Some(session), None)
    }

    /// The logged-in user's messages after the cursor `after` (0: from the start).
    pub fn inbox(&self, session: &SessionResponse, after: i64) -> Result<Inbox, ClientError> {
        self.call::<app::Inbox>(&[], &format!("?after={after}"), Some(session), None)
    }
}
