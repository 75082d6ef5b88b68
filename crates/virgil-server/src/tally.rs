//! Warnings about events that can come by the thousand (refused connections, rate-limited
//! requests): logged once per interval with a count, never once per event, so a flood
//! cannot fill the disk with log lines.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a [`Tally`] logs at most.
pub const TALLY_INTERVAL: Duration = Duration::from_secs(60);

/// Counts one kind of event and logs a WARN line for it at most once per interval: the
/// first event at once, then the number of events since the last line.
#[derive(Debug)]
pub struct Tally {
    what: &'static str,
    interval: Duration,
    total: AtomicU64,
    unlogged: AtomicU64,
    last_logged: Mutex<Option<Instant>>,
}

impl Tally {
    /// A tally of `what` ("connections refused: too many open connections") logged at
    /// most once per [`TALLY_INTERVAL`].
    pub const fn new(what: &'static str) -> Self {
        Self::every(what, TALLY_INTERVAL)
    }

    /// A tally logged at most once per `interval`.
    pub const fn every(what: &'static str, interval: Duration) -> Self {
        Self {
            what,
            interval,
            total: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
            last_logged: Mutex::new(None),
        }
    }

    /// Counts one event; `example` names one (a client address) in the log line.
    /// Returns whether this call wrote the line.
    pub fn record(&self, example: &dyn std::fmt::Display) -> bool {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut last = self
            .last_logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last.is_none_or(|last| now.duration_since(last) >= self.interval);
        if !due {
            return false;
        }
        let since = last.map(|last| now.duration_since(last).as_secs());
        *last = Some(now);
        drop(last);
        let count = self.unlogged.swap(0, Ordering::Relaxed);
        match since {
            None => tracing::warn!(
                latest = %example,
                "{} (further ones are counted: one line per {} s at most)",
                self.what,
                self.interval.as_secs()
            ),
            Some(seconds) => tracing::warn!(
                count,
                seconds,
                latest = %example,
                "{}: {count} in the last {seconds} s",
                self.what
            ),
        }
        true
    }

    /// Events counted since the tally was made.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_one_line_per_interval() {
        let tally = Tally::every("refused", Duration::from_millis(200));
        let lines = (0..10_000).filter(|n| tally.record(n)).count();
        assert_eq!(lines, 1, "only the first event of a burst is logged");
        std::thread::sleep(Duration::from_millis(250));
        assert!(tally.record(&"later"), "the next interval logs again");
        assert!(!tally.record(&"again"));
        assert_eq!(tally.total(), 10_002);
    }
}
