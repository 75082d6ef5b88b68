//! `virgil-cards-service`: the self-hosted cards service.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use virgil_cards_service::command::{self, KEY_NAME, PASSWORD_VAR, ServeArgs};
use virgil_server::ServeError;
use virgil_server::command::{KeygenArgs, keygen};
use virgil_server::runtime;

/// The self-hosted cards service: verifies, countersigns, stores and serves cards.
///
/// Options can also be given in a TOML file (--config) and as environment variables;
/// the command line wins over the environment, which wins over the file. The service
/// key's password is read from VIRGIL_SERVICE_KEY_PASSWORD.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Examples:\n  \
    virgil-cards-service keygen --out service.key\n  \
    VIRGIL_SERVICE_KEY_PASSWORD=… virgil-cards-service serve --service-key-file service.key \\\n      \
    --database-url 'sqlite://cards.db?mode=rwc' --app chat=VksB…\n  \
    virgil-cards-service serve --config cards.toml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTP API (see docs/api.md).
    Serve(Box<ServeArgs>),
    /// Create a service key, locked with VIRGIL_SERVICE_KEY_PASSWORD, and print its public
    /// key for clients to pin.
    Keygen(KeygenArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => {
            keygen(&args, KEY_NAME, PASSWORD_VAR, "service key").map_err(ServeError::from)
        }
        Command::Serve(args) => runtime::block_on(command::serve(*args)),
    };
    runtime::exit("virgil-cards-service", result)
}
