//! `virgil register|login|logout|send|inbox`: an account on the application server and
//! its message relay. `send` signs and encrypts for the recipient's cards; `inbox`
//! decrypts and verifies against the sender's cards.

use crate::cards;
use crate::config::{Global, Session};
use crate::error::{CliError, Exit, context};
use crate::keys;
use crate::password::{self, ACCOUNT_PASSWORD_VAR, PasswordArgs};
use std::collections::HashMap;
use std::io::Read as _;
use std::path::PathBuf;
use virgil_card::Card;
use virgil_crypto::encoding::from_base64;
use virgil_crypto::{PublicKey, envelope};

/// The largest message `send` accepts (the relay takes 1 MiB of base64 JSON).
pub(crate) const MAX_MESSAGE_BYTES: usize = 700 * 1024;

/// Where the account password comes from.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct AccountPasswordArgs {
    /// Read the account password from the first line of this file (else
    /// VIRGIL_ACCOUNT_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE")]
    pub(crate) account_password_file: Option<PathBuf>,
}

fn account_password(
    args: &AccountPasswordArgs,
    username: &str,
    confirm: bool,
) -> Result<zeroize::Zeroizing<String>, CliError> {
    password::read(
        args.account_password_file.as_deref(),
        ACCOUNT_PASSWORD_VAR,
        &format!("Account password for {username:?}: "),
        confirm,
    )
}

/// `virgil register`.
pub(crate) fn register(
    global: &Global,
    username: &str,
    args: &AccountPasswordArgs,
) -> Result<(), CliError> {
    let config = global.client_config()?;
    let password = account_password(args, username, true)?;
    config
        .app_client()?
        .register(username, &password)
        .map_err(|e| CliError::client("the app server", e))?;
    println!(
        "registered {username:?} at {}; next: virgil login {username}",
        config.app_url
    );
    Ok(())
}

/// `virgil login`.
pub(crate) fn login(
    global: &Global,
    username: &str,
    args: &AccountPasswordArgs,
) -> Result<(), CliError> {
    let config = global.client_config()?;
    let password = account_password(args, username, false)?;
    let response = config
        .app_client()?
        .login(username, &password)
        .map_err(|e| CliError::client("the app server", e))?;
    let minutes = response
        .access_token_expires_at
        .saturating_sub(crate::now())
        / 60;
    // A new login of the same user keeps the inbox position.
    let inbox_cursor = global
        .session()
        .ok()
        .filter(|old| old.username == username)
        .map_or(0, |old| old.inbox_cursor);
    global.save_session(&Session {
        username: username.to_owned(),
        response,
        inbox_cursor,
    })?;
    println!("logged in as {username:?} (cards service access for {minutes} minutes)");
    Ok(())
}

/// `virgil logout`.
pub(crate) fn logout(global: &Global) -> Result<(), CliError> {
    if global.delete_session()? {
        println!("logged out");
    } else {
        println!("not logged in");
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
    let config = global.client_config()?;
    let session = global.session()?;
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
    let recipients = cards::resolve(global, &config, &[to.to_owned(), session.username.clone()])?;
    let keys: Vec<&PublicKey> = recipients.iter().map(|card| card.public_key()).collect();
    let key_name = key.unwrap_or_else(|| session.username.clone());
    let private = keys::load(global, &key_name, password)?;
    let ciphertext = envelope::sign_then_encrypt(&message, &private, &keys)
        .map_err(context("cannot encrypt"))?;
    let id = config
        .app_client()?
        .send_message(&session.response, to, &ciphertext)
        .map_err(|e| CliError::client("the app server", e))?;
    println!(
        "sent to {to} (message {id}), signed and encrypted for {} card(s)",
        keys.len()
    );
    Ok(())
}

/// `virgil inbox`.
pub(crate) fn inbox(
    global: &Global,
    all: bool,
    key: Option<String>,
    password: &PasswordArgs,
) -> Result<(), CliError> {
    let config = global.client_config()?;
    let mut session = global.session()?;
    let app = config.app_client()?;
    let cards_client = config.cards_client(&session)?;
    let key_name = key.unwrap_or_else(|| session.username.clone());
    let private = keys::load(global, &key_name, password)?;
    let mut cursor = if all { 0 } else { session.inbox_cursor };
    let mut sender_cards: HashMap<String, Vec<Card>> = HashMap::new();
    let (mut shown, mut rejected) = (0usize, 0usize);
    loop {
        let page = app
            .inbox(&session.response, cursor)
            .map_err(|e| CliError::client("the app server", e))?;
        if page.messages.is_empty() {
            break;
        }
        let page_start = cursor;
        for message in &page.messages {
            if !sender_cards.contains_key(&message.from) {
                let found = cards_client
                    .search(&[message.from.as_str()], None)
                    .map_err(|e| CliError::client("the cards service", e))?;
                sender_cards.insert(
                    message.from.clone(),
                    found.into_iter().map(|published| published.card).collect(),
                );
            }
            let candidates: Vec<&PublicKey> = sender_cards
                .get(&message.from)
                .map(|cards| cards.iter().map(|card| card.public_key()).collect())
                .unwrap_or_default();
            let header = format!(
                "#{} from {} at {}",
                message.id,
                message.from,
                crate::format_time(message.sent_at)
            );
            let opened = from_base64(&message.body)
                .map_err(|_| virgil_crypto::Error::Malformed)
                .and_then(|bytes| envelope::decrypt_then_verify(&bytes, &private, &candidates));
            match opened {
                Ok(verified) => {
                    println!("{header} (signature verified)");
                    let text = String::from_utf8_lossy(&verified.plaintext);
                    println!("{}", text.strip_suffix('\n').unwrap_or(&text));
                    shown += 1;
                }
                Err(error) => {
                    let why = match error {
                        virgil_crypto::Error::NotARecipient => {
                            format!("not encrypted for key {key_name:?}")
                        }
                        virgil_crypto::Error::UnknownSender
                        | virgil_crypto::Error::BadSignature
                            if candidates.is_empty() =>
                        {
                            format!("{} has no published card to verify it with", message.from)
                        }
                        virgil_crypto::Error::UnknownSender
                        | virgil_crypto::Error::BadSignature => {
                            format!("signature does not match {}'s card", message.from)
                        }
                        virgil_crypto::Error::NotSigned => "not signed".to_owned(),
                        _ => "the message was modified or is damaged".to_owned(),
                    };
                    println!("{header} REJECTED: {why}");
                    rejected += 1;
                }
            }
            cursor = cursor.max(message.id);
        }
        cursor = cursor.max(page.next_cursor);
        if cursor <= page_start {
            // A server that does not move the cursor forward would loop us forever.
            return Err(CliError::new(
                "the app server's inbox cursor did not advance; stopping",
            ));
        }
    }
    session.inbox_cursor = session.inbox_cursor.max(cursor);
    global.save_session(&session)?;
    if shown == 0 && rejected == 0 {
        println!("no new messages");
    }
    if rejected > 0 {
        return Err(CliError::with(
            Exit::Rejected,
            format!("{rejected} message(s) failed decryption or verification and were not shown"),
        ));
    }
    Ok(())
}
