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

impl<'de, 'py> Visitor<'de> for PyKey<'_, 'py> {
    type Value = Bound<'py, PyString>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.strings.get(self.py, key, MAX_CACHED_KEY))
    }
}
