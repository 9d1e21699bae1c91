//! What each fuzz target checks, in one place: the targets in `fuzz_targets/`
//! run these on generated inputs, and `tests/fuzz_regressions.rs` replays the
//! inputs kept in `regressions/<target>/` through them on every `cargo test`.
//!
//! A check returns normally for any input; a panic (or a failed assertion of
//! one of the properties below) is a finding.

use std::time::{Duration, Instant, SystemTime};

use druva_core::endpoint::{is_loopback, same_origin, Endpoints};
use druva_core::paginate::{ListWalk, Method, PageInfo};
use druva_core::response::Response;
use druva_core::retry::{parse_retry_after, RetryPolicy};
use druva_core::token::parse_token_response;

/// A token endpoint's answer: two bytes of status, then the body. Every
/// outcome is a token or an error, and a token survives what the cache and
/// the session do with it.
pub fn token_response(data: &[u8]) {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let response = Response {
        method: "POST".to_owned(),
        status_code: 100 + u16::from_le_bytes(*status) % 500,
        headers: reqwest::header::HeaderMap::new(),
        url: url::Url::parse("https://apis.druva.com/token").unwrap(),
        content: bytes::Bytes::copy_from_slice(body),
        elapsed: Duration::ZERO,
        fresh_token_refused: false,
        left_origin: false,
    };
    let now = Instant::now();
    match parse_token_response(response, now, SystemTime::now()) {
        Ok(token) => {
            let _ = token.expires();
            let _ = token.expires_in(now);
            let _ = token.expires_at();
            for leeway in [0, 60, u64::MAX] {
                let _ = token.is_fresh(Duration::from_secs(leeway), now);
            }
            let _ = token.bearer_header();
            let _ = format!("{token:?}");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}

/// `Retry-After` at any wall-clock time (eight bytes of clock, then the
/// header): a wait or `None`, never longer than the policy's caps.
pub fn retry_after(data: &[u8]) {
    let Some((clock, value)) = data.split_first_chunk::<8>() else {
        return;
    };
    let value = String::from_utf8_lossy(value);
    // Any wall-clock time from 1970 to about the year 2500.
    let seconds = u64::from_le_bytes(*clock) % 16_725_225_600;
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
    let _ = parse_retry_after(&value, now);
    let policy = RetryPolicy::default();
    let delay = policy.delay(u32::from(clock[0]), Some(&value));
    assert!(delay <= policy.max_retry_after.max(policy.max_delay));
}

/// A list walked page by page; pages are separated by a 0xFF byte (never
/// valid in UTF-8 JSON). Whatever the pages say, the walk holds one cursor,
/// sends a page token alone, never asks again after the list ended, and ends
/// on a page that repeats the cursor it was sent.
pub fn paging(data: &[u8]) {
    let params = vec![("pageSize".to_owned(), "100".to_owned())];
    let Ok(mut walk) = ListWalk::new(Method::Get, params, None, None, None, None, None) else {
        return;
    };
    for page in data.split(|byte| *byte == 0xFF) {
        let Some(request) = walk.next_request() else {
            assert!(walk.is_finished());
            return;
        };
        if let Some(token) = request.query.iter().find(|(key, _)| key == "pageToken") {
            assert_eq!(request.query.len(), 1, "a page token goes alone");
            assert_eq!(Some(token.1.as_str()), walk.cursor());
        }
        if let Ok(info) = PageInfo::read(page) {
            let _ = info.items_field(None);
            if let Some(first) = info.list_fields().next() {
                assert_eq!(info.items_field(Some(first)).ok().as_deref(), Some(first));
            }
        }
        let sent = walk.cursor().map(str::to_owned);
        let Ok(fetched) = walk.read(response(page)) else {
            continue;
        };
        walk.advance(fetched);
        if sent.is_some() && walk.cursor() == sent.as_deref() {
            assert!(walk.is_finished(), "a repeated cursor ends the list");
        }
    }
}

fn response(body: &[u8]) -> Response {
    Response {
        method: "GET".to_owned(),
        status_code: 200,
        headers: reqwest::header::HeaderMap::new(),
        url: url::Url::parse("https://apis.druva.com/insync/usermanagement/v1/users").unwrap(),
        content: bytes::Bytes::copy_from_slice(body),
        elapsed: std::time::Duration::ZERO,
        fresh_token_refused: false,
        left_origin: false,
    }
}

/// Newline-separated fields: region, base URL, token URL, then URLs for
/// session calls. Credentials go only over TLS or to loopback, and a joined
/// URL is always of the base URL's origin: the bearer token stays home.
pub fn url_policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\n');
    let region = fields.next().filter(|r| !r.is_empty()).unwrap_or("cloud");
    let base_url = fields.next().filter(|base| !base.is_empty());
    let token_url = fields.next().filter(|token| !token.is_empty());
    let Ok(endpoints) = Endpoints::resolve(region, base_url, token_url) else {
        return;
    };
    for url in [&endpoints.base_url, &endpoints.token_url] {
        assert!(url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url)));
        assert!(url.username().is_empty() && url.password().is_none());
    }
    for url in fields {
        if let Ok(joined) = endpoints.join(url) {
            assert!(
                same_origin(&joined, &endpoints.base_url),
                "{url:?} joined to {joined} left the origin"
            );
        }
    }
}
