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
    /// hosts.
    pub hosts: Vec<String>,
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
}

fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

fn path_string(path: &Path) -> String {
    toml_string(&path.display().to_string())
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
            path_string(&self.tls_cert),
            path_string(&self.tls_key),
        )
    }

    /// `cards.toml`.
    fn cards_config(&self, options: &InitOptions, keys: &PublicKeys) -> String {
        format!(
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
            cards = self.cards_toml.display(),
            listen = toml_string(&options.cards_listen),
            db = toml_string(&sqlite_url(&self.dir.join("cards.db"))),
            key = path_string(&self.service_key),
            tls_section = self.tls_section(),
            app_id = toml_string(&options.app_id),
            app_public = toml_string(&keys.app),
        )
    }

    /// `app.toml`.
    fn app_config(&self, options: &InitOptions, keys: &PublicKeys) -> String {
        format!(
            "# The application server (virgil serve app --config {app}).\n\
             listen = {listen}\n\
             database_url = {db}\n\
             app_id = {app_id}\n\
             app_key_file = {key}\n\
             cards_url = {cards_url}\n\
             cards_service_key = {service_public}\n\
             cards_ca_file = {ca}\n\
             {tls_section}",
            app = self.app_toml.display(),
            listen = toml_string(&options.app_listen),
            db = toml_string(&sqlite_url(&self.dir.join("app.db"))),
            app_id = toml_string(&options.app_id),
            key = path_string(&self.app_key),
            cards_url = toml_string(&format!("https://{}", options.cards_listen)),
            service_public = toml_string(&keys.service),
            ca = path_string(&self.ca),
            tls_section = self.tls_section(),
        )
    }

    /// `client.toml`.
    fn client_config(
        &self,
        options: &InitOptions,
        keys: PublicKeys,
    ) -> Result<String, DeployError> {
        let client = virgil::ClientFile {
            cards_url: format!("https://{}", options.cards_listen),
            cards_service_key: keys.service,
            app_url: format!("https://{}", options.app_listen),
            app_id: options.app_id.clone(),
            app_key: keys.app,
            ca_file: Some(self.ca.clone()),
            require_post_quantum: false,
        };
        let client_text = client.to_toml().map_err(|e| DeployError::File {
            action: "encode",
            path: self.client_toml.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(format!(
            "# The virgil CLI's servers and pinned keys (export VIRGIL_CONFIG={}).\n{client_text}",
            self.client_toml.display(),
        ))
    }
}
