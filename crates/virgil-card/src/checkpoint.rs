//! The key directory's signed checkpoints (docs/format.md §14), and what a client
//! remembers of them.
//!
//! The cards service keeps its cards in a verifiable key directory (issue 29) and
//! publishes it in *epochs*: each epoch has a root hash that commits to every identity's
//! cards and their statuses. A [`Checkpoint`] is the service's signed word for one epoch
//! (directory, epoch, root, time); every lookup proof is checked against one. A client
//! keeps the newest checkpoint it accepted per directory ([`CheckpointLog`]) and refuses
//! a rollback to an older epoch or a second, different root for the epoch it holds: the
//! service could otherwise show different devices different directories (a split view)
//! and hide it by forgetting.

use virgil_crypto::encoding::{from_base64, to_base64};
use virgil_crypto::sign::{self, Context, SIGNATURE_LEN, Signature};
use virgil_crypto::{PrivateKey, PublicKey};

const MAGIC: &[u8; 5] = b"VGLK\x01";
/// Length of a directory root hash (akd's digest: 32 bytes).
pub const ROOT_LEN: usize = 32;
/// The longest directory id, in bytes.
pub const MAX_DIRECTORY_ID_LEN: usize = 64;
/// Length of the directory's VRF public key (ECVRF-EDWARDS25519, as akd uses it).
pub const VRF_KEY_LEN: usize = 32;
/// The longest encoded signed checkpoint: statement and signature.
pub const MAX_SIGNED_LEN: usize =
    MAGIC.len() + 1 + MAX_DIRECTORY_ID_LEN + 8 + ROOT_LEN + VRF_KEY_LEN + 8 + SIGNATURE_LEN;

/// One epoch of a key directory, as the cards service signs it.
///
/// ```text
/// checkpoint = "VGLK" ‖ 0x01 ‖ u8(len(directory)) ‖ directory ‖ u64be(epoch)
///              ‖ root[32] ‖ vrf_key[32] ‖ u64be(published_at)
/// signed     = checkpoint ‖ signature[64]      (context `virgil/directory-checkpoint`)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// Which directory: the cards service's id for it (1–64 bytes of UTF-8).
    pub directory: String,
    /// The epoch, counting from 1; each publish of changes is the next one.
    pub epoch: u64,
    /// The directory's root hash at this epoch.
    pub root: [u8; ROOT_LEN],
    /// The VRF public key that every label proof of this directory is checked with: the
    /// service vouches for it in every checkpoint, so a client needs no second pin.
    pub vrf_key: [u8; VRF_KEY_LEN],
    /// When the epoch was published, seconds since the Unix epoch.
    pub published_at: u64,
}

/// A [`Checkpoint`] with the service's signature, as it travels (base64 of
/// [`SignedCheckpoint::to_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What is signed.
    pub checkpoint: Checkpoint,
    /// The service key's signature over [`Checkpoint::statement`].
    pub signature: Signature,
}

/// Why a checkpoint was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The bytes are not a signed checkpoint.
    #[error("not a directory checkpoint: {0}")]
    Malformed(&'static str),
    /// Not signed by a pinned service key.
    #[error(
        "the checkpoint of epoch {epoch} is not signed by the pinned cards service key (changed on the way?)"
    )]
    NotSigned {
        /// The epoch it claims.
        epoch: u64,
    },
    /// A checkpoint of another directory than the one asked.
    #[error("the checkpoint is of directory {found:?}, not {expected:?}")]
    WrongDirectory {
        /// The directory this device follows.
        expected: String,
        /// The one the checkpoint names.
        found: String,
    },
    /// An epoch older than one this device has accepted: the directory was rolled back,
    /// or this device is shown an old view.
    #[error(
        "the cards service answered with epoch {offered} of its directory, but this device already saw epoch {seen}: a rollback or a second view of the directory; nothing from this answer was used"
    )]
    Rollback {
        /// The newest epoch this device accepted.
        seen: u64,
        /// The epoch offered now.
        offered: u64,
    },
    /// A second, different root for an epoch this device has accepted: the service
    /// signed two directories for one epoch (a fork).
    #[error(
        "the cards service signed two different directories for epoch {epoch}: a forked (split) view; report it to the operator and auditors, nothing from this answer was used"
    )]
    Fork {
        /// The epoch.
        epoch: u64,
    },
    /// A newer epoch with another VRF key: not the directory this device followed.
    #[error(
        "epoch {epoch} of the directory has another VRF key than the epochs this device saw: not the same directory; nothing from this answer was used"
    )]
    VrfKeyChanged {
        /// The newer epoch.
        epoch: u64,
    },
    /// A newer epoch dated before the one this device holds.
    #[error(
        "epoch {epoch} of the directory is dated before epoch {seen} that this device already saw; nothing from this answer was used"
    )]
    TimeWentBack {
        /// The newer epoch.
        epoch: u64,
        /// The epoch this device holds.
        seen: u64,
    },
}

impl Checkpoint {
    /// The signed bytes (docs/format.md §14). A directory id longer than
    /// [`MAX_DIRECTORY_ID_LEN`] is cut there (and then does not verify).
    pub fn statement(&self) -> Vec<u8> {
        let directory = self.directory.as_bytes();
        let directory = directory.get(..MAX_DIRECTORY_ID_LEN).unwrap_or(directory);
        let mut bytes = Vec::with_capacity(MAX_SIGNED_LEN);
        bytes.extend_from_slice(MAGIC);
        bytes.push(u8::try_from(directory.len()).unwrap_or(u8::MAX));
        bytes.extend_from_slice(directory);
        bytes.extend_from_slice(&self.epoch.to_be_bytes());
        bytes.extend_from_slice(&self.root);
        bytes.extend_from_slice(&self.vrf_key);
        bytes.extend_from_slice(&self.published_at.to_be_bytes());
        bytes
    }

    /// Signs this checkpoint with the service key (context
    /// `virgil/directory-checkpoint`).
    pub fn sign(self, service_key: &PrivateKey) -> SignedCheckpoint {
        let signature = sign::sign(
            service_key,
            Context::DIRECTORY_CHECKPOINT,
            &self.statement(),
        );
        SignedCheckpoint {
            checkpoint: self,
            signature,
        }
    }
}

impl SignedCheckpoint {
    /// `statement ‖ signature`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.checkpoint.statement();
        bytes.extend_from_slice(self.signature.as_bytes());
        bytes
    }

    /// Base64 of [`SignedCheckpoint::to_bytes`], as the API carries it.
    pub fn to_base64(&self) -> String {
        to_base64(&self.to_bytes())
    }

    /// Parses `statement ‖ signature` (at most [`MAX_SIGNED_LEN`] bytes); the signature
    /// is only checked by [`SignedCheckpoint::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        use CheckpointError::Malformed;
        if bytes.len() > MAX_SIGNED_LEN {
            return Err(Malformed("too long"));
        }
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or(Malformed("unknown magic or version"))?;
        let (&directory_len, rest) = rest.split_first().ok_or(Malformed("truncated"))?;
        let directory_len = usize::from(directory_len);
        if directory_len == 0 || directory_len > MAX_DIRECTORY_ID_LEN {
            return Err(Malformed("directory id of 0 or over 64 bytes"));
        }
        let (directory, rest) = rest
            .split_at_checked(directory_len)
            .ok_or(Malformed("truncated"))?;
        let directory = std::str::from_utf8(directory)
            .map_err(|_| Malformed("directory id is not UTF-8"))?
            .to_owned();
        let (epoch, rest) = take_u64(rest)?;
        let (root, rest) = rest
            .split_at_checked(ROOT_LEN)
            .ok_or(Malformed("truncated"))?;
        let (vrf_key, rest) = rest
            .split_first_chunk::<VRF_KEY_LEN>()
            .ok_or(Malformed("truncated"))?;
        let (published_at, rest) = take_u64(rest)?;
        if rest.len() != SIGNATURE_LEN {
            return Err(Malformed("not one 64-byte signature after the checkpoint"));
        }
        let signature = Signature::from_slice(rest).map_err(|_| Malformed("bad signature"))?;
        let root = <[u8; ROOT_LEN]>::try_from(root).map_err(|_| Malformed("truncated"))?;
        Ok(Self {
            checkpoint: Checkpoint {
                directory,
                epoch,
                root,
                vrf_key: *vrf_key,
                published_at,
            },
            signature,
        })
    }

    /// Parses the base64 form.
    pub fn from_base64(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > MAX_SIGNED_LEN.div_ceil(3) * 4 + 4 {
            return Err(CheckpointError::Malformed("too long"));
        }
        let bytes =
            from_base64(text.trim()).map_err(|_| CheckpointError::Malformed("not base64"))?;
        Self::from_bytes(&bytes)
    }

    /// The checkpoint, if one of `service_keys` signed it.
    pub fn verify(&self, service_keys: &[PublicKey]) -> Result<&Checkpoint, CheckpointError> {
        let statement = self.checkpoint.statement();
        let signed = service_keys.iter().any(|key| {
            sign::verify(
                key,
                Context::DIRECTORY_CHECKPOINT,
                &statement,
                &self.signature,
            )
            .is_ok()
        });
        if signed {
            Ok(&self.checkpoint)
        } else {
            Err(CheckpointError::NotSigned {
                epoch: self.checkpoint.epoch,
            })
        }
    }
}

fn take_u64(bytes: &[u8]) -> Result<(u64, &[u8]), CheckpointError> {
    let (number, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or(CheckpointError::Malformed("truncated"))?;
    Ok((u64::from_be_bytes(*number), rest))
}

/// What a checkpoint told a [`CheckpointLog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observed {
    /// The first checkpoint of this directory the device sees: trusted on first use.
    First,
    /// The epoch the device holds, with the same root.
    Same,
    /// A newer epoch: now the one the device holds.
    Newer {
        /// The epoch held before.
        previous: u64,
    },
}

/// The newest checkpoint a device accepted of one directory: the rule that a device's
/// view of the directory only moves forward, and never to a second root for an epoch.
/// Keep it beside the keys (atomically replaced) so that it outlives the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointLog {
    directory: String,
    newest: Option<Checkpoint>,
}

impl CheckpointLog {
    /// A device that has seen nothing of `directory` yet.
    pub fn new(directory: &str) -> Self {
        Self {
            directory: directory.to_owned(),
            newest: None,
        }
    }

    /// A device that last accepted `newest`.
    pub fn resume(newest: Checkpoint) -> Self {
        Self {
            directory: newest.directory.clone(),
            newest: Some(newest),
        }
    }

    /// The newest checkpoint accepted, if any.
    pub fn newest(&self) -> Option<&Checkpoint> {
        self.newest.as_ref()
    }

    /// Checks `checkpoint` (already verified: [`SignedCheckpoint::verify`]) against
    /// what this device saw, and keeps it if it is newer. On an error nothing changes.
    pub fn observe(&mut self, checkpoint: &Checkpoint) -> Result<Observed, CheckpointError> {
        if checkpoint.directory != self.directory {
            return Err(CheckpointError::WrongDirectory {
                expected: self.directory.clone(),
                found: checkpoint.directory.clone(),
            });
        }
        let Some(seen) = &self.newest else {
            self.newest = Some(checkpoint.clone());
            return Ok(Observed::First);
        };
        if checkpoint.epoch < seen.epoch {
            return Err(CheckpointError::Rollback {
                seen: seen.epoch,
                offered: checkpoint.epoch,
            });
        }
        if checkpoint.epoch == seen.epoch {
            return if checkpoint == seen {
                Ok(Observed::Same)
            } else {
                Err(CheckpointError::Fork {
                    epoch: checkpoint.epoch,
                })
            };
        }
        if checkpoint.vrf_key != seen.vrf_key {
            return Err(CheckpointError::VrfKeyChanged {
                epoch: checkpoint.epoch,
            });
        }
        if checkpoint.published_at < seen.published_at {
            return Err(CheckpointError::TimeWentBack {
                epoch: checkpoint.epoch,
                seen: seen.epoch,
            });
        }
        let previous = seen.epoch;
        self.newest = Some(checkpoint.clone());
        Ok(Observed::Newer { previous })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    fn service() -> PrivateKey {
        PrivateKey::from_seed(&[6; 32]).unwrap()
    }

    fn checkpoint(epoch: u64, root: u8, published_at: u64) -> Checkpoint {
        Checkpoint {
            directory: "cards.example".to_owned(),
            epoch,
            root: [root; ROOT_LEN],
            vrf_key: [3; VRF_KEY_LEN],
            published_at,
        }
    }

    #[test]
    fn a_signed_checkpoint_round_trips_and_verifies_only_with_the_service_key() {
        let signed = checkpoint(7, 1, 1_700_000_000).sign(&service());
        let decoded = SignedCheckpoint::from_base64(&signed.to_base64()).unwrap();
        assert_eq!(decoded, signed);
        assert_eq!(
            decoded
                .verify(&[service().public_key().clone()])
                .unwrap()
                .epoch,
            7
        );
        let other = PrivateKey::from_seed(&[7; 32]).unwrap();
        assert_eq!(
            decoded.verify(&[other.public_key().clone()]),
            Err(CheckpointError::NotSigned { epoch: 7 })
        );
        // Another context's signature over the same bytes is no checkpoint signature.
        let statement = decoded.checkpoint.statement();
        let card_status = sign::sign(&service(), Context::CARD_STATUS, &statement);
        let replayed = SignedCheckpoint {
            signature: card_status,
            ..decoded
        };
        assert!(replayed.verify(&[service().public_key().clone()]).is_err());
    }

    #[test]
    fn the_log_moves_forward_only_and_never_to_a_second_root() {
        let mut log = CheckpointLog::new("cards.example");
        assert_eq!(log.observe(&checkpoint(5, 1, 100)), Ok(Observed::First));
        assert_eq!(log.observe(&checkpoint(5, 1, 100)), Ok(Observed::Same));
        assert_eq!(
            log.observe(&checkpoint(4, 9, 90)),
            Err(CheckpointError::Rollback {
                seen: 5,
                offered: 4
            })
        );
        assert_eq!(
            log.observe(&checkpoint(5, 2, 100)),
            Err(CheckpointError::Fork { epoch: 5 })
        );
        assert_eq!(
            log.observe(&checkpoint(6, 3, 99)),
            Err(CheckpointError::TimeWentBack { epoch: 6, seen: 5 })
        );
        let mut rekeyed = checkpoint(6, 3, 110);
        rekeyed.vrf_key = [4; VRF_KEY_LEN];
        assert_eq!(
            log.observe(&rekeyed),
            Err(CheckpointError::VrfKeyChanged { epoch: 6 })
        );
        let mut other = checkpoint(6, 3, 110);
        other.directory = "elsewhere".to_owned();
        assert!(matches!(
            log.observe(&other),
            Err(CheckpointError::WrongDirectory { .. })
        ));
        // None of the refusals moved it.
        assert_eq!(log.newest(), Some(&checkpoint(5, 1, 100)));
        assert_eq!(
            log.observe(&checkpoint(6, 3, 110)),
            Ok(Observed::Newer { previous: 5 })
        );
        let resumed = CheckpointLog::resume(checkpoint(6, 3, 110));
        assert_eq!(resumed, log);
    }

    proptest! {
        /// Any change of any byte of a signed checkpoint fails to parse or to verify.
        #[test]
        fn every_tamper_fails(position in 0usize..200, flip in 1u8..=255) {
            let signed = checkpoint(42, 7, 1_700_000_000).sign(&service());
            let mut bytes = signed.to_bytes();
            let position = position % bytes.len();
            bytes[position] ^= flip;
            if let Ok(tampered) = SignedCheckpoint::from_bytes(&bytes) {
                prop_assert!(tampered.verify(&[service().public_key().clone()]).is_err());
            }
        }

        /// Decoding any bytes never panics, and what decodes encodes back to the same.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(decoded) = SignedCheckpoint::from_bytes(&bytes) {
                prop_assert_eq!(decoded.to_bytes(), bytes);
            }
        }
    }
}
