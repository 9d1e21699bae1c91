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
use druva_core::pager::Pager;
use druva_core::paginate::{self, ListWalk, PageStyle};
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

            /// Sends a request and returns its ``druva.Response``, whatever its status.
            ///
            /// The session puts its bearer token on the request (fetched, or renewed,
            /// when needed) and, on a 401 or 403 from the API, renews the token once and
            /// resends. What failed is retried as ``retry`` says, with exponential
            /// backoff and full jitter, honouring ``Retry-After`` (seconds or an HTTP
            /// date). Whatever its status, the response is returned:
            /// ``Response.raise_for_status()`` turns an error status into an exception.
            ///
            /// Args:
            ///     method: the HTTP method, e.g. ``"GET"`` or ``"PATCH"``.
            ///     url: a path joined to the session's ``base_url``
            ///         (``"/insync/endpoints/v1/devices"``), or an absolute URL of the
            ///         same origin. Any other origin is a ``ValueError``, and a redirect
            ///         that leaves the origin drops the ``Authorization`` header.
            ///     params: query parameters, a mapping or a sequence of pairs: a list
            ///         value repeats its key, ``None`` leaves the key out, ``True`` and
            ///         ``False`` are sent as ``true`` and ``false``.
            ///     json: a body to send as JSON.
            ///     data: a form (a mapping or pairs) or a raw body (``str`` or
            ///         ``bytes``); not together with ``json``.
            ///     headers: more request headers, a mapping or pairs.
            ///     timeout: seconds this call may take in all: every attempt, every
            ///         retry wait, the wait for a token request shared with other
            ///         callers; only the waits on 429s are bounded by the session's
            ///         ``rate_limit_wait`` instead. A retry whose wait would pass it is
            ///         not attempted. ``None``: the session's ``timeout``.
            ///     retry: ``None``: a 429 is retried for every method, within the
            ///         session's ``rate_limit_wait``, and 502, 503, 504 and connection
            ///         failures up to the session's ``max_retries`` for idempotent
            ///         methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE). ``True``: a
            ///         POST or PATCH is retried on those too. ``False``: nothing is
            ///         retried.
            ///
            /// Returns:
            ///     The ``druva.Response``; after retries, the last one received (a 429
            ///     or a 503 included).
            ///
            /// Raises:
            ///     ValueError: a foreign origin, both ``json`` and ``data``, a negative
            ///         ``timeout``: before anything is sent.
            ///     TypeError: an argument of the wrong type, a ``json`` that JSON cannot
            ///         encode: before anything is sent.
            ///     druva.AuthenticationError: the token endpoint refused the credentials
            ///         (a token request fails as in ``druva.get_token``).
            ///     druva.TransportError: connecting, sending or receiving failed, after
            ///         any retries.
            ///     druva.TimeoutError: the call took longer than ``timeout``.
            ///     druva.ProtocolError: a body larger than ``max_response_bytes``, a
            ///         redirect loop.
            ///     RuntimeError: the session is closed.
            ///
            /// On an ``AsyncSession`` it is a coroutine: ``r = await s.request(...)``.
            ///
            /// >>> r = s.request("GET", "/insync/usermanagement/v1/users", params={"pageSize": 2})
            /// >>> r.status_code, [user["userID"] for user in r.json()["users"]]
            /// (200, [1, 2])
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
        (post, "POST", r#"Sends a POST request and returns its ``druva.Response``.

A 429 is retried (within the session's ``rate_limit_wait``), unless
``retry=False``; 502, 503, 504 and connection failures only with
``retry=True``, since the server may have acted on the request. The
arguments, the result and the errors are ``request()``'s.

>>> r = s.post("/platform/reporting/v1/reports/epUsers", json={"filters": {"pageSize": 5}})
>>> r.status_code, len(r.json()["data"])
(200, 5)"#),
        (put, "PUT", r#"Sends a PUT request and returns its ``druva.Response``.

PUT is idempotent: 429s, 502, 503, 504 and connection failures are
retried unless ``retry=False``. The arguments, the result and the errors
are ``request()``'s.

>>> r = s.put("/insync/usermanagement/v1/users/1", json={"status": "active"})
>>> r.status_code, r.json()["status"]
(200, 'active')"#),
        (patch, "PATCH", r#"Sends a PATCH request and returns its ``druva.Response``.

A 429 is retried (within the session's ``rate_limit_wait``), unless
``retry=False``; 502, 503, 504 and connection failures only with
``retry=True``. The arguments, the result and the errors are
``request()``'s.

>>> r = s.patch("/insync/usermanagement/v1/users/1", json={"status": "active"}, retry=True)
>>> r.status_code, r.json()["userID"]
(200, 1)"#),
    ],
    without_body: [
        (get, "GET", r#"Sends a GET request and returns its ``druva.Response``, whatever its status.

429s are retried within the session's ``rate_limit_wait``; 502, 503, 504
and connection failures up to its ``max_retries``; a 401 or 403 renews
the token once and resends.

Args:
    url: a path joined to the session's ``base_url``, or an absolute URL
        of the same origin (any other origin is a ``ValueError``).
    params: query parameters, a mapping or a sequence of pairs.
    headers: more request headers.
    timeout: seconds the whole call may take; ``None``: the session's.

The result and the errors are ``request()``'s. On an ``AsyncSession``:
``r = await s.get(url)``.

>>> r = s.get("/insync/usermanagement/v1/users", params={"pageSize": 2})
>>> r.raise_for_status().json()["users"][0]["emailID"]
'linus.ritchie.1@example.com'"#),
        (delete, "DELETE", r#"Sends a DELETE request and returns its ``druva.Response``.

DELETE is idempotent: 429s, 502, 503, 504 and connection failures are
retried. The arguments, the result and the errors are ``request()``'s.

>>> s.delete("/insync/usermanagement/v1/users/1").status_code
204"#),
    ],
    others: {
    /// The base URL that paths are joined to, without a trailing ``/``.
    ///
    /// >>> druva.Session(client_id, secret, region="govcloud").base_url  # doctest: +SKIP
    /// 'https://govcloudapis.druva.com'
    /// >>> s.base_url
    /// 'http://127.0.0.1:...'
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

    /// The URL the session's tokens come from.
    ///
    /// ``base_url + "/token"`` unless ``token_url`` was given;
    /// ``base_url + "/msp/auth/v1/token"`` for an MSP session.
    ///
    /// >>> s.token_url
    /// 'http://127.0.0.1:.../token'
    #[getter]
    fn token_url(&self) -> &str {
        self.inner.config().endpoints.token_url.as_str()
    }

    /// The session's Client ID, masked as in its repr and log records.
    ///
    /// >>> s.client_id
    /// '...***'
    #[getter]
    fn client_id(&self) -> String {
        self.inner.config().credentials.masked_client_id()
    }

    /// Whether the session is closed (``close()``, or the end of its ``with`` block).
    ///
    /// A customer session is closed too when its MSP session is.
    ///
    /// >>> with druva.Session(client_id, secret) as session:
    /// ...     session.closed
    /// False
    /// >>> session.closed
    /// True
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Iterates over every item of a list endpoint, page after page.
    ///
    /// Nothing is sent until the iteration starts. The paging style is read from
    /// the first page: ``nextPageToken`` (later pages send ``pageToken`` alone,
    /// as Druva's own scripts do), events v2's ``tracker`` and ``nextPageExists``
    /// (``params`` are sent again with each tracker), or, with ``method="POST"``,
    /// the Reporting API's ``pageToken`` set in the same JSON body. The list ends
    /// on a missing, ``""`` or ``null`` cursor, on ``nextPageExists: false``, on
    /// a page with no items, or on a cursor equal to the one just sent (a stream
    /// that has caught up); a ``null`` list is an empty page. Paging requests
    /// are reads: a POST page is retried like a GET.
    ///
    /// Args:
    ///     url: the list's path, or an absolute URL of the same origin.
    ///     params: query parameters of the first request (of every request of a
    ///         tracker stream).
    ///     items: the page's field that holds the items; by default the first
    ///         page's only field holding a list or ``null`` (cursor and count
    ///         fields aside), kept for every page.
    ///     method: ``"GET"`` or ``"POST"``. Default ``"GET"``.
    ///     json: the JSON body of a POST list, e.g. ``{"filters": {...}}``.
    ///     cursor: a cursor to start from, a saved ``Paginator.cursor``.
    ///     style: how to send ``cursor``: the saved ``Paginator.style``
    ///         (``"page-token"``, the default, or ``"tracker"``: with ``params``,
    ///         as events v2 pollers resume).
    ///     progress: show a tqdm progress bar of the items (tqdm must be
    ///         installed).
    ///
    /// Returns:
    ///     A ``druva.Paginator``: iterate it with ``for`` (from a ``Session``) or
    ///     ``async for`` (from an ``AsyncSession``); its ``cursor`` and ``pages``
    ///     say where the list stands.
    ///
    /// Raises:
    ///     ValueError: a foreign origin, a method other than GET or POST, an
    ///         unknown style or one without a cursor (at once, before anything
    ///         is sent).
    ///     ImportError: ``progress=True`` without tqdm (at once).
    ///     druva.HTTPStatusError: while iterating, a page's error status
    ///         (``druva.RateLimitError`` for a 429 after the retries); iterating
    ///         again retries that page.
    ///     druva.JSONDecodeError: while iterating, a page that is not JSON.
    ///
    /// >>> users = s.paginate("/insync/usermanagement/v1/users", params={"pageSize": 10})
    /// >>> [user["userID"] for user in users][:3]
    /// [1, 2, 3]
    /// >>> users.pages
    /// 3
    #[pyo3(signature = (url, *, params=None, items=None, method="GET", json=None, cursor=None, style=None, progress=false))]
    fn paginate(
        &self,
        py: Python<'_>,
        url: &str,
        params: Option<Pairs>,
        items: Option<&str>,
        method: &str,
        json: Option<&Bound<'_, PyAny>>,
        cursor: Option<&str>,
        style: Option<&str>,
        #[pyo3(from_py_with = args::flag)] progress: bool,
    ) -> PyResult<PyPaginator> {
        let body = match args::body(json, None)? {
            Body::Json(bytes) => Some(bytes),
            _ => None,
        };
        let walk = ListWalk::new(
            paginate::Method::from_name(method).or_raise()?,
            Pairs::or_empty(params),
            body.as_deref(),
            items.map(str::to_owned),
            cursor.map(str::to_owned),
            style.map(PageStyle::from_name).transpose().or_raise()?,
        )
        .or_raise()?;
        let pager = Pager::new(Arc::clone(&self.inner), url, walk).or_raise()?;
        let bar = if progress {
            Some(
                py.import(pyo3::intern!(py, "druva._progress"))?
                    .call_method1(pyo3::intern!(py, "bar"), (url,))?
                    .unbind(),
            )
        } else {
            None
        };
        Ok(PyPaginator::new(pager, self.is_async, bar))
    }

    /// Sends one call per URL, many at once, and returns the responses in the order of ``urls``.
    ///
    /// At most ``concurrency`` calls are in flight at once, fewer when the
    /// session's ``max_concurrency`` is lower. Each call gets the session's
    /// whole policy: the token, its renewal on 401/403, the retries, the
    /// same-origin rule. Every URL is checked before anything is sent. A sync
    /// caller waits with the GIL released, and Ctrl-C cancels the calls left.
    ///
    /// Args:
    ///     urls: an iterable of paths or same-origin URLs (not one ``str``).
    ///     method: the HTTP method of every call. Default ``"GET"``.
    ///     params: query parameters, the same for every call.
    ///     json: a JSON body, the same for every call.
    ///     headers: more request headers, the same for every call.
    ///     timeout: seconds each call may take; ``None``: the session's.
    ///     concurrency: the most calls in flight at once, at least 1. Default ``16``.
    ///     return_exceptions: put each failed call's exception in its place in
    ///         the list, instead of raising the first one.
    ///     progress: show a tqdm progress bar of the calls done (tqdm must be
    ///         installed; on an ``AsyncSession`` it fills when the map ends).
    ///
    /// Returns:
    ///     A list with one ``druva.Response`` per URL, in the order of ``urls``.
    ///     An error status is a response, not a failure: check ``r.ok`` or call
    ///     ``r.raise_for_status()``.
    ///
    /// Raises:
    ///     TypeError: ``urls`` is a ``str``, or holds something else than ``str``.
    ///     ValueError: a foreign origin, ``concurrency`` below 1 (before
    ///         anything is sent).
    ///     druva.DruvaError: the first call that failed (a
    ///         ``druva.TimeoutError``, a ``druva.TransportError``...); the calls
    ///         left are cancelled. Not with ``return_exceptions=True``.
    ///     ImportError: ``progress=True`` without tqdm.
    ///
    /// On an ``AsyncSession`` it is a coroutine: ``responses = await s.map(urls)``.
    ///
    /// >>> urls = [f"/insync/usermanagement/v1/users/{n}" for n in range(1, 6)]
    /// >>> responses = s.map(urls, concurrency=4)
    /// >>> [r.json()["userID"] for r in responses]
    /// [1, 2, 3, 4, 5]
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

    /// Closes the session: its connection pool, and the customer sessions of an MSP session.
    ///
    /// Calls already under way finish; later calls raise ``RuntimeError``.
    /// Closing twice is harmless. A ``with`` block closes the session at its
    /// end. On an ``AsyncSession``: ``await s.close()``.
    ///
    /// >>> session = druva.Session(client_id, secret)
    /// >>> session.close()
    /// >>> session.get("/insync/usermanagement/v1/users")
    /// Traceback (most recent call last):
    ///     ...
    /// RuntimeError: this session is closed; create a new Session to make more calls
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

/// A session with the Druva API: authenticated calls that renew their token, retry and page.
///
/// It takes its credential's token from the one process-wide cache (shared
/// with ``druva.get_token`` and every session, one token request at a time
/// per credential), renews it in the background ``leeway`` seconds before it
/// expires while callers keep the valid one, and, when the API answers 401
/// or 403, renews it once and resends. It retries 429s and gateway errors
/// (see ``request()``), pages through lists (``paginate()``), runs many calls
/// at once (``map()``), and never sends the token to another origin. One
/// session is safe to share between threads. Close it with ``close()`` or a
/// ``with`` block; ``Session.from_env()`` reads the credential from the
/// environment.
///
/// Args:
///     client_id: the Client ID of the Druva API credential.
///     secret: its Secret Key; held in Rust and never shown in a repr, a
///         message or a log record.
///     region: the Druva cloud: ``"cloud"`` (``https://apis.druva.com``),
///         ``"govcloud"`` (Endpoints & Data Governance GovCloud) or
///         ``"govcloud-workloads"`` (Enterprise Workloads GovCloud). Default
///         ``"cloud"``.
///     base_url: another server, overriding ``region``; the token URL is then
///         ``base_url + "/token"``. Plain ``http://`` only to loopback hosts.
///     token_url: overrides only the token URL.
///     scope: a scope to ask for (a ``str``, or a list of them joined with
///         spaces); by default none is sent.
///     timeout: seconds a call may take in all: every attempt, every retry
///         wait, the wait for a shared token request, but not the waits on
///         429s. At least a millisecond. Default ``30.0``.
///     max_retries: how many times a call is retried after a 502, 503, 504
///         or a connection failure. Default ``3``.
///     leeway: renew a token this many seconds before it expires (at most
///         half its lifetime; ``0`` allowed). Default ``60.0``.
///     ca_bundle: a PEM file of more trusted roots; TLS is always verified,
///         and ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` are honoured.
///     proxy: an ``http://`` or ``https://`` proxy URL instead of the
///         ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``
///         variables; ``""``: no proxy. Loopback calls never use a proxy.
///     max_response_bytes: the largest body a response may have; a larger
///         one raises ``druva.ProtocolError``. Default ``104857600`` (100 MiB).
///     rate_limit_wait: seconds one call may wait in all on 429s, after which
///         it returns the last 429; ``0``: 429s are not retried. Default
///         ``120.0``.
///     max_concurrency: the most requests the session has in flight at once,
///         across all its callers (token requests aside). After a 429 it lets
///         half as many through, then one more for each call that succeeds.
///         ``None`` (default): no cap, but it still adapts after a 429.
///     msp: the credential is a Druva MSP one: its token comes from
///         ``/msp/auth/v1/token``, and ``customer()`` gives a session for
///         each customer.
///
/// Raises:
///     TypeError: an argument of the wrong type.
///     ValueError: an empty Client ID or secret, a ``:`` in the Client ID, an
///         unknown region, ``http://`` to a host that is not loopback, a
///         negative timeout; nothing is sent.
///
/// >>> with druva.Session(client_id, secret) as s:
/// ...     users = list(s.paginate("/insync/usermanagement/v1/users"))
/// >>> len(users)
/// 25
#[pyclass(extends = PyBaseSession, frozen, module = "druva", name = "Session")]
pub struct PySession;

/// The asyncio twin of ``druva.Session``: the same calls, as coroutines.
///
/// It takes the same arguments as ``druva.Session`` and shares its token
/// cache, retries and renewal. Every call returns a coroutine (the token
/// too: ``await s.token()``); ``paginate()`` returns a ``druva.Paginator``
/// to iterate with ``async for``; ``customer()`` returns an ``AsyncSession``.
/// It works inside an already running loop (Jupyter's), ``asyncio.gather``
/// can run hundreds of its calls, and cancelling the awaiting task cancels
/// the request. Close it with ``await s.close()`` or ``async with``.
///
/// >>> async with druva.AsyncSession(client_id, secret) as s:
/// ...     responses = await asyncio.gather(
/// ...         *(s.get(f"/insync/usermanagement/v1/users/{n}") for n in range(1, 4))
/// ...     )
/// ...     devices = [device async for device in s.paginate("/insync/endpoints/v1/devices")]
/// >>> [r.json()["userID"] for r in responses], len(devices)
/// ([1, 2, 3], 38)
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

            /// A session whose credential and cloud come from the environment.
            ///
            /// ``DRUVA_CLIENT_ID`` and ``DRUVA_SECRET_KEY`` are required, and
            /// ``DRUVA_REGION`` or ``DRUVA_BASE_URL`` choose the cloud; an empty
            /// variable counts as unset. Keyword arguments are the constructor's and
            /// win: with an explicit ``region`` or ``base_url``, neither variable is
            /// read.
            ///
            /// Raises:
            ///     ValueError: ``DRUVA_CLIENT_ID`` or ``DRUVA_SECRET_KEY`` is missing
            ///         or empty (the message names which).
            ///
            /// >>> with druva.Session.from_env(timeout=10) as s:
            /// ...     s.get("/insync/usermanagement/v1/users").status_code
            /// 200
            #[classmethod]
            #[pyo3(signature = (**kwargs))]
            fn from_env<'py>(
                cls: &Bound<'py, PyType>,
                kwargs: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                from_env(cls, kwargs)
            }

            /// A session for one customer (tenant) of this MSP session (``msp=True``).
            ///
            /// It has this session's base URL and options and shares its connection
            /// pool, but has its own ``max_concurrency`` limit (Druva throttles per
            /// customer). Its token is exchanged from the MSP token
            /// (``POST /msp/v2/customers/{id}/token``), cached for the process per (MSP
            /// credential, customer), fetched once however many threads ask, and renewed
            /// and re-fetched on 401/403 like any token. Closing it leaves this session
            /// open; closing this session closes it.
            ///
            /// Args:
            ///     customer_id: the customer's ``id``, as ``/msp/v2/customers`` lists it.
            ///
            /// Returns:
            ///     A session of the same kind: a ``Session``, or an ``AsyncSession``
            ///     from an ``AsyncSession``.
            ///
            /// Raises:
            ///     ValueError: this session is not an MSP one, or is already a customer's.
            ///     RuntimeError: this session is closed.
            ///
            /// >>> with druva.Session(client_id, secret, msp=True) as msp:
            /// ...     first = next(iter(msp.paginate("/msp/v2/customers")))
            /// ...     tenant = msp.customer(first["id"])
            /// ...     tenant.get("/insync/usermanagement/v1/users").status_code
            /// 200
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
        /// A valid ``druva.Token`` for the session's credential.
        ///
        /// The cached one when it is fresh; inside its renewal window, the still
        /// valid one while one background renewal runs; otherwise a new one, fetched
        /// once however many threads ask at the same moment. Raises what a token
        /// request raises (``druva.AuthenticationError``...).
        ///
        /// >>> token = s.token
        /// >>> token["token_type"], token["expires_in"] > 0
        /// ('bearer', True)
        #[getter]
        fn token(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
            slf.as_super().get().token(slf.py())
        }

        /// Enters a ``with`` block: ``with druva.Session(...) as s:`` gives the session itself.
        ///
        /// >>> with druva.Session(client_id, secret) as session:
        /// ...     session.get("/insync/usermanagement/v1/users").ok
        /// True
        fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
            slf
        }

        /// Closes the session at the end of its ``with`` block; exceptions propagate.
        ///
        /// >>> with druva.Session(client_id, secret) as session:
        /// ...     pass
        /// >>> session.closed
        /// True
        #[pyo3(signature = (*_exc_info))]
        fn __exit__(slf: &Bound<'_, Self>, _exc_info: &Bound<'_, PyTuple>) {
            slf.as_super().get().inner.close();
        }
    }),
    (PyAsyncSession, is_async = true, {
        /// A valid ``druva.Token`` for the session's credential: ``await s.token()``.
        ///
        /// As ``Session.token``: the cached token, or a new one fetched once however
        /// many tasks ask. A cache hit returns without waiting on the event loop.
        ///
        /// >>> async with druva.AsyncSession(client_id, secret) as s:
        /// ...     token = await s.token()
        /// >>> token["token_type"]
        /// 'bearer'
        fn token(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
            slf.as_super().get().token(slf.py())
        }

        /// Enters an ``async with`` block: ``async with druva.AsyncSession(...) as s:`` gives the session.
        ///
        /// >>> async with druva.AsyncSession(client_id, secret) as session:
        /// ...     (await session.get("/insync/usermanagement/v1/users")).ok
        /// True
        fn __aenter__(slf: Bound<'_, Self>) -> Awaitable {
            Awaitable::ready(slf.into_any().unbind())
        }

        /// Closes the session at the end of its ``async with`` block; exceptions propagate.
        ///
        /// >>> async with druva.AsyncSession(client_id, secret) as session:
        /// ...     pass
        /// >>> session.closed
        /// True
        #[pyo3(signature = (*_exc_info))]
        fn __aexit__(slf: &Bound<'_, Self>, _exc_info: &Bound<'_, PyTuple>) -> Awaitable {
            slf.as_super().get().inner.close();
            Awaitable::ready(slf.py().None())
        }
    }),
}
