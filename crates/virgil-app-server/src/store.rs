//! The application server's database (SQLite or PostgreSQL through sqlx's `Any` driver,
//! like the cards service): users, sessions and relayed messages (ciphertext only).

use sqlx::{Any, AnyPool, Row as _, Transaction};
use virgil_api::app::RelayedMessage as Message;
use virgil_server::database::{Backend, Database, StorageHealth};

/// A stored user's password hash.
pub struct UserRecord {
    /// PBKDF2 salt.
    pub salt: Vec<u8>,
    /// PBKDF2-HMAC-SHA256 output.
    pub hash: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
}

/// The database.
#[derive(Clone, Debug)]
pub struct AppStore {
    database: Database,
    pool: AnyPool,
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Schema version in `virgil_app_schema`. 2: each message has its place in its
/// recipient's inbox (`seq`, the inbox cursor) and the sender's idempotency key
/// (`client_id`).
const SCHEMA_VERSION: i64 = 2;

/// The result of [`AppStore::open_pairing`] and [`AppStore::add_pairing_message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairingWrite {
    /// Stored.
    Stored,
    /// No live mailbox of this id (adding), or one exists already (opening).
    Missing,
    /// Opening: the user has a mailbox of this id already, or too many live ones.
    Exists,
    /// Adding: not the next message, or the slot was taken meanwhile.
    OutOfTurn,
}

/// The most live pairing mailboxes one user may have.
pub const MAX_LIVE_PAIRINGS: i64 = 3;
/// The most messages a pairing mailbox holds (format.md §17: four).
pub const PAIRING_MESSAGES: i64 = 4;

/// The result of [`AppStore::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Stored now, at this place in the recipient's inbox.
    Stored(i64),
    /// The sender sent this message id before: its place (nothing stored again).
    Already(i64),
    /// The sender used this message id for another message (another recipient or
    /// body): refused.
    IdReused,
}

impl AppStore {
    /// Connects and creates (or migrates) the schema.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let database = Database::connect(url).await?;
        let bytes = database.backend.bytes_type();
        let serial = match database.backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            _ => "BIGSERIAL PRIMARY KEY",
        };
        let mut tx = database.begin_schema().await?;
        let existing = match database.backend {
            Backend::Sqlite => {
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'"
            }
            _ => {
                // (Not the name itself: the Any driver cannot decode PostgreSQL's `name`.)
                "SELECT 1 FROM pg_tables WHERE tablename = 'messages' AND schemaname = current_schema()"
            }
        };
        let had_messages = sqlx::query(existing)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        for statement in [
            "CREATE TABLE IF NOT EXISTS virgil_app_schema (version BIGINT NOT NULL)".to_owned(),
            format!("CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, salt {bytes} NOT NULL, hash {bytes} NOT NULL, iterations BIGINT NOT NULL, created_at BIGINT NOT NULL)"),
            "CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, expires_at BIGINT NOT NULL)".to_owned(),
            format!("CREATE TABLE IF NOT EXISTS messages (id {serial}, recipient TEXT NOT NULL, sender TEXT NOT NULL, body TEXT NOT NULL, sent_at BIGINT NOT NULL, seq BIGINT NOT NULL DEFAULT 0, client_id TEXT NULL)"),
            // Key backups (issue 31): one locked blob per user; the server cannot open it.
            format!("CREATE TABLE IF NOT EXISTS key_backups (username TEXT PRIMARY KEY, blob {bytes} NOT NULL, stored_at BIGINT NOT NULL)"),
            // Device pairing (issue 31): the mailboxes, one row per message; message 0
            // opens one. The key makes each slot writable once.
            format!("CREATE TABLE IF NOT EXISTS pairing_messages (username TEXT NOT NULL, pairing_id TEXT NOT NULL, idx BIGINT NOT NULL, body {bytes} NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (username, pairing_id, idx))"),
        ] {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        let version: Option<i64> = sqlx::query("SELECT version FROM virgil_app_schema")
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        match version {
            Some(SCHEMA_VERSION) => {}
            None if had_messages => {
                // Version 1 (no schema table): the inbox cursor was the global id, so
                // each old message keeps it as its place; new ones continue after it.
                for statement in [
                    "ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL DEFAULT 0",
                    "ALTER TABLE messages ADD COLUMN client_id TEXT NULL",
                    "UPDATE messages SET seq = id",
                ] {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                Self::set_version(&mut tx).await?;
            }
            None => Self::set_version(&mut tx).await?,
            Some(other) => {
                return Err(sqlx::Error::Configuration(
                    format!("the database has schema version {other}, this build knows {SCHEMA_VERSION} (a newer server?)").into(),
                ));
            }
        }
        for statement in [
            "DROP INDEX IF EXISTS messages_inbox",
            "CREATE UNIQUE INDEX IF NOT EXISTS messages_by_recipient ON messages (recipient, seq)",
            "CREATE UNIQUE INDEX IF NOT EXISTS messages_by_client_id ON messages (sender, client_id)",
            "CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (username)",
            "CREATE INDEX IF NOT EXISTS messages_by_sender ON messages (sender, sent_at)",
        ] {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        database.commit(tx).await?;
        Ok(Self {
            pool: database.pool.clone(),
            database,
        })
    }

    async fn set_version(tx: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO virgil_app_schema (version) VALUES ($1)")
            .bind(SCHEMA_VERSION)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// How the storage has been doing (503s, health, metrics).
    pub fn health(&self) -> &StorageHealth {
        &self.database.health
    }

    /// `username`'s key backup and when it was stored.
    pub async fn backup(&self, username: &str) -> Result<Option<(Vec<u8>, u64)>, sqlx::Error> {
        let row = sqlx::query("SELECT blob, stored_at FROM key_backups WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let stored_at: i64 = row.try_get("stored_at")?;
            Ok((
                row.try_get("blob")?,
                u64::try_from(stored_at).unwrap_or_default(),
            ))
        })
        .transpose()
    }

    /// Stores `username`'s key backup, replacing any (one transaction).
    pub async fn put_backup(
        &self,
        username: &str,
        blob: &[u8],
        now: u64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        sqlx::query(
            "INSERT INTO key_backups (username, blob, stored_at) VALUES ($1, $2, $3) ON CONFLICT (username) DO UPDATE SET blob = excluded.blob, stored_at = excluded.stored_at",
        )
        .bind(username)
        .bind(blob)
        .bind(i64::try_from(now).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        self.database.commit(tx).await
    }

    /// Stores `username`'s first key backup: nothing if one exists (also one stored by
    /// a concurrent request); whether it was stored.
    pub async fn create_backup(
        &self,
        username: &str,
        blob: &[u8],
        now: u64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        let created = sqlx::query(
            "INSERT INTO key_backups (username, blob, stored_at) VALUES ($1, $2, $3) ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(blob)
        .bind(i64::try_from(now).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.database.commit(tx).await?;
        Ok(created == 1)
    }

    /// Deletes `username`'s key backup; whether there was one.
    pub async fn delete_backup(&self, username: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM key_backups WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.database.commit(tx).await?;
        Ok(deleted > 0)
    }

    /// Opens `username`'s pairing mailbox `id` with its first message (one
    /// transaction; expired mailboxes of every user are removed first).
    pub async fn open_pairing(
        &self,
        username: &str,
        id: &str,
        message: &[u8],
        now: u64,
        expires_at: u64,
    ) -> Result<PairingWrite, sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        sqlx::query("DELETE FROM pairing_messages WHERE expires_at <= $1")
            .bind(to_i64(now))
            .execute(&mut *tx)
            .await?;
        let live: i64 =
            sqlx::query("SELECT COUNT(*) FROM pairing_messages WHERE username = $1 AND idx = 0")
                .bind(username)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        if live >= MAX_LIVE_PAIRINGS {
            tx.rollback().await?;
            return Ok(PairingWrite::Exists);
        }
        let stored =
            Self::insert_pairing_message(&mut tx, username, id, 0, message, to_i64(expires_at))
                .await?;
        self.database.commit(tx).await?;
        Ok(if stored {
            PairingWrite::Stored
        } else {
            PairingWrite::Exists
        })
    }

    /// Writes message `index` of a mailbox unless that slot is taken (the primary key
    /// settles a race); whether it was written.
    async fn insert_pairing_message(
        tx: &mut Transaction<'static, Any>,
        username: &str,
        id: &str,
        index: i64,
        message: &[u8],
        expires_at: i64,
    ) -> Result<bool, sqlx::Error> {
        let written = sqlx::query(
            "INSERT INTO pairing_messages (username, pairing_id, idx, body, expires_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username, pairing_id, idx) DO NOTHING",
        )
        .bind(username)
        .bind(id)
        .bind(index)
        .bind(message)
        .bind(expires_at)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        Ok(written == 1)
    }

    /// `username`'s live pairing mailbox `id`: its messages in order and when it
    /// expires; `None` if there is none (or it expired).
    pub async fn pairing(
        &self,
        username: &str,
        id: &str,
        now: u64,
    ) -> Result<Option<(Vec<Vec<u8>>, u64)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT body, expires_at FROM pairing_messages WHERE username = $1 AND pairing_id = $2 AND expires_at > $3 ORDER BY idx",
        )
        .bind(username)
        .bind(id)
        .bind(to_i64(now))
        .fetch_all(&self.pool)
        .await?;
        let mut expires_at = 0;
        let mut messages = Vec::with_capacity(rows.len());
        for row in rows {
            messages.push(row.try_get::<Vec<u8>, _>(0)?);
            expires_at = u64::try_from(row.try_get::<i64, _>(1)?).unwrap_or(0);
        }
        Ok((!messages.is_empty()).then_some((messages, expires_at)))
    }

    /// Adds message `index` to `username`'s live pairing mailbox `id`: only the next
    /// one, and each slot once (the primary key settles a race).
    pub async fn add_pairing_message(
        &self,
        username: &str,
        id: &str,
        index: i64,
        message: &[u8],
        now: u64,
    ) -> Result<PairingWrite, sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        let row = sqlx::query(
            "SELECT COUNT(*), MIN(expires_at) FROM pairing_messages WHERE username = $1 AND pairing_id = $2 AND expires_at > $3",
        )
        .bind(username)
        .bind(id)
        .bind(to_i64(now))
        .fetch_one(&mut *tx)
        .await?;
        let count: i64 = row.try_get(0)?;
        let expires_at: Option<i64> = row.try_get(1)?;
        let Some(expires_at) = expires_at.filter(|_| count > 0) else {
            tx.rollback().await?;
            return Ok(PairingWrite::Missing);
        };
        if index != count || index >= PAIRING_MESSAGES {
            tx.rollback().await?;
            return Ok(PairingWrite::OutOfTurn);
        }
        let stored =
            Self::insert_pairing_message(&mut tx, username, id, index, message, expires_at).await?;
        self.database.commit(tx).await?;
        Ok(if stored {
            PairingWrite::Stored
        } else {
            PairingWrite::OutOfTurn
        })
    }

    /// Ends `username`'s pairing `id`; whether it was live.
    pub async fn delete_pairing(
        &self,
        username: &str,
        id: &str,
        now: u64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        let deleted = sqlx::query(
            "DELETE FROM pairing_messages WHERE username = $1 AND pairing_id = $2 AND expires_at > $3",
        )
        .bind(username)
        .bind(id)
        .bind(to_i64(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Expired rows of this mailbox too (they answer nothing anyway).
        sqlx::query("DELETE FROM pairing_messages WHERE username = $1 AND pairing_id = $2")
            .bind(username)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.database.commit(tx).await?;
        Ok(deleted > 0)
    }

    /// Whether the database answers a trivial query now (for `/v1/health`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Creates a user; `false` if the name is taken. Committed before it returns.
    pub async fn create_user(
        &self,
        username: &str,
        record: &UserRecord,
        now: u64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (username, salt, hash, iterations, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(record.salt.clone())
        .bind(record.hash.clone())
        .bind(i64::from(record.iterations))
        .bind(to_i64(now))
        .execute(&mut *tx)
        .await?;
        self.database.commit(tx).await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// A user's password hash.
    pub async fn user(&self, username: &str) -> Result<Option<UserRecord>, sqlx::Error> {
        let row = sqlx::query("SELECT salt, hash, iterations FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let iterations: i64 = row.try_get("iterations")?;
            Ok(UserRecord {
                salt: row.try_get("salt")?,
                hash: row.try_get("hash")?,
                iterations: u32::try_from(iterations).unwrap_or(u32::MAX),
            })
        })
        .transpose()
    }

    /// Whether a user exists.
    pub async fn user_exists(&self, username: &str) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("SELECT 1 FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Stores a session (by the SHA-256 of its token) and drops the user's expired ones.
    pub async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        // Expired sessions are useless; dropping the user's own keeps the table small.
        sqlx::query("DELETE FROM sessions WHERE username = $1 AND expires_at <= $2")
            .bind(username)
            .bind(to_i64(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO sessions (token_hash, username, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(username)
            .bind(to_i64(expires_at))
            .execute(&mut *tx)
            .await?;
        self.database.commit(tx).await
    }

    /// Replaces `username`'s password hash and ends every session of the user but
    /// `keep` (a session token hash; `None`: all of them), in one transaction. `false` if
    /// there is no such user.
    pub async fn set_password(
        &self,
        username: &str,
        record: &UserRecord,
        keep: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE users SET salt = $1, hash = $2, iterations = $3 WHERE username = $4",
        )
        .bind(record.salt.clone())
        .bind(record.hash.clone())
        .bind(i64::from(record.iterations))
        .bind(username)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM sessions WHERE username = $1 AND token_hash <> $2")
            .bind(username)
            .bind(keep.unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        self.database.commit(tx).await?;
        Ok(true)
    }

    /// The user of an unexpired session.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<String>, sqlx::Error> {
        let row =
            sqlx::query("SELECT username FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(to_i64(now))
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| row.try_get("username")).transpose()
    }

    /// The live sessions of `username`: (token hash, expiry), newest first.
    pub async fn sessions_of(
        &self,
        username: &str,
        now: u64,
    ) -> Result<Vec<(String, u64)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT token_hash, expires_at FROM sessions WHERE username = $1 AND expires_at > $2 ORDER BY expires_at DESC",
        )
        .bind(username)
        .bind(to_i64(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let expires: i64 = row.try_get("expires_at")?;
                Ok((
                    row.try_get("token_hash")?,
                    u64::try_from(expires).unwrap_or(0),
                ))
            })
            .collect()
    }

    /// Ends the session of `username` whose token hash starts with `id_prefix` (16 hex
    /// digits); `false` if there is none. Committed before it returns.
    pub async fn delete_session(
        &self,
        username: &str,
        id_prefix: &str,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        let deleted = sqlx::query(
            "DELETE FROM sessions WHERE username = $1 AND substr(token_hash, 1, 16) = $2",
        )
        .bind(username)
        .bind(id_prefix)
        .execute(&mut *tx)
        .await?;
        self.database.commit(tx).await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Stores a message for `to` at the next place in `to`'s inbox, committed before it
    /// returns. The place is taken under a lock on that inbox inside the transaction, so
    /// places are given in commit order: a reader asking for everything after place N
    /// can never miss a message committed later with a smaller place. `client_id` (the
    /// sender's idempotency key): the same message sent again is not stored twice.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        body: &str,
        client_id: Option<&str>,
        now: u64,
    ) -> Result<Sent, sqlx::Error> {
        let mut tx = self.database.begin_write().await?;
        if let Some(client_id) = client_id {
            self.database
                .lock_key(&mut tx, &format!("outbox/{from}/{client_id}"))
                .await?;
            let earlier = sqlx::query(
                "SELECT seq, recipient, body FROM messages WHERE sender = $1 AND client_id = $2",
            )
            .bind(from)
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = earlier {
                let (recipient, sent): (String, String) =
                    (row.try_get("recipient")?, row.try_get("body")?);
                return Ok(if recipient == to && sent == body {
                    Sent::Already(row.try_get("seq")?)
                } else {
                    Sent::IdReused
                });
            }
        }
        self.database
            .lock_key(&mut tx, &format!("inbox/{to}"))
            .await?;
        let seq: i64 = sqlx::query(
            "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM messages WHERE recipient = $1",
        )
        .bind(to)
        .fetch_one(&mut *tx)
        .await?
        .try_get("next")?;
        sqlx::query(
            "INSERT INTO messages (recipient, sender, body, sent_at, seq, client_id) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(to)
        .bind(from)
        .bind(body)
        .bind(to_i64(now))
        .bind(seq)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        self.database.commit(tx).await?;
        Ok(Sent::Stored(seq))
    }

    /// What `sender` relayed since `since`: (messages, bytes of base64 body).
    pub async fn sent_since(&self, sender: &str, since: u64) -> Result<(u64, u64), sqlx::Error> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body)), 0) AS bytes FROM messages WHERE sender = $1 AND sent_at > $2",
        )
        .bind(sender)
        .bind(to_i64(since))
        .fetch_one(&self.pool)
        .await?;
        let count: i64 = row.try_get("n")?;
        let bytes: i64 = row.try_get("bytes")?;
        Ok((
            u64::try_from(count).unwrap_or(0),
            u64::try_from(bytes).unwrap_or(0),
        ))
    }

    /// The inbox of `username`, oldest first, after place `after`.
    pub async fn inbox(
        &self,
        username: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Message>, sqlx::Error> {
        let rows = sqlx::query("SELECT seq, sender, body, sent_at FROM messages WHERE recipient = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .bind(username)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Message {
                    id: row.try_get("seq")?,
                    from: row.try_get("sender")?,
                    body: row.try_get("body")?,
                    sent_at: row.try_get("sent_at")?,
                })
            })
            .collect()
    }

    /// How many users and messages are stored (for metrics).
    pub async fn counts(&self) -> Result<(u64, u64), sqlx::Error> {
        let users: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let messages: i64 = sqlx::query("SELECT COUNT(*) AS n FROM messages")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok((
            u64::try_from(users).unwrap_or(0),
            u64::try_from(messages).unwrap_or(0),
        ))
    }

    /// Closes the connection pool (on shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
