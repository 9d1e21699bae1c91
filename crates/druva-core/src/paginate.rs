//! Druva's paging: list responses carry `nextPageToken`, sent back as the
//! `pageToken` query parameter (missing, `""` and `null` all end the list);
//! inSync events v2 carry `tracker` and `nextPageExists` instead.
//!
//! A page is read once here for its paging fields and the names of its list
//! fields, skipping the values; the caller decodes the items itself.

use std::collections::HashSet;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::Deserializer;
use serde_json::error::Category;

use crate::errors::{Error, Result};

/// What a page says about the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextPage {
    /// Send `pageToken=<token>`.
    PageToken(String),
    /// Send `tracker=<tracker>` (events v2).
    Tracker(String),
    /// This was the last page.
    End,
}

/// The paging facts of one page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageInfo {
    next_page_token: Option<String>,
    tracker: Option<String>,
    next_page_exists: Option<bool>,
    /// Top-level fields whose value is a JSON array, in document order.
    pub list_fields: Vec<String>,
}

impl PageInfo {
    /// Reads the paging fields of a JSON page without building its items.
    pub fn read(body: &[u8]) -> Result<Self> {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let info = deserializer
            .deserialize_map(PageVisitor)
            .and_then(|info| deserializer.end().map(|()| info))
            .map_err(|error| {
                let message = format!(
                    "a page of the list is not a JSON object ({error}); cannot page through it"
                );
                match error.classify() {
                    Category::Syntax | Category::Eof => Error::NotJson {
                        message,
                        body: body.to_vec(),
                    },
                    Category::Data | Category::Io => Error::protocol(message),
                }
            })?;
        Ok(info)
    }

    /// Where the next page is, if any.
    pub fn next_page(&self) -> NextPage {
        if let Some(token) = self.next_page_token.as_deref().filter(|t| !t.is_empty()) {
            return NextPage::PageToken(token.to_owned());
        }
        if self.next_page_exists == Some(true) {
            if let Some(tracker) = self.tracker.as_deref().filter(|t| !t.is_empty()) {
                return NextPage::Tracker(tracker.to_owned());
            }
        }
        NextPage::End
    }

    /// The field that holds the items: `items` when the caller named it, else
    /// the page's only list field.
    pub fn items_field(&self, items: Option<&str>) -> Result<String> {
        if let Some(name) = items {
            if self.list_fields.iter().any(|field| field == name) {
                return Ok(name.to_owned());
            }
            return Err(Error::protocol(format!(
                "the page has no list field {name:?}; its list fields are {:?}",
                self.list_fields
            )));
        }
        match self.list_fields.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(Error::protocol(
                "the page has no list field to page through; is this a list endpoint?",
            )),
            several => Err(Error::protocol(format!(
                "the page has several list fields {several:?}; pass items= to name the one to page through"
            ))),
        }
    }
}

struct PageVisitor;

impl<'de> Visitor<'de> for PageVisitor {
    type Value = PageInfo;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PageInfo, A::Error> {
        let mut info = PageInfo::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "nextPageToken" => info.next_page_token = map.next_value::<Option<String>>()?,
                "tracker" => info.tracker = map.next_value::<Option<String>>()?,
                "nextPageExists" => info.next_page_exists = map.next_value::<Option<bool>>()?,
                _ => {
                    if map.next_value::<ValueShape>()?.is_list {
                        info.list_fields.push(key.into_owned());
                    }
                }
            }
        }
        Ok(info)
    }
}

/// Whether a skipped value was an array; its contents are never built.
struct ValueShape {
    is_list: bool,
}

impl<'de> serde::Deserialize<'de> for ValueShape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = ValueShape;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ValueShape, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ValueShape { is_list: true })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueShape, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ValueShape { is_list: false })
            }
            fn visit_bool<E>(self, _: bool) -> Result<ValueShape, E> {
                Ok(ValueShape { is_list: false })
            }
            fn visit_i64<E>(self, _: i64) -> Result<ValueShape, E> {
                Ok(ValueShape { is_list: false })
            }
            fn visit_u64<E>(self, _: u64) -> Result<ValueShape, E> {
                Ok(ValueShape { is_list: false })
            }
            fn visit_f64<E>(self, _: f64) -> Result<ValueShape, E> {
                Ok(ValueShape { is_list: false })
            }
            fn visit_str<E>(self, _: &str) -> Result<ValueShape, E> {
                Ok(ValueShape { is_list: false })
            }
            fn visit_unit<E>(self) -> Result<ValueShape, E> {
                Ok(ValueShape { is_list: false })
            }
        }
        deserializer.deserialize_any(ShapeVisitor)
    }
}

/// Walks a list page by page: gives the query of each next request and stops
/// at the last page, or at a server that hands out a page token twice (which
/// would otherwise page forever).
#[derive(Debug)]
pub struct Pager {
    params: Vec<(String, String)>,
    /// `None` until the first page is read.
    next: Option<NextPage>,
    seen: HashSet<String>,
    pages: u64,
}

impl Pager {
    /// A pager for a list with the caller's own query parameters.
    pub fn new(params: Vec<(String, String)>) -> Self {
        Pager {
            params,
            next: None,
            seen: HashSet::new(),
            pages: 0,
        }
    }

    /// Pages read so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The query of the next request, or `None` when the list is done.
    pub fn next_query(&self) -> Option<Vec<(String, String)>> {
        let (name, value) = match &self.next {
            None => return Some(self.params.clone()),
            Some(NextPage::End) => return None,
            Some(NextPage::PageToken(token)) => ("pageToken", token),
            Some(NextPage::Tracker(tracker)) => ("tracker", tracker),
        };
        let mut query: Vec<(String, String)> = self
            .params
            .iter()
            .filter(|(key, _)| key != name)
            .cloned()
            .collect();
        query.push((name.to_owned(), value.clone()));
        Some(query)
    }

    /// Records a page that was read.
    pub fn advance(&mut self, info: &PageInfo) -> Result<()> {
        let next = info.next_page();
        if let NextPage::PageToken(token) | NextPage::Tracker(token) = &next {
            if !self.seen.insert(token.clone()) {
                return Err(Error::protocol(format!(
                    "the server sent the same page token twice after {} pages; \
                     stopping instead of paging forever",
                    self.pages + 1
                )));
            }
        }
        self.pages += 1;
        self.next = Some(next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(body: &str) -> PageInfo {
        PageInfo::read(body.as_bytes()).unwrap()
    }

    #[test]
    fn every_last_page_form_ends_the_list() {
        for body in [
            r#"{"users": []}"#,
            r#"{"users": [], "nextPageToken": ""}"#,
            r#"{"users": [], "nextPageToken": null}"#,
        ] {
            assert_eq!(info(body).next_page(), NextPage::End, "{body}");
        }
        assert_eq!(
            info(r#"{"totalSize": 3, "nextPageToken": "MTExMQ==", "users": [{"a": [1]}]}"#)
                .next_page(),
            NextPage::PageToken("MTExMQ==".into())
        );
    }

    #[test]
    fn events_v2_page_by_tracker() {
        let more = info(r#"{"events": [1], "tracker": "t1", "nextPageExists": true}"#);
        assert_eq!(more.next_page(), NextPage::Tracker("t1".into()));
        let last = info(r#"{"events": [], "tracker": "t2", "nextPageExists": false}"#);
        assert_eq!(last.next_page(), NextPage::End);
    }

    #[test]
    fn the_items_field_is_named_or_the_only_list() {
        let page = info(r#"{"totalSize": 1, "users": [{"tags": []}], "meta": {"x": []}}"#);
        assert_eq!(page.list_fields, vec!["users".to_owned()]);
        assert_eq!(page.items_field(None).unwrap(), "users");
        assert!(page.items_field(Some("devices")).is_err());
        let two = info(r#"{"a": [], "b": []}"#);
        assert!(two
            .items_field(None)
            .unwrap_err()
            .to_string()
            .contains("items="));
        assert_eq!(two.items_field(Some("b")).unwrap(), "b");
    }

    #[test]
    fn a_non_object_page_is_a_protocol_error() {
        for body in ["[1]", "{", "{} x", "nope"] {
            assert!(PageInfo::read(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn pager_sends_tokens_back_and_refuses_a_repeated_one() {
        let mut pager = Pager::new(vec![("pageSize".into(), "2".into())]);
        assert_eq!(
            pager.next_query().unwrap(),
            vec![("pageSize".into(), "2".into())]
        );
        pager
            .advance(&info(r#"{"u": [], "nextPageToken": "p2"}"#))
            .unwrap();
        assert_eq!(
            pager.next_query().unwrap(),
            vec![
                ("pageSize".into(), "2".into()),
                ("pageToken".into(), "p2".into())
            ]
        );
        assert!(pager
            .advance(&info(r#"{"u": [], "nextPageToken": "p2"}"#))
            .is_err());
        pager.advance(&info(r#"{"u": []}"#)).unwrap();
        assert_eq!(pager.next_query(), None);
        assert_eq!(pager.pages(), 2);
    }
}
