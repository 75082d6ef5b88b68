//! `virgil key backup …` and `virgil key restore`: the private key backed up at the
//! application server, locked with a backup password the cards service hardens
//! (docs/security.md, key backup).

use crate::config::Global;
use crate::error::{CliError, Exit};
use crate::password::{self, AccountPasswordArgs, PasswordArgs};
use std::path::PathBuf;
use virgil::keystore::KeyStoreError;

/// The backup password's environment variable.
pub(crate) const BACKUP_PASSWORD_VAR: &str = "VIRGIL_BACKUP_PASSWORD";
/// The new backup password's environment variable (`virgil key backup passwd`).
pub(crate) const NEW_BACKUP_PASSWORD_VAR: &str = "VIRGIL_NEW_BACKUP_PASSWORD";

/// Where the backup password comes from.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct BackupPasswordArgs {
    /// Read the backup password from the first line of this file (else
    /// VIRGIL_BACKUP_PASSWORD, else a prompt). Use a password of its own: not the
    /// account password (the application server checks that one) and not the key's.
    #[arg(long, value_name = "FILE")]
    pub(crate) backup_password_file: Option<PathBuf>,
}

/// `virgil key backup` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum BackupCommand {
    /// Back key NAME up at the application server, locked with a backup password that
    /// the cards service hardens without seeing it: neither server alone can test a
    /// guess at it, and the cards service answers only a few guesses per hour.
    #[command(
        after_help = "Examples:\n  virgil key backup create alice\n  virgil key backup create alice --replace   # asks for the account password too"
    )]
    Create {
        /// The key's name.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        #[command(flatten)]
        backup_password: BackupPasswordArgs,
        /// Replace the backup you have (needs the account password).
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        account_password: AccountPasswordArgs,
    },
    /// Whether you have a backup, and how many guesses its password has cost: more than
    /// you made means someone is guessing (change it with `virgil key backup passwd`).
    #[command(after_help = "Example:\n  virgil key backup status --json")]
    Status {
        /// Print JSON (docs/cli.md has the shape).
        #[arg(long)]
        json: bool,
    },
    /// Change the backup password (the old one is checked: one guess; the new one locks
    /// the same key). Needs the account password.
    #[command(after_help = "Example:\n  virgil key backup passwd")]
    Passwd {
        #[command(flatten)]
        backup_password: BackupPasswordArgs,
        /// Read the new backup password from the first line of this file (else
        /// VIRGIL_NEW_BACKUP_PASSWORD, else a prompt, asked twice).
        #[arg(long, value_name = "FILE")]
        new_backup_password_file: Option<PathBuf>,
        #[command(flatten)]
        account_password: AccountPasswordArgs,
    },
    /// Delete your backup at the application server (needs the account password).
    #[command(after_help = "Example:\n  virgil key backup delete")]
    Delete {
        #[command(flatten)]
        account_password: AccountPasswordArgs,
    },
}

fn backup_password(
    args: &BackupPasswordArgs,
    username: &str,
    confirm: bool,
) -> Result<zeroize::Zeroizing<String>, CliError> {
    password::read(
        args.backup_password_file.as_deref(),
        BACKUP_PASSWORD_VAR,
        &format!("Backup password for {username:?}: "),
        confirm,
    )
}

/// Runs a `virgil key backup` command.
pub(crate) fn run(global: &Global, command: BackupCommand) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let username = global.session()?.session.username;
    let result = match command {
        BackupCommand::Create {
            name,
            password,
            backup_password: backup_args,
            replace,
            account_password,
        } => {
            let store = global.keys()?;
            let key = crate::unlock::load(&store, &name, &password)?;
            let status = virgil.backups().status()?;
            let account = match (status.stored_at, replace) {
                (Some(at), false) => {
                    return Err(CliError::new(format!(
                        "{username} has a key backup already (stored {}); `--replace` replaces it (with the account password)",
                        crate::format_time(i64::try_from(at).unwrap_or(i64::MAX))
                    )));
                }
                (Some(_), true) => Some(password::account_password(
                    &account_password,
                    &username,
                    false,
                )?),
                (None, _) => None,
            };
            let secret = backup_password(&backup_args, &username, true)?;
            virgil.backups().backup(
                &key,
                &secret,
                account.as_ref().map(|password| password.as_str()),
            )?;
            println!(
                "key {name:?} (key id {}) backed up for {username}; restore it on a new device with `virgil key restore NAME` after `virgil login {username}`",
                key.public_key().key_id()
            );
            Ok(())
        }
        BackupCommand::Status { json } => status(&virgil, &username, json),
        BackupCommand::Passwd {
            backup_password: backup_args,
            new_backup_password_file,
            account_password,
        } => {
            let old = backup_password(&backup_args, &username, false)?;
            let new = password::read(
                new_backup_password_file.as_deref(),
                NEW_BACKUP_PASSWORD_VAR,
                &format!("New backup password for {username:?}: "),
                true,
            )?;
            let account = password::account_password(&account_password, &username, false)?;
            virgil
                .backups()
                .change_password(&old, &new, &account)
                .map_err(wrong_backup_password)?;
            println!("backup password of {username} changed");
            Ok(())
        }
        BackupCommand::Delete { account_password } => {
            let account = password::account_password(&account_password, &username, false)?;
            virgil.backups().delete(&account)?;
            println!("key backup of {username} deleted");
            Ok(())
        }
    };
    global.keep_refreshed_session(&virgil)?;
    result
}

fn status(virgil: &virgil::Virgil, username: &str, json: bool) -> Result<(), CliError> {
    let status = virgil.backups().status()?;
    let guesses = &status.guesses;
    let now = crate::now();
    if json {
        let value = serde_json::json!({
            "identity": username,
            "stored_at": status.stored_at,
            "guesses": {
                "used": guesses.used,
                "free_per_window": guesses.free_per_window,
                "window_seconds": guesses.window_seconds,
                "total": guesses.total,
                "last_at": guesses.last_at,
                "next_at": guesses.next_at,
            },
        });
        println!("{value:#}");
        return Ok(());
    }
    let time = |at: u64| crate::format_time(i64::try_from(at).unwrap_or(i64::MAX));
    match status.stored_at {
        Some(at) => println!("backup:  stored {}", time(at)),
        None => println!("backup:  none (`virgil key backup create NAME` makes one)"),
    }
    println!(
        "guesses: {} in the last {} min of {} answered at once; {} in all{}",
        guesses.used,
        guesses.window_seconds / 60,
        guesses.free_per_window,
        guesses.total,
        guesses
            .last_at
            .map_or_else(String::new, |at| format!(", the last {}", time(at)))
    );
    if guesses.next_at > now {
        println!(
            "next:    answered in {} s (someone used the guesses: if not you, change the backup password)",
            guesses.next_at - now
        );
    }
    Ok(())
}

/// A wrong backup password, said in words.
fn wrong_backup_password(error: virgil::Error) -> CliError {
    match error {
        virgil::Error::Crypto(virgil::crypto::Error::WrongPassword) => CliError::with(
            Exit::Auth,
            "wrong backup password (it comes from --backup-password-file, VIRGIL_BACKUP_PASSWORD or the prompt); each try counts as a guess: `virgil key backup status` shows them",
        ),
        virgil::Error::Crypto(virgil::crypto::Error::Corrupted) => CliError::with(
            Exit::Rejected,
            "the key backup is corrupted (changed at the application server?): nothing was restored",
        ),
        other => other.into(),
    }
}

/// `virgil key restore NAME`: the backup, unlocked here and saved as key NAME.
pub(crate) fn restore(
    global: &Global,
    name: &str,
    backup_args: &BackupPasswordArgs,
    password: &PasswordArgs,
) -> Result<(), CliError> {
    let store = global.keys()?;
    if store.exists(name)? {
        return Err(KeyStoreError::AlreadyExists {
            name: name.to_owned(),
        }
        .into());
    }
    let virgil = global.virgil()?;
    let username = global.session()?.session.username;
    let secret = backup_password(backup_args, &username, false)?;
    let key = virgil
        .backups()
        .restore(&secret)
        .map_err(wrong_backup_password)?;
    let local = password::key_password(password, name, true)?;
    let entry = store.save(&key, name, Some(local.as_str()))?;
    println!(
        "key {name:?} restored from the backup of {username}, key id {}",
        entry.key_id
    );
    global.keep_refreshed_session(&virgil)?;
    // Is the restored key still one of the user's active cards?
    let cards = virgil.cards().find(&[username.as_str()]);
    let active = cards.as_ref().map(|found| {
        found
            .cards
            .iter()
            .any(|card| card.card.public_key().key_id() == key.public_key().key_id())
    });
    match active {
        Ok(true) => println!("its card is active: this device can read your messages now"),
        Ok(false) => println!(
            "note: no active card of {username} has this key (it was revoked or replaced since the backup): messages to your current cards are not for it. If you have no other device, reset: `virgil card reset` with this key"
        ),
        Err(e) => println!("could not check the key's card now: {e}"),
    }
    Ok(())
}
