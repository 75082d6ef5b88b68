//! The application server's HTTP API (v1).
//!
//! `POST /v1/users` registers a user (password stored as a salted PBKDF2-HMAC-SHA256 hash);
//! `POST /v1/sessions` logs in and returns a session token for this server plus a
//! short-lived access token for the cards service (JWT signed with the app key);
//! `POST /v1/cards` approves the logged-in user's exported card request and publishes it;
//! `POST /v1/messages` and `GET /v1/messages` relay ciphertext between users.

use crate::accounts::LoginThrottle;
use crate::handlers;
use crate::store::AppStore;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use std::sync::Arc;
use virgil_client::CardsClient;
use virgil_crypto::PrivateKey;
use virgil_server::http::{json_body_limit, track_request};
use virgil_server::metrics::Metrics;

pub use virgil_api::app::MAX_BODY_BYTES;
/// Lifetime of a session token (seconds).
pub const SESSION_SECONDS: u64 = 24 * 60 * 60;
/// Lifetime of an access token for the cards service (seconds).
pub const ACCESS_TOKEN_SECONDS: u64 = 10 * 60;
/// The longest password accepted (bytes).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Failed logins per user and client address allowed in [`LOGIN_WINDOW_SECONDS`]
/// before 429.
pub const MAX_FAILED_LOGINS: usize = 5;
/// The window of the login rate limit (seconds).
pub const LOGIN_WINDOW_SECONDS: u64 = 60;

/// What one user may relay per hour: the relay stores ciphertext until the operator
/// deletes it, so an account must not be able to fill the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayQuota {
    /// Messages per sender per hour.
    pub messages_per_hour: u64,
    /// Bytes of (base64) ciphertext per sender per hour.
    pub bytes_per_hour: u64,
}

impl Default for RelayQuota {
    fn default() -> Self {
        Self {
            messages_per_hour: 1_000,
            bytes_per_hour: 64 * 1024 * 1024,
        }
    }
}

/// Who may create an account.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone, with `POST /v1/users`.
    #[default]
    Open,
    /// Only the operator, with `virgil-app-server add-user` (403 `registration_closed`).
    Closed,
}

/// Shared state.
pub struct AppServer {
    pub(crate) store: AppStore,
    pub(crate) app_id: String,
    pub(crate) app_key: PrivateKey,
    pub(crate) cards: Arc<CardsClient>,
    pub(crate) password_iterations: u32,
    pub(crate) login_throttle: LoginThrottle,
    pub(crate) relay_quota: RelayQuota,
    pub(crate) registration: Registration,
    pub(crate) metrics: Arc<Metrics>,
}

impl AppServer {
    /// A server for application `app_id` (key `app_key`) publishing through `cards`;
    /// passwords are hashed with `password_iterations` PBKDF2 iterations (600 000 in
    /// production).
    pub fn new(
        store: AppStore,
        app_id: &str,
        app_key: PrivateKey,
        cards: CardsClient,
        password_iterations: u32,
    ) -> Self {
        Self {
            store,
            app_id: app_id.to_owned(),
            app_key,
            cards: Arc::new(cards),
            password_iterations,
            login_throttle: LoginThrottle::default(),
            relay_quota: RelayQuota::default(),
            registration: Registration::default(),
            metrics: Arc::default(),
        }
    }

    /// Who may register (default: anyone).
    pub fn with_registration(mut self, registration: Registration) -> Self {
        self.registration = registration;
        self
    }

    /// Relays at most `quota` per sender per hour (default [`RelayQuota::default`]).
    pub fn with_relay_quota(mut self, quota: RelayQuota) -> Self {
        self.relay_quota = quota;
        self
    }
}

/// The OpenAPI 3 document of this API (`docs/api/app-server.openapi.json`).
pub const OPENAPI: &str = include_str!("../../../docs/api/app-server.openapi.json");

/// Every route, as written in the router and in the OpenAPI document.
pub const ROUTES: [&str; 9] = [
    "/v1/users",
    "/v1/sessions",
    "/v1/sessions/{id}",
    "/v1/access-tokens",
    "/v1/cards",
    "/v1/messages",
    "/v1/health",
    "/v1/openapi.json",
    "/metrics",
];

/// The router.
pub fn router(server: Arc<AppServer>) -> Router {
    let [
        users_path,
        sessions_path,
        session_path,
        access_tokens_path,
        cards_path,
        messages_path,
        health_path,
        openapi_path,
        metrics_path,
    ] = ROUTES;
    Router::new()
        .route(users_path, post(handlers::register))
        .route(
            sessions_path,
            post(handlers::login).get(handlers::list_sessions),
        )
        .route(session_path, delete(handlers::end_session))
        .route(access_tokens_path, post(handlers::refresh_access_token))
        .route(cards_path, post(handlers::submit_card))
        .route(
            messages_path,
            post(handlers::send_message).get(handlers::inbox),
        )
        .route(health_path, get(handlers::health))
        .route(openapi_path, get(handlers::openapi))
        .route(
            metrics_path,
            get(handlers::metrics).route_layer(axum::middleware::from_fn_with_state(
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
            Arc::clone(&server.metrics),
            track_request,
        ))
        .with_state(server)
}

/// Serves the API on `listener` until `shutdown` completes, then lets in-flight
/// requests finish and closes the database pool.
pub async fn serve(
    listener: impl Into<virgil_server::runtime::Listener>,
    server: Arc<AppServer>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), virgil_server::ServeError> {
    let store = server.store.clone();
    let served = virgil_server::runtime::serve(listener, router(server), shutdown).await;
    store.close().await;
    served
}
