//! Exact numbers. serde reads an integer beyond 64 bits (and `-0`) as a
//! float; `json.loads` keeps it an exact `int`. Such numbers are rare in API
//! bodies, so the first pass stops at the first number that may have lost
//! digits, and only then is the document read again with its number literals
//! at hand ([`NumberLiterals`]).

use pyo3::prelude::*;
use pyo3::types::PyInt;
use serde_json::error::Category;

/// Where a number's Python value comes from.
pub(super) enum Numbers {
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
    /// Whether the fast pass must stop at `value`: a float that an integer
    /// literal may have become (then it is marked, for [`Numbers::exact`]).
    pub(super) fn stops_at(&mut self, value: f64) -> bool {
        let Numbers::Fast { inexact_seen } = self else {
            return false;
        };
        if value.abs() >= INEXACT_FROM || (value == 0.0 && value.is_sign_negative()) {
            *inexact_seen = true;
        }
        *inexact_seen
    }

    /// The literals to read `bytes` again with, and the document to read,
    /// when the fast pass failed only for want of them: it met a number that
    /// may have lost digits, or a syntax error where the document holds an
    /// integer too large for a float (which `json.loads` reads as an `int`).
    pub(super) fn exact(
        &self,
        error: &serde_json::Error,
        bytes: &[u8],
    ) -> Option<(NumberLiterals, Vec<u8>)> {
        let Numbers::Fast { inexact_seen } = self else {
            return None;
        };
        if !inexact_seen && error.classify() != Category::Syntax {
            return None;
        }
        let (literals, document) = NumberLiterals::read(bytes);
        (*inexact_seen || literals.big_integers).then_some((literals, document))
    }

    /// The next number literal's value, if the document's literals are at
    /// hand and it is an integer; `None`: serde's value stands.
    pub(super) fn next_integer<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Numbers::Exact(numbers) = self else {
            return Ok(None);
        };
        match numbers.literals.next() {
            Some(NumberLiteral::Integer(value)) => Ok(Some(integer(py, value)?)),
            Some(NumberLiteral::BigInteger(text)) => {
                Ok(Some(py.get_type::<PyInt>().call1((text,))?.into_any()))
            }
            Some(NumberLiteral::Other) | None => Ok(None),
        }
    }
}

/// The number literals of a document, in document order, as serde meets
/// them: one for every number it visits.
pub(super) struct NumberLiterals {
    literals: std::vec::IntoIter<NumberLiteral>,
    /// Whether any is an integer beyond 64 bits.
    big_integers: bool,
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
        let mut big_integers = false;
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
                        big_integers = true;
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
            big_integers,
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
