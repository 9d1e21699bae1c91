//! Druva's two ways of paging a listing, on any slice of records.
//!
//! Most listings take `pageSize` and `pageToken` and answer with the page and
//! an opaque `nextPageToken` (base64 of the next offset, like Druva's
//! `"MTExMQ=="`) on every page but the last, whose form is selectable. inSync
//! events v2 instead take and answer a `tracker`, with `nextPageExists`.

use std::collections::HashMap;

use base64::Engine;
use serde::Serialize;

use super::{LastPage, MAX_PAGE_SIZE};

const TRACKER_PREFIX: &str = "tracker:";

/// A paging parameter the server cannot honour; the message says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidParameter(pub &'static str);

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

    pub fn is_last(&self) -> bool {
        self.end >= self.total
    }

    fn records<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        items.get(self.offset..self.end).unwrap_or_default()
    }
}

/// The page that `pageSize` and `pageToken` ask for.
pub(crate) fn token_page(
    params: &HashMap<String, String>,
    default_size: usize,
    total: usize,
) -> Result<Page, InvalidParameter> {
    let size = page_size(params, default_size)?;
    let offset = match params.get("pageToken").map(String::as_str) {
        None | Some("") => 0,
        Some(token) => decode_page_token(token)
            .filter(|offset| *offset <= total)
            .ok_or(InvalidParameter("Invalid pageToken"))?,
    };
    Ok(Page::new(offset, size, total))
}

/// The page that `pageSize` and `tracker` ask for.
pub(crate) fn tracker_page(
    params: &HashMap<String, String>,
    default_size: usize,
    total: usize,
) -> Result<Page, InvalidParameter> {
    let size = page_size(params, default_size)?;
    let offset = match params.get("tracker").map(String::as_str) {
        None | Some("") => 0,
        Some(tracker) => decode_tracker(tracker)
            .filter(|offset| *offset <= total)
            .ok_or(InvalidParameter("Invalid tracker"))?,
    };
    Ok(Page::new(offset, size, total))
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
        _ => Err(InvalidParameter(
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
    /// `nextPageToken` absent, `""`, `null`, or a token.
    PageToken(Option<Option<String>>),
    /// `tracker` and `nextPageExists`.
    Tracker { tracker: String, exists: bool },
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
            Next::PageToken(None) => {}
            Next::PageToken(Some(token)) => map.serialize_entry("nextPageToken", token)?,
            Next::Tracker { tracker, exists } => {
                map.serialize_entry("tracker", tracker)?;
                map.serialize_entry("nextPageExists", exists)?;
            }
        }
        map.end()
    }
}

/// `{"<field>": [...], "nextPageToken": ...}`, plus `totalSize` when asked.
pub(crate) fn token_page_body<'a, T: Serialize>(
    field: &'a str,
    items: &'a [T],
    page: Page,
    last_page: LastPage,
    with_total_size: bool,
) -> PageBody<'a, T> {
    let next = if page.is_last() {
        match last_page {
            LastPage::Missing => None,
            LastPage::Empty => Some(Some(String::new())),
            LastPage::Null => Some(None),
        }
    } else {
        Some(Some(encode_page_token(page.end)))
    };
    PageBody {
        field,
        records: page.records(items),
        total_size: with_total_size.then_some(page.total),
        next: Next::PageToken(next),
    }
}

/// `{"<field>": [...], "tracker": ..., "nextPageExists": ...}`. The tracker
/// is always sent, so that a poller can resume from the end later.
pub(crate) fn tracker_page_body<'a, T: Serialize>(
    field: &'a str,
    items: &'a [T],
    page: Page,
) -> PageBody<'a, T> {
    PageBody {
        field,
        records: page.records(items),
        total_size: None,
        next: Next::Tracker {
            tracker: encode_tracker(page.end),
            exists: !page.is_last(),
        },
    }
}

pub(crate) fn encode_page_token(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(offset.to_string())
}

fn decode_page_token(token: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

pub(crate) fn encode_tracker(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TRACKER_PREFIX}{offset}"))
}

fn decode_tracker(tracker: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tracker)
        .ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix(TRACKER_PREFIX)?
        .parse()
        .ok()
}

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
    fn page_tokens_look_like_druvas() {
        assert_eq!(encode_page_token(1111), "MTExMQ==");
        assert_eq!(decode_page_token("MTExMQ=="), Some(1111));
        assert_eq!(decode_page_token("not a token"), None);
        assert_eq!(decode_tracker(&encode_tracker(42)), Some(42));
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
        let last = Page::new(2, 2, 3);
        let body = |form| {
            serde_json::to_value(token_page_body("items", &items, last, form, true)).unwrap()
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
            Page::new(0, 2, 3),
            LastPage::Null,
            true,
        ))
        .unwrap();
        assert_eq!(first["nextPageToken"], encode_page_token(2));
        assert_eq!(first["totalSize"], 3);
    }

    #[test]
    fn a_page_token_past_the_end_is_refused() {
        assert!(token_page(&params(&[("pageToken", &encode_page_token(4))]), 2, 3).is_err());
        let page = token_page(&params(&[("pageToken", &encode_page_token(2))]), 2, 3).unwrap();
        assert_eq!(page, Page::new(2, 2, 3));
    }
}
