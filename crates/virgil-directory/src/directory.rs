//! [`KeyDirectory`]: akd's directory over [`SqlStorage`], with its VRF key derived from
//! the service key, answering with proofs in akd's protobuf encoding.

use crate::storage::{EpochBound, SqlStorage};
use crate::vrf::VrfKey;
use akd::errors::{AkdError, StorageError};
use akd::storage::StorageManager;
use akd::{AkdLabel, AkdValue, AzksParallelismConfig, HistoryParams};
use protobuf::Message as _;
use std::sync::Arc;
use std::time::Duration;
use virgil_server::database::Database;

/// The akd configuration: WhatsApp's, as deployed since 2023 (BLAKE3, its commitment and
/// leaf hashing). A client verifies with the same one.
pub type Configuration = akd::WhatsAppV1Configuration;

/// The tree nodes kept in memory between requests, at most (bytes), in each of the
/// publisher's akd cache and the node cache below akd that every snapshot shares (a
/// snapshot's own akd cache gets an eighth). The tree itself lives in the database;
/// this bounds the caches, not the directory. A process serving a 1M-identity
/// directory with every cache full peaked at about 600 MiB (docs/performance.md).
pub const DEFAULT_CACHE_BYTES: usize = 128 * 1024 * 1024;

/// A snapshot's own akd cache is at most this share of the cache size (the tree nodes
/// are cached once, for the publisher and every snapshot, in [`SqlStorage`]).
const SNAPSHOT_CACHE_SHARE: usize = 8;

/// An epoch and its root hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochRoot {
    /// The epoch (0: nothing published yet).
    pub epoch: u64,
    /// The root hash of the tree at that epoch.
    pub root: [u8; 32],
}

impl From<akd::EpochHash> for EpochRoot {
    fn from(hash: akd::EpochHash) -> Self {
        Self {
            epoch: hash.0,
            root: hash.1,
        }
    }
}

/// A lookup proof (akd's protobuf `LookupProof`, encoded by
/// [`virgil_card::directory::wire`]) and the epoch it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// The proof, encoded.
    pub proof: Vec<u8>,
    /// The value it proves.
    pub value: Vec<u8>,
    /// The epoch and root it proves against.
    pub at: EpochRoot,
}

/// Why the directory could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The label was never published.
    #[error("not in the directory")]
    NotFound,
    /// The asked-for epochs are not a range the directory has.
    #[error("no such epochs: {0}")]
    BadEpochs(String),
    /// The database failed.
    #[error("directory storage: {0}")]
    Storage(String),
    /// Anything else akd reported (a damaged tree, a VRF failure).
    #[error("directory: {0}")]
    Internal(String),
    /// A node a [`Snapshot`] needed was changed by two epochs or more stored since its
    /// own, so its state at the snapshot's epoch is gone and the answer was dropped.
    /// Take a new snapshot.
    #[error("the snapshot of epoch {snapshot} is behind the stored epoch {stored}")]
    Stale {
        /// The snapshot's epoch.
        snapshot: u64,
        /// A later stored epoch (one that changed a node the snapshot needed).
        stored: u64,
    },
}

impl From<AkdError> for DirectoryError {
    fn from(error: AkdError) -> Self {
        match error {
            AkdError::Storage(StorageError::NotFound(_)) => DirectoryError::NotFound,
            AkdError::Storage(other) => DirectoryError::Storage(other.to_string()),
            AkdError::Directory(akd::errors::DirectoryError::InvalidEpoch(message)) => {
                DirectoryError::BadEpochs(message)
            }
            other => DirectoryError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for DirectoryError {
    fn from(error: sqlx::Error) -> Self {
        DirectoryError::Storage(error.to_string())
    }
}

type Inner = akd::Directory<Configuration, SqlStorage, VrfKey>;
type ReadOnly = akd::directory::ReadOnlyDirectory<Configuration, SqlStorage, VrfKey>;

fn lookup_answer(proof: &akd::LookupProof, at: akd::EpochHash) -> Lookup {
    Lookup {
        proof: virgil_card::directory::wire::encode_lookup_proof(proof),
        value: proof.value.0.clone(),
        at: at.into(),
    }
}

fn history_params(most_recent: Option<usize>) -> HistoryParams {
    match most_recent {
        Some(n) => HistoryParams::MostRecent(n),
        None => HistoryParams::Complete,
    }
}

fn history_answer(proof: &akd::HistoryProof, at: akd::EpochHash) -> (Vec<u8>, EpochRoot) {
    (
        virgil_card::directory::wire::encode_history_proof(proof),
        at.into(),
    )
}

/// How often akd's cache is brought back under its size. akd enforces the size only
/// when it cleans, and cleans at most this often: in between it grows with every node
/// read (at 1M identities, 60 s of lookups took a serving process to 1.8 GB).
const CACHE_CLEAN_INTERVAL: Duration = Duration::from_secs(2);

fn storage_manager(storage: SqlStorage, cache_bytes: usize) -> StorageManager<SqlStorage> {
    StorageManager::new(
        storage,
        Some(Duration::from_secs(10 * 60)),
        Some(cache_bytes),
        Some(CACHE_CLEAN_INTERVAL),
    )
}

/// The stored tree's latest epoch, read past `storage`'s cache.
async fn stored_epoch(storage: &StorageManager<SqlStorage>) -> Result<u64, DirectoryError> {
    match storage
        .get_direct::<akd::Azks>(&akd::append_only_zks::DEFAULT_AZKS_KEY)
        .await
        .map_err(AkdError::Storage)?
    {
        akd::storage::types::DbRecord::Azks(azks) => Ok(azks.latest_epoch),
        _ => Err(DirectoryError::Internal(
            "the directory's root record is damaged".to_owned(),
        )),
    }
}

/// The verifiable key directory: labels (who) mapped to values (what), published in
/// epochs, every answer with its proof.
#[derive(Clone)]
pub struct KeyDirectory {
    inner: Inner,
    vrf: VrfKey,
    /// The same storage manager (its cache is shared), to see another replica's epochs.
    storage: StorageManager<SqlStorage>,
    /// The storage itself, for snapshots' own storage managers.
    database: SqlStorage,
    /// The cache size, at most (bytes), of the directory and of each snapshot.
    cache_bytes: usize,
}

impl std::fmt::Debug for KeyDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyDirectory").finish_non_exhaustive()
    }
}

impl KeyDirectory {
    /// The directory stored in `database` (created empty, at epoch 0, if missing), with
    /// VRF key `vrf`, caching at most `cache_bytes` of tree nodes.
    pub async fn open(
        database: Database,
        vrf: VrfKey,
        cache_bytes: usize,
    ) -> Result<Self, DirectoryError> {
        let storage = SqlStorage::open(database)
            .await?
            .with_cache_bytes(cache_bytes);
        let manager = storage_manager(storage.clone(), cache_bytes);
        let inner = Inner::new(
            manager.clone(),
            vrf.clone(),
            AzksParallelismConfig::default(),
        )
        .await?;
        Ok(Self {
            inner,
            vrf,
            storage: manager,
            database: storage,
            cache_bytes,
        })
    }

    /// A read-only [`Snapshot`] of the tree at its latest stored epoch, with an akd
    /// cache of its own (an eighth of the directory's cache size).
    pub async fn snapshot(&self) -> Result<Snapshot, DirectoryError> {
        let mut attempt = 0;
        loop {
            // The shared node cache is made of this epoch first (emptied if another
            // replica published), then the snapshot pins the stored root record: if an
            // epoch was stored in between, the cache may be of the one before, so try
            // again.
            let stored = stored_epoch(&self.storage).await?;
            self.database.sync(stored);
            // Its own akd cache holds the root record and what its answers read again;
            // the nodes themselves are cached below, once for every snapshot.
            // Every tree node it reads is checked to still have its state at the
            // snapshot's epoch (the stored one, checked below).
            let bound = EpochBound::new(stored);
            let storage = storage_manager(
                self.database.bound_to(bound.clone()),
                self.cache_bytes / SNAPSHOT_CACHE_SHARE,
            );
            let inner = ReadOnly::new(
                storage.clone(),
                self.vrf.clone(),
                AzksParallelismConfig::default(),
            )
            .await?;
            // ReadOnlyDirectory::new read the root record into the snapshot's cache,
            // where akd keeps it apart and until the cache is flushed (never, for a
            // snapshot): every answer of the snapshot is of this epoch.
            let at: EpochRoot = inner.get_epoch_hash().await?.into();
            if at.epoch == stored {
                return Ok(Snapshot { inner, bound, at });
            }
            attempt += 1;
            if attempt == 3 {
                return Err(DirectoryError::Stale {
                    snapshot: stored,
                    stored: at.epoch,
                });
            }
        }
    }

    /// Publishes `changes` (label, new value; each label at most once) as the next epoch,
    /// and returns it. Values equal to a label's current one are skipped; when nothing
    /// changes, no epoch is made and the current one is returned.
    pub async fn publish(
        &self,
        changes: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<EpochRoot, DirectoryError> {
        let changes = changes
            .into_iter()
            .map(|(label, value)| (AkdLabel(label), AkdValue(value)))
            .collect();
        Ok(self.inner.publish(changes).await?.into())
    }

    /// The latest epoch in the database, bypassing the cache (another replica may have
    /// published since).
    pub async fn stored_epoch(&self) -> Result<u64, DirectoryError> {
        stored_epoch(&self.storage).await
    }

    /// Drops the cached tree when another replica published an epoch since it was
    /// read; says whether it did. Call it only while no proof is being made or epoch
    /// published in this process (akd's cache may not be flushed under them).
    pub async fn refresh(&self) -> Result<bool, DirectoryError> {
        let stored = self.stored_epoch().await?;
        self.database.sync(stored);
        if stored == self.latest().await?.epoch {
            return Ok(false);
        }
        self.storage.flush_cache().await;
        Ok(true)
    }

    /// The latest epoch and its root.
    pub async fn latest(&self) -> Result<EpochRoot, DirectoryError> {
        Ok(self.inner.get_epoch_hash().await?.into())
    }

    /// The proof of `label`'s current value at the latest epoch.
    pub async fn lookup(&self, label: &[u8]) -> Result<Lookup, DirectoryError> {
        let (proof, at) = self.inner.lookup(AkdLabel(label.to_vec())).await?;
        Ok(lookup_answer(&proof, at))
    }

    /// The proof of every value `label` has had (`most_recent`: only the last that
    /// many), at the latest epoch (akd's protobuf `HistoryProof`).
    pub async fn history(
        &self,
        label: &[u8],
        most_recent: Option<usize>,
    ) -> Result<(Vec<u8>, EpochRoot), DirectoryError> {
        let (proof, at) = self
            .inner
            .key_history(&AkdLabel(label.to_vec()), history_params(most_recent))
            .await?;
        Ok(history_answer(&proof, at))
    }

    /// The proof that epoch `to` only added to epoch `from` (akd's protobuf
    /// `AppendOnlyProof`; `from < to ≤ latest`).
    pub async fn audit(&self, from: u64, to: u64) -> Result<Vec<u8>, DirectoryError> {
        let proof = self.inner.audit(from, to).await?;
        akd::proto::specs::types::AppendOnlyProof::from(&proof)
            .write_to_bytes()
            .map_err(|e| DirectoryError::Internal(e.to_string()))
    }

    /// The VRF public key a client verifies label proofs with (32 bytes).
    pub async fn vrf_public_key(&self) -> Result<[u8; 32], DirectoryError> {
        Ok(self.vrf.public_key())
    }
}

/// The directory as it was stored at one epoch, for answering while later epochs are
/// published: a read-only akd directory over the same database, with a cache of its
/// own, made after its epoch was stored.
///
/// A [`KeyDirectory`] shares one akd cache between its publishing and its proofs, and
/// akd empties a publish's transaction before it puts the new nodes into that cache: a
/// proof made meanwhile can put an older node back, and a later proof uses it. A
/// snapshot never publishes, and every node it reads, from the database or from the
/// node cache below akd ([`SqlStorage`], which never holds a node older than the
/// database's), is as stored at its epoch or later: a node of its epoch, or, when the
/// next epoch was stored since, a node that keeps its previous state beside the new
/// one (akd's `TreeNodeWithPreviousValue`), and the snapshot reads the previous one.
/// Every node it reads is checked to still have its state at the snapshot's epoch:
/// once a node was changed by two later epochs, its answer is refused and the snapshot
/// ends ([`DirectoryError::Stale`]).
pub struct Snapshot {
    inner: ReadOnly,
    bound: Arc<EpochBound>,
    at: EpochRoot,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// The epoch and root every answer of this snapshot proves against.
    pub fn at(&self) -> EpochRoot {
        self.at
    }

    /// The lookup proof of each of `labels` (`None`: not in the directory at this
    /// epoch), all at [`Snapshot::at`]; [`DirectoryError::Stale`] when a node it needs
    /// was changed by two epochs or more stored since.
    pub async fn lookups(&self, labels: &[Vec<u8>]) -> Result<Vec<Option<Lookup>>, DirectoryError> {
        let mut found = Vec::with_capacity(labels.len());
        for label in labels {
            match self.inner.lookup(AkdLabel(label.clone())).await {
                Ok((proof, at)) => found.push(Some(self.of_this_epoch(lookup_answer(&proof, at))?)),
                Err(error) => match DirectoryError::from(error) {
                    DirectoryError::NotFound => found.push(None),
                    other => return Err(self.stale_or(other)),
                },
            }
        }
        Ok(found)
    }

    /// The proof of every value `label` has had, as [`KeyDirectory::history`] makes it,
    /// at [`Snapshot::at`]; [`DirectoryError::Stale`] as for [`Snapshot::lookups`].
    pub async fn history(
        &self,
        label: &[u8],
        most_recent: Option<usize>,
    ) -> Result<Vec<u8>, DirectoryError> {
        let answer = self
            .inner
            .key_history(&AkdLabel(label.to_vec()), history_params(most_recent))
            .await;
        let (proof, at) = match answer {
            Ok(answer) => history_answer(&answer.0, answer.1),
            Err(error) => return Err(self.stale_or(DirectoryError::from(error))),
        };
        self.of_this_epoch(at)?;
        Ok(proof)
    }

    fn of_this_epoch<T: HasEpoch>(&self, answer: T) -> Result<T, DirectoryError> {
        if answer.epoch() == self.at.epoch {
            Ok(answer)
        } else {
            Err(DirectoryError::Internal(format!(
                "a snapshot of epoch {} answered at epoch {}",
                self.at.epoch,
                answer.epoch()
            )))
        }
    }

    /// `error`, or `Stale` when the snapshot read a node two later epochs changed
    /// (then the error may come from that node).
    fn stale_or(&self, error: DirectoryError) -> DirectoryError {
        match self.bound.superseded_at() {
            Some(stored) => DirectoryError::Stale {
                snapshot: self.at.epoch,
                stored,
            },
            None => error,
        }
    }
}

/// An answer that names its epoch.
trait HasEpoch {
    fn epoch(&self) -> u64;
}

impl HasEpoch for Lookup {
    fn epoch(&self) -> u64 {
        self.at.epoch
    }
}

impl HasEpoch for EpochRoot {
    fn epoch(&self) -> u64 {
        self.epoch
    }
}
