#![no_main]
//! Public key decoding: accepted keys re-encode to exactly the input bytes.

use libfuzzer_sys::fuzz_target;
use virgil_crypto::PublicKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PublicKey::from_bytes(data) {
        assert_eq!(&key.as_bytes()[..], data);
    }
});
