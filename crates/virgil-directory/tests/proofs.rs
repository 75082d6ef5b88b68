//! The directory's proofs, as the service makes them, checked by the clients' functions
//! (`virgil_card::directory`): what an honest directory proves verifies; a changed
//! entry, root, epoch, VRF key or proof does not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use virgil_card::checkpoint::Checkpoint;
use virgil_card::directory::{self, DirectoryEntry};
use virgil_card::{CardId, CardIdentity, CardStatus, RevocationReason};
use virgil_crypto::PrivateKey;
use virgil_directory::audit::{AuditError, verify_append_only};
use virgil_directory::directory::DEFAULT_CACHE_BYTES;
use virgil_directory::{KeyDirectory, VrfKey};
use virgil_server::database::Database;

fn entry(cards: &[(u8, CardStatus)]) -> DirectoryEntry {
    let cards: Vec<(CardId, CardStatus)> = cards
        .iter()
        .map(|(n, status)| (CardId::from_bytes([*n; 32]), status.clone()))
        .collect();
    DirectoryEntry::of(cards.iter().map(|(id, status)| (id, status)))
}

/// A directory in a new SQLite database in `dir`, with the VRF key of a fixed service
/// key.
async fn open_directory(dir: &std::path::Path) -> KeyDirectory {
    let url = format!("sqlite://{}?mode=rwc", dir.join("cards.db").display());
    let service_key = PrivateKey::from_seed(&[42; 32]).unwrap();
    KeyDirectory::open(
        Database::connect(&url).await.unwrap(),
        VrfKey::of_service_key(&service_key),
        DEFAULT_CACHE_BYTES,
    )
    .await
    .unwrap()
}

/// The directory's latest epoch and a checkpoint of it (unsigned: these tests check
/// proofs, not signatures).
async fn latest_checkpoint(keys: &KeyDirectory) -> (virgil_directory::EpochRoot, Checkpoint) {
    let at = keys.latest().await.unwrap();
    let checkpoint = Checkpoint {
        directory: "cards.example".to_owned(),
        epoch: at.epoch,
        root: at.root,
        vrf_key: keys.vrf_public_key().await.unwrap(),
        published_at: 1_700_000_000,
    };
    (at, checkpoint)
}

#[test]
fn proofs_of_the_service_verify_with_the_clients_functions_and_tampering_fails() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let keys = open_directory(dir.path()).await;
        let bob = CardIdentity::new("app", "bob");
        let first = entry(&[(1, CardStatus::Active)]);
        let second = entry(&[
            (1, CardStatus::Active),
            (2, CardStatus::Pending { activates_at: 99 }),
        ]);
        let third = entry(&[(
            1,
            CardStatus::Revoked {
                reason: RevocationReason::Compromised,
                at: 5,
            },
        )]);
        for value in [&first, &second, &third] {
            keys.publish(vec![(directory::label(&bob), value.encode())])
                .await
                .unwrap();
        }
        let (at, checkpoint) = latest_checkpoint(&keys).await;
        let lookup = keys.lookup(&directory::label(&bob)).await.unwrap();
        assert_eq!(lookup.at, at);
        let proven = directory::verify_lookup(&checkpoint, &bob, &lookup.proof).unwrap();
        assert_eq!(proven.entry, third);
        assert!(proven.entry.is_empty());
        assert_eq!((proven.version, proven.since_epoch), (3, 3));

        // The history shows every entry bob ever had, newest first.
        let (history, _) = keys.history(&directory::label(&bob), None).await.unwrap();
        let versions = directory::verify_history(&checkpoint, &bob, &history, None).unwrap();
        let entries: Vec<_> = versions.into_iter().map(|v| v.entry).collect();
        assert_eq!(entries, [third.clone(), second, first]);

        // Another identity's proof, another root, epoch or VRF key: refused.
        let alice = CardIdentity::new("app", "alice");
        assert!(directory::verify_lookup(&checkpoint, &alice, &lookup.proof).is_err());
        for changed in [
            Checkpoint {
                root: [0; 32],
                ..checkpoint.clone()
            },
            Checkpoint {
                epoch: 2,
                ..checkpoint.clone()
            },
            Checkpoint {
                vrf_key: VrfKey::of_service_key(&PrivateKey::from_seed(&[1; 32]).unwrap())
                    .public_key(),
                ..checkpoint.clone()
            },
        ] {
            assert!(
                directory::verify_lookup(&changed, &bob, &lookup.proof).is_err(),
                "{changed:?}"
            );
        }
        // No flipped byte of the proof makes it prove anything else: it is refused,
        // or (a byte of the existence proof's leaf hash, which the verifier recomputes
        // from the value and ignores) proves the very same entry, version and epoch.
        let mut refused = 0;
        for position in 0..lookup.proof.len() {
            let mut tampered = lookup.proof.clone();
            tampered[position] ^= 0x01;
            match directory::verify_lookup(&checkpoint, &bob, &tampered) {
                Err(_) => refused += 1,
                Ok(other) => assert_eq!(other, proven, "byte {position} flipped"),
            }
        }
        assert!(
            refused * 10 > lookup.proof.len() * 9,
            "{refused} of {}",
            lookup.proof.len()
        );
    });
}

/// An auditor verifies that each epoch only added to the one before, between roots it
/// takes from checkpoints; another root anywhere in the chain, or a proof of other
/// epochs, is refused.
#[test]
fn append_only_proofs_verify_between_the_published_roots_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let keys = open_directory(dir.path()).await;
        let mut roots = Vec::new();
        for n in 1..=4u8 {
            let owner = CardIdentity::new("app", &format!("user{n}"));
            keys.publish(vec![(
                directory::label(&owner),
                entry(&[(n, CardStatus::Active)]).encode(),
            )])
            .await
            .unwrap();
            roots.push(keys.latest().await.unwrap().root);
        }
        let proof = keys.audit(1, 4).await.unwrap();
        verify_append_only(1, &roots, &proof).await.unwrap();
        let part = keys.audit(2, 3).await.unwrap();
        verify_append_only(2, &roots[1..3], &part).await.unwrap();

        for (i, _) in roots.iter().enumerate() {
            let mut forked = roots.clone();
            forked[i][0] ^= 1;
            assert!(
                verify_append_only(1, &forked, &proof).await.is_err(),
                "root {i} changed"
            );
        }
        assert!(matches!(
            verify_append_only(1, &roots[1..3], &part).await,
            Err(AuditError::Malformed(_))
        ));
        assert!(
            verify_append_only(1, &roots, &proof[..proof.len() / 2])
                .await
                .is_err()
        );
    });
}

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/vectors/directory.json"
);

/// `docs/vectors/directory.json` (docs/format.md §15): a small directory built the
/// same way every time — the service key seed(42) = 42 × 32 (its VRF key derived as
/// §14 says), then epochs of changes to bob, alice and eight others — with the lookup
/// proofs of bob and alice and bob's complete history proof, as the wire sends them
/// (akd's protobuf, sibling labels and directions left out), and bob's lookup proof in
/// akd's own encoding, which is refused, for independent implementations
/// (crates/virgil-js checks them).
async fn directory_vectors() -> serde_json::Value {
    use virgil_crypto::encoding::{to_base64, to_hex};
    let dir = tempfile::tempdir().unwrap();
    let keys = open_directory(dir.path()).await;
    let owner = |name: &str| CardIdentity::new("chat", name);
    let others: Vec<String> = (0..8).map(|n| format!("user{n}")).collect();
    let bob_entries = [
        entry(&[(1, CardStatus::Active)]),
        entry(&[
            (1, CardStatus::Active),
            (2, CardStatus::Pending { activates_at: 99 }),
        ]),
        entry(&[(2, CardStatus::Active)]),
    ];
    let alice_entry = entry(&[(7, CardStatus::Active), (8, CardStatus::Active)]);
    let mut first = vec![(directory::label(&owner("bob")), bob_entries[0].encode())];
    for (n, other) in others.iter().enumerate() {
        let id = u8::try_from(100 + n).unwrap();
        first.push((
            directory::label(&owner(other)),
            entry(&[(id, CardStatus::Active)]).encode(),
        ));
    }
    keys.publish(first).await.unwrap();
    keys.publish(vec![(
        directory::label(&owner("alice")),
        alice_entry.encode(),
    )])
    .await
    .unwrap();
    for value in &bob_entries[1..] {
        keys.publish(vec![(directory::label(&owner("bob")), value.encode())])
            .await
            .unwrap();
    }
    let at = keys.latest().await.unwrap();
    let lookup = |name: &'static str| {
        let keys = &keys;
        async move {
            let proof = keys.lookup(&directory::label(&owner(name))).await.unwrap();
            serde_json::json!({
                "identity": name,
                "label": to_hex(&directory::label(&owner(name))),
                "entry": to_hex(&proof.value),
                "proof_base64": to_base64(&proof.proof),
            })
        }
    };
    let (history, _) = keys
        .history(&directory::label(&owner("bob")), None)
        .await
        .unwrap();
    let bob = keys.lookup(&directory::label(&owner("bob"))).await.unwrap();
    let alice = keys
        .lookup(&directory::label(&owner("alice")))
        .await
        .unwrap();
    let (akd_encoding, marker_copy) = {
        use protobuf::Message as _;
        let decoded = directory::wire::decode_lookup_proof(&bob.proof).unwrap();
        let mut alice =
            akd::proto::specs::types::LookupProof::parse_from_bytes(&alice.proof).unwrap();
        alice.marker_proof = alice.existence_proof.clone();
        alice.marker_vrf_proof = alice.existence_vrf_proof.clone();
        (
            akd::proto::specs::types::LookupProof::from(&decoded)
                .write_to_bytes()
                .unwrap(),
            alice.write_to_bytes().unwrap(),
        )
    };
    serde_json::json!({
        "about": "a key directory (docs/format.md §15: akd 0.13, WhatsAppV1Configuration) of application \"chat\" built by crates/virgil-directory/tests/proofs.rs: epoch 1 adds bob and user0..user7, epoch 2 alice, epochs 3 and 4 change bob's entry. The VRF key is derived from the service key seed 42 × 32 (§14). Lookup proofs of bob and alice and bob's complete history proof (newest first: versions 3, 2, 1) verify against root and vrf_key at epoch; proofs are akd's protobuf with each sibling proof's label and direction left out (format.md §15), base64",
        "app_id": "chat",
        "epoch": at.epoch,
        "root": to_hex(&at.root),
        "vrf_key": to_hex(&keys.vrf_public_key().await.unwrap()),
        "lookups": [lookup("bob").await, lookup("alice").await],
        "history": {
            "identity": "bob",
            "entries_newest_first": bob_entries.iter().rev().map(|e| to_hex(&e.encode())).collect::<Vec<_>>(),
            "epochs_newest_first": [4, 3, 1],
            "proof_base64": to_base64(&history),
        },
        "refused": [
            {
                "about": "bob's lookup proof in akd's own protobuf encoding, with every sibling proof's label and direction, which the wire leaves out: refused (one encoding per proof)",
                "identity": "bob",
                "proof_base64": to_base64(&akd_encoding),
            },
            {
                "about": "alice's lookup proof (version 1, its own marker) with the copy of its existence proof and VRF proof as the marker's, which the wire leaves out: refused",
                "identity": "alice",
                "proof_base64": to_base64(&marker_copy),
            },
        ],
    })
}

#[test]
fn directory_vectors_file_matches_the_code() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let generated = runtime.block_on(directory_vectors());
    virgil_testkit::vectors::check_file(
        VECTORS,
        &generated,
        "§15",
        "cargo test -p virgil-directory --test proofs",
    );
    if virgil_testkit::vectors::regenerating() {
        return;
    }
    // The stored proofs verify with the clients' functions.
    let stored = virgil_testkit::vectors::stored(VECTORS);
    let hex32 = |value: &serde_json::Value| -> [u8; 32] {
        virgil_crypto::encoding::from_hex(value.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let checkpoint = Checkpoint {
        directory: "cards.example".to_owned(),
        epoch: stored["epoch"].as_u64().unwrap(),
        root: hex32(&stored["root"]),
        vrf_key: hex32(&stored["vrf_key"]),
        published_at: 1_700_000_000,
    };
    for lookup in stored["lookups"].as_array().unwrap() {
        let owner = CardIdentity::new("chat", lookup["identity"].as_str().unwrap());
        let proof =
            virgil_crypto::encoding::from_base64(lookup["proof_base64"].as_str().unwrap()).unwrap();
        let proven = directory::verify_lookup(&checkpoint, &owner, &proof).unwrap();
        assert_eq!(
            virgil_crypto::encoding::to_hex(&proven.entry.encode()),
            lookup["entry"].as_str().unwrap()
        );
    }
    // bob is at version 3, whose marker is version 2: his proof carries the marker
    // proof; alice is at version 1, her own marker: hers leaves it out.
    let marker_of = |n: usize| {
        use protobuf::Message as _;
        let proof = virgil_crypto::encoding::from_base64(
            stored["lookups"][n]["proof_base64"].as_str().unwrap(),
        )
        .unwrap();
        akd::proto::specs::types::LookupProof::parse_from_bytes(&proof)
            .unwrap()
            .marker_proof
            .is_some()
    };
    assert!(marker_of(0) && !marker_of(1));
    for refused in stored["refused"].as_array().unwrap() {
        let owner = CardIdentity::new("chat", refused["identity"].as_str().unwrap());
        let proof = virgil_crypto::encoding::from_base64(refused["proof_base64"].as_str().unwrap())
            .unwrap();
        assert!(
            directory::verify_lookup(&checkpoint, &owner, &proof).is_err(),
            "{refused}"
        );
    }
}

/// The wire encoding (format.md §15) leaves out each sibling proof's label and direction
/// and the client restores them exactly: in trees of one identity (the root's empty
/// child) and of hundreds, every lookup and history proof decodes to what akd made (its
/// encoding again gives the same bytes), verifies, and is smaller than akd's own
/// encoding; akd's own encoding, with the fields, is refused.
#[test]
fn the_wire_encoding_leaves_out_what_the_path_gives_and_restores_it_exactly() {
    use protobuf::Message as _;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for (identities, epochs) in [(1usize, 1usize), (300, 3)] {
            let dir = tempfile::tempdir().unwrap();
            let keys = open_directory(dir.path()).await;
            let owners: Vec<CardIdentity> = (0..identities)
                .map(|n| CardIdentity::new("app", &format!("user{n}")))
                .collect();
            for epoch in 0..epochs {
                keys.publish(
                    owners
                        .iter()
                        .enumerate()
                        .filter(|(n, _)| epoch == 0 || n % 3 == epoch)
                        .map(|(n, owner)| {
                            let card = u8::try_from((n + epoch) % 256).unwrap();
                            (
                                directory::label(owner),
                                entry(&[(card, CardStatus::Active)]).encode(),
                            )
                        })
                        .collect(),
                )
                .await
                .unwrap();
            }
            let (_, checkpoint) = latest_checkpoint(&keys).await;
            let (mut ours, mut akds) = (0, 0);
            for owner in &owners {
                let lookup = keys.lookup(&directory::label(owner)).await.unwrap();
                directory::verify_lookup(&checkpoint, owner, &lookup.proof).unwrap();
                let decoded = directory::wire::decode_lookup_proof(&lookup.proof).unwrap();
                assert_eq!(
                    directory::wire::encode_lookup_proof(&decoded),
                    lookup.proof
                );
                let plain = akd::proto::specs::types::LookupProof::from(&decoded)
                    .write_to_bytes()
                    .unwrap();
                assert!(
                    directory::wire::decode_lookup_proof(&plain).is_err(),
                    "akd's own encoding, with the fields the wire leaves out"
                );
                // Versions 1 and 2 are their own markers: the marker proof is left out,
                // and sending its copy is refused.
                let mut wire =
                    akd::proto::specs::types::LookupProof::parse_from_bytes(&lookup.proof)
                        .unwrap();
                assert!(wire.marker_proof.is_none() && wire.marker_vrf_proof.is_none());
                assert!(decoded.version <= 2);
                wire.marker_proof = wire.existence_proof.clone();
                wire.marker_vrf_proof = wire.existence_vrf_proof.clone();
                assert!(
                    directory::wire::decode_lookup_proof(&wire.write_to_bytes().unwrap())
                        .is_err(),
                    "a copy of the existence proof as the marker proof"
                );
                ours += lookup.proof.len();
                akds += plain.len();

                let (history, _) = keys.history(&directory::label(owner), None).await.unwrap();
                directory::verify_history(&checkpoint, owner, &history, None).unwrap();
                let decoded = directory::wire::decode_history_proof(&history).unwrap();
                assert_eq!(directory::wire::encode_history_proof(&decoded), history);
                let plain = akd::proto::specs::types::HistoryProof::from(&decoded)
                    .write_to_bytes()
                    .unwrap();
                assert!(directory::wire::decode_history_proof(&plain).is_err());
            }
            eprintln!(
                "{identities} identities: lookup proofs {ours} B on the wire, {akds} B in akd's encoding"
            );
            assert!(ours < akds, "{ours} of {akds}");
        }
    });
}

/// A snapshot answers at its own epoch while the next one is stored (its nodes keep
/// their previous state, and what it cached before is of its epoch), and refuses to
/// answer from a node a second one changed too: its state of the snapshot's epoch is
/// gone.
#[test]
fn a_snapshot_answers_at_its_epoch_while_the_next_is_stored_and_refuses_nodes_two_epochs_changed() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let keys = open_directory(dir.path()).await;
        let alice = CardIdentity::new("app", "alice");
        let bob = CardIdentity::new("app", "bob");
        let carol = CardIdentity::new("app", "carol");
        let labels = [&alice, &bob, &carol].map(directory::label);
        let version = |n: u8| entry(&[(n, CardStatus::Active)]);
        // Others, changed in every epoch, so that every node below the root is too.
        let others: Vec<Vec<u8>> = (0..32)
            .map(|n| directory::label(&CardIdentity::new("app", &format!("other{n}"))))
            .collect();
        let with_others = |mut changes: Vec<(Vec<u8>, Vec<u8>)>, n: u8| {
            changes.extend(
                others
                    .iter()
                    .map(|label| (label.clone(), version(n).encode())),
            );
            changes
        };
        keys.publish(with_others(
            vec![
                (labels[0].clone(), version(1).encode()),
                (labels[1].clone(), version(1).encode()),
            ],
            1,
        ))
        .await
        .unwrap();
        let (at, checkpoint) = latest_checkpoint(&keys).await;
        let snapshot = keys.snapshot().await.unwrap();
        assert_eq!(snapshot.at(), at);
        // One that reads nothing until two more epochs are stored.
        let cold = keys.snapshot().await.unwrap();
        // Its cache holds nodes of epoch 1 before the next epoch is stored.
        let before = snapshot.lookups(&labels).await.unwrap();
        assert!(before[2].is_none(), "carol is not in the directory");

        keys.publish(with_others(
            vec![(labels[0].clone(), version(2).encode())],
            2,
        ))
        .await
        .unwrap();
        let during = snapshot.lookups(&labels).await.unwrap();
        assert_eq!(during, before, "a snapshot's proofs do not change");
        for (owner, expected) in [(&alice, version(1)), (&bob, version(1))] {
            let lookup = snapshot
                .lookups(&[directory::label(owner)])
                .await
                .unwrap()
                .remove(0)
                .unwrap();
            assert_eq!(lookup.at, at);
            let proven = directory::verify_lookup(&checkpoint, owner, &lookup.proof).unwrap();
            assert_eq!(proven.entry, expected);
        }
        let history = snapshot.history(&labels[0], None).await.unwrap();
        let versions = directory::verify_history(&checkpoint, &alice, &history, None).unwrap();
        assert_eq!(versions.len(), 1, "epoch 1 knows one version of alice");

        keys.publish(with_others(
            vec![(labels[0].clone(), version(3).encode())],
            3,
        ))
        .await
        .unwrap();
        // Every node below the root was changed by epochs 2 and 3: their states of
        // epoch 1 are gone from the database, and a snapshot that did not keep them
        // refuses to answer rather than prove from epoch 2's nodes.
        // (Carol was never published: that needs no node.)
        assert_eq!(cold.lookups(&labels[2..3]).await.unwrap(), vec![None]);
        for answer in [
            cold.lookups(&labels[0..1]).await.map(|_| ()),
            cold.lookups(&labels[1..2]).await.map(|_| ()),
            cold.history(&labels[1], None).await.map(|_| ()),
        ] {
            assert!(
                matches!(
                    answer,
                    Err(virgil_directory::DirectoryError::Stale {
                        snapshot: 1,
                        stored: 3
                    })
                ),
                "{answer:?}"
            );
        }
        // The snapshot that kept what it read answers from it, or refuses: never a
        // proof of another epoch.
        for (owner, expected) in [(&alice, version(1)), (&bob, version(1))] {
            match snapshot.lookups(&[directory::label(owner)]).await {
                Ok(mut found) => {
                    let lookup = found.remove(0).unwrap();
                    let proven =
                        directory::verify_lookup(&checkpoint, owner, &lookup.proof).unwrap();
                    assert_eq!(proven.entry, expected);
                }
                Err(error) => assert!(
                    matches!(error, virgil_directory::DirectoryError::Stale { .. }),
                    "{error:?}"
                ),
            }
        }
        let (now, checkpoint) = latest_checkpoint(&keys).await;
        let renewed = keys.snapshot().await.unwrap();
        assert_eq!(renewed.at(), now);
        let lookup = renewed
            .lookups(&labels[0..1])
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        let proven = directory::verify_lookup(&checkpoint, &alice, &lookup.proof).unwrap();
        assert_eq!(proven.entry, version(3));
    });
}

/// Two replicas over one database: the one that does not publish answers from
/// snapshots of the epochs the other stored, never from nodes it cached before them.
#[test]
fn a_replicas_snapshots_follow_the_epochs_another_replica_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let publisher = open_directory(dir.path()).await;
        let reader = open_directory(dir.path()).await;
        let alice = CardIdentity::new("app", "alice");
        let label = directory::label(&alice);
        for n in 1..=4u8 {
            publisher
                .publish(vec![(
                    label.clone(),
                    entry(&[(n, CardStatus::Active)]).encode(),
                )])
                .await
                .unwrap();
            // The reader's snapshot of this epoch, after it cached the last one's nodes.
            let snapshot = reader.snapshot().await.unwrap();
            let (at, checkpoint) = latest_checkpoint(&publisher).await;
            assert_eq!(snapshot.at(), at);
            let lookup = snapshot
                .lookups(std::slice::from_ref(&label))
                .await
                .unwrap()
                .remove(0);
            let proven =
                directory::verify_lookup(&checkpoint, &alice, &lookup.unwrap().proof).unwrap();
            assert_eq!(proven.entry, entry(&[(n, CardStatus::Active)]));
            let history = snapshot.history(&label, None).await.unwrap();
            let versions = directory::verify_history(&checkpoint, &alice, &history, None).unwrap();
            assert_eq!(versions.len(), usize::from(n));
        }
    });
}
