//! The files of a deployment on disk: what `virgil init` writes.

use crate::DeployError;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use virgil_crypto::encoding::to_base64;

/// What [`init`] makes.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Where to put keys, configuration and databases (created if missing).
    pub dir: PathBuf,
    /// The application id.
    pub app_id: String,
    /// The cards service's address.
    pub cards_listen: String,
    /// The application server's address.
    pub app_listen: String,
    /// The service key's password (`None`: stored unprotected).
    pub service_key_password: Option<String>,
    /// The application key's password (`None`: stored unprotected).
    pub app_key_password: Option<String>,
    /// Other names the servers' certificate is for, besides localhost and the listen
    /// hosts. The first is also the host of the URLs init writes for a server whose
    /// listen address is unspecified (`0.0.0.0`, `[::]`).
    pub hosts: Vec<String>,
    /// The web chat's folder (`npm run build:web` in crates/virgil-js): the application
    /// server serves it at `/chat/`, and the cards service lets its origin call it.
    pub web_root: Option<PathBuf>,
}

/// The origins a browser may show the application server's pages under: its URL, and
/// the same with `localhost` for a loopback address (the certificate covers both).
fn app_origins(options: &InitOptions) -> Vec<String> {
    let url = client_url(&options.hosts, &options.app_listen);
    let mut origins = vec![url.clone()];
    for loopback in ["https://127.0.0.1:", "https://[::1]:"] {
        if let Some(port) = url.strip_prefix(loopback) {
            origins.push(format!("https://localhost:{port}"));
        }
    }
    origins
}

/// The names of the files [`init`] writes, in its directory.
pub(crate) const FILES: [&str; 8] = [
    "service.key",
    "app.key",
    "cards.toml",
    "app.toml",
    "client.toml",
    "ca.pem",
    "tls.pem",
    "tls.key",
];

/// What [`init`] made.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The directory, absolute.
    pub dir: PathBuf,
    /// The hosts the servers' certificate is for.
    pub hosts: Vec<String>,
    /// The cards service's configuration.
    pub cards_toml: PathBuf,
    /// The application server's configuration.
    pub app_toml: PathBuf,
    /// The clients' configuration (servers and pinned keys).
    pub client_toml: PathBuf,
    /// The web chat's URL, when it is served (`web_root`).
    pub web_chat: Option<String>,
}

fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

/// A file of the deployment as its configuration files name it: by its name alone,
/// which the servers and clients read relative to the configuration file's directory,
/// so the directory works wherever it is moved or mounted (`/etc/virgil` in a
/// container, a systemd unit's).
fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("")
}

/// The URL clients use for a server listening on `listen`: `https://HOST:PORT` with the
/// listen host, or, when that is unspecified (`0.0.0.0`, `[::]`), the first of `hosts`
/// (else `localhost`).
fn client_url(hosts: &[String], listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "443"));
    let bare = host.trim_matches(|c| c == '[' || c == ']');
    let unspecified = bare
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    if unspecified {
        let host = hosts.first().map_or("localhost", String::as_str);
        if host.contains(':') {
            format!("https://[{host}]:{port}")
        } else {
            format!("https://{host}:{port}")
        }
    } else {
        format!("https://{host}:{port}")
    }
}

/// Writes `bytes` to a new file at `path` (mode 0600), all or nothing.
fn write_new_private_file(path: &Path, bytes: &[u8]) -> Result<(), DeployError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let failed = |action, source| DeployError::File {
        action,
        path: path.to_owned(),
        source,
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| failed("write", e))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| failed("write", e))?;
    file.persist_noclobber(path)
        .map_err(|e| failed("write", e.error))?;
    Ok(())
}

/// The hosts a deployment's certificate is for: localhost, `extra`, and the hosts of
/// the listen addresses.
fn certificate_hosts(extra: &[String], listens: [&str; 2]) -> Vec<String> {
    let mut hosts = vec!["localhost".to_owned()];
    hosts.extend(extra.iter().cloned());
    for listen in listens {
        let host = listen
            .rsplit_once(':')
            .map_or(listen, |(host, _)| host)
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

/// Makes a deployment's files in `options.dir`: the service and application keys
/// (locked with their passwords, or unprotected), one TLS certificate for both servers
/// from a local CA made here (whose key is not kept), `cards.toml` and `app.toml` for
/// the servers and `client.toml` for clients. Refuses to overwrite any of them.
pub fn init(options: &InitOptions) -> Result<InitReport, DeployError> {
    let files = Files::new_in(&options.dir)?;
    let hosts = certificate_hosts(&options.hosts, [&options.cards_listen, &options.app_listen]);
    let ca = virgil_server::tls::local_ca(&hosts).map_err(DeployError::Tls)?;
    let service_key = virgil_server::keys::generate_key_file(
        &files.service_key,
        virgil_cards_service::command::KEY_NAME,
        options.service_key_password.as_deref().map(str::as_bytes),
    )?;
    let app_key = virgil_server::keys::generate_key_file(
        &files.app_key,
        virgil_app_server::command::KEY_NAME,
        options.app_key_password.as_deref().map(str::as_bytes),
    )?;
    let keys = PublicKeys {
        service: to_base64(service_key.public_key().as_bytes()),
        app: to_base64(app_key.public_key().as_bytes()),
    };
    let cards_config = files.cards_config(options, &keys);
    let app_config = files.app_config(options, &keys);
    let client_config = files.client_config(options, keys)?;
    for (path, text) in [
        (&files.cards_toml, cards_config.as_str()),
        (&files.app_toml, app_config.as_str()),
        (&files.client_toml, client_config.as_str()),
        (&files.ca, ca.ca_pem.as_str()),
        (&files.tls_cert, ca.cert_pem.as_str()),
        (&files.tls_key, ca.key_pem.as_str()),
    ] {
        write_new_private_file(path, text.as_bytes())?;
    }
    Ok(InitReport {
        dir: files.dir,
        hosts,
        cards_toml: files.cards_toml,
        app_toml: files.app_toml,
        client_toml: files.client_toml,
        web_chat: options
            .web_root
            .as_ref()
            .map(|_| format!("{}/chat/", client_url(&options.hosts, &options.app_listen))),
    })
}

/// The public keys of a new deployment, base64, as its configuration files pin them.
struct PublicKeys {
    service: String,
    app: String,
}

/// The files `init` writes, in the deployment's directory.
struct Files {
    dir: PathBuf,
    service_key: PathBuf,
    app_key: PathBuf,
    cards_toml: PathBuf,
    app_toml: PathBuf,
    client_toml: PathBuf,
    ca: PathBuf,
    tls_cert: PathBuf,
    tls_key: PathBuf,
}

impl Files {
    /// The files in `dir` (created if missing), none of which may exist yet.
    fn new_in(dir: &Path) -> Result<Self, DeployError> {
        std::fs::create_dir_all(dir).map_err(|source| DeployError::File {
            action: "create",
            path: dir.to_owned(),
            source,
        })?;
        let dir = dir.canonicalize().map_err(|source| DeployError::File {
            action: "open",
            path: dir.to_owned(),
            source,
        })?;
        if let Some(existing) = FILES
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.exists())
        {
            return Err(DeployError::Exists(existing));
        }
        let [
            service_key,
            app_key,
            cards_toml,
            app_toml,
            client_toml,
            ca,
            tls_cert,
            tls_key,
        ] = FILES.map(|name| dir.join(name));
        Ok(Self {
            dir,
            service_key,
            app_key,
            cards_toml,
            app_toml,
            client_toml,
            ca,
            tls_cert,
            tls_key,
        })
    }

    /// The `[tls]` section both servers' files end with.
    fn tls_section(&self) -> String {
        format!(
            "\n[tls]\ncert_file = {}\nkey_file = {}\n",
            toml_string(file_name(&self.tls_cert)),
            toml_string(file_name(&self.tls_key)),
        )
    }

    /// `cards.toml`.
    fn cards_config(&self, options: &InitOptions, keys: &PublicKeys) -> String {
        format!(
            "# The cards service: virgil serve cards --config cards.toml (in this directory).\n\
             listen = {listen}\n\
             # Files are named relative to this file's directory.\n\
             database_url = {db}\n\
             service_key_file = {key}\n\
             # A reset card (a user who lost every key) waits this long, in seconds, before\n\
             # it replaces the user's cards; their devices can cancel it meanwhile, and no\n\
             # new reset may start for as long after a cancelled one. A day, as production\n\
             # wants (`virgil demo` uses 0).\n\
             reset_delay_seconds = 86400\n\
             {cors}\
             # Key backup: the backup-password guesses each user gets (these are the\n\
             # defaults; uncomment to change them). Past the free ones, each waits twice\n\
             # as long as the one before, until a window passes with none.\n\
             # [backup]\n\
             # free_guesses = 10\n\
             # window_seconds = 3600\n\
             # base_delay_seconds = 60\n\
             # max_delay_seconds = 86400\n\
             {tls_section}\n\
             [[applications]]\n\
             app_id = {app_id}\n\
             public_key = {app_public}\n",
            listen = toml_string(&options.cards_listen),
            cors = if options.web_root.is_some() {
                let origins: Vec<String> = app_origins(options)
                    .iter()
                    .map(|o| toml_string(o))
                    .collect();
                format!(
                    "# The web chat's pages (served by the application server) may call this\n\
                     # service from a browser.\n\
                     cors_origins = [{}]\n",
                    origins.join(", ")
                )
            } else {
                String::new()
            },
            db = toml_string("sqlite://cards.db?mode=rwc"),
            key = toml_string(file_name(&self.service_key)),
            tls_section = self.tls_section(),
            app_id = toml_string(&options.app_id),
            app_public = toml_string(&keys.app),
        )
    }

    /// `app.toml`.
    fn app_config(&self, options: &InitOptions, keys: &PublicKeys) -> String {
        format!(
            "# The application server: virgil serve app --config app.toml (in this directory).\n\
             listen = {listen}\n\
             # Files are named relative to this file's directory.\n\
             database_url = {db}\n\
             app_id = {app_id}\n\
             app_key_file = {key}\n\
             cards_url = {cards_url}\n\
             cards_service_key = {service_public}\n\
             cards_ca_file = {ca}\n\
             {tls_section}{web}",
            listen = toml_string(&options.app_listen),
            db = toml_string("sqlite://app.db?mode=rwc"),
            app_id = toml_string(&options.app_id),
            key = toml_string(file_name(&self.app_key)),
            cards_url = toml_string(&client_url(&options.hosts, &options.cards_listen)),
            service_public = toml_string(&keys.service),
            ca = toml_string(file_name(&self.ca)),
            tls_section = self.tls_section(),
            web = match &options.web_root {
                Some(root) => format!(
                    "\n# The web chat, at {}/chat/\n[web]\nroot = {}\n",
                    client_url(&options.hosts, &options.app_listen),
                    toml_string(&root.display().to_string())
                ),
                None => String::new(),
            },
        )
    }

    /// `client.toml`.
    fn client_config(
        &self,
        options: &InitOptions,
        keys: PublicKeys,
    ) -> Result<String, DeployError> {
        let client = virgil::ClientFile {
            cards_url: client_url(&options.hosts, &options.cards_listen),
            cards_service_key: keys.service,
            app_url: client_url(&options.hosts, &options.app_listen),
            app_id: options.app_id.clone(),
            app_key: keys.app,
            ca_file: Some(PathBuf::from(file_name(&self.ca))),
            require_post_quantum: false,
        };
        let client_text = client.to_toml().map_err(|e| DeployError::File {
            action: "encode",
            path: self.client_toml.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(format!(
            "# The virgil CLI's servers and pinned keys: export VIRGIL_CONFIG=<this file>.\n{client_text}",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::client_url;

    #[test]
    fn client_urls_name_a_host_clients_can_reach() {
        let none: [String; 0] = [];
        let cards = ["cards".to_owned(), "other".to_owned()];
        for (hosts, listen, expected) in [
            (&none[..], "127.0.0.1:8080", "https://127.0.0.1:8080"),
            (&cards[..], "127.0.0.1:8080", "https://127.0.0.1:8080"),
            (&none[..], "chat.example:443", "https://chat.example:443"),
            (&none[..], "0.0.0.0:8080", "https://localhost:8080"),
            (&cards[..], "0.0.0.0:8080", "https://cards:8080"),
            (&cards[..], "[::]:8081", "https://cards:8081"),
            (&none[..], "[::1]:8081", "https://[::1]:8081"),
        ] {
            assert_eq!(client_url(hosts, listen), expected, "{hosts:?} {listen}");
        }
        assert_eq!(
            client_url(&["::1".to_owned()], "0.0.0.0:1"),
            "https://[::1]:1"
        );
    }

    /// With a web root, the files `init` writes name it and let the application
    /// server's origins call the cards service; they parse as the servers read them.
    #[test]
    fn a_web_root_is_served_and_its_origins_allowed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let web = dir.path().join("webchat");
        std::fs::create_dir(&web).unwrap_or_else(|e| panic!("{e}"));
        let options = super::InitOptions {
            dir: dir.path().join("local"),
            app_id: "chat".to_owned(),
            cards_listen: "127.0.0.1:8080".to_owned(),
            app_listen: "127.0.0.1:8081".to_owned(),
            service_key_password: None,
            app_key_password: None,
            hosts: Vec::new(),
            web_root: Some(web.clone()),
        };
        let report = super::init(&options).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            report.web_chat.as_deref(),
            Some("https://127.0.0.1:8081/chat/")
        );
        let cards = virgil_cards_service::config::Config::from_file(&report.cards_toml)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cards.cors_origins,
            ["https://127.0.0.1:8081", "https://localhost:8081"]
        );
        let app = virgil_app_server::config::Config::from_file(&report.app_toml)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(app.web.root, Some(web));
    }
}
