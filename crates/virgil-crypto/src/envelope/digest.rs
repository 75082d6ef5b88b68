//! The plaintext digest the sender signs: a two-level hash tree over 64 KiB leaves.
//!
//! ```text
//! leaf_i = SHA-256(0x00 ‖ u64be(i) ‖ P[i·65536 .. min((i+1)·65536, len)])
//! D      = SHA-256(0x01 ‖ leaf_0 ‖ … ‖ leaf_{k-1} ‖ u64be(len))      k = ⌈len / 65536⌉
//! ```
//!
//! Leaves are independent, so the digest of a large message is computed on all cores
//! (feature `parallel`), and it can also be computed incrementally while streaming.

use sha2::{Digest as _, Sha256};

/// Plaintext bytes per leaf.
pub(crate) const LEAF_SIZE: usize = 64 * 1024;

fn leaf_hash(index: u64, data: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(index.to_be_bytes());
    hasher.update(data);
    hasher.finalize().into()
}

fn root_hasher() -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher
}

/// The digest of a whole plaintext at once.
pub(crate) fn digest(plaintext: &[u8]) -> [u8; 32] {
    let mut root = root_hasher();
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        let leaves: alloc::vec::Vec<[u8; 32]> = plaintext
            .par_chunks(LEAF_SIZE)
            .enumerate()
            .map(|(index, data)| leaf_hash(index as u64, data))
            .collect();
        for leaf in &leaves {
            root.update(leaf);
        }
    }
    #[cfg(not(feature = "parallel"))]
    for (index, data) in plaintext.chunks(LEAF_SIZE).enumerate() {
        root.update(leaf_hash(index as u64, data));
    }
    root.update((plaintext.len() as u64).to_be_bytes());
    root.finalize().into()
}

/// The digest of a plaintext that arrives in pieces of any size.
#[derive(Clone)]
#[cfg(any(feature = "std", test))]
pub(crate) struct IncrementalDigest {
    root: Sha256,
    leaf: Sha256,
    leaf_len: usize,
    leaf_index: u64,
    total_len: u64,
}

#[cfg(any(feature = "std", test))]
impl IncrementalDigest {
    pub(crate) fn new() -> Self {
        Self {
            root: root_hasher(),
            leaf: Self::leaf_hasher(0),
            leaf_len: 0,
            leaf_index: 0,
            total_len: 0,
        }
    }

    fn leaf_hasher(index: u64) -> Sha256 {
        let mut leaf = Sha256::new();
        leaf.update([0x00]);
        leaf.update(index.to_be_bytes());
        leaf
    }

    fn close_leaf(&mut self) {
        let next = Self::leaf_hasher(self.leaf_index.wrapping_add(1));
        let leaf = core::mem::replace(&mut self.leaf, next);
        self.root.update(leaf.finalize());
        self.leaf_index = self.leaf_index.wrapping_add(1);
        self.leaf_len = 0;
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.total_len = self.total_len.wrapping_add(data.len() as u64);
        while !data.is_empty() {
            if self.leaf_len == LEAF_SIZE {
                self.close_leaf();
            }
            let take = (LEAF_SIZE - self.leaf_len).min(data.len());
            let (now, rest) = data.split_at(take);
            self.leaf.update(now);
            self.leaf_len += take;
            data = rest;
        }
    }

    pub(crate) fn finalize(mut self) -> [u8; 32] {
        if self.leaf_len > 0 {
            self.close_leaf();
        }
        self.root.update(self.total_len.to_be_bytes());
        self.root.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_digest_is_root_of_no_leaves() {
        let mut expected = Sha256::new();
        expected.update([0x01]);
        expected.update(0u64.to_be_bytes());
        assert_eq!(digest(b""), <[u8; 32]>::from(expected.finalize()));
        assert_eq!(IncrementalDigest::new().finalize(), digest(b""));
    }

    #[test]
    fn digest_depends_on_length_and_content() {
        let a = alloc::vec![0u8; LEAF_SIZE];
        let mut b = a.clone();
        b.push(0);
        assert_ne!(digest(&a), digest(&b));
        b.truncate(LEAF_SIZE);
        b[LEAF_SIZE - 1] = 1;
        assert_ne!(digest(&a), digest(&b));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn incremental_matches_one_shot(
            len in prop_oneof![0usize..200, (LEAF_SIZE - 2)..(LEAF_SIZE + 2), (2 * LEAF_SIZE - 1)..(2 * LEAF_SIZE + 1)],
            pieces in proptest::collection::vec(1usize..70_000, 1..8),
        ) {
            let data: alloc::vec::Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut incremental = IncrementalDigest::new();
            let mut rest = &data[..];
            for piece in pieces.iter().cycle() {
                if rest.is_empty() { break; }
                let (now, later) = rest.split_at((*piece).min(rest.len()));
                incremental.update(now);
                rest = later;
            }
            prop_assert_eq!(incremental.finalize(), digest(&data));
        }
    }
}
