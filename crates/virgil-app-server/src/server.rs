//! The application server's HTTP API (v1).
//!
//! `POST /v1/users` registers a user (password stored as a salted PBKDF2-HMAC-SHA256 hash);
//! `POST /v1/sessions` logs in and returns a session token for this server plus a
//! short-lived access token for the cards service (JWT signed with the app key);
//! `POST /v1/account/password` changes the password and ends the account's other sessions;
//! `POST /v1/cards` approves the logged-in user's exported card request and publishes it;
//! `POST /v1/messages` and `GET /v1/messages` relay ciphertext between users.

use crate::handlers;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::sync::Arc;
use virgil_api::endpoints;
use virgil_server::http::{json_body_limit, on, track_request};

pub use crate::accounts::{LOGIN_WINDOW_SECONDS, MAX_FAILED_LOGINS, MAX_PASSWORD_BYTES};
pub use crate::state::{
    ACCESS_TOKEN_SECONDS, AppServer, MAX_BODY_BYTES, OPENAPI, Registration, RelayQuota,
    SESSION_SECONDS,
};

/// Every route, as written in the router and in the OpenAPI document.
pub const ROUTES: [&str; 10] = endpoints::app::PATHS;

/// The router.
pub fn router(server: Arc<AppServer>) -> Router {
    use endpoints::{Endpoint as _, Health, Metrics, OpenApi, app};
    Router::new()
        .route(
            app::Register::PATH,
            on::<app::Register, _, _, _>(handlers::register),
        )
        .route(app::Login::PATH, on::<app::Login, _, _, _>(handlers::login))
        .route(
            app::Sessions::PATH,
            on::<app::Sessions, _, _, _>(handlers::list_sessions),
        )
        .route(
            app::EndSession::PATH,
            on::<app::EndSession, _, _, _>(handlers::end_session),
        )
        .route(
            app::AccessToken::PATH,
            on::<app::AccessToken, _, _, _>(handlers::refresh_access_token),
        )
        .route(
            app::ChangePassword::PATH,
            on::<app::ChangePassword, _, _, _>(handlers::change_password),
        )
        .route(
            app::SubmitCard::PATH,
            on::<app::SubmitCard, _, _, _>(handlers::submit_card),
        )
        .route(
            app::SendMessage::PATH,
            on::<app::SendMessage, _, _, _>(handlers::send_message),
        )
        .route(app::Inbox::PATH, on::<app::Inbox, _, _, _>(handlers::inbox))
        .route(Health::PATH, on::<Health, _, _, _>(handlers::health))
        .route(OpenApi::PATH, on::<OpenApi, _, _, _>(handlers::openapi))
        .route(
            Metrics::PATH,
            on::<Metrics, _, _, _>(handlers::metrics).route_layer(
                axum::middleware::from_fn_with_state(
                    virgil_server::http::MetricsAccess::from_env(),
                    virgil_server::http::metrics_guard,
                ),
            ),
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
