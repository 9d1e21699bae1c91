//! The one mapping from the core's [`Error`] to Python exceptions.
//!
//! The classes are defined in `druva/_errors.py` (where multiple inheritance
//! from the builtins is plain Python) and imported here once.

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

use crate::errors::{ArgumentKind, Error};
use crate::python::response::PyResponse;

static AUTHENTICATION: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static HTTP_STATUS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static RATE_LIMIT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TRANSPORT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIMEOUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static PROTOCOL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

const MODULE: &str = "druva._errors";

fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, MODULE, name)
}

/// The Python exception for a core error.
pub fn to_py(py: Python<'_>, error: Error) -> PyErr {
    build(py, error).unwrap_or_else(|failure| failure)
}

fn build(py: Python<'_>, error: Error) -> PyResult<PyErr> {
    let message = error.to_string();
    let instance = match error {
        Error::InvalidArgument {
            kind: ArgumentKind::Type,
            ..
        } => return Ok(PyTypeError::new_err(message)),
        Error::InvalidArgument {
            kind: ArgumentKind::Value,
            ..
        } => return Ok(PyValueError::new_err(message)),
        Error::Closed { .. } => return Ok(PyRuntimeError::new_err(message)),
        Error::Authentication {
            status_code,
            error,
            error_description,
        } => class(py, &AUTHENTICATION, "AuthenticationError")?.call1((
            message,
            status_code,
            error,
            error_description,
        ))?,
        Error::HttpStatus { response } => {
            status_error(py, &HTTP_STATUS, "HTTPStatusError", message, *response)?
        }
        Error::RateLimit { response } => {
            status_error(py, &RATE_LIMIT, "RateLimitError", message, *response)?
        }
        Error::Transport { .. } => class(py, &TRANSPORT, "TransportError")?.call1((message,))?,
        Error::Timeout { .. } => class(py, &TIMEOUT, "TimeoutError")?.call1((message,))?,
        Error::Protocol { .. } => class(py, &PROTOCOL, "ProtocolError")?.call1((message,))?,
    };
    Ok(PyErr::from_value(instance))
}

fn status_error<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
    message: String,
    response: crate::response::Response,
) -> PyResult<Bound<'py, PyAny>> {
    let envelope = response.error_envelope();
    let kwargs = PyDict::new(py);
    kwargs.set_item("code", envelope.code)?;
    kwargs.set_item("message", envelope.message)?;
    let response = Py::new(py, PyResponse::from(response))?;
    class(py, cell, name)?.call((message, response), Some(&kwargs))
}

/// Converts a core result for Python.
pub trait IntoPyResult<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for crate::errors::Result<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|error| to_py(py, error))
    }
}
