//! The application server's HTTP API (v1).
//!
//! `POST /v1/users` registers a user (password stored as a salted PBKDF2-HMAC-SHA256 hash);
//! `POST /v1/sessions` logs in and returns a session token for this server plus a
//! short-lived access token for the cards service (JWT signed with the app key);
//! `POST /v1/cards` approves the logged-in user's exported card request and publishes it;
//! `POST /v1/messages` and `GET /v1/messages` relay ciphertext between users.

use crate::store::{AppStore, UserRecord};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq as _;
use virgil_api::ErrorCode;
use virgil_api::app::{
    Credentials, Inbox, SendMessageRequest, SentMessage, SessionResponse, SubmitCardRequest,
};
use virgil_api::cards::CardResponse;
use virgil_api::token;
use virgil_card::{Card, Signer};
use virgil_client::CardsClient;
use virgil_crypto::PrivateKey;
use virgil_server::ApiError;
use virgil_server::http::{PROMETHEUS_TEXT, json_body_limit, parse_json, track_request};
use virgil_server::metrics::{Gauge, Metrics};

pub use virgil_api::app::MAX_BODY_BYTES;
/// Lifetime of a session token (seconds).
pub const SESSION_SECONDS: u64 = 24 * 60 * 60;
/// Lifetime of an access token for the cards service (seconds).
pub const ACCESS_TOKEN_SECONDS: u64 = 10 * 60;
/// Failed logins per user allowed in [`LOGIN_WINDOW_SECONDS`] before 429.
pub const MAX_FAILED_LOGINS: usize = 5;
/// The window of the login rate limit (seconds).
pub const LOGIN_WINDOW_SECONDS: u64 = 60;

/// Shared state.
pub struct AppServer {
    store: AppStore,
    app_id: String,
    app_key: PrivateKey,
    cards: Arc<CardsClient>,
    password_iterations: u32,
    failed_logins: Mutex<HashMap<String, Vec<u64>>>,
    metrics: Arc<Metrics>,
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
            failed_logins: Mutex::default(),
            metrics: Arc::default(),
        }
    }
}

use virgil_api::unix_now as now;

/// Failed-login records kept before stale ones are pruned.
const MAX_TRACKED_LOGINS: usize = 10_000;

/// Records a failed login. Usernames come from the network (unknown ones too, so that
/// the rate limit does not reveal who exists): when more than [`MAX_TRACKED_LOGINS`]
/// names are tracked, those without a failure in the current window are dropped, so
/// memory stays bounded by the failures of one window.
fn record_failed_login(failed: &mut HashMap<String, Vec<u64>>, username: String, now: u64) {
    if failed.len() >= MAX_TRACKED_LOGINS {
        failed.retain(|_, attempts| {
            attempts.retain(|at| at + LOGIN_WINDOW_SECONDS > now);
            !attempts.is_empty()
        });
    }
    failed.entry(username).or_default().push(now);
}

fn hash_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

fn check_username(username: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidUsername,
            "a username is 1–64 of letters, digits, '.', '_', '-', '@'",
        ))
    }
}

async fn register(
    State(server): State<Arc<AppServer>>,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let credentials: Credentials = parse_json(&body)?;
    check_username(&credentials.username)?;
    if !(8..=1024).contains(&credentials.password.len()) {
        return Err(ApiError::new(
            ErrorCode::InvalidPassword,
            "a password is 8 to 1024 bytes",
        ));
    }
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| ApiError::internal("random generator failed"))?;
    let iterations = server.password_iterations;
    let password = credentials.password.into_bytes();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password, &salt, iterations))
        .await
        .map_err(ApiError::internal)?;
    let record = UserRecord {
        salt: salt.to_vec(),
        hash: hash.to_vec(),
        iterations,
    };
    if !server
        .store
        .create_user(&credentials.username, &record, now())
        .await
        .map_err(ApiError::internal)?
    {
        return Err(ApiError::new(
            ErrorCode::UsernameTaken,
            format!("the username {:?} is taken", credentials.username),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "username": credentials.username })),
    ))
}

async fn login(
    State(server): State<Arc<AppServer>>,
    body: Bytes,
) -> Result<Json<SessionResponse>, ApiError> {
    let credentials: Credentials = parse_json(&body)?;
    let now = now();
    {
        let mut failed = server
            .failed_logins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let attempts = failed.entry(credentials.username.clone()).or_default();
        attempts.retain(|at| at + LOGIN_WINDOW_SECONDS > now);
        if attempts.len() >= MAX_FAILED_LOGINS {
            return Err(ApiError::new(
                ErrorCode::TooManyAttempts,
                format!("too many failed logins; wait {LOGIN_WINDOW_SECONDS} seconds"),
            ));
        }
    }
    let record = server
        .store
        .user(&credentials.username)
        .await
        .map_err(ApiError::internal)?;
    // Unknown users cost the same PBKDF2 work, so timing does not reveal who exists.
    let (salt, expected, iterations) = match &record {
        Some(record) => (record.salt.clone(), record.hash.clone(), record.iterations),
        None => (vec![0; 16], vec![0xff; 32], server.password_iterations),
    };
    let password = credentials.password.into_bytes();
    let computed = tokio::task::spawn_blocking(move || hash_password(&password, &salt, iterations))
        .await
        .map_err(ApiError::internal)?;
    let matches = record.is_some() && bool::from(computed.ct_eq(expected.as_slice()));
    if !matches {
        record_failed_login(
            &mut server
                .failed_logins
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            credentials.username,
            now,
        );
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "wrong username or password",
        ));
    }
    let mut token = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut token)
        .map_err(|_| ApiError::internal("random generator failed"))?;
    let session_token = virgil_crypto::encoding::to_hex(&token);
    let token_hash = virgil_crypto::encoding::to_hex(&Sha256::digest(session_token.as_bytes()));
    server
        .store
        .create_session(
            &token_hash,
            &credentials.username,
            now,
            now + SESSION_SECONDS,
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(SessionResponse {
        session_token,
        access_token: token::issue(
            &server.app_key,
            &server.app_id,
            &credentials.username,
            now,
            ACCESS_TOKEN_SECONDS,
        ),
        access_token_expires_at: now + ACCESS_TOKEN_SECONDS,
    }))
}

async fn session_user(server: &AppServer, headers: &HeaderMap) -> Result<String, ApiError> {
    let unauthorized = |code, message: &str| ApiError::new(code, message);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| {
            unauthorized(
                ErrorCode::MissingSession,
                "log in and send Authorization: Bearer <session token>",
            )
        })?;
    let token_hash = virgil_crypto::encoding::to_hex(&Sha256::digest(token.as_bytes()));
    server
        .store
        .session_user(&token_hash, now())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            unauthorized(
                ErrorCode::InvalidSession,
                "the session is unknown or expired; log in again",
            )
        })
}

async fn submit_card(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<CardResponse>), ApiError> {
    let user = session_user(&server, &headers).await?;
    let request: SubmitCardRequest = parse_json(&body)?;
    let mut card = Card::import(&request.card)
        .map_err(|e| ApiError::new(ErrorCode::InvalidCard, e.to_string()))?;
    if card.identity() != user {
        return Err(ApiError::new(
            ErrorCode::WrongIdentity,
            format!(
                "you are logged in as {user:?}; this card is for {:?}",
                card.identity()
            ),
        ));
    }
    if card.content().app_id != server.app_id {
        return Err(ApiError::new(
            ErrorCode::WrongApplication,
            format!(
                "the card is for application {:?}, this server is {:?}",
                card.content().app_id,
                server.app_id
            ),
        ));
    }
    card.verify_self_signature()
        .map_err(|e| ApiError::new(ErrorCode::CardVerificationFailed, e.to_string()))?;
    card.sign_as(Signer::App(server.app_id.clone()), &server.app_key)
        .map_err(|e| ApiError::new(ErrorCode::InvalidCard, e.to_string()))?;
    let cards = Arc::clone(&server.cards);
    let published = tokio::task::spawn_blocking(move || cards.publish(&card))
        .await
        .map_err(ApiError::internal)?;
    let published = published.map_err(|e| match e {
        virgil_client::ClientError::Api {
            status,
            code,
            message,
        } if status < 500 => ApiError::new(
            ErrorCode::CardsServiceRefused,
            format!("{message} ({code})"),
        ),
        other => ApiError::new(ErrorCode::CardsServiceUnavailable, other.to_string()),
    })?;
    Ok((
        StatusCode::CREATED,
        Json(CardResponse {
            card: published.card.to_json(),
            status: published.status,
            published_at: published.published_at,
        }),
    ))
}

async fn send_message(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<SentMessage>), ApiError> {
    let user = session_user(&server, &headers).await?;
    let message: SendMessageRequest = parse_json(&body)?;
    if virgil_crypto::encoding::from_base64(&message.body).is_err() {
        return Err(ApiError::new(
            ErrorCode::InvalidMessage,
            "the body must be the base64 ciphertext",
        ));
    }
    if !server
        .store
        .user_exists(&message.to)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(ApiError::new(
            ErrorCode::UnknownUser,
            format!("no user {:?}", message.to),
        ));
    }
    let id = server
        .store
        .send(&user, &message.to, &message.body, now())
        .await
        .map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(SentMessage { id })))
}

#[derive(serde::Deserialize)]
struct InboxQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

async fn inbox(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    Query(query): Query<InboxQuery>,
) -> Result<Json<Inbox>, ApiError> {
    let user = session_user(&server, &headers).await?;
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    let messages = server
        .store
        .inbox(&user, after, limit)
        .await
        .map_err(ApiError::internal)?;
    let next_cursor = messages.last().map_or(after, |message| message.id);
    Ok(Json(Inbox {
        messages,
        next_cursor,
    }))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics(
    State(server): State<Arc<AppServer>>,
) -> Result<([(header::HeaderName, &'static str); 1], String), ApiError> {
    let (users, messages) = server.store.counts().await.map_err(ApiError::internal)?;
    Ok((
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        server.metrics.render(&[
            Gauge {
                name: "virgil_app_users",
                help: "Registered users.",
                value: users,
            },
            Gauge {
                name: "virgil_app_messages",
                help: "Messages held by the relay.",
                value: messages,
            },
        ]),
    ))
}

/// The OpenAPI 3 document of this API (`docs/api/app-server.openapi.json`).
pub const OPENAPI: &str = include_str!("../../../docs/api/app-server.openapi.json");

/// Every route, as written in the router and in the OpenAPI document.
pub const ROUTES: [&str; 7] = [
    "/v1/users",
    "/v1/sessions",
    "/v1/cards",
    "/v1/messages",
    "/v1/health",
    "/v1/openapi.json",
    "/metrics",
];

async fn openapi() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// The router.
pub fn router(server: Arc<AppServer>) -> Router {
    let [
        users_path,
        sessions_path,
        cards_path,
        messages_path,
        health_path,
        openapi_path,
        metrics_path,
    ] = ROUTES;
    Router::new()
        .route(users_path, post(register))
        .route(sessions_path, post(login))
        .route(cards_path, post(submit_card))
        .route(messages_path, post(send_message).get(inbox))
        .route(health_path, get(health))
        .route(openapi_path, get(openapi))
        .route(metrics_path, get(metrics))
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
    listener: tokio::net::TcpListener,
    server: Arc<AppServer>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), virgil_server::ServeError> {
    let store = server.store.clone();
    let served = virgil_server::runtime::serve(listener, router(server), shutdown).await;
    store.close().await;
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_login_records_stay_bounded() {
        let mut failed = HashMap::new();
        for i in 0..MAX_TRACKED_LOGINS {
            record_failed_login(&mut failed, format!("user{i}"), 1_000);
        }
        assert_eq!(failed.len(), MAX_TRACKED_LOGINS);
        // A window later, the next failure prunes every stale record.
        record_failed_login(&mut failed, "late".to_owned(), 1_000 + LOGIN_WINDOW_SECONDS);
        assert_eq!(failed.len(), 1);
        // Within the window nothing is lost: the limit keeps working under a flood.
        let mut failed = HashMap::new();
        for i in 0..=MAX_TRACKED_LOGINS {
            record_failed_login(&mut failed, format!("user{i}"), 5_000);
        }
        assert_eq!(failed.len(), MAX_TRACKED_LOGINS + 1);
    }
}
