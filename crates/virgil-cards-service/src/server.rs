//! The HTTP API (v1): routes, request checks and the mapping from store results to
//! responses. Limits are checked before any work: the body size (64 KiB, 413), the
//! number of identities per search (50, 422), every field of a card (422).

use crate::auth::{Applications, Caller};
use crate::store::{CardStore, Published, StoreError, StoredCard};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use virgil_api::cards::{
    CardResponse, CardStatus, MAX_BODY_BYTES, MAX_SEARCH_IDENTITIES, RevocationRecord,
    RevokeRequest, SearchRequest, SearchResponse, ServiceKeyResponse,
};
use virgil_api::{ErrorCode, HealthResponse};
use virgil_card::{CardId, CardJson, RevocationRequest, Signer, Verifier};
use virgil_crypto::PrivateKey;
use virgil_crypto::encoding::{from_base64, to_base64};
use virgil_crypto::sign::Signature;
use virgil_server::ApiError;
use virgil_server::http::{
    PROMETHEUS_TEXT, authorization, json_body_limit, parse_json, track_request,
};
use virgil_server::metrics::{Gauge, Metrics};
use virgil_server::rate_limit::{Rate, RateLimiter};

/// Everything a request handler needs; shared by all requests.
pub struct Service {
    store: CardStore,
    service_key: PrivateKey,
    applications: Applications,
    per_account: Option<RateLimiter<(String, String)>>,
    metrics: Arc<Metrics>,
}

impl Service {
    /// A service over `store`, countersigning with `service_key`, serving `applications`.
    pub fn new(store: CardStore, service_key: PrivateKey, applications: Applications) -> Self {
        Self {
            store,
            service_key,
            applications,
            per_account: Some(RateLimiter::new(Rate::PER_ACCOUNT, "this account")),
            metrics: Arc::new(Metrics::for_server("cards-service")),
        }
    }

    /// How long a reset card stays pending, in seconds ([`CardStore::with_reset_delay`]).
    pub fn with_reset_delay(mut self, seconds: u64) -> Self {
        self.store = self.store.with_reset_delay(seconds);
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
}

use virgil_api::unix_now as now;

impl Service {
    /// The authenticated caller, counted against its account's rate.
    fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let caller = self.applications.authenticate(authorization(headers)?)?;
        if let Some(limiter) = &self.per_account
            && caller.subject != caller.app_id
        {
            limiter.check(&(caller.app_id.clone(), caller.subject.clone()))?;
        }
        Ok(caller)
    }
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::TooManyCards { identity } => ApiError::new(
            ErrorCode::TooManyCards,
            format!(
                "{identity:?} already has {} active cards, the most allowed: revoke one, or publish the new card as a replacement (previous_card_id)",
                crate::store::MAX_ACTIVE_CARDS
            ),
        ),
        StoreError::LinkRequired { identity, active } => ApiError::new(
            ErrorCode::LinkRequired,
            format!(
                "{identity:?} already has {active} active card(s): a new card for it must be linked from one of them (signed with that card's key; docs/format.md §7)"
            ),
        ),
        StoreError::PreviousNotFound(id) => ApiError::new(
            ErrorCode::PreviousCardNotFound,
            format!("the card to replace ({id}) does not exist in this application"),
        ),
        StoreError::PreviousMismatch(id) => ApiError::new(
            ErrorCode::PreviousCardMismatch,
            format!("the card to replace ({id}) belongs to another identity or identity type"),
        ),
        StoreError::PreviousNotActive(id) => ApiError::new(
            ErrorCode::PreviousCardNotActive,
            format!("the card to replace ({id}) was already replaced or revoked"),
        ),
        StoreError::NotFound(id) => ApiError::new(
            ErrorCode::CardNotFound,
            format!("no card {id} in this application"),
        ),
        StoreError::ResetPending(id) => ApiError::new(
            ErrorCode::ResetPending,
            format!(
                "a reset of this identity is pending already (card {id}): an active card of the identity can cancel it by revoking it; otherwise wait until it becomes active"
            ),
        ),
        StoreError::AlreadyRevoked(id) => ApiError::new(
            ErrorCode::CardAlreadyRevoked,
            format!("card {id} is already revoked"),
        ),
        other => ApiError::internal(other.to_string()),
    }
}

impl Service {
    /// The answer for a stored card, its status signed as of now.
    fn response(&self, stored: StoredCard) -> CardResponse {
        let as_of = now();
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
        .map_err(store_error)?
    {
        Published::Created(stored) => Ok((StatusCode::CREATED, Json(service.response(stored)))),
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
        .map_err(store_error)?;
    stored
        .map(|stored| Json(service.response(stored)))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::CardNotFound,
                format!("no card {id} in this application"),
            )
        })
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
    let found = service
        .store
        .search(
            &caller.app_id,
            &request.identities,
            request.identity_type.as_deref(),
        )
        .await
        .map_err(store_error)?;
    let cards: Vec<CardResponse> = found
        .into_iter()
        .map(|stored| service.response(stored))
        .collect();
    let signature = virgil_api::cards::sign_search(&cards, &service.service_key);
    Ok(Json(SearchResponse {
        cards,
        statuses_signature: Some(to_base64(signature.as_bytes())),
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
    let bad = |what: &str| {
        ApiError::new(
            ErrorCode::InvalidRevocation,
            format!("{what} is not valid base64 of the right length"),
        )
    };
    let request = from_base64(&body.request)
        .ok()
        .and_then(|bytes| RevocationRequest::from_bytes(&bytes).ok())
        .ok_or_else(|| bad("request"))?;
    let signature = from_base64(&body.signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or_else(|| bad("signature"))?;
    if request.card_id != id {
        return Err(ApiError::new(
            ErrorCode::InvalidRevocation,
            "the revocation request names another card",
        ));
    }
    let record = match body.signed_by {
        None => {
            let signed_by_app = service
                .applications
                .keys_of(&caller.app_id)
                .into_iter()
                .any(|key| request.verify(key, &signature));
            if !signed_by_app {
                return Err(ApiError::new(
                    ErrorCode::BadRevocationSignature,
                    "the revocation request is not signed by this application's key",
                ));
            }
            RevocationRecord::Application {
                request: body.request,
                signature: body.signature,
            }
        }
        Some(signer) => {
            let signer =
                check_owner_revocation(&service, &caller, &id, &signer, &request, &signature)
                    .await?;
            RevocationRecord::Owner {
                request: body.request,
                signature: body.signature,
                signer: signer.to_json(),
            }
        }
    };
    let stored = service
        .store
        .revoke(&caller.app_id, &id, request.reason, now(), &record)
        .await
        .map_err(store_error)?;
    Ok(Json(service.response(stored)))
}

/// An owner's revocation: `signer` must be the revoked card itself or an active card of
/// the same identity, and its key must have signed the request. Returns that card.
async fn check_owner_revocation(
    service: &Service,
    caller: &Caller,
    id: &CardId,
    signer: &CardId,
    request: &RevocationRequest,
    signature: &Signature,
) -> Result<virgil_card::Card, ApiError> {
    let not_found = || {
        ApiError::new(
            ErrorCode::CardNotFound,
            format!("no card {id} in this application"),
        )
    };
    let target = service
        .store
        .get(&caller.app_id, id)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)?;
    let signing = if signer == id {
        target.clone()
    } else {
        service
            .store
            .get(&caller.app_id, signer)
            .await
            .map_err(store_error)?
            .filter(|stored| stored.status == CardStatus::Active)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BadRevocationSignature,
                    format!("signed_by names no active card {signer} of this application"),
                )
            })?
    };
    let (a, b) = (target.card.content(), signing.card.content());
    if a.identity != b.identity || a.identity_type != b.identity_type {
        return Err(ApiError::new(
            ErrorCode::BadRevocationSignature,
            "signed_by names a card of another identity: only the owner's keys revoke a card",
        ));
    }
    if !request.verify(signing.card.public_key(), signature) {
        return Err(ApiError::new(
            ErrorCode::BadRevocationSignature,
            format!("the revocation request is not signed by the key of card {signer}"),
        ));
    }
    Ok(signing.card)
}

async fn service_key(State(service): State<Arc<Service>>) -> Json<ServiceKeyResponse> {
    let public = service.service_key.public_key();
    Json(ServiceKeyResponse {
        public_key: to_base64(public.as_bytes()),
        key_id: public.key_id().to_string(),
    })
}

async fn health(State(service): State<Arc<Service>>) -> Result<Json<HealthResponse>, ApiError> {
    let cards = service.store.count().await.map_err(store_error)?;
    Ok(Json(HealthResponse {
        status: "ok".to_owned(),
        cards: Some(cards),
    }))
}

async fn metrics(
    State(service): State<Arc<Service>>,
) -> Result<([(header::HeaderName, &'static str); 1], String), ApiError> {
    let cards = service.store.count().await.map_err(store_error)?;
    Ok((
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        service.metrics.render(&[Gauge {
            name: "virgil_cards_stored",
            help: "Cards in the database.",
            value: cards,
        }]),
    ))
}

/// Serves the API on `listener` within `limits` until `shutdown` completes, then lets
/// in-flight requests finish and closes the database pool.
pub async fn serve(
    listener: impl Into<virgil_server::runtime::Listener>,
    service: Arc<Service>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: virgil_server::runtime::ConnectionLimits,
) -> Result<(), virgil_server::ServeError> {
    let store = service.store.clone();
    let served =
        virgil_server::runtime::serve_with_limits(listener, router(service), shutdown, limits)
            .await;
    store.close().await;
    served
}

/// The OpenAPI 3 document of this API (`docs/api/cards-service.openapi.json`).
pub const OPENAPI: &str = include_str!("../../../docs/api/cards-service.openapi.json");

/// Every route, as written in the router and in the OpenAPI document.
pub const ROUTES: [&str; 8] = [
    "/v1/cards",
    "/v1/cards/actions/search",
    "/v1/cards/{id}",
    "/v1/cards/{id}/actions/revoke",
    "/v1/service-key",
    "/v1/health",
    "/v1/openapi.json",
    "/metrics",
];

async fn openapi() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// The router of the HTTP API.
pub fn router(service: Arc<Service>) -> Router {
    let [
        publish_path,
        search_path,
        card_path,
        revoke_path,
        key_path,
        health_path,
        openapi_path,
        metrics_path,
    ] = ROUTES;
    Router::new()
        .route(publish_path, post(publish))
        .route(search_path, post(search))
        .route(card_path, get(get_card))
        .route(revoke_path, post(revoke))
        .route(key_path, get(service_key))
        .route(health_path, get(health))
        .route(openapi_path, get(openapi))
        .route(
            metrics_path,
            get(metrics).route_layer(axum::middleware::from_fn_with_state(
                virgil_server::http::MetricsAccess::from_env(),
                virgil_server::http::metrics_guard,
            )),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            MAX_BODY_BYTES,
            json_body_limit,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&service.metrics),
            track_request,
        ))
        .with_state(service)
}
