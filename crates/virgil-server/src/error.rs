//! API errors ([`ApiError`]: `{"code": "<stable_snake_case>", "message": "…"}` with the
//! code's HTTP status, [`ErrorCode::status`]) and why a server stopped ([`ServeError`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use virgil_api::{ErrorBody, ErrorCode};

/// An error answer of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code; the HTTP status is the code's.
    pub code: ErrorCode,
    /// The message.
    pub message: String,
    /// For 429 and 503 answers: seconds the client should wait before trying again,
    /// sent as the `Retry-After` header.
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    /// An error with `code` and a message for a person.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    /// The same answer, telling the client to wait `seconds` (at least 1) before
    /// trying again.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds.max(1));
        self
    }

    /// 500; the message is logged, the client gets a generic one.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InternalError, message.to_string())
    }

    /// The HTTP status of this answer.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self.message, "internal error");
            "the server failed to handle the request; try again later".to_owned()
        } else {
            self.message
        };
        let mut response = (
            status,
            Json(ErrorBody {
                code: self.code,
                message,
            }),
        )
            .into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// Why a server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration (file, environment, options or key file) is unusable.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// The database could not be opened or prepared.
    #[error("cannot open the database {url}: {message}")]
    Database {
        /// The database URL as configured.
        url: String,
        /// What failed.
        message: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address as configured.
        address: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `health`: the server did not answer, or said it is not healthy.
    #[error("unhealthy: {0}")]
    Unhealthy(String),
    /// The runtime, the signal handlers or the server loop failed.
    #[error("cannot {action}: {source}")]
    Io {
        /// What was being done ("start the runtime", "install signal handlers", "serve").
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_has_its_code_s_status_and_internal_details_stay_in_the_log() {
        let response = ApiError::new(ErrorCode::WrongApplication, "other app").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = ApiError::new(ErrorCode::BodyTooLarge, "big").into_response();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let error = ApiError::internal("database password is hunter2");
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = tokio::runtime::Builder::new_current_thread()
            .build()
            .ok()
            .and_then(|runtime| {
                runtime
                    .block_on(axum::body::to_bytes(response.into_body(), 4096))
                    .ok()
            })
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("internal_error"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_retry_after_is_sent_as_the_header() {
        let response = ApiError::new(ErrorCode::RateLimited, "slow down")
            .with_retry_after(0)
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let header = response.headers().get(axum::http::header::RETRY_AFTER);
        assert_eq!(header.and_then(|v| v.to_str().ok()), Some("1"));
        let response = ApiError::new(ErrorCode::RateLimited, "slow down").into_response();
        assert!(
            response
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .is_none()
        );
    }
}
