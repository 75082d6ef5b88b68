//! The published vectors in `docs/vectors/crypto.json`: regenerated from a deterministic
//! generator and compared byte for byte, and every vector is also checked by decrypting
//! it, so the spec (docs/format.md), the code and the vectors cannot drift apart.
//!
//! After an intentional format change: `VIRGIL_REGENERATE_VECTORS=1 cargo test -p
//! virgil-crypto --test vectors`, then review the diff.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{Value, json};
use virgil_crypto::encoding::{from_base64, from_hex, to_base64, to_hex};
use virgil_crypto::sign::{self, Context, Signature};
use virgil_crypto::testing::{DeterministicRng, lock_deterministic, seal_deterministic};
use virgil_crypto::{Error, PrivateKey, PublicKey, envelope, keyblob};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/vectors/crypto.json"
);

fn seed(n: u8) -> [u8; 32] {
    let mut seed = [n; 32];
    seed[0] = 0xa0;
    seed
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn error_name(error: Error) -> &'static str {
    match error {
        Error::NotARecipient => "not_a_recipient",
        Error::UnknownSender => "unknown_sender",
        Error::BadSignature => "bad_signature",
        Error::Corrupted => "corrupted",
        Error::Malformed => "malformed",
        Error::UnsupportedVersion => "unsupported_version",
        Error::WrongPassword => "wrong_password",
        Error::NotSigned => "not_signed",
        other => panic!("unexpected error {other:?}"),
    }
}

fn generate() -> Value {
    let keys: Vec<Value> = (1..=4u8)
        .map(|n| {
            let key = PrivateKey::from_seed(&seed(n)).unwrap();
            json!({
                "seed": to_hex(&seed(n)),
                "public_key": to_hex(key.public_key().as_bytes()),
                "key_id": key.key_id().to_string(),
            })
        })
        .collect();

    let alice = PrivateKey::from_seed(&seed(1)).unwrap();
    let signatures: Vec<Value> = [
        (Context::CARD, &b"card id"[..]),
        (Context::CARD_REVOCATION, b""),
        (Context::MESSAGE, b"\x00\x01\x02"),
    ]
    .into_iter()
    .map(|(context, message)| {
        json!({
            "seed": to_hex(&seed(1)),
            "context": context.name(),
            "message": to_hex(message),
            "signature": to_hex(sign::sign(&alice, context, message).as_bytes()),
        })
    })
    .collect();

    // (name, plaintext length, signed, recipients)
    let signed_one_chunk = 65_536 - 1 - 32 - 64;
    let cases: [(&str, usize, bool, &[u8]); 8] = [
        ("empty, signed, 1 recipient", 0, true, &[2]),
        ("1 byte, signed, 1 recipient", 1, true, &[2]),
        ("1 byte, unsigned, 1 recipient", 1, false, &[2]),
        (
            "exactly one chunk of inner, signed",
            signed_one_chunk,
            true,
            &[2],
        ),
        (
            "one chunk of inner + 1 byte, signed",
            signed_one_chunk + 1,
            true,
            &[2],
        ),
        (
            "three chunks, signed, 3 recipients",
            2 * 65_536 + 1000,
            true,
            &[2, 3, 4],
        ),
        ("100 bytes, signed, 3 recipients", 100, true, &[2, 3, 4]),
        ("empty, unsigned, 3 recipients", 0, false, &[2, 3, 4]),
    ];
    let envelopes: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(index, (name, len, signed, recipients))| {
            let keys: Vec<PrivateKey> = recipients
                .iter()
                .map(|&n| PrivateKey::from_seed(&seed(n)).unwrap())
                .collect();
            let public: Vec<&PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
            let rng_seed = [index as u8; 32];
            let mut rng = DeterministicRng::new(rng_seed);
            let signer = signed.then_some(&alice);
            let ciphertext =
                seal_deterministic(&plaintext(*len), signer, &public, &mut rng).unwrap();
            json!({
                "name": name,
                "rng_seed": to_hex(&rng_seed),
                "sender_seed": signed.then(|| to_hex(&seed(1))),
                "recipient_seeds": recipients.iter().map(|&n| to_hex(&seed(n))).collect::<Vec<_>>(),
                "plaintext_len": len,
                "plaintext": "byte i = i mod 251",
                "ciphertext": to_base64(&ciphertext),
            })
        })
        .collect();

    // Negative vectors derived from the 100-byte signed envelope (index 6).
    let base = from_base64(envelopes[6]["ciphertext"].as_str().unwrap()).unwrap();
    let mut negatives = Vec::new();
    let mut push = |name: &str, ciphertext: Vec<u8>, recipient: u8, sender: u8| {
        let key = PrivateKey::from_seed(&seed(recipient)).unwrap();
        let sender_key = PrivateKey::from_seed(&seed(sender)).unwrap();
        let error = envelope::decrypt_then_verify(&ciphertext, &key, &[sender_key.public_key()])
            .unwrap_err();
        negatives.push(json!({
            "name": name,
            "recipient_seed": to_hex(&seed(recipient)),
            "sender_seed": to_hex(&seed(sender)),
            "ciphertext": to_base64(&ciphertext),
            "error": error_name(error),
        }));
    };
    let mut flipped = base.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x80;
    push("last tag byte flipped", flipped, 2, 1);
    let mut mac = base.clone();
    mac[26 + 3 * 145] ^= 1;
    push("header MAC flipped", mac, 2, 1);
    push(
        "truncated by one byte",
        base[..base.len() - 1].to_vec(),
        2,
        1,
    );
    let mut extended = base.clone();
    extended.push(0);
    push("one byte appended", extended, 2, 1);
    push("not encrypted for this key", base.clone(), 1, 1);
    push(
        "signed by someone else than the expected sender",
        base.clone(),
        2,
        3,
    );
    let mut version = base.clone();
    version[4] = 2;
    push("unknown version", version, 2, 1);
    let mut count = base.clone();
    count[22..26].copy_from_slice(&0u32.to_be_bytes());
    push("zero recipients", count, 2, 1);
    let unsigned = from_base64(envelopes[2]["ciphertext"].as_str().unwrap()).unwrap();
    push("unsigned, given to a reader that verifies", unsigned, 2, 1);
    // §4.6: what the first chunk says about the sender waits for the last chunk's tag.
    let mut three_chunks = from_base64(envelopes[5]["ciphertext"].as_str().unwrap()).unwrap();
    let last = three_chunks.len() - 1;
    three_chunks[last] ^= 0x80;
    push(
        "unexpected sender and, three chunks later, a flipped tag",
        three_chunks,
        2,
        3,
    );

    let mut rng = DeterministicRng::new([0x77; 32]);
    let params = keyblob::Params::with_iterations(1_000).unwrap();
    let locked = lock_deterministic(&alice, Some(b"correct horse"), params, &mut rng).unwrap();
    let unprotected = lock_deterministic(&alice, None, params, &mut rng).unwrap();
    let key_blobs = json!([
        {"seed": to_hex(&seed(1)), "password": "correct horse", "iterations": 1000, "blob": to_hex(&locked)},
        {"seed": to_hex(&seed(1)), "password": null, "iterations": 0, "blob": to_hex(&unprotected)},
    ]);

    json!({
        "about": "virgil-crypto format vectors; see docs/format.md. Generated by crates/virgil-crypto/tests/vectors.rs with a deterministic generator (block i = SHA-256(\"virgil test rng\" || rng_seed || u64be(i))); real use draws from the OS.",
        "keys": keys,
        "signatures": signatures,
        "envelopes": envelopes,
        "negative_envelopes": negatives,
        "key_blobs": key_blobs,
    })
}

#[test]
fn vectors_file_matches_the_code() {
    let generated = generate();
    if std::env::var_os("VIRGIL_REGENERATE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(PATH, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(PATH).unwrap_or_else(|e| panic!("{PATH}: {e}"));
    let stored: Value = serde_json::from_str(&text).unwrap();
    assert!(
        stored == generated,
        "docs/vectors/crypto.json differs from what the code produces. If the format changed on \
         purpose, update docs/format.md and run VIRGIL_REGENERATE_VECTORS=1 cargo test -p virgil-crypto --test vectors"
    );
}

/// Independent of generation: every stored vector decrypts/verifies/fails as recorded.
#[test]
fn stored_vectors_check_out() {
    if std::env::var_os("VIRGIL_REGENERATE_VECTORS").is_some() {
        return; // the file is being rewritten by the other test
    }
    let text = std::fs::read_to_string(PATH).unwrap();
    let stored: Value = serde_json::from_str(&text).unwrap();
    let key_of = |hex: &Value| {
        PrivateKey::from_seed(&from_hex(hex.as_str().unwrap()).unwrap().try_into().unwrap())
            .unwrap()
    };

    for vector in stored["keys"].as_array().unwrap() {
        let key = key_of(&vector["seed"]);
        let public =
            PublicKey::from_bytes(&from_hex(vector["public_key"].as_str().unwrap()).unwrap())
                .unwrap();
        assert_eq!(&public, key.public_key());
        assert_eq!(
            public.key_id().to_string(),
            vector["key_id"].as_str().unwrap()
        );
    }
    for vector in stored["signatures"].as_array().unwrap() {
        let key = key_of(&vector["seed"]);
        let context = match vector["context"].as_str().unwrap() {
            "virgil/card" => Context::CARD,
            "virgil/card-revocation" => Context::CARD_REVOCATION,
            "virgil/message" => Context::MESSAGE,
            other => panic!("unknown context {other}"),
        };
        let signature =
            Signature::from_slice(&from_hex(vector["signature"].as_str().unwrap()).unwrap())
                .unwrap();
        let message = from_hex(vector["message"].as_str().unwrap()).unwrap();
        sign::verify(key.public_key(), context, &message, &signature).unwrap();
    }
    let envelopes = stored["envelopes"].as_array().unwrap();
    assert_eq!(envelopes.len(), 8);
    for vector in envelopes {
        let ciphertext = from_base64(vector["ciphertext"].as_str().unwrap()).unwrap();
        let expected = plaintext(vector["plaintext_len"].as_u64().unwrap() as usize);
        for recipient in vector["recipient_seeds"].as_array().unwrap() {
            let recipient = key_of(recipient);
            if vector["sender_seed"].is_null() {
                assert_eq!(
                    envelope::decrypt(&ciphertext, &recipient).unwrap(),
                    expected
                );
            } else {
                let sender = key_of(&vector["sender_seed"]);
                let message =
                    envelope::decrypt_then_verify(&ciphertext, &recipient, &[sender.public_key()])
                        .unwrap();
                assert_eq!(message.plaintext, expected, "{}", vector["name"]);
            }
        }
    }
    let negatives = stored["negative_envelopes"].as_array().unwrap();
    assert_eq!(negatives.len(), 10);
    for vector in negatives {
        let ciphertext = from_base64(vector["ciphertext"].as_str().unwrap()).unwrap();
        let recipient = key_of(&vector["recipient_seed"]);
        let sender = key_of(&vector["sender_seed"]);
        let error = envelope::decrypt_then_verify(&ciphertext, &recipient, &[sender.public_key()])
            .unwrap_err();
        assert_eq!(
            error_name(error),
            vector["error"].as_str().unwrap(),
            "{}",
            vector["name"]
        );
        // The streaming reader reports the same error, and releases nothing first.
        let mut released = Vec::new();
        let error = envelope::stream::DecryptingReader::verified(
            &ciphertext[..],
            &recipient,
            &[sender.public_key()],
        )
        .and_then(|mut reader| std::io::Read::read_to_end(&mut reader, &mut released))
        .unwrap_err();
        let error = *error.into_inner().unwrap().downcast::<Error>().unwrap();
        assert_eq!(
            error_name(error),
            vector["error"].as_str().unwrap(),
            "{} (streaming)",
            vector["name"]
        );
        assert!(released.is_empty(), "{} (streaming)", vector["name"]);
    }
    for vector in stored["key_blobs"].as_array().unwrap() {
        let blob = from_hex(vector["blob"].as_str().unwrap()).unwrap();
        let password = vector["password"].as_str().map(str::as_bytes);
        assert_eq!(
            keyblob::unlock(&blob, password).unwrap(),
            key_of(&vector["seed"])
        );
        if password.is_some() {
            assert_eq!(
                keyblob::unlock(&blob, Some(b"wrong")).unwrap_err(),
                Error::WrongPassword
            );
        }
    }
}
