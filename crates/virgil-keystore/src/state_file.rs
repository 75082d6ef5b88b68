//! Small state files kept beside the keys (the facade's contact store): read with a
//! size bound, replaced atomically, and updated under an exclusive lock so two
//! processes never lose each other's changes.
//!
//! A replacement goes to a synced temporary file in the same directory, is renamed over
//! the old file (old or new, never neither, never half) and the directory is synced.
//! Only a regular file is ever read or replaced: a symbolic link, FIFO or device at the
//! path is an error, never followed.

use crate::KeyStoreError;
use crate::atomic::{self, io_error};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

/// A state file: at most `max_len` bytes, replaced atomically.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
    max_len: usize,
}

impl StateFile {
    /// The file at `path`, refused when longer than `max_len` bytes.
    pub fn new(path: impl Into<PathBuf>, max_len: usize) -> Self {
        Self {
            path: path.into(),
            max_len,
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its contents; `None` if there is no file yet.
    pub fn read(&self) -> Result<Option<Vec<u8>>, KeyStoreError> {
        let metadata = match fs::symlink_metadata(&self.path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error("inspect the state file", &self.path)(error)),
        };
        if !metadata.is_file() {
            return Err(not_regular(&self.path));
        }
        let file = File::open(&self.path).map_err(io_error("open the state file", &self.path))?;
        let mut bytes = Vec::new();
        file.take(self.max_len as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error("read the state file", &self.path))?;
        if bytes.len() > self.max_len {
            return Err(io_error("read the state file", &self.path)(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("longer than {} bytes", self.max_len),
            )));
        }
        Ok(Some(bytes))
    }

    /// Reads the file, lets `change` compute new contents (`None`: leave it as it is)
    /// and a result, and writes them atomically, all under an exclusive lock on
    /// `<path>.lock` that other processes updating the same file wait for.
    pub fn update<T, E: From<KeyStoreError>>(
        &self,
        change: impl FnOnce(Option<&[u8]>) -> Result<(Option<Vec<u8>>, T), E>,
    ) -> Result<T, E> {
        let dir = atomic::parent_dir(&self.path);
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(io_error("create the state file's directory", dir))?;
        let lock_path = self.path.with_extension("lock");
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let lock = options
            .open(&lock_path)
            .map_err(io_error("open the state file's lock", &lock_path))?;
        lock.lock()
            .map_err(io_error("lock the state file", &lock_path))?;
        let current = self.read()?;
        let (new, result) = change(current.as_deref())?;
        if let Some(bytes) = new {
            self.replace(&bytes)?;
        }
        drop(lock);
        Ok(result)
    }

    fn replace(&self, bytes: &[u8]) -> Result<(), KeyStoreError> {
        let dir = atomic::parent_dir(&self.path);
        let stem = self
            .path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("state");
        let temp = atomic::write_temp(dir, stem, bytes)?;
        // Checked again right before the rename: never replace a link or device.
        match fs::symlink_metadata(&self.path) {
            Ok(metadata) if !metadata.is_file() => {
                let _ = fs::remove_file(&temp);
                return Err(not_regular(&self.path));
            }
            _ => {}
        }
        if let Err(error) = fs::rename(&temp, &self.path) {
            let _ = fs::remove_file(&temp);
            return Err(io_error("replace the state file", &self.path)(error));
        }
        atomic::sync_dir(dir)
    }
}

fn not_regular(path: &Path) -> KeyStoreError {
    io_error("use the state file", path)(io::Error::new(
        io::ErrorKind::InvalidInput,
        "not a regular file (a link, directory or device is never read or replaced)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_replace_the_file_and_a_change_that_fails_leaves_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = StateFile::new(dir.path().join("contacts.json"), 16);
        assert_eq!(file.read().expect("read"), None);
        file.update(|old| {
            assert_eq!(old, None);
            Ok::<_, KeyStoreError>((Some(b"one".to_vec()), ()))
        })
        .expect("update");
        let failed: Result<(), KeyStoreError> = file.update(|_| {
            Err(KeyStoreError::Io {
                action: "test",
                path: PathBuf::new(),
                source: io::Error::other("no"),
            })
        });
        assert!(failed.is_err());
        assert_eq!(file.read().expect("read").as_deref(), Some(&b"one"[..]));
        let too_long = file.update(|_| Ok::<_, KeyStoreError>((Some(vec![b'x'; 17]), ())));
        assert!(too_long.is_ok());
        assert!(file.read().is_err(), "a file over the bound is refused");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_at_the_path_is_neither_read_nor_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("target");
        fs::write(&target, b"precious").expect("write");
        let path = dir.path().join("contacts.json");
        std::os::unix::fs::symlink(&target, &path).expect("link");
        let file = StateFile::new(&path, 64);
        assert!(file.read().is_err());
        assert!(
            file.update(|_| Ok::<_, KeyStoreError>((Some(b"new".to_vec()), ())))
                .is_err()
        );
        assert_eq!(fs::read(&target).expect("read"), b"precious");
        assert!(
            fs::symlink_metadata(&path)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("counter");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let path = path.clone();
                scope.spawn(move || {
                    let file = StateFile::new(path, 64);
                    for _ in 0..25 {
                        file.update(|old| {
                            let n: u32 = old
                                .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
                                .unwrap_or(0);
                            Ok::<_, KeyStoreError>((Some((n + 1).to_string().into_bytes()), ()))
                        })
                        .expect("update");
                    }
                });
            }
        });
        let file = StateFile::new(path, 64);
        assert_eq!(file.read().expect("read").as_deref(), Some(&b"100"[..]));
    }
}
