//! The envelope's transcript hashes: BLAKE3 in its key-derivation mode, one context
//! string each, so neither can ever equal the other or any other BLAKE3 use.
//!
//! ```text
//! digest      = BLAKE3-derive_key("virgil-envelope-v1 plaintext digest", plaintext)   32 bytes
//! header_hash = BLAKE3-derive_key("virgil-envelope-v1 header hash", header)           32 bytes
//! ```
//!
//! BLAKE3 is itself a tree hash: it uses SIMD across 1 KiB chunks of one input, and all
//! cores for large inputs with the `parallel` feature, and it hashes incrementally while
//! streaming with the same result. On this project's reference machine it is about four
//! times faster than SHA-256 (docs/performance.md).

use alloc::vec::Vec;
use zeroize::Zeroizing;

const PLAINTEXT_CONTEXT: &str = "virgil-envelope-v1 plaintext digest";
const HEADER_CONTEXT: &str = "virgil-envelope-v1 header hash";

/// Below this size, spreading a hash over threads costs more than it saves.
#[cfg(feature = "parallel")]
const PARALLEL_THRESHOLD: usize = 256 * 1024;

/// The digest of a whole plaintext at once.
#[cfg(any(feature = "parallel", test, feature = "test-util"))]
pub(crate) fn digest(plaintext: &[u8]) -> [u8; 32] {
    let mut hasher = IncrementalDigest::new();
    hasher.update_large(plaintext);
    hasher.finalize()
}

/// The hash of a header (everything before the MAC) that the MAC and signature cover.
pub(crate) fn header_hash(header: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(HEADER_CONTEXT);
    hasher.update(header);
    hasher.finalize().into()
}

/// BLAKE3 hashes the widest SIMD batches (16 chunks of 1 KiB with AVX-512) only where
/// the input position is aligned to them; fed at odd offsets (the envelope's chunk bodies
/// are 65 503 bytes, then 64 KiB) it ran at half speed (issue 16). `update` therefore
/// hands BLAKE3 only whole, aligned blocks and keeps the tail in `pending`.
const BLOCK: usize = 16 * 1024;

/// The digest of a plaintext that arrives in pieces of any size.
#[derive(Clone)]
pub(crate) struct IncrementalDigest {
    hasher: blake3::Hasher,
    /// Fewer than `BLOCK` bytes not yet hashed (plaintext: wiped on drop).
    pending: Zeroizing<Vec<u8>>,
}

impl IncrementalDigest {
    pub(crate) fn new() -> Self {
        Self {
            hasher: blake3::Hasher::new_derive_key(PLAINTEXT_CONTEXT),
            pending: Zeroizing::new(Vec::with_capacity(BLOCK)),
        }
    }

    /// Adds `data`; the hasher sees it at `BLOCK`-aligned positions only. Less than two
    /// blocks of each call are copied (the part that completes `pending`, and the tail);
    /// everything between goes to BLAKE3 in place. `pending` never grows past its first
    /// allocation, so no unwiped copy of the plaintext is left behind by a reallocation.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        if !self.pending.is_empty() {
            let wanted = BLOCK - self.pending.len();
            let (now, later) = data.split_at(wanted.min(data.len()));
            self.pending.extend_from_slice(now);
            data = later;
            if self.pending.len() < BLOCK {
                return;
            }
            self.hasher.update(&self.pending);
            self.pending.clear();
        }
        let aligned = data.len() - data.len() % BLOCK;
        let (blocks, tail) = data.split_at(aligned);
        self.hasher.update(blocks);
        self.pending.extend_from_slice(tail);
    }

    /// Like `update`, on all cores for large inputs when the `parallel` feature is on.
    #[cfg(any(feature = "parallel", test, feature = "test-util"))]
    pub(crate) fn update_large(&mut self, data: &[u8]) {
        #[cfg(feature = "parallel")]
        if data.len() >= PARALLEL_THRESHOLD && self.pending.is_empty() {
            // Whole blocks on all cores; the tail waits in `pending` as in `update`.
            let aligned = data.len() - data.len() % BLOCK;
            let (blocks, tail) = data.split_at(aligned);
            self.hasher.update_rayon(blocks);
            self.pending.extend_from_slice(tail);
            return;
        }
        self.update(data);
    }

    pub(crate) fn finalize(mut self) -> [u8; 32] {
        self.hasher.update(&self.pending);
        self.hasher.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn contexts_separate_the_hashes() {
        assert_ne!(digest(b"same"), header_hash(b"same"));
        assert_eq!(
            digest(b"same"),
            blake3::derive_key(PLAINTEXT_CONTEXT, b"same")
        );
        assert_eq!(header_hash(b""), blake3::derive_key(HEADER_CONTEXT, b""));
    }

    #[test]
    fn large_inputs_hash_the_same_on_every_path() {
        let data: alloc::vec::Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(digest(&data), blake3::derive_key(PLAINTEXT_CONTEXT, &data));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn incremental_matches_one_shot(
            len in 0usize..200_000,
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
