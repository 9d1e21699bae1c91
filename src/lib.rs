//! The Python binding of druva, built by maturin (feature `python`) into
//! `druva._druva`: it converts Python arguments into the core's types and the
//! core's results into Python objects, and decides nothing of its own.
//! Without the feature the crate is empty, so `cargo test` needs no Python.

#![cfg(feature = "python")]
// The `///` comments of #[pymethods] and #[pyfunction]s are the Python
// docstrings users read with help(): they follow Python's conventions
// (reST ``literals``, no "# Errors" sections), not rustdoc's.
#![allow(
    clippy::doc_markdown,
    clippy::doc_link_with_quotes,
    clippy::missing_errors_doc
)]
// pyo3 methods are called from Python, which cannot use #[must_use], and
// a Python method takes self whether or not it reads it (__reduce__).
#![allow(clippy::must_use_candidate, clippy::unused_self)]

mod args;
mod auth;
mod awaitable;
mod errors;
mod exceptions;
mod fake;
mod json;
mod logging;
mod loop_queue;
mod memo;
mod paginator;
mod response;
mod runtime;
mod session;
mod store;
mod token;

use pyo3::prelude::*;

#[pymodule]
fn _druva(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    logging::install(py)?;
    json::read_interpreter(py);
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_function(wrap_pyfunction!(token::get_token, module)?)?;
    module.add_function(wrap_pyfunction!(token::get_token_async, module)?)?;
    module.add_function(wrap_pyfunction!(auth::_token_auth, module)?)?;
    module.add_function(wrap_pyfunction!(runtime::_shutdown, module)?)?;
    module.add_function(wrap_pyfunction!(logging::_reset_log_cache, module)?)?;
    module.add_function(wrap_pyfunction!(json_loads, module)?)?;
    module.add_function(wrap_pyfunction!(fake::_fake_defaults, module)?)?;
    module.add_class::<session::PyBaseSession>()?;
    module.add_class::<session::PySession>()?;
    module.add_class::<session::PyAsyncSession>()?;
    module.add_class::<paginator::PyPaginator>()?;
    module.add_class::<awaitable::Awaitable>()?;
    module.add_class::<response::PyResponse>()?;
    module.add_class::<response::Headers>()?;
    module.add_class::<auth::TokenAuth>()?;
    module.add_class::<fake::PyFakeDruva>()?;
    module.add_class::<store::PyDirectoryTokenStore>()?;
    module.add_class::<store::DirectoryLock>()?;
    module.add_class::<loop_queue::LoopQueue>()?;
    module.add_class::<loop_queue::Canceller>()?;
    module.add_class::<awaitable::InTransit>()?;
    response::register_mapping(py)?;
    Ok(())
}

/// Decodes JSON text or bytes into Python objects, in Rust (the decoder behind
/// ``Response.json()``). Raises :class:`druva.ProtocolError` on invalid JSON.
#[pyfunction]
fn json_loads<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let bytes: std::borrow::Cow<'_, [u8]> = if let Ok(bytes) = data.cast::<pyo3::types::PyBytes>() {
        std::borrow::Cow::Borrowed(bytes.as_bytes())
    } else {
        std::borrow::Cow::Owned(args::text(data, "data")?.into_owned().into_bytes())
    };
    json::decode_or_raise(py, &bytes)
}
