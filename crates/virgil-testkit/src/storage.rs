//! Storage faults on demand, for the tests of what a server does when its database
//! fails: a SQLite database that is full ([`FullSqlite`]), and a PostgreSQL database
//! that turns read-only and loses its connections
//! ([`crate::postgres::TempPostgres::set_read_only`]).

use crate::http::Answer;
use crate::postgres::TempPostgres;
use sqlx::Connection as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Pages a test SQLite database may grow to ([`FullSqlite::url`]): 16 MiB of 4 KiB
/// pages, room for every test's data, filled in well under a second.
pub const TEST_MAX_PAGES: u64 = 4096;

/// A SQLite database capped at [`TEST_MAX_PAGES`] (the servers' `max_page_count` URL
/// parameter) that a test fills up ([`FullSqlite::fill`]: writes that need a page fail
/// as on a full disk) and empties again ([`FullSqlite::drain`]: the space returns),
/// from a connection of its own, while the server runs.
#[derive(Debug)]
pub struct FullSqlite {
    path: PathBuf,
}

impl FullSqlite {
    /// The database file `path` (created by the server that opens [`FullSqlite::url`]).
    pub fn at(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    /// The URL a server opens: the file, created if missing, capped at
    /// [`TEST_MAX_PAGES`].
    pub fn url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc&max_page_count={TEST_MAX_PAGES}",
            self.path.display()
        )
    }

    /// Runs `work` on a fresh connection of its own (capped like the server's), on its
    /// own thread and runtime, so this works from sync and async tests alike.
    fn with_connection<T: Send + 'static>(
        &self,
        work: impl for<'c> FnOnce(
            &'c mut sqlx::SqliteConnection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'c>,
        > + Send
        + 'static,
    ) -> T {
        let url = format!("sqlite://{}", self.path.display());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut connection = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("open the test database");
                sqlx::query(&format!("PRAGMA max_page_count = {TEST_MAX_PAGES}"))
                    .execute(&mut connection)
                    .await
                    .expect("cap the test database");
                let result = work(&mut connection).await.expect("the storage fault");
                connection.close().await.expect("close");
                result
            })
        })
        .join()
        .expect("the storage fault's thread")
    }

    /// Fills the database to its cap with a table of its own: blobs of 64 KiB, then
    /// 4 KiB, then 64 bytes, each until the next does not fit. Returns the rows written.
    pub fn fill(&self) -> u64 {
        self.with_connection(|connection| {
            Box::pin(async move {
                sqlx::query("CREATE TABLE IF NOT EXISTS virgil_test_filler (b BLOB NOT NULL)")
                    .execute(&mut *connection)
                    .await?;
                let mut rows = 0;
                for size in [65_536_usize, 4_096, 64] {
                    loop {
                        let written = sqlx::query("INSERT INTO virgil_test_filler (b) VALUES ($1)")
                            .bind(vec![0x5a_u8; size])
                            .execute(&mut *connection)
                            .await;
                        match written {
                            Ok(_) => rows += 1,
                            Err(sqlx::Error::Database(error))
                                if error.code().is_some_and(|code| {
                                    code.parse::<u32>().is_ok_and(|code| code & 0xff == 13)
                                }) =>
                            {
                                break;
                            }
                            Err(other) => return Err(other),
                        }
                    }
                }
                Ok(rows)
            })
        })
    }

    /// Drops the filler: the space it held is free again.
    pub fn drain(&self) {
        self.with_connection(|connection| {
            Box::pin(async move {
                sqlx::query("DROP TABLE IF EXISTS virgil_test_filler")
                    .execute(&mut *connection)
                    .await?;
                Ok(())
            })
        });
    }
}

/// Breaks and heals the storage under a running server.
pub trait Fault {
    /// Breaks the storage.
    fn break_storage(&self);
    /// Heals it.
    fn heal_storage(&self);
    /// Whether every write fails, or (a full disk) only those that need more room.
    fn refuses_every_write(&self) -> bool;
}

impl Fault for FullSqlite {
    fn refuses_every_write(&self) -> bool {
        false
    }
    fn break_storage(&self) {
        assert!(self.fill() > 0, "the filler wrote nothing");
    }
    fn heal_storage(&self) {
        self.drain();
    }
}

/// A PostgreSQL database whose commits fail (the statements before them succeed).
pub struct FailingCommits(pub TempPostgres);

impl Fault for FailingCommits {
    fn refuses_every_write(&self) -> bool {
        true
    }
    fn break_storage(&self) {
        self.0.fail_commits(true);
    }
    fn heal_storage(&self) {
        self.0.fail_commits(false);
    }
}

/// A PostgreSQL database that turns read-only, its connections lost.
impl Fault for TempPostgres {
    fn refuses_every_write(&self) -> bool {
        true
    }
    fn break_storage(&self) {
        self.set_read_only(true);
    }
    fn heal_storage(&self) {
        self.set_read_only(false);
    }
}

/// Repeats `attempt` (given the attempt number) until it is refused as a storage
/// failure: at most 300 times, and a panic if none was refused; returns the attempts it
/// acknowledged and the number of the refused one.
pub fn until_refused(
    what: &str,
    attempt: impl FnMut(usize) -> Answer,
) -> (Vec<(usize, Answer)>, usize) {
    let (acked, refused) = attempts(what, 300, attempt);
    (
        acked,
        refused.unwrap_or_else(|| panic!("{what}: 300 writes acknowledged on a broken storage")),
    )
}

/// Repeats `attempt` up to `most` times or until it is refused as a storage failure;
/// returns the attempts it acknowledged and the number of the refused one, if any.
pub fn attempts(
    what: &str,
    most: usize,
    mut attempt: impl FnMut(usize) -> Answer,
) -> (Vec<(usize, Answer)>, Option<usize>) {
    let mut acked = Vec::new();
    for n in 0..most {
        let answer = attempt(n);
        if answer.stored_or_refused(what) {
            acked.push((n, answer));
        } else {
            return (acked, Some(n));
        }
    }
    (acked, None)
}

/// Retries `attempt` until it succeeds (the storage is healing), for at most 20 s.
pub fn until_stored(what: &str, mut attempt: impl FnMut() -> Answer) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = attempt();
        if answer.stored_or_refused(what) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still refused 20 s after the storage recovered: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
