//! Why a deployment could not be assembled.

use virgil_server::{ConfigError, ServeError};

/// Why a deployment could not be made, started or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// A server could not be built or stopped with an error.
    #[error("the {server}: {source}")]
    Server {
        /// "cards service" or "application server".
        server: &'static str,
        /// What went wrong.
        source: ServeError,
    },
    /// A setting is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The local CA or the servers' certificate could not be made.
    #[error("{0}")]
    Tls(String),
    /// A server key could not be generated (the system's random generator failed).
    #[error("cannot make a server key: {0}")]
    Key(virgil_crypto::Error),
    /// A file of the deployment could not be written or read.
    #[error("cannot {action} {path}: {source}")]
    File {
        /// What was being done ("create", "write", …).
        action: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file of the deployment exists already; nothing was overwritten.
    #[error("{0} exists; a deployment's files are never overwritten (use another directory)")]
    Exists(std::path::PathBuf),
    /// A server's thread could not be started or ended without reporting.
    #[error("the {0} stopped unexpectedly")]
    Thread(&'static str),
}
