//! `virgil device …`: pairing a new device with a short code (docs/format.md §17), and
//! the account's devices (its active cards) listed and revoked.

use crate::config::Global;
use crate::error::{CliError, Exit};
use crate::key::SuiteArg;
use crate::password::PasswordArgs;
use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

/// How long `virgil device pair` waits for the new device's card request.
const PAIR_WAIT: Duration = Duration::from_secs(600);

/// `virgil device` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum DeviceCommand {
    /// On the NEW device (logged in): make key NAME here if it does not exist, show a
    /// pairing code, and wait until one of your devices links and publishes its card.
    /// The code authenticates the exchange end to end: neither server can answer for
    /// your other device without it, and a wrong code ends the pairing.
    #[command(
        after_help = "Example (new laptop, then on your phone or old laptop):\n  virgil login alice && virgil device join alice-laptop\n  virgil device pair 123456-1234-5678 --key alice"
    )]
    Join {
        /// The new device's key [default: the logged-in user's name].
        name: Option<String>,
        /// The suite of the key, if it is made here.
        #[arg(long, value_enum, default_value_t = SuiteArg::Classic)]
        suite: SuiteArg,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// On an EXISTING device (logged in): answer the new device's code, compare the
    /// new key's fingerprint with its screen, then link its card from your card of
    /// --key and publish it.
    #[command(after_help = "Example:\n  virgil device pair 123456-1234-5678 --key alice")]
    Pair {
        /// The code the new device shows (`123456-1234-5678`, or its `virgil-pair:` form).
        code: String,
        /// Your key whose active card links the new one [default: the logged-in user's
        /// name].
        #[arg(long)]
        key: Option<String>,
        /// Do not ask to compare the fingerprint (required when not on a terminal; the
        /// code already authenticated the exchange).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Your devices: your active cards, with the local key of each (as `virgil card
    /// list`).
    #[command(after_help = "Example:\n  virgil device list")]
    List {
        /// Print JSON (as `virgil card list --json`).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device's card (a lost phone) from another device: as `virgil card
    /// revoke ID --key YOUR_KEY`. Messages sent to it before stay readable with its key;
    /// nothing new is encrypted to it.
    #[command(after_help = "Example:\n  virgil device revoke 3f5c… --key alice-laptop")]
    Revoke {
        /// The card id (`virgil device list`).
        id: String,
        /// Sign with this key of yours [default: the logged-in user's name].
        #[arg(long)]
        key: Option<String>,
        /// Why: unspecified or compromised.
        #[arg(long, default_value = "unspecified", value_parser = ["unspecified", "compromised"])]
        reason: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
}

/// Runs a `virgil device` command.
pub(crate) fn run(global: &Global, command: DeviceCommand) -> Result<(), CliError> {
    match command {
        DeviceCommand::Join {
            name,
            suite,
            password,
        } => join(global, name, suite, &password),
        DeviceCommand::Pair {
            code,
            key,
            yes,
            password,
        } => pair(global, &code, key, yes, &password),
        DeviceCommand::List { json } => {
            crate::card::run(global, crate::card::CardCommand::List { json })
        }
        DeviceCommand::Revoke {
            id,
            key,
            reason,
            password,
        } => crate::card::run(
            global,
            crate::card::CardCommand::Revoke {
                id,
                key,
                app_key_file: None,
                reason,
                password,
            },
        ),
    }
}

fn join(
    global: &Global,
    name: Option<String>,
    suite: SuiteArg,
    password: &PasswordArgs,
) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let username = global.session()?.session.username;
    let name = name.unwrap_or_else(|| username.clone());
    let store = global.keys()?;
    if !store.exists(&name)? {
        crate::key::generate(&store, name.clone(), password.clone(), false, suite)?;
    }
    let key = crate::unlock::load(&store, &name, password)?;
    let joining = virgil.devices().join(&key)?;
    let code = joining.code();
    println!("Pairing code for {username}:  {code}");
    println!("  (QR-ready: {})", code.uri());
    println!("On one of your devices, logged in as {username}, run:");
    println!("  virgil device pair {code}");
    println!("and check that it shows this fingerprint of key {name:?}:");
    println!("  {}", joining.fingerprint());
    println!(
        "waiting for it (the code expires at {}; Ctrl-C ends the pairing)…",
        crate::format_time(i64::try_from(joining.expires_at()).unwrap_or(i64::MAX))
    );
    let _ = std::io::stdout().flush();
    let now = virgil_api::unix_now();
    let wait = Duration::from_secs(joining.expires_at().saturating_sub(now).max(1));
    let published = joining.wait(wait).map_err(|error| match error {
        virgil::Error::Crypto(virgil::crypto::Error::PairingMismatch) => CliError::with(
            Exit::Rejected,
            "the other device's answer does not confirm: the code was typed wrong, or someone else answered. The pairing is ended; run `virgil device join` again for a new code",
        ),
        other => other.into(),
    })?;
    let linked: Vec<String> = published.card.links().map(ToString::to_string).collect();
    println!(
        "card {} for {username} published, linked from your card {}; this device can now read new messages to {username}",
        published.card.id(),
        linked.join(", ")
    );
    Ok(())
}

fn pair(
    global: &Global,
    code: &str,
    key: Option<String>,
    yes: bool,
    password: &PasswordArgs,
) -> Result<(), CliError> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            "pairing asks you to compare the new key's fingerprint; pass --yes when not on a terminal",
        ));
    }
    let virgil = global.virgil()?;
    let username = global.session()?.session.username;
    let key_name = key.unwrap_or_else(|| username.clone());
    let store = global.keys()?;
    let key = crate::unlock::load(&store, &key_name, password)?;
    println!("answering the new device's pairing; waiting for its card request…");
    let _ = std::io::stdout().flush();
    let request = virgil.devices().pair(code, PAIR_WAIT).map_err(|error| match error {
        virgil::Error::Crypto(virgil::crypto::Error::PairingMismatch) => CliError::with(
            Exit::Rejected,
            "the new device's answer does not confirm: the code was typed wrong, or someone else answered. Nothing was linked; start again on the new device",
        ),
        other => other.into(),
    })?;
    println!(
        "the new device asks for a card of {username} with key fingerprint:\n  {}",
        request.fingerprint()
    );
    if !yes {
        eprint!("Does the new device show this fingerprint? [y/N] ");
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| CliError::new(format!("cannot read the answer: {e}")))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            request.decline()?;
            return Err(CliError::with(
                Exit::Rejected,
                "declined: the fingerprints differ (or you said no); nothing was linked",
            ));
        }
    }
    let published = request.approve(&key)?;
    println!(
        "card {} of the new device published, linked from your card of key {key_name:?}",
        published.card.id()
    );
    Ok(())
}
