//! `virgil init`: keys, certificates and configuration for a deployment
//! ([`virgil_deploy::init`]).

use crate::error::CliError;
use std::path::PathBuf;
use virgil_deploy::{InitOptions, app_server, cards_service};

/// `virgil init` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  \
    export VIRGIL_SERVICE_KEY_PASSWORD=… VIRGIL_APP_KEY_PASSWORD=…\n  \
    virgil init --dir ./local --app-id chat\n  \
    virgil serve cards --config ./local/cards.toml &\n  \
    virgil serve app --config ./local/app.toml &\n  \
    export VIRGIL_CONFIG=./local/client.toml\n  \
    virgil register alice && virgil login alice")]
pub(crate) struct InitArgs {
    /// Where to put keys, configuration and databases (created if missing).
    #[arg(long, default_value = "./virgil-local")]
    dir: PathBuf,
    /// The application id.
    #[arg(long, default_value = "chat")]
    app_id: String,
    /// The cards service's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    cards_listen: String,
    /// The application server's address.
    #[arg(long, default_value = "127.0.0.1:8081")]
    app_listen: String,
    /// Store both server keys without passwords (a throwaway local setup). Otherwise
    /// they are locked with VIRGIL_SERVICE_KEY_PASSWORD and VIRGIL_APP_KEY_PASSWORD.
    #[arg(long)]
    unprotected: bool,
    /// Another name the servers' TLS certificate is for, besides localhost and the
    /// listen hosts (repeatable), e.g. `--host cards` for containers that reach the
    /// cards service by its service name. The first is also the host in the URLs init
    /// writes (client.toml, app.toml's cards_url) for a listen address of 0.0.0.0 or
    /// [::]; without one they say localhost.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// Serve the web chat from this folder (`npm run build:web` in crates/virgil-js
    /// writes crates/virgil-js/dist/webchat): app.toml gets `[web] root`, cards.toml
    /// the application server's origins in `cors_origins`.
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
}

/// `virgil init`.
pub(crate) fn init(args: InitArgs) -> Result<(), CliError> {
    let password = |var: &str| -> Result<Option<String>, CliError> {
        if args.unprotected {
            return Ok(None);
        }
        std::env::var(var).map(Some).map_err(|_| {
            CliError::new(format!(
                "{var} is not set: set VIRGIL_SERVICE_KEY_PASSWORD and VIRGIL_APP_KEY_PASSWORD to lock the server keys, or pass --unprotected for a throwaway setup"
            ))
        })
    };
    let options = InitOptions {
        service_key_password: password(cards_service::command::PASSWORD_VAR)?,
        app_key_password: password(app_server::command::PASSWORD_VAR)?,
        dir: args.dir,
        app_id: args.app_id,
        cards_listen: args.cards_listen,
        app_listen: args.app_listen,
        hosts: args.hosts,
        web_root: match args.web_root {
            Some(root) => Some(root.canonicalize().map_err(|e| {
                CliError::new(format!(
                    "--web-root {}: {e} (build the web chat first: `npm ci && npm run build:web` in crates/virgil-js)",
                    root.display()
                ))
            })?),
            None => None,
        },
    };
    let report = virgil_deploy::init(&options).map_err(|e| CliError::new(e.to_string()))?;
    println!("created in {}:", report.dir.display());
    println!(
        "  service.key, app.key   server keys{}",
        if args.unprotected {
            " (no password)"
        } else {
            " (locked)"
        }
    );
    println!("  cards.toml, app.toml   server configuration");
    println!("  client.toml            CLI configuration (servers and pinned keys)");
    println!("  ca.pem                 the local CA (clients pin it; its key was not kept)");
    println!(
        "  tls.pem, tls.key       both servers' TLS certificate (for {}) and key",
        report.hosts.join(", ")
    );
    println!("next:");
    println!(
        "  virgil serve cards --config {}",
        report.cards_toml.display()
    );
    println!("  virgil serve app --config {}", report.app_toml.display());
    println!("  export VIRGIL_CONFIG={}", report.client_toml.display());
    println!(
        "  virgil key generate alice && virgil register alice && virgil login alice && virgil card publish"
    );
    if let Some(url) = &report.web_chat {
        println!("the web chat: {url} (in a browser that trusts ca.pem)");
    }
    Ok(())
}
