//! The application server's HTTP API (v1).
//!
//! `POST /v1/users` registers a user (password stored as a salted PBKDF2-HMAC-SHA256 hash);
//! `POST /v1/sessions` logs in and returns a session token for this server plus a
//! short-lived access token for the cards service (JWT signed with the app key);
//! `POST /v1/cards` approves the logged-in user's exported card request and publishes it;
//! `POST /v1/messages` and `GET /v1/messages` relay ciphertext between users.

use crate::handlers;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use std::sync::Arc;
use virgil_server::http::{json_body_limit, track_request};

pub use crate::accounts::{LOGIN_WINDOW_SECONDS, MAX_FAILED_LOGINS, MAX_PASSWORD_BYTES};
pub use crate::state::{
    ACCESS_TOKEN_SECONDS, AppServer, MAX_BODY_BYTES, OPENAPI, Registration, RelayQuota,
    SESSION_SECONDS,
};

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

/// Serves the API on `listener` within `limits` until `shutdown` completes, then lets
/// in-flight requests finish and closes the database pool.
pub async fn serve(
    listener: impl Into<virgil_server::runtime::Listener>,
    server: Arc<AppServer>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: virgil_server::runtime::ConnectionLimits,
) -> Result<(), virgil_server::ServeError> {
    let store = server.store.clone();
    let served =
        virgil_server::runtime::serve_with_limits(listener, router(server), shutdown, limits).await;
    store.close().await;
    served
}
