//! Key backup's load on the cards service (issue 31): OPRF evaluations per second
//! through real HTTP (`POST /v1/backup/actions/evaluate`: the guess counted in the
//! database, then the POPRF evaluation with its proof), next to `GET /v1/health` at the
//! same concurrency, on SQLite and PostgreSQL; and the evaluation alone, in process.
//!
//! `cargo bench -p virgil-cards-service --bench backup` (PostgreSQL at
//! `VIRGIL_TEST_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432/test).
//! `VIRGIL_LOAD_SECONDS` sets the time per row (default 3).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use virgil_api::token;
use virgil_cards_service::auth::Applications;
use virgil_cards_service::backup::GuessPolicy;
use virgil_cards_service::server::{Service, router};
use virgil_cards_service::store::CardStore;
use virgil_crypto::encoding::to_base64;
use virgil_crypto::oprf::{OprfKey, PasswordBlind};
use virgil_server::runtime::Listener;
use virgil_testkit::{key, now};

/// A service over `url` with no request or guess limits (the bench measures capacity).
fn start(runtime: &tokio::runtime::Runtime, url: &str) -> String {
    let url = url.to_owned();
    runtime.block_on(async move {
        let mut applications = Applications::new();
        applications
            .register("chat", key(100).public_key().clone())
            .unwrap();
        let store = CardStore::connect(&url).await.unwrap();
        let service = Service::new(store, key(101), applications)
            .with_account_rate(None)
            .with_guess_policy(GuessPolicy {
                free_per_window: u64::MAX,
                ..GuessPolicy::default()
            });
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = Listener::from(tcp);
        let base = listener.url().unwrap();
        tokio::spawn(async move {
            virgil_server::runtime::serve_with_limits(
                listener,
                router(Arc::new(service)),
                std::future::pending(),
                virgil_server::runtime::ConnectionLimits::without_rate_limit(),
            )
            .await
            .unwrap()
        });
        base
    })
}

/// `threads` clients, each its own identity, calling `path` for `seconds`: requests
/// per second.
fn rate(base: &str, path: &str, threads: usize, seconds: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let auth = format!(
                        "Bearer {}",
                        token::issue(&key(100), "chat", &format!("user-{t}"), now(), 3600)
                    );
                    let (_, blinded) = PasswordBlind::new(b"a backup password").unwrap();
                    let body = serde_json::to_vec(&serde_json::json!({
                        "blinded": to_base64(&blinded.to_bytes())
                    }))
                    .unwrap();
                    let url = format!("{base}{path}");
                    let mut done = 0;
                    while Instant::now() < deadline {
                        let response = if path == "/v1/health" {
                            agent.get(&url).call()
                        } else {
                            agent
                                .post(&url)
                                .header("authorization", &auth)
                                .header("content-type", "application/json")
                                .send(&body[..])
                        }
                        .unwrap();
                        assert_eq!(response.status().as_u16(), 200, "{path}");
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    counts.iter().sum::<u64>() as f64 / seconds
}

fn rows(label: &str, base: &str, seconds: f64) {
    for threads in [1, 4, 16] {
        let evaluations = rate(base, "/v1/backup/actions/evaluate", threads, seconds);
        let health = rate(base, "/v1/health", threads, seconds);
        println!(
            "{label:<9} c={threads:<2}  evaluations {evaluations:>7.0}/s   health {health:>7.0}/s   ratio {:.2}",
            evaluations / health
        );
    }
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let seconds: f64 = std::env::var("VIRGIL_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    println!(
        "key backup: OPRF evaluations through HTTP, {seconds} s per row, server on 2 tokio workers"
    );

    // The evaluation alone: what one core does without HTTP or the database.
    let key = OprfKey::derive(&[7; 32], b"chat").unwrap();
    let (_, blinded) = PasswordBlind::new(b"a backup password").unwrap();
    let began = Instant::now();
    let mut n = 0u32;
    while began.elapsed() < Duration::from_secs(1) {
        key.evaluate(&blinded, b"VGBI\x01info").unwrap();
        n += 1;
    }
    println!(
        "in process, 1 core: {:.0} evaluations/s ({:.0} µs each)",
        f64::from(n) / began.elapsed().as_secs_f64(),
        began.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = start(
        &runtime,
        &format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("cards.db").display()
        ),
    );
    rows("sqlite", &sqlite, seconds);
    let database = virgil_testkit::postgres::TempPostgres::new("virgil_backup_load");
    let postgres = start(&runtime, database.url());
    rows("postgres", &postgres, seconds);
}
