//! Running a server binary: logging, the tokio runtime, SIGINT/SIGTERM with graceful
//! shutdown, and the process exit.

use crate::ServeError;

/// Registers the SIGINT/SIGTERM handlers now (so a signal that arrives before the
/// server's first poll is not lost to the default action) and returns the future that
/// completes on the first of them.
pub fn shutdown_signal()
-> Result<impl std::future::Future<Output = ()> + Send + 'static, ServeError> {
    let io = |source| ServeError::Io {
        action: "install signal handlers",
        source,
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).map_err(io)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(io)?;
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
        let _ = io;
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
}

/// Binds `address` (`:0` picks a free port) and prints `listening on http://ADDRESS`
/// on stdout, the line scripts and tests read to find the port.
pub async fn listen(address: &str) -> Result<tokio::net::TcpListener, ServeError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Listen {
            address: address.to_owned(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| ServeError::Listen {
        address: address.to_owned(),
        source,
    })?;
    println!("listening on http://{bound}");
    Ok(listener)
}

/// Serves `router` on `listener` until `shutdown` completes, letting in-flight
/// requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // Handlers may read the client address (the login rate limit is per address).
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServeError::Io {
            action: "serve",
            source,
        })
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
pub fn block_on<E: From<ServeError>>(
    serve: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), E> {
    tokio::runtime::Runtime::new()
        .map_err(|source| ServeError::Io {
            action: "start the runtime",
            source,
        })?
        .block_on(serve)
}

/// The process exit for a binary's result: success, or the message on stderr as
/// `PROGRAM: message` and exit code 1.
pub fn exit<E: std::fmt::Display>(program: &str, result: Result<(), E>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{program}: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
