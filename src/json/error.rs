//! `druva.JSONDecodeError` for a body that is not JSON, worded and placed as
//! the running interpreter's `json.loads` would: the wording is chosen from
//! serde's error kind ([`Category`]) and position and from what the document
//! holds before that position, never from serde's message text.

use std::sync::OnceLock;

use pyo3::{PyErr, Python};
use serde_json::error::Category;

use crate::exceptions::JSONDecodeError;

/// Whether `json.loads` names a trailing comma ("Illegal trailing comma
/// before end of object"), as Python 3.13 and later do; earlier versions
/// say what they expected instead. Read once, when the module is imported.
static NAMES_TRAILING_COMMAS: OnceLock<bool> = OnceLock::new();

/// Reads the interpreter's version for the wording of errors.
pub fn read_interpreter(py: Python<'_>) {
    NAMES_TRAILING_COMMAS.get_or_init(|| py.version_info() >= (3, 13));
}

/// The error for `bytes`, which serde failed to read with `error`: `msg` in
/// the json module's words, `doc` the body as text (invalid UTF-8 replaced),
/// `pos` the character offset in `doc` where it broke. The message quotes
/// nothing of the body; `doc` holds it, as json's does.
pub(super) fn decode_error(bytes: &[u8], error: &serde_json::Error) -> PyErr {
    let doc = String::from_utf8_lossy(bytes).into_owned();
    let (msg, at) = json_message(bytes, error);
    JSONDecodeError::new_err((msg, doc, char_offset(bytes, at)))
}

/// The json module's words for the fault, and the byte it points at.
fn json_message(bytes: &[u8], error: &serde_json::Error) -> (&'static str, usize) {
    let eof = error.classify() == Category::Eof;
    let at = if eof {
        bytes.len()
    } else {
        fault_byte(bytes, error)
    };
    let head = bytes.get(..at).unwrap_or(bytes);
    let scan = Scan::of(head);
    if let Some(start) = scan.string_start {
        return in_string(bytes, head, start, at, eof);
    }
    let (last, at) = match scan.token {
        // json reads the longest literal the token starts with; a bad
        // literal where a value should be is none.
        Some((start, 0)) => return ("Expecting value", start),
        Some((start, length)) => (Last::Value, start + length),
        None => (scan.last, at),
    };
    match (last, bytes.get(at)) {
        (Last::Value, _) if scan.open.is_none() && at < bytes.len() => ("Extra data", at),
        (Last::Comma(comma), Some(&close)) if closes(scan.open, close) => {
            trailing_comma(close, comma, at)
        }
        (Last::Open(b'{') | Last::Comma(_), _) if scan.open == Some(b'{') => {
            ("Expecting property name enclosed in double quotes", at)
        }
        (Last::Key, _) => ("Expecting ':' delimiter", at),
        (Last::Value, _) => ("Expecting ',' delimiter", at),
        _ => ("Expecting value", at),
    }
}

/// A fault inside the string that starts at byte `start`.
fn in_string(
    bytes: &[u8],
    head: &[u8],
    start: usize,
    at: usize,
    eof: bool,
) -> (&'static str, usize) {
    if eof {
        return ("Unterminated string starting at", start);
    }
    let backslash = head.iter().rposition(|&byte| byte == b'\\');
    match (head.last(), bytes.get(at)) {
        (Some(b'\\'), _) if backslash.is_some_and(|index| index + 1 == at) => {
            ("Invalid \\escape", at - 1)
        }
        (Some(&byte), _) if byte < 0x20 => ("Invalid control character at", at - 1),
        (_, Some(&byte)) if !byte.is_ascii() => ("Invalid UTF-8", at),
        _ => match backslash {
            Some(index) if bytes.get(index + 1) == Some(&b'u') => {
                ("Invalid \\uXXXX escape", index + 1)
            }
            Some(index) => ("Invalid \\escape", index),
            None => ("Invalid control character at", at),
        },
    }
}

/// Whether `close` ends the container that `open` began.
fn closes(open: Option<u8>, close: u8) -> bool {
    matches!((open, close), (Some(b'{'), b'}') | (Some(b'['), b']'))
}

/// A `}` or `]` right after a comma: named by Python 3.13 and later, at the
/// comma; earlier versions say what they expected there.
fn trailing_comma(close: u8, comma: usize, at: usize) -> (&'static str, usize) {
    let named = NAMES_TRAILING_COMMAS.get().copied().unwrap_or(false);
    match (named, close) {
        (true, b'}') => ("Illegal trailing comma before end of object", comma),
        (true, _) => ("Illegal trailing comma before end of array", comma),
        (false, b'}') => ("Expecting property name enclosed in double quotes", at),
        (false, _) => ("Expecting value", at),
    }
}

/// What the document's last token before a fault was.
#[derive(Clone, Copy)]
enum Last {
    /// Nothing yet.
    Start,
    /// A `{` or `[`.
    Open(u8),
    /// A comma, at that byte.
    Comma(usize),
    Colon,
    /// An object's key.
    Key,
    /// A whole value.
    Value,
}

/// Where the text before a fault stands.
struct Scan {
    last: Last,
    /// The innermost open `[` or `{`.
    open: Option<u8>,
    /// Where the string it ends in began, if it ends inside one.
    string_start: Option<usize>,
    /// The literal it ends in, when that is not a whole one (`tru`, `-`,
    /// `1.`): where it began, and the length of the longest literal it
    /// starts with (0: none).
    token: Option<(usize, usize)>,
}

impl Scan {
    fn of(head: &[u8]) -> Scan {
        let mut open = Vec::new();
        let mut last = Last::Start;
        let (mut string_start, mut escaped, mut token_start) = (None, false, None);
        for (index, &byte) in head.iter().enumerate() {
            if string_start.is_some() {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => {
                        string_start = None;
                        let key_place = matches!(last, Last::Open(b'{') | Last::Comma(_));
                        last = if key_place && open.last() == Some(&b'{') {
                            Last::Key
                        } else {
                            Last::Value
                        };
                    }
                    _ => {}
                }
                continue;
            }
            if !is_token_byte(byte) {
                token_start = None;
            }
            match byte {
                b'"' => string_start = Some(index),
                b'[' | b'{' => {
                    open.push(byte);
                    last = Last::Open(byte);
                }
                b']' | b'}' => {
                    open.pop();
                    last = Last::Value;
                }
                b',' => last = Last::Comma(index),
                b':' => last = Last::Colon,
                _ if is_token_byte(byte) => {
                    token_start.get_or_insert(index);
                    last = Last::Value;
                }
                _ => {}
            }
        }
        let token = token_start.and_then(|start| {
            let token = head.get(start..).unwrap_or_default();
            let length = literal_prefix(token);
            (length < token.len()).then_some((start, length))
        });
        Scan {
            last,
            open: open.last().copied(),
            string_start,
            token,
        }
    }
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'+' | b'.')
}

/// The length of the longest literal `token` starts with: `true`, `false`,
/// `null`, or a number as JSON writes it (`-?(0|[1-9][0-9]*)(.[0-9]+)?
/// ([eE][-+]?[0-9]+)?`); 0 if none.
fn literal_prefix(token: &[u8]) -> usize {
    for word in [&b"true"[..], b"false", b"null"] {
        if token.starts_with(word) {
            return word.len();
        }
    }
    let digits = |from: usize| {
        token.get(from..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        })
    };
    let mut end = usize::from(token.first() == Some(&b'-'));
    match token.get(end) {
        Some(b'0') => end += 1,
        Some(b'1'..=b'9') => end += digits(end),
        _ => return 0,
    }
    if token.get(end) == Some(&b'.') && digits(end + 1) > 0 {
        end += 1 + digits(end + 1);
    }
    if let Some(b'e' | b'E') = token.get(end) {
        let sign = usize::from(matches!(token.get(end + 1), Some(b'-' | b'+')));
        let exponent = digits(end + 1 + sign);
        if exponent > 0 {
            end += 1 + sign + exponent;
        }
    }
    end
}

/// The byte offset serde's (line, column) points at. serde counts columns in
/// bytes from 1 (0: the start of the line).
fn fault_byte(bytes: &[u8], error: &serde_json::Error) -> usize {
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
