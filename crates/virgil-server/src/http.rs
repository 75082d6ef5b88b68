//! Request handling shared by both routers: the request log and metrics middleware,
//! the JSON 413, JSON bodies with the API's `invalid_json` error, and bearer tokens.

use crate::ApiError;
use crate::metrics::Metrics;
use axum::http::{HeaderMap, header};
use std::sync::Arc;
use virgil_api::ErrorCode;

/// Middleware: records each request in `metrics` and logs one line per request
/// (method, matched route, status, time). Never headers or bodies: tokens, passwords
/// and cards stay out of logs.
pub async fn track_request(
    axum::extract::State(metrics): axum::extract::State<Arc<Metrics>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics.record(&route, response.status().as_u16(), started.elapsed());
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

/// Middleware (state: the body limit in bytes): turns axum's plain-text 413 into the
/// JSON error both servers use, `{"code": "body_too_large", "message": …}`.
pub async fn json_body_limit(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let response = next.run(request).await;
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("request bodies are limited to {limit} bytes"),
        )
        .into_response();
    }
    response
}

/// Decodes a JSON request body; anything else is `invalid_json`.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the request body is not the expected JSON: {e}"),
        )
    })
}

/// The `Authorization` header's value, if any; a value that is not text is
/// `malformed_token`.
pub fn authorization(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .map(|value| {
            value.to_str().map_err(|_| {
                ApiError::new(
                    ErrorCode::MalformedToken,
                    "the Authorization header is not text",
                )
            })
        })
        .transpose()
}

/// The Prometheus text content type, for `/metrics` answers.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";
