//! `virgil key …`: private keys in the home's key store, locked with a password.

use crate::config::Global;
use crate::error::{CliError, context};
use crate::password::{self, NEW_PASSWORD_VAR, PasswordArgs};
pub(crate) use crate::unlock::load;
use crate::unlock::{entry, password_of};
use clap::Subcommand;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use virgil::keystore::KeyStoreError;
use virgil::{KeyEntry, Keys, Suite};

/// A key suite on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SuiteArg {
    /// Suite 1: Ed25519 + P-256 (the default).
    Classic,
    /// Suite 2: Ed25519 + X-Wing (ML-KEM-768 + X25519), post-quantum.
    Pq,
}

impl From<SuiteArg> for Suite {
    fn from(suite: SuiteArg) -> Self {
        match suite {
            SuiteArg::Classic => Suite::Classic,
            SuiteArg::Pq => Suite::PostQuantum,
        }
    }
}

/// How the CLI names a suite: `classic` or `pq (post-quantum)`.
pub(crate) fn suite_label(suite: Suite) -> &'static str {
    if suite.is_post_quantum() {
        "pq (post-quantum)"
    } else {
        "classic"
    }
}

/// `virgil key` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum KeyCommand {
    /// Generate a key and save it under NAME, locked with a password.
    #[command(after_help = "Examples:\n  \
        virgil key generate alice                 # asks for the password twice\n  \
        virgil key generate alice --suite pq      # post-quantum (X-Wing) key\n  \
        VIRGIL_PASSWORD=… virgil key generate alice\n  \
        virgil key generate bot --password-file bot.pass")]
    Generate {
        /// The key's name (letters, digits, '.', '_', '-').
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Store the key without a password (anyone who can read the file has it).
        #[arg(long)]
        unprotected: bool,
        /// The key's suite: `classic` (P-256; 100-byte public key, 145 bytes per
        /// recipient) or `pq` (post-quantum X-Wing, ML-KEM-768 + X25519; 1251-byte public
        /// key, 1201 bytes per recipient). Messages to a `pq` key stay secret even from a
        /// future quantum computer, as long as every recipient of the message is `pq`.
        #[arg(long, value_enum, default_value_t = SuiteArg::Classic)]
        suite: SuiteArg,
    },
    /// List the keys (no password needed).
    #[command(after_help = "Example:\n  virgil key list")]
    List {
        /// Print JSON (docs/cli.md has the shape).
        #[arg(long)]
        json: bool,
    },
    /// Show one key's name, key id, creation time and file (no password needed).
    #[command(after_help = "Example:\n  virgil key show alice")]
    Show {
        /// The key's name.
        name: String,
        /// Print JSON (docs/cli.md has the shape).
        #[arg(long)]
        json: bool,
    },
    /// Print the public key (base64) of a key; needs its password.
    #[command(after_help = "Example:\n  virgil key export-public alice -o alice.pub")]
    ExportPublic {
        /// The key's name.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Write to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Delete a key. Messages encrypted for it can no longer be read.
    #[command(
        after_help = "Examples:\n  virgil key delete old-laptop        # asks you to type the name\n  virgil key delete old-laptop --yes"
    )]
    Delete {
        /// The key's name.
        name: String,
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Change a key's password (the old one from --password-file, VIRGIL_PASSWORD or a
    /// prompt; the new one from --new-password-file, VIRGIL_NEW_PASSWORD or a prompt).
    #[command(after_help = "Example:\n  virgil key passwd alice")]
    Passwd {
        /// The key's name.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Read the new password from the first line of this file.
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
    /// Back a key up at the application server, locked with a backup password the
    /// cards service hardens (create, status, passwd, delete). Needs a login.
    #[command(subcommand)]
    Backup(crate::backup::BackupCommand),
    /// Restore your backed-up key on this device and save it as NAME, locked with a
    /// (new) local password. Needs a login as the same user.
    #[command(after_help = "Example:
  virgil login alice && virgil key restore alice   # asks for the backup password, then a password for the key here")]
    Restore {
        /// The name to save the key under (must not exist).
        name: String,
        #[command(flatten)]
        backup_password: crate::backup::BackupPasswordArgs,
        /// The password to lock the key with on this device.
        #[command(flatten)]
        password: PasswordArgs,
    },
}

fn time(seconds: u64) -> String {
    crate::format_time(i64::try_from(seconds).unwrap_or(i64::MAX))
}

fn path_of(store: &Keys, name: &str) -> String {
    store
        .path_of(name)
        .map_or_else(|| "(memory)".to_owned(), |path| path.display().to_string())
}

/// Runs a `virgil key` command.
pub(crate) fn run(global: &Global, command: KeyCommand) -> Result<(), CliError> {
    let store = global.keys()?;
    match command {
        KeyCommand::Generate {
            name,
            password,
            unprotected,
            suite,
        } => generate(&store, name, password, unprotected, suite),
        KeyCommand::List { json } => list(&store, json),
        KeyCommand::Show { name, json } => show(&store, name, json),
        KeyCommand::ExportPublic {
            name,
            password,
            output,
        } => export_public(&store, name, password, output),
        KeyCommand::Delete { name, yes } => delete(&store, name, yes),
        KeyCommand::Passwd {
            name,
            password,
            new_password_file,
        } => passwd(&store, name, password, new_password_file),
        KeyCommand::Backup(command) => crate::backup::run(global, command),
        KeyCommand::Restore {
            name,
            backup_password,
            password,
        } => crate::backup::restore(global, &name, &backup_password, &password),
    }
}

/// `virgil key generate`.
pub(crate) fn generate(
    store: &Keys,
    name: String,
    password: PasswordArgs,
    unprotected: bool,
    suite: SuiteArg,
) -> Result<(), CliError> {
    if store.exists(&name)? {
        return Err(KeyStoreError::AlreadyExists { name }.into());
    }
    let secret = if unprotected {
        None
    } else {
        Some(password::key_password(&password, &name, true)?)
    };
    let key = store
        .generate_with_suite(suite.into())
        .map_err(context("cannot generate a key"))?;
    let entry = store.save(&key, &name, secret.as_ref().map(|p| p.as_str()))?;
    println!(
        "key {name:?} created, key id {}, suite {}",
        entry.key_id,
        suite_label(entry.suite)
    );
    println!("saved in {}", path_of(store, &name));
    Ok(())
}

/// `virgil key list`.
fn list(store: &Keys, json: bool) -> Result<(), CliError> {
    let listing = store.list()?;
    if json {
        return crate::output::print_json(&serde_json::json!({
            "keys": listing.entries.iter().map(entry_json).collect::<Vec<_>>(),
            "damaged": listing.damaged.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }));
    }
    if listing.entries.is_empty() && listing.damaged.is_empty() {
        println!(
            "no keys in {} (create one: virgil key generate NAME)",
            store
                .dir()
                .map_or_else(|| "memory".to_owned(), |dir| dir.display().to_string())
        );
    }
    for entry in listing.entries {
        println!(
            "{:<24} {}  {:<7}  {}{}",
            entry.name.as_str(),
            entry.key_id,
            entry.suite.name(),
            time(entry.created_at),
            if entry.password_protected {
                ""
            } else {
                "  (no password)"
            }
        );
    }
    for damaged in listing.damaged {
        println!("DAMAGED: {damaged}");
    }
    Ok(())
}

/// `virgil key show`.
fn show(store: &Keys, name: String, json: bool) -> Result<(), CliError> {
    let entry = entry(store, &name)?
        .ok_or_else(|| CliError::from(KeyStoreError::NotFound { name: name.clone() }))?;
    if json {
        let mut value = entry_json(&entry);
        if let Some(fields) = value.as_object_mut() {
            fields.insert("file".to_owned(), path_of(store, &name).into());
        }
        return crate::output::print_json(&value);
    }
    println!("name:      {}", entry.name.as_str());
    println!("key id:    {}", entry.key_id);
    println!("suite:     {}", suite_label(entry.suite));
    println!("created:   {}", time(entry.created_at));
    println!(
        "password:  {}",
        if entry.password_protected {
            "yes"
        } else {
            "no"
        }
    );
    println!("file:      {}", path_of(store, &name));
    Ok(())
}

/// `virgil key export-public`.
fn export_public(
    store: &Keys,
    name: String,
    password: PasswordArgs,
    output: Option<PathBuf>,
) -> Result<(), CliError> {
    let key = load(store, &name, &password)?;
    let text = format!("{}\n", crate::recipients::key_string(key.public_key()));
    match output {
        Some(path) => crate::output::write(&path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(())
}

/// `virgil key delete`.
fn delete(store: &Keys, name: String, yes: bool) -> Result<(), CliError> {
    if !store.exists(&name)? {
        return Err(KeyStoreError::NotFound { name }.into());
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::new(format!(
                "deleting key {name:?} cannot be undone; pass --yes to confirm"
            )));
        }
        eprint!(
            "Delete key {name:?}? Messages encrypted for it can no longer be read. Type the name to confirm: "
        );
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(context("cannot read the answer"))?;
        if answer.trim() != name {
            return Err(CliError::new("not deleted"));
        }
    }
    store.delete(&name)?;
    println!("key {name:?} deleted");
    Ok(())
}

/// `virgil key passwd`.
fn passwd(
    store: &Keys,
    name: String,
    password: PasswordArgs,
    new_password_file: Option<PathBuf>,
) -> Result<(), CliError> {
    // Checks the old password first, so a typo is reported before asking twice.
    let old = password_of(store, &name, &password)?;
    store.load(&name, old.as_ref().map(|p| p.as_str()))?;
    let new = password::read(
        new_password_file.as_deref(),
        NEW_PASSWORD_VAR,
        &format!("New password for key {name:?}: "),
        true,
    )?;
    store.change_password(&name, old.as_ref().map(|p| p.as_str()), Some(new.as_str()))?;
    println!("password of key {name:?} changed");
    Ok(())
}

/// A key's record as JSON: name, key id, creation time (Unix seconds), password.
fn entry_json(entry: &KeyEntry) -> serde_json::Value {
    serde_json::json!({
        "name": entry.name.as_str(),
        "key_id": entry.key_id.to_string(),
        "created_at": entry.created_at,
        "password_protected": entry.password_protected,
        "suite": entry.suite.name(),
    })
}
