//! A tampering proxy: a man in the middle between a client and a server, for the attack
//! tests (a TLS terminator or a compromised network path that edits answers).

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::sync::Arc;

/// What the proxy may change: given the request's path and a body (the request's on the
/// way up, the answer's on the way back), the body to send on instead.
pub type Tamper = dyn Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync;

/// A proxy that passes requests on unchanged and answers through `tamper`; see
/// [`spawn_proxy`].
pub fn spawn_tampering_proxy(
    upstream: &str,
    tamper: impl Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
) -> String {
    spawn_proxy(upstream, |_, body| body, tamper)
}

/// A proxy that passes requests on through `rewrite` and answers unchanged; see
/// [`spawn_proxy`].
pub fn spawn_rewriting_proxy(
    upstream: &str,
    rewrite: impl Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
) -> String {
    spawn_proxy(upstream, rewrite, |_, body| body)
}

/// Starts a plain-HTTP proxy on 127.0.0.1 (ephemeral port) that forwards every request
/// (method, path and query, `Authorization`, `Content-Type`, body through `rewrite`) to
/// `upstream` and passes the answer back through `tamper`; returns its base URL. It runs
/// until the process exits.
pub fn spawn_proxy(
    upstream: &str,
    rewrite: impl Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
    tamper: impl Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
) -> String {
    let upstream = upstream.trim_end_matches('/').to_owned();
    let rewrite: Arc<Tamper> = Arc::new(rewrite);
    let tamper: Arc<Tamper> = Arc::new(tamper);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        runtime.block_on(async move {
            let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (agent, upstream) = (agent.clone(), upstream.clone());
                let (rewrite, tamper) = (rewrite.clone(), tamper.clone());
                async move {
                    tokio::task::spawn_blocking(move || {
                        let body = rewrite(uri.path(), body.to_vec());
                        forward(&agent, &upstream, &tamper, &method, &uri, &headers, &body)
                    })
                    .await
                    .expect("the forwarding task")
                }
            };
            let router = axum::Router::new().fallback(handler);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let address = listener.local_addr().expect("local address");
            sender
                .send(format!("http://{address}"))
                .expect("report the address");
            axum::serve(listener, router).await.expect("serve");
        });
    });
    receiver
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the proxy did not start")
}

fn forward(
    agent: &ureq::Agent,
    upstream: &str,
    tamper: &Arc<Tamper>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, [(axum::http::HeaderName, String); 1], Vec<u8>) {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{upstream}{path}");
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let response = if *method == Method::GET {
        let mut request = agent.get(&url);
        if let Some(auth) = header("authorization") {
            request = request.header("Authorization", &auth);
        }
        request.call()
    } else {
        let mut request = agent.post(&url);
        if let Some(auth) = header("authorization") {
            request = request.header("Authorization", &auth);
        }
        if let Some(kind) = header("content-type") {
            request = request.header("Content-Type", &kind);
        }
        request.send(body)
    };
    let mut response = response.expect("the upstream answers");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let answer = response
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_vec()
        .expect("the upstream's body");
    (
        status,
        [(axum::http::header::CONTENT_TYPE, kind)],
        tamper(uri.path(), answer),
    )
}
