//! JSON bytes straight into Python objects, in one pass, with no intermediate
//! tree. Object keys repeat across the records of a page ("userID",
//! "emailID", ...), so each distinct short key becomes one Python string that
//! every record shares, and so does each distinct short string value: less
//! allocation, less memory.

use std::fmt;

use hashbrown::HashMap;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Keys longer than this are not worth remembering.
const MAX_CACHED_KEY: usize = 64;

/// String values this short ("active", "Default", dates' parts...) repeat
/// across records often enough to share too; longer ones (emails, names)
/// rarely do.
const MAX_CACHED_VALUE: usize = 10;

/// Decodes a JSON document into Python objects; errors say where it broke.
///
/// The body is checked as UTF-8 once, up front, so the parser need not check
/// every string again (Python checks each string it creates anyway).
pub fn decode<'py>(py: Python<'py>, bytes: &[u8]) -> Result<Bound<'py, PyAny>, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => decode_from(py, serde_json::Deserializer::from_str(text)),
        // Invalid UTF-8: the byte-level parser reports where.
        Err(_) => decode_from(py, serde_json::Deserializer::from_slice(bytes)),
    }
}

fn decode_from<'de, 'py, R: serde_json::de::Read<'de>>(
    py: Python<'py>,
    mut deserializer: serde_json::Deserializer<R>,
) -> Result<Bound<'py, PyAny>, serde_json::Error> {
    let mut strings = StringCache::default();
    let value = PyValue {
        py,
        strings: &mut strings,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// The Python strings made so far for object keys and short values.
#[derive(Default)]
struct StringCache<'py> {
    strings: HashMap<Box<str>, Bound<'py, PyString>>,
}

impl<'py> StringCache<'py> {
    fn get(&mut self, py: Python<'py>, text: &str, max_cached: usize) -> Bound<'py, PyString> {
        if text.len() > max_cached {
            return PyString::new(py, text);
        }
        if let Some(string) = self.strings.get(text) {
            return string.clone();
        }
        let string = PyString::new(py, text);
        self.strings.insert(text.into(), string.clone());
        string
    }
}

struct PyValue<'a, 'py> {
    py: Python<'py>,
    strings: &'a mut StringCache<'py>,
}

/// Python errors raised while building objects travel through serde as custom
/// errors; they only happen when Python itself fails (out of memory).
fn python_error<E: serde::de::Error>(error: PyErr) -> E {
    E::custom(error)
}

impl<'de, 'py> DeserializeSeed<'de> for PyValue<'_, 'py> {
    type Value = Bound<'py, PyAny>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, 'py> Visitor<'de> for PyValue<'_, 'py> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(PyBool::new(self.py, value).to_owned().into_any())
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(PyInt::new(self.py, value).into_any())
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(PyInt::new(self.py, value).into_any())
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Ok(PyFloat::new(self.py, value).into_any())
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(self
            .strings
            .get(self.py, value, MAX_CACHED_VALUE)
            .into_any())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.py.None().into_bound(self.py))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let list = PyList::empty(self.py);
        while let Some(item) = seq.next_element_seed(PyValue {
            py: self.py,
            strings: &mut *self.strings,
        })? {
            list.append(item).map_err(python_error)?;
        }
        Ok(list.into_any())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.py);
        while let Some(key) = map.next_key_seed(PyKey {
            py: self.py,
            strings: &mut *self.strings,
        })? {
            let value = map.next_value_seed(PyValue {
                py: self.py,
                strings: &mut *self.strings,
            })?;
            dict.set_item(key, value).map_err(python_error)?;
        }
        Ok(dict.into_any())
    }
}

/// An object key, read without an intermediate `String`.
struct PyKey<'a, 'py> {
    py: Python<'py>,
    strings: &'a mut StringCache<'py>,
}

impl<'de, 'py> DeserializeSeed<'de> for PyKey<'_, 'py> {
    type Value = Bound<'py, PyString>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'py> Visitor<'_> for PyKey<'_, 'py> {
    type Value = Bound<'py, PyString>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.strings.get(self.py, key, MAX_CACHED_KEY))
    }
}

/// [`decode`], raising `druva.JSONDecodeError` (a `json.JSONDecodeError`)
/// where the body is not JSON: `msg` in the json module's words where serde
/// means the same, `doc` the body as text (invalid UTF-8 replaced), `pos` the
/// character offset in `doc` where it broke. The message quotes nothing of
/// the body; `doc` holds it, as json's does.
pub fn decode_or_raise<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    decode(py, bytes).map_err(|error| decode_error(bytes, &error))
}

/// The `druva.JSONDecodeError` for a body the core found not to be JSON;
/// `None` if it is JSON after all.
pub fn not_json_error(bytes: &[u8]) -> Option<PyErr> {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .err()
        .map(|error| decode_error(bytes, &error))
}

fn decode_error(bytes: &[u8], error: &serde_json::Error) -> PyErr {
    let doc = String::from_utf8_lossy(bytes).into_owned();
    let (msg, at) = json_message(error, bytes, fault_byte(bytes, error));
    crate::errors::JSONDecodeError::new_err((msg, doc, char_offset(bytes, at)))
}

/// The byte offset serde's (line, column) points at. serde counts columns in
/// bytes from 1 (0: the start of the line); at the end of the input it
/// points at the last byte, where json points past it.
fn fault_byte(bytes: &[u8], error: &serde_json::Error) -> usize {
    if error.classify() == serde_json::error::Category::Eof {
        return bytes.len();
    }
    let line_start = match error.line() {
        0 | 1 => 0,
        line => bytes
            .iter()
            .enumerate()
            .filter(|&(_, &byte)| byte == b'\n')
            .nth(line - 2)
            .map_or(bytes.len(), |(newline, _)| newline + 1),
    };
    (line_start + error.column().saturating_sub(1)).min(bytes.len())
}

/// The index, in the body decoded with replacement, of the character that
/// holds byte `at` (the character count when `at` is the end).
fn char_offset(bytes: &[u8], at: usize) -> usize {
    match bytes.get(..=at) {
        Some(through) => String::from_utf8_lossy(through)
            .chars()
            .count()
            .saturating_sub(1),
        None => String::from_utf8_lossy(bytes).chars().count(),
    }
}

/// Where the text before a fault stands: the innermost open `[` or `{`, and
/// where the string it ends in began, if it ends inside one.
#[derive(Default)]
struct Context {
    open: Option<u8>,
    string_start: Option<usize>,
}

fn context(head: &[u8]) -> Context {
    let mut open = Vec::new();
    let (mut string_start, mut escaped) = (None, false);
    for (index, &byte) in head.iter().enumerate() {
        match (string_start, byte) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), b'\\') => escaped = true,
            (Some(_), b'"') => string_start = None,
            (None, b'"') => string_start = Some(index),
            (None, b'[' | b'{') => open.push(byte),
            (None, b']' | b'}') => {
                open.pop();
            }
            (Some(_) | None, _) => {}
        }
    }
    Context {
        open: open.last().copied(),
        string_start,
    }
}

/// serde's message without its position, in the json module's words (and at
/// json's position: the start of a bad literal or string, the backslash of a
/// bad escape) where they mean the same, so that code ported from
/// `json.loads` reads alike.
fn json_message(error: &serde_json::Error, bytes: &[u8], at: usize) -> (String, usize) {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&position).unwrap_or(&text);
    let head = bytes.get(..at).unwrap_or(bytes);
    let before = head.iter().rev().find(|byte| !byte.is_ascii_whitespace());
    let here = bytes.get(at);
    let literal_start = at
        - head
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
    let eof = error.classify() == serde_json::error::Category::Eof;
    let context = if eof {
        context(head)
    } else {
        Context::default()
    };
    let (words, at) = match (message, before, here) {
        ("EOF while parsing a string", _, _) => match context.string_start {
            Some(start) => ("Unterminated string starting at", start),
            None => (message, at),
        },
        ("expected ident" | "EOF while parsing a value", Some(b'a'..=b'z'), _) => {
            ("Expecting value", literal_start)
        }
        (_, Some(b'{' | b','), _) if eof && context.open == Some(b'{') => {
            ("Expecting property name enclosed in double quotes", at)
        }
        (_, Some(b'[' | b',' | b':') | None, _) if eof => ("Expecting value", at),
        _ if eof => ("Expecting ',' delimiter", at),
        ("trailing comma", _, Some(b'}')) | ("key must be a string", _, _) => {
            ("Expecting property name enclosed in double quotes", at)
        }
        ("expected value" | "expected ident" | "trailing comma", _, _) => ("Expecting value", at),
        ("expected `,` or `]`" | "expected `,` or `}`", _, _) => ("Expecting ',' delimiter", at),
        ("expected `:`", _, _) => ("Expecting ':' delimiter", at),
        ("trailing characters", _, _) => ("Extra data", at),
        ("invalid escape", Some(b'\\'), _) => ("Invalid \\escape", at - 1),
        (control, _, _) if control.starts_with("control character") => {
            ("Invalid control character at", at.saturating_sub(1))
        }
        _ => (message, at),
    };
    (words.to_owned(), at)
}
