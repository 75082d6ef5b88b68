//! One error type for every command: a one-line message a user can act on and the exit
//! code (docs/cli.md lists them).

use std::fmt;
use virgil::client::ClientError;
use virgil_api::ErrorCode;

/// Exit codes (docs/cli.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Anything else: bad input, a file that cannot be read, a refused request.
    Failure = 1,
    /// A message or card failed decryption or verification.
    Rejected = 3,
    /// A password, login or token problem.
    Auth = 4,
    /// A server could not be reached.
    Unavailable = 5,
}

/// A failed command.
#[derive(Debug)]
pub(crate) struct CliError {
    /// The exit code.
    pub(crate) exit: Exit,
    /// One line, without the program name.
    pub(crate) message: String,
}

impl CliError {
    /// A general failure.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self::with(Exit::Failure, message)
    }

    /// A failure with a specific exit code.
    pub(crate) fn with(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    /// Maps a client error of a call to `server` ("the cards service", "the app server").
    pub(crate) fn client(server: &str, error: ClientError) -> Self {
        match error {
            ClientError::Transport { url, message } => Self::with(
                Exit::Unavailable,
                format!(
                    "cannot reach {server} at {url} ({message}); is it running? Check the URL in your config"
                ),
            ),
            ClientError::Api {
                code: code @ (ErrorCode::StorageUnavailable | ErrorCode::CardsServiceBusy),
                retry_after_seconds,
                message,
                ..
            } => Self::with(
                Exit::Unavailable,
                // A read can get this too (a card not yet in the key directory), so say
                // what the server said rather than "could not store".
                format!(
                    "{server} cannot answer now: {message} ({code}); nothing was changed: try again in {} s",
                    retry_after_seconds.unwrap_or(5)
                ),
            ),
            ClientError::Api {
                status: 401,
                code: ErrorCode::InvalidCredentials,
                message,
                ..
            } => Self::with(
                Exit::Auth,
                format!("{server} refused: {message} (invalid_credentials)"),
            ),
            ClientError::Api {
                status: 401,
                code,
                message,
                ..
            } => Self::with(
                Exit::Auth,
                format!(
                    "{server} refused: {message} ({code}); log in again with `virgil login <username>`"
                ),
            ),
            ClientError::Api {
                status: 429,
                code,
                message,
                ..
            } => Self::with(Exit::Auth, format!("{server} refused: {message} ({code})")),
            ClientError::Api {
                code: ErrorCode::LinkRequired,
                message,
                ..
            } => Self::with(
                Exit::Rejected,
                format!(
                    "{server} refused: {message}. Publish with `--link-from KEY`, naming the key of one of your active cards; if you lost every such key, reset: `virgil card reset` (your other devices can cancel it during the service's reset delay)"
                ),
            ),
            ClientError::Api { code, message, .. } => {
                Self::new(format!("{server} refused: {message} ({code})"))
            }
            ClientError::Status(e) => Self::with(
                Exit::Rejected,
                format!("an answer from {server} was not used: {e}"),
            ),
            ClientError::PlainHttp(message) => Self::new(message),
            ClientError::Verification(e) => Self::with(
                Exit::Rejected,
                format!("a card from {server} failed verification, it was not used: {e}"),
            ),
            ClientError::Token(message) => Self::with(Exit::Auth, message),
            ClientError::Checkpoint(e) => Self::with(
                Exit::Rejected,
                format!("the key directory of {server}: {e}"),
            ),
            ClientError::Directory(e) => Self::with(
                Exit::Rejected,
                format!("an answer from {server} was not used: {e}"),
            ),
            e @ (ClientError::BackupKeyNotSigned | ClientError::BackupProof) => {
                Self::with(Exit::Rejected, format!("{server}: {e}"))
            }
            other => Self::new(format!("{server}: {other}")),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<virgil::keystore::KeyStoreError> for CliError {
    fn from(error: virgil::keystore::KeyStoreError) -> Self {
        use virgil::keystore::KeyStoreError as E;
        match error {
            E::WrongPassword { .. } => Self::with(
                Exit::Auth,
                format!(
                    "{error} (the password comes from --password-file, VIRGIL_PASSWORD or the prompt)"
                ),
            ),
            E::NotFound { .. } => Self::new(format!("{error}; `virgil key list` shows your keys")),
            other => Self::new(other.to_string()),
        }
    }
}

impl From<virgil::Error> for CliError {
    fn from(error: virgil::Error) -> Self {
        use virgil::Error as E;
        match error {
            E::KeyStore(e) => e.into(),
            E::CardsService(e) => Self::client("the cards service", e),
            E::AppServer(e) => Self::client("the app server", e),
            E::NotLoggedIn => Self::with(
                Exit::Auth,
                "not logged in: run `virgil login <username>` first",
            ),
            E::CardNotTrusted { .. }
            | E::NotForThisKey { .. }
            | E::WrongSender { .. }
            | E::NotSigned { .. }
            | E::SenderHasNoCard { .. }
            | E::NotYourCard { .. }
            | E::KeyChanged(_)
            | E::NotPostQuantum { .. }
            | E::SelfCheck(_)
            | E::Monitor(_)
            | E::OwnIdentity { .. }
            | E::Directory(_)
            | E::RevokedCardOffered { .. }
            | E::Crypto(virgil::crypto::Error::PairingMismatch)
            | E::Pairing(
                virgil::PairingFailure::UnexpectedRequest(_)
                | virgil::PairingFailure::UnexpectedCard(_)
                | virgil::PairingFailure::Declined,
            ) => Self::with(Exit::Rejected, error.to_string()),
            other => Self::new(other.to_string()),
        }
    }
}

/// `map_err` helper: "context: error".
pub(crate) fn context<E: fmt::Display>(what: impl fmt::Display) -> impl FnOnce(E) -> CliError {
    move |e| CliError::new(format!("{what}: {e}"))
}
