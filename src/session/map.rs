//! `map`: many calls at once, their responses in order, and the progress
//! bar that follows them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use super::base::{call_progress, response_to_py, PyBaseSession};
use crate::args::{self, Pairs};
use crate::awaitable::{self, Awaitable, Work};
use crate::errors::{to_py_err, Result};
use crate::runtime::wait_with;
use druva_core::config;
use druva_core::response::Response;
use druva_core::session::Call;

/// `map`'s arguments as Python passed them, typed.
pub(super) struct MapArguments<'a, 'py> {
    pub(super) urls: &'a Bound<'py, PyAny>,
    pub(super) method: &'a str,
    pub(super) params: Option<Pairs>,
    pub(super) json: Option<&'a Bound<'py, PyAny>>,
    pub(super) headers: Option<Pairs>,
    pub(super) timeout: Option<f64>,
    pub(super) concurrency: i128,
    pub(super) return_exceptions: bool,
    pub(super) progress: bool,
}

impl MapArguments<'_, '_> {
    /// Checks every call, then sends them: the list of responses now (sync),
    /// or a coroutine of it (async).
    pub(super) fn run(self, py: Python<'_>, session: &PyBaseSession) -> Result<Py<PyAny>> {
        if self.urls.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "map() takes an iterable of URLs, not one URL: map([url, ...])",
            )
            .into());
        }
        let concurrency = config::limit_argument("concurrency", self.concurrency)?;
        let query = Pairs::or_empty(self.params);
        let headers = Pairs::or_empty(self.headers);
        let body = args::body(self.json, None)?;
        let timeout = args::call_timeout(self.timeout)?;
        // Every call is checked before any is sent.
        let mut requests = Vec::new();
        for url in self.urls.try_iter()? {
            let url = url?;
            let url: String = url.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "map() needs URLs as str, not {}",
                    args::type_name(&url)
                ))
            })?;
            let call = Call {
                method: self.method,
                url: &url,
                query: query.clone(),
                headers: headers.clone(),
                body: body.clone(),
                timeout,
                retry: None,
            };
            requests.push(session.inner.prepare(call)?);
        }
        let total = requests.len();
        let bar = if self.progress {
            let label = format!("{} x{total}", self.method.to_ascii_uppercase());
            Some(call_progress(py, "bar", (label, total, " calls", "map"))?)
        } else {
            None
        };
        let done = Arc::new(AtomicUsize::new(0));
        let mapped = Arc::clone(&session.inner).map(
            requests,
            concurrency,
            !self.return_exceptions,
            Arc::clone(&done),
        );
        let mut bar = MapBar {
            bar,
            done,
            shown: 0,
        };
        if !session.is_async {
            let outcome = wait_with(py, mapped, |py| bar.show(py));
            bar.close(py)?;
            return Ok(mapped_to_py(py, outcome?)?);
        }
        let start = move |py: Python<'_>| awaitable::spawn(py, mapped, mapped_to_py);
        let Some(progress) = bar.bar.take() else {
            return PyBaseSession::returned(py, Work::Start(Box::new(start)));
        };
        // The loop's thread moves the bar while the calls run.
        let work = Py::new(py, Awaitable::new(Work::Start(Box::new(start))))?;
        let counter = Py::new(py, MapCounter { done: bar.done })?;
        Ok(call_progress(py, "follow", (work, progress, counter))?)
    }
}

/// A map's tqdm bar (for ``progress=True``), fed from the count of calls done.
struct MapBar {
    bar: Option<Py<PyAny>>,
    done: Arc<AtomicUsize>,
    shown: usize,
}

impl MapBar {
    fn show(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(bar) = &self.bar {
            let now = self.done.load(Ordering::Relaxed);
            if now > self.shown {
                bar.bind(py)
                    .call_method1(pyo3::intern!(py, "update"), (now - self.shown,))?;
                self.shown = now;
            }
        }
        Ok(())
    }

    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        self.show(py)?;
        match self.bar.take() {
            Some(bar) => bar
                .bind(py)
                .call_method0(pyo3::intern!(py, "close"))
                .map(drop),
            None => Ok(()),
        }
    }
}

/// How many of an async map's calls are done, for the bar that
/// `druva._progress.follow` moves on the loop's thread.
#[pyclass(frozen, module = "druva._druva", name = "_MapCounter")]
pub struct MapCounter {
    done: Arc<AtomicUsize>,
}

#[pymethods]
impl MapCounter {
    #[getter]
    fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }
}

/// A map's outcomes as Python: a list of responses, an exception in the
/// place of each call that failed.
fn mapped_to_py(
    py: Python<'_>,
    outcomes: Vec<druva_core::errors::Result<Response>>,
) -> PyResult<Py<PyAny>> {
    let list = PyList::empty(py);
    for outcome in outcomes {
        match outcome {
            Ok(response) => list.append(response_to_py(py, response)?)?,
            Err(error) => list.append(to_py_err(error).into_value(py))?,
        }
    }
    Ok(list.into_any().unbind())
}
