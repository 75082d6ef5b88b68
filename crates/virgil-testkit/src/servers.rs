//! Real servers on loopback, in-process, for tests of the layers above them.

use std::sync::Arc;
use std::time::Duration;
pub use virgil_app_server::server::RelayQuota;
use virgil_app_server::server::{AppServer, router as app_router};
use virgil_app_server::store::AppStore;
use virgil_cards_service::auth::Applications;
use virgil_cards_service::server::{Service, router};
use virgil_cards_service::store::CardStore;
use virgil_crypto::{PrivateKey, PublicKey};
use virgil_server::runtime::ConnectionLimits;

/// Starts a cards service on 127.0.0.1 (ephemeral port) on its own thread and tokio
/// runtime, over `database_url`, serving `applications`; returns its base URL. It runs
/// until the process exits.
pub fn spawn_cards_service(
    database_url: &str,
    service_key: PrivateKey,
    applications: &[(&str, PublicKey)],
) -> String {
    spawn_cards_service_with_limits(
        database_url,
        service_key,
        applications,
        ConnectionLimits::default(),
    )
}

/// Starts the reference application server on 127.0.0.1 (ephemeral port) on its own
/// thread, over `database_url`, publishing through the cards service at `cards_url`
/// (which pins `service_key`), as application `app_id` with `app_key`; returns its base
/// URL. Passwords are hashed with 1 000 PBKDF2 rounds (fast tests, not for production).
pub fn spawn_app_server(
    database_url: &str,
    cards_url: &str,
    app_id: &str,
    app_key: PrivateKey,
    service_key: PublicKey,
) -> String {
    spawn_app_server_with_quota(
        database_url,
        cards_url,
        app_id,
        app_key,
        service_key,
        RelayQuota::default(),
    )
}

/// Like [`spawn_app_server`], relaying at most `quota` per sender per hour.
pub fn spawn_app_server_with_quota(
    database_url: &str,
    cards_url: &str,
    app_id: &str,
    app_key: PrivateKey,
    service_key: PublicKey,
    quota: RelayQuota,
) -> String {
    spawn_app_server_configured(
        database_url,
        cards_url,
        app_id,
        app_key,
        service_key,
        ConnectionLimits::default(),
        move |server| server.with_relay_quota(quota),
    )
}

/// Like [`spawn_app_server`], within `limits`, with the server `configure` makes of the
/// default one (quotas, rate limits, registration).
pub fn spawn_app_server_configured(
    database_url: &str,
    cards_url: &str,
    app_id: &str,
    app_key: PrivateKey,
    service_key: PublicKey,
    limits: ConnectionLimits,
    configure: impl FnOnce(AppServer) -> AppServer + Send + 'static,
) -> String {
    let (database_url, cards_url, app_id) = (
        database_url.to_owned(),
        cards_url.to_owned(),
        app_id.to_owned(),
    );
    serve_on_thread_with("app server", limits, move || async move {
        let cards = virgil_client::CardsClient::for_application(
            &cards_url,
            service_key,
            &app_id,
            &app_key,
            virgil_client::TlsRoots::default(),
        )
        .expect("cards client");
        let store = AppStore::connect(&database_url).await.expect("app store");
        let server = configure(AppServer::new(store, &app_id, app_key, cards, 1_000));
        app_router(Arc::new(server))
    })
}

/// Like [`spawn_cards_service`], within `limits` (short timeouts for limit tests).
pub fn spawn_cards_service_with_limits(
    database_url: &str,
    service_key: PrivateKey,
    applications: &[(&str, PublicKey)],
    limits: ConnectionLimits,
) -> String {
    spawn_cards_service_configured(database_url, service_key, applications, limits, |s| s)
}

/// Like [`spawn_cards_service_with_limits`], with the service `configure` makes of the
/// default one (account rate limits).
pub fn spawn_cards_service_configured(
    database_url: &str,
    service_key: PrivateKey,
    applications: &[(&str, PublicKey)],
    limits: ConnectionLimits,
    configure: impl FnOnce(Service) -> Service + Send + 'static,
) -> String {
    let database_url = database_url.to_owned();
    let applications: Vec<(String, PublicKey)> = applications
        .iter()
        .map(|(id, key)| ((*id).to_owned(), key.clone()))
        .collect();
    serve_on_thread_with("cards service", limits, move || async move {
        let mut registered = Applications::new();
        for (app_id, key) in applications {
            registered.register(&app_id, key).expect("application key");
        }
        let store = CardStore::connect(&database_url).await.expect("card store");
        router(Arc::new(configure(Service::new(
            store,
            service_key,
            registered,
        ))))
    })
}

/// Runs the router that `build` makes on its own thread and tokio runtime, on
/// 127.0.0.1 (ephemeral port), with the servers' own accept loop within `limits`, until
/// the process exits; returns its base URL.
fn serve_on_thread_with<F, Fut>(what: &'static str, limits: ConnectionLimits, build: F) -> String
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = axum::Router>,
{
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        runtime.block_on(async move {
            let router = build().await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let address = listener.local_addr().expect("local address");
            sender
                .send(format!("http://{address}"))
                .expect("report the address");
            virgil_server::runtime::serve_with_limits(
                listener,
                router,
                std::future::pending(),
                limits,
            )
            .await
            .expect("serve");
        });
    });
    receiver
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("the {what} did not start: {e}"))
}

/// The application of [`spawn_deployment`]: id `chat`, key [`crate::key`]`(100)`; the
/// cards service's key is [`crate::key`]`(101)`.
pub const APP_ID: &str = "chat";

/// Both servers, the way most tests want them: a cards service over `cards_db` serving
/// [`APP_ID`] (application key `key(100)`, service key `key(101)`) and the app server
/// over `app_db` publishing through it, relaying at most `quota`. Returns (cards URL,
/// app URL).
pub fn spawn_deployment(cards_db: &str, app_db: &str, quota: RelayQuota) -> (String, String) {
    spawn_deployment_configured(cards_db, app_db, quota, |service| service)
}

/// Like [`spawn_deployment`], with the cards service `configure` makes of the default
/// one (e.g. a reset delay).
pub fn spawn_deployment_configured(
    cards_db: &str,
    app_db: &str,
    quota: RelayQuota,
    configure: impl FnOnce(Service) -> Service + Send + 'static,
) -> (String, String) {
    let cards_url = spawn_cards_service_configured(
        cards_db,
        crate::key(101),
        &[(APP_ID, crate::key(100).public_key().clone())],
        ConnectionLimits::default(),
        configure,
    );
    let app_url = spawn_app_server_with_quota(
        app_db,
        &cards_url,
        APP_ID,
        crate::key(100),
        crate::key(101).public_key().clone(),
        quota,
    );
    (cards_url, app_url)
}
