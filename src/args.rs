//! Converting Python arguments, with messages that name the argument and say
//! what it should be. Everything here runs before any I/O.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// The Python type name of a value, for messages.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// A number as Python shows it, shortened for a message.
fn shown(value: &Bound<'_, PyAny>) -> String {
    let text = value
        .repr()
        .map(|repr| repr.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    if text.len() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// A required `str` argument.
pub fn text<'a>(value: &'a Bound<'_, PyAny>, name: &str) -> PyResult<Cow<'a, str>> {
    let string = value.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("{name} must be a str, not {}", type_name(value)))
    })?;
    string.to_cow()
}

/// An optional `str` argument.
pub fn optional_text<'a>(
    value: Option<&'a Bound<'_, PyAny>>,
    name: &str,
) -> PyResult<Option<Cow<'a, str>>> {
    match value {
        None => Ok(None),
        Some(value) if value.is_none() => Ok(None),
        Some(value) => text(value, name).map(Some),
    }
}

/// An optional scope: a str, or an iterable of str joined with spaces (as oauthlib does).
pub fn scope(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(value) = value.filter(|value| !value.is_none()) else {
        return Ok(None);
    };
    let scope = if value.is_instance_of::<PyString>() {
        text(value, "scope")?.into_owned()
    } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let parts: Vec<String> = value
            .extract()
            .map_err(|_| PyTypeError::new_err("scope must be a str or a list of str"))?;
        parts.join(" ")
    } else {
        return Err(PyTypeError::new_err(format!(
            "scope must be a str or a list of str, not {}",
            type_name(value)
        )));
    };
    if scope.trim().is_empty() {
        return Err(PyValueError::new_err(
            "scope is empty; omit it to get the credential's default scopes",
        ));
    }
    Ok(Some(scope))
}

/// No duration argument may exceed a year: beyond that it is a mistake, and
/// clocks plus such durations would overflow.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 60.0 * 60.0;

/// A number of seconds: finite and positive (or zero when `allow_zero`), at most a year.
pub fn seconds(value: &Bound<'_, PyAny>, name: &str, allow_zero: bool) -> PyResult<Duration> {
    if value.is_instance_of::<PyBool>()
        || !(value.is_instance_of::<PyFloat>() || value.is_instance_of::<PyInt>())
    {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a number of seconds, not {}",
            type_name(value)
        )));
    }
    // A huge int does not fit a float: out of range, not an arithmetic error.
    let seconds: f64 = value.extract().unwrap_or(f64::INFINITY);
    let acceptable = seconds <= MAX_SECONDS && (seconds > 0.0 || (allow_zero && seconds == 0.0));
    if !acceptable {
        let bound = if allow_zero { ">= 0" } else { "> 0" };
        return Err(PyValueError::new_err(format!(
            "{name} must be a number of seconds {bound} and at most a year ({MAX_SECONDS}), not {}",
            shown(value)
        )));
    }
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| PyValueError::new_err(format!("{name} is too large: {seconds}")))
}

/// An optional number of seconds (None means "the default").
pub fn optional_seconds(
    value: Option<&Bound<'_, PyAny>>,
    name: &str,
) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(value) if value.is_none() => Ok(None),
        Some(value) => seconds(value, name, false).map(Some),
    }
}

/// A bool argument, strictly.
pub fn flag(value: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    value
        .cast::<PyBool>()
        .map(|flag| flag.is_true())
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "{name} must be True or False, not {}",
                type_name(value)
            ))
        })
}

/// A non-negative whole number.
pub fn count(value: &Bound<'_, PyAny>, name: &str) -> PyResult<u32> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, not {}",
            type_name(value)
        )));
    }
    // An int past i64 is out of range all the same.
    let number = value
        .extract::<i64>()
        .ok()
        .and_then(|n| u32::try_from(n).ok());
    number.ok_or_else(|| {
        PyValueError::new_err(format!(
            "{name} must be between 0 and {}, not {}",
            u32::MAX,
            shown(value)
        ))
    })
}

/// An optional filesystem path: `str` or `os.PathLike`.
pub fn optional_path(value: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<PathBuf>> {
    let Some(value) = value.filter(|value| !value.is_none()) else {
        return Ok(None);
    };
    value.extract::<PathBuf>().map(Some).map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must be a path (str or os.PathLike), not {}",
            type_name(value)
        ))
    })
}

/// Query parameters: a mapping or a sequence of pairs; values are str, int,
/// float or bool (sent as `true`/`false`), or a list of them for repeated keys.
pub fn pairs(value: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Vec<(String, String)>> {
    let Some(value) = value.filter(|value| !value.is_none()) else {
        return Ok(Vec::new());
    };
    let items: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)> = if let Ok(dict) = value.cast::<PyDict>()
    {
        dict.iter().collect()
    } else if value.hasattr("items")? {
        value
            .call_method0("items")?
            .try_iter()?
            .map(|item| item?.extract())
            .collect::<PyResult<_>>()?
    } else {
        value
            .try_iter()
            .map_err(|_| bad_pairs(name, value))?
            .map(|item| item?.extract().map_err(|_| bad_pairs(name, value)))
            .collect::<PyResult<_>>()?
    };
    let mut pairs = Vec::with_capacity(items.len());
    for (key, item) in items {
        let key = text(&key, &format!("a key of {name}"))?.into_owned();
        if item.is_instance_of::<PyList>() || item.is_instance_of::<PyTuple>() {
            for element in item.try_iter()? {
                pairs.push((key.clone(), scalar(&element?, name, &key)?));
            }
        } else if !item.is_none() {
            pairs.push((key.clone(), scalar(&item, name, &key)?));
        }
    }
    Ok(pairs)
}

fn bad_pairs(name: &str, value: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "{name} must be a dict or a list of (key, value) pairs, not {}",
        type_name(value)
    ))
}

fn scalar(value: &Bound<'_, PyAny>, name: &str, key: &str) -> PyResult<String> {
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(if flag.is_true() { "true" } else { "false" }.to_owned());
    }
    if value.is_instance_of::<PyString>() {
        return Ok(text(value, name)?.into_owned());
    }
    if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        return Ok(value.str()?.to_cow()?.into_owned());
    }
    Err(PyTypeError::new_err(format!(
        "{name}[{key:?}] must be a str, int, float or bool, not {}",
        type_name(value)
    )))
}
