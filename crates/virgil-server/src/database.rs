//! The servers' SQL databases: one connection routine for SQLite and PostgreSQL (over
//! sqlx's `Any` driver), write transactions that queue instead of failing, and schema
//! creation that replicas starting together can run at once.

use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Transaction};

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
}

/// The PostgreSQL advisory lock held while a schema is created or checked (an arbitrary
/// constant: "virgil" in ASCII).
const SCHEMA_LOCK: i64 = 0x7669_7267_696c;

impl Database {
    /// Connects to `url` (`sqlite://…?mode=rwc` creates the file; `postgres://…`). SQLite
    /// files are switched to WAL, so readers proceed during a write.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url);
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer at a time; more connections only add lock waits.
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // Stored in the file; a no-op once set.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        Ok(Self { pool, backend })
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
