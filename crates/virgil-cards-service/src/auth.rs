//! Authentication: `Authorization: Bearer <JWT>`, verified with the `jsonwebtoken` crate
//! against the registered application keys. `alg` must be EdDSA, `kid` must name a
//! registered application key, `iss` must be that application, `exp` is enforced with a
//! 5-second allowance for clock skew (the application server's and this service's
//! clocks must agree to that: run NTP). No shared secrets.
//!
//! A token that verified is remembered (the exact token string, its caller and `exp`)
//! so that the clients' repeated use of one token costs a hash lookup instead of a
//! signature verification; `exp` is still checked on every request, and the cache is
//! bounded ([`VERIFIED_TOKEN_CACHE`] entries, emptied when full).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::sync::Mutex;
use virgil_api::ErrorCode;
use virgil_api::token::{AccessClaims, jwk_x};
use virgil_crypto::PublicKey;
use virgil_server::ApiError;

/// Clock skew allowed on `exp`, in seconds. Small, because a session that ends (logout,
/// a password change) keeps its access tokens until they expire: with the application
/// server's 30-second tokens, at most 35 s (docs/security.md).
pub const LEEWAY_SECONDS: u64 = 5;

/// The longest an access token may stay valid from now (seconds) unless configured
/// ([`Applications::with_max_token_lifetime`]): a token that claims more is refused, so
/// a stolen application key cannot mint tokens that outlive its replacement by years.
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS: u64 = 60 * 60;

/// The range a configured token lifetime cap must be in (seconds): a minute to a day.
pub const TOKEN_LIFETIME_RANGE: std::ops::RangeInclusive<u64> = 60..=24 * 60 * 60;

/// How many verified tokens are remembered.
pub const VERIFIED_TOKEN_CACHE: usize = 10_000;

struct RegisteredKey {
    app_id: String,
    public_key: PublicKey,
    decoding: DecodingKey,
}

/// The applications this service serves, by app key id.
#[derive(Default)]
pub struct Applications {
    by_kid: HashMap<String, RegisteredKey>,
    /// Verified tokens: token → (caller, exp).
    verified: Mutex<HashMap<String, (Caller, u64)>>,
    /// The token lifetime cap, if not the default.
    max_token_lifetime: Option<u64>,
}

impl std::fmt::Debug for Applications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let apps: Vec<&str> = self
            .by_kid
            .values()
            .map(|key| key.app_id.as_str())
            .collect();
        f.debug_struct("Applications").field("apps", &apps).finish()
    }
}

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The application whose key signed the token.
    pub app_id: String,
    /// The token's subject (a user's identity, or the app id).
    pub subject: String,
}

impl Applications {
    /// No applications yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses access tokens valid for more than `seconds` from now (default
    /// [`DEFAULT_MAX_TOKEN_LIFETIME_SECONDS`]).
    pub fn with_max_token_lifetime(mut self, seconds: u64) -> Self {
        self.max_token_lifetime = Some(seconds);
        self
    }

    /// The token lifetime cap in seconds.
    pub fn max_token_lifetime(&self) -> u64 {
        self.max_token_lifetime
            .unwrap_or(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS)
    }

    /// Registers `app_id` with one of its keys (an application may have several, for
    /// rotation).
    pub fn register(&mut self, app_id: &str, public_key: PublicKey) -> Result<(), ApiError> {
        let decoding = DecodingKey::from_ed_components(&jwk_x(&public_key))
            .map_err(|e| ApiError::internal(format!("cannot use the key of app {app_id}: {e}")))?;
        self.by_kid.insert(
            public_key.key_id().to_string(),
            RegisteredKey {
                app_id: app_id.to_owned(),
                public_key,
                decoding,
            },
        );
        Ok(())
    }

    /// The keys registered for `app_id`.
    pub fn keys_of(&self, app_id: &str) -> Vec<&PublicKey> {
        self.by_kid
            .values()
            .filter(|key| key.app_id == app_id)
            .map(|key| &key.public_key)
            .collect()
    }

    /// Checks the `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        let token = authorization
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::MissingToken,
                    "send Authorization: Bearer <access token>",
                )
            })?
            .strip_prefix("Bearer ")
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::MalformedToken,
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        let now = virgil_api::unix_now();
        {
            let mut verified = self
                .verified
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match verified.get(token) {
                Some((caller, exp)) if now <= exp.saturating_add(LEEWAY_SECONDS) => {
                    return Ok(caller.clone());
                }
                // Expired: verify again, which reports `token_expired`.
                Some(_) => {
                    verified.remove(token);
                }
                None => {}
            }
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            ApiError::new(ErrorCode::MalformedToken, "the access token is not a JWT")
        })?;
        if header.alg != Algorithm::EdDSA {
            return Err(ApiError::new(
                ErrorCode::MalformedToken,
                "the access token must be signed with EdDSA",
            ));
        }
        let kid = header.kid.ok_or_else(|| {
            ApiError::new(ErrorCode::MalformedToken, "the access token has no `kid`")
        })?;
        let key = self.by_kid.get(&kid).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownKey,
                "the access token is signed by a key that is not a registered application key",
            )
        })?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.set_issuer(&[key.app_id.as_str()]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => ApiError::new(
                        ErrorCode::TokenExpired,
                        "the access token has expired; get a new one",
                    ),
                    ErrorKind::InvalidSignature => ApiError::new(
                        ErrorCode::BadTokenSignature,
                        "the access token's signature does not match its application key",
                    ),
                    ErrorKind::InvalidIssuer => ApiError::new(
                        ErrorCode::WrongIssuer,
                        "the access token's issuer is not the application of its key",
                    ),
                    _ => ApiError::new(ErrorCode::MalformedToken, "the access token is not valid"),
                }
            })?;
        let cap = self.max_token_lifetime();
        if data.claims.exp > now.saturating_add(cap.saturating_add(LEEWAY_SECONDS)) {
            return Err(ApiError::new(
                ErrorCode::TokenLifetimeTooLong,
                format!(
                    "the access token is valid for more than {cap} s (this service's cap); issue shorter-lived tokens"
                ),
            ));
        }
        let caller = Caller {
            app_id: key.app_id.clone(),
            subject: data.claims.sub,
        };
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_TOKEN_CACHE {
            verified.clear();
        }
        verified.insert(token.to_owned(), (caller.clone(), data.claims.exp));
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use virgil_crypto::PrivateKey;

    use virgil_api::unix_now as now;

    #[test]
    fn a_remembered_token_still_expires() {
        let app_key = PrivateKey::from_seed(&[5; 32]).unwrap();
        let mut applications = Applications::new();
        applications
            .register("chat", app_key.public_key().clone())
            .unwrap();
        // exp is 4 s ago: valid for about one more second thanks to the leeway.
        let token = virgil_api::token::issue(&app_key, "chat", "alice", now() - 64, 60);
        let header = format!("Bearer {token}");
        let caller = applications.authenticate(Some(&header)).unwrap();
        assert_eq!(caller.subject, "alice");
        assert_eq!(applications.authenticate(Some(&header)).unwrap(), caller);
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let error = applications.authenticate(Some(&header)).unwrap_err();
        assert_eq!(error.code, virgil_api::ErrorCode::TokenExpired);
    }

    #[test]
    fn only_verified_tokens_are_remembered() {
        let app_key = PrivateKey::from_seed(&[5; 32]).unwrap();
        let mut applications = Applications::new();
        applications
            .register("chat", app_key.public_key().clone())
            .unwrap();
        let token = virgil_api::token::issue(&app_key, "chat", "alice", now(), 300);
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = format!("Bearer {}", String::from_utf8(forged).unwrap());
        for _ in 0..2 {
            assert!(applications.authenticate(Some(&forged)).is_err());
        }
        assert!(
            applications
                .authenticate(Some(&format!("Bearer {token}")))
                .is_ok()
        );
        assert!(applications.authenticate(Some(&forged)).is_err());
    }
}
