#![no_main]
//! Key backup's oblivious PRF messages from the network: a blinded password the cards
//! service evaluates, and an evaluation and a public key a client finalizes with.
//! Never a panic; a finalized answer that does not hold is refused.

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use virgil_crypto::oprf::{
    BlindedPassword, ELEMENT_LEN, Evaluation, OprfKey, OprfPublicKey, PasswordBlind,
};

fn server() -> &'static OprfKey {
    static KEY: OnceLock<OprfKey> = OnceLock::new();
    KEY.get_or_init(|| OprfKey::derive(&[1; 32], b"fuzz").expect("a fixed key derives"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(blinded) = BlindedPassword::from_bytes(data.get(..ELEMENT_LEN).unwrap_or(data)) {
        let _ = server().evaluate(&blinded, data);
    }
    let _ = OprfPublicKey::from_bytes(data);
    if let Ok(evaluation) = Evaluation::from_bytes(data) {
        if let Ok((state, _)) = PasswordBlind::new(b"password") {
            let finalized = state.finalize(&evaluation, &server().public_key(), b"info");
            // Only the server's own evaluation of this very blind could hold.
            assert!(finalized.is_err());
        }
    }
});
