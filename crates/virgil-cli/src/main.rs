//! The `virgil` command-line tool.
//!
//! Today it runs the end-to-end demo (`virgil demo`); key, card and encryption commands
//! and `virgil serve …` come next.
#![forbid(unsafe_code)]

mod demo;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// End-to-end encryption in the style of Virgil Security, self-hosted.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Example:\n  virgil demo        # Alice sends Bob a signed, encrypted message through real servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole tutorial in one process: start a cards service and an application
    /// server on 127.0.0.1 (temporary SQLite databases and key directories), register
    /// alice and bob, create, approve and publish their cards, send "Hey Bob, how's it
    /// going?" signed and encrypted through the relay, and decrypt and verify it as Bob.
    /// Exits 0 only if everything verified; leaves nothing behind.
    Demo,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Demo => match demo::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("virgil demo: FAILED: {message}");
                ExitCode::FAILURE
            }
        },
    }
}
