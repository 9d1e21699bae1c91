//! Druva's paging, as one table of rules (DESIGN.md, Paging; sources in
//! docs/druva-api.md):
//!
//! | style | recognised by | first request | later requests | end |
//! | --- | --- | --- | --- | --- |
//! | page token, GET | `nextPageToken` | `params` | `pageToken` alone | cursor missing, `""`, `null` |
//! | page token, POST | `method="POST"` | body, `params` | the same, `"pageToken"` set in the body | as above |
//! | tracker | `tracker` + `nextPageExists` | `params` | `params` + `tracker` | `nextPageExists: false` |
//! | tracker token | `nextTrackerToken` | `params` | `params` + `trackerToken` | cursor missing, `""`, `null` |
//! | declared | `cursor_field=` given | `params` (body for POST) | `cursor_param` (in the body for POST), `params` when `keep_params` | cursor missing, `""`, `null` |
//!
//! For every style an empty page, or a cursor equal to the one just sent (a
//! stream that has caught up), also ends the list; none of these is an
//! error. A `null` list is an empty page. A page that carries a field that
//! looks like a cursor (`next…Token`, `…Cursor`, `tracker…`) which neither a
//! rule nor the declaration reads is an error naming it: a list whose cursor
//! is not followed would otherwise end, silently, after its first page.
//!
//! A page is read here for its paging fields and the shape of its list
//! fields, skipping the values; the caller decodes the items itself.

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::Deserializer;
use serde_json::error::Category;

use crate::errors::{Error, Result};
use crate::response::Response;

/// The paging facts of one page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageInfo {
    next_page_token: Option<String>,
    tracker: Option<String>,
    next_page_exists: Option<bool>,
    /// `nextTrackerToken`, and whether the page has the field at all (a
    /// `null` one too shows the tracker-token style).
    next_tracker_token: Option<String>,
    has_tracker_token: bool,
    /// The declared cursor field's value.
    declared_cursor: Option<String>,
    /// Top-level fields holding a JSON array (with its length) or `null`
    /// (`None`), in document order.
    fields: Vec<(String, Option<usize>)>,
    /// Fields that look like a cursor and hold one, which nothing reads.
    unread_cursors: Vec<String>,
}

impl PageInfo {
    /// Reads the paging fields of a JSON page without building its items.
    ///
    /// The whole body must be UTF-8, as the item decoder requires: skipping
    /// values would otherwise pass over a string that the decoder refuses,
    /// and the two readers of one page would disagree.
    pub fn read(body: &[u8]) -> Result<Self> {
        PageInfo::read_declared(body, None)
    }

    /// [`PageInfo::read`], reading also the declared cursor field.
    pub fn read_declared(body: &[u8], cursor_field: Option<&str>) -> Result<Self> {
        if let Err(error) = std::str::from_utf8(body) {
            return Err(Error::NotJson {
                message: format!(
                    "a page of the list is not UTF-8 (at byte {}); cannot page through it",
                    error.valid_up_to()
                ),
                body: body.to_vec(),
            });
        }
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        deserializer
            .deserialize_map(PageVisitor { cursor_field })
            .and_then(|info| deserializer.end().map(|()| info))
            .map_err(|error| {
                let message = format!(
                    "a page of the list is not a JSON object ({error}); cannot page through it"
                );
                match error.classify() {
                    // Not JSON at all: a JSONDecodeError, like json.loads's.
                    Category::Syntax | Category::Eof => Error::NotJson {
                        message,
                        body: body.to_vec(),
                    },
                    // JSON, but not a page.
                    Category::Data | Category::Io => Error::protocol(message),
                }
            })
    }

    /// The names of the page's list fields (arrays), in document order.
    pub fn list_fields(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(|(_, length)| length.is_some())
            .map(|(name, _)| name.as_str())
    }

    /// How many items the page holds in `field` (0 for `null`).
    fn item_count(&self, field: &str) -> usize {
        self.fields
            .iter()
            .find(|(name, _)| name == field)
            .and_then(|(_, length)| *length)
            .unwrap_or(0)
    }

    /// The cursor this page returned, read the way `style` says: its page
    /// token (or, lacking one, its tracker), tracker, tracker token, or
    /// declared field.
    fn cursor(&self, style: PageStyle) -> Option<&str> {
        match style {
            PageStyle::PageToken => non_empty(self.next_page_token.as_deref())
                .or_else(|| non_empty(self.tracker.as_deref())),
            PageStyle::Tracker => non_empty(self.tracker.as_deref()),
            PageStyle::TrackerToken => non_empty(self.next_tracker_token.as_deref()),
            PageStyle::Declared => non_empty(self.declared_cursor.as_deref()),
        }
    }

    fn is_tracker_style(&self) -> bool {
        self.next_page_exists.is_some() && self.tracker.is_some()
    }

    /// The style the page shows by its fields, if any (a declaration aside).
    fn shown_style(&self) -> Option<PageStyle> {
        if self.is_tracker_style() {
            Some(PageStyle::Tracker)
        } else if self.has_tracker_token {
            Some(PageStyle::TrackerToken)
        } else if self.next_page_token.is_some() || self.tracker.is_some() {
            Some(PageStyle::PageToken)
        } else {
            None
        }
    }

    /// An error naming a field that looks like a cursor and that no rule
    /// and no declaration reads, with how to declare it.
    fn check_cursors_read(&self) -> Result<()> {
        let Some(field) = self.unread_cursors.first() else {
            return Ok(());
        };
        Err(Error::protocol(format!(
            "the page carries {field:?}, which looks like a cursor to the next page, but no \
             paging rule reads it, so the list cannot be followed past this page; declare \
             how it pages: paginate(..., cursor_field={field:?}, cursor_param=\"<the query \
             parameter that takes it>\", keep_params=<whether the other params go with it>)"
        )))
    }

    /// The field that holds the items: `items` when the caller named it,
    /// else the page's only list field (or, with none, its only `null` one).
    pub fn items_field(&self, items: Option<&str>) -> Result<String> {
        if let Some(name) = items {
            if self.fields.iter().any(|(field, _)| field == name) {
                return Ok(name.to_owned());
            }
            let lists: Vec<&str> = self.list_fields().collect();
            return Err(Error::protocol(format!(
                "the page has no list field {name:?}; its list fields are {lists:?}"
            )));
        }
        let lists: Vec<&str> = self.list_fields().collect();
        let nulls: Vec<&str> = self
            .fields
            .iter()
            .filter(|(_, length)| length.is_none())
            .map(|(name, _)| name.as_str())
            .collect();
        match (lists.as_slice(), nulls.as_slice()) {
            ([only], _) | ([], [only]) => Ok((*only).to_owned()),
            ([], []) => Err(Error::protocol(
                "the page has no list field to page through; is this a list endpoint?",
            )),
            ([], several) | (several, _) => Err(Error::protocol(format!(
                "the page has several list fields {several:?}; pass items= to name the one to page through"
            ))),
        }
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.is_empty())
}

/// Whether a field's name looks like a cursor's: `next…Token`, `…Cursor`
/// or `tracker…`, in any case.
fn looks_like_cursor(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    (name.starts_with("next") && name.ends_with("token"))
        || name.ends_with("cursor")
        || name.starts_with("tracker")
}

struct PageVisitor<'a> {
    cursor_field: Option<&'a str>,
}

impl<'de> Visitor<'de> for PageVisitor<'_> {
    type Value = PageInfo;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PageInfo, A::Error> {
        let mut info = PageInfo::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if Some(key.as_ref()) == self.cursor_field {
                info.declared_cursor = map.next_value::<Option<String>>()?;
                continue;
            }
            match key.as_ref() {
                "nextPageToken" => info.next_page_token = map.next_value::<Option<String>>()?,
                "tracker" => info.tracker = map.next_value::<Option<String>>()?,
                "nextPageExists" => info.next_page_exists = map.next_value::<Option<bool>>()?,
                "nextTrackerToken" => {
                    info.next_tracker_token = map.next_value::<Option<String>>()?;
                    info.has_tracker_token = true;
                }
                _ => match map.next_value::<ValueShape>()? {
                    ValueShape::List(length) => info.fields.push((key.into_owned(), Some(length))),
                    ValueShape::Null => info.fields.push((key.into_owned(), None)),
                    ValueShape::Text { empty: false } if looks_like_cursor(&key) => {
                        info.unread_cursors.push(key.into_owned());
                    }
                    ValueShape::Text { .. } | ValueShape::Other => {}
                },
            }
        }
        Ok(info)
    }
}

/// What a skipped value was; its contents are never built.
enum ValueShape {
    List(usize),
    Null,
    Text { empty: bool },
    Other,
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
                let mut length = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    length += 1;
                }
                Ok(ValueShape::List(length))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueShape, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ValueShape::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<ValueShape, E> {
                Ok(ValueShape::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<ValueShape, E> {
                Ok(ValueShape::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<ValueShape, E> {
                Ok(ValueShape::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<ValueShape, E> {
                Ok(ValueShape::Other)
            }
            fn visit_str<E>(self, text: &str) -> Result<ValueShape, E> {
                Ok(ValueShape::Text {
                    empty: text.is_empty(),
                })
            }
            fn visit_unit<E>(self) -> Result<ValueShape, E> {
                Ok(ValueShape::Null)
            }
        }
        deserializer.deserialize_any(ShapeVisitor)
    }
}

/// How the pages of a list are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    /// The Reporting API: the same JSON body every page, `pageToken` set in it.
    Post,
}

impl Method {
    /// The method named `name` (any case): GET or POST.
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_uppercase().as_str() {
            "GET" => Ok(Method::Get),
            "POST" => Ok(Method::Post),
            _ => Err(Error::value(format!(
                "method={name:?}: lists page by GET or POST"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// How a list pages, as its pages show it; a saved cursor is sent back the
/// way its style says (DESIGN, Paging). `Paginator.style` and `druva
/// export`'s state name a style by [`PageStyle::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageStyle {
    /// `nextPageToken`, sent back as `pageToken` (alone on a GET, set in the
    /// body of a POST).
    PageToken,
    /// Events v2: `tracker` + `nextPageExists`, the tracker sent with `params`.
    Tracker,
    /// Cyber Resilience events: `nextTrackerToken`, sent back as
    /// `trackerToken` with `params`.
    TrackerToken,
    /// The caller's [`Declared`] cursor field and parameter.
    Declared,
}

impl PageStyle {
    pub const ALL: [PageStyle; 4] = [
        PageStyle::PageToken,
        PageStyle::Tracker,
        PageStyle::TrackerToken,
        PageStyle::Declared,
    ];

    /// The style's name in Python and in an export's state.
    pub fn name(self) -> &'static str {
        match self {
            PageStyle::PageToken => "page-token",
            PageStyle::Tracker => "tracker",
            PageStyle::TrackerToken => "tracker-token",
            PageStyle::Declared => "declared",
        }
    }

    /// The style named `name` (a saved `Paginator.style`).
    pub fn from_name(name: &str) -> Result<Self> {
        PageStyle::ALL
            .into_iter()
            .find(|style| style.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = PageStyle::ALL.iter().map(|style| style.name()).collect();
                Error::value(format!(
                    "style={name:?} is not a paging style; a saved Paginator.style is one of {names:?}"
                ))
            })
    }
}

/// A paging style the caller declares for a list the table does not know:
/// the page field that holds the cursor, the query parameter (or, for a
/// POST, body field) that sends it back, and whether `params` go with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    pub cursor_field: String,
    pub cursor_param: String,
    pub keep_params: bool,
}

impl Declared {
    /// The declaration `paginate`'s arguments make: none without
    /// `cursor_field` and `cursor_param`, a value error for one alone, an
    /// empty one, or `keep_params` without them.
    pub fn from_arguments(
        cursor_field: Option<String>,
        cursor_param: Option<String>,
        keep_params: Option<bool>,
    ) -> Result<Option<Declared>> {
        match (cursor_field, cursor_param) {
            (Some(field), Some(param)) if !field.is_empty() && !param.is_empty() => {
                Ok(Some(Declared {
                    cursor_field: field,
                    cursor_param: param,
                    keep_params: keep_params.unwrap_or(false),
                }))
            }
            (None, None) if keep_params.is_none() => Ok(None),
            (None, None) => Err(Error::value(
                "keep_params= belongs to a declared paging style: give cursor_field= and \
                 cursor_param= with it",
            )),
            _ => Err(Error::value(
                "cursor_field= and cursor_param= declare a paging style together: the page \
                 field that holds the cursor and the parameter that sends it back; give both \
                 (non-empty), or neither",
            )),
        }
    }
}

/// Where the walk goes next.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Next {
    /// The first page, from the caller's saved cursor (a page token) if any.
    First {
        cursor: Option<String>,
    },
    PageToken(String),
    Tracker(String),
    TrackerToken(String),
    Declared(String),
    /// The list ended; the cursor to poll from next time, if the server gave one.
    Ended {
        cursor: Option<String>,
    },
}

/// One page request of a walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub method: Method,
    pub query: Vec<(String, String)>,
    /// The JSON body (POST paging).
    pub body: Option<Vec<u8>>,
}

/// Where a walk through a list stands, and the one rule for moving on: a page
/// is fetched, its items are taken, and only then does the walk advance.
///
/// Fetching does not touch the walk (see [`ListWalk::next_request`]); the
/// caller decodes the fetched page's items and calls [`ListWalk::advance`]
/// after that succeeds. A page whose fetch or decode fails therefore leaves
/// the walk on that page, and asking again fetches it again: nothing is lost
/// or repeated. The sync and async Python iterators both drive this one
/// machine. It holds one cursor, never a history, so an endless list costs
/// no memory.
#[derive(Clone, Debug)]
pub struct ListWalk {
    method: Method,
    params: Vec<(String, String)>,
    /// The POST body, a JSON object.
    body: Option<serde_json::Map<String, serde_json::Value>>,
    /// The caller's `items=`, then the field the first page chose.
    items: Option<String>,
    next: Next,
    pages: u64,
    /// The style the last page showed (before the first: the caller's).
    style: Option<PageStyle>,
    declared: Option<Declared>,
}

/// A fetched page that the walk has not advanced past yet.
#[derive(Debug)]
pub struct FetchedPage {
    response: Response,
    info: PageInfo,
    field: String,
}

impl FetchedPage {
    /// The top-level field that holds this page's items (its value may be `null`).
    pub fn items_field(&self) -> &str {
        &self.field
    }

    /// The page's JSON body.
    pub fn body(&self) -> &[u8] {
        &self.response.content
    }
}

impl ListWalk {
    /// A walk over a list: its method, the caller's query parameters, the
    /// POST body (a JSON object's bytes), the items field, a saved cursor
    /// to resume from, sent the way its saved style says (a page token when
    /// none is given, the declared parameter when a style is declared), and
    /// the declared style, if any.
    pub fn new(
        method: Method,
        params: Vec<(String, String)>,
        body: Option<&[u8]>,
        items: Option<String>,
        cursor: Option<String>,
        style: Option<PageStyle>,
        declared: Option<Declared>,
    ) -> Result<Self> {
        let body =
            match (method, body) {
                (Method::Get, Some(_)) => {
                    return Err(Error::value(
                        "json= pages only with method=\"POST\"; a GET list takes params=",
                    ))
                }
                (Method::Get, None) => None,
                (Method::Post, None) => Some(serde_json::Map::new()),
                (Method::Post, Some(bytes)) => match serde_json::from_slice(bytes) {
                    Ok(serde_json::Value::Object(object)) => Some(object),
                    _ => return Err(Error::value(
                        "json= of a POST list must be a JSON object (e.g. {\"filters\": {...}})",
                    )),
                },
            };
        if cursor.as_deref() == Some("") {
            return Err(Error::value(
                "cursor= is empty; omit it to start the list from its first page",
            ));
        }
        let next = match (cursor, style, &declared) {
            (None, Some(_), _) => {
                return Err(Error::value(
                    "style= says how to send a saved cursor=: give both, or neither",
                ))
            }
            (Some(cursor), None | Some(PageStyle::Declared), Some(_)) => Next::Declared(cursor),
            (_, Some(PageStyle::Declared), None) => {
                return Err(Error::value(
                    "style=\"declared\" resumes a declared paging style: give its \
                     cursor_field= and cursor_param= again",
                ))
            }
            (_, Some(other), Some(_)) => {
                return Err(Error::value(format!(
                    "style={:?} contradicts cursor_field= and cursor_param=, which declare \
                     the style; drop one of them",
                    other.name()
                )))
            }
            (Some(tracker), Some(PageStyle::Tracker), None) => Next::Tracker(tracker),
            (Some(token), Some(PageStyle::TrackerToken), None) => Next::TrackerToken(token),
            (cursor, _, _) => Next::First { cursor },
        };
        let style = style.or(declared.as_ref().map(|_| PageStyle::Declared));
        Ok(ListWalk {
            method,
            params,
            body,
            items,
            next,
            pages: 0,
            style,
            declared,
        })
    }

    /// Pages taken so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The cursor of the next page the walk will take: the saved cursor (or
    /// `None`) before the first page, then the one each page returned; after
    /// the last page, the cursor to poll from next time (`None` when the
    /// server returned none).
    pub fn cursor(&self) -> Option<&str> {
        match &self.next {
            Next::First { cursor } | Next::Ended { cursor } => cursor.as_deref(),
            Next::PageToken(cursor)
            | Next::Tracker(cursor)
            | Next::TrackerToken(cursor)
            | Next::Declared(cursor) => Some(cursor),
        }
    }

    /// How the list pages, as its last page showed (before the first page:
    /// the style the walk was resumed with, if any). Saved with the cursor,
    /// it resumes the list: [`ListWalk::new`].
    pub fn style(&self) -> Option<PageStyle> {
        self.style
    }

    /// Whether the list has ended.
    pub fn is_finished(&self) -> bool {
        matches!(self.next, Next::Ended { .. })
    }

    /// The request of the page to fetch next, or `None` after the last page.
    pub fn next_request(&self) -> Option<PageRequest> {
        self.request_for(&self.next)
    }

    /// The request of the page after `page`: what [`ListWalk::next_request`]
    /// answers once the walk has advanced past it. Known as soon as `page`
    /// has arrived, so the page after it can be fetched while the caller
    /// still takes this one's items.
    pub fn request_after(&self, page: &FetchedPage) -> Option<PageRequest> {
        let (_, next) = self.moved_past(&page.info, &page.field);
        self.request_for(&next)
    }

    /// The request that fetches `next`, or `None` after the last page.
    fn request_for(&self, next: &Next) -> Option<PageRequest> {
        let page_token = match next {
            Next::Ended { .. } => return None,
            Next::First { cursor } => cursor.as_deref(),
            Next::PageToken(token) => Some(token.as_str()),
            Next::Tracker(tracker) => {
                return Some(self.request(self.params_with("tracker", tracker), None));
            }
            Next::TrackerToken(token) => {
                return Some(self.request(self.params_with("trackerToken", token), None));
            }
            Next::Declared(cursor) => return self.declared_request(cursor),
        };
        if self.method == Method::Post {
            return Some(self.request(self.params.clone(), page_token));
        }
        let query = match page_token {
            // Druva's rule: a page token goes alone.
            Some(token) => vec![("pageToken".to_owned(), token.to_owned())],
            None => self.params.clone(),
        };
        Some(self.request(query, None))
    }

    /// `params` with `name` set to `cursor` (in place of the caller's own).
    fn params_with(&self, name: &str, cursor: &str) -> Vec<(String, String)> {
        let mut query: Vec<(String, String)> = self
            .params
            .iter()
            .filter(|(key, _)| key != name)
            .cloned()
            .collect();
        query.push((name.to_owned(), cursor.to_owned()));
        query
    }

    /// A later page of a declared style: the cursor in its parameter (in
    /// the body for a POST), `params` beside it when `keep_params`.
    fn declared_request(&self, cursor: &str) -> Option<PageRequest> {
        let declared = self.declared.as_ref()?;
        let param = declared.cursor_param.as_str();
        let query = match (self.method, declared.keep_params) {
            (Method::Get, true) => self.params_with(param, cursor),
            (Method::Get, false) => vec![(param.to_owned(), cursor.to_owned())],
            (Method::Post, true) => self.params.clone(),
            (Method::Post, false) => Vec::new(),
        };
        let in_body = (self.method == Method::Post).then_some((param, cursor));
        Some(self.request_with(query, in_body))
    }

    fn request(&self, query: Vec<(String, String)>, page_token: Option<&str>) -> PageRequest {
        self.request_with(query, page_token.map(|token| ("pageToken", token)))
    }

    /// A request with `query`, and the POST body with `cursor` (a field
    /// and its value) set in it.
    fn request_with(
        &self,
        query: Vec<(String, String)>,
        cursor: Option<(&str, &str)>,
    ) -> PageRequest {
        let body = self.body.as_ref().map(|body| {
            let mut body = body.clone();
            if let Some((field, value)) = cursor {
                body.insert(field.to_owned(), value.into());
            }
            serde_json::Value::Object(body).to_string().into_bytes()
        });
        PageRequest {
            method: self.method,
            query,
            body,
        }
    }

    /// The cursor this walk just sent, if any.
    fn sent_cursor(&self) -> Option<&str> {
        match &self.next {
            Next::First { cursor } => cursor.as_deref(),
            Next::PageToken(cursor)
            | Next::Tracker(cursor)
            | Next::TrackerToken(cursor)
            | Next::Declared(cursor) => Some(cursor),
            Next::Ended { .. } => None,
        }
    }

    /// Reads a fetched page's paging fields and names its items field,
    /// without moving the walk. An error status is an error here, since a
    /// page of a list cannot be skipped.
    pub fn read(&self, response: Response) -> Result<FetchedPage> {
        if !response.is_success() {
            return Err(Error::from_status(response));
        }
        let cursor_field = self.declared.as_ref().map(|d| d.cursor_field.as_str());
        let info = PageInfo::read_declared(&response.content, cursor_field)?;
        info.check_cursors_read()?;
        let field = info.items_field(self.items.as_deref())?;
        Ok(FetchedPage {
            response,
            info,
            field,
        })
    }

    /// Moves past a page whose items the caller has taken. The first page
    /// fixes the items field for every later one.
    pub fn advance(&mut self, page: FetchedPage) {
        let (style, next) = self.moved_past(&page.info, &page.field);
        self.style = Some(style);
        self.next = next;
        self.items.get_or_insert(page.field);
        self.pages += 1;
    }

    /// Where moving past a page with `info`, its items in `field`, takes
    /// the walk: the style the page shows, and the next page or the end.
    fn moved_past(&self, info: &PageInfo, field: &str) -> (PageStyle, Next) {
        let style = if self.declared.is_some() {
            PageStyle::Declared
        } else {
            info.shown_style()
                .or(self.style)
                .unwrap_or(PageStyle::PageToken)
        };
        let returned = info.cursor(style).map(str::to_owned);
        let caught_up = returned.is_some() && returned.as_deref() == self.sent_cursor();
        let empty = info.item_count(field) == 0;
        let more = match style {
            PageStyle::Tracker => info.next_page_exists == Some(true),
            PageStyle::PageToken | PageStyle::TrackerToken | PageStyle::Declared => true,
        };
        let next = match returned {
            None => Next::Ended { cursor: None },
            Some(cursor) if caught_up || empty || !more => Next::Ended {
                cursor: Some(cursor),
            },
            Some(cursor) => match style {
                PageStyle::PageToken => Next::PageToken(cursor),
                PageStyle::Tracker => Next::Tracker(cursor),
                PageStyle::TrackerToken => Next::TrackerToken(cursor),
                PageStyle::Declared => Next::Declared(cursor),
            },
        };
        (style, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(status_code: u16, body: &str) -> Response {
        let url = "https://apis.druva.com/insync/usermanagement/v1/users";
        Response::answering(status_code, url, body)
    }

    fn info(body: &str) -> PageInfo {
        PageInfo::read(body.as_bytes()).unwrap()
    }

    /// A GET walk over `params`, resumed from `cursor` (saved in `style`)
    /// when given.
    fn walk_from(
        params: &[(&str, &str)],
        cursor: Option<&str>,
        style: Option<PageStyle>,
        declared: Option<Declared>,
    ) -> Result<ListWalk> {
        let cursor = cursor.map(str::to_owned);
        ListWalk::new(
            Method::Get,
            pairs(params),
            None,
            None,
            cursor,
            style,
            declared,
        )
    }

    /// A new GET walk over `params`, whose first request sends them as given.
    fn get_walk(params: &[(&str, &str)]) -> ListWalk {
        let walk = walk_from(params, None, None, None).unwrap();
        assert_eq!(query(&walk), pairs(params));
        walk
    }

    /// Takes one page (as the binding does after decoding its items).
    fn take(walk: &mut ListWalk, body: &str) {
        let fetched = walk.read(page(200, body)).unwrap();
        walk.advance(fetched);
    }

    /// Takes a page that ends the list and returns the cursor the walk keeps.
    fn take_last<'w>(walk: &'w mut ListWalk, body: &str) -> Option<&'w str> {
        take(walk, body);
        assert!(walk.is_finished(), "{body}");
        walk.cursor()
    }

    /// A page of the Events v2 style: its events, tracker and whether more follow.
    fn tracker_page(events: &str, tracker: &str, more: bool) -> String {
        format!(r#"{{"events": {events}, "tracker": "{tracker}", "nextPageExists": {more}}}"#)
    }

    fn query(walk: &ListWalk) -> Vec<(String, String)> {
        walk.next_request().unwrap().query
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_walk_tells_the_style_its_pages_showed() {
        let mut walk = get_walk(&[]);
        assert_eq!(walk.style(), None);
        take(&mut walk, &tracker_page("[1]", "t1", true));
        assert_eq!(walk.style(), Some(PageStyle::Tracker));
        let mut walk = get_walk(&[]);
        take(&mut walk, r#"{"users": [1], "nextPageToken": "p2"}"#);
        assert_eq!(walk.style(), Some(PageStyle::PageToken));
    }

    #[test]
    fn a_page_token_goes_alone_on_later_pages() {
        let mut walk = get_walk(&[("pageSize", "2"), ("emailID", "a@b.c")]);
        take(&mut walk, r#"{"users": [1, 2], "nextPageToken": "p2"}"#);
        assert_eq!(query(&walk), pairs(&[("pageToken", "p2")]));
        assert_eq!(walk.cursor(), Some("p2"));
    }

    #[test]
    fn every_form_of_a_missing_cursor_ends_the_list_with_no_cursor() {
        for last in [
            r#"{"users": [1]}"#,
            r#"{"users": [1], "nextPageToken": ""}"#,
            r#"{"users": [1], "nextPageToken": null}"#,
        ] {
            let mut walk = get_walk(&[]);
            assert_eq!(take_last(&mut walk, last), None, "{last}");
            assert_eq!(walk.next_request(), None);
        }
    }

    #[test]
    fn an_empty_page_or_a_repeated_cursor_ends_the_list_keeping_the_cursor() {
        let mut walk = get_walk(&[]);
        take(&mut walk, r#"{"events": [1], "nextPageToken": "t1"}"#);
        assert_eq!(
            take_last(&mut walk, r#"{"events": [], "nextPageToken": "t2"}"#),
            Some("t2")
        );

        let mut walk = get_walk(&[]);
        take(&mut walk, r#"{"events": [1], "nextPageToken": "t1"}"#);
        assert_eq!(
            take_last(&mut walk, r#"{"events": [2], "nextPageToken": "t1"}"#),
            Some("t1")
        );
        assert_eq!(walk.pages(), 2);
    }

    #[test]
    fn a_stream_resumes_from_a_saved_cursor_sent_alone() {
        let mut walk = walk_from(&[("pageSize", "500")], Some("saved"), None, None).unwrap();
        assert_eq!(walk.cursor(), Some("saved"));
        assert_eq!(query(&walk), pairs(&[("pageToken", "saved")]));
        // Caught up: the server hands back the cursor it was sent.
        assert_eq!(
            take_last(&mut walk, r#"{"events": [], "nextPageToken": "saved"}"#),
            Some("saved")
        );
    }

    #[test]
    fn post_paging_sets_the_page_token_in_the_same_body() {
        let body = br#"{"filters": {"pageSize": 2}}"#;
        let mut walk = ListWalk::new(
            Method::Post,
            pairs(&[("x", "1")]),
            Some(body),
            None,
            None,
            None,
            None,
        )
        .unwrap();
        let first = walk.next_request().unwrap();
        assert_eq!(first.method, Method::Post);
        assert_eq!(first.query, pairs(&[("x", "1")]));
        assert_eq!(
            first.body.unwrap(),
            br#"{"filters":{"pageSize":2}}"#.to_vec()
        );
        take(&mut walk, r#"{"data": [1, 2], "nextPageToken": "n2"}"#);
        let second = walk.next_request().unwrap();
        assert_eq!(second.query, pairs(&[("x", "1")]));
        let sent: serde_json::Value = serde_json::from_slice(&second.body.unwrap()).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"filters": {"pageSize": 2}, "pageToken": "n2"})
        );
        assert_eq!(
            take_last(&mut walk, r#"{"data": [3], "nextPageToken": ""}"#),
            None
        );
    }

    #[test]
    fn a_post_body_must_be_an_object_and_a_get_takes_none() {
        assert!(ListWalk::new(Method::Post, vec![], Some(b"[1]"), None, None, None, None).is_err());
        assert!(ListWalk::new(Method::Get, vec![], Some(b"{}"), None, None, None, None).is_err());
        assert!(walk_from(&[], Some(""), None, None).is_err());
    }

    #[test]
    fn events_v2_resend_the_params_with_the_tracker() {
        let mut walk = get_walk(&[("format", "CEF"), ("tracker", "saved")]);
        take(&mut walk, &tracker_page("[1]", "t1", true));
        assert_eq!(query(&walk), pairs(&[("format", "CEF"), ("tracker", "t1")]));
        assert_eq!(
            take_last(&mut walk, &tracker_page("[2]", "t2", false)),
            Some("t2")
        );
    }

    #[test]
    fn a_saved_tracker_resumes_with_the_params_and_ends_where_the_stream_caught_up() {
        let params = [("format", "CEF"), ("tracker", "stale")];
        let mut walk = walk_from(&params, Some("saved"), Some(PageStyle::Tracker), None).unwrap();
        assert_eq!(
            (walk.cursor(), walk.style()),
            (Some("saved"), Some(PageStyle::Tracker))
        );
        assert_eq!(
            query(&walk),
            pairs(&[("format", "CEF"), ("tracker", "saved")])
        );
        assert_eq!(
            take_last(&mut walk, &tracker_page("[]", "saved", false)),
            Some("saved")
        );
    }

    #[test]
    fn a_style_needs_a_cursor_and_a_known_name() {
        assert!(walk_from(&[], None, Some(PageStyle::Tracker), None).is_err());
        for style in PageStyle::ALL {
            assert_eq!(PageStyle::from_name(style.name()).unwrap(), style);
        }
        let error = PageStyle::from_name("pages").unwrap_err().to_string();
        assert!(
            error.contains("page-token") && error.contains("tracker"),
            "{error}"
        );
        assert_eq!(Method::from_name("post").unwrap(), Method::Post);
        assert!(Method::from_name("PUT").is_err());
    }

    #[allow(clippy::unnecessary_wraps)] // the form ListWalk::new takes
    fn declared(field: &str, param: &str, keep_params: bool) -> Option<Declared> {
        Some(Declared {
            cursor_field: field.into(),
            cursor_param: param.into(),
            keep_params,
        })
    }

    #[test]
    fn cyber_resilience_events_send_the_tracker_token_with_the_params() {
        let mut walk = get_walk(&[("since", "1")]);
        take(&mut walk, r#"{"events": [1], "nextTrackerToken": "t1"}"#);
        assert_eq!(walk.style(), Some(PageStyle::TrackerToken));
        assert_eq!(
            query(&walk),
            pairs(&[("since", "1"), ("trackerToken", "t1")])
        );
        assert_eq!(
            take_last(&mut walk, r#"{"events": [], "nextTrackerToken": "t1"}"#),
            Some("t1")
        );
        let style = Some(PageStyle::TrackerToken);
        let resumed = walk_from(&[("since", "1")], Some("t1"), style, None).unwrap();
        assert_eq!(
            query(&resumed),
            pairs(&[("since", "1"), ("trackerToken", "t1")])
        );
        let mut ending = get_walk(&[]);
        assert_eq!(
            take_last(&mut ending, r#"{"events": [1], "nextTrackerToken": null}"#),
            None
        );
        assert_eq!(ending.style(), Some(PageStyle::TrackerToken));
    }

    #[test]
    fn a_declared_style_follows_its_field_with_or_without_the_params() {
        for (keep, second) in [
            (false, pairs(&[("cursor", "c1")])),
            (true, pairs(&[("a", "1"), ("cursor", "c1")])),
        ] {
            let declared = declared("nextCursor", "cursor", keep);
            let mut walk = walk_from(&[("a", "1")], None, None, declared).unwrap();
            assert_eq!(walk.style(), Some(PageStyle::Declared));
            assert_eq!(query(&walk), pairs(&[("a", "1")]));
            take(&mut walk, r#"{"items": [1], "nextCursor": "c1"}"#);
            assert_eq!(query(&walk), second);
            assert_eq!(
                take_last(&mut walk, r#"{"items": [2], "nextCursor": ""}"#),
                None,
                "keep_params={keep}"
            );
        }
        let declaration = declared("nextCursor", "cursor", false);
        let style = Some(PageStyle::Declared);
        let resumed = walk_from(&[("a", "1")], Some("saved"), style, declaration).unwrap();
        assert_eq!(query(&resumed), pairs(&[("cursor", "saved")]));
    }

    #[test]
    fn a_declared_post_sets_its_cursor_in_the_body() {
        let mut walk = ListWalk::new(
            Method::Post,
            vec![],
            Some(br#"{"filters": {}}"#),
            None,
            None,
            None,
            declared("next", "after", false),
        )
        .unwrap();
        take(&mut walk, r#"{"rows": [1], "next": "n2"}"#);
        let sent: serde_json::Value =
            serde_json::from_slice(&walk.next_request().unwrap().body.unwrap()).unwrap();
        assert_eq!(sent, serde_json::json!({"filters": {}, "after": "n2"}));
    }

    #[test]
    fn a_declaration_comes_whole_and_agrees_with_the_saved_style() {
        let some = |text: &str| Some(text.to_owned());
        assert!(Declared::from_arguments(some("f"), None, None).is_err());
        assert!(Declared::from_arguments(None, some("p"), None).is_err());
        assert!(Declared::from_arguments(some(""), some("p"), None).is_err());
        assert!(Declared::from_arguments(None, None, Some(true)).is_err());
        assert_eq!(Declared::from_arguments(None, None, None).unwrap(), None);
        assert_eq!(
            Declared::from_arguments(some("f"), some("p"), None).unwrap(),
            declared("f", "p", false)
        );
        let resume = |style, declaration| walk_from(&[], Some("c"), Some(style), declaration);
        assert!(resume(PageStyle::Declared, None).is_err());
        assert!(resume(PageStyle::Tracker, declared("f", "p", false)).is_err());
        assert!(resume(PageStyle::Declared, declared("f", "p", false)).is_ok());
    }

    #[test]
    fn a_cursor_that_nothing_reads_is_an_error_naming_it_and_how_to_declare_it() {
        for (field, body) in [
            ("nextCursor", r#"{"items": [1], "nextCursor": "c1"}"#),
            ("NEXTLINKTOKEN", r#"{"items": [1], "NEXTLINKTOKEN": "c1"}"#),
            ("trackerID", r#"{"items": [1], "trackerID": "t"}"#),
        ] {
            let walk = get_walk(&[]);
            let error = walk.read(page(200, body)).unwrap_err().to_string();
            assert!(error.contains(&format!("{field:?}")), "{error}");
            assert!(
                error.contains("cursor_field=") && error.contains("cursor_param="),
                "{error}"
            );
            assert_eq!(walk.pages(), 0);
        }
        // Not a cursor: empty, null, or not cursor-shaped names.
        for body in [
            r#"{"items": [1], "nextCursor": ""}"#,
            r#"{"items": [1], "nextCursor": null}"#,
            r#"{"items": [1], "cursorPosition": "x", "tokenType": "y"}"#,
        ] {
            assert!(get_walk(&[]).read(page(200, body)).is_ok(), "{body}");
        }
        let declared_walk =
            walk_from(&[], None, None, declared("nextCursor", "cursor", false)).unwrap();
        assert!(declared_walk
            .read(page(200, r#"{"items": [1], "nextCursor": "c1"}"#))
            .is_ok());
    }

    #[test]
    fn a_null_list_is_an_empty_page() {
        let mut walk = get_walk(&[]);
        let fetched = walk
            .read(page(200, r#"{"reports": null, "nextPageToken": "x"}"#))
            .unwrap();
        assert_eq!(fetched.items_field(), "reports");
        walk.advance(fetched);
        assert!(walk.is_finished());
    }

    #[test]
    fn a_walk_moves_only_when_a_page_is_taken() {
        let mut walk = get_walk(&[("pageSize", "2")]);
        let first = walk
            .read(page(200, r#"{"users": [1, 2], "nextPageToken": "p2"}"#))
            .unwrap();
        assert_eq!(first.items_field(), "users");
        // Not advanced: a failed decode of this page fetches it again.
        assert_eq!(walk.pages(), 0);
        assert_eq!(query(&walk), pairs(&[("pageSize", "2")]));
        walk.advance(first);
        assert_eq!(walk.pages(), 1);
        // The first page fixed the field: a later page with two lists is fine.
        let second = walk
            .read(page(200, r#"{"users": [3], "other": []}"#))
            .unwrap();
        assert_eq!(second.items_field(), "users");
        assert!(walk.read(page(503, "{}")).is_err());
        walk.advance(second);
        assert_eq!(walk.next_request(), None);
    }

    #[test]
    fn the_items_field_is_named_or_the_only_list() {
        let page = info(r#"{"totalSize": 1, "users": [{"tags": []}], "meta": {"x": []}}"#);
        assert_eq!(page.list_fields().collect::<Vec<_>>(), vec!["users"]);
        assert_eq!(page.items_field(None).unwrap(), "users");
        assert!(page.items_field(Some("devices")).is_err());
        let two = info(r#"{"a": [], "b": []}"#);
        assert!(two
            .items_field(None)
            .unwrap_err()
            .to_string()
            .contains("items="));
        assert_eq!(two.items_field(Some("b")).unwrap(), "b");
        let list_and_null = info(r#"{"users": [1], "note": null}"#);
        assert_eq!(list_and_null.items_field(None).unwrap(), "users");
    }

    #[test]
    fn a_non_object_page_is_a_protocol_error() {
        for body in ["[1]", "{", "{} x", "nope"] {
            assert!(PageInfo::read(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn a_page_with_a_string_that_is_not_utf8_is_refused_like_the_decoder_does() {
        let body = b"{\"users\": [{\"name\": \"\xff\"}], \"nextPageToken\": \"p2\"}";
        let error = PageInfo::read(body).unwrap_err();
        assert!(error.to_string().contains("not UTF-8"), "{error}");
    }
}
