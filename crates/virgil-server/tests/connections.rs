//! The connection cap: idle connections held open by a client cannot lock others out
//! (the one idle longest is closed to make room), a request in flight is never cut off
//! to make room, and shutdown still lets it finish.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use virgil_server::runtime::{ConnectionLimits, serve_with_limits};

const CAP: usize = 8;

/// A server with `/health` (at once) and `/slow` (answers after 1.5 s), at most `CAP`
/// connections, no rate limit. Returns its address and the sender that shuts it down.
fn start() -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            ready_tx.send(tcp.local_addr().unwrap()).unwrap();
            let router = axum::Router::new()
                .route("/health", axum::routing::get(|| async { "ok" }))
                .route(
                    "/slow",
                    axum::routing::get(|| async {
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                        "slow"
                    }),
                );
            let mut limits = ConnectionLimits::without_rate_limit();
            limits.max_connections = CAP;
            serve_with_limits(tcp, router, async move { drop(stop_rx.await) }, limits)
                .await
                .unwrap();
        });
    });
    (ready_rx.recv().unwrap(), stop_tx, server)
}

/// One request on a new connection; the status, or `None` if the connection was closed
/// without an answer.
fn get(address: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.get(9..12)?.parse().ok()
}

/// Opens `n` connections that never send anything.
fn hold_idle(address: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect()
}

#[test]
fn idle_connections_over_the_cap_do_not_lock_anyone_out() {
    let (address, stop, server) = start();
    let mut held = hold_idle(address, 3 * CAP);
    let mut answered = 0;
    for round in 0..40 {
        if get(address, "/health") == Some(200) {
            answered += 1;
        }
        // The flood goes on between checks.
        if round % 4 == 0 {
            held.extend(hold_idle(address, CAP));
        }
    }
    assert_eq!(
        answered, 40,
        "health checks answered while idle connections flood"
    );
    drop(held);
    stop.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn a_request_in_flight_is_not_closed_to_make_room_and_shutdown_lets_it_finish() {
    let (address, stop, server) = start();
    let slow = std::thread::spawn(move || get(address, "/slow"));
    std::thread::sleep(Duration::from_millis(200));
    let held = hold_idle(address, 4 * CAP);
    assert_eq!(get(address, "/health"), Some(200));
    // Shut down while the slow request is still being answered.
    stop.send(()).unwrap();
    assert_eq!(
        slow.join().unwrap(),
        Some(200),
        "the request in flight was answered"
    );
    server.join().unwrap();
    drop(held);
}

#[test]
fn when_every_connection_is_busy_a_new_one_is_refused() {
    let (address, stop, server) = start();
    let slow: Vec<_> = (0..CAP)
        .map(|_| std::thread::spawn(move || get(address, "/slow")))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(address, "/health"), None, "no room: refused");
    for request in slow {
        assert_eq!(request.join().unwrap(), Some(200));
    }
    assert_eq!(get(address, "/health"), Some(200), "room again");
    stop.send(()).unwrap();
    server.join().unwrap();
}
