//! The decoder's two calls into CPython that pyo3 does not wrap, and its only
//! `unsafe`: a `str` made straight from ASCII bytes, and a `dict` made at the
//! size its members need. Both exist in every CPython the package supports
//! (3.9 to 3.13; this is why the extension is built for the full CPython API,
//! one wheel a version); each gives way to pyo3's safe constructor when
//! CPython reports a failure.

use pyo3::ffi::{PyObject, Py_ssize_t};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

extern "C" {
    // CPython's own presized constructor (Include/cpython/dictobject.h),
    // which orjson and Cython use too: a dict whose table already holds
    // `minused` members, so that filling it never regrows it.
    fn _PyDict_NewPresized(minused: Py_ssize_t) -> *mut PyObject;
}

/// A Python `str` of ASCII `text`, allocated at its size and copied in,
/// without the UTF-8 decoder; `None` if `text` is not ASCII.
pub(super) fn ascii_string<'py>(py: Python<'py>, text: &str) -> Option<Bound<'py, PyString>> {
    let length = Py_ssize_t::try_from(text.len())
        .ok()
        .filter(|_| text.is_ascii())?;
    // SAFETY: PyUnicode_New returns a new reference to a compact str of
    // `length` one-byte characters (maxchar 127), or null with an exception
    // set. Its data has room for exactly `length` bytes, which are filled
    // with ASCII before the str is used.
    unsafe {
        let object = pyo3::ffi::PyUnicode_New(length, 127);
        if !object.is_null() {
            let data = pyo3::ffi::PyUnicode_1BYTE_DATA(object);
            std::ptr::copy_nonoverlapping(text.as_ptr(), data, text.len());
            return Some(Bound::from_owned_ptr(py, object).cast_into_unchecked());
        }
    }
    // Out of memory: the caller's safe constructor reports it the usual way.
    drop(PyErr::take(py));
    None
}

/// An empty `dict` with room for `members` without regrowing; `members` is a
/// guess (the previous object's size at the same depth), never a limit.
pub(super) fn presized_dict(py: Python<'_>, members: usize) -> Bound<'_, PyDict> {
    if let Ok(members) = Py_ssize_t::try_from(members) {
        // SAFETY: _PyDict_NewPresized returns a new reference to an empty
        // dict (a plain one, for any `minused` a CPython default dict holds),
        // or null with an exception set.
        unsafe {
            let object = _PyDict_NewPresized(members);
            if !object.is_null() {
                return Bound::from_owned_ptr(py, object).cast_into_unchecked();
            }
        }
        drop(PyErr::take(py));
    }
    PyDict::new(py)
}
