//! The servers' SQL databases: one connection routine for SQLite and PostgreSQL (over
//! sqlx's `Any` driver), write transactions that queue instead of failing and that
//! report a failed commit, schema creation that replicas starting together can run at
//! once, and what a server does when its storage fails ([`StorageHealth`]: 503
//! `storage_unavailable` with `Retry-After`, one log line per episode, health and
//! metrics).

use crate::ApiError;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Transaction};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use virgil_api::ErrorCode;

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// `sqlite://…` (one file; one writer at a time).
    Sqlite,
    /// `postgres://…`.
    Postgres,
}

impl Backend {
    /// The backend of `url`.
    pub fn of(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// The column type of binary data.
    pub fn bytes_type(self) -> &'static str {
        match self {
            Backend::Sqlite => "BLOB",
            Backend::Postgres => "BYTEA",
        }
    }
}

/// A connection pool and what it is connected to.
#[derive(Clone, Debug)]
pub struct Database {
    /// The pool.
    pub pool: AnyPool,
    /// SQLite or PostgreSQL.
    pub backend: Backend,
    /// How the storage has been doing (shared by every clone).
    pub health: Arc<StorageHealth>,
}

/// The query parameter of a SQLite URL that caps the database at that many pages (a
/// quota: writes past it fail as on a full disk), e.g.
/// `sqlite://cards.db?mode=rwc&max_page_count=262144` (1 GiB of 4 KiB pages).
pub const SQLITE_MAX_PAGES_PARAMETER: &str = "max_page_count";

/// `url` without its `max_page_count` parameter, and that parameter's value.
fn sqlite_page_limit(url: &str) -> Result<(String, Option<u64>), sqlx::Error> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut limit = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((SQLITE_MAX_PAGES_PARAMETER, value)) => {
                limit = Some(value.parse::<u64>().map_err(|_| {
                    sqlx::Error::Configuration(
                        format!(
                            "{SQLITE_MAX_PAGES_PARAMETER} must be a number of pages, not {value:?}"
                        )
                        .into(),
                    )
                })?);
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, limit))
}

/// The PostgreSQL advisory lock held while a schema is created or checked (an arbitrary
/// constant: "virgil" in ASCII).
const SCHEMA_LOCK: i64 = 0x7669_7267_696c;

impl Database {
    /// Connects to `url` (`sqlite://…?mode=rwc` creates the file; `postgres://…`). SQLite
    /// files are switched to WAL, so readers proceed during a write.
    ///
    /// A SQLite URL may carry `max_page_count=N` ([`SQLITE_MAX_PAGES_PARAMETER`]): every
    /// connection is then capped at N pages (or the file's size, if larger), and writes
    /// that need more fail as on a full disk.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url);
        let (url, page_limit) = match backend {
            Backend::Sqlite => sqlite_page_limit(url)?,
            Backend::Postgres => (url.to_owned(), None),
        };
        let health = Arc::new(StorageHealth::default());
        let watched = Arc::clone(&health);
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer at a time; more connections only add lock waits.
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            // Fail fast when the database cannot be reached: a request waits at most
            // this long for a connection, then answers 503 (not a hang).
            .acquire_timeout(Duration::from_secs(10))
            // A pooled PostgreSQL connection may have died (a restart, a network
            // drop): pinged before it is handed out. A SQLite connection is a thread
            // of this process; pinging it is a round trip to that thread for every
            // query and checks nothing.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if let Some(pages) = page_limit {
                        sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
                            .execute(&mut *connection)
                            .await?;
                    }
                    if backend == Backend::Postgres {
                        // PostgreSQL's notices ("relation … already exists, skipping"
                        // on every start) are not ours to log; warnings still are.
                        sqlx::query("SET client_min_messages = warning")
                            .execute(&mut *connection)
                            .await?;
                    }
                    Ok(())
                })
            })
            .after_release(|connection, _| Box::pin(finish_transaction(connection)))
            // While storage fails, a pooled connection is checked before it is used:
            // one a failover left read-only is replaced, so writes resume when the
            // database does, without a restart.
            .before_acquire(move |connection, _| {
                let degraded = watched.degraded().is_some();
                Box::pin(async move {
                    if !degraded || backend != Backend::Postgres {
                        return Ok(true);
                    }
                    let read_only: Result<String, sqlx::Error> =
                        sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
                            .fetch_one(&mut *connection)
                            .await;
                    Ok(read_only.is_ok_and(|value| value == "off"))
                })
            })
            .connect(&url)
            .await?;
        if backend == Backend::Sqlite {
            // Stored in the file; a no-op once set.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        Ok(Self {
            pool,
            backend,
            health,
        })
    }

    /// Commits `tx` and says whether it took: success is answered only after this
    /// returns `Ok` (a write acknowledged before its commit is a write that can be
    /// lost).
    pub async fn commit(&self, tx: Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        self.health.recovered();
        Ok(())
    }

    /// Starts a transaction that will write.
    ///
    /// SQLite's plain `BEGIN` is deferred: a transaction that reads and then writes must
    /// upgrade its lock, and when another connection writes meanwhile SQLite fails it at
    /// once with `SQLITE_BUSY` (no busy wait helps). `BEGIN IMMEDIATE` takes the write
    /// lock first, waiting up to the busy timeout (sqlx's default, 5 s), so concurrent
    /// writers queue.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.pool
            .begin_with(match self.backend {
                Backend::Sqlite => "BEGIN IMMEDIATE",
                Backend::Postgres => "BEGIN",
            })
            .await
    }

    /// Serializes the writers of one `key` (e.g. an identity) until `tx` ends: a
    /// transaction-scoped advisory lock on PostgreSQL; nothing on SQLite, where
    /// [`Database::begin_write`] already holds the database's one write lock. Take it
    /// before reading what the write depends on.
    pub async fn lock_key(
        &self,
        tx: &mut Transaction<'static, Any>,
        key: &str,
    ) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Starts the transaction that creates or checks the schema. On PostgreSQL it first
    /// takes an advisory lock (released at commit): replicas starting together on a
    /// fresh database would otherwise race to create the same tables and fail.
    pub async fn begin_schema(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SCHEMA_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }
}

/// Called when a connection goes back to the pool: one that is still inside a
/// transaction is rolled back, or closed if that fails. sqlx counts a transaction as
/// open until its `COMMIT` or `ROLLBACK` succeeds; when SQLite rolls a transaction back
/// by itself (a `COMMIT` that failed on a full disk), both fail, and the connection
/// would be handed out again forever "at non-zero transaction depth".
async fn finish_transaction(connection: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
    use sqlx::TransactionManager as _;
    type Manager = <Any as sqlx::Database>::TransactionManager;
    if Manager::get_transaction_depth(connection) == 0 {
        return Ok(true);
    }
    let rolled_back = Manager::rollback(connection).await.is_ok();
    Ok(rolled_back && Manager::get_transaction_depth(connection) == 0)
}

/// How long a storage failure episode lasts after its last failure: the server is
/// *degraded* until this long passes without one (a write that still fits on a nearly
/// full disk does not end it).
pub const STORAGE_EPISODE: Duration = Duration::from_secs(10);

/// What a client is told to wait before retrying a write the storage refused.
pub const STORAGE_RETRY_AFTER_SECONDS: u64 = 5;

/// How a server's storage has been doing: storage failures (a full disk, a read-only
/// or unreachable database, a failed commit) become 503 `storage_unavailable` answers
/// with `Retry-After`; the first of an episode is logged with its cause (the rest are
/// counted, not logged); `/v1/health` says *degraded* while an episode lasts (until
/// [`STORAGE_EPISODE`] passes without a failure), and the first commit after it logs
/// that the storage recovered; `/metrics` counts them.
#[derive(Debug, Default)]
pub struct StorageHealth {
    failures: AtomicU64,
    episode: Mutex<Option<Episode>>,
}

#[derive(Debug)]
struct Episode {
    cause: String,
    started: Instant,
    last: Instant,
    failures: u64,
}

impl Episode {
    fn on(&self) -> bool {
        self.last.elapsed() < STORAGE_EPISODE
    }
}

impl StorageHealth {
    fn episode(&self) -> std::sync::MutexGuard<'_, Option<Episode>> {
        self.episode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The answer for `error`: 503 `storage_unavailable` if the storage failed (counted,
    /// and logged if it starts an episode), else 500 (a bug: logged by the answer).
    pub fn failed(&self, error: &sqlx::Error) -> ApiError {
        let Some(cause) = storage_failure(error) else {
            return ApiError::internal(error);
        };
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut episode = self.episode();
        match episode.as_mut() {
            Some(current) if current.on() => {
                current.last = Instant::now();
                current.failures += 1;
            }
            _ => {
                tracing::error!(
                    cause = %cause,
                    error = %error,
                    "storage failing: writes are refused with 503 storage_unavailable until it recovers (one line per episode; /metrics counts every failure)"
                );
                let now = Instant::now();
                *episode = Some(Episode {
                    cause,
                    started: now,
                    last: now,
                    failures: 1,
                });
            }
        }
        ApiError::new(
            ErrorCode::StorageUnavailable,
            "the server could not store this now (its database is full, read-only or unreachable); nothing was stored: try again in a few seconds",
        )
        .with_retry_after(STORAGE_RETRY_AFTER_SECONDS)
    }

    /// A write was committed: once an episode is over, the first commit logs that the
    /// storage recovered.
    pub fn recovered(&self) {
        let mut episode = self.episode();
        if episode.as_ref().is_some_and(|current| !current.on())
            && let Some(ended) = episode.take()
        {
            tracing::warn!(
                cause = %ended.cause,
                failures = ended.failures,
                seconds = ended.last.duration_since(ended.started).as_secs(),
                "storage recovered"
            );
        }
    }

    /// The cause of the current episode, if one is on: the server is *degraded*.
    pub fn degraded(&self) -> Option<String> {
        self.episode()
            .as_ref()
            .filter(|episode| episode.on())
            .map(|episode| episode.cause.clone())
    }

    /// Storage failures since the server started.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The metrics of this (`virgil_storage_failures_total`, `virgil_storage_degraded`).
    pub fn gauges(&self) -> [crate::metrics::Gauge<'static>; 2] {
        [
            crate::metrics::Gauge {
                name: "virgil_storage_failures_total",
                help: "Requests refused because the storage failed (full, read-only, unreachable, a failed commit).",
                value: self.failures(),
            },
            crate::metrics::Gauge {
                name: "virgil_storage_degraded",
                help: "1 while a storage failure episode lasts.",
                value: u64::from(self.degraded().is_some()),
            },
        ]
    }
}

/// What failed, if `error` is the storage failing (as opposed to a bug in a query).
fn storage_failure(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Io(error) => Some(format!("input/output: {error}")),
        sqlx::Error::PoolTimedOut => Some("no database connection within 10 s".to_owned()),
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            Some("the database connection was lost".to_owned())
        }
        sqlx::Error::Tls(error) => Some(format!("the database connection: {error}")),
        sqlx::Error::Protocol(error) => Some(format!("the database connection: {error}")),
        sqlx::Error::Database(error) => {
            let code = error.code()?;
            let what = if error
                .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                .is_some()
            {
                // SQLite: primary result codes (the low byte of extended codes).
                match code.parse::<u32>().ok()? & 0xff {
                    5 | 6 => "the database is locked",
                    8 => "the database is read-only",
                    10 => "a disk input/output error",
                    11 | 26 => "the database file is damaged",
                    13 => "the database or disk is full",
                    14 => "the database file cannot be opened",
                    _ => return None,
                }
            } else {
                // PostgreSQL: SQLSTATE classes.
                match (code.get(..2)?, code.as_ref()) {
                    ("08", _) => "the database connection failed",
                    ("53", "53100") => "the database's disk is full",
                    ("53", _) => "the database is out of resources",
                    ("57", "57014") => "a statement timed out",
                    ("57", _) => "the database is shutting down or was stopped",
                    ("58", _) => "a database system error",
                    ("25", "25006") => "the database is read-only",
                    ("40", _) => "a transaction conflict",
                    _ => return None,
                }
            };
            Some(format!("{what} ({code}: {})", error.message()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_limit_is_taken_out_of_a_sqlite_url() {
        assert_eq!(
            sqlite_page_limit("sqlite://a.db?mode=rwc&max_page_count=64").unwrap(),
            ("sqlite://a.db?mode=rwc".to_owned(), Some(64))
        );
        assert_eq!(
            sqlite_page_limit("sqlite://a.db?max_page_count=8").unwrap(),
            ("sqlite://a.db".to_owned(), Some(8))
        );
        assert_eq!(
            sqlite_page_limit("sqlite://a.db?mode=rwc").unwrap(),
            ("sqlite://a.db?mode=rwc".to_owned(), None)
        );
        assert!(sqlite_page_limit("sqlite://a.db?max_page_count=lots").is_err());
    }

    #[test]
    fn an_episode_is_logged_once_and_lasts_until_failures_stop() {
        let health = StorageHealth::default();
        let full = sqlx::Error::Io(std::io::Error::other("disk full"));
        for _ in 0..3 {
            let answer = health.failed(&full);
            assert_eq!(answer.code, ErrorCode::StorageUnavailable);
            assert_eq!(
                answer.retry_after_seconds,
                Some(STORAGE_RETRY_AFTER_SECONDS)
            );
        }
        assert_eq!(health.failures(), 3);
        assert!(health.degraded().is_some());
        assert_eq!(health.episode().as_ref().map(|e| e.failures), Some(3));
        // A commit while failures go on (room for a small write) does not end it.
        health.recovered();
        assert!(health.degraded().is_some());
        // Once STORAGE_EPISODE passed without a failure, it is over.
        if let Some(episode) = health.episode().as_mut() {
            episode.last -= STORAGE_EPISODE;
        }
        assert!(health.degraded().is_none());
        health.recovered();
        assert!(health.episode().is_none());
        // A query bug is not a storage failure.
        assert_eq!(
            health.failed(&sqlx::Error::RowNotFound).code,
            ErrorCode::InternalError
        );
        assert_eq!(health.failures(), 3);
    }
}
