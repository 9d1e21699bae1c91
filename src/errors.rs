//! The binding's one error type: a core error or a Python one, converted to
//! a Python exception in one place.
//!
//! A method returns [`Result`] and uses plain `?` on core and pyo3 calls
//! alike; pyo3 raises the error through `From<Error> for PyErr`. The
//! exceptions are built lazily, so a future can fail on a runtime thread
//! without taking the GIL there; Python builds the instance when it raises.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::PyErr;

use crate::exceptions::{AuthenticationError, ProtocolError, TimeoutError, TransportError};
use crate::json::not_json_error;
use crate::response::status_error;
use druva_core::errors::Error as CoreError;

/// A failure of a binding call: the core's, or Python's own.
#[derive(Debug)]
pub enum Error {
    Core(CoreError),
    Py(PyErr),
}

/// The result of a binding call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<CoreError> for Error {
    fn from(error: CoreError) -> Self {
        Error::Core(error)
    }
}

impl From<PyErr> for Error {
    fn from(error: PyErr) -> Self {
        Error::Py(error)
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        let error = match error {
            Error::Core(error) => error,
            Error::Py(error) => return error,
        };
        let message = error.to_string();
        match error {
            CoreError::InvalidArgument { .. } => PyValueError::new_err(message),
            CoreError::Closed { .. } => PyRuntimeError::new_err(message),
            CoreError::Authentication {
                status_code,
                error,
                error_description,
            } => AuthenticationError::new_err((message, status_code, error, error_description)),
            CoreError::HttpStatus { response } | CoreError::RateLimit { response } => {
                status_error(*response)
            }
            CoreError::Transport { .. } | CoreError::Tls { .. } => TransportError::new_err(message),
            CoreError::Timeout { .. } => TimeoutError::new_err(message),
            CoreError::Protocol { .. } => ProtocolError::new_err(message),
            CoreError::NotJson { body, .. } => {
                not_json_error(&body).unwrap_or_else(|| ProtocolError::new_err(message))
            }
        }
    }
}

/// The Python exception of a core error, where a closure needs a `PyErr`
/// (`map_err(to_py_err)`); elsewhere `?` converts.
pub fn to_py_err(error: CoreError) -> PyErr {
    Error::Core(error).into()
}

/// Converts a core result where a function returns `PyResult`:
/// `core_call().or_raise()?`. A function that returns [`Result`] needs no
/// call: `core_call()?`.
pub trait OrRaise<T> {
    fn or_raise(self) -> pyo3::PyResult<T>;
}

impl<T> OrRaise<T> for druva_core::errors::Result<T> {
    fn or_raise(self) -> pyo3::PyResult<T> {
        self.map_err(to_py_err)
    }
}
