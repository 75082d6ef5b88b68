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
use virgil_crypto::{Error, PrivateKey, PublicKey, Suite, envelope, keyblob};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/vectors/crypto.json"
);

fn seed(n: u8) -> [u8; 32] {
    let mut seed = [n; 32];
    seed[0] = 0xa0;
    seed
}

/// Vector key `n` of suite `suite` (1 or 2).
fn key(n: u8, suite: u8) -> PrivateKey {
    PrivateKey::from_seed_with_suite(&seed(n), Suite::from_id(suite).unwrap()).unwrap()
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
    let keys: Vec<Value> = [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (6, 2)]
        .into_iter()
        .map(|(n, suite)| {
            let key = key(n, suite);
            json!({
                "seed": to_hex(&seed(n)),
                "suite": suite,
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

    // (name, plaintext length, sender (none: unsigned), recipients), keys as (n, suite)
    let signed_one_chunk = 65_536 - 1 - 32 - 64;
    type Case<'a> = (&'a str, usize, Option<(u8, u8)>, &'a [(u8, u8)]);
    let alice_1 = Some((1, 1));
    let cases: [Case<'_>; 11] = [
        ("empty, signed, 1 recipient", 0, alice_1, &[(2, 1)]),
        ("1 byte, signed, 1 recipient", 1, alice_1, &[(2, 1)]),
        ("1 byte, unsigned, 1 recipient", 1, None, &[(2, 1)]),
        (
            "exactly one chunk of inner, signed",
            signed_one_chunk,
            alice_1,
            &[(2, 1)],
        ),
        (
            "one chunk of inner + 1 byte, signed",
            signed_one_chunk + 1,
            alice_1,
            &[(2, 1)],
        ),
        (
            "three chunks, signed, 3 recipients",
            2 * 65_536 + 1000,
            alice_1,
            &[(2, 1), (3, 1), (4, 1)],
        ),
        (
            "100 bytes, signed, 3 recipients",
            100,
            alice_1,
            &[(2, 1), (3, 1), (4, 1)],
        ),
        (
            "empty, unsigned, 3 recipients",
            0,
            None,
            &[(2, 1), (3, 1), (4, 1)],
        ),
        (
            "suite 2: 100 bytes, signed by a suite-2 key, 1 suite-2 recipient",
            100,
            Some((5, 2)),
            &[(6, 2)],
        ),
        (
            "mixed: 100 bytes, signed by suite 1, recipients of suites 2, 1, 2",
            100,
            alice_1,
            &[(6, 2), (2, 1), (5, 2)],
        ),
        (
            "mixed: three chunks, unsigned, recipients of suites 1, 2",
            2 * 65_536 + 1000,
            None,
            &[(3, 1), (6, 2)],
        ),
    ];
    let envelopes: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(index, (name, len, sender, recipients))| {
            let keys: Vec<PrivateKey> = recipients.iter().map(|&(n, suite)| key(n, suite)).collect();
            let public: Vec<&PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
            let rng_seed = [index as u8; 32];
            let mut rng = DeterministicRng::new(rng_seed);
            let signer = sender.map(|(n, suite)| key(n, suite));
            let ciphertext =
                seal_deterministic(&plaintext(*len), signer.as_ref(), &public, &mut rng).unwrap();
            json!({
                "name": name,
                "rng_seed": to_hex(&rng_seed),
                "sender_seed": sender.map(|(n, _)| to_hex(&seed(n))),
                "sender_suite": sender.map(|(_, suite)| suite),
                "recipient_seeds": recipients.iter().map(|&(n, _)| to_hex(&seed(n))).collect::<Vec<_>>(),
                "recipient_suites": recipients.iter().map(|&(_, suite)| suite).collect::<Vec<_>>(),
                "plaintext_len": len,
                "plaintext": "byte i = i mod 251",
                "ciphertext": to_base64(&ciphertext),
            })
        })
        .collect();

    // Negative vectors derived from the 100-byte signed envelope (index 6).
    let base = from_base64(envelopes[6]["ciphertext"].as_str().unwrap()).unwrap();
    let mut negatives = Vec::new();
    let mut push_as = |name: &str, ciphertext: Vec<u8>, recipient: (u8, u8), sender: (u8, u8)| {
        let recipient_key = key(recipient.0, recipient.1);
        let sender_key = key(sender.0, sender.1);
        let error =
            envelope::decrypt_then_verify(&ciphertext, &recipient_key, &[sender_key.public_key()])
                .unwrap_err();
        negatives.push(json!({
            "name": name,
            "recipient_seed": to_hex(&seed(recipient.0)),
            "recipient_suite": recipient.1,
            "sender_seed": to_hex(&seed(sender.0)),
            "sender_suite": sender.1,
            "ciphertext": to_base64(&ciphertext),
            "error": error_name(error),
        }));
    };
    let mut flipped = base.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x80;
    push_as("last tag byte flipped", flipped, (2, 1), (1, 1));
    let mut mac = base.clone();
    mac[26 + 3 * 145] ^= 1;
    push_as("header MAC flipped", mac, (2, 1), (1, 1));
    push_as(
        "truncated by one byte",
        base[..base.len() - 1].to_vec(),
        (2, 1),
        (1, 1),
    );
    let mut extended = base.clone();
    extended.push(0);
    push_as("one byte appended", extended, (2, 1), (1, 1));
    push_as("not encrypted for this key", base.clone(), (1, 1), (1, 1));
    push_as(
        "signed by someone else than the expected sender",
        base.clone(),
        (2, 1),
        (3, 1),
    );
    let mut version = base.clone();
    version[4] = 2;
    push_as("unknown version", version, (2, 1), (1, 1));
    let mut count = base.clone();
    count[22..26].copy_from_slice(&0u32.to_be_bytes());
    push_as("zero recipients", count, (2, 1), (1, 1));
    let unsigned = from_base64(envelopes[2]["ciphertext"].as_str().unwrap()).unwrap();
    push_as(
        "unsigned, given to a reader that verifies",
        unsigned,
        (2, 1),
        (1, 1),
    );
    // §4.6: what the first chunk says about the sender waits for the last chunk's tag.
    let mut three_chunks = from_base64(envelopes[5]["ciphertext"].as_str().unwrap()).unwrap();
    let last = three_chunks.len() - 1;
    three_chunks[last] ^= 0x80;
    push_as(
        "unexpected sender and, three chunks later, a flipped tag",
        three_chunks,
        (2, 1),
        (3, 1),
    );

    // Suite 2, from the mixed 100-byte envelope (index 9): stanzas 6 (X-Wing, at 26),
    // 2 (P-256, at 26 + 1201) and 5 (X-Wing, at 26 + 1201 + 146), then the MAC.
    let mixed = from_base64(envelopes[9]["ciphertext"].as_str().unwrap()).unwrap();
    let (first, second, third, mac_at) = (26, 26 + 1201, 26 + 1201 + 146, 26 + 2 * 1201 + 146);
    let mut xwing_flip = mixed.clone();
    xwing_flip[first + 1 + 32 + 100] ^= 0x04;
    push_as(
        "X-Wing ciphertext bit flipped (ML-KEM part)",
        xwing_flip,
        (6, 2),
        (1, 1),
    );
    let mut x25519_flip = mixed.clone();
    x25519_flip[first + 1 + 32 + 1088 + 5] ^= 0x04;
    push_as(
        "X-Wing ciphertext bit flipped (X25519 part)",
        x25519_flip,
        (6, 2),
        (1, 1),
    );
    let mut sealed_flip = mixed.clone();
    sealed_flip[third + 1 + 32 + 1120 + 47] ^= 0x01;
    push_as(
        "sealed content key of an X-Wing stanza flipped",
        sealed_flip,
        (5, 2),
        (1, 1),
    );
    let mut unknown_kind = mixed.clone();
    unknown_kind[second] = 0x03;
    push_as("unknown stanza kind", unknown_kind, (6, 2), (1, 1));
    // The P-256 stanza (key 2's) relabelled with key 6's id: a stanza of the wrong kind.
    let mut wrong_kind = mixed.clone();
    let id_6 = key(6, 2);
    wrong_kind[second + 1..second + 33].copy_from_slice(id_6.key_id().as_bytes());
    wrong_kind.drain(first..second);
    wrong_kind[22..26].copy_from_slice(&2u32.to_be_bytes());
    push_as(
        "a P-256 stanza under a suite-2 key id",
        wrong_kind,
        (6, 2),
        (1, 1),
    );
    push_as(
        "cut inside an X-Wing stanza",
        mixed[..third + 600].to_vec(),
        (2, 1),
        (1, 1),
    );
    let mut pq_mac = mixed.clone();
    pq_mac[mac_at] ^= 1;
    push_as("header MAC flipped (mixed header)", pq_mac, (5, 2), (1, 1));

    let mut rng = DeterministicRng::new([0x77; 32]);
    let params = keyblob::Params::with_iterations(1_000).unwrap();
    let locked = lock_deterministic(&alice, Some(b"correct horse"), params, &mut rng).unwrap();
    let unprotected = lock_deterministic(&alice, None, params, &mut rng).unwrap();
    let pq_locked =
        lock_deterministic(&key(5, 2), Some(b"correct horse"), params, &mut rng).unwrap();
    // A key backup (kdf 0x02): locked with a hardened password, here RFC 9497's output
    // of the "oprf" vector below (any 32 bytes lock the same way).
    let hardened = oprf_output();
    let backup =
        virgil_crypto::testing::lock_hardened_deterministic(&alice, &hardened, params, &mut rng)
            .unwrap();
    let key_blobs = json!([
        {"seed": to_hex(&seed(1)), "suite": 1, "password": "correct horse", "iterations": 1000, "blob": to_hex(&locked)},
        {"seed": to_hex(&seed(1)), "suite": 1, "password": null, "iterations": 0, "blob": to_hex(&unprotected)},
        {"seed": to_hex(&seed(5)), "suite": 2, "password": "correct horse", "iterations": 1000, "blob": to_hex(&pq_locked)},
        {"seed": to_hex(&seed(1)), "suite": 1, "password": null, "hardened": to_hex(hardened.as_bytes()), "iterations": 1000, "blob": to_hex(&backup)},
    ]);

    json!({
        "about": "virgil-crypto format vectors; see docs/format.md. Generated by crates/virgil-crypto/tests/vectors.rs with a deterministic generator (block i = SHA-256(\"virgil test rng\" || rng_seed || u64be(i))); real use draws from the OS.",
        "keys": keys,
        "signatures": signatures,
        "envelopes": envelopes,
        "negative_envelopes": negatives,
        "key_blobs": key_blobs,
        "oprf": {
            "about": "format.md §16: RFC 9497 POPRF, P256-SHA256. The key is DeriveKeyPair(seed, key_info); info is §16's for (app_id, identity); output = Finalize(password), which the blind does not change",
            "seed": to_hex(&[0x42; 32]),
            "key_info": "chat",
            "public_key": to_hex(virgil_crypto::oprf::OprfKey::derive(&[0x42; 32], b"chat").unwrap().public_key().as_bytes()),
            "app_id": "chat",
            "identity": "alice",
            "info": to_hex(&oprf_info("chat", "alice")),
            "password": "correct horse",
            "output": to_hex(oprf_output().as_bytes()),
        },
    })
}

/// The hardened password of the key-backup vector: the POPRF output (format.md §16)
/// of password "correct horse" for alice of application "chat", under the OPRF key
/// derived from seed 0x42…42 and key info "chat". The output does not depend on the
/// blind, so this is a known answer.
fn oprf_output() -> keyblob::HardenedPassword {
    use virgil_crypto::oprf::{OprfKey, PasswordBlind};
    let key = OprfKey::derive(&[0x42; 32], b"chat").unwrap();
    let info = oprf_info("chat", "alice");
    let (state, blinded) = PasswordBlind::new(b"correct horse").unwrap();
    let evaluation = key.evaluate(&blinded, &info).unwrap();
    state
        .finalize(&evaluation, &key.public_key(), &info)
        .unwrap()
}

/// format.md §16's `info` (virgil_card::backup::oprf_info, which this crate cannot use).
fn oprf_info(app_id: &str, identity: &str) -> Vec<u8> {
    let mut info = b"VGBI\x01".to_vec();
    for text in [app_id, identity] {
        info.extend_from_slice(&u32::try_from(text.len()).unwrap().to_be_bytes());
        info.extend_from_slice(text.as_bytes());
    }
    info
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
    // A seed and its suite (absent: suite 1).
    let key_in = |hex: &Value, suite: &Value| {
        let suite = Suite::from_id(suite.as_u64().unwrap_or(1) as u8).unwrap();
        let seed: [u8; 32] = from_hex(hex.as_str().unwrap()).unwrap().try_into().unwrap();
        PrivateKey::from_seed_with_suite(&seed, suite).unwrap()
    };
    let key_of = |hex: &Value| key_in(hex, &Value::Null);

    for vector in stored["keys"].as_array().unwrap() {
        let key = key_in(&vector["seed"], &vector["suite"]);
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
    assert_eq!(envelopes.len(), 11);
    for vector in envelopes {
        let ciphertext = from_base64(vector["ciphertext"].as_str().unwrap()).unwrap();
        let expected = plaintext(vector["plaintext_len"].as_u64().unwrap() as usize);
        let suites = vector["recipient_suites"].as_array().unwrap();
        for (recipient, suite) in vector["recipient_seeds"]
            .as_array()
            .unwrap()
            .iter()
            .zip(suites)
        {
            let recipient = key_in(recipient, suite);
            if vector["sender_seed"].is_null() {
                assert_eq!(
                    envelope::decrypt(&ciphertext, &recipient).unwrap(),
                    expected
                );
            } else {
                let sender = key_in(&vector["sender_seed"], &vector["sender_suite"]);
                let message =
                    envelope::decrypt_then_verify(&ciphertext, &recipient, &[sender.public_key()])
                        .unwrap();
                assert_eq!(message.plaintext, expected, "{}", vector["name"]);
            }
        }
    }
    let negatives = stored["negative_envelopes"].as_array().unwrap();
    assert_eq!(negatives.len(), 17);
    for vector in negatives {
        let ciphertext = from_base64(vector["ciphertext"].as_str().unwrap()).unwrap();
        let recipient = key_in(&vector["recipient_seed"], &vector["recipient_suite"]);
        let sender = key_in(&vector["sender_seed"], &vector["sender_suite"]);
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
        if let Some(hardened) = vector["hardened"].as_str() {
            let hardened: [u8; 32] = from_hex(hardened).unwrap().try_into().unwrap();
            let hardened = keyblob::HardenedPassword::from_bytes(hardened);
            assert_eq!(
                keyblob::unlock_hardened(&blob, &hardened).unwrap(),
                key_in(&vector["seed"], &vector["suite"])
            );
            continue;
        }
        let password = vector["password"].as_str().map(str::as_bytes);
        assert_eq!(
            keyblob::unlock(&blob, password).unwrap(),
            key_in(&vector["seed"], &vector["suite"])
        );
        if password.is_some() {
            assert_eq!(
                keyblob::unlock(&blob, Some(b"wrong")).unwrap_err(),
                Error::WrongPassword
            );
        }
    }
}
