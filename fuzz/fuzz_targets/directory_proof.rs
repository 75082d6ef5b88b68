#![no_main]
//! The key directory's entries and proofs as a client decodes them (docs/format.md
//! §15): never a panic; an accepted entry is canonical; a lookup or history proof from
//! any bytes is refused or verified cleanly against a fixed checkpoint.

use libfuzzer_sys::fuzz_target;
use virgil_card::CardIdentity;
use virgil_card::checkpoint::Checkpoint;
use virgil_card::directory::{self, DirectoryEntry};

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = DirectoryEntry::decode(data) {
        assert_eq!(entry.encode(), data);
    }
    let checkpoint = Checkpoint {
        directory: "fuzz".to_owned(),
        epoch: 3,
        root: [7; 32],
        vrf_key: [9; 32],
        published_at: 0,
    };
    let owner = CardIdentity::new("app", "bob");
    let _ = directory::verify_lookup(&checkpoint, &owner, data);
    let _ = directory::verify_history(&checkpoint, &owner, data, None);
});
