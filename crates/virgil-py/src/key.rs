//! `VirgilKey`: a user's private key with the tutorial's operations, one-shot and
//! streaming over Python file objects.

use crate::buffer::{VirgilBuffer, bytes_of, envelope_of};
use crate::card::{Card, cards_of};
use crate::errors::to_py;
use crate::files::{CHUNK, PyReader, PyWriter};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::io::{BufReader, BufWriter, Write as _};
use std::sync::Arc;
use virgil::Key;
use virgil::stream::{Decryptor, Encryptor, Format};

/// A user's private key (from `virgil.keys.generate()` or `virgil.keys.load(...)`).
/// Its `repr` shows the key id only.
#[pyclass(frozen, module = "virgil")]
pub(crate) struct VirgilKey {
    pub(crate) key: Key,
    pub(crate) virgil: Arc<virgil::Virgil>,
}

impl VirgilKey {
    /// Signs with this key and encrypts for `cards` and this key.
    pub(crate) fn seal(
        &self,
        py: Python<'_>,
        message: &[u8],
        cards: &[virgil::Card],
    ) -> PyResult<VirgilBuffer> {
        py.detach(|| self.key.sign_then_encrypt(message, cards))
            .map(VirgilBuffer)
            .map_err(to_py)
    }
}

/// The cards a message must be signed by: at least one (`decrypt_*` always verifies).
fn senders_of(sender: &Bound<'_, PyAny>) -> PyResult<Vec<virgil::Card>> {
    let senders = cards_of(sender)?;
    if senders.is_empty() {
        return Err(PyValueError::new_err(
            "give the sender's card (or cards) to verify the message with",
        ));
    }
    Ok(senders)
}

#[pymethods]
impl VirgilKey {
    /// The key id (hex), as in card listings and `virgil key list`.
    #[getter]
    fn id(&self) -> String {
        self.key.private_key().key_id().to_string()
    }

    /// The key's suite: `"classic"` or `"pq"` (post-quantum).
    #[getter]
    fn suite(&self) -> &'static str {
        self.key.suite().name()
    }

    /// Saves the key under `name`, locked with `password` (None: unprotected). Never
    /// replaces a saved key (raises KeyExists).
    #[pyo3(signature = (name, password=None))]
    fn save(&self, py: Python<'_>, name: &str, password: Option<&str>) -> PyResult<()> {
        py.detach(|| self.virgil.keys().save(&self.key, name, password))
            .map(|_| ())
            .map_err(to_py)
    }

    /// Signs `message` (str, bytes or VirgilBuffer) with this key, then encrypts it for
    /// the holders of `recipients` (a Card or a list of Cards, lists may nest) and for
    /// this key.
    fn sign_then_encrypt(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        recipients: &Bound<'_, PyAny>,
    ) -> PyResult<VirgilBuffer> {
        let message = bytes_of(message)?;
        let cards = cards_of(recipients)?;
        self.seal(py, &message, &cards)
    }

    /// Decrypts `cipher` (a VirgilBuffer, bytes, or the base64/armored text) with this
    /// key WITHOUT checking who sent it: for unsigned messages (`virgil.encrypt`). A
    /// signature, if any, is not checked, so prefer `decrypt_then_verify`.
    fn decrypt(&self, py: Python<'_>, cipher: &Bound<'_, PyAny>) -> PyResult<VirgilBuffer> {
        let envelope = envelope_of(cipher)?;
        py.detach(|| self.key.decrypt(&*envelope))
            .map(VirgilBuffer)
            .map_err(to_py)
    }

    /// Decrypts `cipher` (a VirgilBuffer, bytes, or the base64/armored text) with this
    /// key, then verifies that the holder of `sender` (a Card, or a list of Cards of
    /// which one signed) signed it. Raises DecryptionError or VerificationError.
    fn decrypt_then_verify(
        &self,
        py: Python<'_>,
        cipher: &Bound<'_, PyAny>,
        sender: &Bound<'_, PyAny>,
    ) -> PyResult<VirgilBuffer> {
        let envelope = envelope_of(cipher)?;
        let senders = senders_of(sender)?;
        py.detach(|| self.key.decrypt_then_verify_any(&*envelope, &senders))
            .map(VirgilBuffer)
            .map_err(to_py)
    }

    /// Streams `src` (a binary file object open for reading) to `dst` (open for
    /// writing) signed by this key and encrypted for `recipients` and this key, in
    /// bounded memory: `sign_then_encrypt`'s rules. With `sign=False` the file is
    /// unsigned and encrypted for `recipients` only (the facade's unsigned rule: there
    /// is no sender, so no sender's copy), still under the deployment's policy.
    /// `armor=True` writes ASCII armor. Returns the number of plaintext bytes read.
    #[pyo3(signature = (src, dst, recipients, *, armor=false, sign=true))]
    fn encrypt_file(
        &self,
        py: Python<'_>,
        src: Py<PyAny>,
        dst: Py<PyAny>,
        recipients: &Bound<'_, PyAny>,
        armor: bool,
        sign: bool,
    ) -> PyResult<u64> {
        let cards = cards_of(recipients)?;
        let format = if armor {
            Format::Armored
        } else {
            Format::Binary
        };
        py.detach(|| -> Result<u64, virgil::Error> {
            let output = BufWriter::with_capacity(CHUNK, PyWriter(dst));
            let mut input = BufReader::with_capacity(CHUNK, PyReader(src));
            let mut writer = if sign {
                Encryptor::signed(output, &self.key, &cards, format)?
            } else {
                self.virgil.encryptor(output, &cards, format)?
            };
            let read = std::io::copy(&mut input, &mut writer)?;
            let mut output = writer.finish()?;
            output.flush()?;
            Ok(read)
        })
        .map_err(to_py)
    }

    /// Streams the message in `src` (binary or armored) to `dst`, decrypted with this
    /// key and verified against `sender` (a Card or a list of Cards); returns the Card
    /// that signed it. Plaintext is written as it authenticates: if this raises, discard
    /// what `dst` received.
    fn decrypt_file(
        &self,
        py: Python<'_>,
        src: Py<PyAny>,
        dst: Py<PyAny>,
        sender: &Bound<'_, PyAny>,
    ) -> PyResult<Card> {
        let senders = senders_of(sender)?;
        py.detach(|| -> Result<virgil::Card, virgil::Error> {
            let input = BufReader::with_capacity(CHUNK, PyReader(src));
            let mut output = BufWriter::with_capacity(CHUNK, PyWriter(dst));
            let mut reader = Decryptor::verified(input, &self.key, &senders)?;
            reader.copy_to(&mut output)?;
            output.flush()?;
            // The verified reader ends without error only once the signature checked
            // out, so a sender is always found; were it not, say so as the facade does.
            reader
                .sender()
                .cloned()
                .ok_or_else(|| virgil::Error::NotSigned {
                    expected: senders
                        .iter()
                        .map(virgil::Card::identity)
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .map(Card)
        .map_err(to_py)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<VirgilKey>()
            .is_ok_and(|other| other.get().key == self.key)
    }

    fn __hash__(&self) -> u64 {
        let id = self.key.private_key().key_id().to_string();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&id, &mut hasher);
        std::hash::Hasher::finish(&hasher)
    }

    /// The key id only, never key material.
    fn __repr__(&self) -> String {
        format!("VirgilKey(id={})", self.id())
    }
}
