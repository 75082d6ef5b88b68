#![no_main]
//! Text decoders: any input either decodes or errors, and decoded values round-trip.

use libfuzzer_sys::fuzz_target;
use virgil_crypto::encoding::{from_base64, from_hex, to_base64, to_hex};

fuzz_target!(|text: &str| {
    if let Ok(bytes) = from_base64(text) {
        assert_eq!(to_base64(&bytes), text);
    }
    if let Ok(bytes) = from_hex(text) {
        assert_eq!(to_hex(&bytes), text);
    }
});
