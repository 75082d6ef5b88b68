//! The directory checkpoint vectors in `docs/vectors/checkpoint.json` (docs/format.md
//! §14), regenerated and compared byte for byte (`VIRGIL_REGENERATE_VECTORS=1 cargo test
//! -p virgil-card --test checkpoint` after an intentional format change), and checked on
//! their own.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::{Value, json};
use virgil_card::checkpoint::{Checkpoint, ROOT_LEN, SignedCheckpoint, VRF_KEY_LEN};
use virgil_crypto::PrivateKey;
use virgil_crypto::encoding::{from_hex, to_hex};
use virgil_testkit::vectors;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/vectors/checkpoint.json"
);

/// The service key of the card vectors: seed(6) = a0 ‖ 06 × 31.
fn service() -> PrivateKey {
    let mut seed = [6u8; 32];
    seed[0] = 0xa0;
    PrivateKey::from_seed(&seed).unwrap()
}

fn generate() -> Value {
    let mut root = [0u8; ROOT_LEN];
    for (byte, n) in root.iter_mut().zip(0u8..) {
        *byte = n;
    }
    let mut vrf_key = [0u8; VRF_KEY_LEN];
    for (byte, n) in vrf_key.iter_mut().zip(0x80u8..) {
        *byte = n;
    }
    let signed = Checkpoint {
        directory: "cards.example".to_owned(),
        epoch: 1_234,
        root,
        vrf_key,
        published_at: 1_700_000_000,
    }
    .sign(&service());
    json!({
        "about": "a directory checkpoint (docs/format.md §14) signed by the service key seed(6) = a0 ‖ 06 × 31 (a suite-1 key) under context \"virgil/directory-checkpoint\"; signed = statement ‖ signature, carried as base64",
        "directory": signed.checkpoint.directory,
        "epoch": signed.checkpoint.epoch,
        "root": to_hex(&signed.checkpoint.root),
        "vrf_key": to_hex(&signed.checkpoint.vrf_key),
        "published_at": signed.checkpoint.published_at,
        "service_public_key": to_hex(service().public_key().as_bytes()),
        "statement": to_hex(&signed.checkpoint.statement()),
        "signature": to_hex(signed.signature.as_bytes()),
        "signed_base64": signed.to_base64(),
    })
}

#[test]
fn vectors_file_matches_the_code() {
    vectors::check_file(
        PATH,
        &generate(),
        "§14",
        "cargo test -p virgil-card --test checkpoint",
    );
}

#[test]
fn stored_vectors_check_out() {
    if vectors::regenerating() {
        return;
    }
    let stored = vectors::stored(PATH);
    let signed = SignedCheckpoint::from_base64(stored["signed_base64"].as_str().unwrap()).unwrap();
    let statement = from_hex(stored["statement"].as_str().unwrap()).unwrap();
    assert_eq!(signed.checkpoint.statement(), statement);
    assert_eq!(
        to_hex(signed.signature.as_bytes()),
        stored["signature"].as_str().unwrap()
    );
    let checkpoint = signed.verify(&[service().public_key().clone()]).unwrap();
    assert_eq!(checkpoint.directory, stored["directory"].as_str().unwrap());
    assert_eq!(checkpoint.epoch, stored["epoch"].as_u64().unwrap());
    assert_eq!(to_hex(&checkpoint.root), stored["root"].as_str().unwrap());
    assert_eq!(
        to_hex(&checkpoint.vrf_key),
        stored["vrf_key"].as_str().unwrap()
    );
    assert_eq!(
        checkpoint.published_at,
        stored["published_at"].as_u64().unwrap()
    );
}
