#![no_main]
//! Key blob decoding and unlocking: never a panic. Blobs asking for more than 2 000
//! PBKDF2 iterations are only decoded, so the fuzzer keeps its speed (the iteration cap
//! itself is tested in the crate).

use libfuzzer_sys::fuzz_target;
use virgil_crypto::keyblob;

fuzz_target!(|data: &[u8]| {
    let _ = keyblob::is_hardened(data);
    if keyblob::is_password_protected(data).is_err() {
        return;
    }
    let iterations = data
        .get(6..10)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(u32::MAX);
    if iterations <= 2_000 {
        let _ = keyblob::unlock(data, Some(b"pw"));
        let _ = keyblob::unlock(data, None);
        let hardened = keyblob::HardenedPassword::from_bytes([7; 32]);
        let _ = keyblob::unlock_hardened(data, &hardened);
    }
});
