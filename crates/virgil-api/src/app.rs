//! The reference application server's bodies: register, log in, submit a card, relay
//! messages. Cards travel as [`crate::cards::CardResponse`], as at the cards service.

/// `POST /v1/users` (register) and `POST /v1/sessions` (log in).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// 1–64 of letters, digits, `.`, `_`, `-`, `@`.
    pub username: String,
    /// 8–1024 bytes.
    pub password: String,
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The answer to a registration.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegisteredUser {
    /// The registered username.
    pub username: String,
}

/// The answer to a login.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionResponse {
    /// For `Authorization: Bearer` on the application server.
    pub session_token: String,
    /// For `Authorization: Bearer` on the cards service (JWT).
    pub access_token: String,
    /// When the access token expires, seconds since the Unix epoch.
    pub access_token_expires_at: u64,
}

impl core::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionResponse")
            .field("access_token_expires_at", &self.access_token_expires_at)
            .finish_non_exhaustive()
    }
}

/// The answer to `POST /v1/access-tokens`: a fresh access token for the cards service,
/// for a session that is still valid (so a client need not ask for the password again
/// every ten minutes).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessTokenResponse {
    /// For `Authorization: Bearer` on the cards service (JWT).
    pub access_token: String,
    /// When the access token expires, seconds since the Unix epoch.
    pub access_token_expires_at: u64,
}

impl core::fmt::Debug for AccessTokenResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AccessTokenResponse")
            .field("access_token_expires_at", &self.access_token_expires_at)
            .finish_non_exhaustive()
    }
}

/// One of the logged-in user's sessions (`GET /v1/sessions`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionInfo {
    /// The session's id: 16 hex digits (a prefix of the SHA-256 of its token, which the
    /// server keeps instead of the token; it reveals nothing about the token).
    pub id: String,
    /// When the session expires, seconds since the Unix epoch.
    pub expires_at: u64,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// The answer to `GET /v1/sessions`: the logged-in user's live sessions, newest first.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionList {
    /// The sessions.
    pub sessions: Vec<SessionInfo>,
}

/// `POST /v1/cards` on the application server: an exported card request to approve.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubmitCardRequest {
    /// `Card::export()` of the logged-in user's card request.
    pub card: String,
    /// The account password again, required for a reset card (one that says every
    /// earlier key was lost, docs/key-changes.md): a session token alone cannot reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl core::fmt::Debug for SubmitCardRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SubmitCardRequest")
            .field("card", &self.card)
            .field("password", &self.password.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

/// `POST /v1/account/password`: the current password and a new one. Every other session
/// of the account ends (and with it, within an access token's lifetime, their access to
/// the cards service).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new one (8–1024 bytes).
    pub new_password: String,
}

impl core::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PasswordChange").finish_non_exhaustive()
    }
}

/// `POST /v1/messages`: ciphertext for another user.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SendMessageRequest {
    /// The recipient's username.
    pub to: String,
    /// The base64 ciphertext.
    pub body: String,
    /// The sender's id for this message, an idempotency key ([`MESSAGE_ID_CHARS`]): the
    /// same message sent again with it (a retry after a timeout) is stored once, and the
    /// answer is the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// What a `message_id` may be: 8 to 64 of letters, digits, `-` and `_`.
pub const MESSAGE_ID_CHARS: std::ops::RangeInclusive<usize> = 8..=64;

/// Whether `id` is a valid `message_id`.
pub fn is_valid_message_id(id: &str) -> bool {
    MESSAGE_ID_CHARS.contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The answer to `POST /v1/messages` (201 when stored now, 200 when a message with the
/// same `message_id` was stored before).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SentMessage {
    /// The message's place in the recipient's inbox (their inbox cursor).
    pub id: i64,
}

/// One relayed message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayedMessage {
    /// Its place in the recipient's inbox: 1, 2, 3… in the order the messages were
    /// stored (committed), so a cursor never passes a message stored later; the inbox
    /// cursor.
    pub id: i64,
    /// The sender's username.
    pub from: String,
    /// The base64 ciphertext, as sent.
    pub body: String,
    /// When the server received it, seconds since the Unix epoch.
    pub sent_at: i64,
}

/// A page of `GET /v1/messages?after=<cursor>`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Inbox {
    /// Oldest first.
    pub messages: Vec<RelayedMessage>,
    /// Pass as `after` to get the next page.
    pub next_cursor: i64,
}

/// The largest request body the application server reads (a relayed message's
/// ciphertext is most of it), in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_debug() {
        let submit = SubmitCardRequest {
            card: "VkdMWA".into(),
            password: Some("hunter2 hunter2".into()),
        };
        let shown = format!("{submit:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("redacted"),
            "{shown}"
        );
        let credentials = Credentials {
            username: "alice".into(),
            password: "hunter2 hunter2".into(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }
}

/// `GET /v1/backup`, and the answer to `POST /v1/backup`: the caller's key backup, a
/// key blob locked with a hardened password (docs/format.md §5, kdf `0x02`). The
/// application server stores it and cannot open it: hardening the password needs the
/// cards service.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyBackup {
    /// The key blob, base64 (102 bytes).
    pub blob: String,
    /// When it was stored, seconds since the Unix epoch.
    pub stored_at: u64,
}

/// `POST /v1/backup`: store the caller's key backup. The first one needs only the
/// session; replacing one needs the account password again, so that a stolen session
/// token cannot swap or destroy a backup.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreBackupRequest {
    /// The key blob, base64 (102 bytes, kdf `0x02`).
    pub blob: String,
    /// The account password, required when a backup exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl core::fmt::Debug for StoreBackupRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoreBackupRequest")
            .field("blob", &self.blob)
            .field("password", &self.password.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

/// `POST /v1/backup/actions/delete`: delete the caller's key backup (the account
/// password again).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeleteBackupRequest {
    /// The account password.
    pub password: String,
}

impl core::fmt::Debug for DeleteBackupRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeleteBackupRequest")
            .finish_non_exhaustive()
    }
}

/// `POST /v1/pairings`: a new device opens a pairing mailbox (docs/format.md §17) with
/// the first message of the exchange. The mailbox belongs to the caller's account; any
/// session of the account reads it and adds the next message. It lives 10 minutes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenPairingRequest {
    /// The mailbox id the new device chose: 6 decimal digits, part of the code it shows.
    pub id: String,
    /// Message 1, base64.
    pub message: String,
}

/// `POST /v1/pairings/{id}/messages`: the next message of the exchange.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PairingMessageRequest {
    /// Its place: 1 for message 2, 2 for message 3, 3 for message 4. Must be the next
    /// one; each is accepted once.
    pub index: u32,
    /// The message, base64.
    pub message: String,
}

/// A pairing mailbox: the messages so far, in order (`GET /v1/pairings/{id}`, and the
/// answer to opening it or adding to it). The server relays; it cannot read the sealed
/// parts, nor answer for either side without the code.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pairing {
    /// The mailbox id.
    pub id: String,
    /// The messages so far, base64, in order (1 to 4).
    pub messages: Vec<String>,
    /// When the mailbox expires, seconds since the Unix epoch.
    pub expires_at: u64,
}
