//! The fast pass: a scanner over the body's bytes that builds the Python
//! objects as it meets values, for the documents API bodies are (valid UTF-8,
//! integers within 64 bits, finite floats, no lone surrogates, nesting within
//! serde's limit). Anything else, a syntax error included, makes it give up
//! and the serde pass ([`super::visitor`]) reads the document again, with its
//! exact big integers and its `JSONDecodeError`s: the scanner decides no
//! outcome of its own but the value of a plain document.
//!
//! serde's visitor pays for its generality on every value (a `Visitor` call
//! per value, a `MapAccess` per key, the recursion through generic seeds);
//! here each value costs a `match` on its first byte, and a string's end is
//! looked for eight bytes at a time.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString};

use super::ffi;
use super::strings::{StringCache, MAX_CACHED_VALUE};

/// Containers nested deeper than this are left to serde, whose recursion
/// limit (128) decides what such a document gives.
const MAX_DEPTH: usize = 100;

/// The document is not one the scanner reads (or Python failed, which the
/// serde pass then reports): the serde pass reads it.
struct GiveUp;

impl From<PyErr> for GiveUp {
    fn from(_: PyErr) -> Self {
        GiveUp
    }
}

type Scan<T> = Result<T, GiveUp>;

/// The Python value of `bytes`, if it is a plain document; `None`: the serde
/// pass decides. `strings` keeps the strings made, for that pass to share.
pub(super) fn decode_plain<'py>(
    py: Python<'py>,
    bytes: &[u8],
    strings: &mut StringCache<'py>,
) -> Option<Bound<'py, PyAny>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut scanner = Scanner {
        py,
        text,
        bytes,
        at: 0,
        strings,
        scratch: String::new(),
        items: Vec::new(),
        depth: 0,
        object_depth: 0,
        sizes: Vec::new(),
    };
    let value = scanner.value().ok()?;
    scanner.skip_whitespace();
    (scanner.at == bytes.len()).then_some(value)
}

struct Scanner<'a, 'py> {
    py: Python<'py>,
    /// The document, checked as UTF-8 once; `bytes` is the same.
    text: &'a str,
    bytes: &'a [u8],
    /// The next byte to read.
    at: usize,
    strings: &'a mut StringCache<'py>,
    /// A string with escapes, unescaped.
    scratch: String,
    /// The items of the arrays being read, innermost last: each list is made
    /// once, at its size, from the tail.
    items: Vec<Bound<'py, PyAny>>,
    /// Containers around the value being read.
    depth: usize,
    /// Objects around the value being read (where a key is predicted).
    object_depth: usize,
    /// How many members the last object read at each object depth had: the
    /// size the next one there is made at (a page's records are alike).
    sizes: Vec<usize>,
}

/// Where a string's text is: a range of the document (no escapes), or the
/// scratch buffer.
enum Text {
    Document(usize, usize),
    Scratch,
}

impl<'py> Scanner<'_, 'py> {
    fn peek(&self) -> Scan<u8> {
        self.bytes.get(self.at).copied().ok_or(GiveUp)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// Reads past `byte`, after any whitespace.
    fn expect(&mut self, byte: u8) -> Scan<()> {
        self.skip_whitespace();
        if self.peek()? != byte {
            return Err(GiveUp);
        }
        self.at += 1;
        Ok(())
    }

    fn value(&mut self) -> Scan<Bound<'py, PyAny>> {
        self.skip_whitespace();
        let py = self.py;
        match self.peek()? {
            b'"' => self.string_value(),
            b'{' => self.object(),
            b'[' => self.array(),
            b't' => self.literal(b"true", PyBool::new(py, true).to_owned().into_any()),
            b'f' => self.literal(b"false", PyBool::new(py, false).to_owned().into_any()),
            b'n' => self.literal(b"null", py.None().into_bound(py)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(GiveUp),
        }
    }

    /// The string value at `at` (its opening quote).
    #[inline]
    fn string_value(&mut self) -> Scan<Bound<'py, PyAny>> {
        self.at += 1;
        let py = self.py;
        let value = match self.string()? {
            Text::Document(start, end) => {
                let text = self.text.get(start..end).ok_or(GiveUp)?;
                self.strings.get(py, text, MAX_CACHED_VALUE)
            }
            Text::Scratch => self.strings.get(py, &self.scratch, MAX_CACHED_VALUE),
        };
        Ok(value.into_any())
    }

    fn literal(&mut self, word: &[u8], value: Bound<'py, PyAny>) -> Scan<Bound<'py, PyAny>> {
        let end = self.at + word.len();
        if self.bytes.get(self.at..end) != Some(word) {
            return Err(GiveUp);
        }
        self.at = end;
        Ok(value)
    }

    fn enter(&mut self) -> Scan<()> {
        self.at += 1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(GiveUp);
        }
        self.skip_whitespace();
        Ok(())
    }

    fn object(&mut self) -> Scan<Bound<'py, PyAny>> {
        self.enter()?;
        let depth = self.object_depth;
        let dict = ffi::presized_dict(self.py, self.sizes.get(depth).copied().unwrap_or(0));
        if self.peek()? == b'}' {
            self.at += 1;
            self.depth -= 1;
            return Ok(dict.into_any());
        }
        self.object_depth += 1;
        let mut position = 0;
        loop {
            self.expect(b'"')?;
            let key = self.key(depth, position)?;
            position += 1;
            self.expect(b':')?;
            self.skip_whitespace();
            // Most members are strings: read without the call through `value`.
            let value = if self.peek()? == b'"' {
                self.string_value()?
            } else {
                self.value()?
            };
            dict.set_item(key, value)?;
            if self.at_close(b'}')? {
                break;
            }
        }
        self.depth -= 1;
        self.object_depth = depth;
        if self.sizes.len() <= depth {
            self.sizes.resize(depth + 1, 0);
        }
        if let Some(size) = self.sizes.get_mut(depth) {
            *size = position;
        }
        Ok(dict.into_any())
    }

    /// After a member or item: reads past the comma (`false`) or past `close`
    /// (`true`: the container ends).
    fn at_close(&mut self, close: u8) -> Scan<bool> {
        self.skip_whitespace();
        let byte = self.peek()?;
        self.at += 1;
        match byte {
            b',' => Ok(false),
            _ if byte == close => Ok(true),
            _ => Err(GiveUp),
        }
    }

    /// The key whose opening quote is behind, at `position` of an object at
    /// `depth`: the key predicted there ([`StringCache::predicted_key`]) if
    /// the document's next bytes are it and its closing quote, which skips
    /// reading the key; else read, and found in the cache.
    fn key(&mut self, depth: usize, position: usize) -> Scan<Bound<'py, PyString>> {
        if let (Some((text, string)), Some(rest)) = (
            self.strings.predicted_key(depth, position),
            self.bytes.get(self.at..),
        ) {
            if rest.get(text.len()) == Some(&b'"') && rest.starts_with(text.as_bytes()) {
                self.at += text.len() + 1;
                return Ok(string.clone());
            }
        }
        let py = self.py;
        Ok(match self.string()? {
            Text::Document(start, end) => {
                let text = self.text.get(start..end).ok_or(GiveUp)?;
                self.strings.key(py, text, depth, position)
            }
            Text::Scratch => self.strings.key(py, &self.scratch, depth, position),
        })
    }

    fn array(&mut self) -> Scan<Bound<'py, PyAny>> {
        self.enter()?;
        let first = self.items.len();
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            loop {
                let item = self.value()?;
                self.items.push(item);
                if self.at_close(b']')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        let list = PyList::new(self.py, self.items.drain(first..))?;
        Ok(list.into_any())
    }

    /// Reads the string whose opening quote is behind, up to and past its
    /// closing quote.
    fn string(&mut self) -> Scan<Text> {
        let start = self.at;
        self.skip_plain();
        match self.peek()? {
            b'"' => {
                self.at += 1;
                Ok(Text::Document(start, self.at - 1))
            }
            b'\\' => {
                self.scratch.clear();
                self.scratch
                    .push_str(self.text.get(start..self.at).ok_or(GiveUp)?);
                self.unescape()?;
                Ok(Text::Scratch)
            }
            // A control character, which JSON does not allow in a string.
            _ => Err(GiveUp),
        }
    }

    /// Moves `at` to the next quote, backslash or control character (or the
    /// end), eight bytes at a time.
    fn skip_plain(&mut self) {
        while let Some(chunk) = self.bytes.get(self.at..).and_then(<[u8]>::first_chunk) {
            let found = special_bytes(u64::from_le_bytes(*chunk));
            if found != 0 {
                // The lowest flagged byte is the first special one.
                self.at += (found.trailing_zeros() / 8) as usize;
                return;
            }
            self.at += 8;
        }
        while let Some(&byte) = self.bytes.get(self.at) {
            if is_special(byte) {
                break;
            }
            self.at += 1;
        }
    }

    /// Reads the rest of a string from a backslash into `scratch`, unescaped,
    /// up to and past its closing quote.
    fn unescape(&mut self) -> Scan<()> {
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Ok(());
                }
                b'\\' => {
                    let escape = self.bytes.get(self.at + 1).copied().ok_or(GiveUp)?;
                    self.at += 2;
                    let unescaped = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(GiveUp),
                    };
                    self.scratch.push(unescaped);
                }
                byte if byte < 0x20 => return Err(GiveUp),
                _ => {
                    let start = self.at;
                    self.skip_plain();
                    self.scratch
                        .push_str(self.text.get(start..self.at).ok_or(GiveUp)?);
                }
            }
        }
    }

    /// The character of a `\u` escape whose `\u` is behind: a surrogate pair
    /// makes one; a lone surrogate is left to serde.
    fn unicode_escape(&mut self) -> Scan<char> {
        let unit = self.hex4()?;
        let code = match unit {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                    return Err(GiveUp);
                }
                self.at += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(GiveUp);
                }
                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(GiveUp),
            _ => unit,
        };
        char::from_u32(code).ok_or(GiveUp)
    }

    fn hex4(&mut self) -> Scan<u32> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or(GiveUp)?;
        let mut unit = 0;
        for &digit in digits {
            let value = char::from(digit).to_digit(16).ok_or(GiveUp)?;
            unit = unit * 16 + value;
        }
        self.at += 4;
        Ok(unit)
    }

    /// A number as JSON writes it: an `int` when it has no fraction or
    /// exponent and fits 64 bits, a finite `float` otherwise; other integers
    /// are left to serde's exact pass.
    fn number(&mut self) -> Scan<Bound<'py, PyAny>> {
        let start = self.at;
        let negative = self.peek()? == b'-';
        if negative {
            self.at += 1;
        }
        let mut magnitude: u64 = 0;
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while let Some(&digit @ b'0'..=b'9') = self.bytes.get(self.at) {
                    magnitude = magnitude
                        .checked_mul(10)
                        .and_then(|tens| tens.checked_add(u64::from(digit - b'0')))
                        .ok_or(GiveUp)?;
                    self.at += 1;
                }
            }
            _ => return Err(GiveUp),
        }
        let mut is_float = false;
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            self.digits()?;
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'-' | b'+') = self.bytes.get(self.at) {
                self.at += 1;
            }
            self.digits()?;
            is_float = true;
        }
        if is_float {
            let literal = self.text.get(start..self.at).ok_or(GiveUp)?;
            let value: f64 = literal.parse().map_err(|_| GiveUp)?;
            if !value.is_finite() {
                return Err(GiveUp);
            }
            return Ok(PyFloat::new(self.py, value).into_any());
        }
        let integer = if negative {
            i64::try_from(-i128::from(magnitude)).map_err(|_| GiveUp)?
        } else {
            match i64::try_from(magnitude) {
                Ok(value) => value,
                Err(_) => return Ok(PyInt::new(self.py, magnitude).into_any()),
            }
        };
        Ok(PyInt::new(self.py, integer).into_any())
    }

    /// One or more decimal digits.
    fn digits(&mut self) -> Scan<()> {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
        if self.at == start {
            return Err(GiveUp);
        }
        Ok(())
    }
}

/// A byte that ends a string's plain run: a quote, a backslash, or a control
/// character (not allowed in a JSON string).
fn is_special(byte: u8) -> bool {
    matches!(byte, b'"' | b'\\' | 0..=0x1f)
}

/// The high bit of each of the eight bytes of `word` (the first in the
/// lowest byte) that [`is_special`], and maybe of bytes after the first
/// such: the "some byte is zero / below n" bit tricks, whose borrows only
/// reach higher bytes, so the lowest flag is exact and none is missed.
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let below = |word: u64, limit: u64| word.wrapping_sub(ONES * limit) & !word;
    (below(quote, 1) | below(backslash, 1) | below(word, 0x20)) & HIGH_BITS
}
