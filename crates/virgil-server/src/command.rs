//! What the two server binaries' command lines share: `keygen` (also `virgil init`'s)
//! and the common options of `serve`.

use crate::{ConfigError, keys};
use std::path::PathBuf;
use virgil_crypto::encoding::to_base64;

/// Options of `keygen`.
#[derive(clap::Args, Debug, Clone)]
pub struct KeygenArgs {
    /// Where to write the key; an existing file is never overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// Store the key without a password (anyone who can read the file has it).
    #[arg(long)]
    pub unprotected: bool,
}

/// `keygen`: creates a key file named `name` locked with the password in
/// `password_var` (unless `--unprotected`) and prints its public key for clients to
/// pin. `what` names the key ("service key", "application key") in messages.
pub fn keygen(
    args: &KeygenArgs,
    name: &str,
    password_var: &str,
    what: &str,
) -> Result<(), ConfigError> {
    let password = if args.unprotected {
        None
    } else {
        Some(std::env::var(password_var).map_err(|_| ConfigError::Missing {
            what: "password",
            how: format!(
                "set {password_var} to the password that will lock the {what} (or pass --unprotected)"
            ),
        })?)
    };
    let key = keys::generate_key_file(&args.out, name, password.as_deref().map(str::as_bytes))?;
    println!("{what} written to {}", args.out.display());
    println!(
        "public key (pin this in clients): {}",
        to_base64(key.public_key().as_bytes())
    );
    println!("key id: {}", key.key_id());
    Ok(())
}

/// The options of `serve` both servers take. Each server names their environment
/// variables (`VIRGIL_CARDS_…`, `VIRGIL_APP_…`) and their defaults in its own help
/// (clap's `mut_arg` on its `ServeArgs`); the command line (or its environment
/// variable) wins over the server's file.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeCommon {
    /// A TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long)]
    pub listen: Option<String>,
    /// sqlite://PATH?mode=rwc or postgres://USER@HOST/DB.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Log lines as text (colours only on a terminal) or json (one object per line)
    /// [default: text]. `RUST_LOG` filters them (default info).
    #[arg(long, env = "VIRGIL_LOG_FORMAT", value_enum)]
    pub log_format: Option<crate::runtime::LogFormat>,
    /// TLS: --tls-cert, --tls-key, --insecure-http.
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
    /// An origin whose pages may call the API from a browser, e.g.
    /// `https://chat.example.com` (repeat for several; replaces the file's cors_origins)
    /// [default: none].
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
}

impl ServeCommon {
    /// The CORS origins: the command line's if it names any, else the file's.
    pub fn cors_origins(&self, file: Vec<String>) -> Vec<String> {
        if self.cors_origins.is_empty() {
            file
        } else {
            self.cors_origins.clone()
        }
    }
}
