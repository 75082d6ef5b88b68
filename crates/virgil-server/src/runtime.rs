//! Running a server binary: logging, the tokio runtime, SIGINT/SIGTERM with graceful
//! shutdown, and the process exit.

use crate::rate_limit::{Rate, RateLimiter};
use crate::tally::Tally;
use crate::{ApiError, ServeError};
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use virgil_api::ErrorCode;

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

/// A bound listener: plain HTTP, or TLS with an acceptor.
pub struct Listener {
    tcp: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("tcp", &self.tcp)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl From<tokio::net::TcpListener> for Listener {
    /// Plain HTTP (tests and in-process servers on loopback).
    fn from(tcp: tokio::net::TcpListener) -> Self {
        Self { tcp, tls: None }
    }
}

impl Listener {
    /// TLS on `tcp`.
    pub fn with_tls(tcp: tokio::net::TcpListener, tls: TlsAcceptor) -> Self {
        Self {
            tcp,
            tls: Some(tls),
        }
    }

    /// The base URL clients use: `https://ADDRESS` or `http://ADDRESS`.
    pub fn url(&self) -> Result<String, ServeError> {
        let address = self.tcp.local_addr().map_err(|source| ServeError::Io {
            action: "read the bound address",
            source,
        })?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(format!("{scheme}://{address}"))
    }
}

/// Binds `address` (`:0` picks a free port), with TLS if `tls` is given, and prints
/// `listening on https://ADDRESS` (or `http://`) on stdout, the line scripts and tests
/// read to find the port. Plain HTTP on a non-loopback address is refused unless
/// `insecure_http` ([`crate::tls::check_plain_http`]).
pub async fn bind(
    address: &str,
    tls: Option<TlsAcceptor>,
    insecure_http: bool,
) -> Result<Listener, ServeError> {
    let tcp = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Listen {
            address: address.to_owned(),
            source,
        })?;
    let bound = tcp.local_addr().map_err(|source| ServeError::Listen {
        address: address.to_owned(),
        source,
    })?;
    let listener = match tls {
        Some(tls) => Listener::with_tls(tcp, tls),
        None => {
            crate::tls::check_plain_http(bound, insecure_http)?;
            Listener::from(tcp)
        }
    };
    println!("listening on {}", listener.url()?);
    Ok(listener)
}

/// What one server allows its clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// The time a client has to send a request's headers, counted from when the server
    /// waits for them (so it also closes idle keep-alive connections).
    pub header_timeout: Duration,
    /// The time a request may take from its headers to the answer, body upload
    /// included: 408 `request_timeout` after that.
    pub request_timeout: Duration,
    /// Connections open at once. A new one at the cap closes the connection that has
    /// been idle longest (no request in flight); only when all are busy is it refused.
    pub max_connections: usize,
    /// Requests per client address (IPv6: per /64); `None`: no limit. Over it the
    /// answer is 429 `rate_limited` with `Retry-After` ([`crate::rate_limit`]).
    pub per_client: Option<Rate>,
}

impl ConnectionLimits {
    /// The defaults without the per-client rate limit (benchmarks, tests that load a
    /// server from one address).
    pub fn without_rate_limit() -> Self {
        Self {
            per_client: None,
            ..Self::default()
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            per_client: Some(Rate::PER_CLIENT),
        }
    }
}

/// Serves `router` on `listener` with the default [`ConnectionLimits`] until `shutdown`
/// completes, letting in-flight requests finish.
pub async fn serve(
    listener: impl Into<Listener>,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_with_limits(listener, router, shutdown, ConnectionLimits::default()).await
}

/// What a server crate assembles: the state its handlers share, which makes its
/// router and knows how to close its storage. Each server's [`Server`] is built from
/// one.
pub trait Api: Send + Sync + Sized + 'static {
    /// The HTTP API, every route and layer, over this shared state.
    fn router(self: Arc<Self>) -> axum::Router;

    /// Closes the storage (the database pool) once the last request has finished.
    fn close_storage(&self) -> impl std::future::Future<Output = ()> + Send + 'static;
}

/// A server assembled from its configuration (each server crate's `server::build`):
/// its [`Api`] state and the [`ConnectionLimits`] it serves within, ready to
/// [`serve`](Server::serve) on a listener until a shutdown future completes.
pub struct Server<A> {
    api: A,
    limits: ConnectionLimits,
    web: crate::web::Web,
}

impl<A: Api> Server<A> {
    /// A server of `api` within `limits`.
    pub fn new(api: A, limits: ConnectionLimits) -> Self {
        Self {
            api,
            limits,
            web: crate::web::Web::default(),
        }
    }

    /// Serves what `web` offers browsers too: CORS for its origins, its site.
    pub fn with_web(mut self, web: crate::web::Web) -> Self {
        self.web = web;
        self
    }

    /// The server `change` makes of this one's state (tests: other rates, quotas,
    /// delays).
    pub fn map(mut self, change: impl FnOnce(A) -> A) -> Self {
        self.api = change(self.api);
        self
    }

    /// Serves within `limits` instead of the configured ones.
    pub fn with_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Serves the API on `listener` until `shutdown` completes, lets in-flight requests
    /// finish, then closes the storage whether serving ended well or not, so that no
    /// connection to the database outlives the server.
    pub async fn serve(
        self,
        listener: impl Into<Listener>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let close = self.api.close_storage();
        let router = self.web.apply(Arc::new(self.api).router());
        let served = serve_with_limits(listener, router, shutdown, self.limits).await;
        close.await;
        served
    }

    /// What a server binary's `serve` command does once the server is built: TLS from
    /// `tls` (reloaded on SIGHUP; none needs `insecure_http` off loopback), SIGINT and
    /// SIGTERM handlers, the listener on `listen` (printing `listening on …`), then
    /// `started` (the start's log line) and [`Server::serve`] until a signal.
    pub async fn serve_until_signal(
        self,
        listen: &str,
        tls: Option<&crate::tls::TlsFiles>,
        insecure_http: bool,
        started: impl FnOnce(),
    ) -> Result<(), ServeError> {
        let tls = crate::tls::acceptor_reloading_on_sighup(tls)?;
        let shutdown = shutdown_signal()?;
        let listener = bind(listen, tls, insecure_http).await?;
        started();
        self.serve(listener, shutdown).await
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting, lets in-flight requests finish and closes idle connections. Handlers can
/// read the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve_with_limits(
    listener: impl Into<Listener>,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> Result<(), ServeError> {
    let router = match limits.per_client {
        Some(rate) => router.layer(axum::middleware::from_fn_with_state(
            Arc::new(RateLimiter::new(rate, "this address")),
            crate::rate_limit::limit_clients,
        )),
        None => router,
    };
    let router = router.layer(axum::middleware::from_fn_with_state(
        limits.request_timeout,
        request_timeout,
    ));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connections = Arc::new(Connections::new(limits.max_connections));
    // Every connection task holds a clone; when the last is dropped, all have ended.
    let (running, mut all_ended) = tokio::sync::mpsc::channel::<()>(1);
    let Listener { tcp, tls } = listener.into();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or the peer gave up during accept: wait a
                    // moment instead of spinning.
                    static ACCEPT_FAILED: Tally = Tally::new("accept failed");
                    ACCEPT_FAILED.record(&error);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = connections.admit(remote) else {
            drop(stream);
            continue;
        };
        let in_flight = Arc::clone(&slot.state);
        let router = router.clone();
        let service = tower::service_fn(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                let busy = Busy::start(&in_flight);
                let router = router.clone();
                async move {
                    use http_body_util::BodyExt as _;
                    let response = router.oneshot(request).await;
                    // The connection stays busy until the answer's body is sent (hyper
                    // drops it then), not only until the handler returns.
                    response.map(|response| {
                        response.map(|body| {
                            axum::body::Body::new(body.map_frame(move |frame| {
                                let _busy = &busy;
                                frame
                            }))
                        })
                    })
                }
            },
        );
        let service = TowerToHyperService::new(service);
        let (http, tls, running) = (http.clone(), tls.clone(), running.clone());
        tokio::spawn(async move {
            let served = match tls {
                None => serve_connection(&http, TokioIo::new(stream), service, &slot).await,
                Some(tls) => {
                    // The handshake gets the header timeout too: a client that starts one
                    // and stalls is cut off like a slow request.
                    match tokio::time::timeout(limits.header_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(&http, TokioIo::new(stream), service, &slot).await
                        }
                        Ok(Err(error)) => Err(format!("TLS handshake failed: {error}")),
                        Err(_) => Err("TLS handshake timed out".to_owned()),
                    }
                }
            };
            if let Err(error) = served {
                tracing::debug!(%remote, %error, "connection ended with an error");
            }
            drop(slot);
            drop(running);
        });
    }
    drop(tcp);
    // Stop every connection gracefully: in-flight requests finish, idle ones close.
    connections.close_all();
    drop(running);
    let _ = all_ended.recv().await;
    Ok(())
}

/// Serves one connection until it ends. When its slot is told to close (the server is
/// shutting down, or the connection was idle longest when the table was full), an idle
/// connection (no request being answered: waiting for one, or part of its headers) is
/// closed at once; a busy one finishes its answer and then closes (hyper's graceful
/// shutdown, which alone would leave a connection that never completed a request
/// waiting for one until the header timeout).
async fn serve_connection<I, S>(
    http: &hyper::server::conn::http1::Builder,
    io: I,
    service: S,
    slot: &Slot,
) -> Result<(), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    <S::ResBody as hyper::body::Body>::Data: Send,
{
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => return served.map_err(|e| e.to_string()),
            () = slot.state.close.notified(), if !closing => {
                if slot.state.in_flight.load(Ordering::Relaxed) == 0 {
                    return Ok(());
                }
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// The open connections: at most `max`. When a new one arrives at the cap, the one idle
/// longest (no request in flight; a client holding connections open without using them)
/// is closed to make room, so idle connections cannot lock everyone else out; only when
/// every connection is busy is the new one refused.
struct Connections {
    max: usize,
    started: std::time::Instant,
    table: std::sync::Mutex<ConnectionTable>,
    shed: Tally,
    refused: Tally,
}

#[derive(Default)]
struct ConnectionTable {
    next: u64,
    open: std::collections::HashMap<u64, Arc<ConnectionState>>,
}

/// What the table knows of one connection.
struct ConnectionState {
    /// Requests being answered on it now.
    in_flight: AtomicUsize,
    /// When it last began or finished a request (or was accepted), in milliseconds since
    /// the server started.
    last_active: AtomicU64,
    /// Told once: close gracefully.
    close: tokio::sync::Notify,
    started: std::time::Instant,
}

impl ConnectionState {
    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active.store(now, Ordering::Relaxed);
    }
}

/// A connection's place in the table, given up when it ends.
struct Slot {
    id: u64,
    state: Arc<ConnectionState>,
    connections: Arc<Connections>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.table().open.remove(&self.id);
    }
}

/// A request in flight on a connection; finishing it marks the connection active now.
struct Busy(Arc<ConnectionState>);

impl Busy {
    fn start(state: &Arc<ConnectionState>) -> Self {
        state.in_flight.fetch_add(1, Ordering::Relaxed);
        state.touch();
        Self(Arc::clone(state))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connections {
    fn new(max: usize) -> Self {
        Self {
            max,
            started: std::time::Instant::now(),
            table: std::sync::Mutex::new(ConnectionTable::default()),
            shed: Tally::new("idle connections closed: too many open connections"),
            refused: Tally::new("connections refused: too many open connections, all busy"),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, ConnectionTable> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for a new connection from `remote`, making room if the table is full by
    /// closing the connection idle longest; `None` if every connection is busy.
    fn admit(self: &Arc<Self>, remote: std::net::SocketAddr) -> Option<Slot> {
        let mut table = self.table();
        if table.open.len() >= self.max {
            let idle_longest = table
                .open
                .iter()
                .filter(|(_, state)| state.in_flight.load(Ordering::Relaxed) == 0)
                .min_by_key(|(_, state)| state.last_active.load(Ordering::Relaxed))
                .map(|(id, _)| *id);
            match idle_longest.and_then(|id| table.open.remove(&id)) {
                Some(idle) => {
                    idle.close.notify_one();
                    self.shed.record(&remote);
                }
                None => {
                    drop(table);
                    self.refused.record(&remote);
                    return None;
                }
            }
        }
        let id = table.next;
        table.next = table.next.wrapping_add(1);
        let state = Arc::new(ConnectionState {
            in_flight: AtomicUsize::new(0),
            last_active: AtomicU64::new(0),
            close: tokio::sync::Notify::new(),
            started: self.started,
        });
        state.touch();
        table.open.insert(id, Arc::clone(&state));
        Some(Slot {
            id,
            state,
            connections: Arc::clone(self),
        })
    }

    /// Tells every open connection to close gracefully (shutdown).
    fn close_all(&self) {
        for state in self.table().open.values() {
            state.close.notify_one();
        }
    }
}

/// Answers 408 when a request (body upload included) takes longer than `limit`.
async fn request_timeout(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request took longer than {} s (a slow upload?); try again",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// How servers write their log lines (`--log-format`, `log_format`,
/// `VIRGIL_LOG_FORMAT`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Deserialize,
    serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event; colours only when standard error is a terminal.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`), for log
    /// collectors.
    Json,
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default `info`, e.g.
/// `RUST_LOG=warn,virgil_server=info`). Does nothing if a subscriber is already
/// installed.
pub fn init_logging(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
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
