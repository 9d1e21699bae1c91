//! The one mapping from the core's [`Error`] to Python exceptions.
//!
//! The classes are defined in `druva/_errors.py` (where multiple inheritance
//! from the builtins is plain Python) and imported when first raised. The
//! exceptions are built lazily, so a future can fail on a runtime thread
//! without taking the GIL there; Python builds the instance when it raises.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use druva_core::errors::Error;

use crate::response::PyResponse;

pyo3::import_exception!(druva._errors, AuthenticationError);
pyo3::import_exception!(druva._errors, HTTPStatusError);
pyo3::import_exception!(druva._errors, RateLimitError);
pyo3::import_exception!(druva._errors, TransportError);
pyo3::import_exception!(druva._errors, TimeoutError);
pyo3::import_exception!(druva._errors, ProtocolError);
pyo3::import_exception!(druva._errors, JSONDecodeError);

/// Converts a core result for Python: `core_call().or_raise()?`.
pub trait OrRaise<T> {
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for druva_core::errors::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(to_py_err)
    }
}

/// The Python exception for a core error.
pub fn to_py_err(error: Error) -> PyErr {
    {
        let message = error.to_string();
        match error {
            Error::InvalidArgument { .. } => PyValueError::new_err(message),
            Error::Closed { .. } => PyRuntimeError::new_err(message),
            Error::Authentication {
                status_code,
                error,
                error_description,
            } => AuthenticationError::new_err((message, status_code, error, error_description)),
            Error::HttpStatus { response } => {
                let envelope = response.error_envelope();
                let response = PyResponse::from(*response);
                HTTPStatusError::new_err((message, response, envelope.code, envelope.message))
            }
            Error::RateLimit { response } => {
                let envelope = response.error_envelope();
                let response = PyResponse::from(*response);
                RateLimitError::new_err((message, response, envelope.code, envelope.message))
            }
            Error::Transport { .. } | Error::Tls { .. } => TransportError::new_err(message),
            Error::Timeout { .. } => TimeoutError::new_err(message),
            Error::Protocol { .. } => ProtocolError::new_err(message),
            Error::NotJson { body, .. } => crate::json::not_json_error(&body)
                .unwrap_or_else(|| ProtocolError::new_err(message)),
        }
    }
}
