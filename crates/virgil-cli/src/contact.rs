//! `virgil contact`: the cards this device has used per contact, key changes, safety
//! numbers (docs/key-changes.md).

use crate::config::Global;
use crate::error::CliError;
use virgil::card::PinnedState;

/// How a pinned card's state is shown (and named in `--json`).
fn state_name(state: PinnedState) -> &'static str {
    match state {
        PinnedState::Active => "active",
        PinnedState::Superseded => "superseded",
        PinnedState::Revoked(virgil::RevocationReason::Compromised) => "revoked as compromised",
        PinnedState::Revoked(_) => "revoked",
    }
}

/// Contacts: the cards used for each identity, key changes, safety numbers.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum ContactCommand {
    /// List contacts: each identity with the cards pinned for it and whether it is
    /// verified.
    #[command(after_help = "Example:\n  virgil contact list\n  virgil contact list --json")]
    List {
        /// Print JSON (docs/cli.md has the shape).
        #[arg(long)]
        json: bool,
    },
    /// Accept a contact's current cards after a key change (ask them first, e.g. by
    /// phone, whether they reset or added a key).
    #[command(after_help = "Example:\n  virgil contact accept bob")]
    Accept {
        /// The contact's identity.
        identity: String,
    },
    /// Print the safety number of you and a contact: compare it with theirs (read it
    /// aloud, or side by side); the same number on both devices means each of you has
    /// the other's real keys.
    #[command(
        after_help = "Examples:\n  virgil contact verify bob     # bob runs: virgil contact verify alice\n  virgil contact verify bob --code 'virgil-verify:1:…'   # the line bob's device printed"
    )]
    Verify {
        /// The contact's identity.
        identity: String,
        /// The contact's verification code (the `virgil-verify:1:…` line their device
        /// printed, e.g. scanned from a QR code): checks the number and that both
        /// devices see one key directory.
        #[arg(long, value_name = "CODE")]
        code: Option<String>,
    },
    /// Mark a contact verified after comparing safety numbers: pins their current
    /// cards; from then on a key change of theirs is refused until verified again.
    #[command(after_help = "Example:\n  virgil contact trust bob")]
    Trust {
        /// The contact's identity.
        identity: String,
    },
}

/// Runs a `virgil contact` command.
pub(crate) fn run(global: &Global, command: ContactCommand) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    match command {
        ContactCommand::List { json } => {
            let contacts = virgil.contacts().list()?;
            if json {
                return crate::output::print_json(&serde_json::json!({
                    "contacts": contacts.iter().map(|contact| serde_json::json!({
                        "identity": contact.identity,
                        "app_id": contact.app_id,
                        "verified": contact.verified,
                        "cards": contact.cards.iter().map(|card| serde_json::json!({
                            "id": card.id.to_string(),
                            "state": state_name(card.state),
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                }));
            }
            if contacts.is_empty() {
                println!(
                    "no contacts yet (a contact is pinned the first time you send to or verify them)"
                );
            }
            for contact in contacts {
                let active = contact
                    .cards
                    .iter()
                    .filter(|card| card.state == PinnedState::Active)
                    .count();
                println!(
                    "{}  {} card(s) in use, {} replaced or revoked{}",
                    contact.identity,
                    active,
                    contact.cards.iter().count() - active,
                    if contact.verified { ", verified" } else { "" }
                );
                for card in contact.cards.iter() {
                    match card.state {
                        PinnedState::Active => println!("  {}", card.id),
                        state => println!("  {}  ({})", card.id, state_name(state)),
                    }
                }
            }
        }
        ContactCommand::Accept { identity } => {
            let cards = virgil.contacts().accept(&identity)?;
            println!("accepted {} card(s) of {identity}", cards.len());
        }
        ContactCommand::Verify { identity, code } => {
            let me = virgil
                .own_identity()
                .map(|me| me.identity)
                .ok_or(virgil::Error::NotLoggedIn)?;
            let ours = virgil.contacts().verification_code(&identity)?;
            println!("safety number of {me} and {identity}:\n  {}", ours.number);
            println!("verification code (QR-ready):\n  {}", ours.encode());
            match code {
                None => println!(
                    "if {identity} sees the same number, run `virgil contact trust {identity}`"
                ),
                Some(code) => compare_codes(&virgil, &identity, &ours, &code)?,
            }
        }
        ContactCommand::Trust { identity } => {
            let cards = virgil.contacts().trust(&identity)?;
            println!(
                "{identity} verified ({} card(s) pinned); a key change of theirs will be refused until verified again",
                cards.len()
            );
        }
    }
    global.keep_refreshed_session(&virgil)?;
    Ok(())
}

/// Compares `theirs` (the contact's verification code) with `ours`: the same safety
/// number, and one key directory seen by both devices.
fn compare_codes(
    virgil: &virgil::Virgil,
    identity: &str,
    ours: &virgil::card::VerificationCode,
    theirs: &str,
) -> Result<(), CliError> {
    let theirs =
        virgil::card::VerificationCode::parse(theirs).map_err(|e| CliError::new(e.to_string()))?;
    if theirs.number != ours.number {
        return Err(CliError::with(
            crate::error::Exit::Rejected,
            format!(
                "the safety numbers differ: {identity}'s device shows {}, this one {}; one of you is not using the other's real keys: do not trust {identity} until you find out why",
                theirs.number, ours.number
            ),
        ));
    }
    println!("the safety numbers match");
    let (Some(mine), Some(their_checkpoint)) = (&ours.checkpoint, &theirs.checkpoint) else {
        println!("(no key directory view to compare on one of the devices)");
        println!("run `virgil contact trust {identity}` to mark {identity} verified");
        return Ok(());
    };
    let their_checkpoint = their_checkpoint
        .verify(&[virgil.service_key().clone()])
        .map_err(|e| {
            CliError::with(
                crate::error::Exit::Rejected,
                format!("{identity}'s code: {e}"),
            )
        })?;
    #[cfg(feature = "server")]
    {
        crate::audit::same_chain(
            virgil,
            &mine.checkpoint,
            their_checkpoint,
            &format!("{identity}'s device"),
        )?;
        println!(
            "and both devices see one key directory (epochs {} and {} on one append-only chain)",
            mine.checkpoint.epoch, their_checkpoint.epoch
        );
    }
    #[cfg(not(feature = "server"))]
    {
        if mine.checkpoint.epoch == their_checkpoint.epoch && mine.checkpoint != *their_checkpoint {
            return Err(CliError::with(
                crate::error::Exit::Rejected,
                format!(
                    "ALARM: the cards service signed two different directories for epoch {}: one for this device, one for {identity}'s",
                    their_checkpoint.epoch
                ),
            ));
        }
        println!(
            "(this build cannot check directories of different epochs against each other; `virgil audit --compare` can)"
        );
    }
    println!("run `virgil contact trust {identity}` to mark {identity} verified");
    Ok(())
}
