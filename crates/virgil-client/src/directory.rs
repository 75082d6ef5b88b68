//! The cards client's side of the key directory (docs/key-directory.md): every card set
//! a lookup returns is checked against a lookup proof and a checkpoint signed by the
//! pinned service key, and the device's view of the directory only moves forward.
//!
//! The rules themselves live in `virgil_card::checkpoint` (rollback, fork) and
//! `virgil_card::directory` (proofs, served = listed); this module applies them to the
//! API's answers and keeps the newest checkpoint in a [`CheckpointStore`].

use crate::ClientError;
use std::sync::Mutex;
use virgil_api::cards::DirectoryProofs;
use virgil_card::checkpoint::{Checkpoint, CheckpointLog, SignedCheckpoint};
use virgil_card::directory::{self, DirectoryProofError};
use virgil_card::{CardId, CardIdentity, CardStatus};
use virgil_crypto::PublicKey;
use virgil_crypto::encoding::from_base64;

/// What [`CheckpointStore::update`] runs: from what is kept, what to keep instead
/// (`None`: nothing changes).
pub type CheckpointChange<'a> =
    dyn FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, ClientError> + 'a;

/// Where a device keeps the newest directory checkpoint it accepted (the encoding of
/// format.md §14, signature included, so that it is evidence another device or an
/// auditor can check). The facade keeps it in a file beside the keys; the default is
/// memory ([`MemoryCheckpoints`]), which forgets it when the process ends.
pub trait CheckpointStore: Send + Sync {
    /// What is kept, if anything.
    fn read(&self) -> Result<Option<Vec<u8>>, ClientError>;

    /// Lets `change` compute what to keep from what is kept (`None`: keep it as it is),
    /// as one step that other clients of the same store (other processes, for a file)
    /// cannot interleave with.
    fn update(&self, change: &mut CheckpointChange<'_>) -> Result<(), ClientError>;
}

/// A [`CheckpointStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryCheckpoints(Mutex<Option<Vec<u8>>>);

impl CheckpointStore for MemoryCheckpoints {
    fn read(&self) -> Result<Option<Vec<u8>>, ClientError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone())
    }

    fn update(&self, change: &mut CheckpointChange<'_>) -> Result<(), ClientError> {
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(new) = change(kept.as_deref())? {
            *kept = Some(new);
        }
        Ok(())
    }
}

/// The newest checkpoint kept in `store`, if any.
pub fn newest_checkpoint(
    store: &dyn CheckpointStore,
) -> Result<Option<SignedCheckpoint>, ClientError> {
    store
        .read()?
        .map(|bytes| SignedCheckpoint::from_bytes(&bytes).map_err(ClientError::from))
        .transpose()
}

/// Verifies the signed checkpoint `encoded` (base64) with `service_keys` and moves the
/// device's view in `store` to it: refused if it is older than the newest kept
/// (rollback), another root for the same epoch (fork), or of another directory.
/// Returns the checkpoint; on an error nothing is kept.
pub fn accept_checkpoint(
    store: &dyn CheckpointStore,
    service_keys: &[PublicKey],
    encoded: &str,
) -> Result<Checkpoint, ClientError> {
    let signed = SignedCheckpoint::from_base64(encoded)?;
    let checkpoint = signed.verify(service_keys)?.clone();
    // Most answers carry the checkpoint already kept: then there is nothing to move, and
    // no lock to take (what is kept only ever moves forward).
    let bytes = signed.to_bytes();
    if store.read()?.as_deref() == Some(bytes.as_slice()) {
        return Ok(checkpoint);
    }
    store.update(&mut |kept| {
        let mut log = match kept {
            // What is kept was checked when it was kept; a file that no longer decodes
            // is an error, never a reason to start over (that would allow a rollback).
            Some(bytes) => CheckpointLog::resume(SignedCheckpoint::from_bytes(bytes)?.checkpoint),
            None => CheckpointLog::new(&checkpoint.directory),
        };
        Ok(match log.observe(&checkpoint)? {
            virgil_card::checkpoint::Observed::Same => None,
            _ => Some(bytes.clone()),
        })
    })?;
    Ok(checkpoint)
}

/// Checks a lookup answer's `directory` part: the checkpoint (signed, not a rollback or
/// fork, kept in `store`) and, for each identity of `app_id` asked for, that the cards
/// served for it (`served`: identity, card, status) are exactly (`complete`: a search)
/// or agree with (a get of one card) the entry its proof proves. An identity without a
/// proof must have no usable card served (it is not in the directory). Returns the
/// checkpoint's epoch.
pub(crate) fn check_answer(
    store: &dyn CheckpointStore,
    service_keys: &[PublicKey],
    app_id: &str,
    identities: &[&str],
    served: &[(&str, &CardId, &CardStatus)],
    directory: Option<&DirectoryProofs>,
    complete: bool,
) -> Result<Option<u64>, ClientError> {
    let Some(directory) = directory else {
        // Nothing served needs no proof; anything served without one is refused.
        return if served.is_empty() {
            Ok(None)
        } else {
            Err(DirectoryProofError::Malformed(
                "the answer carries cards but no key directory proof (a cards service without a directory, or the proof was removed on the way)".to_owned(),
            )
            .into())
        };
    };
    let checkpoint = accept_checkpoint(store, service_keys, &directory.checkpoint)?;
    for proof in &directory.proofs {
        if !identities.contains(&proof.identity.as_str()) {
            return Err(DirectoryProofError::Malformed(format!(
                "a proof for {:?}, which was not asked for",
                proof.identity
            ))
            .into());
        }
    }
    let mut checked: Vec<&str> = Vec::with_capacity(identities.len());
    for identity in identities {
        if checked.contains(identity) {
            continue;
        }
        checked.push(identity);
        let owner = CardIdentity::new(app_id, identity);
        let cards = served
            .iter()
            .filter(|(owner, _, _)| owner == identity)
            .map(|(_, id, status)| (*id, *status));
        let proofs: Vec<_> = directory
            .proofs
            .iter()
            .filter(|proof| proof.identity == *identity)
            .collect();
        let proof = match proofs.as_slice() {
            [proof] => proof,
            [] => {
                // No proof: the directory does not list the identity, so nothing may
                // be served as usable for it.
                if cards.clone().any(|(_, status)| usable(status)) {
                    return Err(DirectoryProofError::NotInDirectory {
                        identity: owner.to_string(),
                        epoch: checkpoint.epoch,
                        what: "its cards are served without a proof".to_owned(),
                    }
                    .into());
                }
                continue;
            }
            _ => {
                return Err(
                    DirectoryProofError::Malformed(format!("two proofs for {identity:?}")).into(),
                );
            }
        };
        let bytes = from_base64(&proof.proof).map_err(|_| {
            DirectoryProofError::Malformed("a lookup proof is not base64".to_owned())
        })?;
        let proven = directory::verify_lookup(&checkpoint, &owner, &bytes)?;
        proven
            .entry
            .check_served(&owner, checkpoint.epoch, cards, complete)?;
    }
    Ok(Some(checkpoint.epoch))
}

fn usable(status: &CardStatus) -> bool {
    matches!(status, CardStatus::Active | CardStatus::Pending { .. })
}
