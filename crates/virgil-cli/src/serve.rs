//! `virgil serve cards|app` (the server binaries' `serve`, same options) and
//! `virgil init` (keys and configuration for a local deployment).

use crate::config::write_private_file;
use crate::error::{CliError, context};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use virgil::crypto::encoding::to_base64;
use virgil_server::runtime;

/// `virgil serve` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ServeCommand {
    /// Run the cards service (the same as `virgil-cards-service serve`).
    #[command(
        after_help = "Example:\n  VIRGIL_SERVICE_KEY_PASSWORD=… virgil serve cards --config local/cards.toml"
    )]
    Cards(virgil_cards_service::command::ServeArgs),
    /// Run the application server (the same as `virgil-app-server serve`).
    #[command(
        after_help = "Example:\n  VIRGIL_APP_KEY_PASSWORD=… virgil serve app --config local/app.toml"
    )]
    App(virgil_app_server::command::ServeArgs),
}

/// Runs a server until SIGINT/SIGTERM.
pub(crate) fn serve(command: ServeCommand) -> Result<(), CliError> {
    match command {
        ServeCommand::Cards(args) => runtime::block_on(virgil_cards_service::command::serve(args)),
        ServeCommand::App(args) => runtime::block_on(virgil_app_server::command::serve(args)),
    }
    .map_err(|e| CliError::new(e.to_string()))
}

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
    /// cards service by its service name.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
}

fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// `virgil init`.
pub(crate) fn init(args: InitArgs) -> Result<(), CliError> {
    let password = |var: &str| -> Result<Option<String>, CliError> {
        if args.unprotected {
            return Ok(None);
        }
        std::env::var(var).map(Some).map_err(|_| {
            CliError::new(format!(
                "set {var} (and VIRGIL_SERVICE_KEY_PASSWORD / VIRGIL_APP_KEY_PASSWORD) to lock the server keys, or pass --unprotected for a throwaway setup"
            ))
        })
    };
    let service_password = password(virgil_cards_service::command::PASSWORD_VAR)?;
    let app_password = password(virgil_app_server::command::PASSWORD_VAR)?;
    std::fs::create_dir_all(&args.dir)
        .map_err(context(format!("cannot create {}", args.dir.display())))?;
    let dir = args
        .dir
        .canonicalize()
        .map_err(context(format!("cannot open {}", args.dir.display())))?;
    let files = [
        "service.key",
        "app.key",
        "cards.toml",
        "app.toml",
        "client.toml",
        "ca.pem",
        "tls.pem",
        "tls.key",
    ];
    if let Some(existing) = files
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.exists())
    {
        return Err(CliError::new(format!(
            "{} exists; `virgil init` never overwrites (use another --dir)",
            existing.display()
        )));
    }
    let [
        service_key_file,
        app_key_file,
        cards_toml,
        app_toml,
        client_toml,
        ca_file,
        tls_cert_file,
        tls_key_file,
    ] = files.map(|name| dir.join(name));
    // One certificate for both servers, for the hosts they listen on (and localhost),
    // from a CA made here; the clients pin the CA. Its private key is not kept.
    let mut hosts = vec!["localhost".to_owned()];
    hosts.extend(args.hosts.iter().cloned());
    for listen in [&args.cards_listen, &args.app_listen] {
        let host = listen
            .rsplit_once(':')
            .map_or(listen.as_str(), |(host, _)| host)
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    let ca = virgil_server::tls::local_ca(&hosts).map_err(CliError::new)?;
    let service_key = virgil_server::keys::generate_key_file(
        &service_key_file,
        virgil_cards_service::command::KEY_NAME,
        service_password.as_deref().map(str::as_bytes),
    )
    .map_err(|e| CliError::new(e.to_string()))?;
    let app_key = virgil_server::keys::generate_key_file(
        &app_key_file,
        virgil_app_server::command::KEY_NAME,
        app_password.as_deref().map(str::as_bytes),
    )
    .map_err(|e| CliError::new(e.to_string()))?;
    let service_public = to_base64(service_key.public_key().as_bytes());
    let app_public = to_base64(app_key.public_key().as_bytes());
    let cards_url = format!("https://{}", args.cards_listen);
    let app_url = format!("https://{}", args.app_listen);
    let tls_section = format!(
        "\n[tls]\ncert_file = {}\nkey_file = {}\n",
        toml_string(&tls_cert_file.display().to_string()),
        toml_string(&tls_key_file.display().to_string())
    );

    let cards_config = format!(
        "# The cards service (virgil serve cards --config {cards}).\n\
         listen = {listen}\n\
         database_url = {db}\n\
         service_key_file = {key}\n\
         # A reset card (a user who lost every key) waits this long, in seconds, before\n\
         # it replaces the user's cards; their devices can cancel it meanwhile, and no\n\
         # new reset may start for as long after a cancelled one. A day, as production\n\
         # wants (`virgil demo` uses 0).\n\
         reset_delay_seconds = 86400\n\
         {tls_section}\n\
         [[applications]]\n\
         app_id = {app_id}\n\
         public_key = {app_public}\n",
        cards = cards_toml.display(),
        listen = toml_string(&args.cards_listen),
        db = toml_string(&sqlite_url(&dir.join("cards.db"))),
        key = toml_string(&service_key_file.display().to_string()),
        app_id = toml_string(&args.app_id),
        app_public = toml_string(&app_public),
    );
    let app_config = format!(
        "# The application server (virgil serve app --config {app}).\n\
         listen = {listen}\n\
         database_url = {db}\n\
         app_id = {app_id}\n\
         app_key_file = {key}\n\
         cards_url = {cards_url}\n\
         cards_service_key = {service_public}\n\
         cards_ca_file = {ca}\n\
         {tls_section}",
        app = app_toml.display(),
        listen = toml_string(&args.app_listen),
        db = toml_string(&sqlite_url(&dir.join("app.db"))),
        app_id = toml_string(&args.app_id),
        key = toml_string(&app_key_file.display().to_string()),
        cards_url = toml_string(&cards_url),
        service_public = toml_string(&service_public),
        ca = toml_string(&ca_file.display().to_string()),
    );
    let client = virgil::ClientFile {
        cards_url,
        cards_service_key: service_public,
        app_url,
        app_id: args.app_id.clone(),
        app_key: app_public,
        ca_file: Some(ca_file.clone()),
        require_post_quantum: false,
    };
    let client_config = format!(
        "# The virgil CLI's servers and pinned keys (export VIRGIL_CONFIG={}).\n{}",
        client_toml.display(),
        client
            .to_toml()
            .map_err(context("cannot encode the client configuration"))?
    );
    for (path, text) in [
        (&cards_toml, cards_config),
        (&app_toml, app_config),
        (&client_toml, client_config),
        (&ca_file, ca.ca_pem.clone()),
        (&tls_cert_file, ca.cert_pem.clone()),
        (&tls_key_file, ca.key_pem.to_string()),
    ] {
        write_private_file(path, text.as_bytes())?;
    }
    println!("created in {}:", dir.display());
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
        hosts.join(", ")
    );
    println!("next:");
    println!("  virgil serve cards --config {}", cards_toml.display());
    println!("  virgil serve app --config {}", app_toml.display());
    println!("  export VIRGIL_CONFIG={}", client_toml.display());
    println!(
        "  virgil key generate alice && virgil register alice && virgil login alice && virgil card publish"
    );
    Ok(())
}
