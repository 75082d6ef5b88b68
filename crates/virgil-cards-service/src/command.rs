//! The command line of the cards service, shared by the `virgil-cards-service` binary
//! and `virgil serve cards`: [`ServeArgs`] + [`serve`], [`KeygenArgs`] + [`keygen`].

use crate::config::{ApplicationConfig, Config};
use crate::ops;
use crate::server::{Service, serve as serve_listener};
use crate::store::CardStore;
use std::path::PathBuf;
use std::sync::Arc;
use virgil_crypto::encoding::to_base64;

/// The environment variable the service key's password is read from.
pub const PASSWORD_VAR: &str = "VIRGIL_SERVICE_KEY_PASSWORD";

/// Options of `serve`. Each can also be set in the TOML file (`--config`) and as an
/// environment variable; the command line wins over the environment, which wins over
/// the file.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// A TOML configuration file (listen, database_url, service_key_file and one
    /// applications entry per app: app_id, public_key).
    #[arg(long, env = "VIRGIL_CARDS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (printed at start)
    /// [default: 127.0.0.1:8080].
    #[arg(long, env = "VIRGIL_CARDS_LISTEN")]
    pub listen: Option<String>,
    /// sqlite://PATH?mode=rwc or postgres://USER@HOST/DB [default: sqlite://cards.db?mode=rwc].
    #[arg(long, env = "VIRGIL_CARDS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The service key file made by `keygen`; its password comes from
    /// VIRGIL_SERVICE_KEY_PASSWORD.
    #[arg(long, env = "VIRGIL_CARDS_SERVICE_KEY_FILE")]
    pub service_key_file: Option<PathBuf>,
    /// Register an application: APP_ID=BASE64_PUBLIC_KEY (repeatable; adds to the file's).
    #[arg(long = "app", value_name = "APP_ID=KEY")]
    pub apps: Vec<String>,
}

/// Options of `keygen`.
#[derive(clap::Args, Debug, Clone)]
pub struct KeygenArgs {
    /// Where to write the key; an existing file is never overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// Store the key without a password (anyone who can read the file has it).
    #[arg(long)]
    pub unprotected: bool,
}

/// `keygen`: creates a key file locked with the password in `password_var` (unless
/// `--unprotected`) and prints its public key for clients to pin. `what` names the key
/// ("service key", "application key") in messages.
pub fn keygen(args: &KeygenArgs, password_var: &str, what: &str) -> Result<(), String> {
    let password = if args.unprotected {
        None
    } else {
        Some(std::env::var(password_var).map_err(|_| {
            format!(
                "set {password_var} to the password that will lock the {what} (or pass --unprotected)"
            )
        })?)
    };
    let key = ops::generate_key_file(&args.out, password.as_deref().map(str::as_bytes))
        .map_err(|e| e.to_string())?;
    println!("{what} written to {}", args.out.display());
    println!(
        "public key (pin this in clients): {}",
        to_base64(key.public_key().as_bytes())
    );
    println!("key id: {}", key.key_id());
    Ok(())
}

/// Applies the command line over the file's configuration.
pub fn resolve(args: ServeArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    config.listen = args.listen.or(config.listen);
    config.database_url = args.database_url.or(config.database_url);
    config.service_key_file = args.service_key_file.or(config.service_key_file);
    for app in &args.apps {
        let (app_id, public_key) = app
            .split_once('=')
            .ok_or_else(|| format!("--app {app:?}: expected APP_ID=BASE64_PUBLIC_KEY"))?;
        config.applications.push(ApplicationConfig {
            app_id: app_id.to_owned(),
            public_key: public_key.to_owned(),
        });
    }
    Ok(config)
}

/// `serve`: runs the service until SIGINT/SIGTERM, then finishes in-flight requests.
/// Prints `listening on http://ADDRESS` on stdout once it accepts connections.
pub async fn serve(args: ServeArgs) -> Result<(), String> {
    let config = resolve(args)?;
    let applications = config.applications().map_err(|e| e.to_string())?;
    let password = std::env::var(PASSWORD_VAR).ok();
    let service_key = config
        .service_key(password.as_deref().map(str::as_bytes))
        .map_err(|e| e.to_string())?;
    let database_url = config
        .database_url
        .unwrap_or_else(|| "sqlite://cards.db?mode=rwc".to_owned());
    let store = CardStore::connect(&database_url)
        .await
        .map_err(|e| format!("cannot open the database {database_url}: {e}"))?;
    let shutdown =
        ops::shutdown_signal().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let listen = config.listen.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // Scripts and tests read this line to find a port picked with :0.
    println!("listening on http://{address}");
    tracing::info!(%address, service_key_id = %service_key.key_id(), "cards service started");
    let service = Arc::new(Service::new(store, service_key, applications));
    serve_listener(listener, service, shutdown)
        .await
        .map_err(|e| e.to_string())
}
