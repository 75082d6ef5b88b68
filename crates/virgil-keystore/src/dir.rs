//! Keys as files in one directory: `<name>.vkey`, mode 0600, in a 0700 directory.
//!
//! A save never loses or half-writes a key: the record goes to a temporary file in the
//! same directory (`.<name>.<unique>.tmp`), is synced, and is then hard-linked to its
//! final name. Linking fails if the name exists, atomically, so of two processes saving
//! the same name exactly one wins and nothing is ever replaced by accident; the
//! directory is synced after. `change_password` writes the new record the same way and
//! renames it over the old one (old or new, never neither). A crash can leave only a
//! temporary file, which `list` ignores and `open` removes once it is an hour old.

use crate::atomic::{self, TEMP_SUFFIX, io_error};
use crate::record::{self, KeyEntry};
use crate::{KeyListing, KeyName, KeyStore, KeyStoreError};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
#[cfg(feature = "test-util")]
use std::sync::atomic::Ordering;
use std::time::Duration;
use virgil_crypto::PrivateKey;
use virgil_crypto::keyblob::Params;

const EXTENSION: &str = "vkey";
/// Temporary files older than this are leftovers of a crash.
const STALE_AFTER: Duration = Duration::from_secs(60 * 60);

/// A key store in a directory.
#[derive(Debug)]
pub struct DirKeyStore {
    dir: PathBuf,
    params: Params,
    #[cfg(feature = "test-util")]
    crash_before_link: std::sync::atomic::AtomicBool,
}

impl DirKeyStore {
    /// The default key directory: `$VIRGIL_HOME/keys`, else `$XDG_DATA_HOME/virgil/keys`,
    /// else `$HOME/.local/share/virgil/keys`. `None` if none of these is set.
    pub fn default_dir() -> Option<PathBuf> {
        Self::default_dir_from(|var| std::env::var_os(var))
    }

    /// [`DirKeyStore::default_dir`] with the environment given as a function.
    pub fn default_dir_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
        let non_empty = |var| {
            env(var)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        if let Some(home) = non_empty("VIRGIL_HOME") {
            return Some(home.join("keys"));
        }
        if let Some(data) = non_empty("XDG_DATA_HOME") {
            return Some(data.join("virgil").join("keys"));
        }
        non_empty("HOME").map(|home| {
            home.join(".local")
                .join("share")
                .join("virgil")
                .join("keys")
        })
    }

    /// Opens the store in [`DirKeyStore::default_dir`].
    pub fn open_default() -> Result<Self, KeyStoreError> {
        let dir = Self::default_dir().ok_or_else(|| KeyStoreError::Io {
            action: "find the key directory (set VIRGIL_HOME or HOME)",
            path: PathBuf::new(),
            source: io::Error::from(io::ErrorKind::NotFound),
        })?;
        Self::open(dir)
    }

    /// Opens (creating it, mode 0700, if needed) the store in `dir`, and removes
    /// temporary files a crash left there more than an hour ago.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeyStoreError> {
        let dir = dir.into();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(io_error("create the key directory", &dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(io_error("restrict the key directory to its owner", &dir))?;
        }
        let store = Self {
            dir,
            params: Params::default(),
            #[cfg(feature = "test-util")]
            crash_before_link: std::sync::atomic::AtomicBool::new(false),
        };
        store.remove_stale_temp_files(STALE_AFTER)?;
        Ok(store)
    }

    /// Locks new keys with `params` instead of the default (600 000 iterations).
    pub fn with_params(mut self, params: Params) -> Self {
        self.params = params;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a key is stored in.
    pub fn path_of(&self, name: &KeyName) -> PathBuf {
        self.dir.join(format!("{name}.{EXTENSION}"))
    }

    /// Removes temporary files (`.<name>.<unique>.tmp`) not modified for `older_than`;
    /// returns how many. Younger ones may belong to a save in progress and are kept.
    pub fn remove_stale_temp_files(&self, older_than: Duration) -> Result<usize, KeyStoreError> {
        let mut removed = 0;
        for entry in
            fs::read_dir(&self.dir).map_err(io_error("list the key directory", &self.dir))?
        {
            let entry = entry.map_err(io_error("list the key directory", &self.dir))?;
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            if !(file_name.starts_with('.') && file_name.ends_with(TEMP_SUFFIX)) {
                continue;
            }
            let age = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok());
            if age.is_some_and(|age| age >= older_than) && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Test hook: make the next saves stop after writing and syncing the temporary file
    /// and before linking it, as if the process had crashed there.
    #[cfg(feature = "test-util")]
    pub fn simulate_crash_before_link(&self, crash: bool) {
        self.crash_before_link.store(crash, Ordering::SeqCst);
    }

    fn read(&self, name: &KeyName) -> Result<(PathBuf, Vec<u8>), KeyStoreError> {
        let path = self.path_of(name);
        match atomic::read_bounded(&path)? {
            Some(bytes) => Ok((path, bytes)),
            None => Err(KeyStoreError::NotFound {
                name: name.to_string(),
            }),
        }
    }
}

impl KeyStore for DirKeyStore {
    fn save(
        &self,
        name: &str,
        key: &PrivateKey,
        password: Option<&[u8]>,
    ) -> Result<KeyEntry, KeyStoreError> {
        let name = KeyName::new(name)?;
        let path = self.path_of(&name);
        if path.exists() {
            return Err(KeyStoreError::AlreadyExists {
                name: name.to_string(),
            });
        }
        let (entry, bytes) = record::seal(&name, key, password, self.params, record::now())?;
        let temp = atomic::write_temp(&self.dir, name.as_str(), &bytes)?;
        #[cfg(feature = "test-util")]
        if self.crash_before_link.load(Ordering::SeqCst) {
            return Err(KeyStoreError::Io {
                action: "link the key file (simulated crash)",
                path,
                source: io::Error::other("simulated crash before link"),
            });
        }
        if !atomic::link_new(&temp, &path)? {
            return Err(KeyStoreError::AlreadyExists {
                name: name.to_string(),
            });
        }
        Ok(entry)
    }

    fn load(&self, name: &str, password: Option<&[u8]>) -> Result<PrivateKey, KeyStoreError> {
        let name = KeyName::new(name)?;
        let (path, bytes) = self.read(&name)?;
        record::open(Some(&name), &bytes, password, Some(&path)).map(|(_, key)| key)
    }

    fn exists(&self, name: &str) -> Result<bool, KeyStoreError> {
        let name = KeyName::new(name)?;
        let path = self.path_of(&name);
        path.try_exists()
            .map_err(io_error("check the key file", &path))
    }

    fn entry(&self, name: &str) -> Result<KeyEntry, KeyStoreError> {
        let name = KeyName::new(name)?;
        let (path, bytes) = self.read(&name)?;
        record::entry(Some(&name), &bytes, Some(&path))
    }

    fn list(&self) -> Result<KeyListing, KeyStoreError> {
        let mut listing = KeyListing::default();
        let mut names = Vec::new();
        for item in
            fs::read_dir(&self.dir).map_err(io_error("list the key directory", &self.dir))?
        {
            let item = item.map_err(io_error("list the key directory", &self.dir))?;
            let file_name = item.file_name();
            let Some(stem) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(&format!(".{EXTENSION}")))
            else {
                continue; // temporary files and anything else that is not a key
            };
            if let Ok(name) = KeyName::new(stem) {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            match self.entry(name.as_str()) {
                Ok(entry) => listing.entries.push(entry),
                // Deleted between the directory read and now: not a key any more.
                Err(KeyStoreError::NotFound { .. }) => {}
                Err(damaged) => listing.damaged.push(damaged),
            }
        }
        Ok(listing)
    }

    fn delete(&self, name: &str) -> Result<(), KeyStoreError> {
        let name = KeyName::new(name)?;
        let path = self.path_of(&name);
        fs::remove_file(&path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => KeyStoreError::NotFound {
                name: name.to_string(),
            },
            _ => io_error("delete the key file", &path)(error),
        })?;
        atomic::sync_dir(&self.dir)
    }

    fn change_password(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<(), KeyStoreError> {
        let name = KeyName::new(name)?;
        let (path, bytes) = self.read(&name)?;
        let (entry, key) = record::open(Some(&name), &bytes, old, Some(&path))?;
        let (_, bytes) = record::seal(&name, &key, new, self.params, entry.created_at)?;
        let temp = atomic::write_temp(&self.dir, name.as_str(), &bytes)?;
        if let Err(error) = fs::rename(&temp, &path) {
            let _ = fs::remove_file(&temp);
            return Err(io_error("replace the key file", &path)(error));
        }
        atomic::sync_dir(&self.dir)
    }
}
