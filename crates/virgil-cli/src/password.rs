//! Passwords: from `--password-file`, an environment variable, or a prompt without echo
//! on the terminal. Never from a plain argument (other users can see those in `ps`).

use crate::error::{CliError, Exit};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The key password's environment variable.
pub(crate) const KEY_PASSWORD_VAR: &str = "VIRGIL_PASSWORD";
/// The new key password's environment variable (`virgil key passwd`).
pub(crate) const NEW_PASSWORD_VAR: &str = "VIRGIL_NEW_PASSWORD";
/// The account password's environment variable (`virgil register|login|passwd`).
pub(crate) const ACCOUNT_PASSWORD_VAR: &str = "VIRGIL_ACCOUNT_PASSWORD";
/// The new account password's environment variable (`virgil passwd`).
pub(crate) const NEW_ACCOUNT_PASSWORD_VAR: &str = "VIRGIL_NEW_ACCOUNT_PASSWORD";

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

/// The fewest characters a new password (a key's or an account's) may have.
pub(crate) const MIN_NEW_PASSWORD_CHARS: usize = 8;

/// How many times a prompt for a new password asks before giving up.
const NEW_PASSWORD_TRIES: usize = 3;

/// Why `password` cannot be a new password, if it cannot.
fn new_password_problem(password: &str) -> Option<String> {
    let count = password.chars().count();
    (count < MIN_NEW_PASSWORD_CHARS).then(|| {
        format!(
            "the new password has {count} character(s); use at least {MIN_NEW_PASSWORD_CHARS} (or, for a key, pass --unprotected to store it without a password)"
        )
    })
}

/// Reads a password: `file`, else `$var`, else a prompt. A new password (`confirm`)
/// must have at least [`MIN_NEW_PASSWORD_CHARS`] characters: the rule is said before
/// the prompt and checked before the repeat, and a short or mismatched one is asked
/// for again, up to three times.
pub(crate) fn read(
    file: Option<&Path>,
    var: &str,
    prompt: &str,
    confirm: bool,
) -> Result<Zeroizing<String>, CliError> {
    if let Some(path) = file {
        let password = from_file(path)?;
        return checked_if_new(password, confirm);
    }
    if let Ok(value) = std::env::var(var) {
        return checked_if_new(Zeroizing::new(value), confirm);
    }
    let no_terminal = |e: std::io::Error| cannot_ask(&e, var);
    // Without a terminal to ask on, say so before any prompt or hint is printed.
    #[cfg(unix)]
    std::fs::File::open("/dev/tty").map_err(no_terminal)?;
    if !confirm {
        return Ok(Zeroizing::new(
            rpassword::prompt_password(prompt).map_err(no_terminal)?,
        ));
    }
    eprintln!("Choose a password of at least {MIN_NEW_PASSWORD_CHARS} characters.");
    for _ in 0..NEW_PASSWORD_TRIES {
        let first = Zeroizing::new(rpassword::prompt_password(prompt).map_err(no_terminal)?);
        if let Some(problem) = new_password_problem(&first) {
            eprintln!("virgil: {problem}");
            continue;
        }
        let second = Zeroizing::new(
            rpassword::prompt_password("Repeat the password: ").map_err(no_terminal)?,
        );
        if first == second {
            return Ok(first);
        }
        eprintln!("virgil: the passwords do not match; again");
    }
    Err(CliError::with(
        Exit::Auth,
        format!("no password chosen after {NEW_PASSWORD_TRIES} tries"),
    ))
}

/// A prompt for `var`'s password failed with `error`: said in words, with what to do.
fn cannot_ask(error: &std::io::Error, var: &str) -> CliError {
    // ENXIO (6): the process has no controlling terminal (a service, a pipeline run
    // by a daemon, `setsid`); NotFound: no /dev/tty at all (a container).
    let why = if error.raw_os_error() == Some(6) || error.kind() == std::io::ErrorKind::NotFound {
        "there is no terminal to ask on".to_owned()
    } else {
        format!("the terminal failed: {error}")
    };
    CliError::with(
        Exit::Auth,
        format!("cannot ask for the password: {why}; set {var} or pass --password-file"),
    )
}

fn checked_if_new(
    password: Zeroizing<String>,
    confirm: bool,
) -> Result<Zeroizing<String>, CliError> {
    match new_password_problem(&password).filter(|_| confirm) {
        Some(problem) => Err(CliError::new(problem)),
        None => Ok(password),
    }
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

/// Where a new account password comes from (`virgil passwd`).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct NewAccountPasswordArgs {
    /// Read the new account password from the first line of this file (else
    /// VIRGIL_NEW_ACCOUNT_PASSWORD, else a prompt, asked twice).
    #[arg(long, value_name = "FILE")]
    pub(crate) new_password_file: Option<PathBuf>,
}

/// A new account password per `args` (at least eight characters).
pub(crate) fn new_account_password(
    args: &NewAccountPasswordArgs,
    username: &str,
) -> Result<Zeroizing<String>, CliError> {
    read(
        args.new_password_file.as_deref(),
        NEW_ACCOUNT_PASSWORD_VAR,
        &format!("New account password for {username:?}: "),
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_password_has_at_least_eight_characters() {
        assert!(new_password_problem("").is_some());
        assert!(new_password_problem("1234567").is_some());
        assert!(new_password_problem("12345678").is_none());
        // Characters, not bytes: seven two-byte characters are still too few.
        assert!(new_password_problem("ééééééé").is_some());
        assert!(checked_if_new(Zeroizing::new("short".into()), false).is_ok());
        assert!(checked_if_new(Zeroizing::new("short".into()), true).is_err());
    }
}
