//! akd's storage trait ([`akd::storage::Database`]) over the servers' SQL databases
//! ([`virgil_server::database::Database`]: SQLite or PostgreSQL through sqlx's `Any`
//! driver), so the directory lives in the cards service's own database, survives
//! restarts and `kill -9`, and never needs the whole tree in memory.
//!
//! Two tables:
//!
//! - `directory_records (id, record)`: the tree's nodes and its one `Azks` record (the
//!   latest epoch), keyed by akd's own binary id, each stored as a version byte and the
//!   record's bincode encoding;
//! - `directory_values (label, epoch, version, value, node_label, node_label_len)`: every
//!   value each label ever had, one row per (label, epoch).
//!
//! akd writes each publish as one batch at the end ([`DbSetState::TransactionCommit`],
//! the `Azks` record last); [`SqlStorage`] writes every batch in one SQL transaction, so
//! an epoch is in the database entirely or not at all.

use akd::errors::StorageError;
use akd::storage::types::{
    DbRecord, KeyData, StorageType, ValueState, ValueStateKey, ValueStateRetrievalFlag,
};
use akd::storage::{Database as AkdDatabase, DbSetState, Storable};
use akd::{AkdLabel, AkdValue, NodeLabel};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use virgil_server::database::Database;

/// The version byte in front of every stored record's encoding.
const RECORD_VERSION: u8 = 1;
/// The largest stored record accepted when read back (a tree node is ~200 bytes).
const MAX_RECORD_LEN: usize = 4096;
/// Rows per multi-row statement: far below SQLite's and PostgreSQL's parameter limits.
const ROWS_PER_STATEMENT: usize = 500;

/// The tables, created on first start. `bytes` is the backend's byte-string type.
pub(crate) fn schema(bytes: &str) -> [String; 3] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS directory_records (
                id {bytes} PRIMARY KEY,
                record {bytes} NOT NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS directory_values (
                label {bytes} NOT NULL,
                epoch BIGINT NOT NULL,
                version BIGINT NOT NULL,
                value {bytes} NOT NULL,
                node_label {bytes} NOT NULL,
                node_label_len BIGINT NOT NULL,
                PRIMARY KEY (label, epoch)
            )"
        ),
        "CREATE INDEX IF NOT EXISTS directory_values_by_version
            ON directory_values (label, version)"
            .to_owned(),
    ]
}

/// akd's storage over one SQL database.
#[derive(Clone, Debug)]
pub struct SqlStorage {
    database: Database,
}

impl SqlStorage {
    /// The directory's storage in `database`; creates its tables if they are missing.
    pub async fn open(database: Database) -> Result<Self, sqlx::Error> {
        let mut tx = database.begin_schema().await?;
        for statement in schema(database.backend.bytes_type()) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        database.commit(tx).await?;
        Ok(Self { database })
    }

    /// The database it is stored in.
    pub fn database(&self) -> &Database {
        &self.database
    }
}

fn to_i64(value: u64) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::Other(format!("{value} does not fit a BIGINT")))
}

fn to_u64(value: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| damaged(format!("negative number {value}")))
}

fn damaged(reason: impl std::fmt::Display) -> StorageError {
    StorageError::Other(format!("a stored directory record is damaged: {reason}"))
}

fn sql(error: sqlx::Error) -> StorageError {
    StorageError::Connection(error.to_string())
}

fn encode(record: &DbRecord) -> Result<Vec<u8>, StorageError> {
    let mut bytes = vec![RECORD_VERSION];
    let body = bincode::serde::encode_to_vec(record, bincode::config::standard())
        .map_err(|e| StorageError::Other(format!("cannot encode a directory record: {e}")))?;
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

fn decode(bytes: &[u8]) -> Result<DbRecord, StorageError> {
    let Some((&RECORD_VERSION, body)) = bytes.split_first() else {
        return Err(damaged("unknown record version"));
    };
    if body.len() > MAX_RECORD_LEN {
        return Err(damaged("record too long"));
    }
    let config = bincode::config::standard().with_limit::<MAX_RECORD_LEN>();
    let (record, read) =
        bincode::serde::decode_from_slice::<DbRecord, _>(body, config).map_err(damaged)?;
    if read != body.len() {
        return Err(damaged("trailing bytes"));
    }
    Ok(record)
}

/// `$first, $first+1, …` for `count` parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn value_state(row: &AnyRow) -> Result<ValueState, StorageError> {
    let label: Vec<u8> = row.try_get("label").map_err(sql)?;
    let node_label: Vec<u8> = row.try_get("node_label").map_err(sql)?;
    let node_label: [u8; 32] = node_label
        .try_into()
        .map_err(|_| damaged("a node label is not 32 bytes"))?;
    let node_label_len = u32::try_from(row.try_get::<i64, _>("node_label_len").map_err(sql)?)
        .map_err(|_| damaged("node label length"))?;
    Ok(ValueState {
        value: AkdValue(row.try_get("value").map_err(sql)?),
        version: to_u64(row.try_get("version").map_err(sql)?)?,
        label: NodeLabel::new(node_label, node_label_len),
        epoch: to_u64(row.try_get("epoch").map_err(sql)?)?,
        username: AkdLabel(label),
    })
}

const VALUE_COLUMNS: &str = "label, epoch, version, value, node_label, node_label_len";

impl SqlStorage {
    async fn write(&self, records: Vec<DbRecord>) -> Result<(), StorageError> {
        let mut nodes = Vec::new();
        let mut values = Vec::new();
        for record in records {
            match record {
                DbRecord::ValueState(state) => values.push(state),
                other => nodes.push((other.get_full_binary_id(), encode(&other)?)),
            }
        }
        let mut tx = self.database.begin_write().await.map_err(sql)?;
        for chunk in nodes.chunks(ROWS_PER_STATEMENT) {
            let rows = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let statement = format!(
                "INSERT INTO directory_records (id, record) VALUES {rows}
                 ON CONFLICT (id) DO UPDATE SET record = excluded.record"
            );
            let mut query = sqlx::query(&statement);
            for (id, record) in chunk {
                query = query.bind(id.clone()).bind(record.clone());
            }
            query.execute(&mut *tx).await.map_err(sql)?;
        }
        for chunk in values.chunks(ROWS_PER_STATEMENT) {
            let rows = (0..chunk.len())
                .map(|i| format!("({})", placeholders(6 * i + 1, 6)))
                .collect::<Vec<_>>()
                .join(", ");
            let statement = format!(
                "INSERT INTO directory_values ({VALUE_COLUMNS}) VALUES {rows}
                 ON CONFLICT (label, epoch) DO UPDATE SET version = excluded.version,
                 value = excluded.value, node_label = excluded.node_label,
                 node_label_len = excluded.node_label_len"
            );
            let mut query = sqlx::query(&statement);
            for state in chunk {
                query = query
                    .bind(state.username.0.clone())
                    .bind(to_i64(state.epoch)?)
                    .bind(to_i64(state.version)?)
                    .bind(state.value.0.clone())
                    .bind(state.label.label_val.to_vec())
                    .bind(i64::from(state.label.label_len));
            }
            query.execute(&mut *tx).await.map_err(sql)?;
        }
        self.database.commit(tx).await.map_err(sql)
    }

    async fn records(&self, ids: &[Vec<u8>]) -> Result<Vec<DbRecord>, StorageError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let statement = format!(
                "SELECT record FROM directory_records WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&statement);
            for id in chunk {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(&self.database.pool).await.map_err(sql)? {
                let bytes: Vec<u8> = row.try_get("record").map_err(sql)?;
                found.push(decode(&bytes)?);
            }
        }
        Ok(found)
    }

    async fn value_states(&self, keys: &[ValueStateKey]) -> Result<Vec<DbRecord>, StorageError> {
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            let row = sqlx::query(&format!(
                "SELECT {VALUE_COLUMNS} FROM directory_values WHERE label = $1 AND epoch = $2"
            ))
            .bind(key.0.clone())
            .bind(to_i64(key.1)?)
            .fetch_optional(&self.database.pool)
            .await
            .map_err(sql)?;
            if let Some(row) = row {
                found.push(DbRecord::ValueState(value_state(&row)?));
            }
        }
        Ok(found)
    }

    /// The states of `labels` that `flag` selects, at most one per label.
    async fn states(
        &self,
        labels: &[AkdLabel],
        flag: ValueStateRetrievalFlag,
    ) -> Result<HashMap<AkdLabel, ValueState>, StorageError> {
        let mut chosen: HashMap<AkdLabel, ValueState> = HashMap::new();
        for chunk in labels.chunks(ROWS_PER_STATEMENT) {
            let n = chunk.len();
            let (condition, parameter) = match flag {
                ValueStateRetrievalFlag::SpecificVersion(version) => {
                    ("AND version = $", Some(version))
                }
                ValueStateRetrievalFlag::SpecificEpoch(epoch) => ("AND epoch = $", Some(epoch)),
                ValueStateRetrievalFlag::LeqEpoch(epoch) => ("AND epoch <= $", Some(epoch)),
                ValueStateRetrievalFlag::MaxEpoch | ValueStateRetrievalFlag::MinEpoch => ("", None),
            };
            let condition = match parameter {
                Some(_) => format!("{condition}{}", n + 1),
                None => String::new(),
            };
            let statement = format!(
                "SELECT {VALUE_COLUMNS} FROM directory_values WHERE label IN ({}) {condition}",
                placeholders(1, n)
            );
            let mut query = sqlx::query(&statement);
            for label in chunk {
                query = query.bind(label.0.clone());
            }
            if let Some(parameter) = parameter {
                query = query.bind(to_i64(parameter)?);
            }
            for row in query.fetch_all(&self.database.pool).await.map_err(sql)? {
                let state = value_state(&row)?;
                let keep_newer = !matches!(flag, ValueStateRetrievalFlag::MinEpoch);
                match chosen.get(&state.username) {
                    Some(held) if (state.epoch > held.epoch) != keep_newer => {}
                    _ => {
                        chosen.insert(state.username.clone(), state);
                    }
                }
            }
        }
        Ok(chosen)
    }
}

#[async_trait::async_trait]
impl AkdDatabase for SqlStorage {
    async fn set(&self, record: DbRecord) -> Result<(), StorageError> {
        self.write(vec![record]).await
    }

    async fn batch_set(
        &self,
        records: Vec<DbRecord>,
        _state: DbSetState,
    ) -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        self.write(records).await
    }

    async fn get<St: Storable>(&self, id: &St::StorageKey) -> Result<DbRecord, StorageError> {
        self.batch_get::<St>(std::slice::from_ref(id))
            .await?
            .pop()
            .ok_or_else(|| StorageError::NotFound(format!("{:?} {id:?}", St::data_type())))
    }

    async fn batch_get<St: Storable>(
        &self,
        ids: &[St::StorageKey],
    ) -> Result<Vec<DbRecord>, StorageError> {
        let binary: Vec<Vec<u8>> = ids.iter().map(St::get_full_binary_key_id).collect();
        if St::data_type() == StorageType::ValueState {
            let keys = binary
                .iter()
                .map(|id| ValueState::key_from_full_binary(id).map_err(StorageError::Other))
                .collect::<Result<Vec<_>, _>>()?;
            return self.value_states(&keys).await;
        }
        self.records(&binary).await
    }

    async fn get_user_data(&self, username: &AkdLabel) -> Result<KeyData, StorageError> {
        let rows = sqlx::query(&format!(
            "SELECT {VALUE_COLUMNS} FROM directory_values WHERE label = $1 ORDER BY epoch"
        ))
        .bind(username.0.clone())
        .fetch_all(&self.database.pool)
        .await
        .map_err(sql)?;
        if rows.is_empty() {
            return Err(StorageError::NotFound(format!("ValueState {username:?}")));
        }
        let states = rows.iter().map(value_state).collect::<Result<_, _>>()?;
        Ok(KeyData { states })
    }

    async fn get_user_state(
        &self,
        username: &AkdLabel,
        flag: ValueStateRetrievalFlag,
    ) -> Result<ValueState, StorageError> {
        self.states(std::slice::from_ref(username), flag)
            .await?
            .remove(username)
            .ok_or_else(|| StorageError::NotFound(format!("ValueState {username:?}")))
    }

    async fn get_user_state_versions(
        &self,
        usernames: &[AkdLabel],
        flag: ValueStateRetrievalFlag,
    ) -> Result<HashMap<AkdLabel, (u64, AkdValue)>, StorageError> {
        Ok(self
            .states(usernames, flag)
            .await?
            .into_iter()
            .map(|(label, state)| (label, (state.version, state.value)))
            .collect())
    }
}
