//! Druva's two ways of paging a listing, on any slice of records.
//!
//! Most listings take `pageSize` and `pageToken` and answer with the page and
//! an opaque `nextPageToken` on every page but the last, whose form is
//! selectable. As Druva's, a page token carries everything the next page
//! needs (here base64 of the next offset and the page size): it is sent
//! alone, and a page token combined with any other parameter is refused (see
//! docs/druva-api.md). inSync events v2 instead take and answer a `tracker`,
//! with `nextPageExists`, and keep their other parameters; a tracker is
//! bound to the `format` it was issued for. The trackers of the v2 streams
//! (and Platform v2's page tokens) carry when they were issued, for
//! `tracker_ttl`.

use std::collections::HashMap;

use base64::Engine;
use serde::Serialize;

use super::config::{LastPage, MAX_PAGE_SIZE};

const TRACKER_PREFIX: &str = "tracker:";

/// A parameter the server cannot honour; the message says which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InvalidParameter(pub String);

impl InvalidParameter {
    pub fn new(message: impl Into<String>) -> Self {
        InvalidParameter(message.into())
    }
}

/// The records `offset..end` of a listing of `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub offset: usize,
    pub end: usize,
    pub total: usize,
}

impl Page {
    fn new(offset: usize, size: usize, total: usize) -> Self {
        Page {
            offset,
            end: offset.saturating_add(size).min(total),
            total,
        }
    }

    pub fn new_at(offset: usize, size: usize, total: usize) -> Self {
        Page::new(offset, size, total)
    }

    pub fn is_last(&self) -> bool {
        self.end >= self.total
    }

    pub fn records<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        items.get(self.offset..self.end).unwrap_or_default()
    }
}

/// What a page-token list request asks for: the parameters of the list's
/// first request (filters and `pageSize`), and the offset a page token
/// carries on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListQuery {
    pub params: HashMap<String, String>,
    pub offset: usize,
    /// When the page token was issued (server milliseconds), for tokens
    /// that expire.
    pub issued_ms: Option<u64>,
}

/// Reads a list request's query. A page token carries the first request's
/// parameters and must come alone, as Druva's do.
pub(crate) fn list_query(params: HashMap<String, String>) -> Result<ListQuery, InvalidParameter> {
    let Some(token) = params.get("pageToken").filter(|token| !token.is_empty()) else {
        let mut params = params;
        params.remove("pageToken");
        return Ok(ListQuery {
            params,
            offset: 0,
            issued_ms: None,
        });
    };
    if params.len() > 1 {
        return Err(InvalidParameter::new(
            "pageToken cannot be combined with other parameters: send it alone",
        ));
    }
    decode_page_token(token).ok_or_else(|| InvalidParameter::new("Invalid pageToken"))
}

/// Refuses any parameter not in `known`, as Druva refuses a filter it does
/// not document.
pub(crate) fn check_known(
    params: &HashMap<String, String>,
    known: &[&str],
) -> Result<(), InvalidParameter> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|name| !known.contains(name))
        .collect();
    unknown.sort_unstable();
    match unknown.first() {
        None => Ok(()),
        Some(name) => Err(InvalidParameter::new(format!(
            "Unknown parameter {name}; this API takes {}",
            known.join(", ")
        ))),
    }
}

/// The page that a list query asks for.
pub(crate) fn token_page(
    query: &ListQuery,
    default_size: usize,
    total: usize,
) -> Result<Page, InvalidParameter> {
    if query.offset > total {
        return Err(InvalidParameter::new("Invalid pageToken"));
    }
    Ok(Page::new(
        query.offset,
        page_size(&query.params, default_size)?,
        total,
    ))
}

/// Where a `tracker` carries on from, for the `format` the request asks in:
/// offset 0 and no issue time without a tracker; refused when the tracker
/// is not one of ours, points past the end, or was issued for another
/// format.
pub(crate) fn tracker_offset(
    tracker: Option<&str>,
    format: &str,
    total: usize,
) -> Result<(usize, Option<u64>), InvalidParameter> {
    let Some(tracker) = tracker.filter(|tracker| !tracker.is_empty()) else {
        return Ok((0, None));
    };
    let (offset, issued_ms, issued_for) = decode_tracker(tracker)
        .filter(|(offset, _, _)| *offset <= total)
        .ok_or_else(|| InvalidParameter::new("Invalid tracker"))?;
    if issued_for != format {
        return Err(InvalidParameter::new(format!(
            "Invalid tracker: it was issued for format={issued_for}, not format={format}; \
             resend the parameters of the first request"
        )));
    }
    Ok((offset, Some(issued_ms)))
}

/// `ignoreTrackerExpiry`: `true` or `false` in any case (Druva's Sentinel
/// connector sends `True`), `false` when absent.
pub(crate) fn ignore_tracker_expiry(
    params: &HashMap<String, String>,
) -> Result<bool, InvalidParameter> {
    match params.get(IGNORE_TRACKER_EXPIRY) {
        None => Ok(false),
        Some(value) if value.eq_ignore_ascii_case("true") => Ok(true),
        Some(value) if value.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(InvalidParameter::new(
            "Invalid ignoreTrackerExpiry: it must be true or false",
        )),
    }
}

/// The parameter that lets an expired events v2 tracker through.
pub(crate) const IGNORE_TRACKER_EXPIRY: &str = "ignoreTrackerExpiry";

/// `pageSize` when given, which must be from 1 to `max` (a 400 otherwise),
/// else `default`: for the lists that refuse a larger page instead of
/// capping it.
pub(crate) fn bounded_page_size(
    params: &HashMap<String, String>,
    default: usize,
    max: usize,
) -> Result<usize, InvalidParameter> {
    let Some(text) = params.get("pageSize") else {
        return Ok(default);
    };
    page_size_within(text.parse().ok(), max)
}

/// A page size given (`None`: not a whole number), which must be from 1 to
/// `max`.
pub(crate) fn page_size_within(size: Option<usize>, max: usize) -> Result<usize, InvalidParameter> {
    size.filter(|size| (1..=max).contains(size)).ok_or_else(|| {
        InvalidParameter::new(format!(
            "Invalid pageSize: it must be a whole number from 1 to {max}"
        ))
    })
}

/// `pageSize` when given (capped at Druva's maximum), else the default.
fn page_size(
    params: &HashMap<String, String>,
    default_size: usize,
) -> Result<usize, InvalidParameter> {
    let Some(text) = params.get("pageSize") else {
        return Ok(default_size);
    };
    match text.parse::<usize>() {
        Ok(size) if size > 0 => Ok(size.min(MAX_PAGE_SIZE)),
        _ => Err(InvalidParameter::new(
            "Invalid pageSize: it must be a whole number from 1 to 4097",
        )),
    }
}

/// A page's body, serialized straight from the borrowed records: building a
/// `serde_json::Value` of the page first (cloning every string) cost the fake
/// more than all its other work a request.
pub(crate) struct PageBody<'a, T> {
    field: &'a str,
    records: &'a [T],
    total_size: Option<usize>,
    next: Next,
}

/// What follows the records.
enum Next {
    /// No `nextPageToken` at all.
    NoPageToken,
    /// `nextPageToken`: a token, `""`, or `null` (`None`).
    PageToken(Option<String>),
    /// `tracker` and `nextPageExists`.
    Tracker { tracker: String, exists: bool },
    /// `nextTrackerToken` (Cyber Resilience events).
    TrackerToken(String),
}

impl<T: Serialize> Serialize for PageBody<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        if let Some(total) = self.total_size {
            map.serialize_entry("totalSize", &total)?;
        }
        map.serialize_entry(self.field, self.records)?;
        match &self.next {
            Next::NoPageToken => {}
            Next::PageToken(token) => map.serialize_entry("nextPageToken", token)?,
            Next::Tracker { tracker, exists } => {
                map.serialize_entry("tracker", tracker)?;
                map.serialize_entry("nextPageExists", exists)?;
            }
            Next::TrackerToken(token) => map.serialize_entry("nextTrackerToken", token)?,
        }
        map.end()
    }
}

/// `{"<field>": [...], "nextPageToken": ...}`, plus `totalSize` when asked.
pub(crate) fn token_page_body<'a, T: Serialize>(
    field: &'a str,
    items: &'a [T],
    query: &ListQuery,
    page: Page,
    last_page: LastPage,
    with_total_size: bool,
) -> PageBody<'a, T> {
    let next = if page.is_last() {
        match last_page {
            LastPage::Missing => Next::NoPageToken,
            LastPage::Empty => Next::PageToken(Some(String::new())),
            LastPage::Null => Next::PageToken(None),
        }
    } else {
        Next::PageToken(Some(encode_page_token(&query.params, page.end)))
    };
    PageBody {
        field,
        records: page.records(items),
        total_size: with_total_size.then_some(page.total),
        next,
    }
}

/// `{"<field>": [...], "tracker": ..., "nextPageExists": ...}`. The tracker
/// is always sent, so that a poller can resume from the end later.
pub(crate) fn tracker_page_body<'a, T: Serialize>(
    field: &'a str,
    records: &'a [T],
    tracker: String,
    exists: bool,
) -> PageBody<'a, T> {
    unsized_body(field, records, Next::Tracker { tracker, exists })
}

/// `{"<field>": [...], "nextPageToken": token}`: a stream's page, whose
/// token never ends.
pub(crate) fn stream_page_body<'a, T: Serialize>(
    field: &'a str,
    records: &'a [T],
    token: String,
) -> PageBody<'a, T> {
    unsized_body(field, records, Next::PageToken(Some(token)))
}

/// `{"<field>": [...], "nextTrackerToken": token}`: a Cyber Resilience
/// events page, whose token points at the end of what it holds.
pub(crate) fn tracker_token_page_body<'a, T: Serialize>(
    field: &'a str,
    records: &'a [T],
    token: String,
) -> PageBody<'a, T> {
    unsized_body(field, records, Next::TrackerToken(token))
}

/// A page of a stream, which has no `totalSize`.
fn unsized_body<'a, T>(field: &'a str, records: &'a [T], next: Next) -> PageBody<'a, T> {
    PageBody {
        field,
        records,
        total_size: None,
        next,
    }
}

/// The offset's key inside a page token, beside the first request's parameters.
const OFFSET_KEY: &str = "~offset";

/// Beside the offset in a stream's token: a number that makes a token new
/// without moving it.
const POLL_KEY: &str = "~poll";

/// Beside the offset in an expiring token: when it was issued.
const ISSUED_KEY: &str = "~issued";

/// An opaque token: base64 of the first request's parameters and the offset.
pub(crate) fn encode_page_token(params: &HashMap<String, String>, offset: usize) -> String {
    encode_token(params, offset, &[])
}

/// A stream's token; `poll` makes it differ from an earlier one for the same
/// place.
pub(crate) fn encode_stream_token(
    params: &HashMap<String, String>,
    offset: usize,
    poll: Option<u64>,
) -> String {
    match poll {
        Some(poll) => encode_token(params, offset, &[(POLL_KEY, poll)]),
        None => encode_token(params, offset, &[]),
    }
}

/// A stream's token that expires: it carries when it was issued.
pub(crate) fn encode_expiring_token(
    params: &HashMap<String, String>,
    offset: usize,
    issued_ms: u64,
) -> String {
    encode_token(params, offset, &[(ISSUED_KEY, issued_ms)])
}

fn encode_token(params: &HashMap<String, String>, offset: usize, marks: &[(&str, u64)]) -> String {
    let mut pairs: Vec<(&String, &String)> = params.iter().collect();
    pairs.sort();
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        form.append_pair(key, value);
    }
    form.append_pair(OFFSET_KEY, &offset.to_string());
    for (key, value) in marks {
        form.append_pair(key, &value.to_string());
    }
    base64::engine::general_purpose::STANDARD.encode(form.finish())
}

fn decode_page_token(token: &str) -> Option<ListQuery> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let mut params: HashMap<String, String> =
        url::form_urlencoded::parse(&bytes).into_owned().collect();
    let offset = params.remove(OFFSET_KEY)?.parse().ok()?;
    params.remove(POLL_KEY);
    let issued_ms = match params.remove(ISSUED_KEY) {
        Some(issued) => Some(issued.parse().ok()?),
        None => None,
    };
    Some(ListQuery {
        params,
        offset,
        issued_ms,
    })
}

/// A tracker: the offset it carries on from, when it was issued, and the
/// format it was issued for.
pub(crate) fn encode_tracker(offset: usize, issued_ms: u64, format: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{TRACKER_PREFIX}{offset}:{issued_ms}:{format}"))
}

fn decode_tracker(tracker: &str) -> Option<(usize, u64, String)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tracker)
        .ok()?;
    let (offset, rest) = std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix(TRACKER_PREFIX)?
        .split_once(':')?;
    let (issued_ms, format) = rest.split_once(':')?;
    Some((
        offset.parse().ok()?,
        issued_ms.parse().ok()?,
        format.to_owned(),
    ))
}

/// A Cyber Resilience tracker token: the offset it carries on from.
pub(crate) fn encode_tracker_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{TRACKER_TOKEN_PREFIX}{offset}"))
}

/// The offset of a `trackerToken` of a stream of `total`: 0 without one;
/// refused when it is not one of ours or points past the end.
pub(crate) fn tracker_token_offset(
    token: Option<&str>,
    total: usize,
) -> Result<usize, InvalidParameter> {
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return Ok(0);
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| {
            std::str::from_utf8(&bytes)
                .ok()?
                .strip_prefix(TRACKER_TOKEN_PREFIX)?
                .parse::<usize>()
                .ok()
        })
        .filter(|offset| *offset <= total)
        .ok_or_else(|| InvalidParameter::new("Invalid trackerToken"))
}

const TRACKER_TOKEN_PREFIX: &str = "tracker-token:";

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn page_tokens_are_opaque_and_carry_the_first_request() {
        let first = params(&[("pageSize", "7"), ("emailID", "a@b.c")]);
        let token = encode_page_token(&first, 1111);
        let query = list_query(params(&[("pageToken", &token)])).unwrap();
        assert_eq!(query.params, first);
        assert_eq!(query.offset, 1111);
        assert!(list_query(params(&[("pageToken", "not a token")])).is_err());
        assert_eq!(
            decode_tracker(&encode_tracker(42, 7, "CEF")),
            Some((42, 7, "CEF".to_owned()))
        );
    }

    #[test]
    fn page_size_defaults_and_is_capped() {
        assert_eq!(page_size(&params(&[]), 100).unwrap(), 100);
        assert_eq!(page_size(&params(&[("pageSize", "10")]), 100).unwrap(), 10);
        assert_eq!(
            page_size(&params(&[("pageSize", "100000")]), 100).unwrap(),
            4097
        );
        assert!(page_size(&params(&[("pageSize", "0")]), 100).is_err());
        assert!(page_size(&params(&[("pageSize", "ten")]), 100).is_err());
    }

    #[test]
    fn the_last_page_is_marked_in_the_chosen_form() {
        let items = [1, 2, 3];
        let query = list_query(params(&[("pageSize", "2")])).unwrap();
        let last = Page::new(2, 2, 3);
        let body = |form| {
            serde_json::to_value(token_page_body("items", &items, &query, last, form, true))
                .unwrap()
        };
        assert_eq!(body(LastPage::Missing).get("nextPageToken"), None);
        assert_eq!(body(LastPage::Empty)["nextPageToken"], "");
        assert_eq!(
            body(LastPage::Null)["nextPageToken"],
            serde_json::Value::Null
        );
        assert_eq!(body(LastPage::Null)["items"], serde_json::json!([3]));
        let first = serde_json::to_value(token_page_body(
            "items",
            &items,
            &query,
            Page::new(0, 2, 3),
            LastPage::Null,
            true,
        ))
        .unwrap();
        assert_eq!(first["nextPageToken"], encode_page_token(&query.params, 2));
        assert_eq!(first["totalSize"], 3);
    }

    #[test]
    fn a_tracker_is_bound_to_its_format_and_to_the_stream_length() {
        let cef = encode_tracker(3, 11, "CEF");
        assert_eq!(tracker_offset(Some(&cef), "CEF", 5).unwrap(), (3, Some(11)));
        assert_eq!(tracker_offset(None, "CEF", 5).unwrap(), (0, None));
        assert!(tracker_offset(Some(&cef), "JSON", 5)
            .unwrap_err()
            .0
            .contains("format=CEF"));
        assert!(tracker_offset(Some(&cef), "CEF", 2).is_err());
        assert_eq!(
            tracker_offset(Some("nope"), "CEF", 5).unwrap_err().0,
            "Invalid tracker"
        );
    }

    #[test]
    fn a_new_stream_token_reads_like_the_old_one() {
        let first = params(&[("pageSize", "5")]);
        let same = encode_stream_token(&first, 9, None);
        let new = encode_stream_token(&first, 9, Some(2));
        assert_ne!(same, new);
        for token in [same, new] {
            let query = list_query(params(&[("pageToken", &token)])).unwrap();
            assert_eq!((query.params, query.offset), (first.clone(), 9));
        }
    }

    #[test]
    fn an_expiring_token_carries_its_issue_time_and_reads_like_any_other() {
        let first = params(&[("source", "Platform")]);
        let token = encode_expiring_token(&first, 4, 1234);
        let query = list_query(params(&[("pageToken", &token)])).unwrap();
        assert_eq!((query.params, query.offset), (first, 4));
        assert_eq!(query.issued_ms, Some(1234));
    }

    #[test]
    fn ignore_tracker_expiry_is_a_flag_in_any_case() {
        for (value, expected) in [("True", true), ("true", true), ("FALSE", false)] {
            let flag = ignore_tracker_expiry(&params(&[(IGNORE_TRACKER_EXPIRY, value)]));
            assert_eq!(flag.unwrap(), expected, "{value}");
        }
        assert!(!ignore_tracker_expiry(&params(&[])).unwrap());
        assert!(ignore_tracker_expiry(&params(&[(IGNORE_TRACKER_EXPIRY, "yes")])).is_err());
    }

    #[test]
    fn a_tracker_token_is_ours_and_within_the_stream() {
        let token = encode_tracker_token(3);
        assert_eq!(tracker_token_offset(Some(&token), 5).unwrap(), 3);
        assert_eq!(tracker_token_offset(None, 5).unwrap(), 0);
        assert!(tracker_token_offset(Some(&token), 2).is_err());
        let tracker = encode_tracker(3, 0, "JSON");
        assert!(tracker_token_offset(Some(&tracker), 5).is_err());
    }

    #[test]
    fn unknown_parameters_are_named() {
        let error = check_known(&params(&[("b", "1"), ("a", "2")]), &["c"]).unwrap_err();
        assert!(error.0.starts_with("Unknown parameter a"), "{}", error.0);
        assert!(check_known(&params(&[("c", "1")]), &["c"]).is_ok());
    }

    #[test]
    fn a_page_token_past_the_end_is_refused() {
        let past = encode_page_token(&HashMap::new(), 4);
        let query = list_query(params(&[("pageToken", &past)])).unwrap();
        assert!(token_page(&query, 2, 3).is_err());
        let second = encode_page_token(&params(&[("pageSize", "2")]), 2);
        let query = list_query(params(&[("pageToken", &second)])).unwrap();
        assert_eq!(token_page(&query, 9, 3).unwrap(), Page::new(2, 2, 3));
    }

    #[test]
    fn a_page_token_beside_other_parameters_is_refused_as_druva_does() {
        let token = encode_page_token(&HashMap::new(), 2);
        for other in [("pageSize", "2"), ("emailID", "a@b.c")] {
            let error = list_query(params(&[("pageToken", &token), other])).unwrap_err();
            assert!(error.0.contains("alone"), "{other:?}");
        }
    }
}
