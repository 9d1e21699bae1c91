//! The one home of redaction: a call's own secrets taken out of the text a
//! server sent back, before that text reaches an exception, a log record or
//! the command line's output.
//!
//! A server may echo what it received: a token endpoint quoting the Basic
//! credential in its `error_description` or in a 5xx page, an API naming the
//! bearer token in its 401. What is redacted is what this call sent: the
//! secret, the credential of its `Authorization` header (the Basic value or
//! the bearer token), each also in the forms an echo may take it in
//! (URL-encoded, percent-encoded, JSON-escaped).

use std::fmt::Write;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "***";

/// The secrets of one call, and the forms a server may echo them in.
#[derive(Default)]
pub struct Redactor {
    /// Longest first, so that a form containing another is replaced whole.
    needles: Vec<SecretString>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret value and its encoded forms.
    #[must_use]
    pub fn value(mut self, value: &str) -> Self {
        if value.is_empty() {
            return self;
        }
        let form: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let percent = percent_encoded(value, b"");
        let path = percent_encoded(value, b"/");
        let json = serde_json::to_string(value).unwrap_or_default();
        let json = json
            .strip_prefix('"')
            .and_then(|json| json.strip_suffix('"'))
            .unwrap_or_default()
            .to_owned();
        for needle in [value.to_owned(), form, percent, path, json] {
            let known = self
                .needles
                .iter()
                .any(|known| known.expose_secret() == needle);
            if !needle.is_empty() && !known {
                self.needles.push(SecretString::from(needle));
            }
        }
        self.needles
            .sort_by_key(|needle| std::cmp::Reverse(needle.expose_secret().len()));
        self
    }

    /// Adds the credential of an `Authorization` header value (`Basic ...`,
    /// `Bearer ...`): the part after the scheme.
    #[must_use]
    pub fn authorization(self, header: &HeaderValue) -> Self {
        let Ok(text) = header.to_str() else {
            return self;
        };
        let credential = text
            .split_once(' ')
            .map_or(text, |(_, credential)| credential);
        self.value(credential.trim())
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn text(&self, text: &str) -> String {
        let mut redacted = text.to_owned();
        for needle in &self.needles {
            let needle = needle.expose_secret();
            if redacted.contains(needle) {
                redacted = redacted.replace(needle, REDACTED);
            }
        }
        redacted
    }

    /// `bytes` with every secret replaced, or `None` when none occurs (the
    /// usual case: nothing is copied).
    pub fn bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut redacted: Option<Vec<u8>> = None;
        for needle in &self.needles {
            let needle = needle.expose_secret().as_bytes();
            let current = redacted.as_deref().unwrap_or(bytes);
            if let Some(replaced) = replace_all(current, needle, REDACTED.as_bytes()) {
                redacted = Some(replaced);
            }
        }
        redacted
    }
}

/// `value` percent-encoded (upper-case hex), keeping RFC 3986's unreserved
/// characters and `keep`: with `/` kept, as path encoders write it.
fn percent_encoded(value: &str, keep: &[u8]) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// `haystack` with each `needle` replaced, or `None` if there is none.
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    if needle.is_empty()
        || !haystack
            .windows(needle.len())
            .any(|window| window == needle)
    {
        return None;
    }
    let mut replaced = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while !rest.is_empty() {
        if rest.starts_with(needle) {
            replaced.extend_from_slice(with);
            rest = rest.get(needle.len()..).unwrap_or_default();
        } else {
            replaced.extend_from_slice(rest.get(..1).unwrap_or_default());
            rest = rest.get(1..).unwrap_or_default();
        }
    }
    Some(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_redacted_in_every_form_a_server_may_echo() {
        let redactor = Redactor::new().value("s3 cr+t/\"x");
        for echoed in [
            "s3 cr+t/\"x",
            "s3+cr%2Bt%2F%22x",
            "s3%20cr%2Bt%2F%22x",
            "s3%20cr%2Bt/%22x",
            "s3 cr+t/\\\"x",
        ] {
            let text = format!("bad secret {echoed}!");
            assert_eq!(redactor.text(&text), "bad secret ***!", "{echoed}");
            assert_eq!(
                redactor.bytes(text.as_bytes()).unwrap(),
                b"bad secret ***!",
                "{echoed}"
            );
        }
    }

    #[test]
    fn the_credential_of_an_authorization_header_is_redacted() {
        let redactor = Redactor::new()
            .authorization(&HeaderValue::from_static("Basic aWQ6c2VjcmV0"))
            .authorization(&HeaderValue::from_static("Bearer tok.en"));
        assert_eq!(
            redactor.text("got Basic aWQ6c2VjcmV0 and Bearer tok.en"),
            "got Basic *** and Bearer ***"
        );
    }

    #[test]
    fn text_without_a_secret_is_left_alone_and_not_copied() {
        let redactor = Redactor::new().value("secret");
        assert_eq!(redactor.text("all fine"), "all fine");
        assert!(redactor.bytes(b"all fine").is_none());
        assert!(Redactor::new().value("").bytes(b"").is_none());
    }
}
