//! `virgil register|login|logout|send|inbox`: an account on the application server and
//! its message relay. `send` signs and encrypts for the recipient's cards; `inbox`
//! decrypts and verifies against the sender's cards.

use crate::config::{Global, Session};
use crate::error::{CliError, Exit, context};
use crate::keys;
use crate::password::{AccountPasswordArgs, PasswordArgs, account_password};
use std::io::Read as _;
use std::path::PathBuf;
use virgil::Error;
use virgil::client::ClientError;
use virgil_api::ErrorCode;

/// The largest message `send` accepts (the relay takes 1 MiB of base64 JSON).
pub(crate) const MAX_MESSAGE_BYTES: usize = 700 * 1024;

/// `virgil register`.
pub(crate) fn register(
    global: &Global,
    username: &str,
    args: &AccountPasswordArgs,
) -> Result<(), CliError> {
    let config = global.client_config()?;
    let virgil = global.virgil()?;
    let password = account_password(args, username, true)?;
    virgil.account().register(username, &password)?;
    println!(
        "registered {username:?} at {}; next: virgil login {username}",
        config.file.app_url
    );
    Ok(())
}

/// `virgil login`.
pub(crate) fn login(
    global: &Global,
    username: &str,
    args: &AccountPasswordArgs,
) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let password = account_password(args, username, false)?;
    let session = virgil.account().login(username, &password)?;
    let minutes = session
        .response
        .access_token_expires_at
        .saturating_sub(crate::now())
        / 60;
    // A new login of the same user keeps the inbox position.
    let inbox_cursor = global
        .session()
        .ok()
        .filter(|old| old.session.username == username)
        .map_or(0, |old| old.inbox_cursor);
    global.save_session(&Session {
        session,
        inbox_cursor,
    })?;
    println!("logged in as {username:?} (cards service access tokens refreshed as you go)");
    let _ = minutes;
    match crate::cards::self_check(&virgil)? {
        Some(alarm) => Err(alarm),
        None => Ok(()),
    }
}

/// `virgil passwd`: changes the account password; every other session ends.
pub(crate) fn change_password(
    global: &Global,
    args: &AccountPasswordArgs,
    new: &crate::password::NewAccountPasswordArgs,
) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let username = global.session()?.session.username;
    let current = account_password(args, &username, false)?;
    let new = crate::password::new_account_password(new, &username)?;
    virgil.account().change_password(&current, &new)?;
    global.keep_refreshed_session(&virgil)?;
    println!(
        "password of {username:?} changed; every other session of the account ended (their access to the cards service stops within 35 s)"
    );
    Ok(())
}

/// `virgil logout`.
pub(crate) fn logout(global: &Global) -> Result<(), CliError> {
    if global.saved_session()?.is_none() {
        println!("not logged in");
        return Ok(());
    }
    let virgil = global.virgil()?;
    virgil.account().logout()?;
    global.delete_session()?;
    println!("logged out (the session was ended at the app server)");
    Ok(())
}

/// `virgil session` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum SessionCommand {
    /// List your live sessions (this device's is marked).
    #[command(after_help = "Example:\n  virgil session list")]
    List {
        /// Print JSON (docs/cli.md has the shape).
        #[arg(long)]
        json: bool,
    },
    /// End a session at once (an id from `virgil session list`), e.g. of a lost device.
    #[command(after_help = "Example:\n  virgil session revoke 3f5c0a9e1b2d4c6f")]
    Revoke {
        /// The session id (16 hex digits).
        id: String,
    },
}

/// `virgil session …`.
pub(crate) fn session(global: &Global, command: SessionCommand) -> Result<(), CliError> {
    global.session()?;
    let virgil = global.virgil()?;
    match command {
        SessionCommand::List { json } => {
            let sessions = virgil.account().sessions()?;
            if json {
                return crate::output::print_json(&serde_json::json!({
                    "sessions": sessions.iter().map(|session| serde_json::json!({
                        "id": session.id,
                        "expires_at": session.expires_at,
                        "current": session.current,
                    })).collect::<Vec<_>>(),
                }));
            }
            for session in sessions {
                println!(
                    "{}  expires {}{}",
                    session.id,
                    crate::format_time(i64::try_from(session.expires_at).unwrap_or(i64::MAX)),
                    if session.current {
                        "  (this device)"
                    } else {
                        ""
                    }
                );
            }
        }
        SessionCommand::Revoke { id } => {
            virgil.account().end_session(&id)?;
            println!("session {id} ended");
        }
    }
    Ok(())
}

/// `virgil send`.
pub(crate) fn send(
    global: &Global,
    to: &str,
    input: Option<PathBuf>,
    key: Option<String>,
    password: &PasswordArgs,
) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let username = global.session()?.session.username;
    let mut message = Vec::new();
    let limit = u64::try_from(MAX_MESSAGE_BYTES + 1).unwrap_or(u64::MAX);
    match input.as_deref().filter(|path| path.as_os_str() != "-") {
        Some(path) => std::fs::File::open(path)
            .and_then(|file| file.take(limit).read_to_end(&mut message))
            .map_err(context(format!("cannot read {}", path.display())))?,
        None => std::io::stdin()
            .take(limit)
            .read_to_end(&mut message)
            .map_err(context("cannot read standard input"))?,
    };
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(CliError::new(format!(
            "the message is over {} KiB, too large for the relay; use `virgil encrypt` and send the file another way",
            MAX_MESSAGE_BYTES / 1024
        )));
    }
    let key_name = key.unwrap_or(username);
    let private = keys::load(virgil.keys(), &key_name, password)?;
    let sent = virgil
        .messages()
        .send(to, &private, &message)
        .map_err(|error| match error {
            virgil::Error::AppServer(ClientError::Api {
                code: ErrorCode::StorageUnavailable,
                retry_after_seconds,
                ..
            }) => CliError::with(
                Exit::Unavailable,
                format!(
                    "the server could not store your message; it was not sent: try again in {} s",
                    retry_after_seconds.unwrap_or(5)
                ),
            ),
            other => other.into(),
        })?;
    crate::cards::announce(&sent.events);
    global.keep_refreshed_session(&virgil)?;
    println!(
        "sent to {to} (message {}), signed and encrypted for {} card(s)",
        sent.id, sent.cards
    );
    Ok(())
}

/// `virgil inbox`.
pub(crate) fn inbox(
    global: &Global,
    all: bool,
    key: Option<String>,
    password: &PasswordArgs,
    json: bool,
) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let saved = global.session()?;
    let key_name = key.unwrap_or_else(|| saved.session.username.clone());
    let private = keys::load(virgil.keys(), &key_name, password)?;
    let cursor = if all { 0 } else { saved.inbox_cursor };
    // Every read also checks the user's own cards: an alarm is printed first, the
    // messages still shown, and the exit status is 3.
    let alarm = crate::cards::self_check(&virgil)?;
    let read = virgil.messages().inbox(&private, cursor)?;
    let (mut shown, mut rejected) = (0usize, 0usize);
    let mut json_messages = Vec::new();
    for received in &read.messages {
        let header = format!(
            "#{} from {} at {}",
            received.id,
            received.from,
            crate::format_time(received.sent_at)
        );
        let outcome = received.message.as_ref().map_err(|error| match error {
            Error::NotForThisKey { .. } => format!("not encrypted for key {key_name:?}"),
            Error::SenderHasNoCard { identity } => {
                format!("{identity} has no published card to verify it with")
            }
            Error::WrongSender { .. } => {
                format!("signature does not match {}'s card", received.from)
            }
            Error::NotSigned { .. } => "not signed".to_owned(),
            Error::KeyChanged(change) => change.to_string(),
            Error::RevokedCardOffered { .. } => error.to_string(),
            _ => "the message was modified or is damaged".to_owned(),
        });
        match &outcome {
            Ok(_) => shown += 1,
            Err(_) => rejected += 1,
        }
        if json {
            let mut entry = serde_json::json!({
                "id": received.id,
                "from": received.from,
                "sent_at": received.sent_at,
                "verified": outcome.is_ok(),
            });
            if let Some(fields) = entry.as_object_mut() {
                match &outcome {
                    Ok(plaintext) => {
                        let bytes = plaintext.as_bytes();
                        fields.insert("text".into(), std::str::from_utf8(bytes).ok().into());
                        fields.insert(
                            "base64".into(),
                            virgil::crypto::encoding::to_base64(bytes).into(),
                        );
                    }
                    Err(why) => {
                        fields.insert("error".into(), why.clone().into());
                    }
                }
            }
            json_messages.push(entry);
            continue;
        }
        match outcome {
            Ok(plaintext) => {
                println!("{header} (signature verified)");
                let text = String::from_utf8_lossy(plaintext.as_bytes());
                println!("{}", text.strip_suffix('\n').unwrap_or(&text));
            }
            Err(why) => println!("{header} REJECTED: {why}"),
        }
    }
    // Saved with the freshest tokens (they may have been refreshed on the way).
    global.save_session(&Session {
        session: virgil.account().session().unwrap_or(saved.session),
        inbox_cursor: saved.inbox_cursor.max(read.cursor),
    })?;
    if json {
        crate::output::print_json(&serde_json::json!({
            "messages": json_messages,
            "cursor": read.cursor,
        }))?;
    } else if shown == 0 && rejected == 0 {
        println!("no new messages");
    }
    if let Some(alarm) = alarm {
        return Err(alarm);
    }
    if rejected > 0 {
        return Err(CliError::with(
            Exit::Rejected,
            format!("{rejected} message(s) failed decryption or verification and were not shown"),
        ));
    }
    Ok(())
}
