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

/// HTTP with JSON bodies, typed API errors and retries: shared by both clients.
pub(crate) struct Http {
    agent: ureq::Agent,
    retries: u32,
    backoff: Duration,
}

impl Http {
    pub(crate) fn new(timeout: Duration, retries: u32, backoff: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
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
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            let result = self.send(url, token, method);
            let retryable = match &result {
                Err(ClientError::Transport { .. }) => true,
                Err(ClientError::Api { status, .. }) => *status == 429 || *status >= 500,
                _ => false,
            };
            if !retryable || attempt >= self.retries {
                return result;
            }
            attempt += 1;
            std::thread::sleep(wait);
            wait = wait.saturating_mul(2);
        }
    }

    fn send<T: DeserializeOwned>(
        &self,
        url: &str,
        token: Option<&str>,
        method: &Method,
    ) -> Result<T, ClientError> {
        let transport = |e: ureq::Error| ClientError::Transport {
            url: url.to_owned(),
            message: e.to_string(),
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
            return Err(ClientError::Api {
                status,
                code: error.code,
                message: error.message,
            });
        }
        // An empty answer (204) reads as JSON `null`: fine for `()` and `IgnoredAny`.
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text).map_err(|e| ClientError::InvalidResponse(format!("{url}: {e}")))
    }
}
