//! `virgil-app-server`: the reference application server.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use virgil_app_server::command::{self, KEY_NAME, PASSWORD_VAR, ServeArgs};
use virgil_server::ServeError;
use virgil_server::command::{KeygenArgs, keygen};
use virgil_server::runtime;

/// The reference application server: users, logins, card approval, access tokens for
/// the cards service, and a relay for encrypted messages.
///
/// Options can also be given in a TOML file (--config) and as environment variables;
/// the command line wins over the environment, which wins over the file. The
/// application key's password is read from VIRGIL_APP_KEY_PASSWORD.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Examples:\n  \
    virgil-app-server keygen --out app.key      # register its public key with the cards service\n  \
    VIRGIL_APP_KEY_PASSWORD=… virgil-app-server serve --app-id chat --app-key-file app.key \\\n      \
    --cards-url http://127.0.0.1:8080 --cards-service-key VksB… --database-url 'sqlite://app.db?mode=rwc'\n  \
    virgil-app-server serve --config app.toml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTP API (see docs/api.md).
    Serve(Box<ServeArgs>),
    /// Create an application key, locked with VIRGIL_APP_KEY_PASSWORD, and print its
    /// public key (register it with the cards service: --app APP_ID=KEY).
    Keygen(KeygenArgs),
    /// Create an account directly in the database, password from VIRGIL_ACCOUNT_PASSWORD
    /// (for registration = "closed").
    AddUser(command::AccountArgs),
    /// Set an account's password (from VIRGIL_ACCOUNT_PASSWORD) and end every session
    /// of the account, e.g. after the user reports a stolen password.
    SetPassword(command::AccountArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => {
            keygen(&args, KEY_NAME, PASSWORD_VAR, "application key").map_err(ServeError::from)
        }
        Command::Serve(args) => runtime::block_on(command::serve(*args)),
        Command::AddUser(args) => runtime::block_on(command::add_user(args)),
        Command::SetPassword(args) => runtime::block_on(command::set_password(args)),
    };
    runtime::exit("virgil-app-server", result)
}
