//! Plain HTTP is for loopback only: anywhere else it would carry passwords and tokens in
//! clear. The servers refuse to listen on plain HTTP at a non-loopback address
//! (`virgil_server::tls::check_plain_http`) and the clients refuse to send to a plain
//! `http://` URL whose host is not loopback ([`check_url`]): one rule, [`is_loopback`],
//! and one wording, [`refusal`].
//!
//! ```
//! use virgil_api::transport::check_url;
//!
//! assert!(check_url("https://cards.example.com").is_ok());
//! assert!(check_url("http://127.0.0.1:8080").is_ok());
//! assert!(check_url("http://[::1]:8080/").is_ok());
//! assert!(check_url("http://localhost:8080").is_ok());
//! assert!(check_url("http://cards.example.com").is_err());
//! assert!(check_url("http://192.0.2.2:8081").is_err());
//! ```

use std::net::IpAddr;

/// Whether `ip` is a loopback address (127.0.0.0/8, ::1, or IPv4-mapped 127.x).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The words both sides use to refuse plain HTTP to or on `place`, followed by what to
/// do instead.
pub fn refusal(place: &str, fix: &str) -> String {
    format!(
        "refusing plain HTTP {place}, which is not a loopback address (passwords and tokens would cross the network in clear): {fix}"
    )
}

/// Refuses a plain `http://` URL whose host is not loopback: an IP literal that is
/// loopback, or `localhost`. Any other scheme is left to the HTTP client (`https://`
/// is what every deployment should use).
pub fn check_url(url: &str) -> Result<(), String> {
    let Some(rest) = strip_prefix_ignore_case(url, "http://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = match host.parse::<IpAddr>() {
        Ok(ip) => is_loopback(ip),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    if loopback {
        Ok(())
    } else {
        Err(refusal(
            &format!("to {url}"),
            "use https:// (`virgil init` sets up TLS and pins its CA in client.toml)",
        ))
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_take_plain_http() {
        for allowed in [
            "http://127.0.0.1",
            "HTTP://127.0.0.1:8080/v1",
            "http://127.1.2.3:80",
            "http://[::1]:8080",
            "http://[::ffff:127.0.0.1]:8080",
            "http://LOCALHOST:1",
            "http://user@127.0.0.1:8/",
            "https://anything.example",
        ] {
            assert!(check_url(allowed).is_ok(), "{allowed}");
        }
        for refused in [
            "http://example.com",
            "http://192.0.2.2:8081",
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1@evil.example/",
            "http://[2001:db8::1]:80",
            "http://0.0.0.0:8080",
            "http://",
        ] {
            let error = check_url(refused).expect_err(refused);
            assert!(error.contains("refusing plain HTTP"), "{error}");
        }
    }
}
