//! Request handling shared by both routers: the request log and metrics middleware,
//! the JSON 413, JSON bodies with the API's `invalid_json` error, and bearer tokens.

use crate::ApiError;
use crate::metrics::Metrics;
use axum::http::{HeaderMap, header};
use std::sync::Arc;
use virgil_api::ErrorCode;

/// The handler of endpoint `E` (`virgil_api::endpoints`) for its method, to route at
/// `E::PATH`: `router.route(Search::PATH, on::<Search, _, _, _>(search))`. The method and
/// the path come from the one definition the clients use too.
pub fn on<E, H, T, S>(handler: H) -> axum::routing::MethodRouter<S>
where
    E: virgil_api::endpoints::Endpoint,
    H: axum::handler::Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    use virgil_api::endpoints::Method;
    let filter = match E::METHOD {
        Method::Get => axum::routing::MethodFilter::GET,
        Method::Post => axum::routing::MethodFilter::POST,
        Method::Delete => axum::routing::MethodFilter::DELETE,
    };
    axum::routing::on(filter, handler)
}

/// The handlers of the routes every server has, each for its own state.
pub struct CommonRoutes<S> {
    /// `GET /v1/health`.
    pub health: axum::routing::MethodRouter<S>,
    /// `GET /v1/openapi.json`.
    pub openapi: axum::routing::MethodRouter<S>,
    /// `GET /metrics`, served behind [`metrics_guard`].
    pub metrics: axum::routing::MethodRouter<S>,
}

/// What every server's router ends with: the [`CommonRoutes`], bodies limited to
/// `max_body` bytes (a JSON 413, [`json_body_limit`]), and each request tracked in
/// `metrics` ([`track_request`]).
pub fn with_common_routes<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    routes: CommonRoutes<S>,
    max_body: usize,
    metrics: Arc<Metrics>,
) -> axum::Router<S> {
    use axum::middleware::from_fn_with_state;
    use virgil_api::endpoints::{Endpoint as _, Health, Metrics as MetricsEndpoint, OpenApi};
    let guarded = routes
        .metrics
        .route_layer(from_fn_with_state(MetricsAccess::from_env(), metrics_guard));
    router
        .route(Health::PATH, routes.health)
        .route(OpenApi::PATH, routes.openapi)
        .route(MetricsEndpoint::PATH, guarded)
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(max_body, json_body_limit))
        .route_layer(from_fn_with_state(metrics, track_request))
}

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
        server = metrics.server(),
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

/// The environment variable holding the token `/metrics` requires.
pub const METRICS_TOKEN_VAR: &str = "VIRGIL_METRICS_TOKEN";

/// Who may read `/metrics` (user and message counts, request rates): with a token
/// (from [`METRICS_TOKEN_VAR`]), whoever sends `Authorization: Bearer <token>`; without
/// one, loopback clients only (a scraper on the same host, or a proxy that forwards
/// only what it should).
#[derive(Clone, Debug, Default)]
pub struct MetricsAccess {
    token: Option<Arc<str>>,
}

impl MetricsAccess {
    /// The token from the environment, if set and not empty.
    pub fn from_env() -> Self {
        let token = std::env::var(METRICS_TOKEN_VAR)
            .ok()
            .filter(|token| !token.is_empty());
        Self {
            token: token.map(Arc::from),
        }
    }

    /// Requiring `token`.
    pub fn with_token(token: &str) -> Self {
        Self {
            token: Some(Arc::from(token)),
        }
    }

    /// Whether a request from `client` with `headers` may read the metrics.
    pub fn check(
        &self,
        client: Option<std::net::IpAddr>,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        match &self.token {
            Some(token) => {
                let given = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.strip_prefix("Bearer "))
                    .unwrap_or_default();
                if bool::from(subtle::ConstantTimeEq::ct_eq(
                    given.as_bytes(),
                    token.as_bytes(),
                )) {
                    Ok(())
                } else {
                    Err(ApiError::new(
                        ErrorCode::MetricsForbidden,
                        format!(
                            "/metrics needs Authorization: Bearer <the token in {METRICS_TOKEN_VAR}>"
                        ),
                    ))
                }
            }
            None if client.is_some_and(|ip| ip.is_loopback()) => Ok(()),
            None => Err(ApiError::new(
                ErrorCode::MetricsForbidden,
                format!(
                    "/metrics answers loopback clients only; set {METRICS_TOKEN_VAR} on the server to allow others with a token"
                ),
            )),
        }
    }
}

/// Middleware of the `/metrics` route: [`MetricsAccess::check`].
pub async fn metrics_guard(
    axum::extract::State(access): axum::extract::State<MetricsAccess>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    match access.check(client, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod metrics_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn metrics_are_for_loopback_or_the_token() {
        let remote: std::net::IpAddr = "203.0.113.9".parse().unwrap();
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let none = HeaderMap::new();
        let open = MetricsAccess::default();
        assert!(open.check(Some(local), &none).is_ok());
        assert!(open.check(Some(remote), &none).is_err());
        assert!(open.check(None, &none).is_err());
        let guarded = MetricsAccess::with_token("s3cret");
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        let mut wrong = HeaderMap::new();
        wrong.insert(header::AUTHORIZATION, "Bearer s3creT".parse().unwrap());
        assert!(guarded.check(Some(remote), &bearer).is_ok());
        assert!(guarded.check(Some(remote), &wrong).is_err());
        assert!(
            guarded.check(Some(local), &none).is_err(),
            "a token binds everyone"
        );
    }
}
