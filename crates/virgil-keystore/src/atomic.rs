//! The write protocol shared by [`crate::DirKeyStore`] and [`crate::key_file`]: a new
//! record goes to a temporary file in the destination's directory, is synced, and is
//! hard-linked to its final name (which fails, atomically, if the name exists); the
//! directory is synced after. Reads are bounded to one record.

use crate::KeyStoreError;
use crate::record::MAX_RECORD_LEN;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Temporary files end with this.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

pub(crate) fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> KeyStoreError + 'a {
    move |source| KeyStoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Syncs a directory, so that a link or rename in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), KeyStoreError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error("sync the key directory", dir))
}

/// Writes `bytes` to a new temporary file `.<stem>.<unique>.tmp` (mode 0600) in `dir`
/// and syncs it.
pub(crate) fn write_temp(dir: &Path, stem: &str, bytes: &[u8]) -> Result<PathBuf, KeyStoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let unique = format!(
            "{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.subsec_nanos())
        );
        let path = dir.join(format!(".{stem}.{unique}{TEMP_SUFFIX}"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = match options.open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(io_error("create a temporary key file", &path)(error)),
        };
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(error) = written {
            let _ = fs::remove_file(&path);
            return Err(io_error("write a temporary key file", &path)(error));
        }
        return Ok(path);
    }
}

/// Links the synced temporary file `temp` to `path` unless `path` exists, removes
/// `temp`, and syncs the directory. `Ok(false)`: `path` exists, nothing was replaced.
pub(crate) fn link_new(temp: &Path, path: &Path) -> Result<bool, KeyStoreError> {
    let linked = fs::hard_link(temp, path);
    let _ = fs::remove_file(temp);
    match linked {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(error) => return Err(io_error("link the key file into place", path)(error)),
    }
    sync_dir(parent_dir(path))?;
    Ok(true)
}

/// The directory `path` is in; `.` for a bare file name (whose parent is empty).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Reads at most one byte more than a record may have, so a huge file is not loaded.
/// `Ok(None)`: no such file.
pub(crate) fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, KeyStoreError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error("open the key file", path)(error)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_RECORD_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error("read the key file", path))?;
    Ok(Some(bytes))
}
