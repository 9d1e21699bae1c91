//! JSON bytes straight into Python objects, in one pass, with no intermediate
//! tree ([`visitor`]). Object keys repeat across the records of a page
//! ("userID", "emailID", ...), so each distinct short key becomes one Python
//! string that every record shares, and so does each distinct short string
//! value ([`strings`]). Integers of any size stay exact ([`numbers`]), and a
//! body that is not JSON fails as `json.loads` fails ([`error`]). A plain
//! document (as API bodies are) is read by a scanner of its own
//! ([`scanner`]); any other goes through serde ([`visitor`]).

mod error;
mod ffi;
mod numbers;
mod scanner;
mod strings;
mod visitor;

use pyo3::prelude::*;

use numbers::Numbers;
use strings::StringCache;
use visitor::{decode_with, State};

pub use error::read_interpreter;

/// Decodes a JSON document into Python objects; errors say where it broke.
pub fn decode<'py>(py: Python<'py>, bytes: &[u8]) -> Result<Bound<'py, PyAny>, serde_json::Error> {
    let mut strings = StringCache::default();
    if let Some(value) = scanner::decode_plain(py, bytes, &mut strings) {
        return Ok(value);
    }
    let mut state = State {
        strings,
        numbers: Numbers::Fast {
            inexact_seen: false,
        },
        depth: 0,
    };
    let error = match decode_with(py, bytes, &mut state) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let Some((literals, exact_bytes)) = state.numbers.exact(&error, bytes) else {
        return Err(error);
    };
    state.numbers = Numbers::Exact(literals);
    decode_with(py, &exact_bytes, &mut state)
}

/// [`decode`], raising `druva.JSONDecodeError` (a `json.JSONDecodeError`)
/// where the body is not JSON.
pub fn decode_or_raise<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    decode(py, bytes).map_err(|error| error::decode_error(bytes, &error))
}

/// The `druva.JSONDecodeError` for a body the core found not to be JSON;
/// `None` if it is JSON after all.
pub fn not_json_error(bytes: &[u8]) -> Option<PyErr> {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .err()
        .map(|error| error::decode_error(bytes, &error))
}
