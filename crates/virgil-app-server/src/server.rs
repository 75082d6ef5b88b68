//! The application server's HTTP API (v1).
//!
//! `POST /v1/users` registers a user (password stored as a salted PBKDF2-HMAC-SHA256 hash);
//! `POST /v1/sessions` logs in and returns a session token for this server plus a
//! short-lived access token for the cards service (JWT signed with the app key);
//! `POST /v1/account/password` changes the password and ends the account's other sessions;
//! `POST /v1/cards` approves the logged-in user's exported card request and publishes it;
//! `POST /v1/messages` and `GET /v1/messages` relay ciphertext between users.

use crate::config::Config;
use crate::store::AppStore;
use crate::{backup, handlers, pairing};
use axum::Router;
use std::sync::Arc;
use virgil_api::endpoints;
use virgil_client::{CardsClient, TlsRoots};
use virgil_crypto::PrivateKey;
use virgil_server::http::{CommonRoutes, on, with_common_routes};
use virgil_server::web::{Origin, Site, Web};
use virgil_server::{ConfigError, ServeError};

pub use crate::accounts::{LOGIN_WINDOW_SECONDS, MAX_FAILED_LOGINS, MAX_PASSWORD_BYTES};
pub use crate::state::{
    ACCESS_TOKEN_SECONDS, AppServer, MAX_BODY_BYTES, OPENAPI, Registration, RelayQuota,
    SESSION_SECONDS,
};

/// Every route, as written in the router and in the OpenAPI document.
pub const ROUTES: [&str; 16] = endpoints::app::PATHS;

/// The router.
pub fn router(server: Arc<AppServer>) -> Router {
    use endpoints::{Endpoint as _, Health, Metrics, OpenApi, app};
    let routes = Router::new()
        .route(
            app::Register::PATH,
            on::<app::Register, _, _, _>(handlers::register),
        )
        .route(app::Login::PATH, on::<app::Login, _, _, _>(handlers::login))
        .route(
            app::Sessions::PATH,
            on::<app::Sessions, _, _, _>(handlers::list_sessions),
        )
        .route(
            app::EndSession::PATH,
            on::<app::EndSession, _, _, _>(handlers::end_session),
        )
        .route(
            app::AccessToken::PATH,
            on::<app::AccessToken, _, _, _>(handlers::refresh_access_token),
        )
        .route(
            app::ChangePassword::PATH,
            on::<app::ChangePassword, _, _, _>(handlers::change_password),
        )
        .route(
            app::StoreBackup::PATH,
            on::<app::StoreBackup, _, _, _>(backup::store),
        )
        .route(
            app::FetchBackup::PATH,
            on::<app::FetchBackup, _, _, _>(backup::fetch),
        )
        .route(
            app::DeleteBackup::PATH,
            on::<app::DeleteBackup, _, _, _>(backup::delete),
        )
        .route(
            app::OpenPairing::PATH,
            on::<app::OpenPairing, _, _, _>(pairing::open),
        )
        .route(
            app::GetPairing::PATH,
            on::<app::GetPairing, _, _, _>(pairing::get),
        )
        .route(
            app::AddPairingMessage::PATH,
            on::<app::AddPairingMessage, _, _, _>(pairing::add),
        )
        .route(
            app::DeletePairing::PATH,
            on::<app::DeletePairing, _, _, _>(pairing::delete),
        )
        .route(
            app::SubmitCard::PATH,
            on::<app::SubmitCard, _, _, _>(handlers::submit_card),
        )
        .route(
            app::SendMessage::PATH,
            on::<app::SendMessage, _, _, _>(handlers::send_message),
        )
        .route(app::Inbox::PATH, on::<app::Inbox, _, _, _>(handlers::inbox));
    let common = CommonRoutes {
        health: on::<Health, _, _, _>(handlers::health),
        openapi: on::<OpenApi, _, _, _>(handlers::openapi),
        metrics: on::<Metrics, _, _, _>(handlers::metrics),
    };
    let metrics = Arc::clone(&server.metrics);
    with_common_routes(routes, common, MAX_BODY_BYTES, metrics).with_state(server)
}

/// An application server assembled by [`build`]: ready to
/// [`serve`](virgil_server::runtime::Server::serve) on a listener.
pub type Server = virgil_server::runtime::Server<AppServer>;

impl virgil_server::runtime::Api for AppServer {
    fn router(self: Arc<Self>) -> Router {
        router(self)
    }

    fn close_storage(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let store = self.store.clone();
        async move { store.close().await }
    }
}

/// Builds the application server `config` describes: settings checked, the cards
/// service's client made (approving cards with `app_key`, over TLS trusting
/// `cards_roots`), database open and migrated.
///
/// ```no_run
/// # async fn run(app_key: virgil_crypto::PrivateKey) -> Result<(), virgil_server::ServeError> {
/// use virgil_app_server::{config::Config, server};
/// let config = Config::from_file("app.toml".as_ref())?;
/// let server = server::build(&config, app_key, config.cards_roots()?).await?;
/// let listener = virgil_server::runtime::bind(config.listen(), None, false).await?;
/// server.serve(listener, std::future::pending()).await
/// # }
/// ```
pub async fn build(
    config: &Config,
    app_key: PrivateKey,
    cards_roots: TlsRoots,
) -> Result<Server, ServeError> {
    let app_id = config.app_id()?;
    let iterations = config.password_iterations()?;
    let limits = config.limits.connection_limits()?;
    let account_rate = config.limits.account_rate()?;
    let web = web(config, app_key.public_key())?;
    let client = CardsClient::for_application(
        config.cards_url()?,
        config.cards_service_key()?,
        app_id,
        &app_key,
        cards_roots,
    )
    .map_err(|e| ConfigError::Key(e.to_string()))?;
    let database_url = config.database_url();
    let store = AppStore::connect(database_url)
        .await
        .map_err(|e| ServeError::Database {
            url: database_url.to_owned(),
            message: e.to_string(),
        })?;
    let server = AppServer::new(store, app_id, app_key, client, iterations)
        .with_registration(config.registration.unwrap_or_default())
        .with_relay_quota(config.relay)
        .with_account_rate(account_rate);
    Ok(Server::new(server, limits).with_web(web))
}

/// What the server offers browsers: CORS for `cors_origins`, and the web chat at
/// `/chat/` when `[web] root` is set.
fn web(config: &Config, app_key: &virgil_crypto::PublicKey) -> Result<Web, ConfigError> {
    let cors_origins = virgil_server::web::parse_origins(&config.cors_origins)?;
    let Some(root) = &config.web.root else {
        return Ok(Web {
            cors_origins,
            site: None,
        });
    };
    if !root.join("index.html").is_file() {
        return Err(ConfigError::invalid(
            "web.root",
            format!(
                "{} has no index.html (build the web chat with `npm run build:web` in \
                 crates/virgil-js; it writes dist/webchat)",
                root.display()
            ),
        ));
    }
    let cards_url = config
        .web
        .cards_url
        .as_deref()
        .unwrap_or(config.cards_url()?);
    let config_json = serde_json::json!({
        "app_id": config.app_id()?,
        "app_key": virgil_crypto::encoding::to_base64(app_key.as_bytes()),
        "cards_url": cards_url,
        "cards_service_key": virgil_crypto::encoding::to_base64(config.cards_service_key()?.as_bytes()),
    });
    Ok(Web {
        cors_origins,
        site: Some(Site {
            mount: "/chat",
            root: root.clone(),
            config_json: config_json.to_string(),
            connect: vec![Origin::of_url(cards_url)?],
        }),
    })
}
