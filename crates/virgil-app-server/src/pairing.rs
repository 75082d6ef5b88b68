//! Device pairing mailboxes (docs/format.md §17, docs/api.md): a new device opens one
//! with the first message of the exchange; another session of the same account reads
//! it and answers; four messages in all, each accepted once, in order, for 10 minutes.
//!
//! This server only relays. The exchange is authenticated end to end by the code the
//! new device shows (SPAKE2 with key confirmation): a mailbox that answers for either
//! side without the code is caught by the other, and a wrong answer ends the exchange.

use crate::handlers::session_user;
use crate::state::AppServer;
use crate::store::PairingWrite;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use std::sync::Arc;
use virgil_api::ErrorCode;
use virgil_api::app::{OpenPairingRequest, Pairing, PairingMessageRequest};
use virgil_api::unix_now as now;
use virgil_crypto::encoding::{from_base64, to_base64};
use virgil_server::ApiError;
use virgil_server::http::parse_json;

/// How long a pairing mailbox lives, in seconds.
pub(crate) const PAIRING_LIFETIME: u64 = 600;
/// The largest pairing message, in bytes (the exchange's largest is 16,433).
const MAX_MESSAGE_LEN: usize = 20 * 1024;

fn no_pairing(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoPairing,
        format!(
            "no pairing {id} on your account: it expired (10 minutes), was ended by one side (a wrong code ends it), or never existed; start again on the new device"
        ),
    )
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 6 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidPairingMessage,
            "a pairing id is 6 decimal digits (the first part of the code)",
        ))
    }
}

fn decode_message(message: &str) -> Result<Vec<u8>, ApiError> {
    from_base64(message)
        .ok()
        .filter(|bytes| !bytes.is_empty() && bytes.len() <= MAX_MESSAGE_LEN)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidPairingMessage,
                format!("a pairing message is base64 of 1 to {MAX_MESSAGE_LEN} bytes"),
            )
        })
}

fn answer(id: &str, messages: &[Vec<u8>], expires_at: u64) -> Json<Pairing> {
    Json(Pairing {
        id: id.to_owned(),
        messages: messages.iter().map(|m| to_base64(m)).collect(),
        expires_at,
    })
}

/// `POST /v1/pairings`.
pub(crate) async fn open(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Pairing>), ApiError> {
    let user = session_user(&server, &headers).await?;
    let request: OpenPairingRequest = parse_json(&body)?;
    check_id(&request.id)?;
    let message = decode_message(&request.message)?;
    let now = now();
    let expires_at = now.saturating_add(PAIRING_LIFETIME);
    match server
        .store
        .open_pairing(&user, &request.id, &message, now, expires_at)
        .await
        .map_err(|e| server.storage(&e))?
    {
        PairingWrite::Stored => {
            tracing::info!(user = %user, pairing = %request.id, "pairing opened");
            Ok((
                StatusCode::CREATED,
                answer(&request.id, &[message], expires_at),
            ))
        }
        _ => Err(ApiError::new(
            ErrorCode::PairingExists,
            format!(
                "you have a live pairing {} already, or {} live ones: finish or end one, or choose another id",
                request.id,
                crate::store::MAX_LIVE_PAIRINGS
            ),
        )),
    }
}

/// `GET /v1/pairings/{id}`.
pub(crate) async fn get(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Pairing>, ApiError> {
    let user = session_user(&server, &headers).await?;
    check_id(&id)?;
    let (messages, expires_at) = server
        .store
        .pairing(&user, &id, now())
        .await
        .map_err(|e| server.storage(&e))?
        .ok_or_else(|| no_pairing(&id))?;
    Ok(answer(&id, &messages, expires_at))
}

/// `POST /v1/pairings/{id}/messages`.
pub(crate) async fn add(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Pairing>, ApiError> {
    let user = session_user(&server, &headers).await?;
    check_id(&id)?;
    let request: PairingMessageRequest = parse_json(&body)?;
    let message = decode_message(&request.message)?;
    let now = now();
    match server
        .store
        .add_pairing_message(&user, &id, i64::from(request.index), &message, now)
        .await
        .map_err(|e| server.storage(&e))?
    {
        PairingWrite::Stored => {}
        PairingWrite::OutOfTurn => {
            return Err(ApiError::new(
                ErrorCode::PairingOutOfTurn,
                format!(
                    "message {} of pairing {id} is not the next one, or was sent already (each is accepted once)",
                    request.index
                ),
            ));
        }
        PairingWrite::Missing | PairingWrite::Exists => return Err(no_pairing(&id)),
    }
    let (messages, expires_at) = server
        .store
        .pairing(&user, &id, now)
        .await
        .map_err(|e| server.storage(&e))?
        .ok_or_else(|| no_pairing(&id))?;
    Ok(answer(&id, &messages, expires_at))
}

/// `POST /v1/pairings/{id}/actions/delete`.
pub(crate) async fn delete(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = session_user(&server, &headers).await?;
    check_id(&id)?;
    if server
        .store
        .delete_pairing(&user, &id, now())
        .await
        .map_err(|e| server.storage(&e))?
    {
        tracing::info!(user = %user, pairing = %id, "pairing ended");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_pairing(&id))
    }
}
