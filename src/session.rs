//! `druva.Session` and `druva.AsyncSession`: one implementation, two faces.
//!
//! Both classes extend `_BaseSession`, which holds the core session and
//! implements every call once: a sync session waits for the core future with
//! the GIL released, an async one returns a coroutine ([`Awaitable`]) that
//! runs the same future. The constructors' signatures, with the core's
//! defaults written in by `druva_core::with_defaults!`, are the ones Python
//! sees (`help()`, `inspect.signature`, stubtest).

// pyo3 takes one Rust parameter per Python argument, and the calls mirror
// requests' keyword arguments.
#![allow(clippy::too_many_arguments)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::args::{self, Data, Pairs, Path, Scope};
use crate::awaitable::{self, Awaitable, Work};
use crate::errors::OrRaise;
use crate::paginator::PyPaginator;
use crate::response::PyResponse;
use crate::runtime::wait;
use crate::token::token_to_py;
use druva_core::config;
use druva_core::paginate::{self, ListWalk};
use druva_core::response::Response;
use druva_core::session::{Body, Call, Session, SessionConfig, SessionOptions};

/// A session's arguments as Python passed them, typed.
struct SessionArguments<'a> {
    client_id: &'a Bound<'a, PyAny>,
    secret: &'a Bound<'a, PyAny>,
    region: &'a str,
    base_url: Option<&'a str>,
    token_url: Option<&'a str>,
    scope: Option<Scope>,
    timeout: f64,
    max_retries: i128,
    leeway: f64,
    ca_bundle: Option<Path>,
    proxy: Option<&'a str>,
    max_response_bytes: i128,
    rate_limit_wait: f64,
    max_concurrency: Option<i128>,
    msp: bool,
}

impl SessionArguments<'_> {
    fn into_session(self) -> PyResult<Arc<Session>> {
        let client_id = args::text(self.client_id, "client_id")?;
        let secret = args::text(self.secret, "secret")?;
        let options = SessionOptions {
            region: Some(self.region.to_owned()),
            base_url: self.base_url.map(str::to_owned),
            token_url: self.token_url.map(str::to_owned),
            scope: self.scope.map(|scope| scope.0),
            timeout: Some(config::seconds_argument("timeout", self.timeout, false).or_raise()?),
            max_retries: Some(config::count_argument("max_retries", self.max_retries).or_raise()?),
            leeway: Some(config::seconds_argument("leeway", self.leeway, true).or_raise()?),
            ca_bundle: self.ca_bundle.map(|path| path.0),
            proxy: self.proxy.map(str::to_owned),
            max_response_bytes: Some(
                config::response_limit_argument(self.max_response_bytes).or_raise()?,
            ),
            rate_limit_wait: Some(
                config::seconds_argument("rate_limit_wait", self.rate_limit_wait, true)
                    .or_raise()?,
            ),
            max_concurrency: config::concurrency_argument("max_concurrency", self.max_concurrency)
                .or_raise()?,
            msp: self.msp,
        };
        let config = SessionConfig::new(&client_id, &secret, options).or_raise()?;
        // Building the client reads `ca_bundle`, which may block (a FIFO, a
        // network drive): never with the GIL held.
        let session = self.client_id.py().detach(|| Session::new(config));
        Ok(Arc::new(session.or_raise()?))
    }
}

/// What `Session` and `AsyncSession` share: the core session and every call.
#[pyclass(subclass, frozen, module = "druva", name = "_BaseSession")]
pub struct PyBaseSession {
    inner: Arc<Session>,
    is_async: bool,
}

impl PyBaseSession {
    fn new(arguments: SessionArguments<'_>, is_async: bool) -> PyResult<Self> {
        Ok(PyBaseSession {
            inner: arguments.into_session()?,
            is_async,
        })
    }

    /// Sends a call: the response now (sync), or a coroutine of it (async).
    fn send(&self, py: Python<'_>, call: Call<'_>) -> PyResult<Py<PyAny>> {
        let request = self.inner.prepare(call).or_raise()?;
        let session = Arc::clone(&self.inner);
        if !self.is_async {
            let response = wait(py, session.send(request))?;
            return Ok(Py::new(py, PyResponse::from(response))?.into_any());
        }
        let start =
            move |py: Python<'_>| awaitable::spawn(py, session.send(request), response_to_py);
        Self::returned(py, Work::Start(Box::new(start)))
    }

    /// A value as this session returns it: itself (sync) or a coroutine that
    /// returns it (async).
    fn finished(&self, py: Python<'_>, value: Py<PyAny>) -> PyResult<Py<PyAny>> {
        if self.is_async {
            return Self::returned(py, Work::Ready(value));
        }
        Ok(value)
    }

    fn returned(py: Python<'_>, work: Work) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, Awaitable::new(work))?.into_any())
    }

    /// The token: cached (a cache hit touches no runtime), or fetched.
    fn token(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
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

    fn class_name(&self) -> &'static str {
        if self.is_async {
            "AsyncSession"
        } else {
            "Session"
        }
    }
}

fn response_to_py(py: Python<'_>, response: Response) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyResponse::from(response))?.into_any())
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
    let list = pyo3::types::PyList::empty(py);
    for outcome in outcomes {
        match outcome {
            Ok(response) => list.append(response_to_py(py, response)?)?,
            Err(error) => list.append(crate::errors::to_py_err(error).into_value(py))?,
        }
    }
    Ok(list.into_any().unbind())
}

/// One API call's arguments, as every verb takes them.
fn call<'a>(
    method: &'a str,
    url: &'a str,
    params: Option<Pairs>,
    json: Option<&Bound<'_, PyAny>>,
    data: Option<Data>,
    headers: Option<Pairs>,
    timeout: Option<f64>,
    retry: Option<bool>,
) -> PyResult<Call<'a>> {
    Ok(Call {
        method,
        url,
        query: Pairs::or_empty(params),
        headers: Pairs::or_empty(headers),
        body: args::body(json, data)?,
        timeout: timeout
            .map(|seconds| config::seconds_argument("timeout", seconds, false))
            .transpose()
            .or_raise()?,
        retry,
    })
}

/// The verbs, each a one-liner over `call`: with a body (json=, data=,
/// retry=) or without.
macro_rules! base_session_methods {
    (
        with_body: [$(($verb:ident, $method:literal, $doc:literal)),* $(,)?],
        without_body: [$(($bare_verb:ident, $bare_method:literal, $bare_doc:literal)),* $(,)?],
        others: { $($others:tt)* },
    ) => {
        #[pymethods]
        impl PyBaseSession {
            $($others)*

            /// Sends a request and returns the :class:`druva.Response`,
            /// whatever its status (``raise_for_status()`` turns an error
            /// status into an exception).
            ///
            /// ``url`` is a path joined to the base URL, or an absolute URL of
            /// the same origin. ``params`` are query parameters, ``json`` a
            /// body to send as JSON, ``data`` a form (dict) or raw body
            /// (str/bytes). A 429 is retried for every method within the
            /// session's ``rate_limit_wait``; ``retry=True`` also retries 502–504
            /// and connection failures of a POST or PATCH (by default only of
            /// idempotent methods), ``retry=False`` retries nothing.
            ///
            /// >>> s.request("PATCH", "/path", json={"a": 1}, retry=True)  # doctest: +SKIP
            #[pyo3(signature = (method, url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
            fn request(
                &self,
                py: Python<'_>,
                method: &str,
                url: &str,
                params: Option<Pairs>,
                json: Option<&Bound<'_, PyAny>>,
                data: Option<Data>,
                headers: Option<Pairs>,
                #[pyo3(from_py_with = args::optional_seconds)] timeout: Option<f64>,
                #[pyo3(from_py_with = args::optional_flag)] retry: Option<bool>,
            ) -> PyResult<Py<PyAny>> {
                self.send(py, call(method, url, params, json, data, headers, timeout, retry)?)
            }

            $(
                #[doc = $doc]
                #[pyo3(signature = (url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
                fn $verb(
                    &self,
                    py: Python<'_>,
                    url: &str,
                    params: Option<Pairs>,
                    json: Option<&Bound<'_, PyAny>>,
                    data: Option<Data>,
                    headers: Option<Pairs>,
                    #[pyo3(from_py_with = args::optional_seconds)] timeout: Option<f64>,
                    #[pyo3(from_py_with = args::optional_flag)] retry: Option<bool>,
                ) -> PyResult<Py<PyAny>> {
                    self.send(py, call($method, url, params, json, data, headers, timeout, retry)?)
                }
            )*

            $(
                #[doc = $bare_doc]
                #[pyo3(signature = (url, *, params=None, headers=None, timeout=None))]
                fn $bare_verb(
                    &self,
                    py: Python<'_>,
                    url: &str,
                    params: Option<Pairs>,
                    headers: Option<Pairs>,
                    #[pyo3(from_py_with = args::optional_seconds)] timeout: Option<f64>,
                ) -> PyResult<Py<PyAny>> {
                    self.send(py, call($bare_method, url, params, None, None, headers, timeout, None)?)
                }
            )*
        }
    };
}

base_session_methods! {
    with_body: [
        (post, "POST", "``POST url``; retried on 429, on 502–504 only with ``retry=True``. See ``request()``."),
        (put, "PUT", "``PUT url``; see ``request()``."),
        (patch, "PATCH", "``PATCH url``; retried on 429, on 502–504 only with ``retry=True``. See ``request()``."),
    ],
    without_body: [
        (get, "GET", "``GET url``; see ``request()``."),
        (delete, "DELETE", "``DELETE url``; see ``request()``."),
    ],
    others: {
    /// The base URL that paths are joined to.
    #[getter]
    fn base_url(&self) -> String {
        self.inner
            .config()
            .endpoints
            .base_url
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    /// The token URL.
    #[getter]
    fn token_url(&self) -> &str {
        self.inner.config().endpoints.token_url.as_str()
    }

    /// The Client ID, masked: ``"abcd***"``.
    #[getter]
    fn client_id(&self) -> String {
        self.inner.config().credentials.masked_client_id()
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// A :class:`druva.Paginator` over every item of a list endpoint, one
    /// page at a time, in any of Druva's paging styles: ``nextPageToken`` →
    /// ``pageToken`` (sent alone on later pages), events v2's ``tracker``, or
    /// with ``method="POST"`` the Reporting API's ``pageToken`` in the JSON
    /// body. ``items`` names the list field; by default the first page's only
    /// list field, kept for every page. ``cursor`` resumes from a saved
    /// ``Paginator.cursor``. An error status raises
    /// :class:`druva.HTTPStatusError`. ``progress=True`` shows a tqdm bar
    /// (tqdm must be installed).
    ///
    /// >>> for device in s.paginate("/insync/endpoints/v1/devices"):  # doctest: +SKIP
    /// ...     print(device["deviceName"])
    #[pyo3(signature = (url, *, params=None, items=None, method="GET", json=None, cursor=None, progress=false))]
    fn paginate(
        &self,
        py: Python<'_>,
        url: &str,
        params: Option<Pairs>,
        items: Option<&str>,
        method: &str,
        json: Option<&Bound<'_, PyAny>>,
        cursor: Option<&str>,
        #[pyo3(from_py_with = args::flag)] progress: bool,
    ) -> PyResult<PyPaginator> {
        // Checked now, so a foreign origin fails here rather than on first next().
        self.inner.config().endpoints.join(url).or_raise()?;
        let method = match method.to_ascii_uppercase().as_str() {
            "GET" => paginate::Method::Get,
            "POST" => paginate::Method::Post,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "method={method:?}: lists page by GET or POST"
                )))
            }
        };
        let body = match args::body(json, None)? {
            Body::Json(bytes) => Some(bytes),
            _ => None,
        };
        let walk = ListWalk::new(
            method,
            Pairs::or_empty(params),
            body.as_deref(),
            items.map(str::to_owned),
            cursor.map(str::to_owned),
        )
        .or_raise()?;
        let bar = if progress {
            Some(
                py.import(pyo3::intern!(py, "druva._progress"))?
                    .call_method1(pyo3::intern!(py, "bar"), (url,))?
                    .unbind(),
            )
        } else {
            None
        };
        Ok(PyPaginator::new(
            Arc::clone(&self.inner),
            url.to_owned(),
            walk,
            self.is_async,
            bar,
        ))
    }

    /// Sends one call per URL of ``urls`` at once, at most ``concurrency``
    /// in flight, and returns their :class:`druva.Response` objects in the
    /// order of ``urls``. Each call gets the session's whole policy (token,
    /// renewal on 401/403, retries, the same-origin rule); ``params``,
    /// ``json``, ``headers`` and ``timeout`` (per call) apply to every call.
    /// An error status is a response, not a failure; the first failure (a
    /// timeout, a broken connection) cancels the calls left and is raised,
    /// unless ``return_exceptions=True`` puts each exception in its place.
    /// A sync caller waits with the GIL released, and Ctrl-C cancels what is
    /// left. ``progress=True`` shows a tqdm bar (tqdm must be installed).
    ///
    /// >>> devices = s.paginate("/insync/endpoints/v1/devices")  # doctest: +SKIP
    /// >>> urls = [f"/insync/endpoints/v1/devices/{d['deviceID']}" for d in devices]  # doctest: +SKIP
    /// >>> details = [r.json() for r in s.map(urls, concurrency=32)]  # doctest: +SKIP
    #[pyo3(signature = (urls, *, method="GET", params=None, json=None, headers=None, timeout=None, concurrency=16, return_exceptions=false, progress=false))]
    fn map(
        &self,
        py: Python<'_>,
        urls: &Bound<'_, PyAny>,
        method: &str,
        params: Option<Pairs>,
        json: Option<&Bound<'_, PyAny>>,
        headers: Option<Pairs>,
        #[pyo3(from_py_with = args::optional_seconds)] timeout: Option<f64>,
        #[pyo3(from_py_with = args::whole)] concurrency: i128,
        #[pyo3(from_py_with = args::flag)] return_exceptions: bool,
        #[pyo3(from_py_with = args::flag)] progress: bool,
    ) -> PyResult<Py<PyAny>> {
        if urls.is_instance_of::<pyo3::types::PyString>() {
            return Err(PyTypeError::new_err(
                "map() takes an iterable of URLs, not one URL: map([url, ...])",
            ));
        }
        let concurrency = match config::count_argument("concurrency", concurrency).or_raise()? {
            0 => {
                return Err(PyValueError::new_err(
                    "concurrency must be at least 1 (calls in flight at once)",
                ))
            }
            n => n as usize,
        };
        let query = Pairs::or_empty(params);
        let headers = Pairs::or_empty(headers);
        let body = args::body(json, None)?;
        let timeout = timeout
            .map(|seconds| config::seconds_argument("timeout", seconds, false))
            .transpose()
            .or_raise()?;
        // Every call is checked before any is sent.
        let mut requests = Vec::new();
        for url in urls.try_iter()? {
            let url = url?;
            let url: String = url.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "map() needs URLs as str, not {}",
                    url.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string())
                ))
            })?;
            requests.push(
                self.inner
                    .prepare(Call {
                        method,
                        url: &url,
                        query: query.clone(),
                        headers: headers.clone(),
                        body: body.clone(),
                        timeout,
                        retry: None,
                    })
                    .or_raise()?,
            );
        }
        let total = requests.len();
        let bar = if progress {
            Some(
                py.import(pyo3::intern!(py, "druva._progress"))?
                    .call_method1(
                        pyo3::intern!(py, "bar"),
                        (format!("{} x{total}", method.to_ascii_uppercase()), total, " calls", "map"),
                    )?
                    .unbind(),
            )
        } else {
            None
        };
        let done = Arc::new(AtomicUsize::new(0));
        let mapped =
            Arc::clone(&self.inner).map(requests, concurrency, !return_exceptions, Arc::clone(&done));
        let mut bar = MapBar { bar, done, shown: 0 };
        if !self.is_async {
            let outcome = crate::runtime::wait_with(py, mapped, |py| bar.show(py));
            bar.close(py)?;
            return mapped_to_py(py, outcome?);
        }
        let Some(progress) = bar.bar.take() else {
            let start = move |py: Python<'_>| awaitable::spawn(py, mapped, mapped_to_py);
            return Self::returned(py, Work::Start(Box::new(start)));
        };
        // The loop's thread moves the bar while the calls run.
        let start = move |py: Python<'_>| awaitable::spawn(py, mapped, mapped_to_py);
        let work = Py::new(py, Awaitable::new(Work::Start(Box::new(start))))?;
        let counter = Py::new(py, MapCounter {
            done: Arc::clone(&bar.done),
        })?;
        Ok(py
            .import(pyo3::intern!(py, "druva._progress"))?
            .call_method1(pyo3::intern!(py, "follow"), (work, progress, counter))?
            .unbind())
    }

    /// Closes the connection pool; later calls raise ``RuntimeError``.
    fn close(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.inner.close();
        self.finished(py, py.None())
    }

    fn __repr__(&self) -> String {
        format!("<druva.{} {}>", self.class_name(), self.inner.describe())
    }

    fn __reduce__(&self) -> PyResult<()> {
        let name = self.class_name();
        Err(PyTypeError::new_err(format!(
            "druva.{name} cannot be pickled: it holds a credential; create a new \
             {name} in the other process ({name}.from_env() reads it from the environment)"
        )))
    }
},
}

/// A session with the Druva API: it keeps the token fresh (one process-wide
/// cache), renews it once on 401/403, retries 429 and 502–504 with backoff,
/// pages, and never sends the token to another origin.
///
/// Safe to share between threads. Use it as a context manager, or call
/// ``close()``.
///
/// >>> with druva.Session(client_id, secret) as s:  # doctest: +SKIP
/// ...     for user in s.paginate("/insync/usermanagement/v1/users"):
/// ...         print(user["emailID"])
#[pyclass(extends = PyBaseSession, frozen, module = "druva", name = "Session")]
pub struct PySession;

/// The asyncio twin of :class:`druva.Session`: every call is a coroutine.
///
/// Same arguments, same token cache, same retries and renewal. Works inside
/// an already running loop (Jupyter's), with ``asyncio.gather`` of hundreds of
/// calls; cancelling the awaiting task cancels the request.
///
/// >>> async with druva.AsyncSession(client_id, secret) as s:  # doctest: +SKIP
/// ...     devices = [d async for d in s.paginate("/insync/endpoints/v1/devices")]
#[pyclass(extends = PyBaseSession, frozen, module = "druva", name = "AsyncSession")]
pub struct PyAsyncSession;

/// `cls(*from_env_arguments(kwargs))`: the one reader of the environment is
/// `druva._env`, shared with the command line.
fn from_env<'py>(
    cls: &Bound<'py, PyType>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let overrides = match kwargs {
        Some(kwargs) => kwargs.clone(),
        None => PyDict::new(py),
    };
    let (client_id, secret, options): (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyDict>) =
        py.import(pyo3::intern!(py, "druva._env"))?
            .call_method1(pyo3::intern!(py, "session_arguments"), (overrides,))?
            .extract()?;
    cls.call((client_id, secret), Some(&options))
}

/// Both classes' constructors and their own methods; a macro so that the
/// constructors' defaults are the core's literal values (see
/// `druva_core::with_defaults!`), written once for the two classes.
macro_rules! session_classes {
    (
        region = $region:tt,
        timeout = $timeout:tt,
        max_retries = $max_retries:tt,
        leeway = $leeway:tt,
        max_response_bytes = $max_response_bytes:tt,
        rate_limit_wait = $rate_limit_wait:tt,
        $(($class:ident, is_async = $is_async:literal, { $($own_methods:tt)* })),* $(,)?
    ) => {$(
        #[pymethods]
        impl $class {
            #[new]
            #[pyo3(signature = (client_id, secret, *, region=$region, base_url=None, token_url=None, scope=None, timeout=$timeout, max_retries=$max_retries, leeway=$leeway, ca_bundle=None, proxy=None, max_response_bytes=$max_response_bytes, rate_limit_wait=$rate_limit_wait, max_concurrency=None, msp=false))]
            fn new(
                client_id: &Bound<'_, PyAny>,
                secret: &Bound<'_, PyAny>,
                region: &str,
                base_url: Option<&str>,
                token_url: Option<&str>,
                scope: Option<Scope>,
                #[pyo3(from_py_with = args::seconds)] timeout: f64,
                #[pyo3(from_py_with = args::whole)] max_retries: i128,
                #[pyo3(from_py_with = args::seconds)] leeway: f64,
                ca_bundle: Option<Path>,
                proxy: Option<&str>,
                #[pyo3(from_py_with = args::whole)] max_response_bytes: i128,
                #[pyo3(from_py_with = args::seconds)] rate_limit_wait: f64,
                #[pyo3(from_py_with = args::optional_whole)] max_concurrency: Option<i128>,
                #[pyo3(from_py_with = args::flag)] msp: bool,
            ) -> PyResult<PyClassInitializer<Self>> {
                let arguments = SessionArguments {
                    client_id, secret, region, base_url, token_url, scope, timeout,
                    max_retries, leeway, ca_bundle, proxy, max_response_bytes,
                    rate_limit_wait, max_concurrency, msp,
                };
                Ok(PyClassInitializer::from(PyBaseSession::new(arguments, $is_async)?)
                    .add_subclass($class))
            }

            /// A session from the environment: ``DRUVA_CLIENT_ID``,
            /// ``DRUVA_SECRET_KEY``, and optionally ``DRUVA_REGION`` and
            /// ``DRUVA_BASE_URL``. Keyword arguments are passed on and win.
            #[classmethod]
            #[pyo3(signature = (**kwargs))]
            fn from_env<'py>(
                cls: &Bound<'py, PyType>,
                kwargs: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                from_env(cls, kwargs)
            }

            /// A session of the same kind for one customer (tenant) of this
            /// MSP session (``msp=True``): same base URL, options and
            /// connection pool; its token is exchanged from the MSP token and
            /// cached process-wide per (MSP credential, customer). Closing it
            /// leaves this session open; closing this session closes it.
            ///
            /// >>> tenant = s.customer(customer["id"])  # doctest: +SKIP
            fn customer(slf: &Bound<'_, Self>, customer_id: &str) -> PyResult<Py<Self>> {
                let base = slf.as_super().get();
                let inner = base.inner.customer(customer_id).or_raise()?;
                let initializer = PyClassInitializer::from(PyBaseSession {
                    inner,
                    is_async: base.is_async,
                })
                .add_subclass($class);
                Py::new(slf.py(), initializer)
            }

            $($own_methods)*
        }
    )*};
}

druva_core::with_defaults! {
    session_classes
    (PySession, is_async = false, {
        /// A valid :class:`druva.Token`: the cached one, or a fresh one
        /// fetched (once, however many threads ask at the same moment).
        #[getter]
        fn token(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
            slf.as_super().get().token(slf.py())
        }

        /// ``with druva.Session(...) as s:`` gives the session itself.
        fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
            slf
        }

        /// Closes the session at the end of the ``with`` block.
        #[pyo3(signature = (*_exc_info))]
        fn __exit__(slf: &Bound<'_, Self>, _exc_info: &Bound<'_, PyTuple>) {
            slf.as_super().get().inner.close();
        }
    }),
    (PyAsyncSession, is_async = true, {
        /// A valid :class:`druva.Token`, fetched or renewed if needed:
        /// ``await s.token()``.
        fn token(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
            slf.as_super().get().token(slf.py())
        }

        /// ``async with druva.AsyncSession(...) as s:`` gives the session itself.
        fn __aenter__(slf: Bound<'_, Self>) -> Awaitable {
            Awaitable::ready(slf.into_any().unbind())
        }

        /// Closes the session at the end of the ``async with`` block.
        #[pyo3(signature = (*_exc_info))]
        fn __aexit__(slf: &Bound<'_, Self>, _exc_info: &Bound<'_, PyTuple>) -> Awaitable {
            slf.as_super().get().inner.close();
            Awaitable::ready(slf.py().None())
        }
    }),
}
