//! `virgil send|inbox`: the application server's message relay. `send` signs and
//! encrypts for the recipient's cards; `inbox` decrypts and verifies against the
//! sender's cards.

use crate::config::{Global, Session};
use crate::error::{CliError, Exit, context};
use crate::key;
use crate::password::PasswordArgs;
use std::io::Read as _;
use std::path::PathBuf;
use virgil::Error;
use virgil::client::ClientError;
use virgil_api::ErrorCode;

/// The largest message `send` accepts (the relay takes 1 MiB of base64 JSON).
pub(crate) const MAX_MESSAGE_BYTES: usize = 700 * 1024;

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
    let private = key::load(virgil.keys(), &key_name, password)?;
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
    crate::card::announce(&sent.events);
    global.keep_refreshed_session(&virgil)?;
    println!(
        "sent to {to} (message {}), signed and encrypted for {} card(s)",
        sent.id, sent.cards
    );
    Ok(())
}

/// Why `virgil inbox` did not show a message, in the user's terms.
fn why_rejected(error: &Error, key_name: &str, from: &str) -> String {
    match error {
        Error::NotForThisKey { .. } => format!("not encrypted for key {key_name:?}"),
        Error::SenderHasNoCard { identity } => {
            format!("{identity} has no published card to verify it with")
        }
        Error::WrongSender { .. } => format!("signature does not match {from}'s card"),
        Error::NotSigned { .. } => "not signed".to_owned(),
        Error::KeyChanged(change) => change.to_string(),
        Error::RevokedCardOffered { .. } => error.to_string(),
        _ => "the message was modified or is damaged".to_owned(),
    }
}

/// One message of `virgil inbox --json`.
fn message_json(
    received: &virgil::Received,
    outcome: &Result<&virgil::Buffer, String>,
) -> serde_json::Value {
    let mut entry = serde_json::json!({
        "id": received.id,
        "from": received.from,
        "sent_at": received.sent_at,
        "verified": outcome.is_ok(),
    });
    if let Some(fields) = entry.as_object_mut() {
        match outcome {
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
    entry
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
    let private = key::load(virgil.keys(), &key_name, password)?;
    let cursor = if all { 0 } else { saved.inbox_cursor };
    // Every read also checks the user's own cards: an alarm is printed first, the
    // messages still shown, and the exit status is 3.
    let alarm = crate::card::self_check(&virgil)?;
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
        let outcome = received
            .message
            .as_ref()
            .map_err(|error| why_rejected(error, &key_name, &received.from));
        match &outcome {
            Ok(_) => shown += 1,
            Err(_) => rejected += 1,
        }
        if json {
            json_messages.push(message_json(received, &outcome));
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
