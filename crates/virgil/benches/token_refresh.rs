//! What short access tokens cost (issue 27): a client refreshes its cards-service token
//! through the application server every 20 s of activity (30-s tokens, refreshed 10 s
//! before they expire) instead of every 9.5 minutes. Measured in one run against real
//! servers on 127.0.0.1 (SQLite): one refresh (`POST /v1/access-tokens`: the session
//! looked up, a JWT signed), beside the lookup a client makes anyway (`Cards::find` of
//! one card), the baseline. docs/performance.md has the numbers.
//! `cargo bench -p virgil --bench token_refresh`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use virgil::{Config, Virgil};
use virgil_server::runtime::ConnectionLimits;
use virgil_testkit::key;
use virgil_testkit::servers::{spawn_app_server_configured, spawn_cards_service_configured};

fn refresh_against_lookup(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    // No rate limits: the bench makes thousands of requests from one account.
    let cards_url = spawn_cards_service_configured(
        &sqlite("cards.db"),
        key(101),
        &[("chat", key(100).public_key().clone())],
        ConnectionLimits::without_rate_limit(),
        |service| service.with_account_rate(None),
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
    device.account().register("alice", "correct horse").unwrap();
    device.account().login("alice", "correct horse").unwrap();
    let alice_key = device.keys().generate().unwrap();
    let request = device
        .cards()
        .create(&device.identities().create_user("alice"), &alice_key)
        .unwrap();
    device.account().publish_card(&request).unwrap();

    let mut group = c.benchmark_group("token_refresh");
    group
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(500));
    group.bench_function("refresh", |b| {
        b.iter(|| black_box(device.account().refresh().unwrap()));
    });
    group.bench_function("find-own-card", |b| {
        b.iter(|| black_box(device.cards().find(&["alice"]).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, refresh_against_lookup);
criterion_main!(benches);
