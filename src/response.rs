//! `druva.Response`, in the vocabulary of `requests`.

use crate::errors::to_py_err;
use pyo3::exceptions::{PyKeyError, PyLookupError, PyTypeError, PyUnicodeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyString, PyType};

use crate::json;
use druva_core::errors::Error;
use druva_core::response::Response;

/// An HTTP response read to its end.
///
/// ``status_code``, ``ok``, ``headers`` (case-insensitive), ``url``,
/// ``content`` (bytes), ``text``, ``json()``, ``elapsed`` and
/// ``raise_for_status()`` behave as in ``requests``.
///
/// >>> response = session.get("/insync/usermanagement/v1/users")  # doctest: +SKIP
/// >>> response.raise_for_status().json()["users"][0]["userName"]  # doctest: +SKIP
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

#[pymethods]
impl PyResponse {
    /// The HTTP status code, e.g. ``200``.
    #[getter]
    fn status_code(&self) -> u16 {
        self.response.status_code
    }

    /// The reason phrase of the status, e.g. ``"OK"``.
    #[getter]
    fn reason(&self) -> &'static str {
        self.response.reason()
    }

    /// ``True`` when the status is below 400 (as in ``requests``).
    #[getter]
    fn ok(&self) -> bool {
        !self.response.is_error()
    }

    /// The final URL, after redirects.
    #[getter]
    fn url(&self) -> &str {
        self.response.url.as_str()
    }

    /// The request's method.
    #[getter]
    fn method(&self) -> &str {
        &self.response.method
    }

    /// The response headers, a case-insensitive read-only mapping.
    #[getter]
    fn headers(&self) -> Headers {
        Headers {
            headers: self.response.headers.clone(),
        }
    }

    /// The body as bytes.
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.content
            .get_or_init(py, || PyBytes::new(py, &self.response.content).unbind())
            .bind(py)
            .clone()
    }

    /// The body as text, decoded with the charset the server declared (UTF-8
    /// when it declares none, or one Python does not know as a text
    /// encoding); undecodable bytes become U+FFFD.
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

    /// The body decoded from JSON into Python objects, in Rust.
    ///
    /// Raises :class:`druva.ProtocolError` when the body is not JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json::decode_or_raise(py, &self.response.content)
    }

    /// How long the request took, from sending to the end of the body.
    #[getter]
    fn elapsed(&self) -> std::time::Duration {
        self.response.elapsed
    }

    /// Raises :class:`druva.HTTPStatusError` (:class:`druva.RateLimitError`
    /// for 429) when the status is 400 or above; returns the response otherwise.
    fn raise_for_status(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        let response = &slf.get().response;
        if !response.is_error() {
            return Ok(slf);
        }
        Err(to_py_err(Error::from_status(response.clone())))
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

/// Response headers: a read-only mapping whose keys ignore case. A header
/// sent several times reads as its values joined with ", ".
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

    /// The header's value, or ``default`` when it is absent.
    #[pyo3(signature = (name, default=None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> Option<Py<PyAny>> {
        match self.value(name) {
            Some(value) => Some(PyString::new(py, &value).into_any().unbind()),
            None => default,
        }
    }

    /// The header names, lowercase.
    fn keys(&self) -> Vec<&str> {
        self.names()
    }

    /// The header values, in the order of ``keys()``.
    fn values(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter_map(|name| self.value(name))
            .collect()
    }

    /// ``(name, value)`` pairs, names lowercase.
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
