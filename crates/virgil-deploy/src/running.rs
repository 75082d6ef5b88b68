//! One server on its own thread and runtime.

use crate::DeployError;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use virgil_app_server::config::Config as AppConfig;
use virgil_app_server::server::Server as AppServer;
use virgil_cards_service::config::Config as CardsConfig;
use virgil_cards_service::server::Server as CardsServer;
use virgil_client::TlsRoots;
use virgil_crypto::PrivateKey;
use virgil_server::ServeError;
use virgil_server::runtime::Listener;
use virgil_server::tls::TlsAcceptor;

/// How long a server may take to open its database and bind before start fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A server running on its own thread and tokio runtime. Dropping it stops the server
/// (in-flight requests finish); [`RunningServer::stop`] also waits and reports how it
/// ended; [`RunningServer::detach`] leaves it running until the process exits.
#[derive(Debug)]
pub struct RunningServer {
    what: &'static str,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl RunningServer {
    /// The base URL, `http://127.0.0.1:PORT` or `https://…`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server, lets in-flight requests finish and waits for it.
    pub fn stop(mut self) -> Result<(), DeployError> {
        self.shut_down()
    }

    /// Leaves the server running until the process exits; returns its URL.
    pub fn detach(mut self) -> String {
        self.stop = None;
        self.thread = None;
        std::mem::take(&mut self.url)
    }

    fn shut_down(&mut self) -> Result<(), DeployError> {
        if let Some(stop) = self.stop.take() {
            // The server may have ended already; then there is no one to tell.
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result.map_err(|source| DeployError::Server {
                server: self.what,
                source,
            }),
            Some(Err(_)) => Err(DeployError::Thread(self.what)),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Completes when [`RunningServer`] asks the server to stop; never if it was detached
/// (its sender dropped without a word).
async fn stop_signal(stopped: tokio::sync::oneshot::Receiver<()>) {
    if stopped.await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Starts a server on 127.0.0.1 (ephemeral port): `build` makes it on a new thread's
/// runtime, `serve` runs it on the listener until stopped.
fn spawn<S, B, V, F>(
    what: &'static str,
    tls: Option<TlsAcceptor>,
    build: B,
    serve: V,
) -> Result<RunningServer, DeployError>
where
    S: Send + 'static,
    B: std::future::Future<Output = Result<S, ServeError>> + Send + 'static,
    V: FnOnce(S, Listener, tokio::sync::oneshot::Receiver<()>) -> F + Send + 'static,
    F: std::future::Future<Output = Result<(), ServeError>>,
{
    let (report, started) = mpsc::channel::<Result<String, ServeError>>();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(what.to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Runtime::new().map_err(|source| ServeError::Io {
                action: "start the runtime",
                source,
            })?;
            runtime.block_on(async move {
                let bound = async {
                    let server = build.await?;
                    let tcp =
                        tokio::net::TcpListener::bind("127.0.0.1:0")
                            .await
                            .map_err(|source| ServeError::Listen {
                                address: "127.0.0.1:0".to_owned(),
                                source,
                            })?;
                    let listener = match tls {
                        Some(tls) => Listener::with_tls(tcp, tls),
                        None => Listener::from(tcp),
                    };
                    let url = listener.url()?;
                    Ok((server, listener, url))
                }
                .await;
                match bound {
                    Ok((server, listener, url)) => {
                        let _ = report.send(Ok(url));
                        serve(server, listener, stopped).await
                    }
                    Err(error) => {
                        let _ = report.send(Err(error));
                        Ok(())
                    }
                }
            })
        })
        .map_err(|_| DeployError::Thread(what))?;
    match started.recv_timeout(START_TIMEOUT) {
        Ok(Ok(url)) => Ok(RunningServer {
            what,
            url,
            stop: Some(stop),
            thread: Some(thread),
        }),
        Ok(Err(source)) => Err(DeployError::Server {
            server: what,
            source,
        }),
        Err(_) => Err(DeployError::Thread(what)),
    }
}

/// Starts the cards service `config` describes (its `listen` is ignored: 127.0.0.1,
/// ephemeral port), countersigning with `service_key`, with TLS if `tls` is given, and
/// with the service `configure` makes of the configured one.
pub fn spawn_cards_service(
    config: CardsConfig,
    service_key: PrivateKey,
    tls: Option<TlsAcceptor>,
    configure: impl FnOnce(CardsServer) -> CardsServer + Send + 'static,
) -> Result<RunningServer, DeployError> {
    spawn(
        "cards service",
        tls,
        async move {
            Ok(configure(
                virgil_cards_service::server::build(&config, service_key).await?,
            ))
        },
        |server, listener, stopped| server.serve(listener, stop_signal(stopped)),
    )
}

/// Starts the application server `config` describes (its `listen` is ignored:
/// 127.0.0.1, ephemeral port), approving cards with `app_key`, trusting `cards_roots`
/// for an `https://` cards URL, with TLS if `tls` is given, and with the server
/// `configure` makes of the configured one.
pub fn spawn_app_server(
    config: AppConfig,
    app_key: PrivateKey,
    cards_roots: TlsRoots,
    tls: Option<TlsAcceptor>,
    configure: impl FnOnce(AppServer) -> AppServer + Send + 'static,
) -> Result<RunningServer, DeployError> {
    spawn(
        "application server",
        tls,
        async move {
            Ok(configure(
                virgil_app_server::server::build(&config, app_key, cards_roots).await?,
            ))
        },
        |server, listener, stopped| server.serve(listener, stop_signal(stopped)),
    )
}
