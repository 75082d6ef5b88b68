//! What browsers get from both servers.
//!
//! - **Security headers on every response**: a
//!   Content-Security-Policy that lets nothing load and nothing frame an API answer,
//!   `nosniff`, no referrer, no framing, a separate browsing context group.
//! - **CORS for the configured origins only** (`cors_origins`, none by default): a page
//!   served from one of them may call the API with a bearer token; a page from anywhere
//!   else gets no `Access-Control-Allow-Origin`, so the browser keeps the answer from
//!   it. No credentials: the API takes bearer tokens, never cookies.
//! - **A site** (the application server's web chat): a static folder mounted at a path,
//!   beside a generated `config.json`, each file with a strict policy of its own
//!   ([`page_policy`]): scripts and styles from the page's origin only (no inline
//!   script, no `eval`), connections to its own origin and the cards service's only.

use crate::ConfigError;
use axum::http::{HeaderName, HeaderValue, Method, header};
use std::path::PathBuf;

/// The Content-Security-Policy of every API answer: nothing may load from it, nothing
/// may frame it.
pub const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// An origin a browser page may call the API from: `https://chat.example.com` or
/// `http://127.0.0.1:8081` (scheme, host, optional port; lower case; no path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    /// Parses `text` as an origin; a wildcard, `null`, a path, a query, user info or
    /// another scheme than http(s) is refused (each would widen who may call the API).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let invalid = |why: &str| {
            ConfigError::invalid(
                "cors_origins",
                format!("{text:?} is not an origin like https://chat.example.com: {why}"),
            )
        };
        let lower = text.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .ok_or_else(|| invalid("it must start with https:// or http://"))?;
        if rest.is_empty() {
            return Err(invalid("it has no host"));
        }
        if let Some(bad) = rest
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')))
        {
            return Err(invalid(&format!(
                "{bad:?} cannot appear in an origin (no path, query, wildcard or user)"
            )));
        }
        let port = match rest.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((_, "")) => None,
                Some((_, tail)) => Some(tail.strip_prefix(':').unwrap_or("x")),
                None => return Err(invalid("its IPv6 address has no closing ']'")),
            },
            None => rest.split_once(':').map(|(_, port)| port),
        };
        if port.is_some_and(|port| port.parse::<u16>().is_err()) {
            return Err(invalid("its port is not a number up to 65535"));
        }
        Ok(Self(lower))
    }

    /// The origin of `url` (its scheme, host and port), if it is an http(s) URL.
    pub fn of_url(url: &str) -> Result<Self, ConfigError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| ConfigError::invalid("url", format!("{url:?} is not a URL")))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        Self::parse(&format!("{scheme}://{authority}"))
    }

    /// The origin as a browser sends it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses each of `origins` ([`Origin::parse`]).
pub fn parse_origins(origins: &[String]) -> Result<Vec<Origin>, ConfigError> {
    origins.iter().map(|origin| Origin::parse(origin)).collect()
}

/// A static site one server serves beside its API: the application server's web chat.
#[derive(Clone, Debug)]
pub struct Site {
    /// Where it is mounted, e.g. `/chat` (its index is `/chat` and `/chat/`; the
    /// page names its files by absolute paths).
    pub mount: &'static str,
    /// The folder it serves (files only: no listing, no path outside it).
    pub root: PathBuf,
    /// `MOUNT/config.json`: what the page needs to know (generated, not a file).
    pub config_json: String,
    /// The origins the page may connect to besides its own (the cards service).
    pub connect: Vec<Origin>,
}

/// The Content-Security-Policy of a [`Site`]'s files: scripts, styles and images from
/// its own origin only (no inline script, no `eval`), connections to its own origin and
/// `connect`, no plugins, no framing, no forms posted anywhere, no `<base>`.
pub fn page_policy(connect: &[Origin]) -> String {
    let mut connect_src = String::from("'self'");
    for origin in connect {
        connect_src.push(' ');
        connect_src.push_str(origin.as_str());
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect_src}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// What a server offers browsers: the origins that may call its API, and a site.
#[derive(Clone, Debug, Default)]
pub struct Web {
    /// Origins whose pages may call the API ([`Origin`]); empty: none.
    pub cors_origins: Vec<Origin>,
    /// A static site served beside the API.
    pub site: Option<Site>,
}

impl Web {
    /// `router` with the [`Site`] mounted, CORS for [`Web::cors_origins`] and the
    /// security headers ([`API_POLICY`], `nosniff`, …) on every answer that does not
    /// set its own.
    pub fn apply(&self, router: axum::Router) -> axum::Router {
        use axum::middleware::from_fn_with_state;
        let mut router = router;
        if let Some(site) = &self.site {
            let config = site.config_json.clone();
            let files = tower_http::services::ServeDir::new(&site.root)
                .append_index_html_on_directories(true);
            let pages = axum::Router::new()
                .route(
                    "/config.json",
                    axum::routing::get(move || async move {
                        ([(header::CONTENT_TYPE, "application/json")], config)
                    }),
                )
                .fallback_service(files)
                .layer(from_fn_with_state(
                    std::sync::Arc::new(page_headers(&site.connect)),
                    set_if_absent,
                ));
            router = router.nest_service(site.mount, pages);
        }
        let router = router.layer(from_fn_with_state(
            std::sync::Arc::new(api_headers()),
            set_if_absent,
        ));
        if self.cors_origins.is_empty() {
            return router;
        }
        let origins = self
            .cors_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin.as_str()).ok());
        router.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([header::RETRY_AFTER])
                .max_age(std::time::Duration::from_secs(600)),
        )
    }
}

type Headers = Vec<(HeaderName, HeaderValue)>;

/// The headers every answer carries unless it set its own.
fn api_headers() -> Headers {
    vec![
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

/// The headers of a site's files: [`page_policy`], and no caching without asking (a
/// changed page is fetched again).
fn page_headers(connect: &[Origin]) -> Headers {
    let policy = HeaderValue::from_str(&page_policy(connect))
        .unwrap_or_else(|_| HeaderValue::from_static(API_POLICY));
    vec![
        (header::CONTENT_SECURITY_POLICY, policy),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ]
}

/// Middleware (state: headers): adds each header the answer does not set itself.
async fn set_if_absent(
    axum::extract::State(headers): axum::extract::State<std::sync::Arc<Headers>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    add_if_absent(response.headers_mut(), &headers);
    response
}

fn add_if_absent(map: &mut axum::http::HeaderMap, headers: &Headers) {
    for (name, value) in headers {
        map.entry(name.clone()).or_insert_with(|| value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_a_scheme_a_host_and_a_port_only() {
        for good in [
            "https://chat.example.com",
            "http://127.0.0.1:8081",
            "HTTPS://Chat.Example.com:443",
            "http://[::1]:8080",
        ] {
            assert!(Origin::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            Origin::parse("HTTPS://Chat.Example.com").ok().map(|o| o.0),
            Some("https://chat.example.com".to_owned())
        );
        for bad in [
            "*",
            "null",
            "chat.example.com",
            "https://",
            "https://chat.example.com/",
            "https://chat.example.com/path",
            "https://*.example.com",
            "https://user@chat.example.com",
            "https://chat.example.com?x",
            "ftp://chat.example.com",
            "https://chat.example.com:port",
            "https://chat.example.com:99999",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_origin_of_a_url_drops_its_path() {
        assert_eq!(
            Origin::of_url("https://cards.example.com:8443/v1/x?y")
                .ok()
                .map(|o| o.0),
            Some("https://cards.example.com:8443".to_owned())
        );
        assert!(Origin::of_url("cards.example.com").is_err());
    }

    #[test]
    fn the_page_policy_allows_scripts_from_its_origin_only() {
        let policy = page_policy(&[Origin::parse("https://cards.example.com").unwrap()]);
        assert!(policy.contains("script-src 'self';"));
        assert!(!policy.contains("unsafe"));
        assert!(policy.contains("connect-src 'self' https://cards.example.com;"));
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
