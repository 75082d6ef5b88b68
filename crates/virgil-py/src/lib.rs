//! The Python SDK's Rust core: the `virgil._native` extension module (PyO3), a thin
//! binding of the `virgil` facade. Nothing here implements a format or a protocol: every
//! byte is made and checked by the Rust crates, so Python and Rust agree byte for byte.
//!
//! The Python package (`crates/virgil-py/python/virgil`) re-exports this module; its API
//! is documented in docs/python.md, its types in `_native.pyi`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bench;
mod buffer;
mod card;
mod errors;
mod files;
mod key;
mod sdk;

use pyo3::prelude::*;

/// The extension module: the classes and the exception hierarchy.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<buffer::VirgilBuffer>()?;
    m.add_class::<key::VirgilKey>()?;
    m.add_class::<sdk::Virgil>()?;
    m.add_class::<sdk::Keys>()?;
    m.add_class::<sdk::Identities>()?;
    m.add_class::<sdk::Identity>()?;
    m.add_class::<sdk::Cards>()?;
    m.add_class::<card::Card>()?;
    m.add_class::<sdk::Account>()?;
    m.add_class::<sdk::Backups>()?;
    m.add_class::<sdk::Devices>()?;
    m.add_class::<sdk::Messages>()?;
    m.add_class::<sdk::Received>()?;
    m.add_class::<sdk::Contacts>()?;
    // For benches/bench.py only (not part of the API).
    m.add_function(wrap_pyfunction!(bench::rust_timings, m)?)?;
    errors::register(m)?;
    Ok(())
}
