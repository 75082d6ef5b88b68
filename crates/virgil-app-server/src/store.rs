//! The application server's database (SQLite or PostgreSQL through sqlx's `Any` driver,
//! like the cards service): users, sessions and relayed messages (ciphertext only).

use sqlx::{AnyPool, Row as _};
use virgil_api::app::RelayedMessage as Message;
use virgil_server::database::{Backend, Database};

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

impl AppStore {
    /// Connects and creates the schema if missing.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let database = Database::connect(url).await?;
        let bytes = database.backend.bytes_type();
        let serial = match database.backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            _ => "BIGSERIAL PRIMARY KEY",
        };
        let mut tx = database.begin_schema().await?;
        for statement in [
            format!("CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, salt {bytes} NOT NULL, hash {bytes} NOT NULL, iterations BIGINT NOT NULL, created_at BIGINT NOT NULL)"),
            "CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, expires_at BIGINT NOT NULL)".to_owned(),
            format!("CREATE TABLE IF NOT EXISTS messages (id {serial}, recipient TEXT NOT NULL, sender TEXT NOT NULL, body TEXT NOT NULL, sent_at BIGINT NOT NULL)"),
            "CREATE INDEX IF NOT EXISTS messages_inbox ON messages (recipient, id)".to_owned(),
            "CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (username)".to_owned(),
            "CREATE INDEX IF NOT EXISTS messages_by_sender ON messages (sender, sent_at)".to_owned(),
        ] {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Self {
            pool: database.pool.clone(),
            database,
        })
    }

    /// Creates a user; `false` if the name is taken.
    pub async fn create_user(
        &self,
        username: &str,
        record: &UserRecord,
        now: u64,
    ) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO users (username, salt, hash, iterations, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(record.salt.clone())
        .bind(record.hash.clone())
        .bind(i64::from(record.iterations))
        .bind(to_i64(now))
        .execute(&self.pool)
        .await?;
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
        tx.commit().await
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
        tx.commit().await?;
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
    /// digits); `false` if there is none.
    pub async fn delete_session(
        &self,
        username: &str,
        id_prefix: &str,
    ) -> Result<bool, sqlx::Error> {
        let deleted = sqlx::query(
            "DELETE FROM sessions WHERE username = $1 AND substr(token_hash, 1, 16) = $2",
        )
        .bind(username)
        .bind(id_prefix)
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Stores a message; returns its id.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        body: &str,
        now: u64,
    ) -> Result<i64, sqlx::Error> {
        let row = sqlx::query("INSERT INTO messages (recipient, sender, body, sent_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(to)
            .bind(from)
            .bind(body)
            .bind(to_i64(now))
            .fetch_one(&self.pool)
            .await?;
        row.try_get("id")
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

    /// The inbox of `username`, oldest first, after the cursor `after`.
    pub async fn inbox(
        &self,
        username: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Message>, sqlx::Error> {
        let rows = sqlx::query("SELECT id, sender, body, sent_at FROM messages WHERE recipient = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(username)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Message {
                    id: row.try_get("id")?,
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
