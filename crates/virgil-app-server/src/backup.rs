//! Key backups: the application server keeps each user's locked key blob (kdf `0x02`,
//! docs/format.md §5). It cannot open one: the password's hardening takes the cards
//! service's OPRF key, which this server does not have, and the cards service counts
//! every guess (docs/security.md, key backup).
//!
//! A session stores the first backup and reads it; replacing or deleting one needs the
//! account password again, so a stolen session token can neither swap nor destroy it.

use crate::handlers::{check_credentials, session_user};
use crate::state::AppServer;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode};
use std::sync::Arc;
use virgil_api::ErrorCode;
use virgil_api::app::{DeleteBackupRequest, KeyBackup, StoreBackupRequest};
use virgil_api::unix_now as now;
use virgil_crypto::encoding::{from_base64, to_base64};
use virgil_server::ApiError;
use virgil_server::http::parse_json;

fn no_backup(user: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoBackup,
        format!("{user} has no key backup on this server (`virgil key backup` makes one)"),
    )
}

/// `POST /v1/backup`.
pub(crate) async fn store(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Result<Json<KeyBackup>, ApiError> {
    let user = session_user(&server, &headers).await?;
    let request: StoreBackupRequest = parse_json(&body)?;
    let blob = from_base64(&request.blob)
        .ok()
        .filter(|blob| virgil_crypto::keyblob::is_hardened(blob).unwrap_or(false))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidBackup,
                "not a key backup: a base64 key blob locked with a hardened password (format.md §5, kdf 0x02)",
            )
        })?;
    let existing = server
        .store
        .backup(&user)
        .await
        .map_err(|e| server.storage(&e))?;
    let reauthenticate = || {
        ApiError::new(
            ErrorCode::ReauthenticationRequired,
            "you have a key backup already: send your account password to replace it",
        )
    };
    let stored_at = now();
    if existing.is_some() {
        let password = request.password.ok_or_else(reauthenticate)?;
        check_credentials(&server, &extensions, &user, password, now()).await?;
        server
            .store
            .put_backup(&user, &blob, stored_at)
            .await
            .map_err(|e| server.storage(&e))?;
    } else {
        // Only if there is still none: a backup stored meanwhile (a concurrent request,
        // perhaps a stolen session's) is never replaced without the password.
        let created = server
            .store
            .create_backup(&user, &blob, stored_at)
            .await
            .map_err(|e| server.storage(&e))?;
        if !created {
            return Err(reauthenticate());
        }
    }
    tracing::info!(user = %user, replaced = existing.is_some(), "key backup stored");
    Ok(Json(KeyBackup {
        blob: to_base64(&blob),
        stored_at,
    }))
}

/// `GET /v1/backup`.
pub(crate) async fn fetch(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
) -> Result<Json<KeyBackup>, ApiError> {
    let user = session_user(&server, &headers).await?;
    let (blob, stored_at) = server
        .store
        .backup(&user)
        .await
        .map_err(|e| server.storage(&e))?
        .ok_or_else(|| no_backup(&user))?;
    Ok(Json(KeyBackup {
        blob: to_base64(&blob),
        stored_at,
    }))
}

/// `POST /v1/backup/actions/delete`.
pub(crate) async fn delete(
    State(server): State<Arc<AppServer>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let user = session_user(&server, &headers).await?;
    let request: DeleteBackupRequest = parse_json(&body)?;
    check_credentials(&server, &extensions, &user, request.password, now()).await?;
    let deleted = server
        .store
        .delete_backup(&user)
        .await
        .map_err(|e| server.storage(&e))?;
    if deleted {
        tracing::info!(user = %user, "key backup deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_backup(&user))
    }
}
