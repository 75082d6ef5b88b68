//! What the key directory holds for an identity, and how a client checks the service's
//! proofs of it (docs/format.md §15).
//!
//! The cards service keeps one *entry* per [`CardIdentity`] in its verifiable key
//! directory (akd, WhatsApp's configuration): the **label** is the identity
//! ([`label`]), the **value** every card of the identity that is active or pending, with
//! its state ([`DirectoryEntry`]). Every publish, link, rotation, revocation, reset and
//! activation changes the value, in the next epoch. A lookup answer carries a proof of
//! the identity's current entry against a signed [`Checkpoint`]; the client checks it
//! ([`verify_lookup`]) and then that the cards it was served are exactly the entry's
//! ([`DirectoryEntry::check_served`]): no card hidden, none added, none un-revoked. The
//! owner's devices read the whole history of their entry ([`verify_history`]) and see
//! every card the directory ever showed for them.

use crate::checkpoint::Checkpoint;
use crate::{CardId, CardIdentity, CardStatus};
use akd_core::AkdLabel;
use akd_core::configuration::WhatsAppV1Configuration;
use akd_core::verify::history::{HistoryParams, HistoryVerificationParams};
use std::collections::BTreeMap;

pub mod wire;

/// The akd configuration the directory uses (and every client verifies with).
pub type Configuration = WhatsAppV1Configuration;

const LABEL_MAGIC: &[u8; 5] = b"VGLI\x01";
const ENTRY_MAGIC: &[u8; 5] = b"VGLE\x01";
/// The most cards an entry may list (active and pending together).
pub const MAX_ENTRY_CARDS: usize = 256;
/// The longest lookup proof a client decodes (a real one is 2–4 KiB at a million
/// identities).
pub const MAX_LOOKUP_PROOF_LEN: usize = 64 * 1024;
/// The longest history proof a client decodes.
pub const MAX_HISTORY_PROOF_LEN: usize = 4 * 1024 * 1024;

/// The directory label of `owner`'s cards:
///
/// ```text
/// label = "VGLI" ‖ 0x01 ‖ str(app_id) ‖ str(identity)      str(s) = u32be(len) ‖ UTF-8
/// ```
pub fn label(owner: &CardIdentity) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(5 + 8 + owner.app_id.len() + owner.identity.len());
    bytes.extend_from_slice(LABEL_MAGIC);
    for text in [&owner.app_id, &owner.identity] {
        let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(text.as_bytes());
    }
    bytes
}

/// Where a card listed in an entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryState {
    /// Active.
    Active,
    /// A reset card waiting until `activates_at`.
    Pending {
        /// When it becomes active, seconds since the Unix epoch.
        activates_at: u64,
    },
}

impl EntryState {
    /// The entry state of a card of `status`; `None` for a card that is revoked or
    /// superseded (the entry does not list it).
    pub fn of(status: &CardStatus) -> Option<Self> {
        match status {
            CardStatus::Active => Some(EntryState::Active),
            CardStatus::Pending { activates_at } => Some(EntryState::Pending {
                activates_at: *activates_at,
            }),
            _ => None,
        }
    }
}

/// Why a directory proof or entry was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryProofError {
    /// The bytes are not an entry or a proof.
    #[error("the key directory's answer is malformed: {0}")]
    Malformed(String),
    /// The proof does not hold against the signed checkpoint.
    #[error(
        "the key directory's proof for {identity} does not match its signed epoch {epoch}: the answer was changed or the directory lies; nothing from it was used"
    )]
    ProofFailed {
        /// Whose cards.
        identity: String,
        /// The checkpoint's epoch.
        epoch: u64,
        /// What akd reported.
        reason: String,
    },
    /// The cards served are not the ones the directory commits to.
    #[error(
        "the cards service served {identity}'s cards differently from its key directory (epoch {epoch}): {what}; nothing from this answer was used"
    )]
    NotInDirectory {
        /// Whose cards.
        identity: String,
        /// The epoch of the proof.
        epoch: u64,
        /// What differs.
        what: String,
    },
}

/// The value of an identity in the directory: its active and pending cards.
///
/// ```text
/// entry = "VGLE" ‖ 0x01 ‖ u16be(n) ‖ (card_id[32] ‖ state)×n     (ascending card ids)
/// state = 0x00 (active) | 0x03 ‖ u64be(activates_at) (pending reset)
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryEntry {
    cards: BTreeMap<CardId, EntryState>,
}

impl DirectoryEntry {
    /// The entry of an identity whose cards have these statuses (revoked and superseded
    /// ones are left out).
    pub fn of<'a>(cards: impl IntoIterator<Item = (&'a CardId, &'a CardStatus)>) -> Self {
        Self {
            cards: cards
                .into_iter()
                .filter_map(|(id, status)| EntryState::of(status).map(|state| (*id, state)))
                .collect(),
        }
    }

    /// The cards listed, in ascending id order.
    pub fn cards(&self) -> impl Iterator<Item = (&CardId, &EntryState)> {
        self.cards.iter()
    }

    /// How many cards are listed.
    pub fn len(&self) -> usize {
        self.cards.len()
    }

    /// Whether no card is listed (every card of the identity revoked).
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    /// The state of card `id` in the entry, if listed.
    pub fn state_of(&self, id: &CardId) -> Option<EntryState> {
        self.cards.get(id).copied()
    }

    /// The encoding above.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(7 + self.cards.len() * 41);
        bytes.extend_from_slice(ENTRY_MAGIC);
        let n = u16::try_from(self.cards.len()).unwrap_or(u16::MAX);
        bytes.extend_from_slice(&n.to_be_bytes());
        for (id, state) in &self.cards {
            bytes.extend_from_slice(id.as_bytes());
            match state {
                EntryState::Active => bytes.push(0x00),
                EntryState::Pending { activates_at } => {
                    bytes.push(0x03);
                    bytes.extend_from_slice(&activates_at.to_be_bytes());
                }
            }
        }
        bytes
    }

    /// Parses [`DirectoryEntry::encode`]'s bytes, strictly: ids ascending without
    /// repeats, at most [`MAX_ENTRY_CARDS`], nothing after the last card.
    pub fn decode(bytes: &[u8]) -> Result<Self, DirectoryProofError> {
        let malformed = |what: &str| DirectoryProofError::Malformed(format!("entry: {what}"));
        let rest = bytes
            .strip_prefix(ENTRY_MAGIC)
            .ok_or_else(|| malformed("unknown magic or version"))?;
        let (n, mut rest) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| malformed("truncated"))?;
        let n = usize::from(u16::from_be_bytes(*n));
        if n > MAX_ENTRY_CARDS {
            return Err(malformed("too many cards"));
        }
        let mut cards = BTreeMap::new();
        let mut last: Option<CardId> = None;
        for _ in 0..n {
            let (id, after) = rest
                .split_first_chunk::<32>()
                .ok_or_else(|| malformed("truncated"))?;
            let id = CardId::from_bytes(*id);
            if last.is_some_and(|last| last >= id) {
                return Err(malformed("card ids not ascending"));
            }
            let (&tag, after) = after.split_first().ok_or_else(|| malformed("truncated"))?;
            let (state, after) = match tag {
                0x00 => (EntryState::Active, after),
                0x03 => {
                    let (at, after) = after
                        .split_first_chunk::<8>()
                        .ok_or_else(|| malformed("truncated"))?;
                    let activates_at = u64::from_be_bytes(*at);
                    (EntryState::Pending { activates_at }, after)
                }
                _ => return Err(malformed("unknown card state")),
            };
            cards.insert(id, state);
            last = Some(id);
            rest = after;
        }
        if !rest.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        Ok(Self { cards })
    }

    /// Checks that `served` — every card a lookup answered for the identity, with the
    /// status the service gave it — is exactly this entry when `complete` (a search:
    /// every active and pending card), or agrees with it card by card otherwise (a get
    /// of one card by id): a served active or pending card must be listed with that
    /// state, a revoked or superseded one must not be listed.
    pub fn check_served<'a>(
        &self,
        owner: &CardIdentity,
        epoch: u64,
        served: impl IntoIterator<Item = (&'a CardId, &'a CardStatus)>,
        complete: bool,
    ) -> Result<(), DirectoryProofError> {
        let differs = |what: String| DirectoryProofError::NotInDirectory {
            identity: owner.to_string(),
            epoch,
            what,
        };
        let mut seen = 0usize;
        for (id, status) in served {
            let expected = EntryState::of(status);
            let listed = self.state_of(id);
            if expected != listed {
                return Err(differs(match (expected, listed) {
                    (Some(_), None) => format!("card {id} is served as usable but not listed"),
                    (None, Some(_)) => {
                        format!("card {id} is served as revoked or replaced but listed as usable")
                    }
                    _ => format!("card {id} is served with another state than listed"),
                }));
            }
            if expected.is_some() {
                seen += 1;
            }
        }
        if complete && seen != self.cards.len() {
            return Err(differs(format!(
                "{} of its {} listed cards were served",
                seen,
                self.cards.len()
            )));
        }
        Ok(())
    }
}

/// An entry proven against a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenEntry {
    /// The entry.
    pub entry: DirectoryEntry,
    /// Which version of the identity's entry (counting from 1).
    pub version: u64,
    /// The epoch in which this version was published.
    pub since_epoch: u64,
}

fn proof_failed(
    owner: &CardIdentity,
    checkpoint: &Checkpoint,
    reason: String,
) -> DirectoryProofError {
    DirectoryProofError::ProofFailed {
        identity: owner.to_string(),
        epoch: checkpoint.epoch,
        reason,
    }
}

/// Verifies a lookup proof (akd's protobuf `LookupProof`, as [`wire`] sends it) of
/// `owner`'s current entry against `checkpoint` (already verified as signed by the
/// service key), and returns the entry it proves.
pub fn verify_lookup(
    checkpoint: &Checkpoint,
    owner: &CardIdentity,
    proof: &[u8],
) -> Result<ProvenEntry, DirectoryProofError> {
    if proof.len() > MAX_LOOKUP_PROOF_LEN {
        return Err(DirectoryProofError::Malformed(
            "lookup proof too long".to_owned(),
        ));
    }
    let decoded = wire::decode_lookup_proof(proof)?;
    let result = akd_core::verify::lookup_verify::<Configuration>(
        &checkpoint.vrf_key,
        checkpoint.root,
        checkpoint.epoch,
        AkdLabel(label(owner)),
        decoded,
    )
    .map_err(|e| proof_failed(owner, checkpoint, e.to_string()))?;
    Ok(ProvenEntry {
        entry: DirectoryEntry::decode(&result.value.0)?,
        version: result.version,
        since_epoch: result.epoch,
    })
}

/// Verifies a history proof (akd's protobuf `HistoryProof`, as [`wire`] sends it, made
/// with `most_recent`: the last that many versions, or all) of `owner`'s entries against
/// `checkpoint`, and returns every version it proves, newest first.
pub fn verify_history(
    checkpoint: &Checkpoint,
    owner: &CardIdentity,
    proof: &[u8],
    most_recent: Option<usize>,
) -> Result<Vec<ProvenEntry>, DirectoryProofError> {
    if proof.len() > MAX_HISTORY_PROOF_LEN {
        return Err(DirectoryProofError::Malformed(
            "history proof too long".to_owned(),
        ));
    }
    let decoded = wire::decode_history_proof(proof)?;
    let history_params = match most_recent {
        Some(n) => HistoryParams::MostRecent(n),
        None => HistoryParams::Complete,
    };
    let results = akd_core::verify::key_history_verify::<Configuration>(
        &checkpoint.vrf_key,
        checkpoint.root,
        checkpoint.epoch,
        AkdLabel(label(owner)),
        decoded,
        HistoryVerificationParams::Default { history_params },
    )
    .map_err(|e| proof_failed(owner, checkpoint, e.to_string()))?;
    results
        .into_iter()
        .map(|result| {
            Ok(ProvenEntry {
                entry: DirectoryEntry::decode(&result.value.0)?,
                version: result.version,
                since_epoch: result.epoch,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::RevocationReason;
    use proptest::prelude::*;

    fn id(n: u8) -> CardId {
        CardId::from_bytes([n; 32])
    }

    #[test]
    fn an_entry_lists_active_and_pending_cards_in_id_order() {
        let statuses = [
            (id(3), CardStatus::Active),
            (id(1), CardStatus::Pending { activates_at: 7 }),
            (
                id(2),
                CardStatus::Revoked {
                    reason: RevocationReason::Compromised,
                    at: 5,
                },
            ),
            (id(4), CardStatus::Superseded { by: id(3) }),
        ];
        let entry = DirectoryEntry::of(statuses.iter().map(|(id, status)| (id, status)));
        let mut expected = b"VGLE\x01\x00\x02".to_vec();
        expected.extend_from_slice(&[1; 32]);
        expected.push(0x03);
        expected.extend_from_slice(&7u64.to_be_bytes());
        expected.extend_from_slice(&[3; 32]);
        expected.push(0x00);
        assert_eq!(entry.encode(), expected);
        assert_eq!(DirectoryEntry::decode(&expected).unwrap(), entry);

        let owner = CardIdentity::new("app", "bob");
        let served = |cards: &[(CardId, CardStatus)], complete| {
            entry.check_served(&owner, 9, cards.iter().map(|(i, s)| (i, s)), complete)
        };
        // Exactly the entry's cards, or any of its revoked ones: accepted.
        assert_eq!(served(&statuses, true), Ok(()));
        assert_eq!(served(&statuses[..2], true), Ok(()));
        // A listed card hidden from a search, a revoked card served as active, a card
        // the entry does not list, a pending card served as active: refused.
        assert!(served(&statuses[..1], true).is_err());
        assert_eq!(served(&statuses[..1], false), Ok(()));
        assert!(served(&[(id(2), CardStatus::Active)], false).is_err());
        assert!(served(&[(id(9), CardStatus::Active)], false).is_err());
        assert!(served(&[(id(1), CardStatus::Active)], false).is_err());
        assert!(served(&[(id(3), CardStatus::Superseded { by: id(9) })], false).is_err());
    }

    #[test]
    fn labels_separate_applications_and_identities() {
        let a = label(&CardIdentity::new("ab", "c"));
        let b = label(&CardIdentity::new("a", "bc"));
        assert_ne!(a, b);
        assert_eq!(a, b"VGLI\x01\x00\x00\x00\x02ab\x00\x00\x00\x01c");
    }

    #[test]
    fn a_strict_decoder() {
        let entry = |cards: &[(u8, u8)]| {
            let mut bytes = b"VGLE\x01".to_vec();
            bytes.extend_from_slice(&u16::try_from(cards.len()).unwrap().to_be_bytes());
            for (n, tag) in cards {
                bytes.extend_from_slice(&[*n; 32]);
                bytes.push(*tag);
            }
            bytes
        };
        assert!(DirectoryEntry::decode(&entry(&[(1, 0), (2, 0)])).is_ok());
        assert!(DirectoryEntry::decode(&entry(&[(2, 0), (1, 0)])).is_err());
        assert!(DirectoryEntry::decode(&entry(&[(1, 0), (1, 0)])).is_err());
        assert!(DirectoryEntry::decode(&entry(&[(1, 1)])).is_err());
        let mut trailing = entry(&[(1, 0)]);
        trailing.push(0);
        assert!(DirectoryEntry::decode(&trailing).is_err());
        assert!(DirectoryEntry::decode(b"VGLE\x02\x00\x00").is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(entry) = DirectoryEntry::decode(&bytes) {
                prop_assert_eq!(entry.encode(), bytes);
            }
        }
    }
}
