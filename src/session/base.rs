//! `_BaseSession`: the core session and the one way every call is sent,
//! which `Session` and `AsyncSession` extend.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::awaitable::{self, Awaitable, Work};
use crate::errors::Result;
use crate::response::PyResponse;
use crate::runtime::wait;
use crate::token::token_to_py;
use druva_core::response::Response;
use druva_core::session::{Call, Session};

/// What `Session` and `AsyncSession` share: the core session and every call.
#[pyclass(subclass, frozen, module = "druva", name = "_BaseSession")]
pub struct PyBaseSession {
    pub(super) inner: Arc<Session>,
    pub(super) is_async: bool,
}

impl PyBaseSession {
    pub(super) fn new(inner: Arc<Session>, is_async: bool) -> Self {
        PyBaseSession { inner, is_async }
    }

    /// Sends a call: the response now (sync), or a coroutine of it (async).
    pub(super) fn send(&self, py: Python<'_>, call: Call<'_>) -> Result<Py<PyAny>> {
        let request = self.inner.prepare(call)?;
        let session = Arc::clone(&self.inner);
        if !self.is_async {
            let response = wait(py, session.send(request))?;
            return Ok(response_to_py(py, response)?);
        }
        let start =
            move |py: Python<'_>| awaitable::spawn(py, session.send(request), response_to_py);
        Self::returned(py, Work::Start(Box::new(start)))
    }

    /// A value as this session returns it: itself (sync) or a coroutine that
    /// returns it (async).
    pub(super) fn finished(&self, py: Python<'_>, value: Py<PyAny>) -> Result<Py<PyAny>> {
        if self.is_async {
            return Self::returned(py, Work::Ready(value));
        }
        Ok(value)
    }

    /// A coroutine that does `work`.
    pub(super) fn returned(py: Python<'_>, work: Work) -> Result<Py<PyAny>> {
        Ok(Py::new(py, Awaitable::new(work))?.into_any())
    }

    /// The token: cached (a cache hit touches no runtime), or fetched.
    pub(super) fn token(&self, py: Python<'_>) -> Result<Py<PyAny>> {
        if let Some(token) = self.inner.cached_token() {
            let token = token_to_py(py, &token)?.unbind();
            return self.finished(py, token);
        }
        let session = Arc::clone(&self.inner);
        if !self.is_async {
            let token = wait(py, session.token())?;
            return Ok(token_to_py(py, &token)?.unbind());
        }
        let start = move |py: Python<'_>| {
            awaitable::spawn(py, session.token(), |py, token| {
                Ok(token_to_py(py, &token)?.unbind())
            })
        };
        Self::returned(py, Work::Start(Box::new(start)))
    }

    /// The Python class's name, for messages and the repr.
    pub(super) fn class_name(&self) -> &'static str {
        if self.is_async {
            "AsyncSession"
        } else {
            "Session"
        }
    }
}

/// A core response as a `druva.Response`.
pub(super) fn response_to_py(py: Python<'_>, response: Response) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyResponse::from(response))?.into_any())
}

/// Calls `druva._progress.<function>(*args)`: the tqdm bars of `paginate`
/// and `map`.
pub(super) fn call_progress<'py, A>(py: Python<'py>, function: &str, args: A) -> PyResult<Py<PyAny>>
where
    A: pyo3::call::PyCallArgs<'py>,
{
    Ok(py
        .import(pyo3::intern!(py, "druva._progress"))?
        .call_method1(function, args)?
        .unbind())
}
