//! Card storage: one implementation over sqlx's `Any` driver, so the same SQL runs on
//! SQLite (the embedded default: one file, WAL) and PostgreSQL (scale-out). The URL
//! picks the backend: `sqlite://path/to/cards.db` or `postgres://user@host/db`.
//!
//! Every write is one transaction. The service keeps no state in memory that matters,
//! so several replicas can share one PostgreSQL database.

mod schema;

use crate::store::schema::SCHEMA_VERSION;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row as _};
use virgil_card::{Card, CardId, CardJson, RevocationReason, SignatureJson};
use virgil_server::database::Database;

/// What happened to a card after publication: the API's status, stored as is.
pub use virgil_api::cards::{CardStatus, RevocationRecord};

/// A card as stored: the card, when it was published, and its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCard {
    /// The card with all its signatures (including the service's).
    pub card: Card,
    /// When the service published it, seconds since the Unix epoch.
    pub published_at: u64,
    /// Its status now.
    pub status: CardStatus,
    /// Who revoked it, when it is revoked.
    pub revocation: Option<RevocationRecord>,
}

/// The result of [`CardStore::publish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    /// The card was stored now.
    Created(StoredCard),
    /// A card with this id was already stored; it is returned unchanged (publishing is
    /// idempotent).
    Existing(StoredCard),
}

/// Storage failures. The HTTP layer maps each to a status and a stable code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The card's `previous_card_id` names no card of this application.
    #[error("the card to replace ({0}) does not exist")]
    PreviousNotFound(CardId),
    /// The card to replace has another identity or identity type.
    #[error("the card to replace ({0}) belongs to another identity")]
    PreviousMismatch(CardId),
    /// The card to replace was already replaced or revoked.
    #[error("the card to replace ({0}) is no longer active (already replaced or revoked)")]
    PreviousNotActive(CardId),
    /// No card with this id in this application.
    #[error("no card {0}")]
    NotFound(CardId),
    /// The identity has active cards and the new card is linked from none of them.
    #[error(
        "{identity:?} already has {active} active card(s) and the new card is not linked from any of them"
    )]
    LinkRequired {
        /// The identity.
        identity: String,
        /// How many active cards it has.
        active: usize,
    },
    /// The identity has [`MAX_ACTIVE_CARDS`] active cards and the new one replaces none.
    #[error("{identity:?} already has {MAX_ACTIVE_CARDS} active cards")]
    TooManyCards {
        /// The identity.
        identity: String,
    },
    /// The card is already revoked.
    #[error("card {0} is already revoked")]
    AlreadyRevoked(CardId),
    /// A reset card for an identity that has a reset pending already.
    #[error("a reset of this identity is pending already (card {0})")]
    ResetPending(CardId),
    /// A stored row could not be read back as a card (the database was edited by hand?).
    #[error("stored card {id} is damaged: {reason}")]
    Damaged {
        /// The row's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The most active cards one identity may have (devices): every search answer carries,
/// and the service signs the status of, each of them.
pub const MAX_ACTIVE_CARDS: usize = 16;

const COLUMNS: &str = "id, snapshot, signatures, published_at, superseded_by, revoked_at, revocation_reason, activates_at, revocation_record";

/// Cards of one identity (`$1` app, `$2` identity, `$3` type) that are active now.
const ACTIVE_OF_IDENTITY: &str = "app_id = $1 AND identity = $2 AND identity_type = $3 \
     AND superseded_by IS NULL AND revoked_at IS NULL AND activates_at IS NULL";

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn reason_text(reason: RevocationReason) -> &'static str {
    match reason {
        RevocationReason::Unspecified => "unspecified",
        RevocationReason::Compromised => "compromised",
        RevocationReason::Reset => "reset",
    }
}

fn record_json(record: &RevocationRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Damaged {
        id: "revocation record".to_owned(),
        reason: e.to_string(),
    })
}

/// The card store.
#[derive(Clone, Debug)]
pub struct CardStore {
    database: Database,
    pool: AnyPool,
    reset_delay: u64,
}

impl CardStore {
    /// Connects to `url` (`sqlite://…?mode=rwc` creates the file; `postgres://…`) and
    /// creates the schema if it is missing.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let database = Database::connect(url).await?;
        let store = Self {
            pool: database.pool.clone(),
            database,
            reset_delay: 0,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// How long a reset card stays pending (cancellable by the identity's active
    /// cards) before it becomes active and revokes every other card of the identity,
    /// in seconds. Default 0 (at once, as in the demo); docs/deployment.md recommends
    /// at least a day in production.
    pub fn with_reset_delay(mut self, seconds: u64) -> Self {
        self.reset_delay = seconds;
        self
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.database.begin_schema().await?;
        for statement in schema::statements(self.database.backend.bytes_type()) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        let version: Option<i64> = sqlx::query("SELECT version FROM virgil_schema")
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        match version {
            None => {
                sqlx::query("INSERT INTO virgil_schema (version) VALUES ($1)")
                    .bind(SCHEMA_VERSION)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(1) => {
                for statement in schema::FROM_1 {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                sqlx::query("UPDATE virgil_schema SET version = $1")
                    .bind(SCHEMA_VERSION)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(StoreError::Damaged {
                    id: "virgil_schema".to_owned(),
                    reason: format!(
                        "schema version {other}, this build knows {SCHEMA_VERSION} (newer database?)"
                    ),
                });
            }
        }
        for statement in schema::indexes() {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    fn decode(row: &AnyRow) -> Result<StoredCard, StoreError> {
        let id: String = row.try_get("id")?;
        let damaged = |reason: String| StoreError::Damaged {
            id: id.clone(),
            reason,
        };
        let snapshot: Vec<u8> = row.try_get("snapshot")?;
        let signatures: String = row.try_get("signatures")?;
        let signatures: Vec<SignatureJson> =
            serde_json::from_str(&signatures).map_err(|e| damaged(format!("signatures: {e}")))?;
        let card_id: CardId = id.parse().map_err(|e| damaged(format!("id: {e}")))?;
        let card = CardJson {
            id: card_id,
            content_snapshot: virgil_crypto::encoding::to_base64(&snapshot),
            signatures,
        }
        .into_card()
        .map_err(|e| damaged(e.to_string()))?;
        let published_at: i64 = row.try_get("published_at")?;
        let superseded_by: Option<String> = row.try_get("superseded_by")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let reason: Option<String> = row.try_get("revocation_reason")?;
        let activates_at: Option<i64> = row.try_get("activates_at")?;
        let status = match (revoked_at, reason.as_deref(), superseded_by, activates_at) {
            (Some(at), Some(reason), _, _) => CardStatus::Revoked {
                reason: match reason {
                    "compromised" => RevocationReason::Compromised,
                    "reset" => RevocationReason::Reset,
                    _ => RevocationReason::Unspecified,
                },
                at: u64::try_from(at).unwrap_or_default(),
            },
            (_, _, Some(by), _) => CardStatus::Superseded {
                by: by
                    .parse()
                    .map_err(|e| damaged(format!("superseded_by: {e}")))?,
            },
            (_, _, _, Some(at)) => CardStatus::Pending {
                activates_at: u64::try_from(at).unwrap_or_default(),
            },
            _ => CardStatus::Active,
        };
        let revocation: Option<String> = row.try_get("revocation_record")?;
        let revocation = revocation
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|e| damaged(format!("revocation_record: {e}")))?;
        Ok(StoredCard {
            card,
            published_at: u64::try_from(published_at).unwrap_or_default(),
            status,
            revocation,
        })
    }

    /// Stores a card (already verified and countersigned by the caller). Publishing the
    /// same card again returns the stored one, and so does publishing a card whose key
    /// already has an active card of the identity (never two active cards for one key).
    /// When the identity (application, identity, identity type) has active cards, the
    /// new card must be linked from one of them ([`Card::is_linked_from`]), else
    /// [`StoreError::LinkRequired`]. A card with `previous_card_id` replaces that card,
    /// which must be an active card of the same identity; every check and change happens
    /// in one transaction, serialized per identity.
    ///
    /// A reset card ([`virgil_card::contact::is_reset`]) needs no link: with no delay
    /// it is active at once and every other card of the identity is revoked (reason
    /// [`RevocationReason::Reset`]); with a delay ([`CardStore::with_reset_delay`]) it
    /// is [`CardStatus::Pending`] until then, and the identity's active cards can cancel
    /// it by revoking it. One reset may be pending per identity
    /// ([`StoreError::ResetPending`]); a reset card's `previous_card_id` is ignored.
    pub async fn publish(&self, card: &Card, now: u64) -> Result<Published, StoreError> {
        self.settle_resets(now).await?;
        let content = card.content();
        let id = card.id().to_string();
        let signatures =
            serde_json::to_string(&card.to_json().signatures).map_err(|e| StoreError::Damaged {
                id: id.clone(),
                reason: e.to_string(),
            })?;
        let mut tx = self.database.begin_write().await?;

        if let Some(existing) = sqlx::query(&format!("SELECT {COLUMNS} FROM cards WHERE id = $1"))
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?
        {
            return Ok(Published::Existing(Self::decode(&existing)?));
        }

        // Who may add a card to this identity depends on its active cards: read them
        // under the identity's lock, so two first cards cannot both go in unlinked.
        let identity_key = format!(
            "cards/{}/{}/{}",
            content.app_id, content.identity_type, content.identity
        );
        self.database.lock_key(&mut tx, &identity_key).await?;
        let active: Vec<StoredCard> = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cards WHERE {ACTIVE_OF_IDENTITY} ORDER BY published_at, id"
        ))
        .bind(&content.app_id)
        .bind(&content.identity)
        .bind(&content.identity_type)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(Self::decode)
        .collect::<Result<_, _>>()?;
        if let Some(same_key) = active
            .iter()
            .find(|stored| stored.card.public_key() == card.public_key())
        {
            return Ok(Published::Existing(same_key.clone()));
        }
        if virgil_card::contact::is_reset(card) && !active.is_empty() {
            return self.publish_reset(tx, card, &signatures, now).await;
        }
        if !active.is_empty()
            && !active
                .iter()
                .any(|stored| card.is_linked_from(&stored.card))
        {
            return Err(StoreError::LinkRequired {
                identity: content.identity.clone(),
                active: active.len(),
            });
        }

        if active.len() >= MAX_ACTIVE_CARDS
            && !content
                .previous_card_id
                .is_some_and(|previous| active.iter().any(|stored| *stored.card.id() == previous))
        {
            return Err(StoreError::TooManyCards {
                identity: content.identity.clone(),
            });
        }

        if let Some(previous) = content.previous_card_id {
            let row = sqlx::query(
                "SELECT identity, identity_type, superseded_by, revoked_at FROM cards WHERE id = $1 AND app_id = $2",
            )
            .bind(previous.to_string())
            .bind(&content.app_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::PreviousNotFound(previous))?;
            let identity: String = row.try_get("identity")?;
            let identity_type: String = row.try_get("identity_type")?;
            if identity != content.identity || identity_type != content.identity_type {
                return Err(StoreError::PreviousMismatch(previous));
            }
            // Only an active card can be replaced, and only once: the update is
            // conditional, so of two concurrent replacements one fails here.
            let replaced = sqlx::query(
                "UPDATE cards SET superseded_by = $1 WHERE id = $2 AND superseded_by IS NULL AND revoked_at IS NULL",
            )
            .bind(&id)
            .bind(previous.to_string())
            .execute(&mut *tx)
            .await?;
            if replaced.rows_affected() != 1 {
                return Err(StoreError::PreviousNotActive(previous));
            }
        }

        let inserted = sqlx::query(
            "INSERT INTO cards (id, app_id, identity, identity_type, snapshot, signatures, created_at, published_at, previous_card_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(&content.app_id)
        .bind(&content.identity)
        .bind(&content.identity_type)
        .bind(card.snapshot().to_vec())
        .bind(&signatures)
        .bind(to_i64(content.created_at))
        .bind(to_i64(now))
        .bind(content.previous_card_id.map(|previous| previous.to_string()))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            // Another writer stored the same card in the meantime.
            tx.rollback().await?;
            let existing = self.read(&content.app_id, card.id()).await?;
            return existing
                .map(Published::Existing)
                .ok_or(StoreError::NotFound(*card.id()));
        }
        tx.commit().await?;
        Ok(Published::Created(StoredCard {
            card: card.clone(),
            published_at: now,
            status: CardStatus::Active,
            revocation: None,
        }))
    }

    /// Stores a reset card for an identity with active cards (`tx` holds its lock).
    async fn publish_reset(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        card: &Card,
        signatures: &str,
        now: u64,
    ) -> Result<Published, StoreError> {
        let content = card.content();
        let id = card.id().to_string();
        if let Some(pending) = sqlx::query(
            "SELECT id FROM cards WHERE app_id = $1 AND identity = $2 AND identity_type = $3 \
             AND activates_at IS NOT NULL AND revoked_at IS NULL",
        )
        .bind(&content.app_id)
        .bind(&content.identity)
        .bind(&content.identity_type)
        .fetch_optional(&mut *tx)
        .await?
        {
            let pending: String = pending.try_get("id")?;
            let pending = pending.parse().map_err(|e| StoreError::Damaged {
                id: pending.clone(),
                reason: format!("id: {e}"),
            })?;
            return Err(StoreError::ResetPending(pending));
        }
        let activates_at = (self.reset_delay > 0).then(|| now.saturating_add(self.reset_delay));
        sqlx::query(
            "INSERT INTO cards (id, app_id, identity, identity_type, snapshot, signatures, created_at, published_at, activates_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&content.app_id)
        .bind(&content.identity)
        .bind(&content.identity_type)
        .bind(card.snapshot().to_vec())
        .bind(signatures)
        .bind(to_i64(content.created_at))
        .bind(to_i64(now))
        .bind(activates_at.map(to_i64))
        .execute(&mut *tx)
        .await?;
        let status = match activates_at {
            Some(activates_at) => CardStatus::Pending { activates_at },
            None => {
                Self::revoke_all_but(&mut tx, card, now).await?;
                CardStatus::Active
            }
        };
        tx.commit().await?;
        Ok(Published::Created(StoredCard {
            card: card.clone(),
            published_at: now,
            status,
            revocation: None,
        }))
    }

    /// Revokes every active card of `reset`'s identity except `reset` (reason reset).
    async fn revoke_all_but(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        reset: &Card,
        at: u64,
    ) -> Result<(), StoreError> {
        let content = reset.content();
        let record = record_json(&RevocationRecord::Reset {
            card: reset.to_json(),
        })?;
        sqlx::query(&format!(
            "UPDATE cards SET revoked_at = $4, revocation_reason = $5, revocation_record = $7 WHERE {ACTIVE_OF_IDENTITY} AND id <> $6"
        ))
        .bind(&content.app_id)
        .bind(&content.identity)
        .bind(&content.identity_type)
        .bind(to_i64(at))
        .bind(reason_text(RevocationReason::Reset))
        .bind(reset.id().to_string())
        .bind(record)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Activates the pending reset cards whose delay ended by `now` (each revokes the
    /// other cards of its identity, as of its activation time). Every request runs it
    /// first, so no background job is needed and every replica sees the same state; it
    /// is idempotent and safe to run concurrently. Returns how many resets it activated.
    pub async fn settle_resets(&self, now: u64) -> Result<usize, StoreError> {
        let due = sqlx::query(&format!(
            "SELECT {COLUMNS}, app_id FROM cards WHERE activates_at IS NOT NULL AND activates_at <= $1 AND revoked_at IS NULL"
        ))
        .bind(to_i64(now))
        .fetch_all(&self.pool)
        .await?;
        let mut settled = 0;
        for row in &due {
            let stored = Self::decode(row)?;
            let CardStatus::Pending { activates_at } = stored.status else {
                continue;
            };
            let content = stored.card.content();
            let mut tx = self.database.begin_write().await?;
            let identity_key = format!(
                "cards/{}/{}/{}",
                content.app_id, content.identity_type, content.identity
            );
            self.database.lock_key(&mut tx, &identity_key).await?;
            let activated = sqlx::query(
                "UPDATE cards SET activates_at = NULL WHERE id = $1 AND activates_at IS NOT NULL AND revoked_at IS NULL",
            )
            .bind(stored.card.id().to_string())
            .execute(&mut *tx)
            .await?;
            if activated.rows_affected() == 1 {
                Self::revoke_all_but(&mut tx, &stored.card, activates_at).await?;
                settled += 1;
            }
            tx.commit().await?;
        }
        Ok(settled)
    }

    /// Any card of application `app_id` by id, whatever its status.
    pub async fn get(&self, app_id: &str, id: &CardId) -> Result<Option<StoredCard>, StoreError> {
        self.settle_resets(virgil_api::unix_now()).await?;
        self.read(app_id, id).await
    }

    /// [`CardStore::get`] for callers that settled resets already.
    async fn read(&self, app_id: &str, id: &CardId) -> Result<Option<StoredCard>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cards WHERE id = $1 AND app_id = $2"
        ))
        .bind(id.to_string())
        .bind(app_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(Self::decode)
        .transpose()
    }

    /// The active cards of application `app_id` for any of `identities` (and of
    /// `identity_type`, if given), and their pending reset cards, ordered by identity
    /// then publication time.
    pub async fn search(
        &self,
        app_id: &str,
        identities: &[String],
        identity_type: Option<&str>,
    ) -> Result<Vec<StoredCard>, StoreError> {
        if identities.is_empty() {
            return Ok(Vec::new());
        }
        self.settle_resets(virgil_api::unix_now()).await?;
        let first = if identity_type.is_some() { 3 } else { 2 };
        let placeholders: Vec<String> = (0..identities.len())
            .map(|i| format!("${}", first + i))
            .collect();
        let type_filter = if identity_type.is_some() {
            " AND identity_type = $2"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM cards WHERE app_id = $1{type_filter} AND identity IN ({}) \
             AND superseded_by IS NULL AND revoked_at IS NULL ORDER BY identity, published_at, id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(app_id);
        if let Some(identity_type) = identity_type {
            query = query.bind(identity_type);
        }
        for identity in identities {
            query = query.bind(identity);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Self::decode)
            .collect()
    }

    /// Revokes a card of application `app_id`; `record` is the signed request (the
    /// caller has checked it), stored and served with the card.
    pub async fn revoke(
        &self,
        app_id: &str,
        id: &CardId,
        reason: RevocationReason,
        at: u64,
        record: &RevocationRecord,
    ) -> Result<StoredCard, StoreError> {
        self.settle_resets(at).await?;
        let updated = sqlx::query(
            "UPDATE cards SET revoked_at = $1, revocation_reason = $2, revocation_record = $5 WHERE id = $3 AND app_id = $4 AND revoked_at IS NULL",
        )
        .bind(to_i64(at))
        .bind(reason_text(reason))
        .bind(id.to_string())
        .bind(app_id)
        .bind(record_json(record)?)
        .execute(&self.pool)
        .await?;
        let stored = self
            .read(app_id, id)
            .await?
            .ok_or(StoreError::NotFound(*id))?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::AlreadyRevoked(*id));
        }
        Ok(stored)
    }

    /// How many cards are stored (for metrics).
    pub async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM cards")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
