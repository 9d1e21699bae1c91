//! The calls of `Session` and `AsyncSession`, one Python method each:
//! the verbs (`request`, `get`, `post`, `put`, `patch`, `delete`), `paginate`,
//! `map`, the getters and `close`. Each converts its arguments and hands them
//! to the core; `paginate` and `map` gather theirs in [`ListArguments`] and
//! [`MapArguments`].

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::base::PyBaseSession;
use super::map::MapArguments;
use super::paging::ListArguments;
use crate::args::{self, Data, Pairs};
use crate::errors::Result;
use crate::paginator::PyPaginator;
use druva_core::session::Call;

// pyo3 takes one Rust parameter per Python argument, and the calls mirror
// requests' keyword arguments: the one allowance of this block.
#[allow(clippy::too_many_arguments)]
#[pymethods]
impl PyBaseSession {
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
    ///         session's ``rate_limit_wait``, and transient failures (see the
    ///         session's ``max_retries``) up to ``max_retries`` for idempotent
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
        #[pyo3(from_py_with = args::named::call_timeout)] timeout: Option<f64>,
        #[pyo3(from_py_with = args::named::retry)] retry: Option<bool>,
    ) -> Result<Py<PyAny>> {
        let call = Call {
            method,
            url,
            query: Pairs::or_empty(params),
            headers: Pairs::or_empty(headers),
            body: args::body(json, data)?,
            timeout: args::call_timeout(timeout)?,
            retry,
        };
        self.send(py, call)
    }

    /// Sends a GET request and returns its ``druva.Response``, whatever its status.
    ///
    /// 429s are retried within the session's ``rate_limit_wait``; transient
    /// failures up to its ``max_retries``; a 401 or 403 renews
    /// the token once and resends.
    ///
    /// Args:
    ///     url: a path joined to the session's ``base_url``, or an absolute URL
    ///         of the same origin (any other origin is a ``ValueError``).
    ///     params: query parameters, a mapping or a sequence of pairs.
    ///     headers: more request headers.
    ///     timeout: seconds the whole call may take; ``None``: the session's.
    ///
    /// The result and the errors are ``request()``'s. On an ``AsyncSession``:
    /// ``r = await s.get(url)``.
    ///
    /// >>> r = s.get("/insync/usermanagement/v1/users", params={"pageSize": 2})
    /// >>> r.raise_for_status().json()["users"][0]["emailID"]
    /// 'linus.ritchie.1@example.com'
    #[pyo3(signature = (url, *, params=None, headers=None, timeout=None))]
    fn get(
        &self,
        py: Python<'_>,
        url: &str,
        params: Option<Pairs>,
        headers: Option<Pairs>,
        #[pyo3(from_py_with = args::named::call_timeout)] timeout: Option<f64>,
    ) -> Result<Py<PyAny>> {
        self.request(py, "GET", url, params, None, None, headers, timeout, None)
    }

    /// Sends a DELETE request and returns its ``druva.Response``.
    ///
    /// DELETE is idempotent: 429s and transient failures are retried. The
    /// arguments, the result and the errors are ``request()``'s.
    ///
    /// >>> s.delete("/insync/usermanagement/v1/users/1").status_code
    /// 204
    #[pyo3(signature = (url, *, params=None, headers=None, timeout=None))]
    fn delete(
        &self,
        py: Python<'_>,
        url: &str,
        params: Option<Pairs>,
        headers: Option<Pairs>,
        #[pyo3(from_py_with = args::named::call_timeout)] timeout: Option<f64>,
    ) -> Result<Py<PyAny>> {
        self.request(
            py, "DELETE", url, params, None, None, headers, timeout, None,
        )
    }

    /// Sends a POST request and returns its ``druva.Response``.
    ///
    /// A 429 is retried (within the session's ``rate_limit_wait``), unless
    /// ``retry=False``; transient failures only with
    /// ``retry=True``, since the server may have acted on the request. The
    /// arguments, the result and the errors are ``request()``'s.
    ///
    /// >>> r = s.post("/platform/reporting/v1/reports/epUsers", json={"filters": {"pageSize": 5}})
    /// >>> r.status_code, len(r.json()["data"])
    /// (200, 5)
    #[pyo3(signature = (url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
    fn post(
        &self,
        py: Python<'_>,
        url: &str,
        params: Option<Pairs>,
        json: Option<&Bound<'_, PyAny>>,
        data: Option<Data>,
        headers: Option<Pairs>,
        #[pyo3(from_py_with = args::named::call_timeout)] timeout: Option<f64>,
        #[pyo3(from_py_with = args::named::retry)] retry: Option<bool>,
    ) -> Result<Py<PyAny>> {
        self.request(py, "POST", url, params, json, data, headers, timeout, retry)
    }

    /// Sends a PUT request and returns its ``druva.Response``.
    ///
    /// PUT is idempotent: 429s and transient failures are retried unless
    /// ``retry=False``. The arguments, the result and the errors are
    /// ``request()``'s.
    ///
    /// >>> r = s.put("/insync/usermanagement/v1/users/1", json={"status": "active"})
    /// >>> r.status_code, r.json()["status"]
    /// (200, 'active')
    #[pyo3(signature = (url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
    fn put(
        &self,
        py: Python<'_>,
        url: &str,
        params: Option<Pairs>,
        json: Option<&Bound<'_, PyAny>>,
        data: Option<Data>,
        headers: Option<Pairs>,
        #[pyo3(from_py_with = args::named::call_timeout)] timeout: Option<f64>,
        #[pyo3(from_py_with = args::named::retry)] retry: Option<bool>,
    ) -> Result<Py<PyAny>> {
        self.request(py, "PUT", url, params, json, data, headers, timeout, retry)
    }

    /// Sends a PATCH request and returns its ``druva.Response``.
    ///
    /// A 429 is retried (within the session's ``rate_limit_wait``), unless
    /// ``retry=False``; transient failures only with
    /// ``retry=True``. The arguments, the result and the errors are
    /// ``request()``'s.
    ///
    /// >>> r = s.patch("/insync/usermanagement/v1/users/1", json={"status": "active"}, retry=True)
    /// >>> r.status_code, r.json()["userID"]
    /// (200, 1)
    #[pyo3(signature = (url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
    fn patch(
        &self,
        py: Python<'_>,
        url: &str,
        params: Option<Pairs>,
        json: Option<&Bound<'_, PyAny>>,
        data: Option<Data>,
        headers: Option<Pairs>,
        #[pyo3(from_py_with = args::named::call_timeout)] timeout: Option<f64>,
        #[pyo3(from_py_with = args::named::retry)] retry: Option<bool>,
    ) -> Result<Py<PyAny>> {
        self.request(
            py, "PATCH", url, params, json, data, headers, timeout, retry,
        )
    }

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
    /// the Reporting API's ``pageToken`` set in the same JSON body, Cyber
    /// Resilience events' ``nextTrackerToken`` (sent back as ``trackerToken``
    /// with ``params``), or the style declared by ``cursor_field`` and
    /// ``cursor_param``. The list ends
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
    ///         (``"page-token"``, the default; ``"tracker"`` or
    ///         ``"tracker-token"``: with ``params``, as event pollers resume;
    ///         a declared style needs none).
    ///     progress: show a tqdm progress bar of the items (tqdm must be
    ///         installed).
    ///     cursor_field: declares the style of a list the paging table does
    ///         not know: the page field that holds the cursor (with
    ///         ``cursor_param``).
    ///     cursor_param: the query parameter (the body field of a POST list)
    ///         that sends the cursor back.
    ///     keep_params: ``True``: send ``params`` with the cursor too; else
    ///         (``None``, ``False``) the cursor goes alone.
    ///
    /// Returns:
    ///     A ``druva.Paginator``: iterate it with ``for`` (from a ``Session``) or
    ///     ``async for`` (from an ``AsyncSession``); its ``cursor`` and ``pages``
    ///     say where the list stands.
    ///
    /// Raises:
    ///     ValueError: a foreign origin, a method other than GET or POST, an
    ///         unknown style or one without a cursor, ``cursor_field`` without
    ///         ``cursor_param`` or the reverse (at once, before anything is
    ///         sent).
    ///     ImportError: ``progress=True`` without tqdm (at once).
    ///     druva.HTTPStatusError: while iterating, a page's error status
    ///         (``druva.RateLimitError`` for a 429 after the retries); iterating
    ///         again retries that page.
    ///     druva.JSONDecodeError: while iterating, a page that is not JSON.
    ///     druva.ProtocolError: while iterating, a page carrying a field that
    ///         looks like a cursor (``next…Token``, ``…Cursor``, ``tracker…``)
    ///         which no rule and no declaration reads; the message names it.
    ///
    /// >>> users = s.paginate("/insync/usermanagement/v1/users", params={"pageSize": 10})
    /// >>> [user["userID"] for user in users][:3]
    /// [1, 2, 3]
    /// >>> users.pages
    /// 3
    #[pyo3(signature = (url, *, params=None, items=None, method="GET", json=None, cursor=None, style=None, progress=false, cursor_field=None, cursor_param=None, keep_params=None))]
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
        #[pyo3(from_py_with = args::named::progress)] progress: bool,
        cursor_field: Option<String>,
        cursor_param: Option<String>,
        #[pyo3(from_py_with = args::named::keep_params)] keep_params: Option<bool>,
    ) -> Result<PyPaginator> {
        let list = ListArguments {
            url,
            params,
            items,
            method,
            json,
            cursor,
            style,
            progress,
            cursor_field,
            cursor_param,
            keep_params,
        };
        list.into_paginator(py, self)
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
        #[pyo3(from_py_with = args::named::call_timeout)] timeout: Option<f64>,
        #[pyo3(from_py_with = args::named::concurrency)] concurrency: i128,
        #[pyo3(from_py_with = args::named::return_exceptions)] return_exceptions: bool,
        #[pyo3(from_py_with = args::named::progress)] progress: bool,
    ) -> Result<Py<PyAny>> {
        let map = MapArguments {
            urls,
            method,
            params,
            json,
            headers,
            timeout,
            concurrency,
            return_exceptions,
            progress,
        };
        map.run(py, self)
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
    fn close(&self, py: Python<'_>) -> Result<Py<PyAny>> {
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
}
