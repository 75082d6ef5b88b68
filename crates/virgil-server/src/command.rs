//! The `keygen` command both server binaries (and `virgil init`) share.

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
