//! Where `-o` output goes. A new or regular file is written to a temporary file beside it
//! and renamed into place only on success (fsync first), so a failure leaves nothing
//! half-written. What is not a regular file is never replaced: a character device or a
//! FIFO (`/dev/null`, `/dev/stdout`, a named pipe) is written through; a symbolic link,
//! a directory or anything else is refused with a message that says what to do.

use crate::error::{CliError, context};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};

/// An open output: standard output, a device or FIFO, or a temporary file.
pub(crate) enum Output {
    /// Standard output.
    Stdout(io::Stdout),
    /// A character device or FIFO, written through.
    Stream { file: File, path: PathBuf },
    /// A temporary file, renamed over `path` on commit.
    File {
        temp: tempfile::NamedTempFile,
        path: PathBuf,
    },
}

impl Output {
    /// Opens `path` for writing (standard output if `None`).
    pub(crate) fn open(path: Option<&Path>) -> Result<Self, CliError> {
        let Some(path) = path else {
            return Ok(Output::Stdout(io::stdout()));
        };
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Self::temp_beside(path),
            Err(e) => Err(context(format!("cannot write {}", path.display()))(e)),
            Ok(meta) => {
                let kind = meta.file_type();
                if kind.is_file() {
                    Self::temp_beside(path)
                } else if kind.is_char_device() || kind.is_fifo() {
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(context(format!("cannot write {}", path.display())))?;
                    Ok(Output::Stream {
                        file,
                        path: path.to_path_buf(),
                    })
                } else if kind.is_symlink() {
                    Err(CliError::new(format!(
                        "{} is a symbolic link; refusing to replace it (name the file it points to, or remove the link first)",
                        path.display()
                    )))
                } else if kind.is_dir() {
                    Err(CliError::new(format!(
                        "{} is a directory; name a file to write (e.g. {})",
                        path.display(),
                        path.join("out.virgil").display()
                    )))
                } else {
                    Err(CliError::new(format!(
                        "{} is not a regular file, a character device or a FIFO; refusing to write to it",
                        path.display()
                    )))
                }
            }
        }
    }

    fn temp_beside(path: &Path) -> Result<Self, CliError> {
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = tempfile::Builder::new()
            .prefix(".virgil-partial-")
            .tempfile_in(dir)
            .map_err(context(format!("cannot write in {}", dir.display())))?;
        Ok(Output::File {
            temp,
            path: path.to_path_buf(),
        })
    }

    /// Makes the output final (for a file: fsync, then rename over the path).
    pub(crate) fn commit(self) -> Result<(), CliError> {
        match self {
            Output::Stdout(mut out) => out.flush().map_err(context("cannot write the output")),
            Output::Stream { mut file, path } => file
                .flush()
                .map_err(context(format!("cannot write {}", path.display()))),
            Output::File { temp, path } => {
                temp.as_file()
                    .sync_all()
                    .map_err(context(format!("cannot write {}", path.display())))?;
                temp.persist(&path).map_err(|e| {
                    CliError::new(format!("cannot write {}: {}", path.display(), e.error))
                })?;
                Ok(())
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(out) => out.write(data),
            Output::Stream { file, .. } => file.write(data),
            Output::File { temp, .. } => temp.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.flush(),
            Output::Stream { file, .. } => file.flush(),
            Output::File { temp, .. } => temp.flush(),
        }
    }
}

/// Writes `bytes` to `path` as [`Output`] does (all or nothing for a regular file).
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let mut output = Output::open(Some(path))?;
    output
        .write_all(bytes)
        .map_err(context(format!("cannot write {}", path.display())))?;
    output.commit()
}

/// Prints `value` as pretty JSON on standard output (the `--json` of every command).
pub(crate) fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(context("cannot encode JSON"))?;
    println!("{text}");
    Ok(())
}
