//! [`VrfKey`]: the directory's VRF key, and the VRF answers it has given, remembered.
//!
//! A lookup proof carries three VRF proofs and akd computes three node labels for it:
//! about 1 ms of elliptic-curve work, most of a lookup's cost. Each depends only on the
//! key, the label, the version and whether the version is fresh or stale, never on the
//! epoch; a label's version changes only when its value does, which for a card owner is
//! rare. So the answers are kept (bounded, see [`VRF_CACHE_ENTRIES`]) and a lookup of an
//! identity looked up before costs the tree path alone. VRF proofs are deterministic
//! (RFC 9381's nonce), so a remembered answer is byte for byte the one computed afresh.

use akd::ecvrf::{Proof, VRFKeyStorage, VRFPrivateKey, VRFPublicKey, VrfError};
use akd::{AkdLabel, Configuration, NodeLabel, VersionFreshness};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use virgil_crypto::PrivateKey;
use zeroize::Zeroizing;

/// What [`PrivateKey::derive_secret`] derives the VRF key for (docs/format.md §14).
pub const VRF_PURPOSE: &[u8] = b"directory-vrf";

/// How many (label, freshness, version) answers are remembered, at most, in each of the
/// cache's two generations (about 200 bytes each: two generations of 32,768 are
/// ≈ 13 MiB, the six answers of ≈ 10,000 identities).
pub const VRF_CACHE_ENTRIES: usize = 32_768;

/// The directory's VRF private key, which hides labels (who is in the directory) from
/// anyone without it, and from which akd derives its commitment key. Derived from the
/// service key: the key file stays the one secret to keep.
///
/// Clones share one cache of VRF answers; a `VrfKey` serves one akd [`Configuration`]
/// (the directory's, [`crate::directory::Configuration`]), as the cache is not keyed by
/// it.
#[derive(Clone)]
pub struct VrfKey {
    secret: Zeroizing<[u8; 32]>,
    answers: Arc<Mutex<Answers>>,
}

type Key = (AkdLabel, VersionFreshness, u64);

/// What is known of one (label, freshness, version).
#[derive(Clone, Copy, Default)]
struct Answer {
    node_label: Option<NodeLabel>,
    proof: Option<Proof>,
}

/// Two generations: answers are added to `recent`; when it is full, it becomes `older`
/// (the previous `older` is dropped), and an answer found in `older` moves back. Bounded
/// at twice [`VRF_CACHE_ENTRIES`], and what is used stays.
#[derive(Default)]
struct Answers {
    recent: HashMap<Key, Answer>,
    older: HashMap<Key, Answer>,
}

impl Answers {
    fn get(&mut self, key: &Key) -> Answer {
        if let Some(answer) = self.recent.get(key) {
            return *answer;
        }
        match self.older.remove(key) {
            Some(answer) => {
                self.put(key.clone(), answer);
                answer
            }
            None => Answer::default(),
        }
    }

    fn put(&mut self, key: Key, answer: Answer) {
        if self.recent.len() >= VRF_CACHE_ENTRIES && !self.recent.contains_key(&key) {
            self.older = std::mem::take(&mut self.recent);
        }
        self.recent.insert(key, answer);
    }
}

impl VrfKey {
    /// The VRF key of the directory the service key `service_key` signs for.
    pub fn of_service_key(service_key: &PrivateKey) -> Self {
        Self {
            secret: service_key.derive_secret(VRF_PURPOSE),
            answers: Arc::default(),
        }
    }

    /// The VRF public key (32 bytes), which every checkpoint carries.
    pub fn public_key(&self) -> [u8; 32] {
        let private = VRFPrivateKey::try_from(self.secret.as_slice());
        // Every 32-byte string is an Ed25519 secret key, so this always succeeds.
        private.map_or([0; 32], |private| *VRFPublicKey::from(&private).as_bytes())
    }

    fn remembered(&self, key: &Key) -> Answer {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
    }

    fn remember(&self, key: Key, answer: Answer) {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(key, answer);
    }

    /// How many answers are remembered (for tests).
    #[doc(hidden)]
    pub fn remembered_answers(&self) -> usize {
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers.recent.len() + answers.older.len()
    }
}

impl std::fmt::Debug for VrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VrfKey(<redacted>)")
    }
}

#[async_trait::async_trait]
impl VRFKeyStorage for VrfKey {
    async fn retrieve(&self) -> Result<Vec<u8>, VrfError> {
        Ok(self.secret.to_vec())
    }

    async fn get_node_label<TC: Configuration>(
        &self,
        label: &AkdLabel,
        freshness: VersionFreshness,
        version: u64,
    ) -> Result<NodeLabel, VrfError> {
        let key = (label.clone(), freshness, version);
        let mut answer = self.remembered(&key);
        if let Some(node_label) = answer.node_label {
            return Ok(node_label);
        }
        let node_label = match answer.proof {
            // The label is the proof's output: no secret-key work.
            Some(proof) => self.get_node_label_from_vrf_proof(proof).await,
            None => {
                let private = self.get_vrf_private_key().await?;
                let expanded = akd::ecvrf::VRFExpandedPrivateKey::from(&private);
                let public = VRFPublicKey::from(&private);
                Self::get_node_label_with_expanded_key::<TC>(
                    &expanded, &public, label, freshness, version,
                )
            }
        };
        answer.node_label = Some(node_label);
        self.remember(key, answer);
        Ok(node_label)
    }

    async fn get_label_proof<TC: Configuration>(
        &self,
        label: &AkdLabel,
        freshness: VersionFreshness,
        version: u64,
    ) -> Result<Proof, VrfError> {
        let key = (label.clone(), freshness, version);
        let mut answer = self.remembered(&key);
        if let Some(proof) = answer.proof {
            return Ok(proof);
        }
        let private = self.get_vrf_private_key().await?;
        let proof = Self::get_label_proof_with_key::<TC>(&private, label, freshness, version);
        answer.proof = Some(proof);
        self.remember(key, answer);
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Configuration as Config;

    fn key() -> VrfKey {
        VrfKey::of_service_key(&PrivateKey::from_seed(&[7; 32]).unwrap())
    }

    /// The default (uncached) answers, to compare with.
    #[derive(Clone)]
    struct Plain(Vec<u8>);

    #[async_trait::async_trait]
    impl VRFKeyStorage for Plain {
        async fn retrieve(&self) -> Result<Vec<u8>, VrfError> {
            Ok(self.0.clone())
        }
    }

    #[tokio::test]
    async fn remembered_answers_are_the_answers() {
        let cached = key();
        let plain = Plain(cached.secret.to_vec());
        for version in [1, 2, 4, 9] {
            for freshness in [VersionFreshness::Fresh, VersionFreshness::Stale] {
                let label = AkdLabel(format!("alice{version}").into_bytes());
                // Twice each: computed, then remembered; proof first or label first.
                for _ in 0..2 {
                    let proof = cached
                        .get_label_proof::<Config>(&label, freshness, version)
                        .await
                        .unwrap();
                    let expected = plain
                        .get_label_proof::<Config>(&label, freshness, version)
                        .await
                        .unwrap();
                    assert_eq!(proof.to_bytes(), expected.to_bytes());
                    let node_label = cached
                        .get_node_label::<Config>(&label, freshness, version)
                        .await
                        .unwrap();
                    let expected = plain
                        .get_node_label::<Config>(&label, freshness, version)
                        .await
                        .unwrap();
                    assert_eq!(node_label, expected);
                }
                let other = AkdLabel(format!("bob{version}").into_bytes());
                let node_label = cached
                    .get_node_label::<Config>(&other, freshness, version)
                    .await
                    .unwrap();
                let expected = plain
                    .get_node_label::<Config>(&other, freshness, version)
                    .await
                    .unwrap();
                assert_eq!(node_label, expected);
            }
        }
        assert_eq!(cached.remembered_answers(), 16);
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_what_is_used() {
        let mut answers = Answers::default();
        let key_of = |i: u64| {
            (
                AkdLabel(i.to_be_bytes().to_vec()),
                VersionFreshness::Fresh,
                i,
            )
        };
        let answer = Answer {
            node_label: Some(NodeLabel::new([0; 32], 256)),
            proof: None,
        };
        for i in 0..(3 * VRF_CACHE_ENTRIES as u64) {
            answers.put(key_of(i), answer);
            // Key 0 is used all along: it stays.
            assert!(answers.get(&key_of(0)).node_label.is_some());
        }
        assert!(answers.recent.len() + answers.older.len() <= 2 * VRF_CACHE_ENTRIES);
        assert!(answers.get(&key_of(1)).node_label.is_none());
    }
}
