//! Test support for crates that need a running cards service (feature `test-util`).

// A test helper: failing loudly is how it reports.
#![allow(clippy::panic, clippy::expect_used)]

use crate::auth::Applications;
use crate::server::{Service, router};
use crate::store::CardStore;
use std::sync::Arc;
use std::time::Duration;
use virgil_crypto::{PrivateKey, PublicKey};

/// Starts a cards service on 127.0.0.1 (ephemeral port) on its own thread and tokio
/// runtime, over `database_url`, serving `applications`; returns its base URL. It runs
/// until the process exits.
pub fn spawn_service(
    database_url: &str,
    service_key: PrivateKey,
    applications: &[(&str, PublicKey)],
) -> String {
    let database_url = database_url.to_owned();
    let applications: Vec<(String, PublicKey)> = applications
        .iter()
        .map(|(id, key)| ((*id).to_owned(), key.clone()))
        .collect();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        runtime.block_on(async move {
            let mut registered = Applications::new();
            for (app_id, key) in applications {
                registered.register(&app_id, key).expect("application key");
            }
            let store = CardStore::connect(&database_url).await.expect("card store");
            let service = Arc::new(Service::new(store, service_key, registered));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let address = listener.local_addr().expect("local address");
            sender
                .send(format!("http://{address}"))
                .expect("report the address");
            axum::serve(listener, router(service)).await.expect("serve");
        });
    });
    receiver
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("the cards service did not start: {e}"))
}

/// A fresh PostgreSQL database on the server at `VIRGIL_TEST_POSTGRES_URL` (default
/// `postgres://postgres@127.0.0.1:5432/test`), dropped when this is dropped.
pub struct TempPostgres {
    admin_url: String,
    name: String,
    url: String,
}

impl TempPostgres {
    /// Creates the database; panics with a how-to if PostgreSQL is not reachable.
    pub fn new(prefix: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin_url = std::env::var("VIRGIL_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos());
        let name = format!(
            "{prefix}_{}_{nanos}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let base = admin_url
            .rsplit_once('/')
            .filter(|(base, _)| base.contains("://"))
            .map(|(base, _)| base.to_owned())
            .unwrap_or_else(|| {
                panic!("VIRGIL_TEST_POSTGRES_URL must end with /<database>: {admin_url}")
            });
        let url = format!("{base}/{name}");
        Self::admin(&admin_url, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("{e}; start PostgreSQL or set VIRGIL_TEST_POSTGRES_URL"));
        Self {
            admin_url,
            name,
            url,
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs one statement on its own thread and runtime, so this works from sync code
    /// and from inside an async test alike.
    fn admin(admin_url: &str, statement: &str) -> Result<(), String> {
        let (admin_url, statement) = (admin_url.to_owned(), statement.to_owned());
        std::thread::spawn(move || {
            use sqlx::Connection as _;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| format!("PostgreSQL is not reachable at {admin_url} ({e})"))?;
                sqlx::query(&statement)
                    .execute(&mut admin)
                    .await
                    .map_err(|e| format!("{statement}: {e}"))?;
                Ok(())
            })
        })
        .join()
        .map_err(|_| "the database thread panicked".to_owned())?
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        // Never panic in drop: a leftover test database is harmless.
        let _ = Self::admin(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// A server binary run as a child process (`… serve --listen 127.0.0.1:0 …`): started
/// when it has printed `listening on http://ADDRESS`, stopped with SIGTERM, after which
/// it must exit 0 (graceful shutdown). Dropping it stops it too.
pub struct ServerProcess {
    child: Option<std::process::Child>,
    /// The server's base URL.
    pub url: String,
}

impl ServerProcess {
    /// Spawns `command` (stdout is taken over; stderr goes to the test's, so a failing
    /// test shows the server's log) and waits for its `listening on` line.
    pub fn start(mut command: std::process::Command) -> Self {
        use std::io::BufRead as _;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn the server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's first line");
        match line.trim().strip_prefix("listening on ") {
            Some(url) => Self {
                url: url.to_owned(),
                child: Some(child),
            },
            None => {
                let status = child.wait().expect("wait for the server");
                panic!("the server did not start ({status}); it printed {line:?}")
            }
        }
    }

    /// SIGTERM; the exit status must be success.
    pub fn stop(mut self) {
        let status = self.terminate();
        assert!(status.success(), "graceful shutdown exits 0, got {status}");
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let Some(mut child) = self.child.take() else {
            return std::process::ExitStatus::default();
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().expect("wait for the server")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let status = self.terminate();
        if !std::thread::panicking() {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
        }
    }
}
