//! HTTP with JSON bodies, typed API errors and retries: shared by both clients.

use crate::ClientError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use virgil_api::{ErrorBody, ErrorCode};

pub(crate) enum Method {
    /// GET.
    Get,
    /// POST with a JSON body.
    Post(Vec<u8>),
    /// DELETE.
    Delete,
}

impl Method {
    pub(crate) fn json(body: &impl Serialize) -> Result<Self, ClientError> {
        serde_json::to_vec(body)
            .map(Method::Post)
            .map_err(|e| ClientError::Request(e.to_string()))
    }
}

/// Which certificate authorities a client trusts for `https://` URLs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsRoots {
    /// The public web's CAs (Mozilla's list, built in): for servers with certificates
    /// from a public CA.
    #[default]
    Public,
    /// Only these CA certificates (DER): a deployment's own CA, pinned (what
    /// `virgil init` sets up).
    Pinned(Vec<Vec<u8>>),
}

impl TlsRoots {
    /// Pins the CA certificates in PEM text (one or more `CERTIFICATE` blocks).
    pub fn from_pem(pem: &[u8]) -> Result<Self, ClientError> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert.der().to_vec()),
                Ok(_) => {}
                Err(e) => return Err(ClientError::Tls(format!("not a PEM certificate: {e}"))),
            }
        }
        if certs.is_empty() {
            return Err(ClientError::Tls(
                "no CERTIFICATE block in the CA file".to_owned(),
            ));
        }
        Ok(TlsRoots::Pinned(certs))
    }

    fn config(&self) -> ureq::tls::TlsConfig {
        let roots = match self {
            TlsRoots::Public => ureq::tls::RootCerts::WebPki,
            TlsRoots::Pinned(certs) => {
                let certs: Vec<ureq::tls::Certificate<'static>> = certs
                    .iter()
                    .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                    .collect();
                ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs))
            }
        };
        ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(roots)
            .build()
    }
}

/// The longest `Retry-After` a client waits out by itself before retrying.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// HTTP with JSON bodies, typed API errors and retries (honouring `Retry-After` up to
/// [`MAX_RETRY_AFTER`]): shared by both clients.
pub(crate) struct Http {
    agent: ureq::Agent,
    retries: u32,
    backoff: Duration,
}

impl Http {
    pub(crate) fn new(
        timeout: Duration,
        retries: u32,
        backoff: Duration,
        roots: &TlsRoots,
    ) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .tls_config(roots.config())
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            retries,
            backoff,
        }
    }

    pub(crate) fn request<T: DeserializeOwned>(
        &self,
        url: &str,
        token: Option<&str>,
        method: &Method,
    ) -> Result<T, ClientError> {
        virgil_api::transport::check_url(url).map_err(ClientError::PlainHttp)?;
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            let (result, retry_after) = match self.send(url, token, method) {
                Ok(value) => (Ok(value), None),
                Err((error, retry_after)) => (Err(error), retry_after),
            };
            let retryable = match &result {
                Err(ClientError::Transport { .. }) => true,
                Err(ClientError::Api { status, .. }) => *status == 429 || *status >= 500,
                _ => false,
            };
            // A server that says how long to wait is believed, up to a limit: past it,
            // the caller hears the error now instead of hanging.
            let too_long = retry_after.is_some_and(|after| after > MAX_RETRY_AFTER);
            if !retryable || attempt >= self.retries || too_long {
                return result;
            }
            attempt += 1;
            std::thread::sleep(retry_after.map_or(wait, |after| after.max(wait)));
            wait = wait.saturating_mul(2);
        }
    }

    /// One attempt; a failure comes with the answer's `Retry-After`, if any.
    fn send<T: DeserializeOwned>(
        &self,
        url: &str,
        token: Option<&str>,
        method: &Method,
    ) -> Result<T, (ClientError, Option<Duration>)> {
        let transport = |e: ureq::Error| {
            (
                ClientError::Transport {
                    url: url.to_owned(),
                    message: e.to_string(),
                },
                None,
            )
        };
        let auth = token.map(|token| format!("Bearer {token}"));
        let response = match method {
            Method::Get | Method::Delete => {
                let mut request = if matches!(method, Method::Get) {
                    self.agent.get(url)
                } else {
                    self.agent.delete(url)
                };
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            Method::Post(body) => {
                let mut request = self
                    .agent
                    .post(url)
                    .header("Content-Type", "application/json");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(&body[..])
            }
        };
        let mut response = response.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .map_err(transport)?;
        if !(200..300).contains(&status) {
            let error: ErrorBody = serde_json::from_str(&text).unwrap_or_else(|_| ErrorBody {
                code: ErrorCode::Other("unknown".to_owned()),
                message: text.chars().take(200).collect(),
            });
            return Err((
                ClientError::Api {
                    status,
                    code: error.code,
                    message: error.message,
                    retry_after_seconds: retry_after.map(|after| after.as_secs()),
                },
                retry_after,
            ));
        }
        // An empty answer (204) reads as JSON `null`: fine for `()` and `IgnoredAny`.
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text)
            .map_err(|e| (ClientError::InvalidResponse(format!("{url}: {e}")), None))
    }
}
