#![no_main]
//! Directory checkpoint decoding (docs/format.md §14), binary and base64: never a panic;
//! an accepted checkpoint is canonical (re-encodes to exactly the input), and its
//! verification against a fixed key never panics either. The same for the
//! verification code that carries one (format.md §13): what it accepts reads back the
//! same from its own encoding.

use libfuzzer_sys::fuzz_target;
use virgil_card::checkpoint::SignedCheckpoint;

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = SignedCheckpoint::from_bytes(data) {
        assert_eq!(signed.to_bytes(), data);
        let key = virgil_crypto::PrivateKey::from_seed(&[6; 32]).map(|k| k.public_key().clone());
        if let Ok(key) = key {
            let _ = signed.verify(&[key]);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = SignedCheckpoint::from_base64(text);
        if let Ok(code) = virgil_card::VerificationCode::parse(text) {
            let again = virgil_card::VerificationCode::parse(&code.encode());
            assert_eq!(again.as_ref(), Ok(&code));
        }
    }
});
