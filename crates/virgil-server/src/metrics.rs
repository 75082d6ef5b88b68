//! Prometheus metrics: requests by route and status, a latency histogram by route, and
//! gauges read at scrape time (cards stored; the app server's users and messages).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// A value read at scrape time, e.g. the number of cards stored.
#[derive(Clone, Copy, Debug)]
pub struct Gauge<'a> {
    /// Metric name, e.g. `virgil_cards_stored` (one ending in `_total` is rendered as a
    /// counter).
    pub name: &'a str,
    /// One line of help text.
    pub help: &'a str,
    /// The value.
    pub value: u64,
}

/// Request counters, shared by all requests, and the server's name for its log lines.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    server: &'static str,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Counters for the server named `server` (`cards-service`, `app-server`): every
    /// request log line carries it, so the two servers' logs can be told apart.
    pub fn for_server(server: &'static str) -> Self {
        Self {
            server,
            ..Self::default()
        }
    }

    /// The server's name ([`Metrics::for_server`]).
    pub fn server(&self) -> &'static str {
        self.server
    }

    /// Records one request.
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        // Counters stay consistent even if a holder panicked: each update is complete.
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *inner
            .requests
            .entry((route.to_owned(), status))
            .or_default() += 1;
        let histogram = inner.latency.entry(route.to_owned()).or_default();
        let seconds = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// The Prometheus text exposition (format 0.0.4), with `gauges` appended.
    pub fn render(&self, gauges: &[Gauge<'_>]) -> String {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP virgil_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE virgil_http_requests_total counter\n");
        for ((route, status), count) in &inner.requests {
            let _ = writeln!(
                out,
                "virgil_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP virgil_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE virgil_http_request_duration_seconds histogram\n");
        for (route, histogram) in &inner.latency {
            for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter()) {
                let _ = writeln!(
                    out,
                    "virgil_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "virgil_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "virgil_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "virgil_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }
        for gauge in gauges {
            // Prometheus's convention: a name ending in `_total` is a counter.
            let kind = if gauge.name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            let _ = writeln!(out, "# HELP {} {}", gauge.name, gauge.help);
            let _ = writeln!(out, "# TYPE {} {kind}", gauge.name);
            let _ = writeln!(out, "{} {}", gauge.name, gauge.value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let metrics = Metrics::default();
        metrics.record("/v1/health", 200, Duration::from_micros(700));
        metrics.record("/v1/health", 200, Duration::from_millis(30));
        let text = metrics.render(&[Gauge {
            name: "virgil_cards_stored",
            help: "Cards in the database.",
            value: 7,
        }]);
        assert!(
            text.contains("virgil_http_requests_total{route=\"/v1/health\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("le=\"0.0005\"} 0"), "{text}");
        assert!(text.contains("le=\"0.001\"} 1"), "{text}");
        assert!(text.contains("le=\"0.05\"} 2"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("virgil_cards_stored 7"), "{text}");
    }
}
