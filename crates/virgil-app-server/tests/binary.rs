//! The `virgil-app-server` binary: keygen, serve from a TOML file against a real cards
//! service, graceful shutdown on SIGTERM, and restart on the same database.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::process::Command;
use virgil_card::Verifier;
use virgil_client::AppClient;
use virgil_crypto::PublicKey;
use virgil_crypto::encoding::{from_base64, to_base64};
use virgil_testkit::process::ServerProcess;
use virgil_testkit::servers::spawn_cards_service;

const BIN: &str = env!("CARGO_BIN_EXE_virgil-app-server");
const PASSWORD: &str = "app key password";

/// Runs keygen; returns the printed public key.
fn keygen(path: &Path) -> PublicKey {
    let output = Command::new(BIN)
        .args(["keygen", "--out"])
        .arg(path)
        .env("VIRGIL_APP_KEY_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("public key (pin this in clients): "))
        .unwrap_or_else(|| panic!("no public key in {stdout}"));
    PublicKey::from_bytes(&from_base64(line).unwrap()).unwrap()
}

fn start(config: &Path, password: &str) -> ServerProcess {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--config"])
        .arg(config)
        .env("VIRGIL_APP_KEY_PASSWORD", password)
        .env("RUST_LOG", "warn");
    ServerProcess::start(command)
}

/// Keys, a cards service (in this process) and the app server's TOML file; returns the
/// file and the two public keys to pin.
fn deployment(dir: &Path, password_iterations: u32) -> (std::path::PathBuf, PublicKey, PublicKey) {
    let key_file = dir.join("app.key");
    let app_public = keygen(&key_file);
    assert!(
        !Command::new(BIN)
            .args(["keygen", "--out"])
            .arg(&key_file)
            .env("VIRGIL_APP_KEY_PASSWORD", PASSWORD)
            .status()
            .unwrap()
            .success(),
        "keygen never overwrites"
    );
    let service_key = virgil_crypto::PrivateKey::generate().unwrap();
    let service_public = service_key.public_key().clone();
    let cards_url = spawn_cards_service(
        &format!("sqlite://{}?mode=rwc", dir.join("cards.db").display()),
        service_key,
        &[("chat", app_public.clone())],
    );
    let config = dir.join("app.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n\
             database_url = \"sqlite://{}?mode=rwc\"\n\
             app_id = \"chat\"\n\
             app_key_file = \"{}\"\n\
             cards_url = \"{cards_url}\"\n\
             cards_service_key = \"{}\"\n\
             password_iterations = {password_iterations}\n",
            dir.join("app.db").display(),
            key_file.display(),
            to_base64(service_public.as_bytes()),
        ),
    )
    .unwrap();
    (config, service_public, app_public)
}

#[test]
fn serves_from_a_config_file_and_restarts_on_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let (config, service_public, app_public) = deployment(dir.path(), 1000);

    // A wrong password is refused at start, with the variable to set.
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("VIRGIL_APP_KEY_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("VIRGIL_APP_KEY_PASSWORD"), "{stderr}");

    let verifier = || {
        Verifier::new()
            .trust_service(service_public.clone())
            .trust_app("chat", app_public.clone())
    };
    let server = start(&config, PASSWORD);
    let app = AppClient::new(&server.url, verifier());
    app.register("alice", "correct horse").unwrap();
    let session = app.login("alice", "correct horse").unwrap();
    let request = virgil_card::CardRequest::new("alice", "chat")
        .sign(&virgil_crypto::PrivateKey::generate().unwrap())
        .unwrap();
    app.submit_card(&session, &request).unwrap();
    server.stop();

    let server = start(&config, PASSWORD);
    let app = AppClient::new(&server.url, verifier());
    app.login("alice", "correct horse")
        .expect("the user survived the restart");
    server.stop();
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let dir = tempfile::tempdir().unwrap();
    // Registration hashes the password: slow enough to be in flight when SIGTERM lands.
    let (config, service_public, app_public) = deployment(dir.path(), 5_000_000);
    let server = start(&config, PASSWORD);
    let base = server.url.clone();
    let verifier = Verifier::new()
        .trust_service(service_public)
        .trust_app("chat", app_public);
    let in_flight = std::thread::spawn(move || {
        AppClient::new(&base, verifier).register("erin", "correct horse")
    });
    std::thread::sleep(std::time::Duration::from_millis(150));
    assert!(
        !in_flight.is_finished(),
        "the request should still be running"
    );
    server.stop();
    in_flight
        .join()
        .unwrap()
        .expect("the in-flight registration completed during shutdown");
}

/// With `registration = "closed"`, nobody registers over HTTP; the operator adds users
/// with `add-user`, and they log in.
#[test]
fn closed_registration_leaves_accounts_to_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _, _) = deployment(dir.path(), 1000);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("registration = \"closed\"\n");
    std::fs::write(&config, text).unwrap();

    let server = start(&config, PASSWORD);
    let app = AppClient::new(&server.url, Verifier::new());
    match app.register("mallory", "correct horse") {
        Err(virgil_client::ClientError::Api { status, code, .. }) => {
            assert_eq!(
                (status, code),
                (403, virgil_api::ErrorCode::RegistrationClosed)
            );
        }
        other => panic!("registration is closed, yet: {other:?}"),
    }
    let add_bob = || {
        Command::new(BIN)
            .args(["add-user", "bob", "--config"])
            .arg(&config)
            .env("VIRGIL_ACCOUNT_PASSWORD", "correct horse")
            .output()
            .unwrap()
    };
    let added = add_bob();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    app.login("bob", "correct horse")
        .expect("an added user logs in");
    let again = add_bob();
    assert!(
        !again.status.success(),
        "add-user never replaces an account"
    );
    server.stop();
}

/// The operator sets a user's password (after the user reports it stolen): every
/// session of the account ends at once, the old password stops working.
#[test]
fn the_operator_sets_a_password_and_ends_every_session() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _, _) = deployment(dir.path(), 1000);
    let server = start(&config, PASSWORD);
    let app = AppClient::new(&server.url, Verifier::new());
    app.register("bob", "correct horse").unwrap();
    let thiefs = app.login("bob", "correct horse").unwrap();
    let set = |user: &str| {
        Command::new(BIN)
            .args(["set-password", user, "--config"])
            .arg(&config)
            .env("VIRGIL_ACCOUNT_PASSWORD", "a new password")
            .output()
            .unwrap()
    };
    let output = set("bob");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("every session"));
    match app.sessions(&thiefs) {
        Err(virgil_client::ClientError::Api { code, .. }) => {
            assert_eq!(code, virgil_api::ErrorCode::InvalidSession);
        }
        other => panic!("the session survived: {other:?}"),
    }
    assert!(app.login("bob", "correct horse").is_err());
    app.login("bob", "a new password").unwrap();
    assert!(!set("nobody").status.success(), "no such user");
    server.stop();
}

/// Every key the configuration file takes is in docs/deployment.md's table (the list
/// comes from the type itself: the parser names every key it expects).
#[test]
fn every_configuration_key_is_documented() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unknown.toml");
    std::fs::write(&file, "not_a_key = 1\n").unwrap();
    let error = virgil_app_server::config::Config::from_file(&file)
        .unwrap_err()
        .to_string();
    virgil_testkit::assert_keys_documented(&error, "### Application server", "### Both servers");
}

/// A raw request with `headers`; the status and the answer's headers (no redirects
/// followed, no status an error).
fn raw(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, ureq::http::HeaderMap, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .allow_non_standard_methods(true)
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = agent.run(request.body(()).unwrap()).unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().read_to_string().unwrap_or_default();
    (status, headers, body)
}

fn header<'a>(headers: &'a ureq::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The web chat's folder, its generated config and the headers a security reviewer
/// expects: a strict CSP on the page (scripts from its own origin only, connections to
/// it and the cards service only), the API's own CSP, nosniff, no framing; CORS only
/// for the configured origin; nothing outside the folder.
#[test]
fn serves_the_web_chat_with_strict_headers_and_cors_for_configured_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let (config, service_public, app_public) = deployment(dir.path(), 1000);
    let web = dir.path().join("web");
    std::fs::create_dir(&web).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>chat</title>").unwrap();
    std::fs::write(web.join("chat.js"), "export {};").unwrap();
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{base}cors_origins = [\"https://chat.example.com\"]\n\
             [web]\nroot = \"web\"\ncards_url = \"https://cards.example.com:8443/\"\n"
        ),
    )
    .unwrap();
    let server = start(&config, PASSWORD);
    let url = |path: &str| format!("{}{path}", server.url);

    let page_policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' https://cards.example.com:8443; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'";
    for (path, kind) in [
        ("/chat", "text/html"),
        ("/chat/", "text/html"),
        ("/chat/chat.js", "javascript"),
        ("/chat/config.json", "application/json"),
    ] {
        let (status, headers, _) = raw("GET", &url(path), &[]);
        assert_eq!(status, 200, "{path}");
        assert!(
            header(&headers, "content-type").unwrap().contains(kind),
            "{path}"
        );
        assert_eq!(
            header(&headers, "content-security-policy"),
            Some(page_policy),
            "{path}"
        );
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
        assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
    }
    let (_, _, body) = raw("GET", &url("/chat/config.json"), &[]);
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["app_id"], "chat");
    assert_eq!(page["app_key"], to_base64(app_public.as_bytes()));
    assert_eq!(
        page["cards_service_key"],
        to_base64(service_public.as_bytes())
    );
    assert_eq!(page["cards_url"], "https://cards.example.com:8443/");
    for outside in [
        "/chat/%2e%2e/app.toml",
        "/chat/..%2fapp.toml",
        "/chat/missing.js",
    ] {
        let (status, _, body) = raw("GET", &url(outside), &[]);
        assert_eq!(status, 404, "{outside}: {body}");
        assert!(!body.contains("app_key_file"), "{outside}");
    }

    // The API's own answers: nothing loads from them, nothing frames them.
    let (status, headers, _) = raw("GET", &url("/v1/health"), &[]);
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-security-policy"),
        Some(virgil_server::web::API_POLICY)
    );
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));

    // CORS: the configured origin's preflight is answered; another origin gets no
    // Access-Control-Allow-Origin, so its page cannot read an answer.
    let preflight = |origin: &str| {
        raw(
            "OPTIONS",
            &url("/v1/sessions"),
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
            ],
        )
        .1
    };
    let allowed = preflight("https://chat.example.com");
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some("https://chat.example.com")
    );
    assert!(header(&allowed, "access-control-allow-credentials").is_none());
    let refused = preflight("https://evil.example");
    assert!(header(&refused, "access-control-allow-origin").is_none());
    let (_, headers, _) = raw(
        "GET",
        &url("/v1/health"),
        &[("origin", "https://evil.example")],
    );
    assert!(header(&headers, "access-control-allow-origin").is_none());
    let (_, headers, _) = raw(
        "GET",
        &url("/v1/health"),
        &[("origin", "https://chat.example.com")],
    );
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://chat.example.com")
    );
    server.stop();

    // A folder without the built page, and a wildcard origin, are refused at start.
    for (setting, expected) in [
        ("[web]\nroot = \"nowhere\"\n", "npm run build:web"),
        ("cors_origins = [\"*\"]\n", "cors_origins"),
    ] {
        std::fs::write(&config, format!("{base}{setting}")).unwrap();
        let output = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env("VIRGIL_APP_KEY_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{setting}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{setting}: {stderr}");
    }
}
