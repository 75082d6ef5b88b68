//! A raw HTTP client for tests that must see every answer as it was: status, JSON body
//! and `Retry-After`, with no retries.

use serde_json::Value;
use std::time::Duration;

/// One answer: status, JSON body (Null if none), `Retry-After`.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body (`Null` if none).
    pub body: Value,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> Option<&str> {
        self.body["code"].as_str()
    }

    /// Success, or the storage failed (503 storage_unavailable with Retry-After);
    /// anything else fails the test. `true` for success.
    pub fn stored_or_refused(&self, what: &str) -> bool {
        if (200..300).contains(&self.status) {
            return true;
        }
        assert_eq!(
            (self.status, self.code()),
            (503, Some("storage_unavailable")),
            "{what}: neither stored nor refused as a storage failure: {self:?}"
        );
        assert!(
            self.retry_after.is_some(),
            "{what}: a 503 without Retry-After: {self:?}"
        );
        false
    }
}

/// A raw HTTP client of one server: every answer is seen as it was.
pub struct Raw {
    /// The server's base URL.
    pub base: String,
    agent: ureq::Agent,
}

impl Raw {
    /// A client of the server at `base`.
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            base: base.to_owned(),
            agent,
        }
    }

    /// `method` (GET, DELETE, or POST with `body` as JSON) `path`, with `token` as a
    /// bearer token.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let bearer = token.map(|token| format!("Bearer {token}"));
        let response = match (method, body) {
            ("GET", _) => {
                let mut request = self.agent.get(&url);
                if let Some(bearer) = &bearer {
                    request = request.header("authorization", bearer);
                }
                request.call()
            }
            ("DELETE", _) => {
                let mut request = self.agent.delete(&url);
                if let Some(bearer) = &bearer {
                    request = request.header("authorization", bearer);
                }
                request.call()
            }
            (_, body) => {
                let mut request = self.agent.post(&url);
                if let Some(bearer) = &bearer {
                    request = request.header("authorization", bearer);
                }
                request.send_json(body.unwrap_or(Value::Null))
            }
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let text = response.into_body().read_to_string().unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            retry_after,
        }
    }

    /// `GET /v1/health` (which must answer 200): its body.
    pub fn health(&self) -> Value {
        let answer = self.call("GET", "/v1/health", None, None);
        assert_eq!(answer.status, 200, "health always answers: {answer:?}");
        answer.body
    }

    /// The value of metric `name` in `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let url = format!("{}/metrics", self.base);
        let text = self
            .agent
            .get(&url)
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .parse()
            .unwrap()
    }
}
