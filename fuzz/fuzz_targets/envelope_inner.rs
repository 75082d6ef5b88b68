#![no_main]
//! What lies behind the header MAC and the chunk tags: the fuzzer's bytes become the
//! *inner* stream (kind byte, sender key id, plaintext, signature; docs/format.md §4.3),
//! sealed validly under one fixed header, then decrypted one-shot and streaming. Mutated
//! whole envelopes (`envelope_decrypt`) almost never get past the MACs; these always do.
//! The header's HPKE open and MAC are the same for every input, so they are done once
//! (`InnerSealer`'s decrypt functions; a proptest holds them to the real ones).
//!
//! The first input byte picks how `inner` is made from the rest. Its low two bits:
//! - `0`: the bytes as they are (any kind, any length);
//! - `1`: a well-formed inner signed by the expected sender (must verify);
//! - `2`, `3`: well-formed, signed by the expected sender (`2`) or a stranger (`3`), then
//!   one byte of it changed (`rest[0]` picks where, `rest[1]` how).
//!
//! Bit 2 adds 64 KiB to the plaintext, so the message has a second chunk; bit 3 flips the
//! last byte of the sealed envelope (the last chunk's tag), so whatever the first chunk
//! says, the message is *corrupted*. Both readers must agree on the plaintext or the
//! error (§4.6 order), and nothing may panic.

use libfuzzer_sys::fuzz_target;
use std::io::Read;
use std::sync::OnceLock;
use virgil_crypto::testing::{DeterministicRng, InnerSealer};
use virgil_crypto::{Error, PrivateKey};

struct Fixture {
    alice: PrivateKey,
    carol: PrivateKey,
    sealer: InnerSealer,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = |n: u8| PrivateKey::from_seed(&[n; 32]).expect("fixed seed");
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let sealer = InnerSealer::new(&[bob.public_key()], &mut DeterministicRng::new([9; 32]))
            .expect("one recipient");
        Fixture {
            alice,
            carol,
            sealer,
        }
    })
}

/// Everything a streaming reader over `sealed` releases, or its error.
fn stream(sealed: &[u8], senders: Option<&[&virgil_crypto::PublicKey]>) -> Result<Vec<u8>, Error> {
    let mut reader = fixture().sealer.reader(sealed, senders)?;
    let mut out = Vec::new();
    match reader.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(error) => match error.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
            Some(error) => Err(*error),
            None => panic!("a reader over a slice failed with a non-crypto error: {error}"),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let padded;
    let rest = if mode & 4 != 0 {
        padded = [rest, &[0x5a; 65_536][..]].concat();
        &padded[..]
    } else {
        rest
    };
    let inner = match mode % 4 {
        0 => rest.to_vec(),
        1 => f.sealer.signed_inner(rest, &f.alice),
        mode => {
            let [at, change, plaintext @ ..] = rest else {
                return;
            };
            let signer = if mode == 2 { &f.alice } else { &f.carol };
            let mut inner = f.sealer.signed_inner(plaintext, signer);
            let at = usize::from(*at) % inner.len();
            if let Some(byte) = inner.get_mut(at) {
                *byte ^= change;
            }
            inner
        }
    };
    let Ok(mut sealed) = f.sealer.seal(&inner) else {
        return;
    };
    let tampered = mode & 8 != 0;
    if tampered && let Some(last) = sealed.last_mut() {
        *last ^= 1;
    }

    let senders = [f.alice.public_key()];
    let one_shot = f.sealer.decrypt_then_verify(&sealed, &senders);
    assert_eq!(
        one_shot,
        stream(&sealed, Some(&senders)),
        "verified readers disagree"
    );
    if tampered && !inner.is_empty() {
        assert_eq!(
            one_shot,
            Err(Error::Corrupted),
            "a modified tag was not the first error"
        );
    }
    if mode % 4 == 1 && !tampered {
        assert_eq!(
            one_shot.as_deref(),
            Ok(rest),
            "a well-formed message did not verify"
        );
    }
    if mode & 4 != 0 {
        return; // long messages: the verified pair is enough (and keeps the rate up)
    }
    let unverified = f.sealer.decrypt(&sealed);
    assert_eq!(
        unverified,
        stream(&sealed, None),
        "unverified readers disagree"
    );
    if one_shot.is_ok() {
        assert_eq!(one_shot, unverified);
    }
});
