//! Python strings for a document's keys and short values: each distinct one
//! made once and shared by every record that repeats it, and ASCII ones made
//! without the UTF-8 decoder.

use hashbrown::HashMap;

use super::ffi;
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

/// A Python `str` of `text`: an ASCII one (nearly every string of an API
/// body) without the UTF-8 decoder ([`ffi::ascii_string`]).
fn new_string<'py>(py: Python<'py>, text: &str) -> Bound<'py, PyString> {
    ffi::ascii_string(py, text).unwrap_or_else(|| PyString::new(py, text))
}
