//! Load benchmark of the cards service: real servers on 127.0.0.1, real HTTP (ureq), N
//! client threads for a fixed time per scenario. Reports req/s, p50 and p99 for
//! get-by-id and search, each next to `/v1/health` at the same concurrency as the
//! baseline, on SQLite and PostgreSQL, with one and two replicas (PostgreSQL), and
//! health and get-by-id over TLS next to plain HTTP in the same run; and with the key
//! directory next to without it (publish throughput, get and search latency, SQLite,
//! the default epoch interval).
//!
//! `cargo bench -p virgil-cards-service --bench load` (needs PostgreSQL at
//! `VIRGIL_TEST_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432/test).
//! `VIRGIL_LOAD_SECONDS` sets the time per scenario (default 2). Traffic stays on
//! loopback and every loop is bounded by that time. `VIRGIL_LOAD_ONLY=directory` runs
//! only the key directory's rows; `VIRGIL_LOAD_ONLY=directory-writes` only its reads
//! while cards are published, on SQLite (to profile them alone).
//! `VIRGIL_LOAD_EPOCH_MS` sets the directory's epoch interval (default: the service's).
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
use virgil_card::{CardRequest, Signer};
use virgil_cards_service::auth::Applications;
use virgil_cards_service::server::{Service, router};
use virgil_cards_service::store::CardStore;
use virgil_crypto::PrivateKey;
use virgil_server::runtime::Listener;
use virgil_testkit::{key, now};

const CARDS: usize = 200;

/// The benchmark's TLS: a throwaway local CA, its server certificate, and the CA (DER)
/// the client agents pin.
struct Tls {
    acceptor: virgil_server::tls::TlsAcceptor,
    ca_der: Vec<u8>,
}

fn tls() -> Tls {
    let ca = virgil_server::tls::local_ca(&["127.0.0.1".to_owned()]).unwrap();
    let acceptor =
        virgil_server::tls::acceptor_from_pem(ca.cert_pem.as_bytes(), ca.key_pem.as_bytes())
            .unwrap();
    let ca_der = ureq::tls::Certificate::from_pem(ca.ca_pem.as_bytes())
        .unwrap()
        .der()
        .to_vec();
    Tls { acceptor, ca_der }
}

/// The CA every agent pins (set once, when the TLS rows start).
static PINNED_CA: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// Starts one server over `url` on the shared runtime (through the servers' own accept
/// loop, with TLS if given); returns its base URL.
fn start(runtime: &tokio::runtime::Runtime, url: &str) -> String {
    start_with(runtime, url, None)
}

/// The service's router over `url` (SQLite or PostgreSQL), without a key directory.
async fn service_router(url: &str) -> axum::Router {
    service_router_with(url, false).await
}

/// The service's router over `url`; with `directory`, as `virgil serve cards` runs it:
/// a key directory publishing at the default epoch interval.
async fn service_router_with(url: &str, directory: bool) -> axum::Router {
    let mut applications = Applications::new();
    applications
        .register("chat", key(100).public_key().clone())
        .unwrap();
    let store = CardStore::connect(url).await.unwrap();
    // One client address and one account send everything: rate limits off.
    let mut service = Service::new(store.clone(), key(101), applications).with_account_rate(None);
    if directory {
        let publisher = virgil_cards_service::directory::Publisher::open(
            store,
            key(101),
            None,
            virgil_directory::directory::DEFAULT_CACHE_BYTES,
        )
        .await
        .unwrap();
        // `VIRGIL_LOAD_EPOCH_MS`: another epoch interval than the default.
        let interval = std::env::var("VIRGIL_LOAD_EPOCH_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(virgil_cards_service::config::DEFAULT_EPOCH_INTERVAL_MS);
        service = service.with_directory(publisher, Duration::from_millis(interval));
    }
    router(Arc::new(service))
}

/// Like [`start`], served by `axum::serve` (no limits) instead of our accept loop: the
/// loop's own cost, measured in the same run.
fn start_axum(runtime: &tokio::runtime::Runtime, url: &str) -> String {
    let url = url.to_owned();
    runtime.block_on(async move {
        let service = service_router(&url)
            .await
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", tcp.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(tcp, service).await.unwrap() });
        base
    })
}

fn start_with(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    tls: Option<virgil_server::tls::TlsAcceptor>,
) -> String {
    start_server(runtime, url, tls, false)
}

fn start_server(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    tls: Option<virgil_server::tls::TlsAcceptor>,
    directory: bool,
) -> String {
    let url = url.to_owned();
    runtime.block_on(async move {
        let router = service_router_with(&url, directory).await;
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = match tls {
            Some(tls) => Listener::with_tls(tcp, tls),
            None => Listener::from(tcp),
        };
        let base = listener.url().unwrap();
        tokio::spawn(async move {
            virgil_server::runtime::serve_with_limits(
                listener,
                router,
                std::future::pending(),
                virgil_server::runtime::ConnectionLimits::without_rate_limit(),
            )
            .await
            .unwrap()
        });
        base
    })
}

/// health and get-by-id on `candidate` next to `baseline`, in the same run, at c=1 and
/// c=16: `label` names the comparison, `versus` the baseline.
fn compare(
    label: &str,
    versus: &str,
    candidate: &str,
    baseline: &str,
    ids: &[String],
    seconds: f64,
) {
    for threads in [1, 16] {
        for (name, endpoint) in [("health", Endpoint::Health), ("get", Endpoint::Get)] {
            let base = run(&[baseline.to_owned()], ids, endpoint, threads, seconds);
            let ours = run(&[candidate.to_owned()], ids, endpoint, threads, seconds);
            println!(
                "{label:<22} {name:<8} c={threads:<3} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {:.2}x {versus} ({:.0} req/s)",
                ours.rps,
                ours.p50.as_secs_f64() * 1e3,
                ours.p99.as_secs_f64() * 1e3,
                ours.rps / base.rps,
                base.rps
            );
        }
    }
}

fn agent() -> ureq::Agent {
    let mut config = ureq::Agent::config_builder().http_status_as_error(false);
    if let Some(ca) = PINNED_CA.get() {
        let roots = vec![ureq::tls::Certificate::from_der(ca).to_owned()];
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::Rustls)
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
                .build(),
        );
    }
    config.build().into()
}

/// Publishes CARDS cards; returns their ids.
fn seed(base: &str) -> Vec<String> {
    let agent = agent();
    let auth = format!(
        "Bearer {}",
        token::issue(&key(100), "chat", "loader", now(), 3600)
    );
    (0..CARDS)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let mut card = CardRequest::new(&format!("user{i}"), "chat")
                .sign(&PrivateKey::from_seed(&seed).unwrap())
                .unwrap();
            card.sign_as(Signer::App("chat".into()), &key(100)).unwrap();
            let status = agent
                .post(&format!("{base}/v1/cards"))
                .header("Authorization", &auth)
                .send_json(card.to_json())
                .unwrap()
                .status();
            assert!(status.is_success(), "seeding: {status}");
            card.id().to_string()
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Health,
    Get,
    Search,
    /// A new card for a new identity, each request.
    Publish,
}

struct Result {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

fn run(
    bases: &[String],
    ids: &[String],
    endpoint: Endpoint,
    threads: usize,
    seconds: f64,
) -> Result {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let auth = Arc::new(format!(
        "Bearer {}",
        token::issue(&key(100), "chat", "loader", now(), 3600)
    ));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let bases = bases.to_vec();
            let ids = ids.to_vec();
            let auth = Arc::clone(&auth);
            std::thread::spawn(move || {
                let agent = agent();
                let mut latencies = Vec::new();
                let mut i = t;
                while Instant::now() < deadline {
                    let base = &bases[i % bases.len()];
                    let started = Instant::now();
                    let status = match endpoint {
                        Endpoint::Health => agent.get(&format!("{base}/v1/health")).call(),
                        Endpoint::Get => agent
                            .get(&format!("{base}/v1/cards/{}", ids[i % ids.len()]))
                            .header("Authorization", auth.as_str())
                            .call(),
                        Endpoint::Publish => {
                            let mut seed = [9u8; 32];
                            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
                            seed[8..16].copy_from_slice(&(t as u64).to_be_bytes());
                            let mut card = CardRequest::new(&format!("new{t}-{i}"), "chat")
                                .sign(&PrivateKey::from_seed(&seed).unwrap())
                                .unwrap();
                            card.sign_as(Signer::App("chat".into()), &key(100)).unwrap();
                            agent
                                .post(&format!("{base}/v1/cards"))
                                .header("Authorization", auth.as_str())
                                .send_json(card.to_json())
                        }
                        Endpoint::Search => {
                            let names: Vec<String> = (0..5)
                                .map(|k| format!("user{}", (i + k * 37) % CARDS))
                                .collect();
                            agent
                                .post(&format!("{base}/v1/cards/actions/search"))
                                .header("Authorization", auth.as_str())
                                .send_json(serde_json::json!({ "identities": names }))
                        }
                    }
                    .map(|mut response| {
                        let _ = response.body_mut().read_to_vec();
                        response.status()
                    })
                    .unwrap();
                    assert!(status.is_success());
                    latencies.push(started.elapsed());
                    i += threads;
                }
                latencies
            })
        })
        .collect();
    let (count, p50, p99) = percentiles(handles);
    Result {
        rps: count as f64 / seconds,
        p50,
        p99,
    }
}

/// Joins the client threads; how many requests they made, and the p50 and p99 of their
/// latencies.
fn percentiles(
    handles: Vec<std::thread::JoinHandle<Vec<Duration>>>,
) -> (usize, Duration, Duration) {
    let mut latencies: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    (latencies.len(), pick(0.50), pick(0.99))
}

/// The server's own time in handlers for `route` (sum of seconds, count), from the
/// latency histogram at `/metrics`, summed over the replicas.
fn server_time(bases: &[String], route: &str) -> (f64, f64) {
    let agent = agent();
    let (mut sum, mut count) = (0.0, 0.0);
    for base in bases {
        let text = agent
            .get(&format!("{base}/metrics"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let value = |name: &str| -> f64 {
            let prefix = format!("{name}{{route=\"{route}\"}} ");
            text.lines()
                .find_map(|line| line.strip_prefix(&prefix))
                .map_or(0.0, |v| v.parse().unwrap())
        };
        sum += value("virgil_http_request_duration_seconds_sum");
        count += value("virgil_http_request_duration_seconds_count");
    }
    (sum, count)
}

/// Runs one scenario; also returns the mean server-side time per request (µs).
fn measured(
    bases: &[String],
    ids: &[String],
    endpoint: Endpoint,
    threads: usize,
    seconds: f64,
) -> (Result, f64) {
    let route = match endpoint {
        Endpoint::Health => "/v1/health",
        Endpoint::Get => "/v1/cards/{id}",
        Endpoint::Search => "/v1/cards/actions/search",
        Endpoint::Publish => "/v1/cards",
    };
    let (sum_before, count_before) = server_time(bases, route);
    let result = run(bases, ids, endpoint, threads, seconds);
    let (sum_after, count_after) = server_time(bases, route);
    let micros = (sum_after - sum_before) / (count_after - count_before).max(1.0) * 1e6;
    (result, micros)
}

fn report(label: &str, bases: &[String], ids: &[String], seconds: f64) {
    for threads in [1, 4, 16] {
        let (baseline, baseline_micros) = measured(bases, ids, Endpoint::Health, threads, seconds);
        println!(
            "{label:<22} {:<8} c={threads:<3} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  server {:>6.0} µs  (baseline)",
            "health",
            baseline.rps,
            baseline.p50.as_secs_f64() * 1e3,
            baseline.p99.as_secs_f64() * 1e3,
            baseline_micros
        );
        for (name, endpoint) in [("get", Endpoint::Get), ("search", Endpoint::Search)] {
            let (result, micros) = measured(bases, ids, endpoint, threads, seconds);
            println!(
                "{label:<22} {name:<8} c={threads:<3} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  server {:>6.0} µs  {:.2}x baseline",
                result.rps,
                result.p50.as_secs_f64() * 1e3,
                result.p99.as_secs_f64() * 1e3,
                micros,
                result.rps / baseline.rps
            );
        }
    }
}

/// Publishes one new card for identity `name` (seeded by `seed`); returns its id.
fn publish_one(agent: &ureq::Agent, base: &str, auth: &str, name: &str, seed: u64) -> String {
    let mut key_seed = [11u8; 32];
    key_seed[..8].copy_from_slice(&seed.to_be_bytes());
    let mut card = CardRequest::new(name, "chat")
        .sign(&PrivateKey::from_seed(&key_seed).unwrap())
        .unwrap();
    card.sign_as(Signer::App("chat".into()), &key(100)).unwrap();
    let status = agent
        .post(&format!("{base}/v1/cards"))
        .header("Authorization", auth)
        .send_json(card.to_json())
        .unwrap()
        .status();
    assert!(status.is_success(), "publishing: {status}");
    card.id().to_string()
}

/// Publish to findable: `threads` clients each publish a card for a new identity and at
/// once search for it, until the search answers with the card (a search that misses it
/// is retried). Returns the p50 and p99 of publish start to the answer with the card.
fn publish_to_findable(
    base: &str,
    threads: usize,
    seconds: f64,
    tag: &str,
) -> (Duration, Duration) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let auth = format!(
        "Bearer {}",
        token::issue(&key(100), "chat", "loader", now(), 3600)
    );
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let base = base.to_owned();
            let auth = auth.clone();
            let tag = tag.to_owned();
            std::thread::spawn(move || {
                let agent = agent();
                let mut latencies = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let name = format!("findable-{tag}-{t}-{i}");
                    let started = Instant::now();
                    let id = publish_one(&agent, &base, &auth, &name, (t as u64) << 32 | i);
                    loop {
                        let body: serde_json::Value = agent
                            .post(&format!("{base}/v1/cards/actions/search"))
                            .header("Authorization", auth.as_str())
                            .send_json(serde_json::json!({ "identities": [name] }))
                            .unwrap()
                            .body_mut()
                            .read_json()
                            .unwrap();
                        let found = body["cards"].as_array().is_some_and(|cards| {
                            cards.iter().any(|c| c["card"]["id"] == id.as_str())
                        });
                        if found {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    latencies.push(started.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let (_, p50, p99) = percentiles(handles);
    (p50, p99)
}

/// A background writer publishing `per_second` new cards to `base` until the returned
/// flag is set (epochs keep rolling while reads are measured).
fn background_writes(
    base: &str,
    per_second: u32,
    tag: &str,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let base = base.to_owned();
    let tag = tag.to_owned();
    let handle = std::thread::spawn(move || {
        let agent = agent();
        let auth = format!(
            "Bearer {}",
            token::issue(&key(100), "chat", "writer", now(), 3600)
        );
        let period = Duration::from_secs_f64(1.0 / f64::from(per_second));
        let mut next = Instant::now();
        let mut i = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            publish_one(
                &agent,
                &base,
                &auth,
                &format!("writer-{tag}-{i}"),
                (1 << 48) | i,
            );
            i += 1;
            next += period;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });
    (stop, handle)
}

/// One row: `ours` against `base` (same scenario, same run).
fn directory_row(label: &str, name: &str, threads: usize, ours: &Result, base: &Result) {
    println!(
        "{label:<26} {name:<16} c={threads:<3} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {:.2}x throughput, p99 {:.2}x, of without ({:.0} req/s, p99 {:.2} ms)",
        ours.rps,
        ours.p50.as_secs_f64() * 1e3,
        ours.p99.as_secs_f64() * 1e3,
        ours.rps / base.rps,
        ours.p99.as_secs_f64() / base.p99.as_secs_f64(),
        base.rps,
        base.p99.as_secs_f64() * 1e3
    );
}

/// With the key directory next to without, in the same run, on the database at
/// `url(name)`: publish throughput (a new identity per request), get and search latency
/// (on a quiet directory, and while 20 cards a second are published so that epochs keep
/// coming), and publish to findable (a publish, then searches until the card is there).
fn directory_rows(
    runtime: &tokio::runtime::Runtime,
    seconds: f64,
    label: &str,
    url: &dyn Fn(&str) -> String,
) {
    let without = start_server(runtime, &url("plain"), None, false);
    let with = start_server(runtime, &url("directory"), None, true);
    let without_ids = seed(&without);
    let with_ids = seed(&with);
    let pair = |endpoint: Endpoint, threads: usize| {
        let base = run(
            std::slice::from_ref(&without),
            &without_ids,
            endpoint,
            threads,
            seconds,
        );
        let ours = run(
            std::slice::from_ref(&with),
            &with_ids,
            endpoint,
            threads,
            seconds,
        );
        (ours, base)
    };
    let only_writes = std::env::var("VIRGIL_LOAD_ONLY").as_deref() == Ok("directory-writes");
    for threads in [1, 16, 64] {
        if only_writes {
            break;
        }
        let (ours, base) = pair(Endpoint::Publish, threads);
        directory_row(label, "publish", threads, &ours, &base);
    }
    for threads in [1, 16] {
        if only_writes {
            break;
        }
        for (name, endpoint) in [("get", Endpoint::Get), ("search (5 ids)", Endpoint::Search)] {
            let (ours, base) = pair(endpoint, threads);
            directory_row(label, name, threads, &ours, &base);
        }
    }
    for threads in [1, 16] {
        for (name, endpoint) in [
            ("get, writes", Endpoint::Get),
            ("search, writes", Endpoint::Search),
        ] {
            let writers = [
                background_writes(&without, 20, &format!("{name}{threads}")),
                background_writes(&with, 20, &format!("{name}{threads}")),
            ];
            let (ours, base) = pair(endpoint, threads);
            for (stop, handle) in writers {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                handle.join().unwrap();
            }
            directory_row(label, name, threads, &ours, &base);
        }
    }
    for threads in [1, 16] {
        if only_writes {
            break;
        }
        let (base50, base99) =
            publish_to_findable(&without, threads, seconds, &format!("b{threads}"));
        let (p50, p99) = publish_to_findable(&with, threads, seconds, &format!("w{threads}"));
        println!(
            "{label:<26} {:<16} c={threads:<3} publish to findable p50 {:>7.2} ms  p99 {:>7.2} ms  (without: p50 {:.2} ms, p99 {:.2} ms)",
            "publish→findable",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            base50.as_secs_f64() * 1e3,
            base99.as_secs_f64() * 1e3,
        );
    }
}

/// The directory rows on SQLite (fresh databases).
fn sqlite_directory_rows(runtime: &tokio::runtime::Runtime, seconds: f64) {
    let dir = tempfile::tempdir().unwrap();
    directory_rows(runtime, seconds, "sqlite, directory", &|name| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join(format!("{name}.db")).display()
        )
    });
}

/// The directory rows on SQLite, then on PostgreSQL (fresh databases each).
fn all_directory_rows(runtime: &tokio::runtime::Runtime, seconds: f64) {
    sqlite_directory_rows(runtime, seconds);
    let plain = virgil_testkit::postgres::TempPostgres::new("virgil_load_plain");
    let directory = virgil_testkit::postgres::TempPostgres::new("virgil_load_directory");
    directory_rows(runtime, seconds, "postgres, directory", &|name| {
        if name == "plain" {
            plain.url().to_owned()
        } else {
            directory.url().to_owned()
        }
    });
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing to run.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let seconds: f64 = std::env::var("VIRGIL_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "cards service load test: {seconds} s per row, loopback, ureq client threads, server on 2 tokio workers"
    );

    match std::env::var("VIRGIL_LOAD_ONLY").as_deref() {
        Ok("directory") => return all_directory_rows(&runtime, seconds),
        Ok("directory-writes") => return sqlite_directory_rows(&runtime, seconds),
        _ => {}
    }
    all_directory_rows(&runtime, seconds);

    let dir = tempfile::tempdir().unwrap();
    let sqlite = start(
        &runtime,
        &format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("cards.db").display()
        ),
    );
    let ids = seed(&sqlite);
    report(
        "sqlite, 1 replica",
        std::slice::from_ref(&sqlite),
        &ids,
        seconds,
    );

    // Our accept loop (timeouts, connection cap, request timeout) next to axum::serve.
    let sqlite_axum = start_axum(
        &runtime,
        &format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("cards.db").display()
        ),
    );
    compare(
        "sqlite, loop vs axum",
        "axum::serve",
        &sqlite,
        &sqlite_axum,
        &ids,
        seconds,
    );

    // TLS: a second server over the same database, with TLS; plain HTTP measured in the
    // same run as its baseline. Connections are kept alive (one agent per thread).
    let tls = tls();
    PINNED_CA.set(tls.ca_der).unwrap();
    let sqlite_tls = start_with(
        &runtime,
        &format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("cards.db").display()
        ),
        Some(tls.acceptor),
    );
    compare(
        "sqlite, TLS vs plain",
        "plain HTTP",
        &sqlite_tls,
        &sqlite,
        &ids,
        seconds,
    );

    let database = virgil_testkit::postgres::TempPostgres::new("virgil_load");
    let pg_url = database.url().to_owned();
    let pg_one = start(&runtime, &pg_url);
    let ids = seed(&pg_one);
    report(
        "postgres, 1 replica",
        std::slice::from_ref(&pg_one),
        &ids,
        seconds,
    );
    let pg_two = start(&runtime, &pg_url);
    report("postgres, 2 replicas", &[pg_one, pg_two], &ids, seconds);
}
