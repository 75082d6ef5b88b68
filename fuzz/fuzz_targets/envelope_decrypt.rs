#![no_main]
//! Envelope parsing and decryption with two fixed keys (suite 1 and suite 2), one-shot
//! and streaming: any input is an error or a plaintext, never a panic, and both paths
//! agree.

use libfuzzer_sys::fuzz_target;
use std::io::Read;
use std::sync::OnceLock;
use virgil_crypto::envelope::{self, stream::DecryptingReader};
use virgil_crypto::{PrivateKey, Suite};

fn keys() -> &'static [PrivateKey; 2] {
    static KEYS: OnceLock<[PrivateKey; 2]> = OnceLock::new();
    // Recipient keys of docs/vectors/crypto.json (seed a0 02 02 … in suite 1, a0 06 06 …
    // in suite 2), so that the vectors' envelopes make a seed corpus that reaches the
    // payload through either KEM.
    KEYS.get_or_init(|| {
        let key = |n: u8, suite| {
            let mut seed = [n; 32];
            seed[0] = 0xa0;
            PrivateKey::from_seed_with_suite(&seed, suite).expect("fixed seed")
        };
        [key(2, Suite::Classic), key(6, Suite::PostQuantum)]
    })
}

fuzz_target!(|data: &[u8]| {
    // Reading the recipients never panics, and a decryptable envelope lists its key.
    let recipients = envelope::recipient_suites(data);
    for key in keys() {
        let one_shot = envelope::decrypt(data, key);
        if one_shot.is_ok() {
            assert!(recipients.as_ref().is_ok_and(|ids| {
                ids.iter()
                    .any(|(id, suite)| id == key.key_id() && *suite == key.suite())
            }));
        }
        let verified = envelope::decrypt_then_verify(data, key, &[key.public_key()]);
        let streamed = DecryptingReader::unverified(data, key).and_then(|mut reader| {
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
    }
});
