//! `virgil register|login|logout|passwd|session`: an account on the application server.

use crate::config::{Global, Session};
use crate::error::CliError;
use crate::password::{AccountPasswordArgs, account_password};

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
    match crate::card::self_check(&virgil)? {
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
