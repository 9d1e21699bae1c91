//! `druva.Response`, in the vocabulary of `requests`.

use pyo3::exceptions::{PyKeyError, PyLookupError, PyTypeError, PyUnicodeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyString, PyType};

use crate::exceptions::{HTTPStatusError, RateLimitError};
use crate::json;
use druva_core::response::Response;

/// An HTTP response from the Druva API, read to its end, in the vocabulary of ``requests``.
///
/// Every session call returns one, whatever its status. ``status_code``,
/// ``ok``, ``headers`` (case-insensitive), ``url``, ``content`` (bytes),
/// ``text``, ``json()``, ``elapsed`` and ``raise_for_status()`` behave as in
/// ``requests``; ``bool(r)`` is ``r.ok``. A response cannot be pickled
/// (pickle ``r.json()`` or ``r.content``).
///
/// >>> r = s.get("/insync/usermanagement/v1/users", params={"pageSize": 2})
/// >>> r
/// <Response [200]>
/// >>> r.raise_for_status().json()["users"][0]["userName"]
/// 'Linus Ritchie'
#[pyclass(frozen, module = "druva", name = "Response")]
pub struct PyResponse {
    response: Response,
    content: PyOnceLock<Py<PyBytes>>,
}

impl From<Response> for PyResponse {
    fn from(response: Response) -> Self {
        PyResponse {
            response,
            content: PyOnceLock::new(),
        }
    }
}

/// The exception of an error response: `druva.RateLimitError` for a 429,
/// `druva.HTTPStatusError` for any other, carrying the response and Druva's
/// error envelope.
pub fn status_error(response: Response) -> PyErr {
    let message = response.status_summary();
    let envelope = response.error_envelope();
    let rate_limited = response.is_rate_limited();
    let arguments = (
        message,
        PyResponse::from(response),
        envelope.code,
        envelope.message,
        envelope.retryable,
    );
    if rate_limited {
        RateLimitError::new_err(arguments)
    } else {
        HTTPStatusError::new_err(arguments)
    }
}

#[pymethods]
impl PyResponse {
    /// The HTTP status code of the response.
    ///
    /// >>> s.get("/insync/usermanagement/v1/users/1").status_code
    /// 200
    #[getter]
    fn status_code(&self) -> u16 {
        self.response.status_code
    }

    /// The reason phrase of the status code.
    ///
    /// >>> s.get("/insync/usermanagement/v1/users/999999").reason
    /// 'Not Found'
    #[getter]
    fn reason(&self) -> &'static str {
        self.response.reason()
    }

    /// Whether the status is below 400, as in ``requests``.
    ///
    /// >>> s.get("/insync/usermanagement/v1/users/1").ok, s.get("/insync/usermanagement/v1/users/999999").ok
    /// (True, False)
    #[getter]
    fn ok(&self) -> bool {
        !self.response.is_error()
    }

    /// The URL of the response: the request's, with its query, after any redirect.
    ///
    /// >>> s.get("/insync/usermanagement/v1/users", params={"pageSize": 2}).url
    /// 'http://127.0.0.1:.../insync/usermanagement/v1/users?pageSize=2'
    #[getter]
    fn url(&self) -> &str {
        self.response.url.as_str()
    }

    /// The method of the request that got this response.
    ///
    /// >>> s.get("/insync/usermanagement/v1/users/1").method
    /// 'GET'
    #[getter]
    fn method(&self) -> &str {
        &self.response.method
    }

    /// The response headers: a ``druva.Headers``, a read-only mapping whose keys ignore case.
    ///
    /// >>> s.get("/insync/usermanagement/v1/users/1").headers["Content-Type"]
    /// 'application/json'
    #[getter]
    fn headers(&self) -> Headers {
        Headers {
            headers: self.response.headers.clone(),
        }
    }

    /// The body as ``bytes``.
    ///
    /// >>> s.get("/insync/usermanagement/v1/users").content[:13]
    /// b'{"totalSize":'
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.content
            .get_or_init(py, || PyBytes::new(py, &self.response.content).unbind())
            .bind(py)
            .clone()
    }

    /// The body as text, decoded with the charset the server declared.
    ///
    /// UTF-8 when it declares none, or one Python does not know as a text
    /// encoding; bytes that do not decode become U+FFFD.
    ///
    /// >>> s.get("/insync/usermanagement/v1/users").text[:13]
    /// '{"totalSize":'
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let utf8 = || {
            let text = String::from_utf8_lossy(&self.response.content);
            Ok(PyString::new(py, &text).into_any())
        };
        let Some(charset) = self.charset() else {
            return utf8();
        };
        if charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8") {
            return utf8();
        }
        match self
            .content(py)
            .call_method1("decode", (charset, "replace"))
        {
            // An unknown name, an empty one, a codec that is not a text
            // encoding ("base64") or that refuses replacement ("idna"): a
            // server's mistake, not the caller's.
            Err(error)
                if error.is_instance_of::<PyLookupError>(py)
                    || error.is_instance_of::<PyUnicodeError>(py) =>
            {
                utf8()
            }
            decoded => decoded,
        }
    }

    /// The body decoded from JSON into Python objects (in Rust, as ``json.loads`` would).
    ///
    /// Raises:
    ///     druva.JSONDecodeError: the body is not JSON; it is also a
    ///         ``json.JSONDecodeError``, so a ``ValueError``, as in ``requests``.
    ///
    /// >>> s.get("/insync/usermanagement/v1/users/1").json()["emailID"]
    /// 'linus.ritchie.1@example.com'
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json::decode_or_raise(py, &self.response.content)
    }

    /// How long the request took, from sending it to the end of the body: a ``datetime.timedelta``.
    ///
    /// >>> s.get("/insync/usermanagement/v1/users/1").elapsed.total_seconds() < 30
    /// True
    #[getter]
    fn elapsed(&self) -> std::time::Duration {
        self.response.elapsed
    }

    /// Raises for an error status (400 or above); returns the response otherwise.
    ///
    /// So ``s.get(url).raise_for_status().json()`` reads in one line.
    ///
    /// Returns:
    ///     The response itself, when its status is below 400.
    ///
    /// Raises:
    ///     druva.RateLimitError: the status is 429 (still, after the retries).
    ///     druva.HTTPStatusError: any other status of 400 or above; its ``code``
    ///         and ``message`` are Druva's error envelope's.
    ///
    /// >>> r = s.get("/insync/usermanagement/v1/users/999999")
    /// >>> try:
    /// ...     r.raise_for_status()
    /// ... except druva.HTTPStatusError as error:
    /// ...     print(error.status_code, error.code, error.message)
    /// 404 InsyncUserManagement-404 User not found
    fn raise_for_status(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        let response = &slf.get().response;
        if !response.is_error() {
            return Ok(slf);
        }
        Err(status_error(response.clone()))
    }

    fn __repr__(&self) -> String {
        format!("<Response [{}]>", self.response.status_code)
    }

    fn __bool__(&self) -> bool {
        self.ok()
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "druva.Response cannot be pickled; pickle response.json() or response.content",
        ))
    }
}

impl PyResponse {
    fn charset(&self) -> Option<String> {
        let content_type = self.response.header("content-type")?;
        content_type.split(';').skip(1).find_map(|parameter| {
            let (name, value) = parameter.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().trim_matches('"').to_owned())
        })
    }
}

/// The headers of a ``druva.Response``: a read-only mapping whose keys ignore case.
///
/// A header the server sent several times reads as its values joined with
/// ``", "``. Names come out lowercase. It is a ``collections.abc.Mapping``,
/// so ``dict(r.headers)`` and ``"name" in r.headers`` work; a missing name
/// raises ``KeyError``.
///
/// >>> headers = s.get("/insync/usermanagement/v1/users/1").headers
/// >>> headers["CONTENT-TYPE"], "content-length" in headers
/// ('application/json', True)
#[pyclass(frozen, mapping, module = "druva", name = "Headers")]
pub struct Headers {
    headers: reqwest::header::HeaderMap,
}

impl Headers {
    fn value(&self, name: &str) -> Option<String> {
        let values: Vec<String> = self
            .headers
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    fn names(&self) -> Vec<&str> {
        self.headers
            .keys()
            .map(reqwest::header::HeaderName::as_str)
            .collect()
    }
}

#[pymethods]
impl Headers {
    fn __getitem__(&self, name: String) -> PyResult<String> {
        self.value(&name).ok_or_else(|| PyKeyError::new_err(name))
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name.extract::<String>()
            .is_ok_and(|name| self.headers.contains_key(name.as_str()))
    }

    fn __len__(&self) -> usize {
        self.headers.keys_len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.names())?.try_iter()?.into_any())
    }

    /// The header's value, or ``default`` when the response has no such header.
    ///
    /// >>> headers = s.get("/insync/usermanagement/v1/users/1").headers
    /// >>> headers.get("Content-Type"), headers.get("Retry-After", "none")
    /// ('application/json', 'none')
    #[pyo3(signature = (name, default=None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> Option<Py<PyAny>> {
        match self.value(name) {
            Some(value) => Some(PyString::new(py, &value).into_any().unbind()),
            None => default,
        }
    }

    /// The header names, lowercase, as a list.
    ///
    /// >>> "content-type" in s.get("/insync/usermanagement/v1/users/1").headers.keys()
    /// True
    fn keys(&self) -> Vec<&str> {
        self.names()
    }

    /// The header values, in the order of ``keys()``, as a list.
    ///
    /// >>> "application/json" in s.get("/insync/usermanagement/v1/users/1").headers.values()
    /// True
    fn values(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter_map(|name| self.value(name))
            .collect()
    }

    /// The headers as a list of ``(name, value)`` pairs, names lowercase.
    ///
    /// >>> ("content-type", "application/json") in s.get("/insync/usermanagement/v1/users/1").headers.items()
    /// True
    fn items(&self) -> Vec<(String, String)> {
        self.names()
            .into_iter()
            .filter_map(|name| Some((name.to_owned(), self.value(name)?)))
            .collect()
    }

    fn __repr__(&self) -> String {
        let names = self.names().join(", ");
        format!("Headers([{names}])")
    }
}

/// Registers `Headers` as a `collections.abc.Mapping`, so `isinstance` and
/// `dict(headers)` work.
pub fn register_mapping(py: Python<'_>) -> PyResult<()> {
    let mapping = py.import("collections.abc")?.getattr("Mapping")?;
    mapping.call_method1("register", (PyType::new::<Headers>(py),))?;
    Ok(())
}
