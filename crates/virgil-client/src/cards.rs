//! The cards service's client: publish, get, search, revoke. Every card, status and
//! answer is checked with the card crate's rules (`virgil_card::status`,
//! `virgil_card::Verifier`) before anyone sees it; this module is transport.

use crate::ClientError;
use crate::directory::{CheckpointStore, MemoryCheckpoints, check_answer};
use crate::http::{Http, Method, TlsRoots};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use virgil_api::cards::{
    BackupGuesses, CardResponse, CardStatus, EvaluateRequest, RevocationRecord, RevokeRequest,
    SearchRequest,
};
use virgil_api::endpoints::{self, Endpoint};
use virgil_api::{ErrorCode, token, unix_now};
use virgil_card::CardIdentity;
use virgil_card::backup::{OprfKeyStatement, oprf_info};
use virgil_card::checkpoint::SignedCheckpoint;
use virgil_card::status::{StatusError, check_fresh, check_status};
use virgil_card::{Card, CardId, RevocationRequest, SearchStatement, Verifier};
use virgil_crypto::encoding::{from_base64, to_base64};
use virgil_crypto::keyblob::HardenedPassword;
use virgil_crypto::oprf::{Evaluation, OprfPublicKey, PasswordBlind};
use virgil_crypto::sign::Signature;
use virgil_crypto::{PrivateKey, PublicKey};

pub use virgil_card::status::{MAX_STATUS_AGE_SECONDS, STATUS_CLOCK_SKEW_SECONDS};

/// Lifetime of the tokens [`CardsClient::for_application`] signs (seconds).
pub const APPLICATION_TOKEN_SECONDS: u64 = 300;

/// A card as the service returned it, after verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedCard {
    /// The verified card.
    pub card: Card,
    /// Its status at the service (signed by it, checked against the pinned key).
    pub status: CardStatus,
    /// When the service published it, seconds since the Unix epoch.
    pub published_at: u64,
    /// When the service stated the status.
    pub status_as_of: u64,
    /// The service's signature over the status statement (for a card from a search,
    /// the answer's one signature over every status was checked instead).
    pub status_signature: Signature,
    /// Who revoked it, when revoked (verified: the application's key, the owner's, or
    /// a reset card of the identity).
    pub revocation: Option<RevocationRecord>,
    /// The key directory epoch whose lookup proof covered this card (a search or a
    /// get); `None` in answers that are no lookup (publish, revoke).
    pub directory_epoch: Option<u64>,
}

impl PublishedCard {
    /// The API answer carrying this card (the application server passes on what the
    /// cards service signed).
    pub fn to_response(&self) -> CardResponse {
        CardResponse {
            card: self.card.to_json(),
            status: self.status.clone(),
            published_at: self.published_at,
            status_as_of: self.status_as_of,
            status_signature: to_base64(self.status_signature.as_bytes()),
            revocation: self.revocation.clone(),
            directory: None,
        }
    }
}

/// Every version of an identity's key directory entry ([`CardsClient::history`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// The epoch of the checkpoint the proof was checked against.
    pub epoch: u64,
    /// Every version, oldest first.
    pub versions: Vec<virgil_card::directory::ProvenEntry>,
}

/// Where access tokens come from; called before every request, so it can refresh them.
pub trait TokenSource: Send + Sync {
    /// A current access token.
    fn token(&self) -> Result<String, ClientError>;

    /// A new access token, after the service refused the current one as expired (the
    /// client's clock and the issuer's disagree). Default: [`TokenSource::token`] again.
    fn refresh(&self) -> Result<String, ClientError> {
        self.token()
    }
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
    roots: TlsRoots,
    checkpoints: Arc<dyn CheckpointStore>,
}

impl ClientBuilder {
    /// Which CAs to trust for `https://` (default: the public web's).
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.roots = roots;
        self
    }

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

    /// Where the newest key directory checkpoint this device accepted is kept (default:
    /// memory). Keep it beside the keys so that a rollback or a fork is caught across
    /// runs, not only within one.
    pub fn checkpoints(mut self, store: Arc<dyn CheckpointStore>) -> Self {
        self.checkpoints = store;
        self
    }

    /// The client.
    pub fn build(self) -> CardsClient {
        CardsClient {
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            http: Http::new(self.timeout, self.retries, self.backoff, &self.roots),
            verifier: self.verifier,
            tokens: self.tokens,
            checkpoints: self.checkpoints,
        }
    }
}

/// A blocking client of the cards service.
pub struct CardsClient {
    base_url: String,
    http: Http,
    verifier: Verifier,
    tokens: Option<Box<dyn TokenSource>>,
    checkpoints: Arc<dyn CheckpointStore>,
}

impl std::fmt::Debug for CardsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardsClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl CardsClient {
    /// A client of the service at `base_url` that verifies every card with `verifier`
    /// (which must pin the service's key).
    pub fn builder(base_url: &str, verifier: Verifier) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_owned(),
            verifier,
            tokens: None,
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_millis(200),
            roots: TlsRoots::default(),
            checkpoints: Arc::new(MemoryCheckpoints::default()),
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
        roots: TlsRoots,
    ) -> Result<CardsClient, ClientError> {
        let verifier = Verifier::new()
            .trust_service(service_key)
            .trust_app(app_id, app_key.public_key().clone());
        // The token source owns its own copy of the key (PrivateKey is not Clone).
        let signing_key = PrivateKey::from_seed(&app_key.to_seed())
            .map_err(|e| ClientError::Token(e.to_string()))?;
        let issuer = app_id.to_owned();
        Ok(CardsClient::builder(base_url, verifier)
            .tls_roots(roots)
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

    /// Calls endpoint `E` with its path `parameters` and `body`; a token the service
    /// refuses as expired is refreshed once and the call made again.
    fn call<E>(
        &self,
        parameters: &[&str],
        body: Option<&E::Request>,
    ) -> Result<E::Response, ClientError>
    where
        E: Endpoint,
        E::Request: Serialize,
        E::Response: DeserializeOwned,
    {
        let method = match (E::METHOD, body) {
            (endpoints::Method::Get, _) => Method::Get,
            (endpoints::Method::Delete, _) => Method::Delete,
            (endpoints::Method::Post, Some(body)) => Method::json(body)?,
            (endpoints::Method::Post, None) => Method::Post(Vec::new()),
        };
        let url = format!("{}{}", self.base_url, E::path(parameters));
        let Some(tokens) = &self.tokens else {
            return self.http.request(&url, None, &method);
        };
        match self.http.request(&url, Some(&tokens.token()?), &method) {
            Err(ClientError::Api {
                status: 401,
                code: ErrorCode::TokenExpired,
                ..
            }) => self.http.request(&url, Some(&tokens.refresh()?), &method),
            other => other,
        }
    }

    /// Publishes a card approved by its application (self + app signatures); returns
    /// it countersigned by the service. Publishing the same card again returns it, and
    /// so does publishing another card for a key that already has an active card of the
    /// identity: the answer is then that card (same owner and key).
    pub fn publish(&self, card: &Card) -> Result<PublishedCard, ClientError> {
        let response = self.call::<endpoints::cards::Publish>(&[], Some(&card.to_json()))?;
        let published = verified(&self.verifier, response)?;
        same_key_card(card, &published.card)?;
        Ok(published)
    }

    /// A card by id, whatever its status (superseded cards stay available so old
    /// messages remain verifiable). The answer is used only with a key directory proof
    /// of its owner's entry that agrees with its status: an active card must be listed,
    /// a revoked or replaced one must not be.
    pub fn get(&self, id: &CardId) -> Result<PublishedCard, ClientError> {
        let mut response = self.call::<endpoints::cards::Get>(&[&id.to_string()], None)?;
        let directory = response.directory.take();
        let mut published = verified(&self.verifier, response)?;
        if published.card.id() != id {
            return Err(ClientError::InvalidResponse(format!(
                "asked for card {id}, got {}",
                published.card.id()
            )));
        }
        let content = published.card.content();
        let epoch = check_answer(
            self.checkpoints.as_ref(),
            self.verifier.service_keys(),
            &content.app_id,
            &[content.identity.as_str()],
            &[(
                content.identity.as_str(),
                published.card.id(),
                &published.status,
            )],
            directory.as_ref(),
            false,
        )?;
        published.directory_epoch = epoch;
        Ok(published)
    }

    /// Every version of `identity`'s entry in the key directory (of application
    /// `app_id`, the caller's), oldest first, proven by a history proof against a
    /// checkpoint signed by the pinned key (and moving this device's view only
    /// forward); `None` for an identity the directory never listed.
    pub fn history(&self, app_id: &str, identity: &str) -> Result<Option<History>, ClientError> {
        let request = virgil_api::cards::HistoryRequest {
            identity: identity.to_owned(),
        };
        let response = match self.call::<endpoints::cards::History>(&[], Some(&request)) {
            Ok(response) => response,
            Err(ClientError::Api {
                code: ErrorCode::NotInDirectory,
                ..
            }) => return Ok(None),
            Err(other) => return Err(other),
        };
        let checkpoint = crate::directory::accept_checkpoint(
            self.checkpoints.as_ref(),
            self.verifier.service_keys(),
            &response.checkpoint,
        )?;
        let proof = from_base64(&response.proof).map_err(|_| {
            virgil_card::directory::DirectoryProofError::Malformed(
                "a history proof is not base64".to_owned(),
            )
        })?;
        let owner = virgil_card::CardIdentity::new(app_id, identity);
        let mut versions =
            virgil_card::directory::verify_history(&checkpoint, &owner, &proof, None)?;
        versions.reverse();
        Ok(Some(History {
            epoch: checkpoint.epoch,
            versions,
        }))
    }

    /// The key directory's signed checkpoint of `epoch` (the latest: `None`), checked
    /// against the pinned key. It does not move this device's view (auditors and
    /// comparisons use it).
    pub fn checkpoint(&self, epoch: Option<u64>) -> Result<SignedCheckpoint, ClientError> {
        let mut url = format!(
            "{}{}",
            self.base_url,
            <endpoints::cards::Checkpoint as Endpoint>::path(&[])
        );
        if let Some(epoch) = epoch {
            url.push_str(&format!("?epoch={epoch}"));
        }
        let response: virgil_api::cards::CheckpointResponse =
            self.http.request(&url, None, &Method::Get)?;
        let signed = SignedCheckpoint::from_base64(&response.checkpoint)?;
        signed.verify(self.verifier.service_keys())?;
        if epoch.is_some_and(|epoch| epoch != signed.checkpoint.epoch) {
            return Err(ClientError::InvalidResponse(format!(
                "asked for the checkpoint of epoch {}, got epoch {}",
                epoch.unwrap_or_default(),
                signed.checkpoint.epoch
            )));
        }
        Ok(signed)
    }

    /// The signed checkpoints of epochs `from` to `to` (at most
    /// [`virgil_api::cards::MAX_AUDIT_EPOCHS`] apart), each checked against the pinned
    /// key, consecutive and of one directory and VRF key, and the directory's
    /// append-only proof between them (akd's protobuf `AppendOnlyProof`), for an auditor
    /// to verify. No token is needed.
    pub fn audit(
        &self,
        from: u64,
        to: u64,
    ) -> Result<(Vec<SignedCheckpoint>, Vec<u8>), ClientError> {
        let request = virgil_api::cards::AuditRequest { from, to };
        let url = format!(
            "{}{}",
            self.base_url,
            <endpoints::cards::Audit as Endpoint>::path(&[])
        );
        let response: virgil_api::cards::AuditResponse =
            self.http.request(&url, None, &Method::json(&request)?)?;
        let mut checkpoints = Vec::with_capacity(response.checkpoints.len());
        for (expected, encoded) in (from..=to).zip(&response.checkpoints) {
            let signed = SignedCheckpoint::from_base64(encoded)?;
            let checkpoint = signed.verify(self.verifier.service_keys())?;
            let same_directory = checkpoints.first().is_none_or(|first: &SignedCheckpoint| {
                first.checkpoint.directory == checkpoint.directory
                    && first.checkpoint.vrf_key == checkpoint.vrf_key
            });
            if checkpoint.epoch != expected || !same_directory {
                return Err(ClientError::InvalidResponse(format!(
                    "the audit answer's checkpoints are not epochs {from} to {to} of one directory"
                )));
            }
            checkpoints.push(signed);
        }
        if u64::try_from(checkpoints.len()).ok() != to.checked_sub(from).map(|n| n + 1) {
            return Err(ClientError::InvalidResponse(format!(
                "the audit answer does not hold the checkpoints of epochs {from} to {to}"
            )));
        }
        let proof = from_base64(&response.proof).map_err(|_| {
            ClientError::InvalidResponse("the audit proof is not base64".to_owned())
        })?;
        Ok((checkpoints, proof))
    }

    /// The newest key directory checkpoint this client accepted, if any.
    pub fn newest_checkpoint(
        &self,
    ) -> Result<Option<virgil_card::checkpoint::SignedCheckpoint>, ClientError> {
        crate::directory::newest_checkpoint(self.checkpoints.as_ref())
    }

    /// The key-backup OPRF public key of application `app_id`, checked against the
    /// pinned service key (its signed statement, docs/format.md §16).
    pub fn backup_key(&self, app_id: &str) -> Result<OprfPublicKey, ClientError> {
        let response = self.call::<endpoints::cards::BackupKey>(&[], None)?;
        let public_key = from_base64(&response.public_key)
            .ok()
            .and_then(|bytes| OprfPublicKey::from_bytes(&bytes).ok())
            .ok_or(ClientError::BackupKeyNotSigned)?;
        let statement = OprfKeyStatement {
            app_id: app_id.to_owned(),
            public_key,
        };
        let signed = from_base64(&response.signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .is_some_and(|signature| statement.is_signed(&signature, self.verifier.service_keys()));
        if !signed || response.app_id != app_id {
            return Err(ClientError::BackupKeyNotSigned);
        }
        Ok(public_key)
    }

    /// Hardens `password` for `owner`'s key backup: one evaluation of the cards
    /// service's oblivious PRF (it never sees the password), checked against the
    /// application's OPRF key ([`CardsClient::backup_key`]) and `owner`. Each call is a
    /// guess the service counts against the identity of the access token, which must be
    /// `owner`'s; past the limit, the answer is 429 `backup_guess_limit` with the wait.
    pub fn harden_password(
        &self,
        owner: &CardIdentity,
        password: &[u8],
    ) -> Result<(HardenedPassword, BackupGuesses), ClientError> {
        let public_key = self.backup_key(&owner.app_id)?;
        let (state, blinded) = PasswordBlind::new(password)
            .map_err(|e| ClientError::Request(format!("the backup password: {e}")))?;
        let request = EvaluateRequest {
            blinded: to_base64(&blinded.to_bytes()),
        };
        let response = self.call::<endpoints::cards::BackupEvaluate>(&[], Some(&request))?;
        let evaluation = from_base64(&response.evaluation)
            .ok()
            .and_then(|bytes| Evaluation::from_bytes(&bytes).ok())
            .ok_or(ClientError::BackupProof)?;
        let hardened = state
            .finalize(&evaluation, &public_key, &oprf_info(owner))
            .map_err(|_| ClientError::BackupProof)?;
        Ok((hardened, response.guesses))
    }

    /// The caller's backup-password guesses so far (none counted).
    pub fn backup_guesses(&self) -> Result<BackupGuesses, ClientError> {
        self.call::<endpoints::cards::BackupGuessCount>(&[], None)
    }

    /// Every card of `identities` (1–50, whatever the cards' identity types) that is
    /// active, and their pending reset cards ([`CardStatus::Pending`]: never encrypt to
    /// one). The answer is used only if the service's one signature covers exactly this
    /// query, a fresh time and every card in it (`virgil_card::SearchStatement`): a
    /// card dropped or added on the way, or an answer replayed from another query, is
    /// refused. There is no fallback to the cards' own status signatures.
    pub fn search(&self, identities: &[&str]) -> Result<Vec<PublishedCard>, ClientError> {
        let request = SearchRequest {
            identities: identities
                .iter()
                .map(|identity| (*identity).to_owned())
                .collect(),
        };
        let response = self.call::<endpoints::cards::Search>(&[], Some(&request))?;
        let statement = SearchStatement::new(
            &response.app_id,
            identities.iter().copied(),
            response.as_of,
            response
                .cards
                .iter()
                .map(|card| (&card.card.id, &card.status, card.status_as_of)),
        );
        let signed = from_base64(&response.statuses_signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .is_some_and(|signature| statement.is_signed(&signature, self.verifier.service_keys()));
        if !signed {
            return Err(StatusError::AnswerNotSigned.into());
        }
        check_fresh("the search answer", response.as_of, unix_now())?;
        if self.verifier.app_keys(&response.app_id).is_empty() {
            return Err(ClientError::InvalidResponse(format!(
                "the search answered for application {:?}, which this client does not trust",
                response.app_id
            )));
        }
        let app_id = response.app_id;
        let directory = response.directory;
        let mut found = response
            .cards
            .into_iter()
            .map(|card| {
                let published = checked(&self.verifier, card, true)?;
                let content = published.card.content();
                if !identities.contains(&content.identity.as_str())
                    || content.app_id != app_id
                    || !matches!(
                        published.status,
                        CardStatus::Active | CardStatus::Pending { .. }
                    )
                {
                    return Err(ClientError::InvalidResponse(format!(
                        "search returned card {} that does not match the query",
                        published.card.id()
                    )));
                }
                Ok(published)
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        // Exactly the cards the key directory lists for each identity, proven against
        // a checkpoint the pinned key signed and this device's view allows.
        let served: Vec<(&str, &CardId, &CardStatus)> = found
            .iter()
            .map(|card| (card.card.identity(), card.card.id(), &card.status))
            .collect();
        let epoch = check_answer(
            self.checkpoints.as_ref(),
            self.verifier.service_keys(),
            &app_id,
            identities,
            &served,
            directory.as_ref(),
            true,
        )?;
        for card in &mut found {
            card.directory_epoch = epoch;
        }
        Ok(found)
    }

    /// Revokes a card with a revocation request signed by its application's key.
    pub fn revoke(
        &self,
        request: &RevocationRequest,
        signature: &Signature,
    ) -> Result<PublishedCard, ClientError> {
        self.send_revocation(request, signature, None)
    }

    /// Revokes a card as its owner: `signature` is by the key of card `signed_by`, the
    /// revoked card itself or another active card of the same identity.
    pub fn revoke_as_owner(
        &self,
        request: &RevocationRequest,
        signature: &Signature,
        signed_by: &CardId,
    ) -> Result<PublishedCard, ClientError> {
        self.send_revocation(request, signature, Some(*signed_by))
    }

    fn send_revocation(
        &self,
        request: &RevocationRequest,
        signature: &Signature,
        signed_by: Option<CardId>,
    ) -> Result<PublishedCard, ClientError> {
        let body = RevokeRequest {
            request: to_base64(&request.to_bytes()),
            signature: to_base64(signature.as_bytes()),
            signed_by,
        };
        let response =
            self.call::<endpoints::cards::Revoke>(&[&request.card_id.to_string()], Some(&body))?;
        verified(&self.verifier, response)
    }
}

/// Decodes a card from a server and verifies it before anyone sees it.
pub(crate) fn verified(
    verifier: &Verifier,
    response: CardResponse,
) -> Result<PublishedCard, ClientError> {
    checked(verifier, response, false)
}

/// [`verified`]; `in_signed_answer`: the card came in a search answer whose one
/// signature (already checked) covers its status; only its freshness and revocation
/// record are left.
fn checked(
    verifier: &Verifier,
    response: CardResponse,
    in_signed_answer: bool,
) -> Result<PublishedCard, ClientError> {
    let card = response.card.into_card()?;
    verifier.verify(&card)?;
    let signature = from_base64(&response.status_signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(StatusError::NotSigned { card: *card.id() })?;
    check_status(
        verifier,
        &card,
        &response.status,
        response.status_as_of,
        (!in_signed_answer).then_some(&signature),
        response.revocation.as_ref(),
        unix_now(),
    )?;
    Ok(PublishedCard {
        card,
        status: response.status,
        published_at: response.published_at,
        status_as_of: response.status_as_of,
        status_signature: signature,
        revocation: response.revocation,
        directory_epoch: None,
    })
}

/// The answer to publishing `sent` must be one the card rules allow
/// (`virgil_card::lifecycle::answers_publication`).
pub(crate) fn same_key_card(sent: &Card, got: &Card) -> Result<(), ClientError> {
    if virgil_card::lifecycle::answers_publication(sent, got) {
        Ok(())
    } else {
        Err(ClientError::InvalidResponse(
            "the server answered with a card of another identity or key".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use virgil_card::{CardRequest, Signer};

    /// A published card answer whose status the service `key(3)` signed at `as_of`.
    /// When alice's card of [`answer`] was made.
    const ALICE_CREATED_AT: u64 = 1_700_000_000;

    fn answer(as_of: u64) -> (Verifier, CardResponse) {
        let (user, app, service) = (
            virgil_testkit::key(1),
            virgil_testkit::key(2),
            virgil_testkit::key(3),
        );
        // A fixed creation time: the same card (the same id) at every call, also when
        // the calls of one test straddle a second.
        let mut card = CardRequest::new("alice", "chat")
            .created_at(ALICE_CREATED_AT)
            .sign(&user)
            .unwrap();
        card.sign_as(Signer::App("chat".into()), &app).unwrap();
        card.sign_as(Signer::Service, &service).unwrap();
        let status = CardStatus::Active;
        let signature = status.sign(card.id(), as_of, &service);
        let verifier = Verifier::new()
            .trust_app("chat", app.public_key().clone())
            .trust_service(service.public_key().clone());
        let response = CardResponse {
            card: card.to_json(),
            status,
            published_at: 1,
            status_as_of: as_of,
            status_signature: to_base64(signature.as_bytes()),
            revocation: None,
            directory: None,
        };
        (verifier, response)
    }

    #[test]
    fn a_signed_status_is_accepted_only_while_fresh() {
        let now = unix_now();
        let (verifier, fresh) = answer(now);
        assert!(verified(&verifier, fresh).is_ok());
        // A replayed answer from before a revocation, past the age limit.
        let (verifier, stale) = answer(now - MAX_STATUS_AGE_SECONDS - 5);
        assert!(matches!(
            verified(&verifier, stale),
            Err(ClientError::Status(_))
        ));
        let (verifier, future) = answer(now + STATUS_CLOCK_SKEW_SECONDS + 60);
        assert!(matches!(
            verified(&verifier, future),
            Err(ClientError::Status(_))
        ));
        // The date is signed: moving it forward breaks the signature.
        let (verifier, mut moved) = answer(now - MAX_STATUS_AGE_SECONDS - 5);
        moved.status_as_of = now;
        assert!(matches!(
            verified(&verifier, moved),
            Err(ClientError::Status(_))
        ));
        let (verifier, mut garbled) = answer(now);
        garbled.status_signature = "AAAA".into();
        assert!(matches!(
            verified(&verifier, garbled),
            Err(ClientError::Status(_))
        ));
    }

    /// A published card of `identity` with user key `key(owner)`.
    fn card_of(identity: &str, owner: u8, reset: bool) -> Card {
        let mut request = CardRequest::new(identity, "chat");
        if reset {
            request = request.data(virgil_card::lifecycle::RESET_DATA_KEY, "1");
        }
        let mut card = request.sign(&virgil_testkit::key(owner)).unwrap();
        card.sign_as(Signer::App("chat".into()), &virgil_testkit::key(2))
            .unwrap();
        card.sign_as(Signer::Service, &virgil_testkit::key(3))
            .unwrap();
        card
    }

    /// `answer`, relabelled revoked (the status re-signed by the service) with `record`.
    fn revoked(
        reason: RevocationReason,
        record: Option<RevocationRecord>,
    ) -> (Verifier, CardResponse) {
        let now = unix_now();
        let (verifier, mut response) = answer(now);
        response.status = CardStatus::Revoked { reason, at: now };
        let signature = response
            .status
            .sign(&response.card.id, now, &virgil_testkit::key(3));
        response.status_signature = to_base64(signature.as_bytes());
        response.revocation = record;
        (verifier, response)
    }

    /// `reason` for alice's card (`answer`), signed by `key(signer)`.
    fn request(reason: RevocationReason, signer: u8) -> (String, String) {
        let (_, response) = answer(unix_now());
        let request = RevocationRequest {
            card_id: response.card.id,
            reason,
            created_at: 1,
        };
        let signature = request.sign(&virgil_testkit::key(signer));
        (
            to_base64(&request.to_bytes()),
            to_base64(signature.as_bytes()),
        )
    }

    use virgil_card::RevocationReason;

    #[test]
    fn a_revocation_verifies_only_when_someone_allowed_to_revoke_signed_it() {
        let accepted = |reason, record| {
            let (verifier, response) = revoked(reason, record);
            verified(&verifier, response).is_ok()
        };
        let unspecified = RevocationReason::Unspecified;
        // The application's key, or the owner's (the card's own key or another card of
        // alice's): accepted.
        let (req, sig) = request(unspecified, 2);
        assert!(accepted(
            unspecified,
            Some(RevocationRecord::Application {
                request: req.clone(),
                signature: sig.clone()
            })
        ));
        let (own_req, own_sig) = request(unspecified, 1);
        let (_, alice) = answer(unix_now());
        assert!(accepted(
            unspecified,
            Some(RevocationRecord::Owner {
                request: own_req.clone(),
                signature: own_sig.clone(),
                signer: alice.card.clone()
            })
        ));
        let (phone_req, phone_sig) = request(unspecified, 4);
        assert!(accepted(
            unspecified,
            Some(RevocationRecord::Owner {
                request: phone_req,
                signature: phone_sig,
                signer: card_of("alice", 4, false).to_json()
            })
        ));
        let reset = card_of("alice", 5, true).to_json();
        assert!(accepted(
            RevocationReason::Reset,
            Some(RevocationRecord::Reset {
                card: reset.clone()
            })
        ));

        // Said revoked with no record, or a record nobody allowed signed: refused.
        assert!(!accepted(unspecified, None));
        let (user_req, user_sig) = request(unspecified, 1);
        assert!(!accepted(
            unspecified,
            Some(RevocationRecord::Application {
                request: user_req,
                signature: user_sig
            }),
        ));
        let (mallory_req, mallory_sig) = request(unspecified, 6);
        assert!(!accepted(
            unspecified,
            Some(RevocationRecord::Owner {
                request: mallory_req,
                signature: mallory_sig,
                signer: card_of("mallory", 6, false).to_json()
            })
        ));
        // A signature by one key passed off as another card's.
        assert!(!accepted(
            unspecified,
            Some(RevocationRecord::Owner {
                request: own_req,
                signature: own_sig,
                signer: card_of("alice", 4, false).to_json()
            })
        ));
        // A request for another reason than the status says.
        assert!(!accepted(
            RevocationReason::Compromised,
            Some(RevocationRecord::Application {
                request: req,
                signature: sig
            })
        ));
        // A "reset" by a card that is no reset card, or under another reason.
        assert!(!accepted(
            RevocationReason::Reset,
            Some(RevocationRecord::Reset {
                card: card_of("alice", 4, false).to_json()
            })
        ));
        assert!(!accepted(
            unspecified,
            Some(RevocationRecord::Reset { card: reset })
        ));
        // A record on a card that is not revoked.
        let (verifier, mut active) = answer(unix_now());
        active.revocation = Some(RevocationRecord::Reset {
            card: card_of("alice", 5, true).to_json(),
        });
        assert!(verified(&verifier, active).is_err());
    }
}
