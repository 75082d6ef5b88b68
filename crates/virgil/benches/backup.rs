//! What key backup costs a user (issue 31): a restore (the backup fetched from the
//! application server, the password hardened by the cards service's OPRF, the blob's
//! PBKDF2 of 600 000 iterations here) and a first backup (hardened, locked, stored),
//! each next to unlocking the same key from a local key blob, the baseline, in one run
//! against real servers on 127.0.0.1 (SQLite). docs/performance.md has the numbers.
//! `cargo bench -p virgil --bench backup`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use virgil::{Config, Virgil};
use virgil_crypto::keyblob;
use virgil_server::runtime::ConnectionLimits;
use virgil_testkit::key;
use virgil_testkit::servers::{
    spawn_app_server_configured, spawn_cards_service_configured, without_guess_limit,
};

const ACCOUNT: &str = "correct horse";
const BACKUP: &str = "a backup password";

fn backup_against_local_unlock(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    // No rate or guess limits: the bench restores hundreds of times.
    let cards_url = spawn_cards_service_configured(
        &sqlite("cards.db"),
        key(101),
        &[("chat", key(100).public_key().clone())],
        ConnectionLimits::without_rate_limit(),
        |service| without_guess_limit(service.with_account_rate(None)),
    );
    let app_url = spawn_app_server_configured(
        &sqlite("app.db"),
        &cards_url,
        "chat",
        key(100),
        key(101).public_key().clone(),
        ConnectionLimits::without_rate_limit(),
        |server| server.with_account_rate(None),
    );
    let device = Virgil::new(
        Config::new(
            "chat",
            key(100).public_key().clone(),
            key(101).public_key().clone(),
        )
        .cards_service(&cards_url)
        .app_server(&app_url)
        .contacts_file(dir.path().join("contacts.json")),
    )
    .unwrap();
    device.account().register("alice", ACCOUNT).unwrap();
    device.account().login("alice", ACCOUNT).unwrap();
    let alice_key = device.keys().generate().unwrap();
    let local = keyblob::lock(
        alice_key.private_key(),
        BACKUP.as_bytes(),
        keyblob::Params::default(),
    )
    .unwrap();
    device.backups().backup(&alice_key, BACKUP, None).unwrap();

    let mut group = c.benchmark_group("key_backup");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_millis(500));
    group.bench_function("local-unlock", |b| {
        b.iter(|| black_box(keyblob::unlock(&local, Some(BACKUP.as_bytes())).unwrap()));
    });
    group.bench_function("restore", |b| {
        b.iter(|| black_box(device.backups().restore(BACKUP).unwrap()));
    });
    group.bench_function("backup", |b| {
        b.iter_batched(
            // Not measured: deleting the last one (the account password, checked with
            // the test servers' 1 000 PBKDF2 rounds), so each backup is a first one.
            || device.backups().delete(ACCOUNT).unwrap(),
            |()| black_box(device.backups().backup(&alice_key, BACKUP, None).unwrap()),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, backup_against_local_unlock);
criterion_main!(benches);
