//! Real servers on loopback, in-process, for tests of the layers above them: thin
//! wrappers over the deployment assembler ([`virgil_deploy`]) with the test kit's fixed
//! keys, 1 000 PBKDF2 rounds for passwords (fast tests, not for production), and
//! servers that run until the test process exits.

use virgil_app_server::config::Config as AppConfig;
use virgil_app_server::server::AppServer;
pub use virgil_app_server::server::RelayQuota;
/// How many backup-password guesses the cards service answers (for tests that set it).
pub use virgil_cards_service::backup::GuessPolicy;
use virgil_cards_service::config::{ApplicationConfig, Config as CardsConfig};
use virgil_cards_service::server::Service;
use virgil_crypto::encoding::to_base64;
use virgil_crypto::{PrivateKey, PublicKey};
use virgil_server::runtime::ConnectionLimits;

/// `service` answering every backup-password guess (benchmarks restore many times).
pub fn without_guess_limit(service: Service) -> Service {
    service.with_guess_policy(GuessPolicy {
        free_per_window: u64::MAX,
        ..GuessPolicy::default()
    })
}

/// Starts a cards service on 127.0.0.1 (ephemeral port) on its own thread and tokio
/// runtime, over `database_url`, serving `applications`; returns its base URL. It runs
/// until the process exits.
pub fn spawn_cards_service(
    database_url: &str,
    service_key: PrivateKey,
    applications: &[(&str, PublicKey)],
) -> String {
    spawn_cards_service_configured(
        database_url,
        service_key,
        applications,
        ConnectionLimits::default(),
        |service| service,
    )
}

/// Like [`spawn_cards_service`], within `limits`, with the service `configure` makes of
/// the default one (account rate limits, reset delays).
pub fn spawn_cards_service_configured(
    database_url: &str,
    service_key: PrivateKey,
    applications: &[(&str, PublicKey)],
    limits: ConnectionLimits,
    configure: impl FnOnce(Service) -> Service + Send + 'static,
) -> String {
    let config = CardsConfig {
        database_url: Some(database_url.to_owned()),
        applications: applications
            .iter()
            .map(|(app_id, key)| ApplicationConfig {
                app_id: (*app_id).to_owned(),
                public_key: to_base64(key.as_bytes()),
            })
            .collect(),
        ..CardsConfig::default()
    };
    virgil_deploy::spawn_cards_service(config, service_key, None, move |server| {
        server.with_limits(limits).map(configure)
    })
    .unwrap_or_else(|e| panic!("the cards service did not start: {e}"))
    .detach()
}

/// Starts the reference application server on 127.0.0.1 (ephemeral port) on its own
/// thread, over `database_url`, publishing through the cards service at `cards_url`
/// (which pins `service_key`), as application `app_id` with `app_key`, within
/// `limits`, with the server `configure` makes of the default one (quotas, rate
/// limits, registration); returns its base URL.
pub fn spawn_app_server_configured(
    database_url: &str,
    cards_url: &str,
    app_id: &str,
    app_key: PrivateKey,
    service_key: PublicKey,
    limits: ConnectionLimits,
    configure: impl FnOnce(AppServer) -> AppServer + Send + 'static,
) -> String {
    let config = AppConfig {
        database_url: Some(database_url.to_owned()),
        app_id: Some(app_id.to_owned()),
        cards_url: Some(cards_url.to_owned()),
        cards_service_key: Some(to_base64(service_key.as_bytes())),
        password_iterations: Some(1_000),
        ..AppConfig::default()
    };
    virgil_deploy::spawn_app_server(config, app_key, Default::default(), None, move |server| {
        server.with_limits(limits).map(configure)
    })
    .unwrap_or_else(|e| panic!("the app server did not start: {e}"))
    .detach()
}

/// Like [`spawn_app_server_configured`] with the default limits, relaying at most
/// `quota` per sender per hour.
pub fn spawn_app_server(
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
    let dir = std::env::temp_dir();
    virgil_deploy::LocalDeployment::builder(&dir)
        .app_id(APP_ID)
        .cards_database(cards_db)
        .app_database(app_db)
        .keys(crate::key(101), crate::key(100))
        .password_iterations(1_000)
        .configure_cards(move |server| server.map(configure))
        .configure_app(move |server| server.map(|app| app.with_relay_quota(quota)))
        .start()
        .unwrap_or_else(|e| panic!("the deployment did not start: {e}"))
        .detach()
}
