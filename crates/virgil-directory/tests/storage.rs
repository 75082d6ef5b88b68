//! The directory's SQL storage on SQLite and PostgreSQL: akd's own storage conformance
//! suite, proofs that verify, and a directory that survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use akd::storage::Database as _;
use virgil_crypto::PrivateKey;
use virgil_directory::directory::{Configuration, DEFAULT_CACHE_BYTES};
use virgil_directory::{KeyDirectory, SqlStorage, VrfKey};
use virgil_server::database::Database;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    )
}

/// akd's storage-layer test suite (the one its MySQL layer passes).
fn conformance(url: &str) {
    runtime().block_on(async {
        let database = Database::connect(url).await.unwrap();
        let storage = SqlStorage::open(database).await.unwrap();
        akd::storage::tests::run_test_cases_for_storage_impl(storage).await;
    });
}

#[test]
fn sqlite_passes_akds_storage_suite() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&sqlite_url(&dir));
}

#[test]
fn postgres_passes_akds_storage_suite() {
    let database = virgil_testkit::postgres_or_skip!(postgres_passes_akds_storage_suite);
    conformance(database.url());
}

fn service_key() -> PrivateKey {
    PrivateKey::from_seed(&[42; 32]).unwrap()
}

async fn open(url: &str) -> KeyDirectory {
    let database = Database::connect(url).await.unwrap();
    KeyDirectory::open(
        database,
        VrfKey::of_service_key(&service_key()),
        DEFAULT_CACHE_BYTES,
    )
    .await
    .unwrap()
}

async fn verify_lookup(directory: &KeyDirectory, label: &[u8], value: &[u8]) -> u64 {
    {
        let vrf = directory.vrf_public_key().await.unwrap();
        let lookup = directory.lookup(label).await.unwrap();
        let proof = virgil_card::directory::wire::decode_lookup_proof(&lookup.proof).unwrap();
        // One encoding per proof: decoding and encoding again gives the same bytes.
        assert_eq!(
            virgil_card::directory::wire::encode_lookup_proof(&proof),
            lookup.proof
        );
        assert_eq!(proof.value.0, value);
        akd::verify::lookup_verify::<Configuration>(
            &vrf,
            lookup.at.root,
            lookup.at.epoch,
            akd::AkdLabel(label.to_vec()),
            proof,
        )
        .unwrap();
        lookup.at.epoch
    }
}

use protobuf::Message as _;

/// Publishes, reopens the database as a restarted service would, and checks that the
/// epochs continue and every proof verifies against the reopened tree.
fn survives_a_restart(url: &str) {
    runtime().block_on(survives_a_restart_async(url));
}

async fn survives_a_restart_async(url: &str) {
    let first = {
        let directory = open(url).await;
        assert_eq!(directory.latest().await.unwrap().epoch, 0);
        let one = directory
            .publish(vec![(b"alice".to_vec(), b"cards v1".to_vec())])
            .await
            .unwrap();
        assert_eq!(one.epoch, 1);
        let two = directory
            .publish(vec![
                (b"alice".to_vec(), b"cards v2".to_vec()),
                (b"bob".to_vec(), b"bob v1".to_vec()),
            ])
            .await
            .unwrap();
        assert_eq!(two.epoch, 2);
        // Publishing a value a label already has makes no epoch.
        let same = directory
            .publish(vec![(b"bob".to_vec(), b"bob v1".to_vec())])
            .await
            .unwrap();
        assert_eq!(same, two);
        directory
    };
    assert_eq!(verify_lookup(&first, b"alice", b"cards v2").await, 2);
    drop(first);

    let reopened = open(url).await;
    assert_eq!(verify_lookup(&reopened, b"alice", b"cards v2").await, 2);
    assert_eq!(verify_lookup(&reopened, b"bob", b"bob v1").await, 2);
    {
        let three = reopened
            .publish(vec![(b"carol".to_vec(), b"carol v1".to_vec())])
            .await
            .unwrap();
        assert_eq!(three.epoch, 3);
        assert!(matches!(
            reopened.lookup(b"nobody").await,
            Err(virgil_directory::DirectoryError::NotFound)
        ));
        // The append-only proof from 1 to 3 exists and the history has both versions.
        let audit = reopened.audit(1, 3).await.unwrap();
        let audit = akd::proto::specs::types::AppendOnlyProof::parse_from_bytes(&audit).unwrap();
        assert_eq!(
            akd::AppendOnlyProof::try_from(&audit).unwrap().proofs.len(),
            2
        );
        let (history, at) = reopened.history(b"alice", None).await.unwrap();
        let history = virgil_card::directory::wire::decode_history_proof(&history).unwrap();
        let vrf = reopened.vrf_public_key().await.unwrap();
        let results = akd::verify::key_history_verify::<Configuration>(
            &vrf,
            at.root,
            at.epoch,
            akd::AkdLabel(b"alice".to_vec()),
            history,
            akd::HistoryVerificationParams::default(),
        )
        .unwrap();
        let values: Vec<_> = results.iter().map(|r| r.value.0.clone()).collect();
        assert_eq!(values, [b"cards v2".to_vec(), b"cards v1".to_vec()]);
    }
    // The storage itself holds both of alice's values.
    {
        let storage = SqlStorage::open(Database::connect(url).await.unwrap())
            .await
            .unwrap();
        let data = storage
            .get_user_data(&akd::AkdLabel(b"alice".to_vec()))
            .await
            .unwrap();
        assert_eq!(data.states.len(), 2);
    }
}

#[test]
fn a_sqlite_directory_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    survives_a_restart(&sqlite_url(&dir));
}

#[test]
fn a_postgres_directory_survives_a_restart() {
    let database = virgil_testkit::postgres_or_skip!(a_postgres_directory_survives_a_restart);
    survives_a_restart(database.url());
}
