//! `virgil-cards-service`: the self-hosted cards service.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use virgil_cards_service::config::{ApplicationConfig, Config};
use virgil_cards_service::server::{Service, serve};
use virgil_cards_service::store::CardStore;
use virgil_crypto::encoding::to_base64;
use virgil_crypto::{PrivateKey, keyblob};

const PASSWORD_VAR: &str = "VIRGIL_SERVICE_KEY_PASSWORD";

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
    Serve(ServeArgs),
    /// Create a service key, locked with VIRGIL_SERVICE_KEY_PASSWORD, and print its public
    /// key for clients to pin.
    Keygen {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
        /// Store the key without a password (anyone who can read the file has it).
        #[arg(long)]
        unprotected: bool,
    },
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// A TOML configuration file (listen, database_url, service_key_file, [[applications]]).
    #[arg(long, env = "VIRGIL_CARDS_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, env = "VIRGIL_CARDS_LISTEN")]
    listen: Option<String>,
    /// sqlite://PATH?mode=rwc (default: sqlite://cards.db?mode=rwc) or postgres://USER@HOST/DB.
    #[arg(long, env = "VIRGIL_CARDS_DATABASE_URL")]
    database_url: Option<String>,
    /// The service key file made by `keygen`.
    #[arg(long, env = "VIRGIL_CARDS_SERVICE_KEY_FILE")]
    service_key_file: Option<PathBuf>,
    /// Register an application: APP_ID=BASE64_PUBLIC_KEY (repeatable; adds to the file's).
    #[arg(long = "app", value_name = "APP_ID=KEY")]
    apps: Vec<String>,
}

fn keygen(out: &PathBuf, unprotected: bool) -> Result<(), String> {
    let key = PrivateKey::generate().map_err(|e| e.to_string())?;
    let blob = if unprotected {
        keyblob::lock_unprotected(&key)
    } else {
        let password = std::env::var(PASSWORD_VAR).map_err(|_| {
            format!(
                "set {PASSWORD_VAR} to the password that will lock the key (or pass --unprotected)"
            )
        })?;
        keyblob::lock(&key, password.as_bytes(), keyblob::Params::default())
    }
    .map_err(|e| e.to_string())?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(out).map_err(|e| {
        format!(
            "cannot create {} (it is never overwritten): {e}",
            out.display()
        )
    })?;
    std::io::Write::write_all(&mut file, &blob)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!("service key written to {}", out.display());
    println!(
        "public key (pin this in clients): {}",
        to_base64(key.public_key().as_bytes())
    );
    println!("key id: {}", key.key_id());
    Ok(())
}

/// Registers the SIGINT/SIGTERM handlers now (so a signal that arrives before the
/// server's first poll is not lost to the default action) and returns the future that
/// completes on the first of them.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
}

async fn run(args: ServeArgs) -> Result<(), String> {
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
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let shutdown = shutdown_signal().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let listen = config.listen.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // Scripts and tests read this line to find a port picked with :0.
    println!("listening on http://{address}");
    tracing::info!(%address, service_key_id = %service_key.key_id(), "cards service started");
    let service = Arc::new(Service::new(store, service_key, applications));
    serve(listener, service, shutdown)
        .await
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Keygen { out, unprotected } => keygen(&out, unprotected),
        Command::Serve(args) => match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(run(args)),
            Err(e) => Err(format!("cannot start the runtime: {e}")),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("virgil-cards-service: {message}");
            ExitCode::FAILURE
        }
    }
}
