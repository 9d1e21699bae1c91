//! A complete HTTP response as druva hands it to callers and errors.

use std::fmt::Write;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use url::Url;

use crate::redact::Redactor;

/// A response read to its end: status, headers, body and timing.
#[derive(Clone, Debug)]
pub struct Response {
    pub method: String,
    pub status_code: u16,
    pub headers: HeaderMap,
    pub url: Url,
    pub content: Bytes,
    pub elapsed: Duration,
    /// The API refused a token fetched for this very call (after refusing
    /// the cached one): the cause is access, not an expired token.
    pub fresh_token_refused: bool,
    /// A redirect went through another origin on the way: the final request
    /// carried no `Authorization` (reqwest drops it on leaving the origin),
    /// so a refusal from our origin says nothing about our token.
    pub left_origin: bool,
}

/// What a 403 means when a fresh token did not help.
const FRESH_TOKEN_REFUSED: &str = "the token was fresh (fetched after a first refusal), so the cause is access, not the token: the credential's rights or licence \
    (API access for this product, \"Access Administrator Management APIs\"), a missing scope \
    (scope=), the region (a token works only on the cloud that issued it), or an expired \
    tracker; refusals with this token return without renewal for up to a minute";

/// Druva's application error envelope: `{"code": "...", "message": "...",
/// "retryable": ...}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorEnvelope {
    pub code: Option<String>,
    pub message: Option<String>,
    /// Druva's retry hint; `None` when the body has no boolean `retryable`.
    pub retryable: Option<bool>,
}

/// The one field of an error body that decides a retry, read without
/// building the rest of the body.
#[derive(serde::Deserialize)]
struct RetryHint {
    #[serde(default)]
    retryable: Option<bool>,
}

/// Whether an answer with this status refused the bearer token the request
/// carried (401 or 403): the statuses on which a token is renewed, by a
/// session, by the customer exchange and by `druva.auth`'s adapters.
pub fn refuses_bearer(status_code: u16) -> bool {
    matches!(status_code, 401 | 403)
}

impl Response {
    /// Takes the call's own secrets out of the body and the header values
    /// (see [`crate::redact`]): what the server sent back is about to become
    /// an error, or is an error status handed to the caller.
    pub fn redact(&mut self, redactor: &Redactor) {
        if let Some(content) = redactor.bytes(&self.content) {
            self.content = Bytes::from(content);
        }
        for value in self.headers.values_mut() {
            if let Some(redacted) = redactor.bytes(value.as_bytes()) {
                if let Ok(redacted) = HeaderValue::from_bytes(&redacted) {
                    *value = redacted;
                }
            }
        }
    }

    /// A 2xx status: what a token answer or a page of a list must have.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status_code)
    }

    /// A 4xx or 5xx status: what `raise_for_status()` raises for and what
    /// makes `Response.ok` false, as in `requests` (a 3xx is not an error).
    pub fn is_error(&self) -> bool {
        self.status_code >= 400
    }

    /// A 429: the API's "too many requests", retried within `rate_limit_wait`
    /// and raised as `RateLimitError`.
    pub fn is_rate_limited(&self) -> bool {
        self.status_code == 429
    }

    /// The standard reason phrase of the status, or "" for unknown codes.
    pub fn reason(&self) -> &'static str {
        reqwest::StatusCode::from_u16(self.status_code)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("")
    }

    /// A header's value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The `code` and `message` of Druva's error envelope (also `error` /
    /// `error_description` of an OAuth error) when the body carries one.
    pub fn error_envelope(&self) -> ErrorEnvelope {
        let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(&self.content) else {
            return ErrorEnvelope::default();
        };
        let text = |key: &str| body.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        ErrorEnvelope {
            code: text("code").or_else(|| text("error")),
            message: text("message").or_else(|| text("error_description")),
            retryable: body.get("retryable").and_then(serde_json::Value::as_bool),
        }
    }

    /// Druva's retry hint: the boolean `retryable` of an error status's
    /// body (DESIGN, "Druva's retry hint"); `None` for a success, or a body
    /// without it. Read only on error statuses, skipping the other fields.
    pub fn retry_hint(&self) -> Option<bool> {
        if !self.is_error() {
            return None;
        }
        serde_json::from_slice::<RetryHint>(&self.content)
            .ok()
            .and_then(|hint| hint.retryable)
    }

    /// One line for an error message: status, method and path, Druva's code and message.
    /// The query string is left out: it is the caller's data, not ours to log.
    pub fn status_summary(&self) -> String {
        let mut summary = format!(
            "{} {} for {} {}",
            self.status_code,
            self.reason(),
            self.method,
            self.url.path()
        );
        let envelope = self.error_envelope();
        match (envelope.code, envelope.message) {
            (Some(code), Some(message)) => {
                let _ = write!(summary, ": {code}: {message}");
            }
            (Some(text), None) | (None, Some(text)) => {
                let _ = write!(summary, ": {text}");
            }
            (None, None) => {}
        }
        if self.fresh_token_refused && self.status_code == 403 {
            let _ = write!(summary, "; {FRESH_TOKEN_REFUSED}");
        }
        summary
    }
}

#[cfg(test)]
impl Response {
    /// The answer to a GET of `url`, for the crate's tests.
    pub(crate) fn answering(status_code: u16, url: &str, body: &str) -> Response {
        Response {
            method: "GET".into(),
            status_code,
            headers: HeaderMap::new(),
            url: Url::parse(url).unwrap(),
            content: Bytes::from(body.to_owned()),
            elapsed: Duration::ZERO,
            fresh_token_refused: false,
            left_origin: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status_code: u16, body: &str) -> Response {
        let url = "https://apis.druva.com/insync/endpoints/v1/devices?pageToken=x";
        Response::answering(status_code, url, body)
    }

    #[test]
    fn summary_carries_druva_code_and_message_but_not_the_query() {
        let r = response(
            400,
            r#"{"code": "InsyncEndpoints-1006", "message": "Invalid device", "retryable": false, "data": {}}"#,
        );
        let summary = r.status_summary();
        assert_eq!(
            summary,
            "400 Bad Request for GET /insync/endpoints/v1/devices: InsyncEndpoints-1006: Invalid device"
        );
    }

    #[test]
    fn a_403_refusing_a_fresh_token_names_the_likely_causes() {
        let body = r#"{"message": "User is not authorized to access this resource with an explicit deny"}"#;
        let mut refused = response(403, body);
        assert!(!refused.status_summary().contains("fresh"));
        refused.fresh_token_refused = true;
        let summary = refused.status_summary();
        assert!(
            summary.starts_with("403 Forbidden for GET /insync/endpoints/v1/devices: User is not")
        );
        for cause in ["token was fresh", "licence", "region", "tracker"] {
            assert!(summary.contains(cause), "{summary}");
        }
    }

    #[test]
    fn the_retry_hint_is_the_boolean_retryable_of_an_error_body() {
        let hint = |status, body| response(status, body).retry_hint();
        assert_eq!(hint(500, r#"{"code": "x", "retryable": true}"#), Some(true));
        assert_eq!(
            hint(503, r#"{"retryable": false, "data": {}}"#),
            Some(false)
        );
        assert_eq!(hint(500, r#"{"message": "Kindly try again"}"#), None);
        assert_eq!(hint(500, r#"{"retryable": "yes"}"#), None);
        assert_eq!(hint(502, "<html>"), None);
        assert_eq!(hint(200, r#"{"retryable": true}"#), None, "a success");
        let envelope = response(500, r#"{"code": "c", "retryable": true}"#).error_envelope();
        assert_eq!(envelope.retryable, Some(true));
    }

    #[test]
    fn envelope_of_a_non_json_body_is_empty() {
        assert_eq!(
            response(502, "<html>").error_envelope(),
            ErrorEnvelope::default()
        );
        assert_eq!(
            response(403, r#"{"message": "Unauthorized"}"#)
                .error_envelope()
                .message
                .as_deref(),
            Some("Unauthorized")
        );
    }
}
