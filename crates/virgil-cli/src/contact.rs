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
        after_help = "Example:\n  virgil contact verify bob     # bob runs: virgil contact verify alice"
    )]
    Verify {
        /// The contact's identity.
        identity: String,
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
        ContactCommand::Verify { identity } => {
            let me = virgil
                .own_identity()
                .map(|me| me.identity)
                .ok_or(virgil::Error::NotLoggedIn)?;
            let number = virgil.contacts().safety_number(&identity)?;
            println!("safety number of {me} and {identity}:\n  {number}");
            println!("if {identity} sees the same number, run `virgil contact trust {identity}`");
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
