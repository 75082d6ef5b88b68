//! Configuration: a TOML file, overridden by command-line options and environment
//! variables (see `virgil-cards-service --help`).
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! database_url = "sqlite://cards.db?mode=rwc"      # or postgres://user@host/db
//! service_key_file = "service.key"                 # made by `virgil-cards-service keygen`
//!
//! [tls]                                            # required unless listen is loopback
//! cert_file = "tls.pem"
//! key_file = "tls.key"
//!
//! max_token_lifetime_seconds = 3600               # access tokens valid longer are refused
//! reset_delay_seconds = 86400                      # a reset card waits this long (default 0)
//! reset_cooldown_seconds = 86400                   # no new reset this long after a cancelled one
//!                                                  # (default: the reset delay)
//!
//! [directory]                                      # the verifiable key directory
//! id = "cards.example.com"                         # names it in checkpoints (default: the service key's id)
//! epoch_interval_ms = 200                          # at most one epoch per this long (default 200)
//!
//! [limits]                                         # see virgil_server::limits
//! client_requests_per_minute = 1200
//!
//! [[applications]]
//! app_id = "chat"
//! public_key = "VksB…"                             # base64 of the app's public key
//! ```
//!
//! The service key's password comes from `VIRGIL_SERVICE_KEY_PASSWORD` (never from the
//! file or the command line, where it would be visible to other users).

use crate::auth::{Applications, TOKEN_LIFETIME_RANGE};
use std::path::{Path, PathBuf};
use virgil_crypto::encoding::from_base64;
use virgil_crypto::{PrivateKey, PublicKey};
use virgil_server::ConfigError;
use virgil_server::limits::LimitsConfig;
use virgil_server::tls::TlsFiles;

/// The environment variable the service key's password is read from.
pub const PASSWORD_VAR: &str = "VIRGIL_SERVICE_KEY_PASSWORD";
/// Where the service listens unless configured: loopback, port 8080.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The database unless configured: `cards.db` in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://cards.db?mode=rwc";

/// One registered application.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationConfig {
    /// The application id cards carry.
    pub app_id: String,
    /// The application's public key (base64 of its format.md §2 encoding).
    pub public_key: String,
}

/// The key directory's settings (`[directory]`).
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// The directory's id in its checkpoints (1–64 bytes); default: the service key's
    /// id. Clients follow one directory per cards service: keep it fixed.
    pub id: Option<String>,
    /// At most one epoch per this many milliseconds (default
    /// [`DEFAULT_EPOCH_INTERVAL_MS`]); a write is answered at once, and the next
    /// lookup of its owner waits for the epoch that publishes it.
    pub epoch_interval_ms: Option<u64>,
    /// Audit requests a minute per client address (default
    /// [`DEFAULT_AUDIT_RATE`]: each makes an append-only proof of up to 256 epochs,
    /// the directory's most expensive answer); 0 turns the limit off.
    pub audit_requests_per_minute: Option<u32>,
    /// The audit burst per client address [default: a third of the per-minute rate].
    pub audit_burst: Option<u32>,
}

/// The default audit rate per client address: 60 a minute, bursts of 20 (an auditor
/// catching up asks for 256 epochs at a time: 15,360 epochs a minute, 50 times what
/// the default interval makes).
pub const DEFAULT_AUDIT_RATE: virgil_server::rate_limit::Rate = virgil_server::rate_limit::Rate {
    per_minute: std::num::NonZeroU32::new(60).expect("non-zero"),
    burst: std::num::NonZeroU32::new(20).expect("non-zero"),
};

impl DirectoryConfig {
    /// The audit rate per client address (`None`: no limit), defaults filled in, values
    /// checked.
    pub fn audit_rate(
        &self,
    ) -> Result<Option<virgil_server::rate_limit::Rate>, virgil_server::ConfigError> {
        virgil_server::limits::rate(
            "directory.audit",
            self.audit_requests_per_minute,
            self.audit_burst,
            DEFAULT_AUDIT_RATE,
        )
    }
}

/// The default epoch interval: a published card is provable within about this long.
pub const DEFAULT_EPOCH_INTERVAL_MS: u64 = 200;

/// Key backup's settings (`[backup]`): how many backup-password guesses each identity
/// gets ([`crate::backup::GuessPolicy`]; every field optional, defaults there).
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Evaluations per window answered at once (default 10).
    pub free_guesses: Option<u64>,
    /// The window, in seconds (default 3600).
    pub window_seconds: Option<u64>,
    /// The first wait past the free ones, in seconds; it doubles each time (default 60).
    pub base_delay_seconds: Option<u64>,
    /// The longest wait, in seconds (default 86400).
    pub max_delay_seconds: Option<u64>,
}

impl BackupConfig {
    /// The policy these settings give.
    pub fn policy(&self) -> crate::backup::GuessPolicy {
        let default = crate::backup::GuessPolicy::default();
        crate::backup::GuessPolicy {
            free_per_window: self.free_guesses.unwrap_or(default.free_per_window).max(1),
            window_seconds: self.window_seconds.unwrap_or(default.window_seconds).max(1),
            base_delay_seconds: self
                .base_delay_seconds
                .unwrap_or(default.base_delay_seconds)
                .max(1),
            max_delay_seconds: self
                .max_delay_seconds
                .unwrap_or(default.max_delay_seconds)
                .max(1),
        }
    }
}

/// The service configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on, e.g. `127.0.0.1:8080` (`:0` picks a free port).
    pub listen: Option<String>,
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub database_url: Option<String>,
    /// The service key file (a key blob).
    pub service_key_file: Option<PathBuf>,
    /// TLS: the certificate chain and key (PEM). Without it the service speaks plain
    /// HTTP, which it allows on loopback addresses only.
    pub tls: Option<TlsFiles>,
    /// Access tokens valid for longer than this from now are refused (seconds,
    /// 60–86400; default 3600).
    pub max_token_lifetime_seconds: Option<u64>,
    /// How long a reset card (an identity that lost every key) stays pending before it
    /// replaces the identity's cards, in seconds; during that time any of them can
    /// cancel it (docs/key-changes.md). Default 0 (at once); use at least 86400 in
    /// production so the owner's devices can notice a reset they did not make.
    pub reset_delay_seconds: Option<u64>,
    /// How long after a cancelled reset no new reset of the identity may start, in
    /// seconds (409 `reset_too_soon` with `Retry-After`), so that whoever cancelled is
    /// not made to cancel again and again. Default: the reset delay.
    pub reset_cooldown_seconds: Option<u64>,
    /// The verifiable key directory.
    #[serde(default)]
    pub directory: DirectoryConfig,
    /// Key backup: the guess limit per identity.
    #[serde(default)]
    pub backup: BackupConfig,
    /// `text` (default) or `json` log lines.
    pub log_format: Option<virgil_server::runtime::LogFormat>,
    /// Origins whose pages may call the service from a browser, e.g. the application
    /// server's `https://chat.example.com` for its web chat (none by default).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Connection limits and request rates.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The applications this service serves.
    #[serde(default)]
    pub applications: Vec<ApplicationConfig>,
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

    /// Reads a TOML file. Relative paths in it (the service key, TLS files, a SQLite
    /// database) are relative to the file's directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        use virgil_server::config::{beside, database_url_beside};
        let mut config: Self = virgil_server::config::read_toml(path)?;
        config.database_url = config
            .database_url
            .map(|url| database_url_beside(path, &url));
        config.service_key_file = config.service_key_file.map(|key| beside(path, &key));
        config.tls = config.tls.map(|tls| tls.beside(path));
        Ok(config)
    }

    /// The registered applications, with their keys decoded and validated.
    pub fn applications(&self) -> Result<Applications, ConfigError> {
        let mut applications = Applications::new();
        if let Some(seconds) = self.max_token_lifetime_seconds {
            if !TOKEN_LIFETIME_RANGE.contains(&seconds) {
                return Err(ConfigError::invalid(
                    format!("max_token_lifetime_seconds = {seconds}"),
                    "use 60 to 86400 (default 3600)",
                ));
            }
            applications = applications.with_max_token_lifetime(seconds);
        }
        for app in &self.applications {
            let setting = || format!("application {:?}", app.app_id);
            let bytes = from_base64(&app.public_key)
                .map_err(|_| ConfigError::invalid(setting(), "public_key is not base64"))?;
            let key = PublicKey::from_bytes(&bytes)
                .map_err(|e| ConfigError::invalid(setting(), format!("public_key: {e}")))?;
            applications
                .register(&app.app_id, key)
                .map_err(|e| ConfigError::invalid(setting(), e.message))?;
        }
        if self.applications.is_empty() {
            return Err(ConfigError::Missing {
                what: "applications are registered",
                how: "add [[applications]] with app_id and public_key to the configuration, or pass --app ID=KEY".to_owned(),
            });
        }
        Ok(applications)
    }

    /// Loads and unlocks the service key.
    pub fn service_key(&self, password: Option<&[u8]>) -> Result<PrivateKey, ConfigError> {
        let path = self
            .service_key_file
            .as_ref()
            .ok_or_else(|| ConfigError::Missing {
                what: "service key",
                how: "pass --service-key-file (create one with `virgil-cards-service keygen`)"
                    .to_owned(),
            })?;
        virgil_server::keys::load_key_file(path, password, PASSWORD_VAR)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_audit_rate_defaults_turns_off_and_names_its_key() {
        let parse = |text: &str| toml::from_str::<DirectoryConfig>(text).unwrap();
        assert_eq!(parse("").audit_rate().unwrap(), Some(DEFAULT_AUDIT_RATE));
        assert_eq!(
            parse("audit_requests_per_minute = 0").audit_rate().unwrap(),
            None
        );
        assert_eq!(
            parse("audit_requests_per_minute = 30")
                .audit_rate()
                .unwrap(),
            virgil_server::rate_limit::Rate::new(30, 10)
        );
        let error = parse("audit_burst = 0")
            .audit_rate()
            .unwrap_err()
            .to_string();
        assert!(error.contains("directory.audit_burst"), "{error}");
    }
}
