//! [`KeyDirectory`]: akd's directory over [`SqlStorage`], with its VRF key derived from
//! the service key, answering with proofs in akd's protobuf encoding.

use crate::storage::SqlStorage;
use crate::vrf::VrfKey;
use akd::errors::{AkdError, StorageError};
use akd::storage::StorageManager;
use akd::{AkdLabel, AkdValue, AzksParallelismConfig, HistoryParams};
use protobuf::Message as _;
use std::time::Duration;
use virgil_server::database::Database;

/// The akd configuration: WhatsApp's, as deployed since 2023 (BLAKE3, its commitment and
/// leaf hashing). A client verifies with the same one.
pub type Configuration = akd::WhatsAppV1Configuration;

/// The tree nodes kept in memory between requests, at most (bytes). The tree itself
/// lives in the database; this bounds the cache, not the directory.
pub const DEFAULT_CACHE_BYTES: usize = 256 * 1024 * 1024;

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

/// The verifiable key directory: labels (who) mapped to values (what), published in
/// epochs, every answer with its proof.
#[derive(Clone)]
pub struct KeyDirectory {
    inner: Inner,
    vrf: VrfKey,
    /// The same storage manager (its cache is shared), to see another replica's epochs.
    storage: StorageManager<SqlStorage>,
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
        let storage = SqlStorage::open(database).await?;
        let manager = StorageManager::new(
            storage,
            Some(Duration::from_secs(10 * 60)),
            Some(cache_bytes),
            Some(Duration::from_secs(60)),
        );
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
        })
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
        match self
            .storage
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

    /// Drops the cached tree when another replica published an epoch since it was
    /// read; says whether it did. Call it only while no proof is being made or epoch
    /// published in this process (akd's cache may not be flushed under them).
    pub async fn refresh(&self) -> Result<bool, DirectoryError> {
        if self.stored_epoch().await? == self.latest().await?.epoch {
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
        let value = proof.value.0.clone();
        let proof = virgil_card::directory::wire::encode_lookup_proof(&proof);
        Ok(Lookup {
            proof,
            value,
            at: at.into(),
        })
    }

    /// The proof of every value `label` has had (`most_recent`: only the last that
    /// many), at the latest epoch (akd's protobuf `HistoryProof`).
    pub async fn history(
        &self,
        label: &[u8],
        most_recent: Option<usize>,
    ) -> Result<(Vec<u8>, EpochRoot), DirectoryError> {
        let params = match most_recent {
            Some(n) => HistoryParams::MostRecent(n),
            None => HistoryParams::Complete,
        };
        let (proof, at) = self
            .inner
            .key_history(&AkdLabel(label.to_vec()), params)
            .await?;
        let proof = virgil_card::directory::wire::encode_history_proof(&proof);
        Ok((proof, at.into()))
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
