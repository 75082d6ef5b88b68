//! Test support for the workspace's crates; a dev-dependency only, never in a
//! production build.
//!
//! - [`key`] and [`now`]: the fixed keys and the clock every test uses, and [`vectors`]:
//!   the vectors files under docs/vectors/ checked against the code (all there is without
//!   the `servers` feature; the rest below needs it);
//! - [`servers::spawn_cards_service`]: a real cards service on 127.0.0.1 (ephemeral
//!   port) over a database URL;
//! - [`process::ServerProcess`]: a server binary as a child process, stopped with
//!   SIGTERM and required to exit 0;
//! - [`proxy::spawn_tampering_proxy`]: a man in the middle that edits answers;
//! - [`storage::FullSqlite`] and [`postgres::TempPostgres::set_read_only`]: storage
//!   that fails on demand (a full disk, a read-only database, lost connections);
//! - [`postgres::TempPostgres`]: a fresh PostgreSQL database per test, dropped after.
//!   Where PostgreSQL is unreachable, [`postgres::TempPostgres::or_skip`] skips the
//!   test with one visible line (and records it for `cargo xtask ci`'s summary), unless
//!   `CI=true`, where a missing server fails the test.
// Test helpers: failing loudly is how they report.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// A fresh PostgreSQL database for the test function `name` (its name, as written:
/// `postgres_or_skip!(my_test)`), or `return` from the test after one visible skip line
/// where PostgreSQL is unreachable outside CI ([`postgres::TempPostgres::or_skip`]).
#[cfg(feature = "servers")]
#[macro_export]
macro_rules! postgres_or_skip {
    ($test:ident) => {
        match $crate::postgres::TempPostgres::or_skip(concat!(
            module_path!(),
            "::",
            stringify!($test)
        )) {
            Some(database) => database,
            None => return,
        }
    };
}

/// The three storage faults every server's writes are tested under, as three `#[test]`s
/// that each call `check(&fault, database_url)` (`fault`: a [`storage::Fault`]): a full
/// SQLite disk (`sqlite_file` in a temporary directory; the calling crate needs
/// `tempfile`), a read-only PostgreSQL database, and PostgreSQL commits that fail. The
/// PostgreSQL ones skip like [`postgres_or_skip!`].
#[cfg(feature = "servers")]
#[macro_export]
macro_rules! storage_fault_tests {
    ($check:ident, $sqlite_file:literal) => {
        #[test]
        fn a_full_sqlite_disk_loses_no_acknowledged_write() {
            let dir = tempfile::tempdir().unwrap();
            let fault = $crate::storage::FullSqlite::at(&dir.path().join($sqlite_file));
            $check(&fault, &fault.url());
        }

        #[test]
        fn a_read_only_postgres_database_loses_no_acknowledged_write() {
            let database = $crate::postgres_or_skip!(
                a_read_only_postgres_database_loses_no_acknowledged_write
            );
            $check(&database, database.url());
        }

        #[test]
        fn failing_postgres_commits_lose_no_acknowledged_write() {
            let database =
                $crate::postgres_or_skip!(failing_postgres_commits_lose_no_acknowledged_write);
            let url = database.url().to_owned();
            $check(&$crate::storage::FailingCommits(database), &url);
        }
    };
}

#[cfg(feature = "servers")]
pub mod http;
#[cfg(feature = "servers")]
pub mod postgres;
#[cfg(feature = "servers")]
pub mod process;
#[cfg(feature = "servers")]
pub mod proxy;
#[cfg(feature = "servers")]
pub mod servers;
#[cfg(feature = "servers")]
pub mod storage;
pub mod vectors;

/// Runs `work(0..workers)` on that many threads at once and collects what each returns
/// (e.g. the failures it saw), in worker order.
pub fn all_at_once<T: Send>(workers: usize, work: impl Fn(usize) -> Vec<T> + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let work = &work;
        let running: Vec<_> = (0..workers)
            .map(|worker| scope.spawn(move || work(worker)))
            .collect();
        running
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    })
}

/// Fails unless `failures` is empty, saying how many of `attempts` `what` failed and
/// showing the first.
pub fn assert_none_failed(failures: &[String], attempts: usize, what: &str) {
    if let Some(first) = failures.first() {
        panic!(
            "{} of {attempts} {what} failed, e.g. {first}",
            failures.len()
        );
    }
}

use virgil_crypto::PrivateKey;

/// The fixed test key number `n` (seed `[n; 32]`): the same key in every test and run.
pub fn key(n: u8) -> PrivateKey {
    PrivateKey::from_seed(&[n; 32]).expect("a fixed seed is a valid key")
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Asserts that every key a configuration type expects — as listed in the parser's
/// "unknown field `x`, expected one of `a`, `b`, …" error — is written as `` `key` ``,
/// `` `[key]` `` or `` `[[key]]` `` in docs/deployment.md between the headings
/// `section` and `next_section`.
pub fn assert_keys_documented(error: &str, section: &str, next_section: &str) {
    let deployment = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/deployment.md"
    ))
    .expect("read docs/deployment.md");
    let docs = deployment
        .split(section)
        .nth(1)
        .and_then(|rest| rest.split(next_section).next())
        .unwrap_or_else(|| panic!("docs/deployment.md has no {section:?} section"));
    let expected = error
        .split("expected one of")
        .nth(1)
        .unwrap_or_else(|| panic!("not an unknown-field error: {error}"));
    let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    assert!(keys.len() >= 5, "too few keys found in {error}");
    for key in keys {
        let documented = [
            format!("`{key}`"),
            format!("`[{key}]"),
            format!("`[[{key}]]"),
        ]
        .iter()
        .any(|form| docs.contains(form.as_str()));
        assert!(
            documented,
            "configuration key {key:?} is not in docs/deployment.md's table"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn all_at_once_collects_every_workers_results() {
        let mut seen = super::all_at_once(4, |worker| vec![worker, worker + 10]);
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3, 10, 11, 12, 13]);
    }

    #[test]
    #[should_panic(expected = "1 of 3 writes failed, e.g. disk full")]
    fn a_failure_fails() {
        super::assert_none_failed(&["disk full".to_owned()], 3, "writes");
    }
}
