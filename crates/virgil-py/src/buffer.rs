//! `VirgilBuffer` (the tutorial's bytes with text conversions) and how Python values
//! become bytes.

use crate::errors::DecryptionError;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use std::borrow::Cow;
use virgil::{Buffer, Encoding};

/// Bytes: a message or a ciphertext, with text conversions (utf8, base64, hex).
#[pyclass(frozen, eq, module = "virgil")]
#[derive(PartialEq)]
pub(crate) struct VirgilBuffer(pub(crate) Buffer);

pub(crate) fn encoding(name: &str) -> PyResult<Encoding> {
    match name.to_ascii_lowercase().replace('-', "").as_str() {
        "utf8" => Ok(Encoding::Utf8),
        "base64" => Ok(Encoding::Base64),
        "hex" => Ok(Encoding::Hex),
        _ => Err(PyValueError::new_err(format!(
            "unknown encoding {name:?}: use \"utf8\", \"base64\" or \"hex\""
        ))),
    }
}

#[pymethods]
impl VirgilBuffer {
    /// Bytes, a bytearray or another buffer.
    #[new]
    fn new(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self(Buffer::from_bytes(bytes_of(data)?.into_owned())))
    }

    /// Text in `encoding`: "utf8" (default), "base64" or "hex".
    #[staticmethod]
    #[pyo3(signature = (text, encoding="utf8"))]
    fn from_string(text: &str, encoding: &str) -> PyResult<Self> {
        // Bad base64 or hex is the caller's mistake, like int("x"): a ValueError.
        Buffer::from_string(text, self::encoding(encoding)?)
            .map(Self)
            .map_err(|error| PyValueError::new_err(error.to_string()))
    }

    /// Bytes (or a bytearray).
    #[staticmethod]
    fn from_bytes(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        Self::new(data)
    }

    /// The bytes as text: "utf8" (default; undecodable bytes become U+FFFD), "base64"
    /// or "hex".
    #[pyo3(signature = (encoding="utf8"))]
    fn to_string(&self, encoding: &str) -> PyResult<String> {
        Ok(self.0.to_string(self::encoding(encoding)?))
    }

    /// The bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.as_bytes())
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.to_bytes(py)
    }

    fn __len__(&self) -> usize {
        self.0.as_bytes().len()
    }

    /// The length only: a buffer may hold a secret message.
    fn __repr__(&self) -> String {
        format!("VirgilBuffer(<{} bytes>)", self.0.as_bytes().len())
    }
}

/// The bytes of a `str` (UTF-8), `bytes`, `bytearray` or `VirgilBuffer`: borrowed from
/// the immutable ones (so a 64 MiB message is not copied, and may be read with the GIL
/// released), copied from a `bytearray` (which another thread could change).
pub(crate) fn bytes_of<'a>(data: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(buffer) = data.cast::<VirgilBuffer>() {
        return Ok(Cow::Borrowed(buffer.get().0.as_bytes()));
    }
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(bytes.as_bytes()));
    }
    if let Ok(bytes) = data.cast::<PyByteArray>() {
        return Ok(Cow::Owned(bytes.to_vec()));
    }
    if let Ok(text) = data.cast::<PyString>() {
        return Ok(match text.to_cow()? {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        });
    }
    Err(PyTypeError::new_err(format!(
        "expected str, bytes, bytearray or VirgilBuffer, not {}",
        data.get_type().name()?
    )))
}

/// The envelope in a ciphertext given as bytes, as base64 text (the tutorial's
/// `to_string("base64")`, also when read back with `VirgilBuffer.from_string(text)`), or
/// armored. The three cannot be confused: a binary envelope starts with `VGLE`, its
/// base64 with `VkdMR`, armor with `-----BEGIN VIRGIL MESSAGE-----`.
pub(crate) fn envelope_of<'a>(data: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    let bytes = bytes_of(data)?;
    let text = bytes.trim_ascii_start();
    if text.starts_with(b"VkdMR")
        && let Some(decoded) = std::str::from_utf8(text.trim_ascii_end())
            .ok()
            .and_then(|text| Buffer::from_string(text, Encoding::Base64).ok())
    {
        return Ok(Cow::Owned(decoded.into_bytes()));
    }
    if text.starts_with(virgil::crypto::armor::BEGIN.as_bytes()) {
        let mut envelope = Vec::new();
        return virgil::crypto::armor::ArmorReader::new(text)
            .and_then(|mut reader| std::io::Read::read_to_end(&mut reader, &mut envelope))
            .map(|_| Cow::Owned(envelope))
            .map_err(|error| {
                DecryptionError::new_err(format!("the armored message is damaged: {error}"))
            });
    }
    Ok(bytes)
}
