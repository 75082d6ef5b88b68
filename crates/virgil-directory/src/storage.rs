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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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
    nodes: Arc<Mutex<NodeCache>>,
    /// For a snapshot's storage: the epoch every tree node it reads must have kept.
    bound: Option<Arc<EpochBound>>,
}

/// The epoch a snapshot answers at, which every tree node it reads is checked against.
///
/// akd stores each node with its state before the latest change beside it
/// (`TreeNodeWithPreviousValue`: the latest state, changed at its `last_epoch`, and the
/// one it replaced, valid until then), and a read at an epoch takes the previous state
/// whenever the latest is newer, without checking that the previous one is old enough.
/// Once two epochs after the snapshot's both changed a node, neither state is the one
/// at the snapshot's epoch: the read is refused, and the snapshot is stale from then on.
#[derive(Debug)]
pub(crate) struct EpochBound {
    epoch: u64,
    /// The latest epoch of a node refused (0: none yet).
    superseded_at: AtomicU64,
}

impl EpochBound {
    pub(crate) fn new(epoch: u64) -> Arc<Self> {
        Arc::new(Self {
            epoch,
            superseded_at: AtomicU64::new(0),
        })
    }

    /// The later epoch that replaced a node of this epoch, once one was read.
    pub(crate) fn superseded_at(&self) -> Option<u64> {
        match self.superseded_at.load(Ordering::SeqCst) {
            0 => None,
            epoch => Some(epoch),
        }
    }

    /// Refuses `records` when one is a tree node whose state at this epoch is gone.
    fn check(&self, records: &[DbRecord]) -> Result<(), StorageError> {
        for record in records {
            let DbRecord::TreeNode(node) = record else {
                continue;
            };
            let latest = node.latest_node.last_epoch;
            // A node made since (no previous state) was not in the snapshot's tree, and
            // akd reads it as absent at that epoch.
            let kept = latest <= self.epoch
                || node
                    .previous_node
                    .as_ref()
                    .is_none_or(|previous| previous.last_epoch <= self.epoch);
            if !kept {
                self.superseded_at.fetch_max(latest, Ordering::SeqCst);
                return Err(StorageError::Other(format!(
                    "a tree node was changed twice since epoch {} (last at epoch {latest})",
                    self.epoch
                )));
            }
        }
        Ok(())
    }
}

/// The tree nodes read and written through one [`SqlStorage`] (and its clones: the
/// publisher's storage manager and every snapshot's), kept as the database has them.
///
/// akd's own cache is per storage manager, and its publish empties its transaction
/// before it puts the new nodes into that cache, so a read meanwhile can put an older
/// node back. This one cannot hold an older node: a write replaces the nodes it wrote
/// after its commit and bumps the generation, and a read only keeps what it read if no
/// write (or emptying) happened since it started. Epochs another replica wrote are
/// noticed by [`SqlStorage::sync`], which empties it.
#[derive(Debug, Default)]
struct NodeCache {
    /// Bumped by every write and every emptying.
    generation: u64,
    /// The stored epoch the nodes were read at or after (`None`: unknown, and empty).
    epoch: Option<u64>,
    nodes: HashMap<Vec<u8>, DbRecord>,
    /// How many nodes it holds at most; when full, it is emptied.
    capacity: usize,
}

impl NodeCache {
    fn sync(&mut self, epoch: u64) {
        if self.epoch != Some(epoch) {
            self.empty(Some(epoch));
        }
    }

    fn empty(&mut self, epoch: Option<u64>) {
        self.nodes.clear();
        self.generation += 1;
        self.epoch = epoch;
    }

    /// After a write of `written` (with the root record of `epoch`, if any), committed
    /// or not (`ok`). Also after a failed commit, which may have happened: what was
    /// read before it is not kept.
    fn written(&mut self, epoch: Option<u64>, ok: bool, written: Vec<(Vec<u8>, DbRecord)>) {
        self.generation += 1;
        match epoch {
            // The cache was of the epoch before: every node it holds and this write
            // did not change is still current.
            Some(epoch) if ok && self.epoch == epoch.checked_sub(1) => self.epoch = Some(epoch),
            Some(epoch) => self.empty(ok.then_some(epoch)),
            None if !ok => self.empty(None),
            None => {}
        }
        if ok {
            for (id, record) in written {
                self.keep(id, record);
            }
        }
    }

    /// After a read of `records` that started at `generation`: kept unless a write or
    /// an emptying happened since (then they may be older than the database's).
    fn read(&mut self, generation: u64, records: &[DbRecord]) {
        if self.generation == generation {
            for record in records {
                self.keep(record.get_full_binary_id(), record.clone());
            }
        }
    }

    /// `label`'s newest state at or before `epoch`, when the cache knows it: it holds
    /// the label's newest state as of its own epoch, so that one answers for any
    /// `epoch` up to its own at which the state existed.
    fn state(&self, label: &AkdLabel, epoch: u64) -> Option<ValueState> {
        if self.epoch.is_none_or(|cached| epoch > cached) {
            return None;
        }
        match self.nodes.get(&state_key(label)) {
            Some(DbRecord::ValueState(state)) if state.epoch <= epoch => Some(state.clone()),
            _ => None,
        }
    }

    /// After a read of `label`'s newest state at or before `epoch`, started at
    /// `generation` and `cached_epoch`: kept when nothing was written since it started
    /// and it asked for every state up to the cache's epoch (then it is the newest).
    fn read_state(
        &mut self,
        generation: u64,
        cached_epoch: Option<u64>,
        epoch: u64,
        state: &ValueState,
    ) {
        if self.generation == generation
            && self.epoch == cached_epoch
            && cached_epoch.is_some_and(|cached| epoch >= cached)
        {
            self.keep(
                state_key(&state.username),
                DbRecord::ValueState(state.clone()),
            );
        }
    }

    fn keep(&mut self, id: Vec<u8>, record: DbRecord) {
        if self.capacity == 0 || matches!(record, DbRecord::Azks(_)) {
            return;
        }
        if let (DbRecord::ValueState(new), Some(DbRecord::ValueState(held))) =
            (&record, self.nodes.get(&id))
            && held.epoch > new.epoch
        {
            return;
        }
        if self.nodes.len() >= self.capacity && !self.nodes.contains_key(&id) {
            self.nodes.clear();
        }
        self.nodes.insert(id, record);
    }
}

/// Where the node cache keeps a label's newest state: apart from akd's ids, which
/// begin with a storage type byte (1, 2 or 4).
fn state_key(label: &AkdLabel) -> Vec<u8> {
    let mut key = Vec::with_capacity(label.0.len() + 1);
    key.push(0xff);
    key.extend_from_slice(&label.0);
    key
}

/// About how many bytes a cached tree node takes in memory: the record with its
/// previous state, its id, and the map's own room (measured, not `size_of` alone).
const NODE_BYTES: usize = 1024;

impl SqlStorage {
    /// The directory's storage in `database`; creates its tables if they are missing.
    pub async fn open(database: Database) -> Result<Self, sqlx::Error> {
        let mut tx = database.begin_schema().await?;
        for statement in schema(database.backend.bytes_type()) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        database.commit(tx).await?;
        Ok(Self {
            database,
            nodes: Arc::new(Mutex::new(NodeCache::default())),
            bound: None,
        })
    }

    /// The same storage (sharing its node cache), refusing every tree node that no
    /// longer has its state at `bound`'s epoch (for a snapshot of that epoch).
    pub(crate) fn bound_to(&self, bound: Arc<EpochBound>) -> Self {
        Self {
            bound: Some(bound),
            ..self.clone()
        }
    }

    /// The same storage, keeping at most about `bytes` of tree nodes in memory
    /// (shared by its clones; none by default).
    pub fn with_cache_bytes(self, bytes: usize) -> Self {
        self.cache().capacity = bytes / NODE_BYTES;
        self
    }

    /// Tells the node cache that the stored tree is at `epoch` (read past every cache):
    /// when the cache was filled at another epoch (another replica published), it is
    /// emptied. Call it before making proofs at `epoch`.
    pub fn sync(&self, epoch: u64) {
        self.cache().sync(epoch);
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, NodeCache> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
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
        let mut written = Vec::new();
        let mut epoch = None;
        for record in records {
            match record {
                DbRecord::ValueState(state) => {
                    written.push((
                        state_key(&state.username),
                        DbRecord::ValueState(state.clone()),
                    ));
                    values.push(state);
                }
                other => {
                    if let DbRecord::Azks(azks) = &other {
                        epoch = Some(azks.latest_epoch);
                    }
                    let id = other.get_full_binary_id();
                    nodes.push((id.clone(), encode(&other)?));
                    written.push((id, other));
                }
            }
        }
        let result = self.write_rows(&nodes, &values).await;
        self.cache().written(epoch, result.is_ok(), written);
        result
    }

    async fn write_rows(
        &self,
        nodes: &[(Vec<u8>, Vec<u8>)],
        values: &[ValueState],
    ) -> Result<(), StorageError> {
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
        let mut missing = Vec::with_capacity(ids.len());
        let generation = {
            let cache = self.cache();
            for id in ids {
                match cache.nodes.get(id) {
                    Some(record) => found.push(record.clone()),
                    None => missing.push(id.clone()),
                }
            }
            cache.generation
        };
        if missing.is_empty() {
            return Ok(found);
        }
        let read = self.read_records(&missing).await?;
        self.cache().read(generation, &read);
        found.extend(read);
        Ok(found)
    }

    async fn read_records(&self, ids: &[Vec<u8>]) -> Result<Vec<DbRecord>, StorageError> {
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
        let records = self.records(&binary).await?;
        if let Some(bound) = &self.bound {
            bound.check(&records)?;
        }
        Ok(records)
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
        // A lookup asks for the newest state at or before its epoch: the cache knows it
        // for every label read or written since its epoch began.
        let at_or_before = match flag {
            ValueStateRetrievalFlag::LeqEpoch(epoch) => Some(epoch),
            _ => None,
        };
        let (generation, cached_epoch) = {
            let cache = self.cache();
            if let Some(state) = at_or_before.and_then(|epoch| cache.state(username, epoch)) {
                return Ok(state);
            }
            (cache.generation, cache.epoch)
        };
        let state = self
            .states(std::slice::from_ref(username), flag)
            .await?
            .remove(username)
            .ok_or_else(|| StorageError::NotFound(format!("ValueState {username:?}")))?;
        if let Some(epoch) = at_or_before {
            self.cache()
                .read_state(generation, cached_epoch, epoch, &state);
        }
        Ok(state)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use akd::tree_node::{TreeNode, TreeNodeType, TreeNodeWithPreviousValue};

    fn node(epoch: u64) -> DbRecord {
        let label = NodeLabel::new([7; 32], 256);
        DbRecord::TreeNode(TreeNodeWithPreviousValue {
            label,
            latest_node: TreeNode {
                label,
                last_epoch: epoch,
                min_descendant_epoch: epoch,
                parent: NodeLabel::root(),
                node_type: TreeNodeType::Leaf,
                left_child: None,
                right_child: None,
                hash: akd::AzksValue([0; 32]),
            },
            previous_node: None,
        })
    }

    /// A node changed at `latest`, which replaced its state of `previous`.
    fn changed(previous: Option<u64>, latest: u64) -> DbRecord {
        let (DbRecord::TreeNode(mut record), Some(DbRecord::TreeNode(before))) =
            (node(latest), previous.map(node))
        else {
            return node(latest);
        };
        record.previous_node = Some(before.latest_node);
        DbRecord::TreeNode(record)
    }

    #[test]
    fn a_snapshot_takes_a_node_only_while_it_keeps_its_state_of_the_snapshots_epoch() {
        let bound = EpochBound::new(5);
        // Unchanged since, changed once since (its previous state is of epoch 5), or
        // made since (akd reads it as absent at epoch 5).
        for kept in [
            changed(None, 5),
            changed(Some(3), 5),
            changed(Some(4), 6),
            changed(None, 9),
        ] {
            bound.check(&[kept]).unwrap();
        }
        assert_eq!(bound.superseded_at(), None);
        // Changed twice since (its previous state is of epoch 6).
        bound
            .check(&[changed(Some(4), 6), changed(Some(6), 7)])
            .unwrap_err();
        assert_eq!(bound.superseded_at(), Some(7));
        bound.check(&[changed(Some(8), 9)]).unwrap_err();
        assert_eq!(bound.superseded_at(), Some(9));
    }

    fn state(epoch: u64) -> ValueState {
        ValueState {
            value: AkdValue(vec![epoch as u8]),
            version: epoch,
            label: NodeLabel::new([epoch as u8; 32], 256),
            epoch,
            username: AkdLabel(b"alice".to_vec()),
        }
    }

    fn wrote_state(cache: &mut NodeCache, epoch: u64) {
        let written = DbRecord::ValueState(state(epoch));
        cache.written(
            Some(epoch),
            true,
            vec![(state_key(&state(epoch).username), written)],
        );
    }

    #[test]
    fn a_labels_newest_state_answers_only_for_epochs_it_is_the_newest_at() {
        let alice = AkdLabel(b"alice".to_vec());
        let mut cache = cache();
        cache.sync(1);
        wrote_state(&mut cache, 2);
        // Of epoch 2: not the state at epoch 1, and epoch 3 is beyond what it knows.
        assert!(cache.state(&alice, 1).is_none());
        assert_eq!(cache.state(&alice, 2).unwrap().epoch, 2);
        assert!(cache.state(&alice, 3).is_none());
        // An epoch that did not change alice: still her newest state.
        cache.written(Some(3), true, vec![(node(3).get_full_binary_id(), node(3))]);
        assert_eq!(cache.state(&alice, 3).unwrap().epoch, 2);
        // Another replica's epoch: forgotten.
        cache.sync(5);
        assert!(cache.state(&alice, 5).is_none());
    }

    #[test]
    fn a_state_read_is_kept_only_when_it_is_the_newest() {
        let alice = AkdLabel(b"alice".to_vec());
        let mut cache = cache();
        cache.sync(4);
        // Read at an epoch before the cache's: the newest then, maybe not now.
        cache.read_state(cache.generation, cache.epoch, 3, &state(2));
        assert!(cache.state(&alice, 4).is_none());
        // Read while another replica stored epochs 5 and 6 (alice's newest may be of
        // either).
        let (generation, epoch) = (cache.generation, cache.epoch);
        cache.sync(6);
        cache.read_state(generation, epoch, 4, &state(2));
        assert!(cache.state(&alice, 6).is_none());
        // Read while alice's next state was written here: the newer one stays.
        let (generation, epoch) = (cache.generation, cache.epoch);
        wrote_state(&mut cache, 7);
        cache.read_state(generation, epoch, 6, &state(2));
        assert_eq!(cache.state(&alice, 7).unwrap().epoch, 7);
        assert!(cache.state(&alice, 6).is_none());
        // Read with nothing written meanwhile, up to the cache's epoch: kept.
        cache.sync(8);
        cache.read_state(cache.generation, cache.epoch, 8, &state(7));
        assert_eq!(cache.state(&alice, 8).unwrap().epoch, 7);
    }

    fn cached(cache: &NodeCache) -> Option<u64> {
        match cache.nodes.get(&node(0).get_full_binary_id()) {
            Some(DbRecord::TreeNode(node)) => Some(node.latest_node.last_epoch),
            _ => None,
        }
    }

    fn cache() -> NodeCache {
        NodeCache {
            capacity: 100,
            ..NodeCache::default()
        }
    }

    #[test]
    fn a_read_that_started_before_a_write_does_not_put_back_what_it_replaced() {
        let mut cache = cache();
        cache.sync(1);
        let started = cache.generation;
        // The publish of epoch 2 commits while the read is under way…
        cache.written(Some(2), true, vec![(node(2).get_full_binary_id(), node(2))]);
        // …and the read, which got the node of epoch 1, ends after it.
        cache.read(started, &[node(1)]);
        assert_eq!(cached(&cache), Some(2));
        assert_eq!(cache.epoch, Some(2));

        // A read after the write keeps what it read.
        let started = cache.generation;
        cache.nodes.clear();
        cache.read(started, &[node(2)]);
        assert_eq!(cached(&cache), Some(2));
    }

    #[test]
    fn an_epoch_another_replica_wrote_empties_the_cache() {
        let mut cache = cache();
        cache.sync(1);
        let started = cache.generation;
        cache.read(started, &[node(1)]);
        assert_eq!(cached(&cache), Some(1));
        cache.sync(1);
        assert_eq!(cached(&cache), Some(1), "the same epoch keeps it");
        let started = cache.generation;
        cache.sync(3);
        assert_eq!(cached(&cache), None);
        cache.read(started, &[node(1)]);
        assert_eq!(cached(&cache), None, "read before the emptying");
        // A write that does not follow the cache's epoch (another replica wrote the
        // one between) empties it too, as does a failed one.
        cache.read(cache.generation, &[node(1)]);
        cache.written(Some(5), true, vec![]);
        assert_eq!((cached(&cache), cache.epoch), (None, Some(5)));
        cache.read(cache.generation, &[node(1)]);
        cache.written(None, false, vec![]);
        assert_eq!((cached(&cache), cache.epoch), (None, None));
    }
}
