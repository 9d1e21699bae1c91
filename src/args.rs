//! Python arguments into the core's types. The checks here are of Python
//! types only (a `str`, a number, a mapping); the ranges and rules that the
//! values must meet are the core's (`druva_core::config`). Everything here
//! runs before any I/O.
//!
//! pyo3 prefixes a `TypeError` raised while extracting an argument with the
//! argument's name (`argument 'params': ...`), so the newtypes' messages say
//! what the value should be and leave the name to pyo3.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};

use crate::errors::Result;
use druva_core::config;
use druva_core::session::Body;

/// The Python type name of a value, for messages.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |name| name.to_string())
}

/// A required `str` argument, named in the message when it is not one.
pub fn text<'a>(value: &'a Bound<'_, PyAny>, name: &str) -> PyResult<Cow<'a, str>> {
    let string = value.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("{name} must be a str, not {}", type_name(value)))
    })?;
    string.to_cow()
}

/// A number of seconds, as a float: an `int` or a `float`, never a `bool`.
/// An `int` too large for a float reads as infinity, which the core refuses
/// as out of range (a `ValueError`, not an `OverflowError`).
pub fn seconds(value: &Bound<'_, PyAny>) -> PyResult<f64> {
    if value.is_instance_of::<PyBool>()
        || !(value.is_instance_of::<PyFloat>() || value.is_instance_of::<PyInt>())
    {
        return Err(PyTypeError::new_err(format!(
            "must be a number of seconds, not {}",
            type_name(value)
        )));
    }
    Ok(value.extract().unwrap_or(f64::INFINITY))
}

/// `None` (the session's value) or a number of seconds.
pub fn optional_seconds(value: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
    if value.is_none() {
        return Ok(None);
    }
    seconds(value).map(Some)
}

/// A call's `timeout=`: `None` (the session's), or seconds checked by the
/// core's rule for `timeout`.
pub fn call_timeout(seconds: Option<f64>) -> Result<Option<Duration>> {
    let timeout = seconds.map(|seconds| config::seconds_argument("timeout", seconds, false));
    Ok(timeout.transpose()?)
}

/// [`whole`], or `None`.
pub fn optional_whole(value: &Bound<'_, PyAny>) -> PyResult<Option<i128>> {
    if value.is_none() {
        return Ok(None);
    }
    whole(value).map(Some)
}

/// A whole number: an `int`, never a `bool`; saturated to the `i128` range so
/// that the core's range check, not an `OverflowError`, refuses a huge one.
pub fn whole(value: &Bound<'_, PyAny>) -> PyResult<i128> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "must be an int, not {}",
            type_name(value)
        )));
    }
    if let Ok(number) = value.extract::<i128>() {
        return Ok(number);
    }
    let negative = value.lt(0)?;
    Ok(if negative { i128::MIN } else { i128::MAX })
}

/// A `str`, owned; `None` too when `optional`.
fn string(value: &Bound<'_, PyAny>, optional: bool) -> PyResult<Option<String>> {
    if optional && value.is_none() {
        return Ok(None);
    }
    let string = value
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("must be a str, not {}", type_name(value))))?;
    Ok(Some(string.to_cow()?.into_owned()))
}

/// `None` or a `str`.
pub fn optional_string(value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    string(value, true)
}

/// A `str`.
pub fn required_string(value: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(string(value, false)?.unwrap_or_default())
}

/// `True` or `False`, strictly (not any truthy object).
pub fn flag(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    value
        .cast::<PyBool>()
        .map(PyBoolMethods::is_true)
        .map_err(|_| {
            PyTypeError::new_err(format!("must be True or False, not {}", type_name(value)))
        })
}

/// `None` or `True`/`False`.
pub fn optional_flag(value: &Bound<'_, PyAny>) -> PyResult<Option<bool>> {
    if value.is_none() {
        return Ok(None);
    }
    flag(value).map(Some)
}

/// The converters of `#[pyo3(from_py_with = ...)]` arguments, one for each
/// argument, naming it in a wrong type's message (`timeout must be a number
/// of seconds, not str`): pyo3 names it only in an exception note, which
/// Python 3.9 and 3.10 do not show.
pub mod named {
    use pyo3::prelude::*;

    macro_rules! converters {
        ($($name:ident: $convert:ident($argument:literal) -> $type:ty;)*) => {$(
            #[doc = concat!("`", $argument, "`, by [`", stringify!($convert), "`](super::", stringify!($convert), ").")]
            pub fn $name(value: &Bound<'_, PyAny>) -> PyResult<$type> {
                super::$convert(value).map_err(|error| super::named(value.py(), $argument, error))
            }
        )*};
    }

    converters! {
        timeout: seconds("timeout") -> f64;
        call_timeout: optional_seconds("timeout") -> Option<f64>;
        leeway: seconds("leeway") -> f64;
        rate_limit_wait: seconds("rate_limit_wait") -> f64;
        max_retries: whole("max_retries") -> i128;
        max_response_bytes: whole("max_response_bytes") -> i128;
        max_concurrency: optional_whole("max_concurrency") -> Option<i128>;
        concurrency: whole("concurrency") -> i128;
        msp: flag("msp") -> bool;
        progress: flag("progress") -> bool;
        return_exceptions: flag("return_exceptions") -> bool;
        retry: optional_flag("retry") -> Option<bool>;
        force_refresh: flag("force_refresh") -> bool;
        token_lifetime: seconds("token_lifetime") -> f64;
        latency: seconds("latency") -> f64;
        tls: flag("tls") -> bool;
        seconds: seconds("seconds") -> f64;
        users: whole("users") -> i128;
        page_size: whole("page_size") -> i128;
        port: whole("port") -> i128;
        seed: whole("seed") -> i128;
        customers: whole("customers") -> i128;
        count: whole("count") -> i128;
        tracker_ttl: optional_seconds("tracker_ttl") -> Option<f64>;
        max_in_flight: optional_whole("max_in_flight") -> Option<i128>;
        client_id: optional_string("client_id") -> Option<String>;
        secret: optional_string("secret") -> Option<String>;
        last_page: required_string("last_page") -> String;
        rate_limit: optional_whole("rate_limit") -> Option<i128>;
        retryable: optional_flag("retryable") -> Option<bool>;
        keep_params: optional_flag("keep_params") -> Option<bool>;
    }
}

/// A wrong type's `TypeError` ("must be ...") with the argument's name first.
fn named(py: Python<'_>, name: &str, error: PyErr) -> PyErr {
    if error.is_instance_of::<PyTypeError>(py) {
        return PyTypeError::new_err(format!("{name} {}", error.value(py)));
    }
    error
}

/// A filesystem path: `str` or `os.PathLike`.
pub struct Path(pub PathBuf);

impl<'py> FromPyObject<'_, 'py> for Path {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        value.extract::<PathBuf>().map(Path).map_err(|_| {
            PyTypeError::new_err(format!(
                "must be a path (str or os.PathLike), not {}",
                type_name(&value)
            ))
        })
    }
}

/// A scope: a `str`, or a list or tuple of `str` joined with spaces (as
/// oauthlib does). Whether it may be empty is the core's rule.
pub struct Scope(pub String);

impl<'py> FromPyObject<'_, 'py> for Scope {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(text) = value.cast::<PyString>() {
            return Ok(Scope(text.to_cow()?.into_owned()));
        }
        if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
            let parts: Vec<String> = value
                .extract()
                .map_err(|_| PyTypeError::new_err("must be a str or a list of str"))?;
            return Ok(Scope(parts.join(" ")));
        }
        Err(PyTypeError::new_err(format!(
            "must be a str or a list of str, not {}",
            type_name(&value)
        )))
    }
}

/// Query parameters or headers: a mapping or a sequence of pairs; values are
/// `str`, `int`, `float` or `bool` (sent as `true`/`false`), or a list of them
/// for a repeated key; a `None` value leaves the key out.
#[derive(Default)]
pub struct Pairs(pub Vec<(String, String)>);

impl Pairs {
    /// The pairs of an optional argument.
    pub fn or_empty(pairs: Option<Pairs>) -> Vec<(String, String)> {
        pairs.map(|pairs| pairs.0).unwrap_or_default()
    }
}

impl<'py> FromPyObject<'_, 'py> for Pairs {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        let value = value.to_owned();
        let entries: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)> =
            if let Ok(dict) = value.cast::<PyDict>() {
                dict.iter().collect()
            } else if value.hasattr("items")? {
                value
                    .call_method0("items")?
                    .try_iter()?
                    .map(|entry| entry?.extract())
                    .collect::<PyResult<_>>()?
            } else {
                value
                    .try_iter()
                    .map_err(|_| not_pairs(&value))?
                    .map(|entry| entry?.extract().map_err(|_| not_pairs(&value)))
                    .collect::<PyResult<_>>()?
            };
        let mut pairs = Vec::with_capacity(entries.len());
        for (key, item) in entries {
            let key = key
                .cast::<PyString>()
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "has a key that is not a str: {}",
                        type_name(&key)
                    ))
                })?
                .to_cow()?
                .into_owned();
            if item.is_instance_of::<PyList>() || item.is_instance_of::<PyTuple>() {
                for element in item.try_iter()? {
                    pairs.push((key.clone(), scalar(&element?, &key)?));
                }
            } else if !item.is_none() {
                pairs.push((key.clone(), scalar(&item, &key)?));
            }
        }
        Ok(Pairs(pairs))
    }
}

fn not_pairs(value: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "must be a dict or a list of (key, value) pairs, not {}",
        type_name(value)
    ))
}

fn scalar(value: &Bound<'_, PyAny>, key: &str) -> PyResult<String> {
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(if flag.is_true() { "true" } else { "false" }.to_owned());
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(text.to_cow()?.into_owned());
    }
    if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        return Ok(value.str()?.to_cow()?.into_owned());
    }
    Err(PyTypeError::new_err(format!(
        "[{key:?}] must be a str, int, float or bool, not {}",
        type_name(value)
    )))
}

/// `data=`: a form (mapping or pairs) or a raw body (`str` or `bytes`).
pub struct Data(pub Body);

impl<'py> FromPyObject<'_, 'py> for Data {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = value.cast::<PyBytes>() {
            return Ok(Data(Body::Bytes(bytes.as_bytes().to_vec())));
        }
        if let Ok(text) = value.cast::<PyString>() {
            return Ok(Data(Body::Bytes(text.to_cow()?.as_bytes().to_vec())));
        }
        Ok(Data(Body::Form(value.extract::<Pairs>()?.0)))
    }
}

/// The request body from `json=` (any JSON-serializable object, serialized
/// compactly by the standard library's `json.dumps`) or `data=`, not both.
pub fn body(json: Option<&Bound<'_, PyAny>>, data: Option<Data>) -> PyResult<Body> {
    let json = json.filter(|value| !value.is_none());
    match (json, data) {
        (Some(_), Some(_)) => Err(PyValueError::new_err(
            "pass either json= or data=, not both",
        )),
        (Some(value), None) => Ok(Body::Json(json_text(value)?)),
        (None, Some(Data(body))) => Ok(body),
        (None, None) => Ok(Body::Empty),
    }
}

fn json_text(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let py = value.py();
    let dumps = py.import(pyo3::intern!(py, "json"))?.getattr("dumps")?;
    let options = PyDict::new(py);
    options.set_item("separators", (",", ":"))?;
    options.set_item("allow_nan", false)?;
    let text = dumps.call((value,), Some(&options)).map_err(|error| {
        PyTypeError::new_err(format!("json= is not serializable as JSON: {error}"))
    })?;
    Ok(text.cast::<PyString>()?.to_cow()?.as_bytes().to_vec())
}

/// `token_params`: a mapping of field names to a `str` or a list or tuple
/// of `str` (a repeated field), in the mapping's order. Which names may be
/// sent is the core's rule.
pub struct TokenParams(pub Vec<(String, Vec<String>)>);

impl<'py> FromPyObject<'_, 'py> for TokenParams {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        let Ok(mapping) = value.cast::<PyMapping>() else {
            return Err(PyTypeError::new_err(format!(
                "must be a mapping of str to str or a list of str, not {}",
                type_name(&value)
            )));
        };
        let mut fields = Vec::new();
        for item in mapping.items()?.iter() {
            let (name, values): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item.extract()?;
            let Ok(name) = name.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "keys must be str, not {}",
                    type_name(&name)
                )));
            };
            let name = name.to_cow()?.into_owned();
            let values = if let Ok(text) = values.cast::<PyString>() {
                vec![text.to_cow()?.into_owned()]
            } else if values.is_instance_of::<PyList>() || values.is_instance_of::<PyTuple>() {
                values.extract().map_err(|_| {
                    PyTypeError::new_err(format!("[{name:?}] must be a str or a list of str"))
                })?
            } else {
                return Err(PyTypeError::new_err(format!(
                    "[{name:?}] must be a str or a list of str, not {}",
                    type_name(&values)
                )));
            };
            fields.push((name, values));
        }
        Ok(TokenParams(fields))
    }
}
