//! The client configuration file (`client.toml`, which `virgil init` writes): which
//! servers an application's clients talk to and which keys they pin. The CLI and the
//! Python SDK both read it through [`ClientFile`].

use crate::{Config, Error, PublicKey, TlsRoots};
use std::path::{Path, PathBuf};
use virgil_crypto::encoding::from_base64;

/// The contents of `client.toml` (docs/deployment.md):
///
/// ```toml
/// cards_url = "https://127.0.0.1:8080"
/// cards_service_key = "VksB…"   # the cards service's public key, base64
/// app_url = "https://127.0.0.1:8081"
/// app_id = "chat"
/// app_key = "VksB…"             # the application's public key, base64
/// ca_file = "ca.pem"            # optional; relative to the file's directory
/// require_post_quantum = true   # optional: encrypt only to post-quantum (suite-2) keys
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    /// The cards service.
    pub cards_url: String,
    /// The cards service's public key, base64.
    pub cards_service_key: String,
    /// The application server.
    pub app_url: String,
    /// The application id.
    pub app_id: String,
    /// The application's public key, base64.
    pub app_key: String,
    /// The CA certificate (PEM) to trust for the https:// servers; without it, the
    /// public web's CAs. A relative path is relative to the file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Encrypt only to post-quantum keys ([`crate::RecipientPolicy::RequirePostQuantum`]
    /// for every key of the clients): a deployment's rule that no message is ever sealed
    /// to a classic card.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_post_quantum: bool,
}

impl ClientFile {
    /// Parses the TOML text of a client configuration.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(|error| Error::ClientFile(error.to_string()))
    }

    /// The configuration as TOML text.
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string(self).map_err(|error| Error::ClientFile(error.to_string()))
    }

    /// A [`Config`] for these servers and pinned keys, trusting `ca_file` (read now,
    /// relative to `dir`, the directory the file was read from). Add the key directory,
    /// the contact file and the key-change policy to it.
    pub fn config(&self, dir: Option<&Path>) -> Result<Config, Error> {
        let tls_roots = match &self.ca_file {
            None => TlsRoots::default(),
            Some(ca_file) => {
                let path = match dir {
                    Some(dir) if ca_file.is_relative() => dir.join(ca_file),
                    _ => ca_file.clone(),
                };
                let pem = std::fs::read(&path).map_err(|error| {
                    Error::ClientFile(format!(
                        "cannot read the CA file {}: {error}",
                        path.display()
                    ))
                })?;
                TlsRoots::from_pem(&pem).map_err(|error| {
                    Error::ClientFile(format!("the CA file {}: {error}", path.display()))
                })?
            }
        };
        Ok(Config::new(
            &self.app_id,
            pinned_key(&self.app_key, "app_key")?,
            pinned_key(&self.cards_service_key, "cards_service_key")?,
        )
        .cards_service(&self.cards_url)
        .app_server(&self.app_url)
        .tls_roots(tls_roots)
        .recipient_policy(if self.require_post_quantum {
            crate::RecipientPolicy::RequirePostQuantum
        } else {
            crate::RecipientPolicy::AnySuite
        }))
    }
}

fn pinned_key(text: &str, what: &str) -> Result<PublicKey, Error> {
    from_base64(text)
        .ok()
        .and_then(|bytes| PublicKey::from_bytes(&bytes).ok())
        .ok_or_else(|| Error::ClientFile(format!("{what} is not a public key")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn file() -> ClientFile {
        let key = virgil_crypto::encoding::to_base64(
            virgil_crypto::PrivateKey::from_seed(&[1; 32])
                .unwrap()
                .public_key()
                .as_bytes(),
        );
        ClientFile {
            cards_url: "http://127.0.0.1:8080".into(),
            cards_service_key: key.clone(),
            app_url: "http://127.0.0.1:8081".into(),
            app_id: "chat".into(),
            app_key: key,
            ca_file: None,
            require_post_quantum: false,
        }
    }

    #[test]
    fn round_trips_and_refuses_what_it_does_not_know() {
        let file = file();
        assert_eq!(
            ClientFile::from_toml(&file.to_toml().unwrap()).unwrap(),
            file
        );
        assert!(file.config(None).is_ok());
        let unknown = format!("{}extra = 1\n", file.to_toml().unwrap());
        assert!(matches!(
            ClientFile::from_toml(&unknown),
            Err(Error::ClientFile(_))
        ));
    }

    #[test]
    fn bad_keys_and_missing_ca_files_are_named() {
        let mut bad = file();
        bad.app_key = "not a key".into();
        assert!(matches!(bad.config(None), Err(Error::ClientFile(m)) if m.contains("app_key")));
        let mut missing = file();
        missing.ca_file = Some("nowhere.pem".into());
        let dir = tempfile::tempdir().unwrap();
        assert!(
            matches!(missing.config(Some(dir.path())), Err(Error::ClientFile(m)) if m.contains("nowhere.pem"))
        );
    }
}
