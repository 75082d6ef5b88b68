//! Where the CLI keeps things: its home (keys, session), the client configuration
//! (which servers, which pinned keys) and the login session.

use crate::error::{CliError, Exit, context};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use virgil::{ClientFile, Config, KeyChangePolicy, Keys, Virgil};

/// Options every command takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct Global {
    /// The CLI's home: keys/, session.json and (by default) config.toml
    /// [default: $XDG_DATA_HOME/virgil or ~/.local/share/virgil].
    #[arg(long, global = true, env = "VIRGIL_HOME", value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
    /// The client configuration (servers and pinned keys; `virgil init` writes one)
    /// [default: HOME/config.toml].
    #[arg(long, global = true, env = "VIRGIL_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Go ahead when a contact's cards changed without a link from a card used before
    /// (a reset, or someone adding a key): print the warning and pin the new cards.
    /// Ask the contact first; `virgil contact accept NAME` does the same for one
    /// contact. A verified contact stays blocked until `virgil contact trust NAME`.
    #[arg(long, global = true)]
    pub(crate) accept_key_change: bool,
}

impl Global {
    /// The home directory.
    pub(crate) fn home(&self) -> Result<PathBuf, CliError> {
        if let Some(home) = &self.home {
            return Ok(home.clone());
        }
        Keys::default_dir()
            .and_then(|keys| keys.parent().map(Path::to_path_buf))
            .ok_or_else(|| CliError::new("no home directory: set VIRGIL_HOME or pass --home"))
    }

    /// The key store in the home directory.
    pub(crate) fn keys(&self) -> Result<Keys, CliError> {
        Ok(Keys::open(self.home()?.join("keys"))?)
    }

    /// The SDK as configured: the home's keys, the servers and pinned keys of the client
    /// configuration, and the saved login if there is one.
    pub(crate) fn virgil(&self) -> Result<Virgil, CliError> {
        let virgil = Virgil::new(
            self.client_config()?
                .config()?
                .key_dir(self.home()?.join("keys"))
                .key_changes(if self.accept_key_change {
                    KeyChangePolicy::Warn
                } else {
                    KeyChangePolicy::Block
                }),
        )?;
        if let Some(saved) = self.saved_session()? {
            virgil.account().resume(saved.session);
        }
        Ok(virgil)
    }

    /// Saves the session of `virgil` if its access token was refreshed meanwhile.
    pub(crate) fn keep_refreshed_session(&self, virgil: &Virgil) -> Result<(), CliError> {
        let (Some(current), Some(mut saved)) = (virgil.account().session(), self.saved_session()?)
        else {
            return Ok(());
        };
        if current.username == saved.session.username
            && current.response.access_token != saved.session.response.access_token
        {
            saved.session = current;
            self.save_session(&saved)?;
        }
        Ok(())
    }

    /// The client configuration.
    pub(crate) fn client_config(&self) -> Result<ClientConfig, CliError> {
        let path = match &self.config {
            Some(path) => path.clone(),
            None => self.home()?.join("config.toml"),
        };
        ClientConfig::load(&path)
    }

    fn session_path(&self) -> Result<PathBuf, CliError> {
        Ok(self.home()?.join("session.json"))
    }

    /// The saved login, or an error telling the user to log in.
    pub(crate) fn session(&self) -> Result<Session, CliError> {
        self.saved_session()?.ok_or_else(|| {
            CliError::with(
                Exit::Auth,
                "not logged in: run `virgil login <username>` first",
            )
        })
    }

    /// The saved login, if any.
    pub(crate) fn saved_session(&self) -> Result<Option<Session>, CliError> {
        let path = self.session_path()?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(context(format!("cannot read {}", path.display()))(e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            CliError::with(
                Exit::Auth,
                format!(
                    "the session file {} is damaged ({e}); run `virgil login <username>` again",
                    path.display()
                ),
            )
        })
    }

    /// Saves the login (atomically, mode 0600).
    pub(crate) fn save_session(&self, session: &Session) -> Result<(), CliError> {
        let path = self.session_path()?;
        let json =
            serde_json::to_vec_pretty(session).map_err(context("cannot encode the session"))?;
        write_private_file(&path, &json)
    }

    /// Forgets the login; `false` if there was none.
    pub(crate) fn delete_session(&self) -> Result<bool, CliError> {
        let path = self.session_path()?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(context(format!("cannot delete {}", path.display()))(e)),
        }
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, mode 0600.
pub(crate) fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(context(format!("cannot create {}", dir.display())))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .map_err(context(format!("cannot write in {}", dir.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(context(format!("cannot write {}", path.display())))?;
    file.persist(path)
        .map_err(|e| CliError::new(format!("cannot write {}: {}", path.display(), e.error)))?;
    Ok(())
}

/// Which servers the CLI talks to and the keys it pins: the facade's [`ClientFile`],
/// with where it was read from.
pub(crate) struct ClientConfig {
    /// The file's contents.
    pub(crate) file: ClientFile,
    /// Where it was read from (a relative `ca_file` is relative to its directory).
    pub(crate) path: PathBuf,
}

impl ClientConfig {
    /// Reads the file.
    pub(crate) fn load(path: &Path) -> Result<Self, CliError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::new(format!(
                "cannot read the client configuration {} ({e}): your deployment's `virgil init` wrote one (client.toml in its --dir); set VIRGIL_CONFIG or pass --config to point at it",
                path.display()
            ))
        })?;
        let file = ClientFile::from_toml(&text).map_err(context(path.display()))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The SDK configuration for these servers and keys.
    pub(crate) fn config(&self) -> Result<Config, CliError> {
        self.file
            .config(self.path.parent())
            .map_err(context(self.path.display()))
    }
}

/// A saved login (`HOME/session.json`).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Session {
    /// Who is logged in, and the tokens.
    #[serde(flatten)]
    pub(crate) session: virgil::Session,
    /// The last inbox message shown.
    #[serde(default)]
    pub(crate) inbox_cursor: i64,
}
