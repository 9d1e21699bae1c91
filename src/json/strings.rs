//! Python strings for a document's keys and short values: each distinct one
//! made once and shared by every record that repeats it, and ASCII ones made
//! without the UTF-8 decoder (the decoder's one `unsafe`).

use hashbrown::HashMap;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// Keys longer than this are not worth remembering.
pub(super) const MAX_CACHED_KEY: usize = 64;

/// String values this short ("active", "Default", dates' parts...) repeat
/// across records often enough to share too; longer ones (emails, names)
/// rarely do.
pub(super) const MAX_CACHED_VALUE: usize = 10;

/// Objects nested deeper than this, or keys further into an object, are not
/// predicted (they are still found in the cache).
const MAX_PREDICTED_DEPTH: usize = 8;
const MAX_PREDICTED_POSITION: usize = 64;

/// A key's text and its Python string, and whether the text is plain (no
/// quote, backslash or control character): only a plain key can be matched
/// against the document's bytes as written.
type KnownKey<'py> = (Box<str>, Bound<'py, PyString>, bool);

/// The Python strings made so far for object keys and short values.
#[derive(Default)]
pub(super) struct StringCache<'py> {
    strings: HashMap<Box<str>, Bound<'py, PyString>>,
    /// The key met last at each position of an object, by depth: the records
    /// of a list repeat their keys in the same order, so the next record's
    /// key there is most likely the same, found with one comparison.
    predicted: Vec<Vec<Option<KnownKey<'py>>>>,
}

impl<'py> StringCache<'py> {
    /// The string of the key at `position` of an object at `depth`.
    pub(super) fn key(
        &mut self,
        py: Python<'py>,
        text: &str,
        depth: usize,
        position: usize,
    ) -> Bound<'py, PyString> {
        let row = self.predicted.get(depth);
        if let Some(Some((known, string, _))) = row.and_then(|row| row.get(position)) {
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
                    let plain = !text
                        .bytes()
                        .any(|byte| matches!(byte, b'"' | b'\\' | 0..=0x1f));
                    *slot = Some((text.into(), string.clone(), plain));
                }
            }
        }
        string
    }

    /// The plain key last met at `position` of an object at `depth`, if any.
    pub(super) fn predicted_key(
        &self,
        depth: usize,
        position: usize,
    ) -> Option<(&str, &Bound<'py, PyString>)> {
        match self.predicted.get(depth)?.get(position)? {
            Some((text, string, true)) => Some((text, string)),
            _ => None,
        }
    }

    pub(super) fn get(
        &mut self,
        py: Python<'py>,
        text: &str,
        max_cached: usize,
    ) -> Bound<'py, PyString> {
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
