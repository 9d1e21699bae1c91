//! The serde visitor that builds Python objects as the parser meets values,
//! with no intermediate tree.

use std::fmt;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString};
use pyo3::IntoPyObjectExt;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::numbers::Numbers;
use super::strings::{StringCache, MAX_CACHED_VALUE};

/// What one decoding keeps between values.
pub(super) struct State<'py> {
    pub(super) strings: StringCache<'py>,
    pub(super) numbers: Numbers,
    /// How many objects the value being read is inside.
    pub(super) depth: usize,
}

/// Decodes `bytes` with `state`. The body is checked as UTF-8 once, up
/// front, so the parser need not check every string again (Python checks
/// each string it creates anyway).
pub(super) fn decode_with<'py>(
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

struct PyValue<'a, 'py> {
    py: Python<'py>,
    state: &'a mut State<'py>,
}

impl<'py> PyValue<'_, 'py> {
    /// A number: the exact integer of its literal when the literals are at
    /// hand, else serde's value.
    fn number<T, E>(self, value: T) -> Result<Bound<'py, PyAny>, E>
    where
        T: IntoPyObject<'py>,
        E: serde::de::Error,
    {
        let exact = self.state.numbers.next_integer(self.py);
        match exact.map_err(python_error)? {
            Some(exact) => Ok(exact),
            None => value.into_bound_py_any(self.py).map_err(python_error),
        }
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

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Self::Value, E> {
        self.number(value)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
        self.number(value)
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Self::Value, E> {
        if self.state.numbers.stops_at(value) {
            return Err(E::custom("a number that may have lost digits"));
        }
        self.number(value)
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
