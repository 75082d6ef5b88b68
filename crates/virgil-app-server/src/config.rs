//! Configuration: a TOML file, overridden by environment variables and command-line
//! options (see `virgil-app-server serve --help`).
//!
//! ```toml
//! listen = "127.0.0.1:8081"
//! database_url = "sqlite://app.db?mode=rwc"       # or postgres://user@host/db
//! app_id = "chat"
//! app_key_file = "app.key"                        # made by `virgil-app-server keygen`
//! cards_url = "http://127.0.0.1:8080"
//! cards_service_key = "VksB…"                     # the cards service's public key (pinned)
//! password_iterations = 600000                    # PBKDF2 work per user password
//!
//! [limits]                                        # see virgil_server::limits
//! account_requests_per_minute = 600
//!
//! [relay]                                         # per sender per hour
//! messages_per_hour = 1000
//!
//! [web]                                           # the web chat, at /chat/
//! root = "web"                                    # crates/virgil-js's `npm run build:web`
//! cards_url = "https://cards.example.com"         # as browsers reach it [default: cards_url]
//! ```
//!
//! The application key's password comes from `VIRGIL_APP_KEY_PASSWORD` (never from the
//! file or the command line, where it would be visible to other users).

use crate::state::{Registration, RelayQuota};
use std::path::{Path, PathBuf};
use virgil_crypto::PublicKey;
use virgil_crypto::encoding::from_base64;
use virgil_server::ConfigError;
use virgil_server::config::required;
use virgil_server::limits::LimitsConfig;
use virgil_server::tls::TlsFiles;

/// PBKDF2 iterations for user passwords unless configured (OWASP 2023 for SHA-256).
pub const DEFAULT_PASSWORD_ITERATIONS: u32 = 600_000;
/// Where the server listens unless configured: loopback, port 8081.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// The database unless configured: `app.db` in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://app.db?mode=rwc";

/// The application server's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on, e.g. `127.0.0.1:8081` (`:0` picks a free port).
    pub listen: Option<String>,
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub database_url: Option<String>,
    /// The application id its cards carry.
    pub app_id: Option<String>,
    /// The application key file (a key blob).
    pub app_key_file: Option<PathBuf>,
    /// The cards service's base URL.
    pub cards_url: Option<String>,
    /// The cards service's public key (base64), pinned.
    pub cards_service_key: Option<String>,
    /// The CA certificate (PEM) to trust for an `https://` cards_url; without it, the
    /// public web's CAs.
    pub cards_ca_file: Option<PathBuf>,
    /// PBKDF2 iterations for newly registered passwords.
    pub password_iterations: Option<u32>,
    /// TLS: the certificate chain and key (PEM). Without it the server speaks plain
    /// HTTP, which it allows on loopback addresses only.
    pub tls: Option<TlsFiles>,
    /// `open` (default: anyone may register) or `closed` (the operator adds users with
    /// `virgil-app-server add-user`).
    pub registration: Option<Registration>,
    /// `text` (default) or `json` log lines.
    pub log_format: Option<virgil_server::runtime::LogFormat>,
    /// Connection limits and request rates.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// What one sender may relay per hour.
    #[serde(default)]
    pub relay: RelayQuota,
    /// Origins whose pages may call this server from a browser (none by default; the
    /// web chat this server serves itself needs none).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// The web chat this server serves at `/chat/`.
    #[serde(default)]
    pub web: WebConfig,
}

/// The web chat (`[web]`): a folder of static files the server serves at `/chat/`,
/// with a strict Content-Security-Policy, beside a generated `/chat/config.json`
/// (application id and key, the cards service's URL and key) for the page.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// The folder (built by `npm run build:web` in crates/virgil-js: `dist/webchat`).
    /// Unset: no web chat.
    pub root: Option<PathBuf>,
    /// The cards service's URL as browsers reach it [default: `cards_url`]. The page
    /// may connect to its origin only; the cards service must list this server's origin
    /// in its own `cors_origins`.
    pub cards_url: Option<String>,
}

impl Config {
    /// The address to listen on ([`DEFAULT_LISTEN`] unless set).
    pub fn listen(&self) -> &str {
        self.listen.as_deref().unwrap_or(DEFAULT_LISTEN)
    }

    /// The database URL ([`DEFAULT_DATABASE_URL`] unless set).
    pub fn database_url(&self) -> &str {
        self.database_url.as_deref().unwrap_or(DEFAULT_DATABASE_URL)
    }

    /// The CA to trust for the cards service: `cards_ca_file`'s, else the public web's.
    pub fn cards_roots(&self) -> Result<virgil_client::TlsRoots, ConfigError> {
        let Some(path) = &self.cards_ca_file else {
            return Ok(virgil_client::TlsRoots::default());
        };
        let pem = std::fs::read(path).map_err(|e| {
            ConfigError::invalid(
                "cards_ca_file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        virgil_client::TlsRoots::from_pem(&pem)
            .map_err(|e| ConfigError::invalid("cards_ca_file", e.to_string()))
    }

    /// Reads a TOML file. Relative paths in it (the application key, the cards
    /// service's CA, TLS files, a SQLite database) are relative to the file's
    /// directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        use virgil_server::config::{beside, database_url_beside};
        let mut config: Self = virgil_server::config::read_toml(path)?;
        config.database_url = config
            .database_url
            .map(|url| database_url_beside(path, &url));
        config.app_key_file = config.app_key_file.map(|key| beside(path, &key));
        config.cards_ca_file = config.cards_ca_file.map(|ca| beside(path, &ca));
        config.tls = config.tls.map(|tls| tls.beside(path));
        config.web.root = config.web.root.map(|root| beside(path, &root));
        Ok(config)
    }

    /// The application id.
    pub fn app_id(&self) -> Result<&str, ConfigError> {
        required(&self.app_id, "application id", "--app-id").map(String::as_str)
    }

    /// The application key file.
    pub fn app_key_file(&self) -> Result<&Path, ConfigError> {
        required(&self.app_key_file, "application key", "--app-key-file").map(PathBuf::as_path)
    }

    /// The cards service URL.
    pub fn cards_url(&self) -> Result<&str, ConfigError> {
        required(&self.cards_url, "cards service URL", "--cards-url").map(String::as_str)
    }

    /// The pinned cards service key, decoded and validated.
    pub fn cards_service_key(&self) -> Result<PublicKey, ConfigError> {
        let text = required(
            &self.cards_service_key,
            "cards service key",
            "--cards-service-key",
        )?;
        let bytes = from_base64(text)
            .map_err(|_| ConfigError::invalid("cards_service_key", "not base64"))?;
        PublicKey::from_bytes(&bytes)
            .map_err(|e| ConfigError::invalid("cards_service_key", e.to_string()))
    }

    /// PBKDF2 iterations for user passwords (checked: 1 000 to 10 000 000).
    pub fn password_iterations(&self) -> Result<u32, ConfigError> {
        let iterations = self
            .password_iterations
            .unwrap_or(DEFAULT_PASSWORD_ITERATIONS);
        if (1_000..=10_000_000).contains(&iterations) {
            Ok(iterations)
        } else {
            Err(ConfigError::invalid(
                format!("password_iterations = {iterations}"),
                format!("use 1000 to 10000000 (default {DEFAULT_PASSWORD_ITERATIONS})"),
            ))
        }
    }
}
