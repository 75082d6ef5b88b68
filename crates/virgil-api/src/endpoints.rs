//! Every endpoint of both servers, each written once: its method, its path as the
//! routers match it (`{id}` for a parameter), the body it takes and the body it answers
//! with. The servers' routers and the clients both use these, so a path cannot differ
//! between them.
//!
//! ```
//! use virgil_api::endpoints::{Endpoint, cards};
//!
//! assert_eq!(cards::Search::PATH, "/v1/cards/actions/search");
//! let id = "05eaa301cca45368306e355643161c7435b0759f2a8bf33481c04b51202fbfdc";
//! assert_eq!(cards::Revoke::path(&[id]), format!("/v1/cards/{id}/actions/revoke"));
//! ```

/// An HTTP method an endpoint answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET, no body.
    Get,
    /// POST with a JSON body.
    Post,
    /// DELETE, no body.
    Delete,
}

/// One endpoint of the API.
pub trait Endpoint {
    /// Its method.
    const METHOD: Method;
    /// Its path; `{name}` segments are parameters, filled by [`Endpoint::path`].
    const PATH: &'static str;
    /// The JSON body it takes (`()`: none).
    type Request;
    /// The JSON body it answers with (`()`: none).
    type Response;

    /// The path with its parameters filled in, in order, each percent-encoded (every
    /// byte but ASCII letters, digits, `-` and `_`), so a parameter is always one path
    /// segment, never `..`.
    fn path(parameters: &[&str]) -> String {
        let mut parameters = parameters.iter();
        Self::PATH
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') && segment.ends_with('}') {
                    parameters
                        .next()
                        .map_or_else(String::new, |value| encode(value))
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

macro_rules! endpoint {
    ($(#[$doc:meta])* $name:ident, $method:ident, $path:literal, $request:ty, $response:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl $crate::endpoints::Endpoint for $name {
            const METHOD: $crate::endpoints::Method = $crate::endpoints::Method::$method;
            const PATH: &'static str = $path;
            type Request = $request;
            type Response = $response;
        }
    };
}

endpoint!(
    /// `GET /v1/health` of either server.
    Health, Get, "/v1/health", (), crate::HealthResponse
);
endpoint!(
    /// `GET /v1/openapi.json` of either server: its OpenAPI 3 document.
    OpenApi, Get, "/v1/openapi.json", (), ()
);
endpoint!(
    /// `GET /metrics` of either server: Prometheus text (loopback or a token).
    Metrics, Get, "/metrics", (), ()
);

/// The cards service's endpoints.
pub mod cards {
    use crate::cards::{
        AuditRequest, AuditResponse, BackupGuesses, CardResponse, CheckpointResponse,
        EvaluateRequest, EvaluateResponse, HistoryRequest, HistoryResponse, OprfKeyResponse,
        RevokeRequest, SearchRequest, SearchResponse, ServiceKeyResponse,
    };
    use virgil_card::CardJson;

    endpoint!(
        /// Publish a card its application approved.
        Publish, Post, "/v1/cards", CardJson, CardResponse
    );
    endpoint!(
        /// The active and pending cards of some identities, with one signature over all.
        Search, Post, "/v1/cards/actions/search", SearchRequest, SearchResponse
    );
    endpoint!(
        /// One card by id, whatever its status.
        Get, Get, "/v1/cards/{id}", (), CardResponse
    );
    endpoint!(
        /// Revoke a card (application or owner).
        Revoke, Post, "/v1/cards/{id}/actions/revoke", RevokeRequest, CardResponse
    );
    endpoint!(
        /// The service's public key, to pin.
        ServiceKey, Get, "/v1/service-key", (), ServiceKeyResponse
    );

    endpoint!(
        /// The key directory's latest signed checkpoint (or `?epoch=N`'s).
        Checkpoint, Get, "/v1/directory/checkpoint", (), CheckpointResponse
    );
    endpoint!(
        /// The proof of every version of one identity's directory entry.
        History, Post, "/v1/directory/actions/history", HistoryRequest, HistoryResponse
    );
    endpoint!(
        /// The append-only proof between two epochs, with their checkpoints.
        Audit, Post, "/v1/directory/actions/audit", AuditRequest, AuditResponse
    );

    endpoint!(
        /// The application's key-backup OPRF public key, signed by the service key.
        BackupKey, Get, "/v1/backup/oprf-key", (), OprfKeyResponse
    );
    endpoint!(
        /// Evaluate the oblivious PRF on a blinded backup password (one guess).
        BackupEvaluate, Post, "/v1/backup/actions/evaluate", EvaluateRequest, EvaluateResponse
    );
    endpoint!(
        /// The caller's backup-password guesses so far (counts none).
        BackupGuessCount, Get, "/v1/backup/guesses", (), BackupGuesses
    );

    /// Every path of the cards service, as the router serves it and the OpenAPI
    /// document lists it.
    pub const PATHS: [&str; 14] = [
        <BackupKey as super::Endpoint>::PATH,
        <BackupEvaluate as super::Endpoint>::PATH,
        <BackupGuessCount as super::Endpoint>::PATH,
        <Audit as super::Endpoint>::PATH,
        <Checkpoint as super::Endpoint>::PATH,
        <History as super::Endpoint>::PATH,
        <Publish as super::Endpoint>::PATH,
        <Search as super::Endpoint>::PATH,
        <Get as super::Endpoint>::PATH,
        <Revoke as super::Endpoint>::PATH,
        <ServiceKey as super::Endpoint>::PATH,
        <super::Health as super::Endpoint>::PATH,
        <super::OpenApi as super::Endpoint>::PATH,
        <super::Metrics as super::Endpoint>::PATH,
    ];
}

/// The reference application server's endpoints.
pub mod app {
    use crate::app::{
        AccessTokenResponse, Credentials, DeleteBackupRequest, KeyBackup, OpenPairingRequest,
        Pairing, PairingMessageRequest, PasswordChange, RegisteredUser, SendMessageRequest,
        SentMessage, SessionList, SessionResponse, StoreBackupRequest, SubmitCardRequest,
    };
    use crate::cards::CardResponse;

    endpoint!(
        /// Create an account.
        Register, Post, "/v1/users", Credentials, RegisteredUser
    );
    endpoint!(
        /// Log in: a session and an access token for the cards service.
        Login, Post, "/v1/sessions", Credentials, SessionResponse
    );
    endpoint!(
        /// The caller's live sessions.
        Sessions, Get, "/v1/sessions", (), SessionList
    );
    endpoint!(
        /// End one of the caller's sessions (`current`: this one).
        EndSession, Delete, "/v1/sessions/{id}", (), ()
    );
    endpoint!(
        /// A fresh access token for the cards service.
        AccessToken, Post, "/v1/access-tokens", (), AccessTokenResponse
    );
    endpoint!(
        /// Change the account password; every other session ends.
        ChangePassword, Post, "/v1/account/password", PasswordChange, ()
    );
    endpoint!(
        /// Submit the caller's card request for approval and publication.
        SubmitCard, Post, "/v1/cards", SubmitCardRequest, CardResponse
    );
    endpoint!(
        /// Relay a ciphertext to another user.
        SendMessage, Post, "/v1/messages", SendMessageRequest, SentMessage
    );
    endpoint!(
        /// The caller's messages after a cursor (`?after=N`).
        Inbox, Get, "/v1/messages", (), crate::app::Inbox
    );

    endpoint!(
        /// Store (or, with the account password, replace) the caller's key backup.
        StoreBackup, Post, "/v1/backup", StoreBackupRequest, KeyBackup
    );
    endpoint!(
        /// The caller's key backup.
        FetchBackup, Get, "/v1/backup", (), KeyBackup
    );
    endpoint!(
        /// Delete the caller's key backup (with the account password).
        DeleteBackup, Post, "/v1/backup/actions/delete", DeleteBackupRequest, ()
    );

    endpoint!(
        /// Open a pairing mailbox (a new device) with message 1.
        OpenPairing, Post, "/v1/pairings", OpenPairingRequest, Pairing
    );
    endpoint!(
        /// A pairing mailbox of the caller's: the messages so far.
        GetPairing, Get, "/v1/pairings/{id}", (), Pairing
    );
    endpoint!(
        /// Add the next message to a pairing mailbox.
        AddPairingMessage, Post, "/v1/pairings/{id}/messages", PairingMessageRequest, Pairing
    );
    endpoint!(
        /// End a pairing (either side; a wrong code ends it).
        DeletePairing, Post, "/v1/pairings/{id}/actions/delete", (), ()
    );

    /// Every path of the application server, as the router serves it and the OpenAPI
    /// document lists it.
    pub const PATHS: [&str; 16] = [
        <OpenPairing as super::Endpoint>::PATH,
        <GetPairing as super::Endpoint>::PATH,
        <AddPairingMessage as super::Endpoint>::PATH,
        <DeletePairing as super::Endpoint>::PATH,
        <StoreBackup as super::Endpoint>::PATH,
        <DeleteBackup as super::Endpoint>::PATH,
        <Register as super::Endpoint>::PATH,
        <Login as super::Endpoint>::PATH,
        <EndSession as super::Endpoint>::PATH,
        <AccessToken as super::Endpoint>::PATH,
        <ChangePassword as super::Endpoint>::PATH,
        <SubmitCard as super::Endpoint>::PATH,
        <SendMessage as super::Endpoint>::PATH,
        <super::Health as super::Endpoint>::PATH,
        <super::OpenApi as super::Endpoint>::PATH,
        <super::Metrics as super::Endpoint>::PATH,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_fill_one_segment_each() {
        assert_eq!(cards::Get::path(&["abc"]), "/v1/cards/abc");
        assert_eq!(
            app::EndSession::path(&["../x y"]),
            "/v1/sessions/%2E%2E%2Fx%20y"
        );
        assert_eq!(cards::Search::path(&[]), cards::Search::PATH);
    }
}
