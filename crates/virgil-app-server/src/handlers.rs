//! The request handlers of the application server's API (v1).

use crate::accounts::{
    MAX_PASSWORD_BYTES, check_password, check_username, hash_password, new_user_record,
};
use crate::state::{ACCESS_TOKEN_SECONDS, AppServer, OPENAPI, Registration, SESSION_SECONDS};
use crate::store::Sent;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use sha2::{Digest as _, Sha256};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use subtle::ConstantTimeEq as _;
use virgil_api::app::{
    AccessTokenResponse, Credentials, Inbox, PasswordChange, RegisteredUser, SendMessageRequest,
    SentMessage, SessionInfo, SessionList, SessionResponse, SubmitCardRequest, is_valid_message_id,
};
use virgil_api::cards::CardResponse;
use virgil_api::token;
use virgil_api::unix_now as now;
use virgil_api::{ErrorCode, HealthResponse};
use virgil_card::{Card, Signer};
use virgil_server::ApiError;
use virgil_server::http::{PROMETHEUS_TEXT, parse_json};
use virgil_server::metrics::Gauge;

pub(crate) async fn register(
    State(server): State<Arc<AppServer>>,
    body: Bytes,
) -> Result<(StatusCode, Json<RegisteredUser>), ApiError> {
    if server.registration == Registration::Closed {
        return Err(ApiError::new(
            ErrorCode::RegistrationClosed,
            "registration is closed on this server: ask its operator for an account",
        ));
    }
    let credentials: Credentials = parse_json(&body)?;
    check_username(&credentials.username)?;
    check_password(&credentials.password)?;
    let iterations = server.password_iterations;
    let password = zeroize::Zeroizing::new(credentials.password.into_bytes());
    let record = tokio::task::spawn_blocking(move || new_user_record(&password, iterations))
        .await
        .map_err(ApiError::internal)??;
    if !server
        .store
        .create_user(&credentials.username, &record, now())
        .await
        .map_err(|e| server.storage(&e))?
    {
        return Err(ApiError::new(
            ErrorCode::UsernameTaken,
            format!("the username {:?} is taken", credentials.username),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(RegisteredUser {
            username: credentials.username,
        }),
    ))
}

/// Checks `username`'s password (throttled per user and client address, constant work
/// for unknown users): login, and the re-authentication a reset card needs.
pub(crate) async fn check_credentials(
    server: &AppServer,
    extensions: &Extensions,
    username: &str,
    password: String,
    now: u64,
) -> Result<(), ApiError> {
    let wrong = || ApiError::new(ErrorCode::InvalidCredentials, "wrong username or password");
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(wrong());
    }
    let client = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let reservation = server.login_throttle.reserve(username, client, now)?;
    let record = server
        .store
        .user(username)
        .await
        .map_err(|e| server.storage(&e))?;
    // Unknown users cost the same PBKDF2 work, so timing does not reveal who exists.
    let (salt, expected, iterations) = match &record {
        Some(record) => (record.salt.clone(), record.hash.clone(), record.iterations),
        None => (vec![0; 16], vec![0xff; 32], server.password_iterations),
    };
    let password = zeroize::Zeroizing::new(password.into_bytes());
    let computed = tokio::task::spawn_blocking(move || hash_password(&password, &salt, iterations))
        .await
        .map_err(ApiError::internal)?;
    let matches = record.is_some() && bool::from(computed.ct_eq(expected.as_slice()));
    if !matches {
        return Err(wrong());
    }
    server.login_throttle.succeeded(reservation);
    Ok(())
}

pub(crate) async fn login(
    State(server): State<Arc<AppServer>>,
    extensions: Extensions,
    body: Bytes,
) -> Result<Json<SessionResponse>, ApiError> {
    let credentials: Credentials = parse_json(&body)?;
    // Before anything else: a name that cannot exist costs nothing and is not tracked.
    check_username(&credentials.username)?;
    let now = now();
    check_credentials(
        &server,
        &extensions,
        &credentials.username,
        credentials.password,
        now,
    )
    .await?;
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
        .map_err(|e| server.storage(&e))?;
    let access = access_token(&server, &credentials.username, now);
    Ok(Json(SessionResponse {
        session_token,
        access_token: access.access_token,
        access_token_expires_at: access.access_token_expires_at,
    }))
}

fn access_token(server: &AppServer, username: &str, now: u64) -> AccessTokenResponse {
    AccessTokenResponse {
        access_token: token::issue(
            &server.app_key,
            &server.app_id,
            username,
            now,
            ACCESS_TOKEN_SECONDS,
        ),
        access_token_expires_at: now + ACCESS_TOKEN_SECONDS,
    }
}

/// `POST /v1/access-tokens`: a fresh cards-service token for a valid session.
pub(crate) async fn refresh_access_token(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
) -> Result<Json<AccessTokenResponse>, ApiError> {
    let user = session_user(&server, &headers).await?;
    Ok(Json(access_token(&server, &user, now())))
}

/// `POST /v1/account/password`: the current password again and a new one. The new
/// hash replaces the old and every other session of the account ends, in one
/// transaction; this session stays.
pub(crate) async fn change_password(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (user, _) = session_of(&server, &headers).await?;
    let change: PasswordChange = parse_json(&body)?;
    check_password(&change.new_password)?;
    check_credentials(&server, &extensions, &user, change.current_password, now()).await?;
    let iterations = server.password_iterations;
    let password = zeroize::Zeroizing::new(change.new_password.into_bytes());
    let record = tokio::task::spawn_blocking(move || new_user_record(&password, iterations))
        .await
        .map_err(ApiError::internal)??;
    let keep = session_token_hash(&headers).unwrap_or_default();
    server
        .store
        .set_password(&user, &record, Some(&keep))
        .await
        .map_err(|e| server.storage(&e))?;
    tracing::warn!(user = %user, "password changed; the account's other sessions ended");
    Ok(StatusCode::NO_CONTENT)
}

/// The SHA-256 (hex) of the bearer session token of `headers`, as the store keeps it.
fn session_token_hash(headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))?;
    Some(virgil_crypto::encoding::to_hex(&Sha256::digest(
        token.as_bytes(),
    )))
}

/// The length of a session id: a prefix of its token's SHA-256, in hex.
const SESSION_ID_LEN: usize = 16;

/// The caller's session: (username, session id).
pub(crate) async fn session_of(
    server: &AppServer,
    headers: &HeaderMap,
) -> Result<(String, String), ApiError> {
    let unauthorized = |code, message: &str| ApiError::new(code, message);
    let token_hash = session_token_hash(headers).ok_or_else(|| {
        unauthorized(
            ErrorCode::MissingSession,
            "log in and send Authorization: Bearer <session token>",
        )
    })?;
    let user = server
        .store
        .session_user(&token_hash, now())
        .await
        .map_err(|e| server.storage(&e))?
        .ok_or_else(|| {
            unauthorized(
                ErrorCode::InvalidSession,
                "the session is unknown or expired; log in again",
            )
        })?;
    if let Some(limiter) = &server.per_account {
        limiter.check(&user)?;
    }
    let id = token_hash
        .get(..SESSION_ID_LEN)
        .unwrap_or_default()
        .to_owned();
    Ok((user, id))
}

/// The caller's username.
pub(crate) async fn session_user(
    server: &AppServer,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    Ok(session_of(server, headers).await?.0)
}

/// `GET /v1/sessions`: the caller's live sessions.
pub(crate) async fn list_sessions(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
) -> Result<Json<SessionList>, ApiError> {
    let (user, current) = session_of(&server, &headers).await?;
    let sessions = server
        .store
        .sessions_of(&user, now())
        .await
        .map_err(|e| server.storage(&e))?
        .into_iter()
        .map(|(token_hash, expires_at)| {
            let id = token_hash
                .get(..SESSION_ID_LEN)
                .unwrap_or_default()
                .to_owned();
            SessionInfo {
                current: id == current,
                id,
                expires_at,
            }
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// `DELETE /v1/sessions/{id}` (`current`: the caller's own): ends a session of the
/// caller's server-side, at once.
pub(crate) async fn end_session(
    State(server): State<Arc<AppServer>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (user, current) = session_of(&server, &headers).await?;
    let id = if id == "current" { current } else { id };
    let well_formed =
        id.len() == SESSION_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let ended = well_formed
        && server
            .store
            .delete_session(&user, &id)
            .await
            .map_err(|e| server.storage(&e))?;
    if ended {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            ErrorCode::SessionNotFound,
            format!("you have no session {id:?} (`GET /v1/sessions` lists them)"),
        ))
    }
}

pub(crate) async fn submit_card(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    extensions: Extensions,
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
    if virgil_card::lifecycle::is_reset(&card) {
        // A reset replaces every card of the user: the session is not enough, the
        // user proves who they are again.
        let password = request.password.ok_or_else(|| {
            ApiError::new(
                ErrorCode::ReauthenticationRequired,
                "a reset card replaces all of your cards: send your account password with it",
            )
        })?;
        check_credentials(&server, &extensions, &user, password, now()).await?;
        tracing::warn!(user = %user, card = %card.id(), "reset card approved after re-authentication");
    }
    card.sign_as(Signer::App(server.app_id.clone()), &server.app_key)
        .map_err(|e| ApiError::new(ErrorCode::InvalidCard, e.to_string()))?;
    let cards = Arc::clone(&server.cards);
    let published = tokio::task::spawn_blocking(move || cards.publish(&card))
        .await
        .map_err(ApiError::internal)?;
    let published = published.map_err(|e| match e {
        // Conflicts with the user's card set (link_required, too_many_cards, …): the
        // user's device can act on them, so they keep their code.
        virgil_client::ClientError::Api { code, message, .. } if code.status() == 409 => {
            ApiError::new(code, message)
        }
        // The cards service asked to wait (it rate-limits this server, or its storage
        // failed): so does this answer, with its Retry-After; nothing was published.
        virgil_client::ClientError::Api {
            status: 429 | 503,
            code,
            retry_after_seconds,
            ..
        } => ApiError::new(
            ErrorCode::CardsServiceBusy,
            format!(
                "the cards service is busy ({code}); nothing was published: try again in a few seconds"
            ),
        )
        .with_retry_after(retry_after_seconds.unwrap_or(CARDS_SERVICE_RETRY_AFTER_SECONDS)),
        virgil_client::ClientError::Api {
            status,
            code,
            message,
            ..
        } if status < 500 => ApiError::new(
            ErrorCode::CardsServiceRefused,
            format!("{message} ({code})"),
        ),
        other => ApiError::new(ErrorCode::CardsServiceUnavailable, other.to_string()),
    })?;
    Ok((StatusCode::CREATED, Json(published.to_response())))
}

/// What a client is told to wait when the cards service asked this server to wait
/// without saying how long.
const CARDS_SERVICE_RETRY_AFTER_SECONDS: u64 = 5;

pub(crate) async fn send_message(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<SentMessage>), ApiError> {
    let user = session_user(&server, &headers).await?;
    let message: SendMessageRequest = parse_json(&body)?;
    if message
        .message_id
        .as_deref()
        .is_some_and(|id| !is_valid_message_id(id))
    {
        return Err(ApiError::new(
            ErrorCode::InvalidMessage,
            "message_id must be 8 to 64 of letters, digits, '-' and '_'",
        ));
    }
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
        .map_err(|e| server.storage(&e))?
    {
        return Err(ApiError::new(
            ErrorCode::UnknownUser,
            format!("no user {:?}", message.to),
        ));
    }
    let now = now();
    let (sent, bytes) = server
        .store
        .sent_since(&user, now.saturating_sub(3600))
        .await
        .map_err(|e| server.storage(&e))?;
    let quota = server.relay_quota;
    let size = u64::try_from(message.body.len()).unwrap_or(u64::MAX);
    if sent >= quota.messages_per_hour || bytes.saturating_add(size) > quota.bytes_per_hour {
        return Err(ApiError::new(
            ErrorCode::RelayQuotaExceeded,
            format!(
                "you relayed {sent} messages ({bytes} bytes) in the last hour; the limit is {} messages and {} bytes per hour: try again later",
                quota.messages_per_hour, quota.bytes_per_hour
            ),
        ));
    }
    let stored = server
        .store
        .send(
            &user,
            &message.to,
            &message.body,
            message.message_id.as_deref(),
            now,
        )
        .await
        .map_err(|e| server.storage(&e))?;
    // Answered only now, after the commit: an acknowledged message is a stored one.
    match stored {
        Sent::Stored(id) => Ok((StatusCode::CREATED, Json(SentMessage { id }))),
        Sent::Already(id) => Ok((StatusCode::OK, Json(SentMessage { id }))),
        Sent::IdReused => Err(ApiError::new(
            ErrorCode::MessageIdReused,
            "you sent another message with this message_id before: choose a new id for a new message",
        )),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct InboxQuery {
    pub(crate) after: Option<i64>,
    pub(crate) limit: Option<i64>,
}

pub(crate) async fn inbox(
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
        .map_err(|e| server.storage(&e))?;
    let next_cursor = messages.last().map_or(after, |message| message.id);
    Ok(Json(Inbox {
        messages,
        next_cursor,
    }))
}

/// Always answers (200): `"ok"`, or `"degraded"` with the reason while the storage
/// fails (a database that does not answer is such a failure).
pub(crate) async fn health(State(server): State<Arc<AppServer>>) -> Json<HealthResponse> {
    if let Err(error) = server.store.ping().await {
        let _ = server.storage(&error);
    }
    Json(HealthResponse::of(server.store.health().degraded(), None))
}

/// Always answers: the storage gauges even while the database cannot be read (the
/// counts are left out then).
pub(crate) async fn metrics(
    State(server): State<Arc<AppServer>>,
) -> ([(header::HeaderName, &'static str); 1], String) {
    let mut gauges = Vec::from(server.store.health().gauges());
    match server.store.counts().await {
        Ok((users, messages)) => gauges.extend([
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
        Err(error) => {
            let _ = server.storage(&error);
        }
    }
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        server.metrics.render(&gauges),
    )
}

/// `GET /v1/openapi.json`.
pub(crate) async fn openapi() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
