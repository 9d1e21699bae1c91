//! Fault injection: what can go wrong between a client and Druva, queued by a
//! test and applied to the next matching requests.
//!
//! A matching fault is taken from the queue and answers *instead of* the
//! normal handling, except [`FaultKind::Delay`], which waits and then lets the
//! request be handled normally. Dropped connections and cut-off bodies are
//! real: the client sees a transport error, not a status.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};

use super::envelope;
use super::lock::lock;
use super::request::RequestKind;
use druva_core::errors::{Error, Result};

/// How long a cut-off response waits after its first bytes before breaking the
/// connection: long enough for them to be flushed to the socket first.
const FLUSH_PAUSE: Duration = Duration::from_millis(50);

/// The chunk size of a huge body: it is streamed, never held whole.
const HUGE_BODY_CHUNK: usize = 64 * 1024;

/// What goes wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status (200 to 599) and Druva's body for it, with a
    /// `Retry-After` header when given (seconds or an HTTP date, sent as is),
    /// and Druva's retry hint `retryable` in the body when given (absent
    /// otherwise).
    Status {
        status: u16,
        retry_after: Option<String>,
        retryable: Option<bool>,
    },
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Close the connection abruptly: before any response byte, or after the
    /// headers of a 200 that promised a body.
    Drop { after_headers: bool },
    /// A 200 `application/json` response whose body is not valid JSON.
    MalformedJson,
    /// A 200 whose `Content-Length` promises more body than is sent before
    /// the connection closes.
    Truncated,
    /// A redirect (300 to 399) to `location`.
    Redirect { location: String, status: u16 },
    /// A 200 `application/json` body of exactly `bytes` bytes (an empty JSON
    /// array padded with spaces; only spaces below 2 bytes), streamed in chunks.
    HugeBody { bytes: u64 },
}

/// A fault and the requests it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// How many matching requests it applies to (at least 1).
    pub count: u32,
    /// `None`: any request, the token endpoint included. `Some(prefix)`:
    /// requests whose path equals or starts with `prefix`.
    pub path: Option<String>,
}

impl Fault {
    /// A fault for the next request, whatever its path.
    #[must_use]
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            count: 1,
            path: None,
        }
    }

    /// Answer with `status` and Druva's body for it.
    #[must_use]
    pub fn status(status: u16) -> Self {
        Fault::new(FaultKind::Status {
            status,
            retry_after: None,
            retryable: None,
        })
    }

    /// Applies to the next `count` matching requests.
    #[must_use]
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Applies only to requests whose path equals or starts with `prefix`.
    #[must_use]
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.path = Some(prefix.into());
        self
    }

    fn matches(&self, path: &str) -> bool {
        self.path
            .as_deref()
            .is_none_or(|prefix| path.starts_with(prefix))
    }

    /// Refuses what the server could not send, so that a bad fault fails in
    /// the test that queued it rather than as a confusing response later.
    fn validate(&self) -> Result<()> {
        if self.count == 0 {
            return Err(Error::value("a fault's count must be at least 1"));
        }
        match &self.kind {
            FaultKind::Status {
                status,
                retry_after,
                ..
            } => {
                check_status(*status, 200..=599, "an injected status")?;
                if let Some(retry_after) = retry_after {
                    check_header_value(retry_after, "retry_after")?;
                }
            }
            FaultKind::Redirect { location, status } => {
                check_status(*status, 300..=399, "a redirect status")?;
                check_header_value(location, "a redirect location")?;
            }
            FaultKind::Delay(_)
            | FaultKind::Drop { .. }
            | FaultKind::MalformedJson
            | FaultKind::Truncated
            | FaultKind::HugeBody { .. } => {}
        }
        Ok(())
    }
}

fn check_status(status: u16, range: std::ops::RangeInclusive<u16>, what: &str) -> Result<()> {
    if range.contains(&status) {
        Ok(())
    } else {
        Err(Error::value(format!(
            "{what} must be between {} and {}, got {status}",
            range.start(),
            range.end()
        )))
    }
}

fn check_header_value(value: &str, what: &str) -> Result<()> {
    HeaderValue::from_str(value).map(drop).map_err(|_| {
        Error::value(format!(
            "{what} {value:?} cannot be sent in an HTTP header; use visible ASCII"
        ))
    })
}

/// The faults queued and not yet used up, in the order they were queued.
#[derive(Default)]
pub(crate) struct FaultQueue {
    pending: Mutex<VecDeque<Fault>>,
}

impl FaultQueue {
    pub fn push(&self, fault: Fault) -> Result<()> {
        fault.validate()?;
        lock(&self.pending).push_back(fault);
        Ok(())
    }

    pub fn clear(&self) {
        lock(&self.pending).clear();
    }

    /// Takes one use of the first queued fault that matches `path`.
    pub fn take(&self, path: &str) -> Option<FaultKind> {
        let mut pending = lock(&self.pending);
        let index = pending.iter().position(|fault| fault.matches(path))?;
        let fault = pending.get_mut(index)?;
        fault.count = fault.count.saturating_sub(1);
        let kind = fault.kind.clone();
        if fault.count == 0 {
            pending.remove(index);
        }
        Some(kind)
    }
}

/// What the server does with a request a fault matched.
pub(crate) enum FaultAction {
    /// Send this response instead of handling the request.
    Respond(Response),
    /// Wait, then handle the request normally.
    DelayThenHandle(Duration),
    /// Close the connection without a response.
    DropConnection,
}

/// Turns a fault into what the server does, for a request of `kind`.
pub(crate) fn action(fault: FaultKind, kind: RequestKind) -> FaultAction {
    match fault {
        FaultKind::Status {
            status,
            retry_after,
            retryable,
        } => FaultAction::Respond(status_response(status, retry_after, retryable, kind)),
        FaultKind::Delay(delay) => FaultAction::DelayThenHandle(delay),
        FaultKind::Drop {
            after_headers: false,
        } => FaultAction::DropConnection,
        FaultKind::Drop {
            after_headers: true,
        } => FaultAction::Respond(cut_off(Bytes::new(), 1024)),
        FaultKind::MalformedJson => FaultAction::Respond(json_body(
            Body::from(r#"{"druva": "this body is not valid JSON","#),
            None,
        )),
        FaultKind::Truncated => {
            let full = br#"{"message": "this body is cut off before its end", "data": {}}"#;
            let (sent, _) = full.split_at(full.len() / 2);
            FaultAction::Respond(cut_off(Bytes::from_static(sent), full.len() as u64))
        }
        FaultKind::Redirect { location, status } => {
            FaultAction::Respond(redirect(status, &location))
        }
        FaultKind::HugeBody { bytes } => {
            FaultAction::Respond(json_body(Body::from_stream(huge_body(bytes)), Some(bytes)))
        }
    }
}

fn status_response(
    status: u16,
    retry_after: Option<String>,
    retryable: Option<bool>,
    kind: RequestKind,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = envelope::for_status(status, kind == RequestKind::Token, retryable);
    if let Some(value) = retry_after.and_then(|value| HeaderValue::from_str(&value).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn redirect(status: u16, location: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A 200 JSON response, with a `Content-Length` when given.
fn json_body(body: Body, content_length: Option<u64>) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(length) = content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

/// A 200 that promises `content_length` bytes, sends `sent`, then breaks the
/// connection: the body stream fails, and hyper aborts the connection.
fn cut_off(sent: Bytes, content_length: u64) -> Response {
    let first = (!sent.is_empty()).then_some(Ok(sent));
    let failure = stream::once(async {
        tokio::time::sleep(FLUSH_PAUSE).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected fault: connection dropped",
        ))
    });
    let body = stream::iter(first).chain(failure);
    json_body(Body::from_stream(body), Some(content_length))
}

/// Exactly `bytes` bytes of valid JSON (`[`, spaces, `]`), chunk by chunk.
fn huge_body(bytes: u64) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    static SPACES: [u8; HUGE_BODY_CHUNK] = [b' '; HUGE_BODY_CHUNK];
    let padding = bytes.saturating_sub(2);
    let brackets = bytes >= 2;
    let open = brackets.then(|| Ok(Bytes::from_static(b"[")));
    let close = brackets.then(|| Ok(Bytes::from_static(b"]")));
    let spaces = stream::unfold(if brackets { padding } else { bytes }, |left| async move {
        if left == 0 {
            return None;
        }
        let size = usize::try_from(left).map_or(HUGE_BODY_CHUNK, |left| left.min(HUGE_BODY_CHUNK));
        let chunk = Bytes::from_static(&SPACES).slice(..size);
        Some((Ok(chunk), left - size as u64))
    });
    stream::iter(open).chain(spaces).chain(stream::iter(close))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_in_queue_order_and_are_used_up() {
        let queue = FaultQueue::default();
        queue.push(Fault::status(503).times(2)).unwrap();
        queue.push(Fault::status(429)).unwrap();
        let statuses: Vec<_> = std::iter::from_fn(|| queue.take("/x"))
            .map(|kind| match kind {
                FaultKind::Status { status, .. } => status,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(statuses, [503, 503, 429]);
    }

    #[test]
    fn a_fault_with_a_path_skips_other_paths() {
        let queue = FaultQueue::default();
        queue.push(Fault::status(500).on_path("/insync")).unwrap();
        assert!(queue.take("/token").is_none());
        assert!(queue.take("/insync/usermanagement/v1/users").is_some());
        assert!(queue.take("/insync/usermanagement/v1/users").is_none());
    }

    #[test]
    fn faults_the_server_could_not_send_are_refused() {
        let queue = FaultQueue::default();
        assert!(queue.push(Fault::status(99)).is_err());
        assert!(queue.push(Fault::status(503).times(0)).is_err());
        let bad_retry_after = Fault::new(FaultKind::Status {
            status: 429,
            retry_after: Some("1\n2".into()),
            retryable: None,
        });
        assert!(queue.push(bad_retry_after).is_err());
        let bad_redirect = Fault::new(FaultKind::Redirect {
            location: "/x".into(),
            status: 200,
        });
        assert!(queue.push(bad_redirect).is_err());
    }

    #[test]
    fn a_huge_body_is_exactly_the_asked_size_and_valid_json() {
        for bytes in [0u64, 1, 2, 3, 200_001] {
            let body: Vec<u8> = druva_core::runtime::block_on(
                huge_body(bytes)
                    .map(|chunk| chunk.unwrap_or_default().to_vec())
                    .concat(),
            )
            .unwrap();
            assert_eq!(body.len() as u64, bytes);
            if bytes >= 2 {
                let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(parsed, serde_json::json!([]));
            }
        }
    }
}
