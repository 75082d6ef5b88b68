//! Python file objects as `io::Read` / `io::Write`, for streaming with the GIL released:
//! the Rust side runs detached and re-attaches only to call the file's `read`/`write`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::io;

/// How much is asked of a Python file per `read` call (the envelope's chunk size).
pub(crate) const CHUNK: usize = 64 * 1024;

fn io_error(error: PyErr) -> io::Error {
    io::Error::other(format!("the Python file object failed: {error}"))
}

/// A readable binary file object (`read(n) -> bytes`).
pub(crate) struct PyReader(pub(crate) Py<PyAny>);

impl io::Read for PyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let data = self
                .0
                .bind(py)
                .call_method1("read", (buf.len(),))
                .map_err(io_error)?;
            let data = data.cast::<PyBytes>().map_err(|_| {
                io::Error::other(
                    "the input's read() returned no bytes: open it in binary mode ('rb')",
                )
            })?;
            let bytes = data.as_bytes();
            let Some(target) = buf.get_mut(..bytes.len()) else {
                return Err(io::Error::other(
                    "the input's read() returned more than it was asked for",
                ));
            };
            target.copy_from_slice(bytes);
            Ok(bytes.len())
        })
    }
}

/// A writable binary file object (`write(bytes) -> int`).
pub(crate) struct PyWriter(pub(crate) Py<PyAny>);

impl io::Write for PyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let written = self
                .0
                .bind(py)
                .call_method1("write", (PyBytes::new(py, buf),))
                .map_err(io_error)?;
            // Raw files may write less than asked (and say so); None means all of it.
            match written.extract::<Option<usize>>() {
                Ok(Some(n)) if n <= buf.len() => Ok(n),
                Ok(None) => Ok(buf.len()),
                _ => Err(io::Error::other(
                    "the output's write() returned no byte count",
                )),
            }
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Python::attach(|py| {
            let file = self.0.bind(py);
            if file.hasattr("flush").map_err(io_error)? {
                file.call_method0("flush").map_err(io_error)?;
            }
            Ok(())
        })
    }
}
