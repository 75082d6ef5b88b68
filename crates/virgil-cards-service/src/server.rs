//! The HTTP API (v1): routes, request checks and the mapping from store results to
//! responses. Limits are checked before any work: the body size (64 KiB, 413), the
//! number of identities per search (50, 422), every field of a card (422).

use crate::auth::{Applications, Caller};
use crate::backup::{BackupKeys, GuessPolicy};
use crate::config::{Config, DEFAULT_EPOCH_INTERVAL_MS};
use crate::directory::{PublishError, Publisher};
use crate::store::{CardStore, Published, RevokedBy, StoreError, StoredCard};
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Json, Router};
use std::sync::Arc;
use virgil_api::cards::{
    AuditRequest, AuditResponse, CheckpointResponse, DirectoryProofs, HistoryRequest,
    HistoryResponse, IdentityProof, MAX_AUDIT_EPOCHS,
};
use virgil_api::cards::{BackupGuesses, EvaluateRequest, EvaluateResponse, OprfKeyResponse};
use virgil_api::cards::{
    CardResponse, MAX_BODY_BYTES, MAX_SEARCH_IDENTITIES, RevokeRequest, SearchRequest,
    SearchResponse, ServiceKeyResponse,
};
use virgil_api::{ErrorCode, HealthResponse, endpoints};
use virgil_card::backup::{OprfKeyStatement, oprf_info};
use virgil_card::directory::{DirectoryEntry, EntryState};
use virgil_card::lifecycle::{Refusal, RevocationRefusal};
use virgil_card::status::decode_signed_request;
use virgil_card::{CardId, CardJson, SearchStatement, Signer, Verifier};
use virgil_card::{CardIdentity, CardStatus};
use virgil_crypto::PrivateKey;
use virgil_crypto::encoding::{from_base64, to_base64};
use virgil_crypto::oprf::BlindedPassword;
use virgil_directory::DirectoryError;
use virgil_server::http::{
    CommonRoutes, PROMETHEUS_TEXT, authorization, on, parse_json, with_common_routes,
};
use virgil_server::metrics::{Gauge, Metrics};
use virgil_server::rate_limit::{Rate, RateLimiter};
use virgil_server::{ApiError, ServeError};

/// Everything a request handler needs; shared by all requests.
pub struct Service {
    store: CardStore,
    directory: Option<Arc<Publisher>>,
    directory_task: Option<tokio::task::AbortHandle>,
    service_key: PrivateKey,
    applications: Applications,
    per_account: Option<RateLimiter<(String, String)>>,
    /// Audits per client address (the directory's most expensive answer, asked without
    /// a token).
    audits: Option<RateLimiter<std::net::IpAddr>>,
    backup_keys: BackupKeys,
    guess_policy: GuessPolicy,
    metrics: Arc<Metrics>,
}

impl Service {
    /// A service over `store`, countersigning with `service_key`, serving `applications`.
    pub fn new(store: CardStore, service_key: PrivateKey, applications: Applications) -> Self {
        Self {
            store,
            directory: None,
            directory_task: None,
            backup_keys: BackupKeys::from_service_key(&service_key),
            guess_policy: GuessPolicy::default(),
            service_key,
            applications,
            per_account: Some(RateLimiter::new(Rate::PER_ACCOUNT, "this account")),
            audits: Some(RateLimiter::new(
                crate::config::DEFAULT_AUDIT_RATE,
                "this address (audits)",
            )),
            metrics: Arc::new(Metrics::for_server("cards-service")),
        }
    }

    /// How long a reset card stays pending, in seconds ([`CardStore::with_reset_delay`];
    /// also the cooldown after a cancelled reset unless
    /// [`Service::with_reset_cooldown`] sets another).
    pub fn with_reset_delay(mut self, seconds: u64) -> Self {
        self.store = self.store.with_reset_delay(seconds);
        self
    }

    /// How long after a cancelled reset no new one may start, in seconds
    /// ([`CardStore::with_reset_cooldown`]).
    pub fn with_reset_cooldown(mut self, seconds: u64) -> Self {
        self.store = self.store.with_reset_cooldown(seconds);
        self
    }

    /// Publishes the cards into the verifiable key directory `publisher`, one epoch per
    /// `interval` at most (a task on the current runtime, stopped with the storage); a
    /// publish or revocation is answered at once, and a lookup of its owner once its
    /// epoch is published.
    pub fn with_directory(mut self, publisher: Publisher, interval: std::time::Duration) -> Self {
        let publisher = Arc::new(publisher);
        let task = tokio::spawn(Arc::clone(&publisher).run(interval));
        self.directory = Some(publisher);
        self.directory_task = Some(task.abort_handle());
        self
    }

    /// After a write committed: wakes the key directory's publisher. The write is
    /// answered at once; a lookup of the owner waits for the epoch that publishes it
    /// ([`Publisher::lookup_all`]).
    fn directory_changed(&self) {
        if let Some(directory) = &self.directory {
            directory.changed();
        }
    }

    /// How many backup-password guesses each identity gets (default
    /// [`GuessPolicy::default`]).
    pub fn with_guess_policy(mut self, policy: GuessPolicy) -> Self {
        self.guess_policy = policy;
        self
    }

    /// Limits each account (application and token subject) to `rate` requests;
    /// `None`: no limit. Default [`Rate::PER_ACCOUNT`]. The application's own tokens
    /// (subject = its id: the application server publishing) are limited only per
    /// client address.
    pub fn with_account_rate(mut self, rate: Option<Rate>) -> Self {
        self.per_account = rate.map(|rate| RateLimiter::new(rate, "this account"));
        self
    }

    /// Limits audits (`POST /v1/directory/actions/audit`) to `rate` per client address;
    /// `None`: only the per-address limit on every request. Default
    /// [`crate::config::DEFAULT_AUDIT_RATE`].
    pub fn with_audit_rate(mut self, rate: Option<Rate>) -> Self {
        self.audits = rate.map(|rate| RateLimiter::new(rate, "this address (audits)"));
        self
    }
}

use virgil_api::unix_now as now;

impl Service {
    /// The authenticated caller, counted against its account's rate.
    pub(crate) fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let caller = self.applications.authenticate(authorization(headers)?)?;
        if let Some(limiter) = &self.per_account
            && caller.subject != caller.app_id
        {
            limiter.check(&(caller.app_id.clone(), caller.subject.clone()))?;
        }
        Ok(caller)
    }
}

impl Service {
    /// The answer for a store error: a refusal by the card rules, 503 when the storage
    /// failed ([`virgil_server::database::StorageHealth`]), else 500.
    pub(crate) fn store_error(&self, error: StoreError) -> ApiError {
        match error {
            StoreError::Database(error) => self.store.health().failed(&error),
            other => refusal(other),
        }
    }
}

fn refusal(error: StoreError) -> ApiError {
    let message = error.to_string();
    let retry_at = match &error {
        StoreError::Refused(Refusal::ResetTooSoon { retry_at }) => Some(*retry_at),
        _ => None,
    };
    let code = match &error {
        StoreError::Refused(refusal) => match refusal {
            Refusal::LinkRequired { .. } => ErrorCode::LinkRequired,
            Refusal::BadLink { .. } => ErrorCode::InvalidLink,
            Refusal::TooManyCards => ErrorCode::TooManyCards,
            Refusal::ResetPending(_) => ErrorCode::ResetPending,
            Refusal::ResetTooSoon { .. } => ErrorCode::ResetTooSoon,
            Refusal::PreviousNotFound(_) => ErrorCode::PreviousCardNotFound,
            Refusal::PreviousMismatch(_) => ErrorCode::PreviousCardMismatch,
            Refusal::PreviousNotActive(_) => ErrorCode::PreviousCardNotActive,
            _ => ErrorCode::CardVerificationFailed,
        },
        StoreError::RevocationRefused(refusal) => match refusal {
            RevocationRefusal::AlreadyRevoked(_) => ErrorCode::CardAlreadyRevoked,
            RevocationRefusal::NamesAnotherCard => ErrorCode::InvalidRevocation,
            _ => ErrorCode::BadRevocationSignature,
        },
        StoreError::NotFound(_) => ErrorCode::CardNotFound,
        _ => return ApiError::internal(message),
    };
    let error = ApiError::new(code, message);
    match retry_at {
        Some(retry_at) => error.with_retry_after(retry_at.saturating_sub(now())),
        None => error,
    }
}

impl Service {
    /// The answer for a stored card, its status signed as of now.
    fn response(&self, stored: StoredCard) -> CardResponse {
        self.response_as_of(stored, now())
    }

    /// The answer for a stored card, its status signed as of `as_of`.
    fn response_as_of(&self, stored: StoredCard, as_of: u64) -> CardResponse {
        let signature = stored
            .status
            .sign(stored.card.id(), as_of, &self.service_key);
        CardResponse {
            card: stored.card.to_json(),
            status: stored.status,
            published_at: stored.published_at,
            status_as_of: as_of,
            status_signature: to_base64(signature.as_bytes()),
            revocation: stored.revocation,
            directory: None,
        }
    }
}

async fn publish(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<CardResponse>), ApiError> {
    let caller = service.caller(&headers)?;
    let mut card = parse_json::<CardJson>(&body)?
        .into_card()
        .map_err(|e| ApiError::new(ErrorCode::InvalidCard, e.to_string()))?;
    let app_id = card.content().app_id.clone();
    if app_id != caller.app_id {
        return Err(ApiError::new(
            ErrorCode::WrongApplication,
            format!(
                "the card belongs to application {app_id:?}; this token is for {:?}",
                caller.app_id
            ),
        ));
    }
    let mut verifier = Verifier::new();
    for key in service.applications.keys_of(&app_id) {
        verifier = verifier.trust_app(&app_id, key.clone());
    }
    verifier
        .verify(&card)
        .map_err(|e| ApiError::new(ErrorCode::CardVerificationFailed, e.to_string()))?;
    card.sign_as(Signer::Service, &service.service_key)
        .map_err(|e| ApiError::new(ErrorCode::InvalidCard, e.to_string()))?;
    match service
        .store
        .publish(&card, now())
        .await
        .map_err(|e| service.store_error(e))?
    {
        Published::Created(stored) => {
            service.directory_changed();
            Ok((StatusCode::CREATED, Json(service.response(stored))))
        }
        Published::Existing(stored) => Ok((StatusCode::OK, Json(service.response(stored)))),
    }
}

fn parse_id(id: &str) -> Result<CardId, ApiError> {
    id.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidCardId,
            "a card id is 64 lowercase hex digits",
        )
    })
}

async fn get_card(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CardResponse>, ApiError> {
    let caller = service.caller(&headers)?;
    let id = parse_id(&id)?;
    let stored = service
        .store
        .get(&caller.app_id, &id)
        .await
        .map_err(|e| service.store_error(e))?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::CardNotFound,
                format!("no card {id} in this application"),
            )
        })?;
    match &service.directory {
        Some(publisher) => {
            let (stored, proofs) = service
                .prove_card(publisher, &caller.app_id, stored)
                .await?;
            let mut response = service.response(stored);
            response.directory = Some(proofs);
            Ok(Json(response))
        }
        None => Ok(Json(service.response(stored))),
    }
}

async fn search(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SearchResponse>, ApiError> {
    let caller = service.caller(&headers)?;
    let request: SearchRequest = parse_json(&body)?;
    if request.identities.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NoIdentities,
            "name at least one identity",
        ));
    }
    if request.identities.len() > MAX_SEARCH_IDENTITIES {
        return Err(ApiError::new(
            ErrorCode::TooManyIdentities,
            format!("at most {MAX_SEARCH_IDENTITIES} identities per search"),
        ));
    }
    for identity in &request.identities {
        virgil_card::content::validate_identity(identity)
            .map_err(|e| ApiError::new(ErrorCode::InvalidIdentity, e.to_string()))?;
    }
    let (found, directory) = match &service.directory {
        Some(publisher) => {
            service
                .search_directory(publisher, &caller.app_id, &request.identities)
                .await?
        }
        None => (
            service
                .store
                .search(&caller.app_id, &request.identities)
                .await
                .map_err(|e| service.store_error(e))?,
            None,
        ),
    };
    let as_of = now();
    let cards: Vec<CardResponse> = found
        .into_iter()
        .map(|stored| service.response_as_of(stored, as_of))
        .collect();
    // One signature over the query and every card's status: a client refuses an answer
    // from which a card was dropped, or that answers another query or time.
    let statement = SearchStatement::new(
        &caller.app_id,
        request.identities.iter().map(String::as_str),
        as_of,
        cards
            .iter()
            .map(|card| (&card.card.id, &card.status, card.status_as_of)),
    );
    let signature = statement.sign(&service.service_key);
    Ok(Json(SearchResponse {
        app_id: caller.app_id,
        as_of,
        cards,
        statuses_signature: to_base64(signature.as_bytes()),
        directory,
    }))
}

impl Service {
    /// A search answered from the key directory: each identity's cards are exactly
    /// those its entry lists at the latest signed epoch, with the entry's states, and
    /// the answer carries the proofs. A card changed since that epoch is served as the
    /// epoch has it (the next epoch, within the epoch interval, has the change).
    async fn search_directory(
        &self,
        publisher: &Publisher,
        app_id: &str,
        identities: &[String],
    ) -> Result<(Vec<StoredCard>, Option<DirectoryProofs>), ApiError> {
        // One proof per identity, however often the query names it.
        let mut owners: Vec<CardIdentity> = Vec::with_capacity(identities.len());
        for identity in identities {
            let owner = CardIdentity::new(app_id, identity);
            if !owners.contains(&owner) {
                owners.push(owner);
            }
        }
        let Some((checkpoint, lookups)) = publisher
            .lookup_all(&owners)
            .await
            .map_err(|e| self.directory_error(e))?
        else {
            return Ok((Vec::new(), None));
        };
        let mut entries = Vec::with_capacity(lookups.len());
        let mut proofs = Vec::with_capacity(lookups.len());
        for (owner, lookup) in lookups {
            let entry = DirectoryEntry::decode(&lookup.value)
                .map_err(|e| ApiError::internal(format!("the key directory: {e}")))?;
            entries.push(entry);
            proofs.push(IdentityProof {
                identity: owner.identity,
                proof: to_base64(&lookup.proof),
            });
        }
        let listed: Vec<CardId> = entries
            .iter()
            .flat_map(|entry| entry.cards().map(|(id, _)| *id))
            .collect();
        let rows = self
            .store
            .read_many(app_id, &listed)
            .await
            .map_err(|e| self.store_error(e))?;
        let mut cards = Vec::with_capacity(listed.len());
        for entry in &entries {
            for (id, state) in entry.cards() {
                // A listed card missing from the database is left out: the client
                // then refuses the answer as incomplete, as it should.
                if let Some(stored) = rows.get(id).cloned() {
                    let status = match *state {
                        EntryState::Active => CardStatus::Active,
                        EntryState::Pending { activates_at } => {
                            CardStatus::Pending { activates_at }
                        }
                    };
                    cards.push(StoredCard { status, ..stored });
                }
            }
        }
        cards.sort_by(|a, b| {
            (a.card.identity(), a.published_at, a.card.id()).cmp(&(
                b.card.identity(),
                b.published_at,
                b.card.id(),
            ))
        });
        Ok((
            cards,
            Some(DirectoryProofs {
                checkpoint: checkpoint.to_base64(),
                proofs,
            }),
        ))
    }

    /// A card fetched by id, with the proof of its owner's entry at the latest signed
    /// epoch. Its status is served as that epoch has it when the entry lists it (a
    /// revocation not yet published is served in the next epoch, as a search does); a
    /// card the database has as usable but the epoch does not list yet is "retry soon".
    async fn prove_card(
        &self,
        publisher: &Publisher,
        app_id: &str,
        stored: StoredCard,
    ) -> Result<(StoredCard, DirectoryProofs), ApiError> {
        let owner = CardIdentity::new(app_id, stored.card.identity());
        let not_yet = || {
            ApiError::new(
                ErrorCode::StorageUnavailable,
                format!(
                    "card {} is not in the key directory's latest epoch yet; try again in a second",
                    stored.card.id()
                ),
            )
            .with_retry_after(1)
        };
        let Some((checkpoint, lookups)) = publisher
            .lookup_all(std::slice::from_ref(&owner))
            .await
            .map_err(|e| self.directory_error(e))?
        else {
            return Err(not_yet());
        };
        let Some((_, lookup)) = lookups.into_iter().next() else {
            return Err(not_yet());
        };
        let entry = DirectoryEntry::decode(&lookup.value)
            .map_err(|e| ApiError::internal(format!("the key directory: {e}")))?;
        let stored = match entry.state_of(stored.card.id()) {
            Some(EntryState::Active) => StoredCard {
                status: CardStatus::Active,
                revocation: None,
                ..stored
            },
            Some(EntryState::Pending { activates_at }) => StoredCard {
                status: CardStatus::Pending { activates_at },
                revocation: None,
                ..stored
            },
            None if matches!(
                stored.status,
                CardStatus::Active | CardStatus::Pending { .. }
            ) =>
            {
                return Err(not_yet());
            }
            None => stored,
        };
        Ok((
            stored,
            DirectoryProofs {
                checkpoint: checkpoint.to_base64(),
                proofs: vec![IdentityProof {
                    identity: owner.identity,
                    proof: to_base64(&lookup.proof),
                }],
            },
        ))
    }

    fn directory_error(&self, error: PublishError) -> ApiError {
        match error {
            PublishError::Store(error) => self.store_error(error),
            PublishError::Directory(DirectoryError::Storage(message)) => ApiError::new(
                ErrorCode::StorageUnavailable,
                format!("the key directory: {message}"),
            )
            .with_retry_after(virgil_server::database::STORAGE_RETRY_AFTER_SECONDS),
            other => ApiError::internal(format!("the key directory: {other}")),
        }
    }
}

fn no_directory() -> ApiError {
    ApiError::new(
        ErrorCode::NotInDirectory,
        "this cards service keeps no key directory",
    )
}

async fn directory_checkpoint(
    State(service): State<Arc<Service>>,
    Query(query): Query<CheckpointQuery>,
) -> Result<Json<CheckpointResponse>, ApiError> {
    let Some(publisher) = &service.directory else {
        return Err(no_directory());
    };
    let checkpoint = match query.epoch {
        Some(epoch) => service
            .store
            .checkpoint(Some(epoch))
            .await
            .map_err(|e| service.store_error(e))?,
        None => publisher
            .latest_checkpoint()
            .await
            .map_err(|e| service.directory_error(e))?,
    }
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotInDirectory,
            match query.epoch {
                Some(epoch) => format!("the key directory has no epoch {epoch}"),
                None => "the key directory has no epoch yet".to_owned(),
            },
        )
    })?;
    Ok(Json(CheckpointResponse {
        checkpoint: checkpoint.to_base64(),
    }))
}

/// `?epoch=N` of the checkpoint endpoint.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointQuery {
    epoch: Option<u64>,
}

async fn directory_history(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<HistoryResponse>, ApiError> {
    let caller = service.caller(&headers)?;
    let request: HistoryRequest = parse_json(&body)?;
    virgil_card::content::validate_identity(&request.identity)
        .map_err(|e| ApiError::new(ErrorCode::InvalidIdentity, e.to_string()))?;
    let Some(publisher) = &service.directory else {
        return Err(no_directory());
    };
    let owner = CardIdentity::new(&caller.app_id, &request.identity);
    let (checkpoint, proof) = publisher
        .history(&owner)
        .await
        .map_err(|e| service.directory_error(e))?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotInDirectory,
                format!("{owner} is not in the key directory"),
            )
        })?;
    Ok(Json(HistoryResponse {
        checkpoint: checkpoint.to_base64(),
        proof: to_base64(&proof),
    }))
}

/// `POST /v1/directory/actions/audit`: no token (auditors are anyone); at most
/// [`MAX_AUDIT_EPOCHS`] epochs per request, and the audit rate per client address
/// ([`Service::with_audit_rate`]).
async fn directory_audit(
    State(service): State<Arc<Service>>,
    client: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    body: Bytes,
) -> Result<Json<AuditResponse>, ApiError> {
    if let (Some(limiter), Some(client)) = (&service.audits, client) {
        limiter.check(&virgil_server::rate_limit::client_key(client.0.0.ip()))?;
    }
    let request: AuditRequest = parse_json(&body)?;
    if request.from == 0
        || request.from >= request.to
        || request.to - request.from > MAX_AUDIT_EPOCHS
    {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            format!(
                "audit from epoch 1 or later to a later epoch, at most {MAX_AUDIT_EPOCHS} epochs per request"
            ),
        ));
    }
    let Some(publisher) = &service.directory else {
        return Err(no_directory());
    };
    let (checkpoints, proof) = publisher
        .audit(request.from, request.to)
        .await
        .map_err(|e| service.directory_error(e))?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotInDirectory,
                format!("the key directory has not signed epoch {} yet", request.to),
            )
        })?;
    Ok(Json(AuditResponse {
        checkpoints: checkpoints
            .iter()
            .map(virgil_card::checkpoint::SignedCheckpoint::to_base64)
            .collect(),
        proof: to_base64(&proof),
    }))
}

async fn revoke(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<CardResponse>, ApiError> {
    let caller = service.caller(&headers)?;
    let id = parse_id(&id)?;
    let body: RevokeRequest = parse_json(&body)?;
    let (request, signature) = decode_signed_request(&body.request, &body.signature)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRevocation, e.to_string()))?;
    let by = match body.signed_by {
        None => RevokedBy::Application(
            service
                .applications
                .keys_of(&caller.app_id)
                .into_iter()
                .cloned()
                .collect(),
        ),
        Some(signer) => RevokedBy::Owner(signer),
    };
    let stored = service
        .store
        .revoke(&caller.app_id, &id, &request, &signature, &by, now())
        .await
        .map_err(|e| service.store_error(e))?;
    service.directory_changed();
    Ok(Json(service.response(stored)))
}

async fn service_key(State(service): State<Arc<Service>>) -> Json<ServiceKeyResponse> {
    let public = service.service_key.public_key();
    Json(ServiceKeyResponse {
        public_key: to_base64(public.as_bytes()),
        key_id: public.key_id().to_string(),
    })
}

/// Always answers (200): `"ok"`, or `"degraded"` with the reason while the storage
/// fails (a failed count is such a failure, not an error answer).
async fn health(State(service): State<Arc<Service>>) -> Json<HealthResponse> {
    let cards = match service.store.count().await {
        Ok(cards) => Some(cards),
        Err(error) => {
            let _ = service.store_error(error);
            None
        }
    };
    Json(HealthResponse::of(service.store.health().degraded(), cards))
}

/// Always answers: the storage gauges even while the database cannot be read (the
/// cards count is left out then).
async fn metrics(
    State(service): State<Arc<Service>>,
) -> ([(header::HeaderName, &'static str); 1], String) {
    let cards = service.store.count().await;
    let mut gauges = Vec::from(service.store.health().gauges());
    match cards {
        Ok(cards) => gauges.push(Gauge {
            name: "virgil_cards_stored",
            help: "Cards in the database.",
            value: cards,
        }),
        Err(error) => {
            let _ = service.store_error(error);
        }
    }
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        service.metrics.render(&gauges),
    )
}

/// A cards service assembled by [`build`]: ready to
/// [`serve`](virgil_server::runtime::Server::serve) on a listener.
pub type Server = virgil_server::runtime::Server<Service>;

impl virgil_server::runtime::Api for Service {
    fn router(self: Arc<Self>) -> Router {
        router(self)
    }

    fn close_storage(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let task = self.directory_task.clone();
        let store = self.store.clone();
        // The future runs when the server stops (it is made when serving starts).
        async move {
            if let Some(task) = task {
                task.abort();
            }
            store.close().await
        }
    }
}

/// Builds the cards service `config` describes, countersigning with `service_key`:
/// applications and limits checked, database open and migrated.
///
/// ```no_run
/// # async fn run(service_key: virgil_crypto::PrivateKey) -> Result<(), virgil_server::ServeError> {
/// use virgil_cards_service::{config::Config, server};
/// let config = Config::from_file("cards.toml".as_ref())?;
/// let server = server::build(&config, service_key).await?;
/// let listener = virgil_server::runtime::bind(config.listen(), None, false).await?;
/// server.serve(listener, std::future::pending()).await
/// # }
/// ```
pub async fn build(config: &Config, service_key: PrivateKey) -> Result<Server, ServeError> {
    let applications = config.applications()?;
    let limits = config.limits.connection_limits()?;
    let account_rate = config.limits.account_rate()?;
    let audit_rate = config.directory.audit_rate()?;
    let database_url = config.database_url();
    let store = CardStore::connect(database_url)
        .await
        .map_err(|e| ServeError::Database {
            url: database_url.to_owned(),
            message: e.to_string(),
        })?;
    let reset_delay = config.reset_delay_seconds.unwrap_or(0);
    // The publisher signs checkpoints with its own copy of the service key.
    let signing_copy =
        PrivateKey::from_seed_with_suite(&service_key.to_seed(), service_key.suite()).map_err(
            |e| ServeError::Database {
                url: database_url.to_owned(),
                message: format!("the service key: {e}"),
            },
        )?;
    let publisher = Publisher::open(
        store.clone(),
        signing_copy,
        config.directory.id.clone(),
        virgil_directory::directory::DEFAULT_CACHE_BYTES,
    )
    .await
    .map_err(|e| ServeError::Database {
        url: database_url.to_owned(),
        message: format!("the key directory: {e}"),
    })?;
    let interval = std::time::Duration::from_millis(
        config
            .directory
            .epoch_interval_ms
            .unwrap_or(DEFAULT_EPOCH_INTERVAL_MS),
    );
    let service = Service::new(store, service_key, applications)
        .with_directory(publisher, interval)
        .with_account_rate(account_rate)
        .with_audit_rate(audit_rate)
        .with_reset_delay(reset_delay)
        .with_reset_cooldown(config.reset_cooldown_seconds.unwrap_or(reset_delay))
        .with_guess_policy(config.backup.policy());
    let web = virgil_server::web::Web {
        cors_origins: virgil_server::web::parse_origins(&config.cors_origins)?,
        site: None,
    };
    Ok(Server::new(service, limits).with_web(web))
}

/// `GET /v1/backup/oprf-key`: the caller's application's OPRF public key, signed.
async fn backup_key(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Json<OprfKeyResponse>, ApiError> {
    let caller = service.caller(&headers)?;
    let key = service
        .backup_keys
        .key_for(&caller.app_id)
        .map_err(|e| ApiError::internal(format!("the backup OPRF key: {e}")))?;
    let statement = OprfKeyStatement {
        app_id: caller.app_id.clone(),
        public_key: key.public_key(),
    };
    let signature = statement.sign(&service.service_key);
    Ok(Json(OprfKeyResponse {
        app_id: caller.app_id,
        public_key: to_base64(statement.public_key.as_bytes()),
        signature: to_base64(signature.as_bytes()),
    }))
}

/// `POST /v1/backup/actions/evaluate`: one guess, counted against the caller's identity
/// before any work, evaluated under that identity.
async fn backup_evaluate(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<EvaluateResponse>, ApiError> {
    let caller = service.caller(&headers)?;
    let request: EvaluateRequest = parse_json(&body)?;
    let blinded = from_base64(&request.blinded)
        .ok()
        .and_then(|bytes| BlindedPassword::from_bytes(&bytes).ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidBackup,
                "the blinded password is not a base64 P-256 point (33 bytes, compressed)",
            )
        })?;
    let owner = CardIdentity::new(&caller.app_id, &caller.subject);
    let at = now();
    let state = service
        .store
        .charge_guess(&owner, &service.guess_policy, at)
        .await
        .map_err(|e| service.store_error(e))?
        .map_err(|retry_at| {
            ApiError::new(
                ErrorCode::BackupGuessLimit,
                format!(
                    "too many backup password attempts for {}: the next one is answered in {} s",
                    caller.subject,
                    retry_at.saturating_sub(at)
                ),
            )
            .with_retry_after(retry_at.saturating_sub(at).max(1))
        })?;
    let key = service
        .backup_keys
        .key_for(&caller.app_id)
        .map_err(|e| ApiError::internal(format!("the backup OPRF key: {e}")))?;
    // About a millisecond of elliptic-curve work: off the async workers.
    let info = oprf_info(&owner);
    let evaluation = tokio::task::spawn_blocking(move || key.evaluate(&blinded, &info))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(format!("the backup OPRF: {e}")))?;
    Ok(Json(EvaluateResponse {
        evaluation: to_base64(&evaluation.to_bytes()),
        guesses: state.to_api(&service.guess_policy, at),
    }))
}

/// `GET /v1/backup/guesses`: the caller's count, none added.
async fn backup_guesses(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Json<BackupGuesses>, ApiError> {
    let caller = service.caller(&headers)?;
    let owner = CardIdentity::new(&caller.app_id, &caller.subject);
    let state = service
        .store
        .guesses(&owner)
        .await
        .map_err(|e| service.store_error(e))?;
    Ok(Json(state.to_api(&service.guess_policy, now())))
}

/// The OpenAPI 3 document of this API (`docs/api/cards-service.openapi.json`).
pub const OPENAPI: &str = include_str!("../../../docs/api/cards-service.openapi.json");

/// Every route, as written in the router and in the OpenAPI document.
pub const ROUTES: [&str; 14] = endpoints::cards::PATHS;

async fn openapi() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// The router of the HTTP API.
pub fn router(service: Arc<Service>) -> Router {
    use endpoints::{Endpoint as _, Health, Metrics, OpenApi, cards};
    let routes = Router::new()
        .route(cards::Publish::PATH, on::<cards::Publish, _, _, _>(publish))
        .route(cards::Search::PATH, on::<cards::Search, _, _, _>(search))
        .route(cards::Get::PATH, on::<cards::Get, _, _, _>(get_card))
        .route(cards::Revoke::PATH, on::<cards::Revoke, _, _, _>(revoke))
        .route(
            cards::ServiceKey::PATH,
            on::<cards::ServiceKey, _, _, _>(service_key),
        )
        .route(
            cards::Checkpoint::PATH,
            on::<cards::Checkpoint, _, _, _>(directory_checkpoint),
        )
        .route(
            cards::History::PATH,
            on::<cards::History, _, _, _>(directory_history),
        )
        .route(
            cards::Audit::PATH,
            on::<cards::Audit, _, _, _>(directory_audit),
        )
        .route(
            cards::BackupKey::PATH,
            on::<cards::BackupKey, _, _, _>(backup_key),
        )
        .route(
            cards::BackupEvaluate::PATH,
            on::<cards::BackupEvaluate, _, _, _>(backup_evaluate),
        )
        .route(
            cards::BackupGuessCount::PATH,
            on::<cards::BackupGuessCount, _, _, _>(backup_guesses),
        );
    let common = CommonRoutes {
        health: on::<Health, _, _, _>(health),
        openapi: on::<OpenApi, _, _, _>(openapi),
        metrics: on::<Metrics, _, _, _>(metrics),
    };
    let metrics = Arc::clone(&service.metrics);
    with_common_routes(routes, common, MAX_BODY_BYTES, metrics).with_state(service)
}
