#![no_main]
//! Envelope parsing and decryption with a fixed key, one-shot and streaming: any input
//! is an error or a plaintext, never a panic, and both paths agree.

use libfuzzer_sys::fuzz_target;
use std::io::Read;
use std::sync::OnceLock;
use virgil_crypto::PrivateKey;
use virgil_crypto::envelope::{self, stream::DecryptingReader};

fn key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    // The recipient key of docs/vectors/crypto.json (seed a0 02 02 …), so that the
    // vectors' envelopes make a seed corpus that reaches the payload.
    KEY.get_or_init(|| {
        let mut seed = [2; 32];
        seed[0] = 0xa0;
        PrivateKey::from_seed(&seed).expect("fixed seed")
    })
}

fuzz_target!(|data: &[u8]| {
    // Reading the recipients never panics, and a decryptable envelope lists its key.
    let recipients = envelope::recipients(data);
    let one_shot = envelope::decrypt(data, key());
    if one_shot.is_ok() {
        assert!(
            recipients
                .as_ref()
                .is_ok_and(|ids| ids.contains(key().public_key().key_id()))
        );
    }
    let verified = envelope::decrypt_then_verify(data, key(), &[key().public_key()]);
    let streamed = DecryptingReader::unverified(data, key()).and_then(|mut reader| {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map(|_| out)
    });
    match (&one_shot, &streamed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ => panic!("one-shot and streaming disagree"),
    }
    if let Ok(message) = verified {
        assert_eq!(Some(&message.plaintext), one_shot.as_ref().ok());
    }
});
