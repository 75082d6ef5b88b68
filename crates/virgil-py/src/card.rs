//! `Card`, and how the Python values that name recipients or senders (a Card, or nested
//! lists of Cards) become the facade's cards.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// A Virgil Card: an identity and a public key, signed by its owner (a request), then
/// by the application and the cards service (published).
#[pyclass(frozen, module = "virgil")]
pub(crate) struct Card(pub(crate) virgil::Card);

#[pymethods]
impl Card {
    /// The card id (hex).
    #[getter]
    fn id(&self) -> String {
        self.0.id().to_string()
    }

    /// The identity, e.g. "alice".
    #[getter]
    fn identity(&self) -> &str {
        self.0.identity()
    }

    /// The key id (hex) of the card's public key.
    #[getter]
    fn key_id(&self) -> String {
        self.0.public_key().key_id().to_string()
    }

    /// The card as text (base64), to send to your server or share: `cards.import_card`
    /// reads it back.
    fn export(&self) -> String {
        self.0.export()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Card>()
            .is_ok_and(|other| other.get().0.id() == self.0.id())
    }

    fn __hash__(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&self.0.id().to_string(), &mut hasher);
        std::hash::Hasher::finish(&hasher)
    }

    fn __repr__(&self) -> String {
        format!("Card(id={}, identity={:?})", self.0.id(), self.0.identity())
    }
}

/// The cards in `value` (a Card or nested lists/tuples of Cards), with every other leaf
/// in `others` (e.g. the tutorial's signing key in `[alice_key, bob_cards]`).
pub(crate) fn walk<'py>(
    value: &Bound<'py, PyAny>,
    cards: &mut Vec<virgil::Card>,
    others: &mut Vec<Bound<'py, PyAny>>,
    depth: usize,
) -> PyResult<()> {
    if let Ok(card) = value.cast::<Card>() {
        cards.push(card.get().0.clone());
        return Ok(());
    }
    let iterable = depth < 4
        && !value.is_instance_of::<PyString>()
        && !value.is_instance_of::<PyBytes>()
        && value.hasattr("__iter__")?;
    if !iterable {
        others.push(value.clone());
        return Ok(());
    }
    for item in value.try_iter()? {
        walk(&item?, cards, others, depth + 1)?;
    }
    Ok(())
}

/// The cards in `value`: a Card or (nested) lists/tuples of Cards, and nothing else.
pub(crate) fn cards_of(value: &Bound<'_, PyAny>) -> PyResult<Vec<virgil::Card>> {
    let mut cards = Vec::new();
    let mut others = Vec::new();
    walk(value, &mut cards, &mut others, 0)?;
    let Some(other) = others.first() else {
        return Ok(cards);
    };
    let name = other.get_type().name()?.to_string();
    Err(PyTypeError::new_err(if name == "VirgilKey" {
        "expected Cards, got a VirgilKey: encrypt to a person's card, not to a private key"
            .to_owned()
    } else {
        format!("expected a Card or a list of Cards, not {name}")
    }))
}
