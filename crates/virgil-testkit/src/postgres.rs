//! Temporary PostgreSQL databases for the PostgreSQL variants of the storage tests.
//!
//! The server is `VIRGIL_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`; trust authentication). Where it cannot be
//! reached, [`TempPostgres::or_skip`] returns `None` and the test returns early, after
//! one line on standard error (written past the test harness's capture, so `cargo test`
//! shows it) and one line in the file named by `VIRGIL_TEST_SKIPS` (set by
//! `cargo xtask ci`, which lists the skips in its summary). With `CI=true` nothing is
//! skipped: an unreachable server fails the test.

use std::io::Write as _;

/// The environment variable naming the PostgreSQL server the tests use.
pub const URL_VAR: &str = "VIRGIL_TEST_POSTGRES_URL";
/// The environment variable naming the file skipped tests are recorded in.
pub const SKIPS_VAR: &str = "VIRGIL_TEST_SKIPS";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh PostgreSQL database, dropped when this is dropped.
pub struct TempPostgres {
    admin_url: String,
    name: String,
    url: String,
}

/// Why a database could not be made.
enum Failure {
    /// No connection to the server.
    Unreachable(String),
    /// Connected, but the statement failed.
    Statement(String),
}

/// The server the tests use.
pub fn admin_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn required() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Says that `test` was skipped because of `reason`: on standard error, and in the
/// `VIRGIL_TEST_SKIPS` file if one is named.
pub fn report_skip(test: &str, reason: &str) {
    // Cargo and nextest set the package name when they run a test binary.
    let line = match std::env::var("CARGO_PKG_NAME") {
        Ok(package) => format!("skipped: {package} {test}: {reason}"),
        Err(_) => format!("skipped: {test}: {reason}"),
    };
    // `std::io::stderr()` directly, not `eprintln!`: the test harness captures the
    // print macros of passing tests, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "{line}");
    let file = std::env::var_os(SKIPS_VAR).and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    if let Some(mut file) = file {
        let _ = writeln!(file, "{line}");
    }
}

impl TempPostgres {
    /// Creates a database named after `prefix`; panics with a how-to if PostgreSQL
    /// is not reachable. Tests use [`TempPostgres::or_skip`].
    pub fn new(prefix: &str) -> Self {
        match Self::create(prefix) {
            Ok(database) => database,
            Err(Failure::Unreachable(message) | Failure::Statement(message)) => {
                panic!("{message}; start PostgreSQL or set {URL_VAR}")
            }
        }
    }

    /// A database for `test`, or `None` (and a visible skip line) if PostgreSQL is not
    /// reachable and `CI` is not `true`. Any other failure panics.
    pub fn or_skip(test: &str) -> Option<Self> {
        let prefix: String = test
            .rsplit("::")
            .next()
            .unwrap_or("test")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(32)
            .collect();
        match Self::create(&format!("virgil_{prefix}")) {
            Ok(database) => Some(database),
            Err(Failure::Unreachable(message)) if !required() => {
                report_skip(
                    test,
                    &format!(
                        "PostgreSQL not reachable at {} ({message}); set {URL_VAR}",
                        admin_url()
                    ),
                );
                None
            }
            Err(Failure::Unreachable(message) | Failure::Statement(message)) => panic!(
                "{message}; start PostgreSQL or set {URL_VAR} (CI=true: PostgreSQL tests are required)"
            ),
        }
    }

    fn create(prefix: &str) -> Result<Self, Failure> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin_url = admin_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos());
        let name = format!(
            "{prefix}_{}_{nanos}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
        .to_ascii_lowercase();
        let base = admin_url
            .rsplit_once('/')
            .filter(|(base, _)| base.contains("://"))
            .map(|(base, _)| base.to_owned())
            .ok_or_else(|| {
                Failure::Statement(format!("{URL_VAR} must end with /<database>: {admin_url}"))
            })?;
        let url = format!("{base}/{name}");
        Self::admin(&admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            admin_url,
            name,
            url,
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Turns the database read-only (`on`) or writable again, as a failover to a
    /// standby or an operator would: new sessions start read-only (or writable). Turning
    /// it read-only also ends every open connection to it (the servers' pooled ones), so
    /// they see a lost connection first; turning it writable ends none: the servers must
    /// notice by themselves.
    pub fn set_read_only(&self, on: bool) {
        let value = if on { "on" } else { "off" };
        Self::admin(
            &self.admin_url,
            &format!(
                "ALTER DATABASE {} SET default_transaction_read_only = {value}",
                self.name
            ),
        )
        .unwrap_or_else(|(Failure::Unreachable(e) | Failure::Statement(e))| panic!("{e}"));
        if on {
            self.end_connections();
        }
    }

    /// Makes every commit that wrote to a table fail (`on`), as a disk that fills up
    /// when the write-ahead log is flushed would: the statements succeed, the `COMMIT`
    /// answers SQLSTATE 53100 (disk full) and nothing is stored. A deferred constraint
    /// trigger on every table of the database does it; `false` drops them.
    pub fn fail_commits(&self, on: bool) {
        let statement = if on {
            r#"
            CREATE OR REPLACE FUNCTION virgil_test_fail_commit() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN
                RAISE EXCEPTION 'could not write to file: No space left on device (a test fault)'
                    USING ERRCODE = 'disk_full';
            END $$;
            DO $$ DECLARE t text; BEGIN
                FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
                    EXECUTE format('CREATE CONSTRAINT TRIGGER virgil_test_fail_commit AFTER INSERT OR UPDATE OR DELETE ON %I DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION virgil_test_fail_commit()', t);
                END LOOP;
            END $$;
            "#
        } else {
            r#"
            DO $$ DECLARE t text; BEGIN
                FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
                    EXECUTE format('DROP TRIGGER IF EXISTS virgil_test_fail_commit ON %I', t);
                END LOOP;
            END $$;
            "#
        };
        Self::admin(&self.url, statement)
            .unwrap_or_else(|(Failure::Unreachable(e) | Failure::Statement(e))| panic!("{e}"));
    }

    /// Ends every open connection to the database (`pg_terminate_backend`), as a
    /// restart of PostgreSQL or a network failure would.
    pub fn end_connections(&self) {
        Self::admin(
            &self.admin_url,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
                self.name
            ),
        )
        .unwrap_or_else(|(Failure::Unreachable(e) | Failure::Statement(e))| panic!("{e}"));
    }

    /// Runs one statement on its own thread and runtime, so this works from sync code
    /// and from inside an async test alike.
    fn admin(admin_url: &str, statement: &str) -> Result<(), Failure> {
        let (admin_url, statement) = (admin_url.to_owned(), statement.to_owned());
        std::thread::spawn(move || {
            use sqlx::Connection as _;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::Statement(e.to_string()))?;
            runtime.block_on(async {
                let connect = sqlx::PgConnection::connect(&admin_url);
                let mut admin = tokio::time::timeout(std::time::Duration::from_secs(5), connect)
                    .await
                    .map_err(|_| Failure::Unreachable("timed out".to_owned()))?
                    .map_err(|e| Failure::Unreachable(e.to_string()))?;
                sqlx::raw_sql(&statement)
                    .execute(&mut admin)
                    .await
                    .map_err(|e| Failure::Statement(format!("{statement}: {e}")))?;
                Ok(())
            })
        })
        .join()
        .map_err(|_| Failure::Statement("the database thread panicked".to_owned()))?
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
