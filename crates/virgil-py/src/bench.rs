//! The Rust side of the Python benchmark (crates/virgil-py/benches/bench.py): the same
//! facade calls the Python methods make, timed in Rust with no Python in the loop, so
//! one run measures both and reports their ratio.

use crate::buffer::bytes_of;
use crate::card::Card;
use crate::errors::to_py;
use crate::key::VirgilKey;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::time::Instant;

/// Seconds per call of `operation` ("sign_then_encrypt": seal `message` for `card` and
/// `key`; "round_trip": that, then decrypt it with `key` and verify it against `card`),
/// `iterations` times, with the GIL released.
#[pyfunction]
pub(crate) fn rust_timings(
    py: Python<'_>,
    operation: &str,
    key: &VirgilKey,
    card: &Card,
    message: &Bound<'_, PyAny>,
    iterations: usize,
) -> PyResult<Vec<f64>> {
    let round_trip = match operation {
        "sign_then_encrypt" => false,
        "round_trip" => true,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown operation {other:?}: \"sign_then_encrypt\" or \"round_trip\""
            )));
        }
    };
    let message = bytes_of(message)?;
    let cards = std::slice::from_ref(&card.0);
    py.detach(|| {
        (0..iterations)
            .map(|_| {
                let started = Instant::now();
                let sealed = key.key.sign_then_encrypt(&*message, cards)?;
                if round_trip {
                    key.key.decrypt_then_verify_any(&sealed, cards)?;
                }
                Ok(started.elapsed().as_secs_f64())
            })
            .collect::<Result<Vec<f64>, virgil::Error>>()
    })
    .map_err(to_py)
}
