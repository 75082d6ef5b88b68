//! TLS for the servers: rustls (ring provider) certificates from PEM files, the rule
//! that plain HTTP is only for loopback, and a local certificate authority for
//! `virgil init` and the demo (rcgen).

use crate::ConfigError;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The `[tls]` section of a server configuration.
///
/// ```toml
/// [tls]
/// cert_file = "tls.pem"   # the server's certificate chain, PEM (leaf first)
/// key_file = "tls.key"    # its private key, PEM (PKCS#8, SEC1 or RSA)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain (PEM, leaf first).
    pub cert_file: PathBuf,
    /// The private key (PEM).
    pub key_file: PathBuf,
}

impl TlsFiles {
    /// These files as written in the configuration file at `file`: relative paths are
    /// relative to its directory ([`crate::config::beside`]).
    #[must_use]
    pub fn beside(self, file: &Path) -> Self {
        Self {
            cert_file: crate::config::beside(file, &self.cert_file),
            key_file: crate::config::beside(file, &self.key_file),
        }
    }
}

/// TLS options of `serve` (both servers).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// The TLS certificate chain, PEM (overrides tls.cert_file of the configuration file).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key, PEM (overrides tls.key_file of the configuration file).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address: only when TLS ends in front of this
    /// server (a reverse proxy on the same host or network). Logged as a warning.
    #[arg(long)]
    pub insecure_http: bool,
}

impl TlsArgs {
    /// The command line over the file's `[tls]`.
    pub fn resolve(&self, file: Option<TlsFiles>) -> Option<TlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert_file), Some(key_file)) => Some(TlsFiles {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
            }),
            _ => file,
        }
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| {
        ConfigError::invalid(
            format!("tls.{what}"),
            format!("cannot read {}: {e}", path.display()),
        )
    })
}

/// The acceptor of an optional `[tls]` (`None`: plain HTTP; HTTP/1.1 by ALPN, TLS 1.2
/// and 1.3). From then on every SIGHUP reloads the certificate and key from the same
/// files (a renewed certificate without a restart). A reload that fails
/// (a half-written file, a key that does not match) is logged and the certificate in
/// use is kept. Call it inside the tokio runtime.
pub fn acceptor_reloading_on_sighup(
    files: Option<&TlsFiles>,
) -> Result<Option<TlsAcceptor>, crate::ServeError> {
    let Some(files) = files else {
        return Ok(None);
    };
    let certificates = Arc::new(CertificateFiles::load(files)?);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = signal(SignalKind::hangup()).map_err(|source| crate::ServeError::Io {
            action: "install the SIGHUP handler",
            source,
        })?;
        let reloading = Arc::clone(&certificates);
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match reloading.reload() {
                    Ok(()) => tracing::info!(
                        cert_file = %reloading.files.cert_file.display(),
                        "SIGHUP: TLS certificate reloaded"
                    ),
                    Err(error) => tracing::error!(
                        %error,
                        "SIGHUP: TLS certificate NOT reloaded; still serving the previous one"
                    ),
                }
            }
        });
    }
    Ok(Some(acceptor_with(certificates)?))
}

/// A TLS acceptor from PEM text.
pub fn acceptor_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, ConfigError> {
    let key = certified_key(cert_pem, key_pem)?;
    acceptor_with(Arc::new(rustls::sign::SingleCertAndKey::from(key)))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate chain and key from PEM text, checked to belong together.
fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<rustls::sign::CertifiedKey, ConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ConfigError::invalid("tls.cert_file", format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(ConfigError::invalid(
            "tls.cert_file",
            "no CERTIFICATE block in the file",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| ConfigError::invalid("tls.key_file", format!("not a PEM private key: {e}")))?;
    let key = rustls::sign::CertifiedKey::from_der(certs, key, &provider())
        .map_err(|e| ConfigError::invalid("tls", format!("certificate and key: {e}")))?;
    Ok(key)
}

fn acceptor_with(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<TlsAcceptor, ConfigError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::invalid("tls", e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The certificate of `[tls]`, reloadable from its files.
#[derive(Debug)]
struct CertificateFiles {
    files: TlsFiles,
    current: std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>,
}

impl CertificateFiles {
    fn load(files: &TlsFiles) -> Result<Self, ConfigError> {
        Ok(Self {
            current: std::sync::RwLock::new(Arc::new(Self::read(files)?)),
            files: files.clone(),
        })
    }

    fn read(files: &TlsFiles) -> Result<rustls::sign::CertifiedKey, ConfigError> {
        certified_key(
            &read(&files.cert_file, "cert_file")?,
            &read(&files.key_file, "key_file")?,
        )
    }

    /// Reads the files again; on success the new certificate serves every new handshake.
    fn reload(&self) -> Result<(), ConfigError> {
        let key = Arc::new(Self::read(&self.files)?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = key;
        Ok(())
    }
}

impl rustls::server::ResolvesServerCert for CertificateFiles {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// Plain HTTP is for loopback only: on any other address it would carry passwords and
/// tokens in clear. `insecure_http` allows it (TLS ending in a proxy in front), loudly.
pub fn check_plain_http(address: SocketAddr, insecure_http: bool) -> Result<(), ConfigError> {
    if virgil_api::transport::is_loopback(address.ip()) {
        return Ok(());
    }
    if insecure_http {
        tracing::warn!(
            %address,
            "serving PLAIN HTTP on a non-loopback address (--insecure-http): passwords and tokens cross the network in clear unless TLS ends in front of this server"
        );
        return Ok(());
    }
    Err(ConfigError::invalid(
        "listen",
        virgil_api::transport::refusal(
            &format!("on {address}"),
            "configure [tls] cert_file and key_file (or --tls-cert/--tls-key), or pass --insecure-http if a reverse proxy in front terminates TLS",
        ),
    ))
}

/// A certificate authority made for one deployment and a server certificate it signed.
pub struct LocalCa {
    /// The CA certificate, PEM: clients pin it (`ca_file` in the client configuration).
    pub ca_pem: String,
    /// The server certificate chain (leaf, then the CA), PEM.
    pub cert_pem: String,
    /// The server certificate's private key, PEM (PKCS#8). The CA's key is discarded.
    pub key_pem: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").finish_non_exhaustive()
    }
}

/// Makes a CA ("virgil local CA", ECDSA P-256) and a server certificate for `hosts`
/// (DNS names or IP addresses), signed by it. The CA's private key is not kept, so
/// nothing else can ever be signed by it.
pub fn local_ca(hosts: &[String]) -> Result<LocalCa, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let failed = |e: rcgen::Error| format!("cannot make the local CA: {e}");
    let ca_key = KeyPair::generate().map_err(failed)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "virgil local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(failed)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(failed)?;
    let mut params = CertificateParams::new(hosts.to_vec()).map_err(failed)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "virgil server");
    let server_cert = params.signed_by(&server_key, &issuer).map_err(failed)?;
    Ok(LocalCa {
        ca_pem: ca_cert.pem(),
        cert_pem: format!("{}{}", server_cert.pem(), ca_cert.pem()),
        key_pem: zeroize::Zeroizing::new(server_key.serialize_pem()),
    })
}
