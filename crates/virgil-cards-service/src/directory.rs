//! The cards service's key directory (issue 29): every owner's active and pending cards
//! ([`virgil_card::directory::DirectoryEntry`]) published into a [`KeyDirectory`] in epochs, each epoch signed
//! into a checkpoint (docs/format.md §14–§15).
//!
//! Every write to a card records, in its own transaction, that the owner's entry changed
//! ([`CardStore::pending_entries`]). The [`Publisher`] turns the recorded changes into
//! the next epoch: it reads each changed owner's entry from the cards, publishes them
//! all at once, signs the new root with the service key, and in one transaction stores
//! the checkpoint and forgets the changes it published. A crash anywhere leaves the
//! changes recorded (they are published again: a value equal to the current one makes
//! no new version), and an epoch published but not yet signed is signed before the next
//! one is made, so every epoch has its checkpoint.

use crate::store::{CardStore, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Notify, RwLock, RwLockReadGuard, watch};
use virgil_card::CardIdentity;
use virgil_card::checkpoint::{Checkpoint, SignedCheckpoint};
use virgil_card::directory;
use virgil_crypto::PrivateKey;
use virgil_directory::{DirectoryError, EpochRoot, KeyDirectory, Lookup, Snapshot, VrfKey};
use virgil_server::database::Backend;

/// How many changed owners one epoch publishes at most.
pub const MAX_CHANGES_PER_EPOCH: usize = 10_000;
/// The PostgreSQL advisory lock only the publishing replica holds ("virgil-d" in
/// ASCII; the schema lock is another).
const PUBLISHER_LOCK: i64 = 0x7669_7267_696c_2d64;

/// How many owners' lookup proofs are kept for the latest epoch, at most (about 3–5 KB
/// each: ≤ 40 MiB).
pub const PROOFS_KEPT: usize = 8_192;

/// How many times an answer waits for another replica's epoch to be signed.
const SIGNING_RETRIES: u32 = 20;

/// How long the publisher sleeps when no write wakes it.
pub const IDLE_CHECK: Duration = Duration::from_secs(1);
/// How long a lookup of an owner with a change not yet published waits for the epoch
/// that publishes it before answering from the latest one anyway.
pub const PUBLISH_WAIT: Duration = Duration::from_secs(5);

/// Why the directory could not be published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The card store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key directory failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The configured directory id cannot name a directory.
    #[error("the directory id must be 1 to 64 bytes, not {0} (`[directory] id`)")]
    BadDirectoryId(usize),
}

/// Publishes the recorded changes as epochs and signs them.
pub struct Publisher {
    store: CardStore,
    keys: KeyDirectory,
    service_key: PrivateKey,
    directory_id: String,
    vrf_key: [u8; 32],
    /// One epoch at a time in this process.
    publishing: Mutex<()>,
    /// Held for writing while an epoch is made and signed, for reading while an answer
    /// gathers proofs from `keys` (when the snapshot cannot answer, and for audits):
    /// every proof of one answer is of the same, signed epoch.
    epoch: RwLock<()>,
    /// Tickets handed to writes after their commit ([`Publisher::changed`]).
    tickets: AtomicU64,
    /// The highest ticket an epoch has covered, and the highest one an attempt (failed
    /// or not) has: a write waits for the attempt, not for the timeout, when the
    /// storage fails.
    covered: watch::Sender<(u64, u64)>,
    /// Whether the last attempt failed (failures are logged once per episode).
    failing: std::sync::atomic::AtomicBool,
    wake: Notify,
    /// The lookup proofs made at one epoch (`None`: not in the directory). A proof of
    /// an owner at an epoch never changes, so an owner looked up again before the next
    /// epoch is answered from here; a new epoch empties it.
    proofs: std::sync::Mutex<(u64, std::collections::HashMap<CardIdentity, Option<Lookup>>)>,
    /// The snapshot of the latest signed epoch that lookups and histories are answered
    /// from, without the epoch lock: an epoch being made meanwhile does not hold them up.
    snapshot: std::sync::Mutex<Option<Arc<Snapshot>>>,
    /// One new snapshot at a time.
    snapshotting: Mutex<()>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("directory_id", &self.directory_id)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    virgil_api::unix_now()
}

impl Publisher {
    /// The directory of the cards in `store`, named `directory_id` (by default the
    /// service key's id), signed by `service_key`, whose VRF key is derived from it.
    pub async fn open(
        store: CardStore,
        service_key: PrivateKey,
        directory_id: Option<String>,
        cache_bytes: usize,
    ) -> Result<Self, PublishError> {
        let vrf = VrfKey::of_service_key(&service_key);
        let vrf_key = vrf.public_key();
        let keys = KeyDirectory::open(store.database().clone(), vrf, cache_bytes).await?;
        let directory_id = directory_id.unwrap_or_else(|| service_key.key_id().to_string());
        if directory_id.is_empty()
            || directory_id.len() > virgil_card::checkpoint::MAX_DIRECTORY_ID_LEN
        {
            return Err(PublishError::BadDirectoryId(directory_id.len()));
        }
        let publisher = Self {
            store,
            keys,
            service_key,
            directory_id,
            vrf_key,
            publishing: Mutex::new(()),
            epoch: RwLock::new(()),
            tickets: AtomicU64::new(0),
            covered: watch::Sender::new((0, 0)),
            failing: std::sync::atomic::AtomicBool::new(false),
            wake: Notify::new(),
            proofs: std::sync::Mutex::default(),
            snapshot: std::sync::Mutex::default(),
            snapshotting: Mutex::new(()),
        };
        publisher.sign_missing().await?;
        Ok(publisher)
    }

    /// The key directory (for lookups and proofs).
    pub fn keys(&self) -> &KeyDirectory {
        &self.keys
    }

    /// The directory's id, as its checkpoints name it.
    pub fn directory_id(&self) -> &str {
        &self.directory_id
    }

    fn sign(&self, at: EpochRoot) -> SignedCheckpoint {
        Checkpoint {
            directory: self.directory_id.clone(),
            epoch: at.epoch,
            root: at.root,
            vrf_key: self.vrf_key,
            published_at: now(),
        }
        .sign(&self.service_key)
    }

    /// Publishes every recorded change (up to [`MAX_CHANGES_PER_EPOCH`] owners) as one
    /// epoch and stores its signed checkpoint. Returns the latest checkpoint (`None`
    /// while nothing was ever published).
    pub async fn publish_pending(&self) -> Result<Option<SignedCheckpoint>, PublishError> {
        let _one_at_a_time = self.publishing.lock().await;
        let ticket = self.tickets.load(Ordering::SeqCst);
        let result = self.publish_epoch().await;
        if let Ok(Some(checkpoint)) = &result {
            // The snapshot the next answers come from, made before they ask for it.
            if let Err(error) = self.snapshot_of(checkpoint).await {
                tracing::debug!(%error, "no snapshot of the epoch just published");
            }
        }
        self.covered.send_modify(|(covered, attempted)| {
            *attempted = (*attempted).max(ticket);
            if result.is_ok() {
                *covered = (*covered).max(ticket);
            }
        });
        result
    }

    async fn publish_epoch(&self) -> Result<Option<SignedCheckpoint>, PublishError> {
        let _epoch = self.epoch.write().await;
        // One publisher at a time across replicas of one PostgreSQL database: a
        // session lock on a connection of our own, released with it (also when this
        // process dies mid-epoch, so another replica takes over without a fork).
        let mut lock = None;
        if self.store.database().backend == Backend::Postgres {
            let mut connection = self
                .store
                .database()
                .pool
                .acquire()
                .await
                .map_err(StoreError::from)?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(PUBLISHER_LOCK)
                .execute(&mut *connection)
                .await
                .map_err(StoreError::from)?;
            lock = Some(connection);
        }
        let result = self.publish_locked().await;
        if let Some(mut connection) = lock {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PUBLISHER_LOCK)
                .execute(&mut *connection)
                .await;
            if unlocked.is_err() {
                // Never hand a connection holding the lock back to the pool.
                connection.close_on_drop();
            }
        }
        result
    }

    async fn publish_locked(&self) -> Result<Option<SignedCheckpoint>, PublishError> {
        // Another replica may have published: start from the stored tree.
        self.keys.refresh().await?;
        let latest = self.sign_missing().await?;
        let pending = self.store.pending_entries(MAX_CHANGES_PER_EPOCH).await?;
        if !pending.is_empty() {
            let mut changes = Vec::with_capacity(pending.len());
            for (owner, _) in &pending {
                let entry = self.store.entry_of(owner).await?;
                changes.push((directory::label(owner), entry.encode()));
            }
            let at = self.keys.publish(changes).await?;
            let checkpoint = (at.epoch > latest.epoch).then(|| self.sign(at));
            self.store.published(&pending, checkpoint.as_ref()).await?;
            tracing::debug!(
                epoch = at.epoch,
                owners = pending.len(),
                "directory epoch published"
            );
        }
        Ok(self.store.checkpoint(None).await?)
    }

    /// Signs the latest epoch if a crash left it unsigned (every epoch is signed before
    /// the next is made, so only the latest can be); returns it.
    async fn sign_missing(&self) -> Result<EpochRoot, PublishError> {
        let latest = self.keys.latest().await?;
        if latest.epoch > 0 && self.store.checkpoint(Some(latest.epoch)).await?.is_none() {
            self.store.add_checkpoint(&self.sign(latest)).await?;
        }
        Ok(latest)
    }

    /// Read-your-writes: when a change to one of `owners` is stored but not published
    /// yet, wakes the publisher and waits (at most [`PUBLISH_WAIT`]) for the epoch that
    /// publishes it; returns the latest signed checkpoint after that (`None` before
    /// the first epoch). A write is answered at once ([`Publisher::changed`]); the first
    /// lookup of its owner after it pays for the epoch instead, and every other lookup
    /// reads whether anything is pending in the statement that reads the checkpoint.
    async fn caught_up_checkpoint(
        &self,
        owners: &[CardIdentity],
    ) -> Result<Option<SignedCheckpoint>, PublishError> {
        let (checkpoint, pending) = self.store.checkpoint_and_pending(owners).await?;
        if !pending {
            return Ok(checkpoint);
        }
        self.wait_for_epoch().await;
        Ok(self.store.checkpoint(None).await?)
    }

    /// Wakes the publisher and waits (at most [`PUBLISH_WAIT`]) for an epoch started
    /// after now.
    async fn wait_for_epoch(&self) {
        let ticket = self.changed();
        if !self.wait_published(ticket).await {
            tracing::warn!(
                "a read waited {PUBLISH_WAIT:?} for the key directory to publish a change; answering from the latest epoch"
            );
        }
    }

    /// The latest signed checkpoint (`None` before the first epoch). Every change
    /// stored before the call is in its epoch (unless publishing fails or takes longer
    /// than [`PUBLISH_WAIT`]): an auditor or monitor asking right after a write sees it,
    /// as a lookup does.
    pub async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, PublishError> {
        if self.store.anything_pending().await? {
            self.wait_for_epoch().await;
        }
        Ok(self.store.checkpoint(None).await?)
    }

    /// The latest signed checkpoint and the lookup proof of each of `owners` that is in
    /// the directory, all of that epoch; `None` before the first epoch. A change to one
    /// of `owners` stored before the call is in that epoch (unless publishing fails or
    /// takes longer than [`PUBLISH_WAIT`]).
    pub async fn lookup_all(
        &self,
        owners: &[CardIdentity],
    ) -> Result<Option<(SignedCheckpoint, Vec<(CardIdentity, Lookup)>)>, PublishError> {
        // Every proof kept for the latest stored checkpoint's epoch: answered without
        // the epoch lock, so an epoch being made meanwhile does not hold it up (what
        // epoch E proves does not change). The checkpoint is stored in the transaction
        // that clears the changes it published, so once an owner's change is seen gone,
        // this read (or the one in the same statement) sees its epoch, and proofs kept
        // for an older one are not used.
        let Some(checkpoint) = self.caught_up_checkpoint(owners).await? else {
            return Ok(None);
        };
        if let Some((kept_at, found)) = self.kept(owners)
            && checkpoint.checkpoint.epoch == kept_at
        {
            return Ok(Some((checkpoint, found)));
        }
        match self.lookup_in_snapshot(checkpoint, owners).await {
            Ok(Some(answer)) => return Ok(Some(answer)),
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%error, "answering from the directory instead of its snapshot");
            }
        }
        let Some((_epoch, checkpoint)) = self.latest_signed().await? else {
            return Ok(None);
        };
        let epoch = checkpoint.checkpoint.epoch;
        let mut found = Vec::with_capacity(owners.len());
        for owner in owners {
            if let Some((kept_at, kept)) = self.kept(std::slice::from_ref(owner))
                && kept_at == epoch
            {
                found.extend(kept);
                continue;
            }
            let lookup = match self.keys.lookup(&directory::label(owner)).await {
                Ok(lookup) => {
                    same_epoch(lookup.at.epoch, epoch)?;
                    Some(lookup)
                }
                Err(DirectoryError::NotFound) => None,
                Err(other) => return Err(other.into()),
            };
            self.keep_proof(epoch, owner, lookup.clone());
            found.extend(lookup.map(|lookup| (owner.clone(), lookup)));
        }
        Ok(Some((checkpoint, found)))
    }

    /// [`Publisher::lookup_all`] answered from a snapshot of `checkpoint`'s epoch;
    /// `None` when the stored tree is not at that epoch and root (an epoch stored and
    /// not yet signed: answered under the epoch lock instead).
    async fn lookup_in_snapshot(
        &self,
        checkpoint: SignedCheckpoint,
        owners: &[CardIdentity],
    ) -> Result<Option<(SignedCheckpoint, Vec<(CardIdentity, Lookup)>)>, PublishError> {
        let Some(snapshot) = self.snapshot_of(&checkpoint).await? else {
            return Ok(None);
        };
        let epoch = checkpoint.checkpoint.epoch;
        // Per owner: its kept proof (`Some(None)`: kept as not in the directory), or
        // `None` when it must be made.
        let kept: Vec<Option<Option<Lookup>>> = owners
            .iter()
            .map(|owner| match self.kept(std::slice::from_ref(owner)) {
                Some((kept_at, kept)) if kept_at == epoch => {
                    Some(kept.into_iter().next().map(|(_, lookup)| lookup))
                }
                _ => None,
            })
            .collect();
        let labels: Vec<Vec<u8>> = owners
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| kept.is_none())
            .map(|(owner, _)| directory::label(owner))
            .collect();
        let mut made = snapshot.lookups(&labels).await?.into_iter();
        let mut found = Vec::with_capacity(owners.len());
        for (owner, kept) in owners.iter().zip(kept) {
            let lookup = match kept {
                Some(kept) => kept,
                None => {
                    let lookup = made.next().flatten();
                    self.keep_proof(epoch, owner, lookup.clone());
                    lookup
                }
            };
            found.extend(lookup.map(|lookup| (owner.clone(), lookup)));
        }
        Ok(Some((checkpoint, found)))
    }

    /// A snapshot of `checkpoint`'s epoch (made now if the last one is of another);
    /// `None` when the stored tree is not at the checkpoint's epoch and root.
    async fn snapshot_of(
        &self,
        checkpoint: &SignedCheckpoint,
    ) -> Result<Option<Arc<Snapshot>>, PublishError> {
        let of_checkpoint = |snapshot: &Snapshot| {
            let at = snapshot.at();
            at.epoch == checkpoint.checkpoint.epoch && at.root == checkpoint.checkpoint.root
        };
        let current = || {
            self.snapshot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        if let Some(snapshot) = current()
            && of_checkpoint(&snapshot)
        {
            return Ok(Some(snapshot));
        }
        let _one_at_a_time = self.snapshotting.lock().await;
        if let Some(snapshot) = current()
            && of_checkpoint(&snapshot)
        {
            return Ok(Some(snapshot));
        }
        let snapshot = Arc::new(self.keys.snapshot().await?);
        if !of_checkpoint(&snapshot) {
            return Ok(None);
        }
        *self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(snapshot.clone());
        Ok(Some(snapshot))
    }

    /// The epoch of the kept proofs and those of `owners` (the ones in the directory),
    /// or `None` if any of `owners` is not kept.
    fn kept(&self, owners: &[CardIdentity]) -> Option<(u64, Vec<(CardIdentity, Lookup)>)> {
        let kept = self
            .proofs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut found = Vec::with_capacity(owners.len());
        for owner in owners {
            if let Some(lookup) = kept.1.get(owner)? {
                found.push((owner.clone(), lookup.clone()));
            }
        }
        Some((kept.0, found))
    }

    /// Keeps `owner`'s proof at `epoch` (forgetting every proof of another epoch).
    fn keep_proof(&self, epoch: u64, owner: &CardIdentity, lookup: Option<Lookup>) {
        let mut kept = self
            .proofs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.0 != epoch {
            *kept = (epoch, std::collections::HashMap::new());
        }
        if kept.1.len() < PROOFS_KEPT {
            kept.1.insert(owner.clone(), lookup);
        }
    }

    /// The latest signed checkpoint and the history proof of `owner`'s entry, of that
    /// epoch; `None` if `owner` was never published (or before the first epoch). A
    /// change stored before the call is in it, as for [`Publisher::lookup_all`].
    pub async fn history(
        &self,
        owner: &CardIdentity,
    ) -> Result<Option<(SignedCheckpoint, Vec<u8>)>, PublishError> {
        let label = directory::label(owner);
        let Some(checkpoint) = self
            .caught_up_checkpoint(std::slice::from_ref(owner))
            .await?
        else {
            return Ok(None);
        };
        match self.snapshot_of(&checkpoint).await {
            Ok(Some(snapshot)) => match snapshot.history(&label, None).await {
                Ok(proof) => return Ok(Some((checkpoint, proof))),
                Err(DirectoryError::NotFound) => return Ok(None),
                Err(error) => {
                    tracing::debug!(%error, "answering from the directory instead of its snapshot");
                }
            },
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%error, "answering from the directory instead of its snapshot");
            }
        }
        let Some((_epoch, checkpoint)) = self.latest_signed().await? else {
            return Ok(None);
        };
        match self.keys.history(&label, None).await {
            Ok((proof, at)) => {
                same_epoch(at.epoch, checkpoint.checkpoint.epoch)?;
                Ok(Some((checkpoint, proof)))
            }
            Err(DirectoryError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// The signed checkpoints of epochs `from` to `to` and akd's append-only proof
    /// between them (protobuf `AppendOnlyProof`); `None` when `to` is beyond the latest
    /// signed epoch or `from` is not before it.
    pub async fn audit(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Option<(Vec<SignedCheckpoint>, Vec<u8>)>, PublishError> {
        let Some((_epoch, latest)) = self.latest_signed().await? else {
            return Ok(None);
        };
        if from == 0 || from >= to || to > latest.checkpoint.epoch {
            return Ok(None);
        }
        let mut checkpoints = Vec::new();
        for epoch in from..=to {
            match self.store.checkpoint(Some(epoch)).await? {
                Some(checkpoint) => checkpoints.push(checkpoint),
                None => return Ok(None),
            }
        }
        let proof = self.keys.audit(from, to).await?;
        Ok(Some((checkpoints, proof)))
    }

    /// The latest signed checkpoint, with the tree at its epoch and held there (no
    /// epoch is made in this process while the guard lives); `None` before the first
    /// epoch. When the cached tree and the checkpoint disagree (another replica
    /// published, or has not signed yet), reads the newer tree or waits a moment, and
    /// tries again.
    async fn latest_signed(
        &self,
    ) -> Result<Option<(RwLockReadGuard<'_, ()>, SignedCheckpoint)>, PublishError> {
        let mut attempt = 0;
        loop {
            let epoch = self.epoch.read().await;
            let Some(checkpoint) = self.store.checkpoint(None).await? else {
                return Ok(None);
            };
            let tree = self.keys.latest().await?.epoch;
            match same_epoch(tree, checkpoint.checkpoint.epoch) {
                Ok(()) => return Ok(Some((epoch, checkpoint))),
                Err(error) if attempt >= SIGNING_RETRIES => return Err(error),
                Err(_) => {}
            }
            drop(epoch);
            attempt += 1;
            let _epoch = self.epoch.write().await;
            if !self.keys.refresh().await? {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Called by a write after its commit: wakes the publisher and returns the ticket
    /// to [`Publisher::wait_published`] on.
    pub fn changed(&self) -> u64 {
        let ticket = self.tickets.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake.notify_one();
        ticket
    }

    /// Waits (at most [`PUBLISH_WAIT`]) until an epoch started after `ticket` was
    /// handed out has been attempted; says whether it was published.
    pub async fn wait_published(&self, ticket: u64) -> bool {
        let mut covered = self.covered.subscribe();
        let attempted = covered.wait_for(|(_, attempted)| *attempted >= ticket);
        match tokio::time::timeout(PUBLISH_WAIT, attempted).await {
            Ok(Ok(state)) => state.0 >= ticket,
            _ => false,
        }
    }

    /// Publishes epochs for as long as the process runs: at most one per `interval`
    /// (at once after a write when the last one is older than that), or after [`IDLE_CHECK`] without one (a pending reset
    /// whose delay ended activates then, and an epoch a crash left unsigned is signed).
    /// Errors are logged and retried.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        // When the last epoch started: the next one starts at once after a write if the
        // interval has passed since (an idle directory answers a publish in one epoch's
        // time), else when it has (a busy one batches every write of an interval).
        let mut last_epoch: Option<tokio::time::Instant> = None;
        loop {
            let _ = tokio::time::timeout(IDLE_CHECK, self.wake.notified()).await;
            if let Some(last) = last_epoch {
                tokio::time::sleep_until(last + interval).await;
            }
            last_epoch = Some(tokio::time::Instant::now());
            let settled = self.store.settle_resets(now()).await;
            let published = self.publish_pending().await;
            let error = match (settled, published) {
                (Ok(_), Ok(_)) => {
                    if self.failing.swap(false, Ordering::SeqCst) {
                        tracing::info!("the key directory publishes epochs again");
                    }
                    continue;
                }
                (Err(error), _) => PublishError::Store(error),
                (_, Err(error)) => error,
            };
            if !self.failing.swap(true, Ordering::SeqCst) {
                tracing::warn!(%error, "the key directory could not publish an epoch; retrying every second");
            }
        }
    }
}

/// `BadEpochs` unless the tree's epoch `tree` is the checkpoint's `signed`.
fn same_epoch(tree: u64, signed: u64) -> Result<(), PublishError> {
    if tree == signed {
        return Ok(());
    }
    Err(DirectoryError::BadEpochs(format!(
        "the tree is at epoch {tree} while the latest checkpoint is of epoch {signed}"
    ))
    .into())
}
