//! JSON bytes straight into Python objects, in one pass, with no intermediate
//! tree. Object keys repeat across the records of a page ("userID",
//! "emailID", ...), so each distinct short key becomes one Python string that
//! every record shares, and so does each distinct short string value: less
//! allocation, less memory.
//!
//! serde reads an integer beyond 64 bits (and `-0`) as a float; `json.loads`
//! keeps it an exact `int`. Such numbers are rare in API bodies, so the one
//! pass stops at the first number that may have lost digits, and only then is
//! the document read again with its number literals at hand (see
//! [`NumberLiterals`]).

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
pub fn decode<'py>(py: Python<'py>, bytes: &[u8]) -> Result<Bound<'py, PyAny>, serde_json::Error> {
    let mut state = State {
        strings: StringCache::default(),
        numbers: Numbers::Fast {
            inexact_seen: false,
        },
        depth: 0,
    };
    match decode_with(py, bytes, &mut state) {
        Err(error) if state.numbers.needs_literals(&error) => {
            let (literals, exact_bytes) = NumberLiterals::read(bytes);
            state.numbers = Numbers::Exact(literals);
            decode_with(py, &exact_bytes, &mut state)
        }
        decoded => decoded,
    }
}

/// The body is checked as UTF-8 once, up front, so the parser need not check
/// every string again (Python checks each string it creates anyway).
fn decode_with<'py>(
    py: Python<'py>,
    bytes: &[u8],
    state: &mut State<'py>,
) -> Result<Bound<'py, PyAny>, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => decode_from(py, serde_json::Deserializer::from_str(text), state),
        // Invalid UTF-8: the byte-level parser reports where.
        Err(_) => decode_from(py, serde_json::Deserializer::from_slice(bytes), state),
    }
}

fn decode_from<'de, 'py, R: serde_json::de::Read<'de>>(
    py: Python<'py>,
    mut deserializer: serde_json::Deserializer<R>,
    state: &mut State<'py>,
) -> Result<Bound<'py, PyAny>, serde_json::Error> {
    let value = PyValue { py, state }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// What one decoding keeps between values.
struct State<'py> {
    strings: StringCache<'py>,
    numbers: Numbers,
    /// How many objects the value being read is inside.
    depth: usize,
}

/// Where a number's Python value comes from.
enum Numbers {
    /// From serde's value, which is exact unless it is a float that an
    /// integer literal may have become: then decoding stops, marking that.
    Fast { inexact_seen: bool },
    /// From the document's number literals, taken in order.
    Exact(NumberLiterals),
}

/// serde's float for an integer literal beyond 64 bits is at least 2^63 in
/// magnitude; `-0` is `-0.0`. Floats written so (`1e19`, `-0.0`) are sent
/// the same way, and come out unchanged.
const INEXACT_FROM: f64 = 9_223_372_036_854_775_808.0;

impl Numbers {
    /// Whether the fast pass failed only for want of the number literals:
    /// it met a number that may have lost digits, or one too large for a
    /// float (which `json.loads` reads as an `int` when it is one).
    fn needs_literals(&self, error: &serde_json::Error) -> bool {
        match self {
            Numbers::Fast { inexact_seen } => {
                *inexact_seen
                    || (error.classify() == serde_json::error::Category::Syntax
                        && error.to_string().starts_with("number out of range"))
            }
            Numbers::Exact(_) => false,
        }
    }
}

/// The number literals of a document, in document order, as serde meets
/// them: one for every number it visits.
struct NumberLiterals {
    literals: std::vec::IntoIter<NumberLiteral>,
}

enum NumberLiteral {
    /// An integer that fits 64 bits.
    Integer(i128),
    /// An integer beyond 64 bits, as written.
    BigInteger(String),
    /// Anything else (a float, or not a number at all in a broken document):
    /// serde's value stands.
    Other,
}

impl NumberLiterals {
    /// Scans `bytes` for number literals, outside strings. Also returns the
    /// document to decode: `bytes` with each integer beyond 64 bits replaced
    /// by `0` and spaces, so that no integer is too large for serde's float
    /// and every offset (for error messages) stays where it was.
    fn read(bytes: &[u8]) -> (Self, Vec<u8>) {
        let mut document = bytes.to_vec();
        let mut literals = Vec::new();
        let mut index = 0;
        while let Some(&byte) = bytes.get(index) {
            match byte {
                b'"' => index = string_end(bytes, index + 1),
                b'-' | b'0'..=b'9' => {
                    let start = index;
                    while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') =
                        bytes.get(index)
                    {
                        index += 1;
                    }
                    let literal = NumberLiteral::new(bytes.get(start..index).unwrap_or_default());
                    if let NumberLiteral::BigInteger(_) = literal {
                        if let Some(written) = document.get_mut(start..index) {
                            written.fill(b' ');
                            if let Some(first) = written.first_mut() {
                                *first = b'0';
                            }
                        }
                    }
                    literals.push(literal);
                }
                _ => index += 1,
            }
        }
        let literals = NumberLiterals {
            literals: literals.into_iter(),
        };
        (literals, document)
    }
}

/// The index after the string whose contents start at `index`.
fn string_end(bytes: &[u8], mut index: usize) -> usize {
    while let Some(&byte) = bytes.get(index) {
        index += 1;
        match byte {
            b'"' => break,
            b'\\' => index += 1,
            _ => {}
        }
    }
    index
}

impl NumberLiteral {
    fn new(literal: &[u8]) -> Self {
        let digits = literal.strip_prefix(b"-").unwrap_or(literal);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return NumberLiteral::Other;
        }
        let Ok(text) = std::str::from_utf8(literal) else {
            return NumberLiteral::Other;
        };
        match text.parse::<i128>() {
            Ok(value) if i64::try_from(value).is_ok() || u64::try_from(value).is_ok() => {
                NumberLiteral::Integer(value)
            }
            _ => NumberLiteral::BigInteger(text.to_owned()),
        }
    }
}

/// Objects nested deeper than this, or keys further into an object, are not
/// predicted (they are still found in the cache).
const MAX_PREDICTED_DEPTH: usize = 8;
const MAX_PREDICTED_POSITION: usize = 64;

/// A key's text and its Python string.
type KnownKey<'py> = (Box<str>, Bound<'py, PyString>);

/// The Python strings made so far for object keys and short values.
#[derive(Default)]
struct StringCache<'py> {
    strings: HashMap<Box<str>, Bound<'py, PyString>>,
    /// The key met last at each position of an object, by depth: the records
    /// of a list repeat their keys in the same order, so the next record's
    /// key there is most likely the same, found with one comparison.
    predicted: Vec<Vec<Option<KnownKey<'py>>>>,
}

impl<'py> StringCache<'py> {
    /// The string of the key at `position` of an object at `depth`.
    fn key(
        &mut self,
        py: Python<'py>,
        text: &str,
        depth: usize,
        position: usize,
    ) -> Bound<'py, PyString> {
        let row = self.predicted.get(depth);
        if let Some(Some((known, string))) = row.and_then(|row| row.get(position)) {
            if **known == *text {
                return string.clone();
            }
        }
        let string = self.get(py, text, MAX_CACHED_KEY);
        if depth < MAX_PREDICTED_DEPTH
            && position < MAX_PREDICTED_POSITION
            && text.len() <= MAX_CACHED_KEY
        {
            if self.predicted.len() <= depth {
                self.predicted.resize_with(depth + 1, Vec::new);
            }
            if let Some(row) = self.predicted.get_mut(depth) {
                if row.len() <= position {
                    row.resize_with(position + 1, || None);
                }
                if let Some(slot) = row.get_mut(position) {
                    *slot = Some((text.into(), string.clone()));
                }
            }
        }
        string
    }

    fn get(&mut self, py: Python<'py>, text: &str, max_cached: usize) -> Bound<'py, PyString> {
        if text.len() > max_cached {
            return new_string(py, text);
        }
        if let Some(string) = self.strings.get(text) {
            return string.clone();
        }
        let string = new_string(py, text);
        self.strings.insert(text.into(), string.clone());
        string
    }
}

/// A Python `str` of `text`. An ASCII one (nearly every string of an API
/// body) is allocated at its size and copied in, skipping the UTF-8 decoder
/// (this is why the extension is built for the full CPython API).
fn new_string<'py>(py: Python<'py>, text: &str) -> Bound<'py, PyString> {
    if let (true, Ok(length)) = (text.is_ascii(), pyo3::ffi::Py_ssize_t::try_from(text.len())) {
        // SAFETY: PyUnicode_New returns a new reference to a compact str of
        // `length` one-byte characters (maxchar 127), or null with an
        // exception set. Its data has room for exactly `length` bytes, which
        // are filled with ASCII before the str is used.
        unsafe {
            let object = pyo3::ffi::PyUnicode_New(length, 127);
            if !object.is_null() {
                let data = pyo3::ffi::PyUnicode_1BYTE_DATA(object);
                std::ptr::copy_nonoverlapping(text.as_ptr(), data, text.len());
                return Bound::from_owned_ptr(py, object).cast_into_unchecked();
            }
        }
        // Out of memory: PyString::new below reports it the usual way.
        drop(PyErr::take(py));
    }
    PyString::new(py, text)
}

struct PyValue<'a, 'py> {
    py: Python<'py>,
    state: &'a mut State<'py>,
}

impl<'py> PyValue<'_, 'py> {
    /// The next number literal's value, if the document's literals are at
    /// hand and it is an integer; `None`: serde's value stands.
    fn integer_literal(&mut self) -> Result<Option<Bound<'py, PyAny>>, PyErr> {
        let Numbers::Exact(numbers) = &mut self.state.numbers else {
            return Ok(None);
        };
        match numbers.literals.next() {
            Some(NumberLiteral::Integer(value)) => Ok(Some(integer(self.py, value)?)),
            Some(NumberLiteral::BigInteger(text)) => {
                Ok(Some(self.py.get_type::<PyInt>().call1((text,))?.into_any()))
            }
            Some(NumberLiteral::Other) | None => Ok(None),
        }
    }
}

/// A Python `int` of a value that fits 64 bits (signed or not).
fn integer(py: Python<'_>, value: i128) -> PyResult<Bound<'_, PyAny>> {
    match (i64::try_from(value), u64::try_from(value)) {
        (Ok(value), _) => Ok(PyInt::new(py, value).into_any()),
        (_, Ok(value)) => Ok(PyInt::new(py, value).into_any()),
        _ => Ok(py
            .get_type::<PyInt>()
            .call1((value.to_string(),))?
            .into_any()),
    }
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

    fn visit_i64<E: serde::de::Error>(mut self, value: i64) -> Result<Self::Value, E> {
        if let Some(exact) = self.integer_literal().map_err(python_error)? {
            return Ok(exact);
        }
        Ok(PyInt::new(self.py, value).into_any())
    }

    fn visit_u64<E: serde::de::Error>(mut self, value: u64) -> Result<Self::Value, E> {
        if let Some(exact) = self.integer_literal().map_err(python_error)? {
            return Ok(exact);
        }
        Ok(PyInt::new(self.py, value).into_any())
    }

    fn visit_f64<E: serde::de::Error>(mut self, value: f64) -> Result<Self::Value, E> {
        if let Numbers::Fast { inexact_seen } = &mut self.state.numbers {
            if value.abs() >= INEXACT_FROM || (value == 0.0 && value.is_sign_negative()) {
                *inexact_seen = true;
                return Err(E::custom("a number that may have lost digits"));
            }
        }
        if let Some(exact) = self.integer_literal().map_err(python_error)? {
            return Ok(exact);
        }
        Ok(PyFloat::new(self.py, value).into_any())
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(self
            .state
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
            state: &mut *self.state,
        })? {
            list.append(item).map_err(python_error)?;
        }
        Ok(list.into_any())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.py);
        let depth = self.state.depth;
        self.state.depth += 1;
        let mut position = 0;
        while let Some(key) = map.next_key_seed(PyKey {
            py: self.py,
            strings: &mut self.state.strings,
            depth,
            position,
        })? {
            position += 1;
            let value = map.next_value_seed(PyValue {
                py: self.py,
                state: &mut *self.state,
            })?;
            dict.set_item(key, value).map_err(python_error)?;
        }
        self.state.depth = depth;
        Ok(dict.into_any())
    }
}

/// An object key, read without an intermediate `String`.
struct PyKey<'a, 'py> {
    py: Python<'py>,
    strings: &'a mut StringCache<'py>,
    /// Where the key is: the object's depth, the key's index in it.
    depth: usize,
    position: usize,
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
        Ok(self.strings.key(self.py, key, self.depth, self.position))
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
    crate::exceptions::JSONDecodeError::new_err((msg, doc, char_offset(bytes, at)))
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
