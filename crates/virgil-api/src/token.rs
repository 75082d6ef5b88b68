//! Access tokens: JWT (RFC 7519) signed with the application key, `alg` EdDSA (RFC 8037),
//! `kid` = the application key's id, so that any JWT library verifies them with the raw
//! Ed25519 public key ([`jwk_x`]). The application server issues them to its logged-in
//! users; the cards service verifies them against the registered application keys.
//!
//! ```text
//! header  = {"alg":"EdDSA","typ":"JWT","kid":"<app key id, hex>"}
//! claims  = {"iss":"<app id>","sub":"<identity>","iat":<seconds>,"exp":<seconds>}
//! token   = base64url(header) "." base64url(claims) "." base64url(Ed25519(app key, first two parts))
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use virgil_crypto::{PrivateKey, PublicKey, sign};

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessClaims {
    /// The application that issued the token (its app id).
    pub iss: String,
    /// Who the token is for: a user's identity, or the app id for the application itself.
    pub sub: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
}

#[derive(serde::Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// Issues a token for `subject`, valid from `now` for `ttl_seconds`, signed by the
/// application key of `app_id`.
///
/// ```
/// use virgil_api::token;
/// use virgil_crypto::PrivateKey;
/// let app_key = PrivateKey::generate()?;
/// let jwt = token::issue(&app_key, "chat", "alice", 1_700_000_000, 300);
/// assert_eq!(jwt.split('.').count(), 3);
/// # Ok::<(), virgil_crypto::Error>(())
/// ```
pub fn issue(
    app_key: &PrivateKey,
    app_id: &str,
    subject: &str,
    now: u64,
    ttl_seconds: u64,
) -> String {
    let kid = app_key.key_id().to_string();
    let header = Header {
        alg: "EdDSA",
        typ: "JWT",
        kid: &kid,
    };
    let claims = AccessClaims {
        iss: app_id.to_owned(),
        sub: subject.to_owned(),
        iat: now,
        exp: now.saturating_add(ttl_seconds),
    };
    // Serializing these plain structs cannot fail; an empty part would only make the
    // token invalid, never a panic.
    let part = |json: Vec<u8>| URL_SAFE_NO_PAD.encode(json);
    let signing_input = format!(
        "{}.{}",
        part(serde_json::to_vec(&header).unwrap_or_default()),
        part(serde_json::to_vec(&claims).unwrap_or_default())
    );
    let signature = sign::sign_jws(app_key, signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_bytes())
    )
}

/// The `x` member of the Ed25519 JWK (`{"kty":"OKP","crv":"Ed25519","x":…}`) that
/// verifies tokens of this application key.
pub fn jwk_x(app_key: &PublicKey) -> String {
    URL_SAFE_NO_PAD.encode(sign::ed25519_public_key(app_key))
}
