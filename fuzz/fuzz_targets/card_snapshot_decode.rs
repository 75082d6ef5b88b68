#![no_main]
//! Snapshot decoding: never a panic; an accepted snapshot is canonical (re-encodes to
//! exactly the input).

use libfuzzer_sys::fuzz_target;
use virgil_card::CardContent;

fuzz_target!(|data: &[u8]| {
    if let Ok(content) = CardContent::from_snapshot(data) {
        assert_eq!(content.to_snapshot().ok().as_deref(), Some(data));
    }
});
