//! `druva.Session` (sync, and the engine under `druva.AsyncSession`) and
//! `druva.Paginator`.

use std::sync::{Arc, Mutex};

use crate::errors::{to_py_err, OrRaise};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyType};

use crate::args;
use crate::completions::{Canceller, Completions, Convert};
use crate::json;
use crate::response::PyResponse;
use crate::runtime::{into_awaitable, wait};
use crate::token::{token_to_py, PyToken, TokenArgs, DEFAULT_LEEWAY};
use druva_core::errors::Error;
use druva_core::http::{ClientOptions, DEFAULT_MAX_RESPONSE_BYTES};
use druva_core::paginate::Pager;
use druva_core::response::Response;
use druva_core::runtime;
use druva_core::session::{ApiRequest, Body, Call, Session, SessionConfig};

const DEFAULT_MAX_RETRIES: u32 = 3;

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
#[pyclass(frozen, module = "druva", name = "Session")]
pub struct PySession {
    inner: Arc<Session>,
}

#[pymethods]
impl PySession {
    #[new]
    #[pyo3(signature = (client_id, secret, *, region=None, base_url=None, token_url=None, scope=None, timeout=None, max_retries=None, leeway=None, ca_bundle=None, proxy=None, max_response_bytes=None))]
    #[pyo3(
        text_signature = "(client_id, secret, *, region='cloud', base_url=None, token_url=None, scope=None, timeout=30.0, max_retries=3, leeway=60.0, ca_bundle=None, proxy=None, max_response_bytes=104857600)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        client_id: &Bound<'_, PyAny>,
        secret: &Bound<'_, PyAny>,
        region: Option<&Bound<'_, PyAny>>,
        base_url: Option<&Bound<'_, PyAny>>,
        token_url: Option<&Bound<'_, PyAny>>,
        scope: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        max_retries: Option<&Bound<'_, PyAny>>,
        leeway: Option<&Bound<'_, PyAny>>,
        ca_bundle: Option<&Bound<'_, PyAny>>,
        proxy: Option<&Bound<'_, PyAny>>,
        max_response_bytes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let token = TokenArgs::parse(
            client_id, secret, region, base_url, token_url, scope, timeout, ca_bundle,
        )?;
        let max_retries = match max_retries.filter(|v| !v.is_none()) {
            Some(value) => args::count(value, "max_retries")?,
            None => DEFAULT_MAX_RETRIES,
        };
        let leeway = match leeway.filter(|v| !v.is_none()) {
            Some(value) => args::seconds(value, "leeway", true)?,
            None => DEFAULT_LEEWAY,
        };
        let max_response_bytes = match max_response_bytes.filter(|v| !v.is_none()) {
            Some(value) => u64::from(args::count(value, "max_response_bytes")?).max(1),
            None => DEFAULT_MAX_RESPONSE_BYTES,
        };
        let proxy = args::optional_text(proxy, "proxy")?.map(|proxy| proxy.into_owned());
        let config = SessionConfig {
            endpoints: token.endpoints,
            credentials: Arc::new(token.credentials),
            scope: token.scope,
            timeout: token.timeout,
            max_retries,
            leeway,
            client_options: ClientOptions {
                ca_bundle: token.ca_bundle,
                proxy,
            },
            max_response_bytes,
        };
        let inner = Session::new(config).or_raise()?;
        Ok(PySession {
            inner: Arc::new(inner),
        })
    }

    /// A session from the environment: ``DRUVA_CLIENT_ID``,
    /// ``DRUVA_SECRET_KEY``, and optionally ``DRUVA_REGION`` and
    /// ``DRUVA_BASE_URL``. Keyword arguments are passed on.
    #[classmethod]
    #[pyo3(signature = (**kwargs))]
    fn from_env<'py>(
        cls: &Bound<'py, PyType>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        let (client_id, secret, options) = credentials_from_env(py, kwargs)?;
        cls.call((client_id, secret), Some(&options))
    }

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

    /// A valid :class:`druva.Token`: the cached one, or a fresh one fetched
    /// (once, however many threads ask at the same moment).
    #[getter]
    fn token<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(token) = self.inner.cached_token() {
            return token_to_py(py, &token);
        }
        let session = Arc::clone(&self.inner);
        let token = wait(py, session.token())?;
        token_to_py(py, &token)
    }

    /// Sends a request and returns the :class:`druva.Response`, whatever its
    /// status (call ``raise_for_status()`` to turn an error status into an
    /// exception).
    ///
    /// ``url`` is a path joined to the base URL, or an absolute URL of the
    /// same origin. ``params`` are query parameters, ``json`` a body to send
    /// as JSON, ``data`` a form (dict) or raw body (str/bytes). ``retry``
    /// overrides whether 429, 502–504 and connection failures are retried
    /// (by default only for idempotent methods).
    #[pyo3(signature = (method, url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
    #[allow(clippy::too_many_arguments)]
    fn request<'py>(
        &self,
        py: Python<'py>,
        method: &Bound<'py, PyAny>,
        url: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        json: Option<&Bound<'py, PyAny>>,
        data: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        retry: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyResponse> {
        let method = args::text(method, "method")?;
        let request = self.prepare(
            py, &method, url, params, json, data, headers, timeout, retry,
        )?;
        let session = Arc::clone(&self.inner);
        wait(py, session.send(request)).map(PyResponse::from)
    }

    /// ``GET url``; see ``request()``.
    #[pyo3(signature = (url, *, params=None, headers=None, timeout=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        url: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyResponse> {
        let request = self.prepare(py, "GET", url, params, None, None, headers, timeout, None)?;
        let session = Arc::clone(&self.inner);
        wait(py, session.send(request)).map(PyResponse::from)
    }

    /// ``POST url``; not retried unless ``retry=True``. See ``request()``.
    #[pyo3(signature = (url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
    #[allow(clippy::too_many_arguments)]
    fn post<'py>(
        &self,
        py: Python<'py>,
        url: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        json: Option<&Bound<'py, PyAny>>,
        data: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        retry: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyResponse> {
        self.send_with_body(py, "POST", url, params, json, data, headers, timeout, retry)
    }

    /// ``PUT url``; see ``request()``.
    #[pyo3(signature = (url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
    #[allow(clippy::too_many_arguments)]
    fn put<'py>(
        &self,
        py: Python<'py>,
        url: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        json: Option<&Bound<'py, PyAny>>,
        data: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        retry: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyResponse> {
        self.send_with_body(py, "PUT", url, params, json, data, headers, timeout, retry)
    }

    /// ``PATCH url``; not retried unless ``retry=True``. See ``request()``.
    #[pyo3(signature = (url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
    #[allow(clippy::too_many_arguments)]
    fn patch<'py>(
        &self,
        py: Python<'py>,
        url: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        json: Option<&Bound<'py, PyAny>>,
        data: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        retry: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyResponse> {
        self.send_with_body(
            py, "PATCH", url, params, json, data, headers, timeout, retry,
        )
    }

    /// ``DELETE url``; see ``request()``.
    #[pyo3(signature = (url, *, params=None, headers=None, timeout=None))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        url: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyResponse> {
        let request = self.prepare(
            py, "DELETE", url, params, None, None, headers, timeout, None,
        )?;
        let session = Arc::clone(&self.inner);
        wait(py, session.send(request)).map(PyResponse::from)
    }

    /// Iterates over every item of a list endpoint, one page at a time
    /// (following ``nextPageToken`` → ``pageToken``, or events v2's
    /// ``tracker``). ``items`` names the list field; by default the page's
    /// only list field. Error statuses raise :class:`druva.HTTPStatusError`.
    /// ``progress=True`` shows a tqdm progress bar (tqdm must be installed).
    #[pyo3(signature = (url, *, params=None, items=None, progress=false))]
    fn paginate<'py>(
        &self,
        py: Python<'py>,
        url: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        items: Option<&Bound<'py, PyAny>>,
        progress: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let url_text = args::text(url, "url")?.into_owned();
        // Checked now, so a foreign origin fails here rather than on first next().
        self.inner.config().endpoints.join(&url_text).or_raise()?;
        let paginator = Bound::new(
            py,
            PyPaginator {
                session: Arc::clone(&self.inner),
                url: url_text,
                items: args::optional_text(items, "items")?.map(|items| items.into_owned()),
                state: Mutex::new(Some(PageState {
                    pager: Pager::new(args::pairs(params, "params")?),
                    page: None,
                    index: 0,
                })),
            },
        )?
        .into_any();
        if !progress {
            return Ok(paginator);
        }
        py.import("druva._progress")?
            .getattr("with_progress")?
            .call1((paginator, url))
    }

    /// Closes the connection pool. Later calls raise ``RuntimeError``.
    fn close(&self) {
        self.inner.close();
    }

    /// ``with druva.Session(...) as s:`` gives the session itself.
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes the session at the end of the ``with`` block.
    #[pyo3(signature = (*_exc_info))]
    fn __exit__(&self, _exc_info: &Bound<'_, pyo3::types::PyTuple>) {
        self.inner.close();
    }

    fn __repr__(&self) -> String {
        format!("<druva.Session {}>", self.inner.describe())
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "druva.Session cannot be pickled: it holds a credential; create a new \
             Session in the other process (Session.from_env() reads it from the environment)",
        ))
    }

    // The engine of druva.AsyncSession: each returns an awaitable.

    /// The token as a ``Token`` on a cache hit (no event loop needed), else an awaitable.
    fn _token_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(token) = self.inner.cached_token() {
            return token_to_py(py, &token);
        }
        let session = Arc::clone(&self.inner);
        into_awaitable(
            py,
            async move { Ok(PyToken(session.token().await.or_raise()?)) },
        )
    }

    /// ``_request_async`` for a loop that watches ``completions``: the
    /// response completes the returned future in a batch (see completions.rs).
    #[pyo3(signature = (completions, event_loop, method, url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
    #[allow(clippy::too_many_arguments)]
    fn _request_batched<'py>(
        &self,
        py: Python<'py>,
        completions: Py<Completions>,
        event_loop: &Bound<'py, PyAny>,
        method: &Bound<'py, PyAny>,
        url: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        json: Option<&Bound<'py, PyAny>>,
        data: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        retry: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let method = args::text(method, "method")?;
        let request = self.prepare(
            py, &method, url, params, json, data, headers, timeout, retry,
        )?;
        let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
        let target = future.clone().unbind();
        let session = Arc::clone(&self.inner);
        let task = runtime::handle().or_raise()?.spawn(async move {
            let result = session.send(request).await;
            let convert: Convert = Box::new(move |py| {
                Ok(Py::new(py, PyResponse::from(result.or_raise()?))?.into_any())
            });
            completions.get().finish(target, convert);
        });
        future.call_method1(
            pyo3::intern!(py, "add_done_callback"),
            (Canceller {
                task: task.abort_handle(),
            },),
        )?;
        Ok(future)
    }

    #[pyo3(signature = (method, url, *, params=None, json=None, data=None, headers=None, timeout=None, retry=None))]
    #[allow(clippy::too_many_arguments)]
    fn _request_async<'py>(
        &self,
        py: Python<'py>,
        method: &Bound<'py, PyAny>,
        url: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        json: Option<&Bound<'py, PyAny>>,
        data: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        retry: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let method = args::text(method, "method")?;
        let request = self.prepare(
            py, &method, url, params, json, data, headers, timeout, retry,
        )?;
        let session = Arc::clone(&self.inner);
        into_awaitable(py, async move {
            Ok(PyResponse::from(session.send(request).await.or_raise()?))
        })
    }
}

impl PySession {
    #[allow(clippy::too_many_arguments)]
    fn send_with_body<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        url: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        json: Option<&Bound<'py, PyAny>>,
        data: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        timeout: Option<&Bound<'py, PyAny>>,
        retry: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<PyResponse> {
        let request = self.prepare(py, method, url, params, json, data, headers, timeout, retry)?;
        let session = Arc::clone(&self.inner);
        wait(py, session.send(request)).map(PyResponse::from)
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        py: Python<'_>,
        method: &str,
        url: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        retry: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ApiRequest> {
        let url = args::text(url, "url")?;
        let retry = retry
            .filter(|value| !value.is_none())
            .map(|value| args::flag(value, "retry"))
            .transpose()?;
        self.inner
            .prepare(Call {
                method,
                url: &url,
                query: args::pairs(params, "params")?,
                headers: args::pairs(headers, "headers")?,
                body: body(py, json, data)?,
                timeout: args::optional_seconds(timeout, "timeout")?,
                retry,
            })
            .map_err(to_py_err)
    }
}

/// The request body from ``json=`` or ``data=`` (not both).
fn body(
    py: Python<'_>,
    json: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
) -> PyResult<Body> {
    let json = json.filter(|value| !value.is_none());
    let data = data.filter(|value| !value.is_none());
    match (json, data) {
        (Some(_), Some(_)) => Err(PyValueError::new_err(
            "pass either json= or data=, not both",
        )),
        (Some(value), None) => {
            let dumps = py.import("json")?.getattr("dumps")?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("separators", (",", ":"))?;
            kwargs.set_item("allow_nan", false)?;
            let text = dumps.call((value,), Some(&kwargs)).map_err(|error| {
                PyTypeError::new_err(format!("json= is not serializable as JSON: {error}"))
            })?;
            Ok(Body::Json(args::text(&text, "json")?.as_bytes().to_vec()))
        }
        (None, Some(value)) => {
            if let Ok(bytes) = value.cast::<PyBytes>() {
                return Ok(Body::Bytes(bytes.as_bytes().to_vec()));
            }
            if value.is_instance_of::<PyString>() {
                return Ok(Body::Bytes(args::text(value, "data")?.as_bytes().to_vec()));
            }
            Ok(Body::Form(args::pairs(Some(value), "data")?))
        }
        (None, None) => Ok(Body::Empty),
    }
}

/// Reads `DRUVA_CLIENT_ID`, `DRUVA_SECRET_KEY`, `DRUVA_REGION` and
/// `DRUVA_BASE_URL`; explicit keyword arguments win over the environment.
fn credentials_from_env<'py>(
    py: Python<'py>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let environ = py.import("os")?.getattr("environ")?;
    let variable = |name: &str| -> PyResult<Option<Bound<'py, PyAny>>> {
        let value = environ.call_method1("get", (name,))?;
        Ok((!value.is_none()).then_some(value))
    };
    let (Some(client_id), Some(secret)) =
        (variable("DRUVA_CLIENT_ID")?, variable("DRUVA_SECRET_KEY")?)
    else {
        return Err(PyValueError::new_err(
            "set DRUVA_CLIENT_ID and DRUVA_SECRET_KEY in the environment \
             (and optionally DRUVA_REGION or DRUVA_BASE_URL) to use from_env()",
        ));
    };
    let options = match kwargs {
        Some(kwargs) => kwargs.copy()?,
        None => PyDict::new(py),
    };
    for (variable_name, argument) in [("DRUVA_REGION", "region"), ("DRUVA_BASE_URL", "base_url")] {
        if let Some(value) = variable(variable_name)? {
            if !options.contains(argument)? && !value.is_truthy().is_ok_and(|t| !t) {
                options.set_item(argument, value)?;
            }
        }
    }
    Ok((client_id, secret, options))
}

/// Where a paginator stands: the pager and the page being handed out.
struct PageState {
    pager: Pager,
    page: Option<Py<PyList>>,
    index: usize,
}

/// An iterator over the items of a list endpoint, page by page; returned by
/// ``Session.paginate()``. Only the current page is held in memory.
#[pyclass(frozen, module = "druva", name = "Paginator")]
pub struct PyPaginator {
    session: Arc<Session>,
    url: String,
    items: Option<String>,
    /// `None` while a page is being fetched.
    state: Mutex<Option<PageState>>,
}

impl PyPaginator {
    fn take_state(&self) -> PyResult<PageState> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take()
            .ok_or_else(|| {
                PyRuntimeError::new_err(
                    "this paginator is already fetching a page; iterate it from one thread or task at a time",
                )
            })
    }

    fn put_state(&self, state: PageState) {
        *self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(state);
    }

    fn page_request(&self, pager: &Pager) -> Option<druva_core::errors::Result<ApiRequest>> {
        let query = pager.next_query()?;
        Some(self.session.prepare(Call {
            method: "GET",
            url: &self.url,
            query,
            ..Call::default()
        }))
    }
}

/// A fetched page on its way to Python: its items are decoded when the
/// awaiting coroutine resumes with the GIL, not on a runtime thread.
struct PageItems {
    response: Response,
    field: String,
}

impl<'py> IntoPyObject<'py> for PageItems {
    type Target = PyList;
    type Output = Bound<'py, PyList>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        page_items(py, &self.response, &self.field)
    }
}

/// The items of a page: the list in its items field.
fn page_items<'py>(
    py: Python<'py>,
    response: &Response,
    field: &str,
) -> PyResult<Bound<'py, PyList>> {
    let page = json::decode_or_raise(py, &response.content)?;
    let list = page.get_item(field)?;
    list.cast_into::<PyList>().map_err(|_| {
        to_py_err(Error::protocol(format!(
            "the page's {field:?} field is not a list"
        )))
    })
}

/// Reads one fetched page into the pager; returns its items.
fn accept_page<'py>(
    py: Python<'py>,
    state: &mut PageState,
    items: Option<&str>,
    response: &Response,
    info: &druva_core::paginate::PageInfo,
) -> PyResult<Bound<'py, PyList>> {
    let field = info.items_field(items).or_raise()?;
    let list = page_items(py, response, &field)?;
    state.pager.advance(info).or_raise()?;
    Ok(list)
}

#[pymethods]
impl PyPaginator {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut state = self.take_state()?;
        let result = self.next_item(py, &mut state);
        self.put_state(state);
        result
    }

    /// Pages read so far.
    #[getter]
    fn pages(&self) -> PyResult<u64> {
        Ok(self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .as_ref()
            .map_or(0, |state| state.pager.pages()))
    }

    /// The next page's items as a list, or ``None`` after the last page; an
    /// awaitable. The engine of ``AsyncSession.paginate()``.
    fn _next_page_async<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let paginator = slf.get();
        let state = paginator.take_state()?;
        let Some(request) = paginator.page_request(&state.pager) else {
            paginator.put_state(state);
            return into_awaitable(py, async { Ok(None::<PageItems>) });
        };
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                paginator.put_state(state);
                return Err(to_py_err(error));
            }
        };
        let session = Arc::clone(&paginator.session);
        let owner = slf.clone().unbind();
        // The state travels with the future and is put back however it ends;
        // if the task is cancelled, the guard puts it back on drop.
        let mut guard = StateGuard {
            owner: Some(owner),
            state: Some(state),
        };
        into_awaitable(py, async move {
            let page = session.page(request).await;
            let (owner, mut state) = guard.parts()?;
            let items = page.and_then(|(response, info)| {
                let field = info.items_field(owner.get().items.as_deref())?;
                state.pager.advance(&info)?;
                Ok(PageItems { response, field })
            });
            owner.get().put_state(state);
            Ok(Some(items.or_raise()?))
        })
    }
}

impl PyPaginator {
    fn next_item(&self, py: Python<'_>, state: &mut PageState) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(page) = &state.page {
                let page = page.bind(py);
                if state.index < page.len() {
                    let item = page.get_item(state.index)?;
                    state.index += 1;
                    return Ok(Some(item.unbind()));
                }
            }
            state.page = None;
            state.index = 0;
            let Some(request) = self.page_request(&state.pager) else {
                return Ok(None);
            };
            let request = request.or_raise()?;
            let session = Arc::clone(&self.session);
            let (response, info) = wait(py, session.page(request))?;
            let list = accept_page(py, state, self.items.as_deref(), &response, &info)?;
            state.page = Some(list.unbind());
        }
    }
}

/// Holds a paginator's state while an async page fetch is under way and puts
/// it back if the fetch is dropped before it finishes.
struct StateGuard {
    owner: Option<Py<PyPaginator>>,
    state: Option<PageState>,
}

impl StateGuard {
    fn parts(&mut self) -> PyResult<(Py<PyPaginator>, PageState)> {
        match (self.owner.take(), self.state.take()) {
            (Some(owner), Some(state)) => Ok((owner, state)),
            _ => Err(PyRuntimeError::new_err("the page fetch finished twice")),
        }
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        if let (Some(owner), Some(state)) = (self.owner.take(), self.state.take()) {
            owner.get().put_state(state);
        }
    }
}
