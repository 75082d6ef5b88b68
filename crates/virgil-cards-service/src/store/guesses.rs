//! Each identity's key-backup password evaluations ([`crate::backup::GuessState`]),
//! counted in the service's database so that restarts and replicas share the count.

use super::{CardStore, StoreError, to_i64};
use crate::backup::{GuessPolicy, GuessState};
use sqlx::Row as _;
use virgil_card::CardIdentity;

fn guess_lock(owner: &CardIdentity) -> String {
    format!("backup-guesses/{}/{}", owner.app_id, owner.identity)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

impl CardStore {
    /// `owner`'s evaluations so far (none counted).
    pub async fn guesses(&self, owner: &CardIdentity) -> Result<GuessState, StoreError> {
        let row = sqlx::query(
            "SELECT window_start, used, total, last_at, next_at FROM backup_guesses WHERE app_id = $1 AND identity = $2",
        )
        .bind(&owner.app_id)
        .bind(&owner.identity)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| read(&row))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Counts one evaluation for `owner` at `now`, in one transaction under the owner's
    /// lock, if `policy` allows it: the new state, or `Err(when)` the next one may be.
    pub async fn charge_guess(
        &self,
        owner: &CardIdentity,
        policy: &GuessPolicy,
        now: u64,
    ) -> Result<Result<GuessState, u64>, StoreError> {
        let mut tx = self.database.begin_write().await?;
        self.database.lock_key(&mut tx, &guess_lock(owner)).await?;
        let row = sqlx::query(
            "SELECT window_start, used, total, last_at, next_at FROM backup_guesses WHERE app_id = $1 AND identity = $2",
        )
        .bind(&owner.app_id)
        .bind(&owner.identity)
        .fetch_optional(&mut *tx)
        .await?;
        let existed = row.is_some();
        let state = row.map(|row| read(&row)).transpose()?.unwrap_or_default();
        let next = match state.charge(policy, now) {
            Ok(next) => next,
            Err(retry_at) => return Ok(Err(retry_at)),
        };
        let query = if existed {
            "UPDATE backup_guesses SET window_start = $3, used = $4, total = $5, last_at = $6, next_at = $7 WHERE app_id = $1 AND identity = $2"
        } else {
            "INSERT INTO backup_guesses (app_id, identity, window_start, used, total, last_at, next_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        };
        sqlx::query(query)
            .bind(&owner.app_id)
            .bind(&owner.identity)
            .bind(to_i64(next.window_start))
            .bind(to_i64(next.used))
            .bind(to_i64(next.total))
            .bind(to_i64(next.last_at))
            .bind(to_i64(next.next_at))
            .execute(&mut *tx)
            .await?;
        self.database.commit(tx).await?;
        Ok(Ok(next))
    }
}

fn read(row: &sqlx::any::AnyRow) -> Result<GuessState, StoreError> {
    Ok(GuessState {
        window_start: to_u64(row.try_get("window_start")?),
        used: to_u64(row.try_get("used")?),
        total: to_u64(row.try_get("total")?),
        last_at: to_u64(row.try_get("last_at")?),
        next_at: to_u64(row.try_get("next_at")?),
    })
}
