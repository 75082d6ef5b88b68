//! The command line of the application server: the `virgil-app-server` binary is
//! [`main`]; `virgil serve app` is [`ServeArgs`] + [`serve`].

use crate::accounts::{check_password, check_username, new_user_record};
use crate::config::Config;
use crate::server::Registration;
use crate::store::{AppStore, UserRecord};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use virgil_server::command::{KeygenArgs, ServeCommon, keygen};
use virgil_server::{ConfigError, ServeError, runtime};

/// The environment variable the application key's password is read from.
pub const PASSWORD_VAR: &str = "VIRGIL_APP_KEY_PASSWORD";
/// The name recorded inside the application key file.
pub const KEY_NAME: &str = "app";

/// Options of `serve`. Each can also be set in the TOML file (`--config`) and as an
/// environment variable; the command line wins over the environment, which wins over
/// the file.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(
    mut_arg("config", |arg| arg.env("VIRGIL_APP_CONFIG").help(
        "A TOML configuration file (listen, database_url, app_id, app_key_file, cards_url, \
         cards_service_key, password_iterations)"
    )),
    mut_arg("listen", |arg| arg.env("VIRGIL_APP_LISTEN").help(
        "Address to listen on; port 0 picks a free port (printed at start) \
         [default: 127.0.0.1:8081]"
    )),
    mut_arg("database_url", |arg| arg.env("VIRGIL_APP_DATABASE_URL").help(
        "sqlite://PATH?mode=rwc or postgres://USER@HOST/DB [default: sqlite://app.db?mode=rwc]"
    )),
)]
pub struct ServeArgs {
    /// --config, --listen, --database-url, --log-format and TLS.
    #[command(flatten)]
    pub common: ServeCommon,
    /// The application id its cards carry.
    #[arg(long, env = "VIRGIL_APP_ID")]
    pub app_id: Option<String>,
    /// The application key file made by `keygen`; its password comes from
    /// VIRGIL_APP_KEY_PASSWORD.
    #[arg(long, env = "VIRGIL_APP_KEY_FILE")]
    pub app_key_file: Option<PathBuf>,
    /// The cards service's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "VIRGIL_APP_CARDS_URL")]
    pub cards_url: Option<String>,
    /// The cards service's public key (base64), as printed by its keygen.
    #[arg(long, env = "VIRGIL_APP_CARDS_SERVICE_KEY")]
    pub cards_service_key: Option<String>,
    /// PBKDF2 iterations for user passwords [default: 600000].
    #[arg(long, env = "VIRGIL_APP_PASSWORD_ITERATIONS")]
    pub password_iterations: Option<u32>,
    /// The CA certificate (PEM) to trust for an https:// cards URL [default: the public
    /// web's CAs].
    #[arg(long, env = "VIRGIL_APP_CARDS_CA_FILE")]
    pub cards_ca_file: Option<PathBuf>,
    /// Who may register: open (anyone) or closed (only `add-user`) [default: open].
    #[arg(long, env = "VIRGIL_APP_REGISTRATION", value_enum)]
    pub registration: Option<Registration>,
    /// Serve the web chat from this folder at /chat/ (crates/virgil-js: `npm run
    /// build:web` makes dist/webchat) [default: no web chat].
    #[arg(long, env = "VIRGIL_APP_WEB_ROOT")]
    pub web_root: Option<PathBuf>,
    /// The cards service's URL as browsers reach it [default: --cards-url].
    #[arg(long, env = "VIRGIL_APP_WEB_CARDS_URL")]
    pub web_cards_url: Option<String>,
}

/// Options of `add-user` and `set-password`.
#[derive(clap::Args, Debug, Clone)]
pub struct AccountArgs {
    /// The username (1–64 of letters, digits, '.', '_', '-', '@').
    pub username: String,
    /// The configuration file (for database_url and password_iterations).
    #[arg(long, env = "VIRGIL_APP_CONFIG")]
    pub config: Option<PathBuf>,
    /// The database [default: the file's, else sqlite://app.db?mode=rwc].
    #[arg(long, env = "VIRGIL_APP_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// The environment variable `add-user` and `set-password` read the account's new
/// password from.
pub const ACCOUNT_PASSWORD_VAR: &str = "VIRGIL_ACCOUNT_PASSWORD";

/// What `add-user` and `set-password` share: the checked username, the new password's
/// record from [`ACCOUNT_PASSWORD_VAR`], and the store.
async fn operator_account(
    args: &AccountArgs,
) -> Result<(AppStore, UserRecord, String), ServeError> {
    runtime::init_logging(runtime::LogFormat::Text);
    let file = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    let iterations = file.password_iterations()?;
    let password = zeroize::Zeroizing::new(std::env::var(ACCOUNT_PASSWORD_VAR).map_err(|_| {
        ConfigError::Missing {
            what: "the account's new password",
            how: format!("set {ACCOUNT_PASSWORD_VAR}"),
        }
    })?);
    let invalid = |e: virgil_server::ApiError| ConfigError::invalid("account", e.message);
    check_username(&args.username).map_err(invalid)?;
    check_password(&password).map_err(invalid)?;
    let record = new_user_record(password.as_bytes(), iterations).map_err(invalid)?;
    let database_url = args
        .database_url
        .clone()
        .or(file.database_url)
        .unwrap_or_else(|| crate::config::DEFAULT_DATABASE_URL.to_owned());
    let store = AppStore::connect(&database_url)
        .await
        .map_err(|e| database_error(&database_url, &e))?;
    Ok((store, record, database_url))
}

fn database_error(url: &str, e: &sqlx::Error) -> ServeError {
    ServeError::Database {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

/// `add-user`: creates an account directly in the database (for `registration =
/// "closed"`), with the password from [`ACCOUNT_PASSWORD_VAR`].
pub async fn add_user(args: AccountArgs) -> Result<(), ServeError> {
    let (store, record, url) = operator_account(&args).await?;
    let created = store
        .create_user(&args.username, &record, virgil_api::unix_now())
        .await
        .map_err(|e| database_error(&url, &e));
    store.close().await;
    if !created? {
        return Err(ConfigError::invalid(
            "add-user",
            format!("the username {:?} is taken", args.username),
        )
        .into());
    }
    println!("user {:?} added", args.username);
    Ok(())
}

/// `set-password`: the operator sets an account's password (from
/// [`ACCOUNT_PASSWORD_VAR`]) and ends every session of the account at once, e.g. after
/// the user reports a stolen password. The account's access tokens for the cards
/// service stop within their lifetime ([`crate::server::ACCESS_TOKEN_SECONDS`]).
pub async fn set_password(args: AccountArgs) -> Result<(), ServeError> {
    let (store, record, url) = operator_account(&args).await?;
    let changed = store
        .set_password(&args.username, &record, None)
        .await
        .map_err(|e| database_error(&url, &e));
    store.close().await;
    if !changed? {
        return Err(ConfigError::invalid(
            "set-password",
            format!("there is no user {:?}", args.username),
        )
        .into());
    }
    println!(
        "password of {:?} set; every session of the account ended",
        args.username
    );
    Ok(())
}

/// Applies the command line over the file's configuration.
pub fn resolve(args: ServeArgs) -> Result<Config, ConfigError> {
    let file = match &args.common.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    let common = args.common;
    let cors_origins = common.cors_origins(file.cors_origins);
    Ok(Config {
        listen: common.listen.or(file.listen),
        database_url: common.database_url.or(file.database_url),
        app_id: args.app_id.or(file.app_id),
        app_key_file: args.app_key_file.or(file.app_key_file),
        cards_url: args.cards_url.or(file.cards_url),
        cards_service_key: args.cards_service_key.or(file.cards_service_key),
        password_iterations: args.password_iterations.or(file.password_iterations),
        cards_ca_file: args.cards_ca_file.or(file.cards_ca_file),
        tls: common.tls.resolve(file.tls),
        registration: args.registration.or(file.registration),
        log_format: common.log_format.or(file.log_format),
        limits: file.limits,
        relay: file.relay,
        cors_origins,
        web: crate::config::WebConfig {
            root: args.web_root.or(file.web.root),
            cards_url: args.web_cards_url.or(file.web.cards_url),
        },
    })
}

/// `health`: asks the server these options describe for `/v1/health`
/// ([`virgil_server::health::check`]); prints its answer.
pub async fn health(args: ServeArgs) -> Result<(), ServeError> {
    let config = resolve(args)?;
    virgil_server::health::run(config.listen(), config.tls.as_ref()).await
}

/// `serve`: runs the server until SIGINT/SIGTERM, then finishes in-flight requests.
/// Prints `listening on https://ADDRESS` (`http://` without TLS) on stdout once it
/// accepts connections.
pub async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    let insecure_http = args.common.tls.insecure_http;
    let config = resolve(args)?;
    runtime::init_logging(config.log_format.unwrap_or_default());
    let password = std::env::var(PASSWORD_VAR).ok();
    let app_key = virgil_server::keys::load_key_file(
        config.app_key_file()?,
        password.as_deref().map(str::as_bytes),
        PASSWORD_VAR,
    )?;
    let app_key_id = app_key.key_id().to_string();
    let (app_id, cards_url) = (config.app_id()?, config.cards_url()?);
    let server = crate::server::build(&config, app_key, config.cards_roots()?).await?;
    let listen = config.listen();
    server
        .serve_until_signal(listen, config.tls.as_ref(), insecure_http, || {
            tracing::info!(
                address = %listen,
                app_id,
                cards_url,
                app_key_id,
                "application server started"
            );
        })
        .await
}

/// The reference application server: users, logins, card approval, access tokens for
/// the cards service, and a relay for encrypted messages.
///
/// Options can also be given in a TOML file (--config) and as environment variables;
/// the command line wins over the environment, which wins over the file. The
/// application key's password is read from VIRGIL_APP_KEY_PASSWORD.
#[derive(Parser, Debug)]
#[command(
    name = "virgil-app-server",
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
    /// Ask the application server that the same options describe whether it is healthy
    /// (`GET /v1/health` on its listen address, loopback for 0.0.0.0, accepting exactly
    /// its configured TLS certificate): exit 0 and the answer, or exit 1 and why not. For
    /// container and service-manager health checks.
    Health(Box<ServeArgs>),
    /// Create an application key, locked with VIRGIL_APP_KEY_PASSWORD, and print its
    /// public key (register it with the cards service: --app APP_ID=KEY).
    Keygen(KeygenArgs),
    /// Create an account directly in the database, password from VIRGIL_ACCOUNT_PASSWORD
    /// (for registration = "closed").
    AddUser(AccountArgs),
    /// Set an account's password (from VIRGIL_ACCOUNT_PASSWORD) and end every session
    /// of the account, e.g. after the user reports a stolen password.
    SetPassword(AccountArgs),
}

/// The `virgil-app-server` binary: parses the command line, runs the command, reports
/// an error as `virgil-app-server: message` with exit code 1.
pub fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Keygen(args) => {
            keygen(&args, KEY_NAME, PASSWORD_VAR, "application key").map_err(ServeError::from)
        }
        Command::Serve(args) => runtime::block_on(serve(*args)),
        Command::Health(args) => runtime::block_on(health(*args)),
        Command::AddUser(args) => runtime::block_on(add_user(args)),
        Command::SetPassword(args) => runtime::block_on(set_password(args)),
    };
    runtime::exit("virgil-app-server", result)
}
