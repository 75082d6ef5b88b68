//! Configuration files: TOML, read into a server's own `Config` type, and the one error
//! type every configuration problem is reported with.

use std::path::{Path, PathBuf};

/// A configuration problem, said so that an operator can fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML of the expected shape.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (it names the line and the key).
        message: String,
    },
    /// A required setting is missing.
    #[error("no {what}: {how}")]
    Missing {
        /// What is missing ("application id").
        what: &'static str,
        /// How to give it ("pass --app-id or set it in the configuration file").
        how: String,
    },
    /// A setting has an unusable value.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting ("cards_service_key", "application \"chat\"").
        setting: String,
        /// What is wrong and what to use instead.
        reason: String,
    },
    /// A key file could not be created, read or unlocked.
    #[error("{0}")]
    Key(String),
}

impl ConfigError {
    /// A missing setting that can be passed as `option` or set in the file.
    pub fn missing(what: &'static str, option: &str) -> Self {
        ConfigError::Missing {
            what,
            how: format!("pass {option} or set it in the configuration file"),
        }
    }

    /// An unusable value.
    pub fn invalid(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            setting: setting.into(),
            reason: reason.into(),
        }
    }
}

/// Reads a TOML configuration file into `T`; errors name the file.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A path written in the configuration file at `file`: a relative one is relative to
/// the file's directory (not to the working directory), so a deployment's directory
/// can be moved or mounted elsewhere (`/etc/virgil` in a container) as a whole.
pub fn beside(file: &Path, path: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

/// A database URL written in the configuration file at `file`: a relative SQLite path
/// (`sqlite://cards.db?mode=rwc`) is relative to the file's directory, as for
/// [`beside`]; absolute paths, `:memory:` and other databases are left as they are.
pub fn database_url_beside(file: &Path, url: &str) -> String {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return url.to_owned();
    };
    let (path, query) = rest
        .split_once('?')
        .map_or((rest, None), |(p, q)| (p, Some(q)));
    if path.is_empty() || path.starts_with(':') || Path::new(path).is_absolute() {
        return url.to_owned();
    }
    let path = beside(file, Path::new(path));
    match query {
        Some(query) => format!("sqlite://{}?{query}", path.display()),
        None => format!("sqlite://{}", path.display()),
    }
}

/// The value of a required setting, or [`ConfigError::Missing`].
pub fn required<'a, T>(
    value: &'a Option<T>,
    what: &'static str,
    option: &str,
) -> Result<&'a T, ConfigError> {
    value
        .as_ref()
        .ok_or_else(|| ConfigError::missing(what, option))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[allow(dead_code)]
        listen: Option<String>,
    }

    #[test]
    fn paths_in_a_file_are_relative_to_its_directory() {
        let file = Path::new("/etc/virgil/cards.toml");
        assert_eq!(
            beside(file, Path::new("service.key")),
            Path::new("/etc/virgil/service.key")
        );
        assert_eq!(
            beside(file, Path::new("/keys/service.key")),
            Path::new("/keys/service.key")
        );
        assert_eq!(
            beside(Path::new("cards.toml"), Path::new("tls.pem")),
            Path::new("tls.pem")
        );
        for (url, expected) in [
            (
                "sqlite://cards.db?mode=rwc",
                "sqlite:///etc/virgil/cards.db?mode=rwc",
            ),
            ("sqlite:cards.db", "sqlite:///etc/virgil/cards.db"),
            ("sqlite://db/cards.db", "sqlite:///etc/virgil/db/cards.db"),
            (
                "sqlite:///var/lib/virgil/cards.db?mode=rwc",
                "sqlite:///var/lib/virgil/cards.db?mode=rwc",
            ),
            ("sqlite::memory:", "sqlite::memory:"),
            ("sqlite://:memory:", "sqlite://:memory:"),
            ("postgres://virgil@db/virgil", "postgres://virgil@db/virgil"),
        ] {
            assert_eq!(database_url_beside(file, url), expected, "{url}");
        }
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("missing.toml");
        let error = read_toml::<Sample>(&missing).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.starts_with("cannot read the configuration file")
                    && e.contains("missing.toml")),
            "{error:?}"
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "lisen = 1\n").unwrap_or_else(|e| panic!("{e}"));
        let error = read_toml::<Sample>(&bad).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("bad.toml") && e.contains("lisen")),
            "{error:?}"
        );
    }
}
