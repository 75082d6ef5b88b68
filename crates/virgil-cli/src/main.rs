//! The `virgil` command-line tool: keys, cards, encryption, an account on the app
//! server and its relay, the servers themselves, and the end-to-end demo.
//! docs/cli.md is the manual.
#![forbid(unsafe_code)]

mod account;
#[cfg(feature = "server")]
mod audit;
mod backup;
mod card;
mod config;
mod contact;
mod crypt;
#[cfg(feature = "server")]
mod demo;
mod device;
mod error;
#[cfg(feature = "server")]
mod init;
mod key;
mod messages;
mod output;
mod password;
mod recipients;
#[cfg(feature = "server")]
mod serve;
mod unlock;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// End-to-end encryption in the style of Virgil Security, self-hosted: keys on your
/// device, cards (identity + public key) approved by your app and published by a cards
/// service, messages signed then encrypted for many recipients.
#[derive(Parser, Debug)]
#[command(
    name = "virgil",
    version,
    after_help = "Examples:\n  \
    virgil demo                                  # Alice and Bob, real servers, one command\n\n\
    A local deployment:\n  \
    virgil init --dir ./local --unprotected      # keys + configuration\n  \
    virgil serve cards --config ./local/cards.toml &\n  \
    virgil serve app --config ./local/app.toml &\n  \
    export VIRGIL_CONFIG=./local/client.toml\n  \
    virgil key generate alice && virgil register alice && virgil login alice\n  \
    virgil card publish\n  \
    echo 'Hey Bob' | virgil send bob\n\n\
    Exit codes: 0 ok, 1 error, 2 usage, 3 decryption or verification failed,\n\
    4 password/login/token problem, 5 server unreachable. Manual: docs/cli.md"
)]
struct Cli {
    #[command(flatten)]
    global: config::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[cfg(feature = "server")]
    #[command(
        after_help = "Examples:\n  cargo run -p virgil-cli -- demo\n  cargo run -p virgil-cli -- demo --suite pq\n  cargo run -p virgil-cli -- demo --backup"
    )]
    /// Run the whole tutorial in one process: start a cards service and an application
    /// server on 127.0.0.1 (temporary SQLite databases and key directories), register
    /// alice and bob, create, approve and publish their cards, send "Hey Bob, how's it
    /// going?" signed and encrypted through the relay, and decrypt and verify it as Bob.
    /// Exits 0 only if everything verified; leaves nothing behind. With `--suite pq`
    /// every key is post-quantum and encrypting to a classic card is refused.
    Demo {
        /// The suite of every user key: `classic` or `pq` (post-quantum X-Wing).
        #[arg(long, value_enum, default_value_t = key::SuiteArg::Classic)]
        suite: key::SuiteArg,
        /// Also: alice backs her key up, loses her device, restores the key on a new one
        /// and reads bob's reply.
        #[arg(long)]
        backup: bool,
    },
    /// Create server keys and configuration files for a local deployment.
    #[cfg(feature = "server")]
    Init(init::InitArgs),
    /// Run a server: `cards` (the cards service) or `app` (the application server).
    #[cfg(feature = "server")]
    #[command(subcommand)]
    Serve(serve::ServeCommand),
    /// Manage private keys (generate, list, show, export-public, delete, passwd, backup,
    /// restore).
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Manage cards (create, inspect, publish, find, get, list, reset, revoke).
    #[command(subcommand)]
    Card(card::CardCommand),
    /// Your devices: pair a new one with a short code (join, pair), list, revoke.
    #[command(subcommand)]
    Device(device::DeviceCommand),
    /// Contacts: the cards used for each person, key changes, safety numbers (list,
    /// accept, verify, trust).
    #[command(subcommand)]
    Contact(contact::ContactCommand),
    /// Create an account on the application server.
    #[command(
        after_help = "Example:\n  virgil register alice     # asks for the account password twice"
    )]
    Register {
        /// The username (1–64 of letters, digits, '.', '_', '-', '@').
        username: String,
        #[command(flatten)]
        password: password::AccountPasswordArgs,
    },
    /// Log in to the application server (saves a session in the home directory).
    #[command(after_help = "Example:\n  VIRGIL_ACCOUNT_PASSWORD=… virgil login alice")]
    Login {
        /// The username.
        username: String,
        #[command(flatten)]
        password: password::AccountPasswordArgs,
    },
    /// Check your own identity in the cards service's key directory: today's cards, and
    /// every version of them the directory ever published, proven against a checkpoint
    /// the service key signed. A card your device did not make (and no card of yours
    /// links), or a revoked card listed again, is an ALARM with its epoch (exit 3).
    /// `login` and `inbox` run the same check.
    #[command(after_help = "Example:\n  virgil monitor")]
    Monitor,
    /// Audit the cards service's key directory, as anyone may: every checkpoint signed
    /// by the pinned service key, every epoch append-only (akd's proofs) since the last
    /// audit, which is remembered; `--compare FILE` checks another auditor's or
    /// device's checkpoint against this service's (two roots for one epoch: ALARM, exit
    /// 3). Needs no login.
    #[cfg(feature = "server")]
    #[command(
        after_help = "Examples:\n  virgil audit\n  virgil audit --from 1 --state auditor.checkpoint\n  virgil audit --compare other-auditor.checkpoint"
    )]
    Audit(audit::AuditArgs),
    /// End the session at the application server and forget the saved login: the
    /// session stops at once, and its access to the cards service within 35 seconds
    /// (the access tokens' lifetime and the service's clock allowance).
    #[command(after_help = "Example:\n  virgil logout")]
    Logout,
    /// Change your account password (asks for the current one, then the new one twice);
    /// every other session of your account ends, and with it their access to the cards
    /// service within 35 seconds.
    #[command(
        after_help = "Example:\n  virgil passwd\n  VIRGIL_ACCOUNT_PASSWORD=… VIRGIL_NEW_ACCOUNT_PASSWORD=… virgil passwd"
    )]
    Passwd {
        #[command(flatten)]
        password: password::AccountPasswordArgs,
        #[command(flatten)]
        new: password::NewAccountPasswordArgs,
    },
    /// Your sessions on the application server (list, revoke: e.g. a lost device's).
    #[command(subcommand)]
    Session(account::SessionCommand),
    /// Sign and encrypt a short message (a file, or standard input) for a user and send
    /// it through the app server's relay.
    #[command(
        after_help = "Examples:\n  echo 'Hey Bob, how is it going?' | virgil send bob\n  virgil send bob note.txt"
    )]
    Send {
        /// The recipient's username.
        to: String,
        /// The message file, or - for standard input [default: -].
        file: Option<PathBuf>,
        /// Sign with this key [default: the logged-in user's name].
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        password: password::PasswordArgs,
    },
    /// Fetch new messages from the relay, decrypt them and verify each against its
    /// sender's card.
    #[command(
        after_help = "Example:\n  virgil inbox          # new messages since the last time\n  virgil inbox --all"
    )]
    Inbox {
        /// Show every message, not only new ones.
        #[arg(long)]
        all: bool,
        /// Decrypt with this key [default: the logged-in user's name].
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        password: password::PasswordArgs,
        /// Print JSON (docs/cli.md has the shape).
        #[arg(long)]
        json: bool,
    },
    /// Encrypt and sign a file or stream for identities, cards or public keys.
    Encrypt(crypt::EncryptArgs),
    /// Decrypt (and verify) a file or stream.
    Decrypt(crypt::DecryptArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell).
    #[command(
        after_help = "Examples:\n  virgil completions bash > ~/.local/share/bash-completion/completions/virgil\n  virgil completions zsh > ~/.zfunc/_virgil\n  virgil completions fish > ~/.config/fish/completions/virgil.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (virgil.1 and one per subcommand) into a directory.
    #[command(after_help = "Example:\n  virgil man --dir /usr/local/share/man/man1")]
    Man {
        /// Where to write them (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

/// The manual pages: `virgil.1`, and `virgil-SUB.1` (and `virgil-SUB-SUBSUB.1`) for every
/// subcommand, as (file name, roff text).
fn man_pages() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    fn render(
        command: &clap::Command,
        name: String,
        pages: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<(), std::io::Error> {
        let command = command
            .clone()
            .name(name.clone())
            .display_name(name.clone())
            .bin_name(name.replace('-', " "));
        let mut roff = Vec::new();
        clap_mangen::Man::new(command.clone()).render(&mut roff)?;
        pages.push((format!("{name}.1"), roff));
        for sub in command
            .get_subcommands()
            .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
        {
            render(sub, format!("{name}-{}", sub.get_name()), pages)?;
        }
        Ok(())
    }
    let mut pages = Vec::new();
    let command = cli_command();
    render(&command, "virgil".to_owned(), &mut pages)?;
    Ok(pages)
}

/// Seconds since the Unix epoch.
pub(crate) use virgil_api::unix_now as now;

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) use virgil_api::format_time;

fn run(cli: Cli) -> Result<(), error::CliError> {
    let global = &cli.global;
    match cli.command {
        #[cfg(feature = "server")]
        Command::Demo { suite, backup } => demo::run(suite.into(), backup),
        #[cfg(feature = "server")]
        Command::Init(args) => init::init(args),
        #[cfg(feature = "server")]
        Command::Serve(command) => serve::serve(command),
        Command::Key(command) => key::run(global, command),
        Command::Card(command) => card::run(global, command),
        Command::Contact(command) => contact::run(global, command),
        Command::Device(command) => device::run(global, command),
        Command::Register { username, password } => account::register(global, &username, &password),
        Command::Login { username, password } => account::login(global, &username, &password),
        Command::Logout => account::logout(global),
        Command::Monitor => card::run_monitor(global),
        #[cfg(feature = "server")]
        Command::Audit(args) => audit::run(global, args),
        Command::Passwd { password, new } => account::change_password(global, &password, &new),
        Command::Session(command) => account::session(global, command),
        Command::Send {
            to,
            file,
            key,
            password,
        } => messages::send(global, &to, file, key, &password),
        Command::Inbox {
            all,
            key,
            password,
            json,
        } => messages::inbox(global, all, key, &password, json),
        Command::Encrypt(args) => crypt::encrypt(global, args),
        Command::Decrypt(args) => crypt::decrypt(global, args),
        Command::Completions { shell } => {
            let mut command = cli_command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "virgil", &mut script);
            use std::io::Write as _;
            match std::io::stdout().write_all(&script) {
                // A closed pipe (`| head`) is not an error worth a message.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(error::CliError::new(
                    format!("cannot write the script: {e}"),
                )),
                _ => Ok(()),
            }
        }
        Command::Man { dir } => {
            std::fs::create_dir_all(&dir)
                .map_err(error::context(format!("cannot create {}", dir.display())))?;
            let pages = man_pages().map_err(error::context("cannot render the manual pages"))?;
            for (name, roff) in &pages {
                output::write(&dir.join(name), roff)?;
            }
            eprintln!("wrote {} manual pages to {}", pages.len(), dir.display());
            Ok(())
        }
    }
}

/// The global options of the client (`--home`, `--config`, `--accept-key-change`) apply
/// to every command, but the server-side commands do not read them: their help would
/// list options that do nothing there (`serve` has its own `--config`).
const SERVER_COMMANDS: [&str; 3] = ["serve", "init", "demo"];

/// `command` and its subcommands with the client options defined hidden (unless it has
/// its own option of that name), so the global ones are not copied in when the command
/// is built. Same ids, types and actions as [`config::Global`]'s.
fn hide_client_options(mut command: clap::Command) -> clap::Command {
    use clap::{Arg, ArgAction, value_parser};
    let hidden = [
        Arg::new("home")
            .long("home")
            .value_parser(value_parser!(PathBuf)),
        Arg::new("config")
            .long("config")
            .value_parser(value_parser!(PathBuf)),
        Arg::new("accept_key_change")
            .long("accept-key-change")
            .action(ArgAction::SetTrue),
    ];
    for arg in hidden {
        let id = arg.get_id().as_str().to_owned();
        if !command
            .get_arguments()
            .any(|own| own.get_id() == id.as_str())
        {
            command = command.arg(arg.hide(true));
        }
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, hide_client_options);
    }
    command
}

/// The command line as parsed, shown in `--help`, completed and in the manual pages.
fn cli_command() -> clap::Command {
    let mut command = <Cli as clap::CommandFactory>::command();
    for name in SERVER_COMMANDS {
        if command.find_subcommand(name).is_some() {
            command = command.mut_subcommand(name, hide_client_options);
        }
    }
    command
}

fn main() -> ExitCode {
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&cli_command().get_matches())
        .unwrap_or_else(|error| error.exit());
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("virgil: {}", error.message);
            ExitCode::from(error.exit as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help of the server-side commands lists only what they read; the client
    /// commands keep the client options, and both still parse them.
    #[test]
    fn server_commands_do_not_list_client_options() {
        let help = |args: &[&str]| -> String {
            match cli_command().try_get_matches_from(args) {
                Err(error) if error.kind() == clap::error::ErrorKind::DisplayHelp => {
                    error.to_string()
                }
                other => panic!("{args:?}: {other:?}"),
            }
        };
        for args in [
            &["virgil", "serve", "cards", "--help"][..],
            &["virgil", "serve", "app", "--help"],
            &["virgil", "init", "--help"],
            &["virgil", "demo", "--help"],
        ] {
            let text = help(args);
            for option in ["--home", "--accept-key-change", "The client configuration"] {
                assert!(!text.contains(option), "{args:?} lists {option}: {text}");
            }
        }
        let text = help(&["virgil", "key", "list", "--help"]);
        for option in ["--home", "--accept-key-change", "--config"] {
            assert!(text.contains(option), "key list: {option}");
        }
        let parsed = |args: &[&str]| {
            let matches = cli_command()
                .try_get_matches_from(args)
                .unwrap_or_else(|e| panic!("{e}"));
            <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let cli = parsed(&["virgil", "--home", "/h", "key", "list"]);
        assert_eq!(cli.global.home, Some(PathBuf::from("/h")));
        let cli = parsed(&["virgil", "init", "--home", "/h"]);
        assert_eq!(cli.global.home, Some(PathBuf::from("/h")));
    }

    #[test]
    fn every_command_has_an_example() {
        use clap::CommandFactory as _;
        fn check(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            if command.has_subcommands() {
                for sub in command.get_subcommands() {
                    check(sub, &path, missing);
                }
            } else if !command
                .get_after_help()
                .is_some_and(|help| help.to_string().contains("Example"))
            {
                missing.push(path);
            }
        }
        let mut missing = Vec::new();
        check(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
    }

    /// `virgil --help` lists each command with its subcommands: none is left out.
    #[test]
    fn each_command_summary_names_all_its_subcommands() {
        use clap::CommandFactory as _;
        let mut missing = Vec::new();
        for command in Cli::command().get_subcommands() {
            let about = command
                .get_about()
                .map(|about| about.to_string().to_lowercase())
                .unwrap_or_default();
            for sub in command.get_subcommands() {
                let name = sub.get_name();
                if name != "help" && !about.contains(name) {
                    missing.push(format!("{} {name}", command.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "not in `virgil --help`: {missing:?}");
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
