//! Both servers of one application, started in this process.

use crate::{DeployError, RunningServer, spawn_app_server, spawn_cards_service};
use std::path::{Path, PathBuf};
use virgil_app_server::config::Config as AppConfig;
use virgil_app_server::server::Server as AppServer;
use virgil_cards_service::config::{ApplicationConfig, Config as CardsConfig};
use virgil_cards_service::server::Server as CardsServer;
use virgil_client::TlsRoots;
use virgil_crypto::encoding::to_base64;
use virgil_crypto::{PrivateKey, PublicKey};

type Configure<T> = Box<dyn FnOnce(T) -> T + Send>;

/// Choices for a [`LocalDeployment`]; every one has a default.
pub struct Builder {
    dir: PathBuf,
    app_id: String,
    cards_database_url: Option<String>,
    app_database_url: Option<String>,
    service_key: Option<PrivateKey>,
    app_key: Option<PrivateKey>,
    tls: bool,
    password_iterations: u32,
    reset_delay_seconds: u64,
    cards: Configure<CardsServer>,
    app: Configure<AppServer>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("dir", &self.dir)
            .field("app_id", &self.app_id)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// The application id (default `chat`).
    pub fn app_id(mut self, app_id: &str) -> Self {
        app_id.clone_into(&mut self.app_id);
        self
    }

    /// The cards service's database (default: SQLite `cards.db` in the directory).
    pub fn cards_database(mut self, url: &str) -> Self {
        self.cards_database_url = Some(url.to_owned());
        self
    }

    /// The application server's database (default: SQLite `app.db` in the directory).
    pub fn app_database(mut self, url: &str) -> Self {
        self.app_database_url = Some(url.to_owned());
        self
    }

    /// The service key and the application key (default: new ones).
    pub fn keys(mut self, service_key: PrivateKey, app_key: PrivateKey) -> Self {
        self.service_key = Some(service_key);
        self.app_key = Some(app_key);
        self
    }

    /// Serve HTTPS with a certificate from a throwaway local CA, which
    /// [`LocalDeployment::tls_roots`] gives the clients to pin (default: plain HTTP,
    /// which the servers allow on loopback only).
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// PBKDF2 iterations for user passwords (default 600 000, as in production; tests
    /// use 1 000).
    pub fn password_iterations(mut self, iterations: u32) -> Self {
        self.password_iterations = iterations;
        self
    }

    /// How long a reset card waits before it replaces the identity's cards (default 0,
    /// at once; `virgil init` writes a day, as production wants).
    pub fn reset_delay_seconds(mut self, seconds: u64) -> Self {
        self.reset_delay_seconds = seconds;
        self
    }

    /// Changes the cards service before it serves (rates, delays, limits).
    pub fn configure_cards(
        mut self,
        change: impl FnOnce(CardsServer) -> CardsServer + Send + 'static,
    ) -> Self {
        self.cards = Box::new(change);
        self
    }

    /// Changes the application server before it serves (quotas, rates, limits).
    pub fn configure_app(
        mut self,
        change: impl FnOnce(AppServer) -> AppServer + Send + 'static,
    ) -> Self {
        self.app = Box::new(change);
        self
    }

    /// Starts the cards service, then the application server publishing through it.
    pub fn start(self) -> Result<LocalDeployment, DeployError> {
        let service_key = match self.service_key {
            Some(key) => key,
            None => new_key()?,
        };
        let app_key = match self.app_key {
            Some(key) => key,
            None => new_key()?,
        };
        let service_public = service_key.public_key().clone();
        let app_public = app_key.public_key().clone();
        let sqlite = |name: &str| format!("sqlite://{}?mode=rwc", self.dir.join(name).display());
        let (tls, roots) = if self.tls {
            let ca =
                virgil_server::tls::local_ca(&["127.0.0.1".to_owned(), "localhost".to_owned()])
                    .map_err(DeployError::Tls)?;
            let acceptor = virgil_server::tls::acceptor_from_pem(
                ca.cert_pem.as_bytes(),
                ca.key_pem.as_bytes(),
            )?;
            let roots = TlsRoots::from_pem(ca.ca_pem.as_bytes())
                .map_err(|e| DeployError::Tls(e.to_string()))?;
            (Some(acceptor), Some(roots))
        } else {
            (None, None)
        };
        let cards_config = CardsConfig {
            database_url: Some(
                self.cards_database_url
                    .unwrap_or_else(|| sqlite("cards.db")),
            ),
            reset_delay_seconds: Some(self.reset_delay_seconds),
            applications: vec![ApplicationConfig {
                app_id: self.app_id.clone(),
                public_key: to_base64(app_public.as_bytes()),
            }],
            ..CardsConfig::default()
        };
        let cards = spawn_cards_service(cards_config, service_key, tls.clone(), self.cards)?;
        let app_config = AppConfig {
            database_url: Some(self.app_database_url.unwrap_or_else(|| sqlite("app.db"))),
            app_id: Some(self.app_id.clone()),
            cards_url: Some(cards.url().to_owned()),
            cards_service_key: Some(to_base64(service_public.as_bytes())),
            password_iterations: Some(self.password_iterations),
            ..AppConfig::default()
        };
        let app = spawn_app_server(
            app_config,
            app_key,
            roots.clone().unwrap_or_default(),
            tls,
            self.app,
        )?;
        Ok(LocalDeployment {
            cards,
            app,
            app_id: self.app_id,
            service_key: service_public,
            app_key: app_public,
            tls_roots: roots,
        })
    }
}

fn new_key() -> Result<PrivateKey, DeployError> {
    PrivateKey::generate().map_err(DeployError::Key)
}

/// A cards service and an application server for one application, running in this
/// process on 127.0.0.1. Dropping it stops both.
#[derive(Debug)]
pub struct LocalDeployment {
    cards: RunningServer,
    app: RunningServer,
    app_id: String,
    service_key: PublicKey,
    app_key: PublicKey,
    tls_roots: Option<TlsRoots>,
}

impl LocalDeployment {
    /// A deployment whose SQLite databases go in `dir` (which must exist), with every
    /// other choice at its default.
    pub fn builder(dir: &Path) -> Builder {
        Builder {
            dir: dir.to_owned(),
            app_id: "chat".to_owned(),
            cards_database_url: None,
            app_database_url: None,
            service_key: None,
            app_key: None,
            tls: false,
            password_iterations: virgil_app_server::config::DEFAULT_PASSWORD_ITERATIONS,
            reset_delay_seconds: 0,
            cards: Box::new(|server| server),
            app: Box::new(|server| server),
        }
    }

    /// The cards service's base URL.
    pub fn cards_url(&self) -> &str {
        self.cards.url()
    }

    /// The application server's base URL.
    pub fn app_url(&self) -> &str {
        self.app.url()
    }

    /// The application id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The cards service's public key, which clients pin.
    pub fn service_key(&self) -> &PublicKey {
        &self.service_key
    }

    /// The application's public key, which clients pin.
    pub fn app_key(&self) -> &PublicKey {
        &self.app_key
    }

    /// The local CA clients pin, if the deployment serves HTTPS.
    pub fn tls_roots(&self) -> Option<&TlsRoots> {
        self.tls_roots.as_ref()
    }

    /// Stops both servers (the application server first) and reports how they ended.
    pub fn stop(self) -> Result<(), DeployError> {
        let app = self.app.stop();
        let cards = self.cards.stop();
        app.and(cards)
    }

    /// Leaves both servers running until the process exits; returns (cards URL, app
    /// URL).
    pub fn detach(self) -> (String, String) {
        (self.cards.detach(), self.app.detach())
    }
}
