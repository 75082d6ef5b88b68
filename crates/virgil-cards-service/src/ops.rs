//! Operational pieces both servers' binaries (and `virgil serve …`) use: key files,
//! signal handling, request logging with metrics, and the log subscriber.

use crate::config::ConfigError;
use crate::metrics::Metrics;
use std::path::Path;
use std::sync::Arc;
use virgil_crypto::{PrivateKey, keyblob};

/// Reads a TOML configuration file into `T`; errors name the file.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "cannot read the configuration file {}: {e}",
            path.display()
        ))
    })?;
    toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
}

/// Creates a new key and writes it, locked with `password` (or unprotected with `None`),
/// to `path` with mode 0600. An existing file is never overwritten.
pub fn generate_key_file(path: &Path, password: Option<&[u8]>) -> Result<PrivateKey, ConfigError> {
    let key = PrivateKey::generate().map_err(|e| ConfigError(e.to_string()))?;
    let blob = match password {
        Some(password) => keyblob::lock(&key, password, keyblob::Params::default()),
        None => keyblob::lock_unprotected(&key),
    }
    .map_err(|e| ConfigError(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        ConfigError(format!(
            "cannot create {} (an existing key is never overwritten): {e}",
            path.display()
        ))
    })?;
    std::io::Write::write_all(&mut file, &blob)
        .and_then(|()| file.sync_all())
        .map_err(|e| ConfigError(format!("cannot write {}: {e}", path.display())))?;
    Ok(key)
}

/// Reads and unlocks a key file; `password_var` names the environment variable the
/// password comes from, for the error message.
pub fn load_key_file(
    path: &Path,
    password: Option<&[u8]>,
    password_var: &str,
) -> Result<PrivateKey, ConfigError> {
    let blob = std::fs::read(path)
        .map_err(|e| ConfigError(format!("cannot read the key file {}: {e}", path.display())))?;
    keyblob::unlock(&blob, password).map_err(|e| match e {
        virgil_crypto::Error::WrongPassword => ConfigError(format!(
            "wrong or missing password for the key {} (set {password_var})",
            path.display()
        )),
        other => ConfigError(format!("the key {} is unusable: {other}", path.display())),
    })
}

/// Registers the SIGINT/SIGTERM handlers now (so a signal that arrives before the
/// server's first poll is not lost to the default action) and returns the future that
/// completes on the first of them.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static>
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
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
        return crate::error::ApiError::new(
            virgil_api::ErrorCode::BodyTooLarge,
            format!("request bodies are limited to {limit} bytes"),
        )
        .into_response();
    }
    response
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Does nothing if a
/// subscriber is already installed.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a server's `serve` future on a new multi-threaded runtime.
pub fn block_on_runtime(
    serve: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(serve)
}

/// The process exit for a binary's result: success, or the message on stderr as
/// `PROGRAM: message` and exit code 1.
pub fn exit(program: &str, result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{program}: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
