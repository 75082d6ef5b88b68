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
        let at = keys.latest().await.unwrap();
        let checkpoint = Checkpoint {
            directory: "cards.example".to_owned(),
            epoch: at.epoch,
            root: at.root,
            vrf_key: keys.vrf_public_key().await.unwrap(),
            published_at: 1_700_000_000,
        };
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
