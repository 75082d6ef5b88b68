//! The command line of the cards service: the `virgil-cards-service` binary is
//! [`main`]; `virgil serve cards` is [`ServeArgs`] + [`serve`] (`keygen` is
//! [`virgil_server::command::keygen`] with [`KEY_NAME`] and [`PASSWORD_VAR`]).

use crate::config::{ApplicationConfig, Config};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use virgil_server::command::{KeygenArgs, ServeCommon, keygen};
use virgil_server::{ConfigError, ServeError, runtime};

pub use crate::config::PASSWORD_VAR;
/// The name recorded inside the service key file.
pub const KEY_NAME: &str = "service";

/// Options of `serve`. Each can also be set in the TOML file (`--config`) and as an
/// environment variable; the command line wins over the environment, which wins over
/// the file.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(
    mut_arg("config", |arg| arg.env("VIRGIL_CARDS_CONFIG").help(
        "A TOML configuration file (listen, database_url, service_key_file and one \
         applications entry per app: app_id, public_key)"
    )),
    mut_arg("listen", |arg| arg.env("VIRGIL_CARDS_LISTEN").help(
        "Address to listen on; port 0 picks a free port (printed at start) \
         [default: 127.0.0.1:8080]"
    )),
    mut_arg("database_url", |arg| arg.env("VIRGIL_CARDS_DATABASE_URL").help(
        "sqlite://PATH?mode=rwc or postgres://USER@HOST/DB [default: sqlite://cards.db?mode=rwc]"
    )),
)]
pub struct ServeArgs {
    /// --config, --listen, --database-url, --log-format and TLS.
    #[command(flatten)]
    pub common: ServeCommon,
    /// The service key file made by `keygen`; its password comes from
    /// VIRGIL_SERVICE_KEY_PASSWORD.
    #[arg(long, env = "VIRGIL_CARDS_SERVICE_KEY_FILE")]
    pub service_key_file: Option<PathBuf>,
    /// Register an application: APP_ID=BASE64_PUBLIC_KEY (repeatable; adds to the file's).
    #[arg(long = "app", value_name = "APP_ID=KEY")]
    pub apps: Vec<String>,
}

/// Applies the command line over the file's configuration.
pub fn resolve(args: ServeArgs) -> Result<Config, ConfigError> {
    let common = args.common;
    let mut config = match &common.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.cors_origins = common.cors_origins(std::mem::take(&mut config.cors_origins));
    config.listen = common.listen.or(config.listen);
    config.database_url = common.database_url.or(config.database_url);
    config.service_key_file = args.service_key_file.or(config.service_key_file);
    config.tls = common.tls.resolve(config.tls);
    config.log_format = common.log_format.or(config.log_format);
    for app in &args.apps {
        let (app_id, public_key) = app.split_once('=').ok_or_else(|| {
            ConfigError::invalid(
                format!("--app {app:?}"),
                "expected APP_ID=BASE64_PUBLIC_KEY",
            )
        })?;
        config.applications.push(ApplicationConfig {
            app_id: app_id.to_owned(),
            public_key: public_key.to_owned(),
        });
    }
    Ok(config)
}

/// `health`: asks the server these options describe for `/v1/health`
/// ([`virgil_server::health::check`]); prints its answer.
pub async fn health(args: ServeArgs) -> Result<(), ServeError> {
    let config = resolve(args)?;
    virgil_server::health::run(config.listen(), config.tls.as_ref()).await
}

/// `serve`: runs the service until SIGINT/SIGTERM, then finishes in-flight requests.
/// Prints `listening on https://ADDRESS` (`http://` without TLS) on stdout once it
/// accepts connections.
pub async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    let insecure_http = args.common.tls.insecure_http;
    let config = resolve(args)?;
    runtime::init_logging(config.log_format.unwrap_or_default());
    let password = std::env::var(PASSWORD_VAR).ok();
    let service_key = config.service_key(password.as_deref().map(str::as_bytes))?;
    let service_key_id = service_key.key_id().to_string();
    let server = crate::server::build(&config, service_key).await?;
    let listen = config.listen();
    server
        .serve_until_signal(listen, config.tls.as_ref(), insecure_http, || {
            tracing::info!(address = %listen, service_key_id, "cards service started");
        })
        .await
}

/// The self-hosted cards service: verifies, countersigns, stores and serves cards.
///
/// Options can also be given in a TOML file (--config) and as environment variables;
/// the command line wins over the environment, which wins over the file. The service
/// key's password is read from VIRGIL_SERVICE_KEY_PASSWORD.
#[derive(Parser, Debug)]
#[command(
    name = "virgil-cards-service",
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
    /// Ask the cards service that the same options describe whether it is healthy
    /// (`GET /v1/health` on its listen address, loopback for 0.0.0.0, accepting exactly
    /// its configured TLS certificate): exit 0 and the answer, or exit 1 and why not. For
    /// container and service-manager health checks.
    Health(Box<ServeArgs>),
    /// Create a service key, locked with VIRGIL_SERVICE_KEY_PASSWORD, and print its public
    /// key for clients to pin.
    Keygen(KeygenArgs),
}

/// The `virgil-cards-service` binary: parses the command line, runs the command,
/// reports an error as `virgil-cards-service: message` with exit code 1.
pub fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Keygen(args) => {
            keygen(&args, KEY_NAME, PASSWORD_VAR, "service key").map_err(ServeError::from)
        }
        Command::Serve(args) => runtime::block_on(serve(*args)),
        Command::Health(args) => runtime::block_on(health(*args)),
    };
    runtime::exit("virgil-cards-service", result)
}
