//! Card storage: one implementation over sqlx's `Any` driver, so the same SQL runs on
//! SQLite (the embedded default: one file, WAL) and PostgreSQL (scale-out). The URL
//! picks the backend: `sqlite://path/to/cards.db` or `postgres://user@host/db`.
//!
//! Every write is one transaction. Who may add, link, supersede, revoke and reset a
//! card is not decided here: each write reads the owner's cards under the owner's lock,
//! asks `virgil_card::lifecycle` ([`lifecycle::admit`],
//! [`lifecycle::authorize_revocation`]) and carries the decision out in the same
//! transaction. The service keeps no state in memory that matters, so several replicas
//! can share one PostgreSQL database.

mod guesses;
mod schema;

use crate::store::schema::SCHEMA_VERSION;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row as _};
use virgil_card::checkpoint::SignedCheckpoint;
use virgil_card::directory::DirectoryEntry;
use virgil_card::lifecycle::{
    self, Admission, IdentityState, Refusal, ResetPolicy, RevocationRefusal, Revoker,
};
use virgil_card::{
    Card, CardId, CardIdentity, CardJson, RevocationReason, RevocationRequest, SignatureJson,
};
use virgil_crypto::PublicKey;
use virgil_crypto::sign::Signature;
use virgil_server::database::{Database, StorageHealth};

/// What happened to a card after publication, stored as is.
pub use virgil_card::{CardStatus, RevocationRecord};

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
    /// The card rules refuse the new card ([`virgil_card::lifecycle::admit`]).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The card rules refuse the revocation
    /// ([`virgil_card::lifecycle::authorize_revocation`]).
    #[error(transparent)]
    RevocationRefused(#[from] RevocationRefusal),
    /// No card with this id in this application.
    #[error("no card {0}")]
    NotFound(CardId),
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

pub use virgil_card::lifecycle::MAX_ACTIVE_CARDS;

/// Who signed a revocation request, as the HTTP request says.
#[derive(Clone, Debug)]
pub enum RevokedBy {
    /// The application: these are its registered keys.
    Application(Vec<PublicKey>),
    /// The owner: the card whose key signed.
    Owner(CardId),
}

const COLUMNS: &str = "id, snapshot, signatures, published_at, superseded_by, revoked_at, revocation_reason, activates_at, revocation_record";

/// Cards of one owner (`$1` app, `$2` identity) that are active or pending now.
const CURRENT_OF_OWNER: &str =
    "app_id = $1 AND identity = $2 AND superseded_by IS NULL AND revoked_at IS NULL";

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

/// The lock every change to `owner`'s cards takes, so that two first cards, a reset and
/// a revocation of one owner never interleave.
fn owner_lock(owner: &CardIdentity) -> String {
    format!("cards/{}/{}", owner.app_id, owner.identity)
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The card store.
#[derive(Clone, Debug)]
pub struct CardStore {
    database: Database,
    pool: AnyPool,
    resets: ResetPolicy,
}

impl CardStore {
    /// Connects to `url` (`sqlite://…?mode=rwc` creates the file; `postgres://…`) and
    /// creates the schema if it is missing.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let database = Database::connect(url).await?;
        let store = Self {
            pool: database.pool.clone(),
            database,
            resets: ResetPolicy::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// How long a reset card stays pending (cancellable by the owner's active cards)
    /// before it becomes active and revokes every other card of the owner, in seconds;
    /// also the cooldown after a cancelled reset, unless
    /// [`CardStore::with_reset_cooldown`] sets another. Default 0 (at once, as in the
    /// demo); `virgil init` writes a day, as docs/deployment.md recommends.
    pub fn with_reset_delay(mut self, seconds: u64) -> Self {
        self.resets = ResetPolicy {
            delay: seconds,
            cooldown: seconds,
        };
        self
    }

    /// How long after a cancelled reset no new reset of the owner may start, in seconds.
    pub fn with_reset_cooldown(mut self, seconds: u64) -> Self {
        self.resets.cooldown = seconds;
        self
    }

    /// The reset rules in force.
    pub fn reset_policy(&self) -> ResetPolicy {
        self.resets
    }

    /// How the storage has been doing (503s, health, metrics).
    pub fn health(&self) -> &StorageHealth {
        &self.database.health
    }

    /// Whether the database answers a trivial query now (for `/v1/health`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
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
            Some(old @ (1..=3)) => {
                // Version 4 only added a table, which the statements above created.
                let from_1 = if old == 1 { &schema::FROM_1[..] } else { &[] };
                let from_2 = if old <= 2 { &schema::FROM_2[..] } else { &[] };
                for statement in from_1.iter().chain(from_2) {
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
        self.database.commit(tx).await?;
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

    /// The cards of `owner` that are active or pending, read in `tx`.
    async fn current_cards(
        tx: &mut Tx,
        owner: &CardIdentity,
    ) -> Result<Vec<(Card, CardStatus)>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cards WHERE {CURRENT_OF_OWNER} ORDER BY published_at, id"
        ))
        .bind(&owner.app_id)
        .bind(&owner.identity)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| Self::decode(row).map(|stored| (stored.card, stored.status)))
        .collect()
    }

    /// Everything the card rules need to decide on `card`, read in `tx` (which holds
    /// the owner's lock).
    async fn identity_state(tx: &mut Tx, card: &Card) -> Result<IdentityState, StoreError> {
        let owner = card.owner();
        let cards = Self::current_cards(tx, &owner).await?;
        let previous = match card.content().previous_card_id {
            Some(previous) => sqlx::query(&format!(
                "SELECT {COLUMNS} FROM cards WHERE id = $1 AND app_id = $2"
            ))
            .bind(previous.to_string())
            .bind(&owner.app_id)
            .fetch_optional(&mut **tx)
            .await?
            .as_ref()
            .map(Self::decode)
            .transpose()?
            .map(|stored| (stored.card, stored.status)),
            None => None,
        };
        // A cancelled reset: a reset card revoked while it was pending (activation
        // clears `activates_at`, so only cancelled ones keep it).
        let last_cancelled_reset: Option<i64> = sqlx::query(
            "SELECT MAX(revoked_at) AS at FROM cards WHERE app_id = $1 AND identity = $2 \
             AND activates_at IS NOT NULL AND revoked_at IS NOT NULL",
        )
        .bind(&owner.app_id)
        .bind(&owner.identity)
        .fetch_one(&mut **tx)
        .await?
        .try_get("at")?;
        Ok(IdentityState {
            cards,
            previous,
            last_cancelled_reset: last_cancelled_reset.and_then(|at| u64::try_from(at).ok()),
        })
    }

    /// Stores a card (already verified and countersigned by the caller), as the card
    /// rules decide ([`lifecycle::admit`]): publishing the same card again, or another
    /// card for a key that has an active card of the owner, returns the stored one; a
    /// card of an owner with active cards must be linked from one of them; a
    /// replacement supersedes its `previous_card_id`; a reset card is pending for the
    /// reset delay, or active at once revoking the owner's other cards. The owner's
    /// cards are read, and the decision carried out, in one transaction under the
    /// owner's lock.
    pub async fn publish(&self, card: &Card, now: u64) -> Result<Published, StoreError> {
        self.settle_resets(now).await?;
        let id = card.id().to_string();
        let mut tx = self.database.begin_write().await?;
        self.database
            .lock_key(&mut tx, &owner_lock(&card.owner()))
            .await?;
        if let Some(existing) = self
            .read_in(&mut tx, &card.content().app_id, card.id())
            .await?
        {
            return Ok(Published::Existing(existing));
        }
        let state = Self::identity_state(&mut tx, card).await?;
        let (status, activates_at) = match lifecycle::admit(&state, card, now, self.resets)? {
            Admission::SameKey(existing) => {
                let stored = self
                    .read_in(&mut tx, &card.content().app_id, &existing)
                    .await?
                    .ok_or(StoreError::NotFound(existing))?;
                return Ok(Published::Existing(stored));
            }
            Admission::Active { supersedes } => {
                if let Some(previous) = supersedes {
                    // Conditional: of two concurrent replacements one fails here.
                    let replaced = sqlx::query(
                        "UPDATE cards SET superseded_by = $1 WHERE id = $2 AND superseded_by IS NULL AND revoked_at IS NULL",
                    )
                    .bind(&id)
                    .bind(previous.to_string())
                    .execute(&mut *tx)
                    .await?;
                    if replaced.rows_affected() != 1 {
                        return Err(Refusal::PreviousNotActive(previous).into());
                    }
                }
                (CardStatus::Active, None)
            }
            Admission::PendingReset { activates_at } => {
                (CardStatus::Pending { activates_at }, Some(activates_at))
            }
            Admission::ActiveReset { revokes } => {
                Self::revoke_for_reset(&mut tx, card, &revokes, now).await?;
                (CardStatus::Active, None)
            }
            other => {
                return Err(StoreError::Damaged {
                    id,
                    reason: format!("this store cannot carry out {other:?}"),
                });
            }
        };
        let signatures =
            serde_json::to_string(&card.to_json().signatures).map_err(|e| StoreError::Damaged {
                id: id.clone(),
                reason: e.to_string(),
            })?;
        let content = card.content();
        sqlx::query(
            "INSERT INTO cards (id, app_id, identity, identity_type, snapshot, signatures, created_at, published_at, previous_card_id, activates_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        .bind(activates_at.map(to_i64))
        .execute(&mut *tx)
        .await?;
        Self::mark_changed(&mut tx, &card.owner()).await?;
        self.database.commit(tx).await?;
        Ok(Published::Created(StoredCard {
            card: card.clone(),
            published_at: now,
            status,
            revocation: None,
        }))
    }

    /// Revokes `revokes` (reason reset, as of `at`), the record naming `reset`.
    async fn revoke_for_reset(
        tx: &mut Tx,
        reset: &Card,
        revokes: &[CardId],
        at: u64,
    ) -> Result<(), StoreError> {
        let record = record_json(&RevocationRecord::Reset {
            card: reset.to_json(),
        })?;
        for id in revokes {
            sqlx::query(
                "UPDATE cards SET revoked_at = $1, revocation_reason = $2, revocation_record = $3 WHERE id = $4 AND revoked_at IS NULL",
            )
            .bind(to_i64(at))
            .bind(reason_text(RevocationReason::Reset))
            .bind(&record)
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Activates the pending reset cards whose delay ended by `now`: each revokes the
    /// cards the rules say it replaces ([`lifecycle::revoked_by_reset`]), as of its
    /// activation time. Every request runs it first, so no background job is needed and
    /// every replica sees the same state; it is idempotent and safe to run concurrently.
    /// Returns how many resets it activated.
    pub async fn settle_resets(&self, now: u64) -> Result<usize, StoreError> {
        let due = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cards WHERE activates_at IS NOT NULL AND activates_at <= $1 AND revoked_at IS NULL"
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
            let mut tx = self.database.begin_write().await?;
            self.database
                .lock_key(&mut tx, &owner_lock(&stored.card.owner()))
                .await?;
            let activated = sqlx::query(
                "UPDATE cards SET activates_at = NULL WHERE id = $1 AND activates_at IS NOT NULL AND revoked_at IS NULL",
            )
            .bind(stored.card.id().to_string())
            .execute(&mut *tx)
            .await?;
            if activated.rows_affected() == 1 {
                let state = Self::identity_state(&mut tx, &stored.card).await?;
                let revokes = lifecycle::revoked_by_reset(&state, &stored.card);
                Self::revoke_for_reset(&mut tx, &stored.card, &revokes, activates_at).await?;
                Self::mark_changed(&mut tx, &stored.card.owner()).await?;
                settled += 1;
            }
            self.database.commit(tx).await?;
        }
        Ok(settled)
    }

    /// Any card of application `app_id` by id, whatever its status.
    pub async fn get(&self, app_id: &str, id: &CardId) -> Result<Option<StoredCard>, StoreError> {
        self.settle_resets(virgil_api::unix_now()).await?;
        self.read(app_id, id).await
    }

    /// [`CardStore::get`] for callers that settled resets already.
    pub(crate) async fn read(
        &self,
        app_id: &str,
        id: &CardId,
    ) -> Result<Option<StoredCard>, StoreError> {
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

    /// The cards of application `app_id` among `ids`, by id (one query per 256 ids);
    /// an id the database does not have is missing from the map.
    pub(crate) async fn read_many(
        &self,
        app_id: &str,
        ids: &[CardId],
    ) -> Result<std::collections::HashMap<CardId, StoredCard>, StoreError> {
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(256) {
            // By primary key alone: with `app_id = ?` beside it, SQLite's planner takes
            // the (app_id, identity) index and scans every card of the application.
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 1)).collect();
            let sql = format!(
                "SELECT app_id, {COLUMNS} FROM cards WHERE id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                let row_app: String = row.try_get("app_id")?;
                if row_app == app_id {
                    let stored = Self::decode(&row)?;
                    found.insert(*stored.card.id(), stored);
                }
            }
        }
        Ok(found)
    }

    /// [`CardStore::read`] inside a transaction.
    async fn read_in(
        &self,
        tx: &mut Tx,
        app_id: &str,
        id: &CardId,
    ) -> Result<Option<StoredCard>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cards WHERE id = $1 AND app_id = $2"
        ))
        .bind(id.to_string())
        .bind(app_id)
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(Self::decode)
        .transpose()
    }

    /// Every card of application `app_id` for any of `identities` (whatever its
    /// identity type: [`CardIdentity`]) that is active or pending, ordered by identity
    /// then publication time.
    pub async fn search(
        &self,
        app_id: &str,
        identities: &[String],
    ) -> Result<Vec<StoredCard>, StoreError> {
        if identities.is_empty() {
            return Ok(Vec::new());
        }
        self.settle_resets(virgil_api::unix_now()).await?;
        let placeholders: Vec<String> = (0..identities.len())
            .map(|i| format!("${}", 2 + i))
            .collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM cards WHERE app_id = $1 AND identity IN ({}) \
             AND superseded_by IS NULL AND revoked_at IS NULL ORDER BY identity, published_at, id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(app_id);
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

    /// Revokes card `id` of application `app_id` with `request`, signed with
    /// `signature` by `by`, if the card rules allow it
    /// ([`lifecycle::authorize_revocation`]: the application's key, the card's own, or
    /// that of another active card of its owner); the signed record is stored and
    /// served with the card. Read, decided and written in one transaction under the
    /// owner's lock.
    pub async fn revoke(
        &self,
        app_id: &str,
        id: &CardId,
        request: &RevocationRequest,
        signature: &Signature,
        by: &RevokedBy,
        at: u64,
    ) -> Result<StoredCard, StoreError> {
        self.settle_resets(at).await?;
        let mut tx = self.database.begin_write().await?;
        let target = self
            .read_in(&mut tx, app_id, id)
            .await?
            .ok_or(StoreError::NotFound(*id))?;
        self.database
            .lock_key(&mut tx, &owner_lock(&target.card.owner()))
            .await?;
        // Read again under the lock: the status may have changed meanwhile.
        let target = self
            .read_in(&mut tx, app_id, id)
            .await?
            .ok_or(StoreError::NotFound(*id))?;
        let signer = match by {
            RevokedBy::Application(_) => None,
            RevokedBy::Owner(signer) if signer == id => Some(target.clone()),
            RevokedBy::Owner(signer) => Some(
                self.read_in(&mut tx, app_id, signer)
                    .await?
                    .ok_or(RevocationRefusal::NotOwner(*signer))?,
            ),
        };
        let revoker = match (by, &signer) {
            (RevokedBy::Application(keys), _) => Revoker::Application(keys),
            (RevokedBy::Owner(_), Some(signer)) => Revoker::Owner(&signer.card, &signer.status),
            (RevokedBy::Owner(signer), None) => {
                return Err(RevocationRefusal::NotOwner(*signer).into());
            }
        };
        let record = lifecycle::authorize_revocation(
            (&target.card, &target.status),
            request,
            signature,
            revoker,
        )?;
        sqlx::query(
            "UPDATE cards SET revoked_at = $1, revocation_reason = $2, revocation_record = $3 WHERE id = $4 AND app_id = $5 AND revoked_at IS NULL",
        )
        .bind(to_i64(at))
        .bind(reason_text(request.reason))
        .bind(record_json(&record)?)
        .bind(id.to_string())
        .bind(app_id)
        .execute(&mut *tx)
        .await?;
        let stored = self
            .read_in(&mut tx, app_id, id)
            .await?
            .ok_or(StoreError::NotFound(*id))?;
        Self::mark_changed(&mut tx, &target.card.owner()).await?;
        self.database.commit(tx).await?;
        Ok(stored)
    }

    /// Records, in the transaction that changes them, that `owner`'s directory entry
    /// changed: the next epoch publishes it. Every write to a card goes through here.
    async fn mark_changed(tx: &mut Tx, owner: &CardIdentity) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO directory_pending (app_id, identity, change) VALUES ($1, $2, 1)
             ON CONFLICT (app_id, identity) DO UPDATE SET change = directory_pending.change + 1",
        )
        .bind(&owner.app_id)
        .bind(&owner.identity)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Up to `limit` owners whose directory entry changed since it was last published,
    /// each with its change count.
    pub async fn pending_entries(
        &self,
        limit: usize,
    ) -> Result<Vec<(CardIdentity, i64)>, StoreError> {
        sqlx::query("SELECT app_id, identity, change FROM directory_pending ORDER BY app_id, identity LIMIT $1")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let app_id: String = row.try_get("app_id")?;
                let identity: String = row.try_get("identity")?;
                Ok((CardIdentity { app_id, identity }, row.try_get("change")?))
            })
            .collect()
    }

    /// Whether any change, of any owner, is stored but not published yet.
    pub async fn anything_pending(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM directory_pending LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// The latest signed checkpoint (`None` before the first epoch) and whether a change
    /// to any of `owners` is stored but not yet published, in one statement (so one
    /// snapshot of the database: when no change is pending, the checkpoint is of an
    /// epoch that has every change of `owners` stored before the call, since an epoch's
    /// checkpoint is stored in the transaction that clears the changes it published).
    pub async fn checkpoint_and_pending(
        &self,
        owners: &[CardIdentity],
    ) -> Result<(Option<SignedCheckpoint>, bool), StoreError> {
        let mut apps: Vec<&str> = owners.iter().map(|o| o.app_id.as_str()).collect();
        apps.sort_unstable();
        apps.dedup();
        let mut clauses = Vec::with_capacity(apps.len());
        let mut binds: Vec<&str> = Vec::with_capacity(owners.len() + apps.len());
        for app_id in apps {
            binds.push(app_id);
            let app = binds.len();
            let mut placeholders = Vec::new();
            for owner in owners.iter().filter(|o| o.app_id == app_id) {
                binds.push(&owner.identity);
                placeholders.push(format!("${}", binds.len()));
            }
            clauses.push(format!(
                "(app_id = ${app} AND identity IN ({}))",
                placeholders.join(", ")
            ));
        }
        let pending = if clauses.is_empty() {
            "0".to_owned()
        } else {
            format!(
                "CASE WHEN EXISTS (SELECT 1 FROM directory_pending WHERE {}) THEN 1 ELSE 0 END",
                clauses.join(" OR ")
            )
        };
        let sql = format!(
            "SELECT CAST({pending} AS BIGINT) AS pending, latest.signed AS signed \
             FROM (SELECT 1 AS one) AS always \
             LEFT JOIN (SELECT signed FROM directory_checkpoints ORDER BY epoch DESC LIMIT 1) AS latest ON 1 = 1"
        );
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = query.bind(bind);
        }
        let row = query.fetch_one(&self.pool).await?;
        let pending: i64 = row.try_get("pending")?;
        let signed: Option<Vec<u8>> = row.try_get("signed")?;
        let checkpoint = signed
            .map(|signed| {
                SignedCheckpoint::from_bytes(&signed).map_err(|e| StoreError::Damaged {
                    id: "directory checkpoint".to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        Ok((checkpoint, pending != 0))
    }

    /// `owner`'s directory entry as the database has it now: its active and pending
    /// cards.
    pub async fn entry_of(&self, owner: &CardIdentity) -> Result<DirectoryEntry, StoreError> {
        let mut tx = self.pool.begin().await?;
        let cards = Self::current_cards(&mut tx, owner).await?;
        tx.commit().await?;
        Ok(DirectoryEntry::of(
            cards.iter().map(|(card, status)| (card.id(), status)),
        ))
    }

    /// Forgets the pending changes that were published (an owner changed again since
    /// keeps its row, with a higher count), and stores the epoch's signed checkpoint, in
    /// one transaction.
    pub async fn published(
        &self,
        done: &[(CardIdentity, i64)],
        checkpoint: Option<&SignedCheckpoint>,
    ) -> Result<(), StoreError> {
        let mut tx = self.database.begin_write().await?;
        if let Some(checkpoint) = checkpoint {
            Self::store_checkpoint(&mut tx, checkpoint).await?;
        }
        for (owner, change) in done {
            sqlx::query(
                "DELETE FROM directory_pending WHERE app_id = $1 AND identity = $2 AND change = $3",
            )
            .bind(&owner.app_id)
            .bind(&owner.identity)
            .bind(change)
            .execute(&mut *tx)
            .await?;
        }
        self.database.commit(tx).await?;
        Ok(())
    }

    async fn store_checkpoint(
        tx: &mut Tx,
        checkpoint: &SignedCheckpoint,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO directory_checkpoints (epoch, signed) VALUES ($1, $2) ON CONFLICT (epoch) DO NOTHING",
        )
        .bind(to_i64(checkpoint.checkpoint.epoch))
        .bind(checkpoint.to_bytes())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Stores one epoch's signed checkpoint (kept if one is stored already).
    pub async fn add_checkpoint(&self, checkpoint: &SignedCheckpoint) -> Result<(), StoreError> {
        self.published(&[], Some(checkpoint)).await
    }

    /// The signed checkpoint of `epoch`, or of the latest epoch.
    pub async fn checkpoint(
        &self,
        epoch: Option<u64>,
    ) -> Result<Option<SignedCheckpoint>, StoreError> {
        let row =
            match epoch {
                Some(epoch) => {
                    sqlx::query("SELECT epoch, signed FROM directory_checkpoints WHERE epoch = $1")
                        .bind(to_i64(epoch))
                        .fetch_optional(&self.pool)
                        .await?
                }
                None => sqlx::query(
                    "SELECT epoch, signed FROM directory_checkpoints ORDER BY epoch DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?,
            };
        row.map(|row| {
            let signed: Vec<u8> = row.try_get("signed")?;
            SignedCheckpoint::from_bytes(&signed).map_err(|e| StoreError::Damaged {
                id: "directory checkpoint".to_owned(),
                reason: e.to_string(),
            })
        })
        .transpose()
    }

    /// The database, shared with the key directory.
    pub fn database(&self) -> &Database {
        &self.database
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
