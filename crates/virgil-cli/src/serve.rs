//! `virgil serve cards|app`: the server binaries' `serve`, with the same options.

use crate::error::CliError;
use clap::Subcommand;
use virgil_deploy::{app_server, block_on, cards_service};

/// `virgil serve` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ServeCommand {
    /// Run the cards service (the same as `virgil-cards-service serve`).
    #[command(
        after_help = "Example:\n  VIRGIL_SERVICE_KEY_PASSWORD=… virgil serve cards --config local/cards.toml"
    )]
    Cards(cards_service::command::ServeArgs),
    /// Run the application server (the same as `virgil-app-server serve`).
    #[command(
        after_help = "Example:\n  VIRGIL_APP_KEY_PASSWORD=… virgil serve app --config local/app.toml"
    )]
    App(app_server::command::ServeArgs),
}

/// Runs a server until SIGINT/SIGTERM.
pub(crate) fn serve(command: ServeCommand) -> Result<(), CliError> {
    match command {
        ServeCommand::Cards(args) => block_on(cards_service::command::serve(args)),
        ServeCommand::App(args) => block_on(app_server::command::serve(args)),
    }
    .map_err(|e| CliError::new(e.to_string()))
}
