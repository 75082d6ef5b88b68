//! The `virgil-cards-service` binary: keygen, graceful shutdown and restart on the same
//! SQLite file, and two replicas over one PostgreSQL database (publish through one,
//! read and revoke through the other).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::Value;

use std::path::Path;
use std::process::Command;
use virgil_api::cards::{CardResponse, CardStatus, SearchResponse};
use virgil_api::token;
use virgil_card::{CardRequest, RevocationReason, RevocationRequest, Signer};
use virgil_crypto::encoding::to_base64;
use virgil_testkit::process::ServerProcess;
use virgil_testkit::{key, now};

const BIN: &str = env!("CARGO_BIN_EXE_virgil-cards-service");
const PASSWORD: &str = "service key password";

fn keygen(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("service.key");
    let output = Command::new(BIN)
        .args(["keygen", "--out"])
        .arg(&path)
        .env("VIRGIL_SERVICE_KEY_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("public key (pin this in clients): "));
    path
}

fn start(key_file: &Path, database_url: &str) -> ServerProcess {
    start_with(key_file, database_url, &[])
}

/// Like [`start`], with extra environment variables.
fn start_with(key_file: &Path, database_url: &str, envs: &[(&str, &str)]) -> ServerProcess {
    let mut command = serve_command(key_file, database_url);
    command.env("RUST_LOG", "warn").envs(envs.iter().copied());
    ServerProcess::start(command)
}

/// `serve` on an ephemeral port over `database_url`, with the key in `key_file` and the
/// application "chat" registered.
fn serve_command(key_file: &Path, database_url: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
            "--service-key-file",
        ])
        .arg(key_file)
        .arg("--app")
        .arg(format!(
            "chat={}",
            to_base64(key(100).public_key().as_bytes())
        ))
        .env("VIRGIL_SERVICE_KEY_PASSWORD", PASSWORD);
    command
}

fn call(method: &str, url: &str, body: Option<&impl serde::Serialize>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let auth = format!(
        "Bearer {}",
        token::issue(&key(100), "chat", "alice", now(), 300)
    );
    let response = if method == "GET" {
        agent.get(url).header("Authorization", &auth).call()
    } else {
        agent
            .post(url)
            .header("Authorization", &auth)
            .send_json(body.unwrap())
    };
    let mut response = response.unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_json().unwrap())
}

fn approved(identity: &str, owner: u8) -> virgil_card::Card {
    let mut card = CardRequest::new(identity, "chat")
        .sign(&key(owner))
        .unwrap();
    card.sign_as(Signer::App("chat".into()), &key(100)).unwrap();
    card
}

#[test]
fn keygen_needs_a_password_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    let no_password = Command::new(BIN)
        .args(["keygen", "--out"])
        .arg(&path)
        .env_remove("VIRGIL_SERVICE_KEY_PASSWORD")
        .output()
        .unwrap();
    assert!(!no_password.status.success());
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("VIRGIL_SERVICE_KEY_PASSWORD"));
    let path = keygen(dir.path());
    let before = std::fs::read(&path).unwrap();
    let again = Command::new(BIN)
        .args(["keygen", "--out"])
        .arg(&path)
        .env("VIRGIL_SERVICE_KEY_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the existing key is untouched"
    );
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--database-url"));
}

#[test]
fn a_restarted_service_keeps_its_cards() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = keygen(dir.path());
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    );
    let alice = approved("alice", 1);
    let first = start(&key_file, &url);
    let (status, _) = call(
        "POST",
        &format!("{}/v1/cards", first.url),
        Some(&alice.to_json()),
    );
    assert_eq!(status, 201);
    first.stop();
    let second = start(&key_file, &url);
    let (status, body) = call(
        "GET",
        &format!("{}/v1/cards/{}", second.url, alice.id()),
        None::<&()>,
    );
    assert_eq!(status, 200, "{body}");
    second.stop();
}

#[test]
fn two_replicas_share_one_postgres_database() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = keygen(dir.path());
    let database = virgil_testkit::postgres_or_skip!(two_replicas_share_one_postgres_database);
    let url = database.url().to_owned();
    let one = start(&key_file, &url);
    let two = start(&key_file, &url);

    let alice = approved("alice", 1);
    let (status, body) = call(
        "POST",
        &format!("{}/v1/cards", one.url),
        Some(&alice.to_json()),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        "GET",
        &format!("{}/v1/cards/{}", two.url, alice.id()),
        None::<&()>,
    );
    assert_eq!(status, 200, "{body}");
    let (_, body) = call(
        "POST",
        &format!("{}/v1/cards/actions/search", two.url),
        Some(&serde_json::json!({"identities": ["alice"]})),
    );
    assert_eq!(
        serde_json::from_value::<SearchResponse>(body)
            .unwrap()
            .cards
            .len(),
        1
    );
    let request = RevocationRequest {
        card_id: *alice.id(),
        reason: RevocationReason::Unspecified,
        created_at: now(),
    };
    let revoke = serde_json::json!({"request": to_base64(&request.to_bytes()), "signature": to_base64(request.sign(&key(100)).as_bytes())});
    let (status, body) = call(
        "POST",
        &format!("{}/v1/cards/{}/actions/revoke", two.url, alice.id()),
        Some(&revoke),
    );
    assert_eq!(status, 200, "{body}");
    let (_, body) = call(
        "GET",
        &format!("{}/v1/cards/{}", one.url, alice.id()),
        None::<&()>,
    );
    assert!(matches!(
        serde_json::from_value::<CardResponse>(body).unwrap().status,
        CardStatus::Revoked { .. }
    ));

    one.stop();
    two.stop();
}

/// With `VIRGIL_METRICS_TOKEN` set, `/metrics` needs that bearer token, even from
/// loopback (without the variable it answers loopback clients only).
#[test]
fn metrics_need_the_token_when_one_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = keygen(dir.path());
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    );
    let server = start_with(&key_file, &url, &[("VIRGIL_METRICS_TOKEN", "scrape-me")]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let metrics = format!("{}/metrics", server.url);
    let without = agent.get(&metrics).call().unwrap();
    assert_eq!(without.status().as_u16(), 403);
    let wrong = agent
        .get(&metrics)
        .header("Authorization", "Bearer scrape-you")
        .call()
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    let mut right = agent
        .get(&metrics)
        .header("Authorization", "Bearer scrape-me")
        .call()
        .unwrap();
    assert_eq!(right.status().as_u16(), 200);
    assert!(
        right
            .body_mut()
            .read_to_string()
            .unwrap()
            .contains("virgil_cards_stored")
    );
    server.stop();
}

/// The `[limits]` table and `max_token_lifetime_seconds` of the configuration file take
/// effect in the real binary.
#[test]
fn limits_in_the_configuration_file_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = keygen(dir.path());
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    );
    let config = dir.path().join("cards.toml");
    std::fs::write(
        &config,
        "max_token_lifetime_seconds = 120\n\n[limits]\nclient_requests_per_minute = 60\nclient_burst = 3\n",
    )
    .unwrap();
    let server = start_with(
        &key_file,
        &url,
        &[("VIRGIL_CARDS_CONFIG", config.to_str().unwrap())],
    );
    // `call`'s tokens are valid for 300 s: over this file's cap.
    let (status, body) = call(
        "GET",
        &format!("{}/v1/service-key", server.url),
        None::<&()>,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        "POST",
        &format!("{}/v1/cards/actions/search", server.url),
        Some(&serde_json::json!({"identities": ["bob"]})),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("token_lifetime_too_long")),
        "{body}"
    );
    // Three requests are the burst; the fourth is refused.
    let (status, body) = call("GET", &format!("{}/v1/health", server.url), None::<&()>);
    assert_eq!(status, 200, "{body}");
    let (status, body) = call("GET", &format!("{}/v1/health", server.url), None::<&()>);
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    server.stop();
}

/// An agent that trusts only the CA in `ca_pem`.
fn pinned_agent(ca_pem: &str) -> ureq::Agent {
    let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(ca_pem.as_bytes())
        .filter_map(|item| match item.unwrap() {
            ureq::tls::PemItem::Certificate(cert) => Some(cert.to_owned()),
            _ => None,
        })
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .build()
        .into()
}

/// SIGHUP reloads the TLS certificate from its files: after a renewal from another CA,
/// new connections get the new certificate; a broken file on the next SIGHUP is logged
/// and the certificate in use is kept.
#[test]
fn sighup_reloads_the_tls_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = keygen(dir.path());
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    );
    let hosts = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    let first = virgil_server::tls::local_ca(&hosts).unwrap();
    let (cert, tls_key) = (dir.path().join("tls.pem"), dir.path().join("tls.key"));
    std::fs::write(&cert, &first.cert_pem).unwrap();
    std::fs::write(&tls_key, first.key_pem.as_bytes()).unwrap();
    let config = dir.path().join("cards.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            cert.display().to_string(),
            tls_key.display().to_string()
        ),
    )
    .unwrap();
    let server = start_with(
        &key_file,
        &url,
        &[("VIRGIL_CARDS_CONFIG", config.to_str().unwrap())],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let health = format!("{}/v1/health", server.url);
    let served_to = |ca: &str| pinned_agent(ca).get(&health).call().is_ok();
    assert!(served_to(&first.ca_pem));

    let renewed = virgil_server::tls::local_ca(&hosts).unwrap();
    std::fs::write(&cert, &renewed.cert_pem).unwrap();
    std::fs::write(&tls_key, renewed.key_pem.as_bytes()).unwrap();
    assert!(served_to(&first.ca_pem), "no reload before the signal");
    server.signal("HUP");
    let reloaded = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        served_to(&renewed.ca_pem)
    });
    assert!(
        reloaded,
        "the renewed certificate is not served after SIGHUP"
    );
    assert!(!served_to(&first.ca_pem));

    // A key that does not match the certificate: refused, the renewed one stays.
    std::fs::write(&tls_key, first.key_pem.as_bytes()).unwrap();
    server.signal("HUP");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        served_to(&renewed.ca_pem),
        "a bad reload replaced the certificate"
    );
    server.stop();
}

/// Operators' logs: `--log-format json` writes one JSON object per line, each request
/// line naming the server; text logs written to a file carry no colour escapes.
#[test]
fn logs_are_json_or_plain_text_and_name_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = keygen(dir.path());
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    );
    for format in ["json", "text"] {
        let log = dir.path().join(format!("{format}.log"));
        let mut command = serve_command(&key_file, &database_url);
        command
            .args(["--log-format", format])
            .env("RUST_LOG", "info");
        let server = ServerProcess::start_logging_to(command, std::fs::File::create(&log).unwrap());
        assert_eq!(
            call("GET", &format!("{}/v1/health", server.url), None::<&()>).0,
            200
        );
        server.stop();
        let written = std::fs::read_to_string(&log).unwrap();
        assert!(
            !written.contains('\u{1b}'),
            "colour escapes in a file: {written}"
        );
        if format == "json" {
            let lines: Vec<Value> = written
                .lines()
                .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
                .collect();
            assert!(
                lines
                    .iter()
                    .any(|line| line["fields"]["message"] == "request"
                        && line["fields"]["server"] == "cards-service"
                        && line["fields"]["route"] == "/v1/health"),
                "{written}"
            );
        } else {
            assert!(
                written.contains("server=\"cards-service\"")
                    || written.contains("server=cards-service"),
                "{written}"
            );
        }
    }
}

/// Every key the configuration file takes is in docs/deployment.md's table (the list
/// comes from the type itself: the parser names every key it expects).
#[test]
fn every_configuration_key_is_documented() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unknown.toml");
    std::fs::write(&file, "not_a_key = 1\n").unwrap();
    let error = virgil_cards_service::config::Config::from_file(&file)
        .unwrap_err()
        .to_string();
    virgil_testkit::assert_keys_documented(&error, "### Cards service", "### Application server");
}

/// Publishes `card` to `base` without panicking (the server may be killed under it):
/// whether the service acknowledged it (201).
fn try_publish(agent: &ureq::Agent, base: &str, card: &virgil_card::Card) -> bool {
    let auth = format!(
        "Bearer {}",
        token::issue(&key(100), "chat", "writer", now(), 300)
    );
    agent
        .post(&format!("{base}/v1/cards"))
        .header("Authorization", &auth)
        .send_json(card.to_json())
        .is_ok_and(|response| response.status().as_u16() == 201)
}

/// A writer publishing new cards to `base` as fast as it can until `stop` is set or the
/// server stops answering; returns what was acknowledged.
fn writer(
    base: String,
    tag: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<(String, virgil_card::CardId)>> {
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(5)))
            .build()
            .into();
        let mut done = Vec::new();
        let mut n = 0u64;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let identity = format!("user-{tag}-{n}");
            let mut seed = [5u8; 32];
            seed[..8].copy_from_slice(&tag.to_be_bytes());
            seed[8..16].copy_from_slice(&n.to_be_bytes());
            let mut card = CardRequest::new(&identity, "chat")
                .sign(&virgil_crypto::PrivateKey::from_seed(&seed).unwrap())
                .unwrap();
            card.sign_as(Signer::App("chat".into()), &key(100)).unwrap();
            if !try_publish(&agent, &base, &card) {
                break;
            }
            done.push((identity, *card.id()));
            n += 1;
        }
        done
    })
}

/// Writes to `server` from a writer thread for `millis`, then `kill -9`s it; returns
/// what was acknowledged before.
fn write_then_kill(
    server: ServerProcess,
    tag: u64,
    millis: u64,
) -> Vec<(String, virgil_card::CardId)> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = writer(server.url.clone(), tag, std::sync::Arc::clone(&stop));
    std::thread::sleep(std::time::Duration::from_millis(millis));
    server.kill();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let done = writing.join().unwrap();
    assert!(!done.is_empty(), "writer {tag}: nothing was published");
    done
}

/// Every card of `acknowledged` is active in its owner's entry, proven, at `base`; and
/// the directory's epochs are one append-only chain from epoch 1 to the latest.
fn all_proven_and_append_only(base: &str, acknowledged: &[(String, virgil_card::CardId)]) {
    let mut latest = 0;
    for chunk in acknowledged.chunks(50) {
        let names: Vec<&str> = chunk.iter().map(|(name, _)| name.as_str()).collect();
        let (status, answer) = call(
            "POST",
            &format!("{base}/v1/cards/actions/search"),
            Some(&serde_json::json!({ "identities": names })),
        );
        assert_eq!(status, 200, "{answer}");
        let checkpoint = virgil_card::checkpoint::SignedCheckpoint::from_base64(
            answer["directory"]["checkpoint"].as_str().unwrap(),
        )
        .unwrap()
        .checkpoint;
        latest = checkpoint.epoch;
        for (name, id) in chunk {
            let proof = answer["directory"]["proofs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|proof| proof["identity"] == name.as_str())
                .unwrap_or_else(|| panic!("{name} (acknowledged) has no proof after the kill"));
            let proof =
                virgil_crypto::encoding::from_base64(proof["proof"].as_str().unwrap()).unwrap();
            let entry = virgil_card::directory::verify_lookup(
                &checkpoint,
                &virgil_card::CardIdentity::new("chat", name),
                &proof,
            )
            .unwrap();
            assert_eq!(
                entry.entry.state_of(id),
                Some(virgil_card::directory::EntryState::Active),
                "{name}"
            );
        }
    }
    let mut from = 1;
    while from < latest {
        let to = latest.min(from + 256);
        let (status, audit) = call(
            "POST",
            &format!("{base}/v1/directory/actions/audit"),
            Some(&serde_json::json!({ "from": from, "to": to })),
        );
        assert_eq!(status, 200, "{audit}");
        let roots: Vec<[u8; 32]> = audit["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                virgil_card::checkpoint::SignedCheckpoint::from_base64(c.as_str().unwrap())
                    .unwrap()
                    .checkpoint
                    .root
            })
            .collect();
        let proof = virgil_crypto::encoding::from_base64(audit["proof"].as_str().unwrap()).unwrap();
        virgil_directory::audit::verify_append_only_blocking(from, &roots, &proof).unwrap();
        from = to;
    }
}

/// `kill -9` while writes keep coming, so that epochs are being made when it lands:
/// after a restart every publish the service acknowledged is in the directory, proven,
/// and the epochs made after the restart extend the ones signed before it (the
/// append-only proof from epoch 1 to the latest verifies). Three kills, at three
/// moments.
fn a_killed_publisher_loses_no_acknowledged_publish(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let key_file = keygen(dir.path());
    let mut acknowledged = Vec::new();
    for round in 0..3u64 {
        acknowledged.extend(write_then_kill(
            start(&key_file, url),
            round,
            350 + 230 * round,
        ));
    }
    let server = start(&key_file, url);
    all_proven_and_append_only(&server.url, &acknowledged);
    server.stop();
}

/// Two replicas on one PostgreSQL database, both written to; one is killed mid-stream.
/// The other, never restarted, takes over publishing: every publish either acknowledged
/// is proven by it, and its epochs extend the killed one's without a fork.
#[test]
fn a_replica_takes_over_from_a_killed_publisher() {
    let database = virgil_testkit::postgres_or_skip!(a_replica_takes_over_from_a_killed_publisher);
    let dir = tempfile::tempdir().unwrap();
    let key_file = keygen(dir.path());
    let survivor = start(&key_file, database.url());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = writer(survivor.url.clone(), 7, std::sync::Arc::clone(&stop));
    let mut acknowledged = write_then_kill(start(&key_file, database.url()), 8, 700);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    acknowledged.extend(writing.join().unwrap());
    all_proven_and_append_only(&survivor.url, &acknowledged);
    survivor.stop();
}

#[test]
fn sqlite_a_killed_publisher_loses_no_acknowledged_publish() {
    let dir = tempfile::tempdir().unwrap();
    a_killed_publisher_loses_no_acknowledged_publish(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    ));
}

#[test]
fn postgres_a_killed_publisher_loses_no_acknowledged_publish() {
    let database = virgil_testkit::postgres_or_skip!(
        postgres_a_killed_publisher_loses_no_acknowledged_publish
    );
    a_killed_publisher_loses_no_acknowledged_publish(database.url());
}

/// A restart on an existing PostgreSQL database logs no notices about the schema it
/// finds in place (`relation … already exists, skipping` came out as ten INFO lines).
#[test]
fn a_postgres_restart_logs_no_schema_notices() {
    let database = virgil_testkit::postgres_or_skip!(a_postgres_restart_logs_no_schema_notices);
    let dir = tempfile::tempdir().unwrap();
    let key_file = keygen(dir.path());
    for run in 0..2 {
        let log = dir.path().join(format!("run{run}.log"));
        let mut command = serve_command(&key_file, database.url());
        command.env("RUST_LOG", "info");
        let server = ServerProcess::start_logging_to(command, std::fs::File::create(&log).unwrap());
        server.stop();
        let written = std::fs::read_to_string(&log).unwrap();
        assert!(
            !written.contains("already exists"),
            "run {run} logged schema notices:\n{written}"
        );
    }
}
