//! Passwords: from `--password-file`, an environment variable, or a prompt without echo
//! on the terminal. Never from a plain argument (other users can see those in `ps`).

use crate::error::{CliError, Exit};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The key password's environment variable.
pub(crate) const KEY_PASSWORD_VAR: &str = "VIRGIL_PASSWORD";
/// The new key password's environment variable (`virgil key passwd`).
pub(crate) const NEW_PASSWORD_VAR: &str = "VIRGIL_NEW_PASSWORD";
/// The account password's environment variable (`virgil register|login`).
pub(crate) const ACCOUNT_PASSWORD_VAR: &str = "VIRGIL_ACCOUNT_PASSWORD";

/// Where a key's password comes from.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct PasswordArgs {
    /// Read the key's password from the first line of this file (else VIRGIL_PASSWORD,
    /// else a prompt).
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
}

fn from_file(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        CliError::new(format!(
            "cannot read the password file {}: {e}",
            path.display()
        ))
    })?);
    let line = text.lines().next().unwrap_or("");
    Ok(Zeroizing::new(line.to_owned()))
}

/// Reads a password: `file`, else `$var`, else a prompt (twice if `confirm`). A new
/// password (`confirm`) must not be empty.
pub(crate) fn read(
    file: Option<&Path>,
    var: &str,
    prompt: &str,
    confirm: bool,
) -> Result<Zeroizing<String>, CliError> {
    let password = read_any(file, var, prompt, confirm)?;
    if confirm && password.is_empty() {
        return Err(CliError::new(
            "the new password is empty; choose one (or, for a key, pass --unprotected to store it without a password)",
        ));
    }
    Ok(password)
}

fn read_any(
    file: Option<&Path>,
    var: &str,
    prompt: &str,
    confirm: bool,
) -> Result<Zeroizing<String>, CliError> {
    if let Some(path) = file {
        return from_file(path);
    }
    if let Ok(value) = std::env::var(var) {
        return Ok(Zeroizing::new(value));
    }
    let no_terminal = |e: std::io::Error| {
        CliError::with(
            Exit::Auth,
            format!("cannot ask for the password ({e}): set {var} or pass --password-file"),
        )
    };
    let first = Zeroizing::new(rpassword::prompt_password(prompt).map_err(no_terminal)?);
    if confirm {
        let second = Zeroizing::new(
            rpassword::prompt_password("Repeat the password: ").map_err(no_terminal)?,
        );
        if first != second {
            return Err(CliError::with(Exit::Auth, "the passwords do not match"));
        }
    }
    Ok(first)
}

/// A key's password per `args`.
pub(crate) fn key_password(
    args: &PasswordArgs,
    name: &str,
    confirm: bool,
) -> Result<Zeroizing<String>, CliError> {
    read(
        args.password_file.as_deref(),
        KEY_PASSWORD_VAR,
        &format!("Password for key {name:?}: "),
        confirm,
    )
}

/// Where the account password comes from.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct AccountPasswordArgs {
    /// Read the account password from the first line of this file (else
    /// VIRGIL_ACCOUNT_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE")]
    pub(crate) account_password_file: Option<PathBuf>,
}

pub(crate) fn account_password(
    args: &AccountPasswordArgs,
    username: &str,
    confirm: bool,
) -> Result<zeroize::Zeroizing<String>, CliError> {
    read(
        args.account_password_file.as_deref(),
        ACCOUNT_PASSWORD_VAR,
        &format!("Account password for {username:?}: "),
        confirm,
    )
}
