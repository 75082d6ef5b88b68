//! A flood of refused connections and rate-limited requests writes a handful of log
//! lines, not one per event (a client once wrote 70 MB of WARN lines this way).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use virgil_server::rate_limit::Rate;
use virgil_server::runtime::{ConnectionLimits, serve_with_limits};

/// Log lines, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn get(address: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.get(9..12)?.parse().ok()
}

#[test]
fn floods_are_logged_as_counts() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            ready_tx.send(tcp.local_addr().unwrap()).unwrap();
            let router =
                axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
            let mut limits = ConnectionLimits::default();
            limits.max_connections = 4;
            limits.per_client = Rate::new(1, 1);
            serve_with_limits(tcp, router, std::future::pending(), limits)
                .await
                .unwrap();
        });
    });
    let address = ready_rx.recv().unwrap();
    let statuses: Vec<_> = (0..300).map(|_| get(address)).collect();
    assert_eq!(statuses[0], Some(200));
    let limited = statuses.iter().filter(|s| **s == Some(429)).count();
    assert_eq!(
        limited, 299,
        "every request after the first is rate-limited"
    );
    let held: Vec<_> = (0..300)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    // Let the server accept (and shed) them all.
    std::thread::sleep(Duration::from_millis(500));
    drop(held);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let warnings: Vec<_> = log.lines().filter(|line| line.contains("WARN")).collect();
    assert!(
        warnings
            .iter()
            .any(|line| line.contains("over the per-address rate"))
            && warnings
                .iter()
                .any(|line| line.contains("idle connections closed")),
        "both floods are reported:\n{log}"
    );
    assert!(warnings.len() <= 2, "one line per flood:\n{log}");
}
