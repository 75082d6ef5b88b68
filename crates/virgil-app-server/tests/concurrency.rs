//! Many writers at once, through the real app server: concurrent registrations and
//! logins queue instead of failing (SQLite and PostgreSQL), and replicas starting
//! together on a fresh PostgreSQL database all come up.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use virgil_app_server::store::AppStore;
use virgil_card::Verifier;
use virgil_client::AppClient;
use virgil_testkit::key;
use virgil_testkit::postgres::TempPostgres;
use virgil_testkit::servers::{spawn_app_server, spawn_cards_service};

const APP: u8 = 100;
const SERVICE: u8 = 101;
const USERS: usize = 16;

fn concurrent_accounts_all_succeed(dir: &std::path::Path, app_db: &str) {
    let cards_url = spawn_cards_service(
        &format!("sqlite://{}?mode=rwc", dir.join("cards.db").display()),
        key(SERVICE),
        &[("chat", key(APP).public_key().clone())],
    );
    let app_url = spawn_app_server(
        app_db,
        &cards_url,
        "chat",
        key(APP),
        key(SERVICE).public_key().clone(),
    );
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..USERS)
            .map(|user| {
                let app_url = &app_url;
                scope.spawn(move || {
                    let app = AppClient::new(app_url, Verifier::new());
                    let name = format!("user-{user}");
                    let mut failures = Vec::new();
                    if let Err(e) = app.register(&name, "correct horse") {
                        failures.push(format!("register: {e}"));
                    }
                    for _ in 0..4 {
                        if let Err(e) = app.login(&name, "correct horse") {
                            failures.push(format!("login: {e}"));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} concurrent account writes failed, e.g. {}",
        failures.len(),
        USERS * 5,
        failures[0]
    );
}

#[test]
fn concurrent_accounts_queue_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let app_db = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    concurrent_accounts_all_succeed(dir.path(), &app_db);
}

#[test]
fn concurrent_accounts_queue_on_postgres() {
    let Some(database) = TempPostgres::or_skip(concat!(
        module_path!(),
        "::concurrent_accounts_queue_on_postgres"
    )) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    concurrent_accounts_all_succeed(dir.path(), database.url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_start_together_on_a_fresh_postgres_database() {
    for _ in 0..3 {
        let Some(database) = TempPostgres::or_skip(concat!(
            module_path!(),
            "::replicas_start_together_on_a_fresh_postgres_database"
        )) else {
            return;
        };
        let url = database.url();
        let (a, b, c) = tokio::join!(
            AppStore::connect(url),
            AppStore::connect(url),
            AppStore::connect(url)
        );
        for (replica, result) in [a, b, c].into_iter().enumerate() {
            if let Err(e) = result {
                panic!("replica {replica} did not start: {e}");
            }
        }
    }
}
