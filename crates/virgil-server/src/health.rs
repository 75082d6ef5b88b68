//! `health`: asks a running server, over its own configuration, whether it is healthy
//! (`GET /v1/health`), for container and service-manager health checks.
//!
//! The check connects to the configured listen address (an unspecified address,
//! `0.0.0.0` or `[::]`, is asked on loopback) and, with TLS, accepts exactly the leaf
//! certificate of the configured `tls.cert_file`: it proves that the server answering is
//! the one this configuration describes, whatever names its certificate is for, and
//! notices a certificate replaced on disk that the server has not reloaded.

use crate::tls::TlsFiles;
use axum::body::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// How long the whole check may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a health answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// Asks the server listening on `listen` (with `tls`, or plain HTTP) for `/v1/health`.
/// `Ok` with the answer's body when it says `"ok"`; otherwise an error saying what is
/// wrong, for the operator.
pub async fn check(listen: &str, tls: Option<&TlsFiles>) -> Result<String, String> {
    tokio::time::timeout(TIMEOUT, ask(listen, tls))
        .await
        .map_err(|_| format!("no answer from {listen} within {} s", TIMEOUT.as_secs()))?
}

/// `health` of either server: [`check`], its answer printed on stdout, or
/// [`crate::ServeError::Unhealthy`] saying why not.
pub async fn run(listen: &str, tls: Option<&TlsFiles>) -> Result<(), crate::ServeError> {
    let answer = check(listen, tls)
        .await
        .map_err(crate::ServeError::Unhealthy)?;
    println!("{answer}");
    Ok(())
}

async fn ask(listen: &str, tls: Option<&TlsFiles>) -> Result<String, String> {
    let mut address: SocketAddr = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| format!("listen address {listen:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("listen address {listen:?} names no address"))?;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("cannot connect to {address}: {e} (is the server running?)"))?;
    let (status, body) = match tls {
        Some(files) => {
            let connector = connector(files)?;
            let name = ServerName::from(address.ip());
            let stream = connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {address}: {e}"))?;
            get(stream, address).await?
        }
        None => get(tcp, address).await?,
    };
    let health: virgil_api::HealthResponse = serde_json::from_slice(&body)
        .map_err(|e| format!("{address} answered {status} with no health report: {e}"))?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if status.is_success() && health.is_ok() {
        Ok(text)
    } else {
        Err(format!("{address} is not healthy ({status}): {text}"))
    }
}

/// One `GET /v1/health` over `stream`: the status and at most [`MAX_ANSWER`] bytes of
/// body.
async fn get<S>(stream: S, address: SocketAddr) -> Result<(hyper::StatusCode, Bytes), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: hyper::Error| format!("HTTP with {address}: {e}");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(failed)?;
    let connection = tokio::spawn(connection);
    let request = hyper::Request::get("/v1/health")
        .header(hyper::header::HOST, address.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(failed)?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("HTTP with {address}: {e}"))?
        .to_bytes();
    connection.abort();
    Ok((status, body))
}

/// A TLS connector that accepts exactly the leaf certificate of `files`.
fn connector(files: &TlsFiles) -> Result<tokio_rustls::TlsConnector, String> {
    let pem = std::fs::read(&files.cert_file)
        .map_err(|e| format!("cannot read {}: {e}", files.cert_file.display()))?;
    let leaf = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| format!("{}: no CERTIFICATE block", files.cert_file.display()))?
        .map_err(|e| format!("{}: {e}", files.cert_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = ThisCertificate {
        leaf,
        algorithms: provider.signature_verification_algorithms,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Accepts a server whose leaf certificate is `leaf`, byte for byte (and whose
/// handshake signature verifies with its key), and nothing else.
#[derive(Debug)]
struct ThisCertificate {
    leaf: CertificateDer<'static>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for ThisCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server presents another certificate than tls.cert_file's (another server on this address, or the file was replaced and the server not reloaded: send it SIGHUP)".to_owned(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
