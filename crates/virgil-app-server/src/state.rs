//! The application server's shared state: its store, keys, clients, limits and metrics.

use crate::accounts::LoginThrottle;
use crate::store::AppStore;
use std::sync::Arc;
use virgil_client::CardsClient;
use virgil_crypto::PrivateKey;
use virgil_server::metrics::Metrics;
use virgil_server::rate_limit::{Rate, RateLimiter};

pub use virgil_api::app::MAX_BODY_BYTES;
/// Lifetime of a session token (seconds).
pub const SESSION_SECONDS: u64 = 24 * 60 * 60;
/// Lifetime of an access token for the cards service (seconds). Short, because the
/// cards service checks these tokens on its own, without asking this server: when a
/// session ends (logout, `DELETE /v1/sessions/{id}`, a password change), its tokens stop
/// working within this lifetime plus the service's clock allowance (5 s). Clients
/// refresh them through `POST /v1/access-tokens` as they go (docs/security.md).
pub const ACCESS_TOKEN_SECONDS: u64 = 30;

/// What one user may relay per hour: the relay stores ciphertext until the operator
/// deletes it, so an account must not be able to fill the disk.
///
/// In the configuration file, the `[relay]` table (either key may be left out):
///
/// ```toml
/// [relay]
/// messages_per_hour = 1000
/// bytes_per_hour = 67108864
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayQuota {
    /// Messages per sender per hour.
    pub messages_per_hour: u64,
    /// Bytes of (base64) ciphertext per sender per hour.
    pub bytes_per_hour: u64,
}

impl Default for RelayQuota {
    fn default() -> Self {
        Self {
            messages_per_hour: 1_000,
            bytes_per_hour: 64 * 1024 * 1024,
        }
    }
}

/// Who may create an account.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone, with `POST /v1/users`.
    #[default]
    Open,
    /// Only the operator, with `virgil-app-server add-user` (403 `registration_closed`).
    Closed,
}

/// Shared state.
pub struct AppServer {
    pub(crate) store: AppStore,
    pub(crate) app_id: String,
    pub(crate) app_key: PrivateKey,
    pub(crate) cards: Arc<CardsClient>,
    pub(crate) password_iterations: u32,
    pub(crate) login_throttle: LoginThrottle,
    pub(crate) relay_quota: RelayQuota,
    pub(crate) registration: Registration,
    pub(crate) per_account: Option<RateLimiter<String>>,
    pub(crate) metrics: Arc<Metrics>,
}

impl AppServer {
    /// A server for application `app_id` (key `app_key`) publishing through `cards`;
    /// passwords are hashed with `password_iterations` PBKDF2 iterations (600 000 in
    /// production).
    pub fn new(
        store: AppStore,
        app_id: &str,
        app_key: PrivateKey,
        cards: CardsClient,
        password_iterations: u32,
    ) -> Self {
        Self {
            store,
            app_id: app_id.to_owned(),
            app_key,
            cards: Arc::new(cards),
            password_iterations,
            login_throttle: LoginThrottle::default(),
            relay_quota: RelayQuota::default(),
            registration: Registration::default(),
            per_account: Some(RateLimiter::new(Rate::PER_ACCOUNT, "this account")),
            metrics: Arc::new(virgil_server::metrics::Metrics::for_server("app-server")),
        }
    }

    /// Who may register (default: anyone).
    pub fn with_registration(mut self, registration: Registration) -> Self {
        self.registration = registration;
        self
    }

    /// Limits each logged-in account to `rate` requests; `None`: no limit. Default
    /// [`Rate::PER_ACCOUNT`].
    pub fn with_account_rate(mut self, rate: Option<Rate>) -> Self {
        self.per_account = rate.map(|rate| RateLimiter::new(rate, "this account"));
        self
    }

    /// The answer for a failed database call: 503 `storage_unavailable` when the storage
    /// failed (counted, logged once per episode), else 500.
    pub(crate) fn storage(&self, error: &sqlx::Error) -> virgil_server::ApiError {
        self.store.health().failed(error)
    }

    /// Relays at most `quota` per sender per hour (default [`RelayQuota::default`]).
    pub fn with_relay_quota(mut self, quota: RelayQuota) -> Self {
        self.relay_quota = quota;
        self
    }
}

/// The OpenAPI 3 document of this API (`docs/api/app-server.openapi.json`).
pub const OPENAPI: &str = include_str!("../../../docs/api/app-server.openapi.json");
