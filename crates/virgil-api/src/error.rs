//! Error codes: one enum for both servers. Each code has one stable `snake_case` string
//! (derived from the variant name by `strum`, so the two directions cannot drift) and one
//! HTTP status ([`ErrorCode::status`]).

/// The stable error codes of both servers' APIs (`docs/api.md`), so clients can match
/// on them. On the wire a code is its `snake_case` name, e.g. `card_not_found`.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr, strum::EnumIter,
)]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: the body is not the expected JSON.
    InvalidJson,
    /// 400: a path id is not 64 lowercase hex digits.
    InvalidCardId,
    /// 401: no `Authorization` header (cards service).
    MissingToken,
    /// 401: not `Bearer <JWT>`, not EdDSA, no `kid`, or otherwise invalid.
    MalformedToken,
    /// 401: `kid` is not a registered application key.
    UnknownKey,
    /// 401: `exp` is past.
    TokenExpired,
    /// 401: the access token claims to be valid for longer than the service allows (1 h).
    TokenLifetimeTooLong,
    /// 401: the token's signature does not match its `kid`'s key.
    BadTokenSignature,
    /// 401: `iss` is not the application of the `kid`.
    WrongIssuer,
    /// 401: wrong username or password (application server).
    InvalidCredentials,
    /// 401: no session token (application server).
    MissingSession,
    /// 401: unknown or expired session token (application server).
    InvalidSession,
    /// 403: the card belongs to another application.
    WrongApplication,
    /// 403: registration is closed on this application server.
    RegistrationClosed,
    /// 403: `/metrics` from a client that is neither on loopback nor has the token.
    MetricsForbidden,
    /// 403: the revocation request is not signed by the caller's application key.
    BadRevocationSignature,
    /// 403: the card is for another user than the logged-in one (application server).
    WrongIdentity,
    /// 404: no such card in the caller's application.
    CardNotFound,
    /// 404: the key directory has no such epoch, or no entry for the identity.
    NotInDirectory,
    /// 404: a message to a user that does not exist (application server).
    UnknownUser,
    /// 404: no session of the logged-in user has this id (application server).
    SessionNotFound,
    /// 404: the caller has no key backup (application server).
    NoBackup,
    /// 404: the caller has no pairing with this id: it never existed, expired (10
    /// minutes), or one side ended it (application server).
    NoPairing,
    /// 408: the request (body and handling) took longer than the server allows.
    RequestTimeout,
    /// 409: the card to replace was already replaced or revoked.
    PreviousCardNotActive,
    /// 409: the card to replace has another identity or identity type.
    PreviousCardMismatch,
    /// 409: revoking twice.
    CardAlreadyRevoked,
    /// 409: the identity already has active cards and the new card is not linked from
    /// one of them (a link signature by one of their keys, docs/format.md §7).
    LinkRequired,
    /// 409: the identity already has the most active cards allowed; revoke or replace one.
    TooManyCards,
    /// 409: a link signature on the card names a card that is not an active card of the
    /// identity (revoked, superseded, pending or unknown), or does not verify: such a
    /// card vouches for nothing.
    InvalidLink,
    /// 409: a reset of the identity was cancelled less than the cooldown ago; the
    /// answer's `Retry-After` says when a reset may start again.
    ResetTooSoon,
    /// 409: the identity has a reset pending already: cancel it (revoke the reset card
    /// with an active card) or wait until it becomes active.
    ResetPending,
    /// 401: a reset card needs the account password again (application server): a
    /// session alone cannot declare every key lost.
    ReauthenticationRequired,
    /// 409: a pairing message out of turn: not the next one of the exchange, or the
    /// slot was taken (each message is accepted once; a second answer is refused).
    PairingOutOfTurn,
    /// 409: the caller has a live pairing of this id already, or too many live ones.
    PairingExists,
    /// 409: registering a username that exists (application server).
    UsernameTaken,
    /// 409: a `message_id` the sender already used for another message (another
    /// recipient or body).
    MessageIdReused,
    /// 413: the request body is over the server's limit.
    BodyTooLarge,
    /// 422: the card does not decode (snapshot, signatures, limits).
    InvalidCard,
    /// 422: a signature of the card does not verify (the message names the check).
    CardVerificationFailed,
    /// 422: `previous_card_id` names no card of this application.
    PreviousCardNotFound,
    /// 422: a search names no identity.
    NoIdentities,
    /// 422: a search names too many identities.
    TooManyIdentities,
    /// 422: an identity is empty, too long or not printable.
    InvalidIdentity,
    /// 422: the revocation request or signature does not decode, or names another card.
    InvalidRevocation,
    /// 422: a username is not 1–64 of letters, digits, `.`, `_`, `-`, `@`.
    InvalidUsername,
    /// 422: a password is not 8–1024 bytes.
    InvalidPassword,
    /// 422: a message body is not base64.
    InvalidMessage,
    /// 422: the cards service refused the card (application server; the message says why).
    CardsServiceRefused,
    /// 422: a key backup is not a hardened key blob, or a blinded password is not a
    /// point of P-256 (docs/format.md §5, §16).
    InvalidBackup,
    /// 422: a pairing message or id is malformed (id: 6 digits; message: base64, at most
    /// 20 KiB).
    InvalidPairingMessage,
    /// 429: too many failed logins (application server).
    TooManyAttempts,
    /// 429: the sender relayed more than its hourly quota of messages or bytes.
    RelayQuotaExceeded,
    /// 429: the identity used its backup-password evaluations for now (someone may be
    /// guessing); `Retry-After` says when the next one is answered.
    BackupGuessLimit,
    /// 429: too many requests from one client address or one account; the answer's
    /// `Retry-After` header says how many seconds to wait.
    RateLimited,
    /// 500: the server failed; details are logged, not sent.
    InternalError,
    /// 502: the cards service could not be reached (application server).
    CardsServiceUnavailable,
    /// 503: the server's storage failed (a full disk, a read-only or unreachable
    /// database, a failed commit): nothing was stored; try again after `Retry-After`.
    StorageUnavailable,
    /// 503: the cards service asked the application server to wait (it rate-limited it,
    /// or its own storage failed): nothing was published; try again after
    /// `Retry-After` (application server).
    CardsServiceBusy,
    /// A code this version does not know (a newer server), kept as sent.
    #[strum(default)]
    Other(String),
}

impl ErrorCode {
    /// The code for `text`; unknown codes are kept as [`ErrorCode::Other`].
    pub fn parse(text: &str) -> Self {
        text.parse()
            .unwrap_or_else(|_| ErrorCode::Other(text.to_owned()))
    }

    /// The code as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Other(text) => text,
            known => known.into(),
        }
    }

    /// The HTTP status a server answers with this code (500 for [`ErrorCode::Other`]).
    pub fn status(&self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidJson | InvalidCardId => 400,
            MissingToken
            | MalformedToken
            | UnknownKey
            | TokenExpired
            | TokenLifetimeTooLong
            | BadTokenSignature
            | WrongIssuer
            | InvalidCredentials
            | MissingSession
            | InvalidSession
            | ReauthenticationRequired => 401,
            WrongApplication
            | BadRevocationSignature
            | WrongIdentity
            | MetricsForbidden
            | RegistrationClosed => 403,
            CardNotFound | NotInDirectory | UnknownUser | SessionNotFound | NoBackup
            | NoPairing => 404,
            PreviousCardNotActive
            | PreviousCardMismatch
            | CardAlreadyRevoked
            | LinkRequired
            | TooManyCards
            | InvalidLink
            | ResetTooSoon
            | ResetPending
            | UsernameTaken
            | MessageIdReused
            | PairingOutOfTurn
            | PairingExists => 409,
            RequestTimeout => 408,
            BodyTooLarge => 413,
            InvalidCard
            | CardVerificationFailed
            | PreviousCardNotFound
            | NoIdentities
            | TooManyIdentities
            | InvalidIdentity
            | InvalidRevocation
            | InvalidUsername
            | InvalidPassword
            | InvalidMessage
            | CardsServiceRefused
            | InvalidBackup
            | InvalidPairingMessage => 422,
            TooManyAttempts | RelayQuotaExceeded | RateLimited | BackupGuessLimit => 429,
            InternalError | Other(_) => 500,
            CardsServiceUnavailable => 502,
            StorageUnavailable | CardsServiceBusy => 503,
        }
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(ErrorCode::parse(&text))
    }
}

/// Every error response of both servers: `{"code": "<snake_case>", "message": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, for a person.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator as _;

    #[test]
    fn every_code_round_trips_through_its_wire_string() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::iter().filter(|code| !matches!(code, ErrorCode::Other(_))) {
            let text = code.as_str();
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{text}"
            );
            assert!(seen.insert(text.to_owned()), "duplicate {text}");
            assert_eq!(ErrorCode::parse(text), code);
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{text}\""));
            assert!((400..600).contains(&code.status()), "{text}");
        }
        assert_eq!(seen.len(), 59);
    }

    #[test]
    fn unknown_codes_are_kept() {
        let code = ErrorCode::parse("from_the_future");
        assert_eq!(code, ErrorCode::Other("from_the_future".into()));
        assert_eq!(code.as_str(), "from_the_future");
        // Even one spelled like a variant name but not in snake_case.
        assert!(matches!(
            ErrorCode::parse("CardNotFound"),
            ErrorCode::Other(_)
        ));
    }

    #[test]
    fn statuses_match_the_documented_table() {
        assert_eq!(ErrorCode::InvalidJson.status(), 400);
        assert_eq!(ErrorCode::TokenExpired.status(), 401);
        assert_eq!(ErrorCode::WrongApplication.status(), 403);
        assert_eq!(ErrorCode::CardNotFound.status(), 404);
        assert_eq!(ErrorCode::UsernameTaken.status(), 409);
        assert_eq!(ErrorCode::BodyTooLarge.status(), 413);
        assert_eq!(ErrorCode::InvalidCard.status(), 422);
        assert_eq!(ErrorCode::TooManyAttempts.status(), 429);
        assert_eq!(ErrorCode::InternalError.status(), 500);
        assert_eq!(ErrorCode::CardsServiceUnavailable.status(), 502);
    }
}
