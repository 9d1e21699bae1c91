//! The event streams over a tenant's event log, which only grows.
//!
//! inSync events v2 (`/insync/eventmanagement/v2/events`): at most 500 a
//! call, `tracker` + `nextPageExists`; the tracker of the last page points at
//! the end, so a later call with it returns only the events added since. In
//! `format=CEF` or `format=Syslog` each event is one string in that format
//! (Druva's SIEM script writes each item of `events` out as a line), and a
//! tracker is refused with any other format than its own.
//!
//! Platform events v3 (`/platform/eventmanagement/v3/events`): `pageSize` up
//! to 500, filters or a lone `pageToken`, and a `nextPageToken` on every
//! page, so a stream never ends: a caught-up one answers an empty page with
//! a token (the same, or a new one, see [`CaughtUp`]).
//!
//! Platform events v2 (`/platform/eventmanagement/v2/events`, `source=Platform`)
//! pages with `nextPageToken` → `pageToken` as v3 does, but a page token may
//! come with `source` and `ignoreTrackerExpiry` (Druva's Sentinel connector
//! sends all three); its tokens, like inSync v2's trackers, expire after
//! `tracker_ttl` (403) unless the request says `ignoreTrackerExpiry=true`,
//! or the stream's first request did.
//!
//! Cyber Resilience events (`/realize/eventmanagement/v1/events/tracker`):
//! `events` and a `nextTrackerToken` on every page, sent back as
//! `trackerToken`; a caught-up stream answers an empty page with the token
//! it was sent.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use serde::Serialize;
use serde_json::json;

use super::config::CaughtUp;
use super::data::{Event, Timestamp, ENDPOINTS_PRODUCT_ID};
use super::handler::{self, Answer, CallerTenant, SharedState};
use super::paging::{self, InvalidParameter, Page, IGNORE_TRACKER_EXPIRY};
use super::state::Shared;

pub(crate) const EVENTS_V2: &str = "/insync/eventmanagement/v2/events";
pub(crate) const EVENTS_V3: &str = "/platform/eventmanagement/v3/events";
pub(crate) const PLATFORM_EVENTS_V2: &str = "/platform/eventmanagement/v2/events";
pub(crate) const CYBER_RESILIENCE_EVENTS: &str = "/realize/eventmanagement/v1/events/tracker";

/// The only `source` of Platform events v2 the fake serves.
const PLATFORM_SOURCE: &str = "Platform";

/// Druva's limit of events a v2 call, and the most `pageSize` of v3.
pub(crate) const MAX_EVENTS_A_CALL: usize = 500;

/// The form of the events of a v2 page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Cef,
    Syslog,
}

impl Format {
    fn parse(value: Option<&str>) -> Result<Self, InvalidParameter> {
        match value {
            None => Ok(Format::Json),
            Some("CEF") => Ok(Format::Cef),
            Some("Syslog") => Ok(Format::Syslog),
            Some(other) => Err(InvalidParameter::new(format!(
                "Invalid format {other:?}: it must be CEF or Syslog, or left out for JSON"
            ))),
        }
    }

    /// The name a tracker carries.
    fn name(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Cef => "CEF",
            Format::Syslog => "Syslog",
        }
    }
}

pub(crate) async fn list_events_v2(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    let params = handler::query_params(query.as_deref());
    paging::check_known(&params, &["tracker", "format", IGNORE_TRACKER_EXPIRY])?;
    let format = Format::parse(params.get("format").map(String::as_str))?;
    let ignore_expiry = paging::ignore_tracker_expiry(&params)?;
    let data = tenant.data();
    let total = data.events.len();
    let tracker = params.get("tracker").map(String::as_str);
    let (offset, issued_ms) = paging::tracker_offset(tracker, format.name(), total)?;
    if let Some(refused) = handler::refuse_expired_tracker(&shared, issued_ms, ignore_expiry) {
        return Ok(refused);
    }
    let page = Page::new_at(offset, MAX_EVENTS_A_CALL, total);
    let tracker = paging::encode_tracker(page.end, shared.clock_ms(), format.name());
    let exists = !page.is_last();
    let records = page.records(&data.events);
    let lines: Vec<String> = match format {
        Format::Json => {
            return Ok(handler::ok_serialized(&paging::tracker_page_body(
                "events", records, tracker, exists,
            )))
        }
        Format::Cef => records.iter().map(cef).collect(),
        Format::Syslog => records.iter().map(syslog).collect(),
    };
    Ok(handler::ok_serialized(&paging::tracker_page_body(
        "events", &lines, tracker, exists,
    )))
}

/// An event as an `ArcSight` CEF line:
/// `CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension`.
fn cef(event: &Event) -> String {
    let header = [
        "Druva",
        "inSync",
        event.client_version,
        event.kind,
        event.state,
    ]
    .map(cef_header);
    let mut line = format!("CEF:0|{}|{}|", header.join("|"), event.severity);
    let extension = [
        ("rt", event.timestamp.0.saturating_mul(1000).to_string()),
        ("externalId", event.id.to_string()),
        ("suid", event.user_id.to_string()),
        ("suser", event.user_name.clone()),
        ("duser", event.user_email.clone()),
        ("src", event.ip.clone()),
        ("cn1Label", "inSyncDataSourceID".to_owned()),
        ("cn1", event.device_id.to_string()),
        ("cs1Label", "inSyncDataSourceName".to_owned()),
        ("cs1", event.device_name.clone()),
        ("cs2Label", "profileName".to_owned()),
        ("cs2", event.profile_name.to_owned()),
        ("msg", event.details.clone()),
    ];
    let pairs: Vec<String> = extension
        .iter()
        .map(|(key, value)| format!("{key}={}", cef_value(value)))
        .collect();
    line.push_str(&pairs.join(" "));
    line
}

fn cef_header(text: &str) -> String {
    text.replace('\\', "\\\\").replace('|', "\\|")
}

fn cef_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\n', "\\n")
}

/// An event as an RFC 5424 syslog line, its priority from `facility` and
/// `severity`.
fn syslog(event: &Event) -> String {
    let priority = u32::from(event.facility) * 8 + u32::from(event.severity);
    let mut line = format!(
        "<{priority}>1 {} druva-insync inSync - {} -",
        super::data::iso8601(event.timestamp.0),
        event.kind.replace(' ', "_"),
    );
    let fields = [
        ("eventID", event.id.to_string()),
        ("eventState", event.state.to_owned()),
        ("inSyncUserID", event.user_id.to_string()),
        ("inSyncUserEmail", event.user_email.clone()),
        ("inSyncDataSourceID", event.device_id.to_string()),
        ("inSyncDataSourceName", event.device_name.clone()),
        ("ip", event.ip.clone()),
        ("eventDetails", event.details.clone()),
    ];
    for (key, value) in fields {
        let _ = write!(line, " {key}=\"{}\"", value.replace('"', "'"));
    }
    line
}

/// An inSync event as Platform events v3 deliver it.
#[derive(Debug, Serialize)]
struct PlatformEvent<'a> {
    category: &'static str,
    details: serde_json::Value,
    feature: &'static str,
    #[serde(rename = "globalID")]
    global_id: &'a str,
    #[serde(rename = "timeStamp")]
    time_stamp: u64,
    #[serde(rename = "productID")]
    product_id: u64,
    #[serde(rename = "syslogFacility")]
    syslog_facility: u8,
    #[serde(rename = "syslogSeverity")]
    syslog_severity: u8,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl<'a> PlatformEvent<'a> {
    fn of(event: &Event, global_id: &'a str) -> Self {
        PlatformEvent {
            category: "EVENT",
            details: json!({
                "eventID": event.id,
                "eventState": event.state,
                "inSyncUserID": event.user_id,
                "inSyncUserEmail": event.user_email,
                "inSyncDataSourceID": event.device_id,
                "inSyncDataSourceName": event.device_name,
                "ip": event.ip,
                "eventDetails": event.details,
            }),
            feature: if event.kind == "Login" {
                "User And Device"
            } else {
                "Backup And Restore"
            },
            global_id,
            time_stamp: event.timestamp.0,
            product_id: ENDPOINTS_PRODUCT_ID,
            syslog_facility: event.facility,
            syslog_severity: event.severity,
            kind: event.kind,
        }
    }
}

/// The filters of events v3, and its page size.
#[derive(Debug)]
struct PlatformQuery {
    page_size: usize,
    product_id: Option<u64>,
    category: Option<String>,
    kind: Option<String>,
    feature: Option<String>,
    severity: Option<u8>,
}

impl PlatformQuery {
    fn parse(params: &HashMap<String, String>) -> Result<Self, InvalidParameter> {
        paging::check_known(
            params,
            &[
                "pageSize",
                "productID",
                "category",
                "type",
                "feature",
                "syslogSeverity",
            ],
        )?;
        let page_size = paging::bounded_page_size(params, MAX_EVENTS_A_CALL, MAX_EVENTS_A_CALL)?;
        let number = |name: &str| -> Result<Option<u64>, InvalidParameter> {
            params
                .get(name)
                .map(|text| {
                    text.parse().map_err(|_| {
                        InvalidParameter::new(format!("Invalid {name}: it must be a whole number"))
                    })
                })
                .transpose()
        };
        let severity = number("syslogSeverity")?
            .map(|value| u8::try_from(value).ok().filter(|value| *value <= 7))
            .map(|value| {
                value.ok_or_else(|| {
                    InvalidParameter::new("Invalid syslogSeverity: it must be from 0 to 7")
                })
            })
            .transpose()?;
        Ok(PlatformQuery {
            page_size,
            product_id: number("productID")?,
            category: params.get("category").cloned(),
            kind: params.get("type").cloned(),
            feature: params.get("feature").cloned(),
            severity,
        })
    }

    fn matches(&self, event: &PlatformEvent<'_>) -> bool {
        self.product_id.is_none_or(|id| event.product_id == id)
            && self.category.as_ref().is_none_or(|c| event.category == c)
            && self.kind.as_ref().is_none_or(|kind| event.kind == kind)
            && self.feature.as_ref().is_none_or(|f| event.feature == f)
            && self.severity.is_none_or(|s| event.syslog_severity == s)
    }
}

pub(crate) async fn list_events_v3(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    let query = handler::list_query(query.as_deref())?;
    let filter = PlatformQuery::parse(&query.params)?;
    let data = tenant.data();
    if query.offset > data.events.len() {
        return Err(InvalidParameter::new("Invalid pageToken"));
    }
    let mut records = Vec::new();
    let mut next = query.offset;
    for (index, event) in data.events.iter().enumerate().skip(query.offset) {
        if records.len() == filter.page_size {
            break;
        }
        next = index + 1;
        let event = PlatformEvent::of(event, &tenant.id);
        if filter.matches(&event) {
            records.push(event);
        }
    }
    let poll = (records.is_empty() && shared.caught_up() == CaughtUp::NewToken)
        .then(|| shared.next_poll());
    let token = paging::encode_stream_token(&query.params, next, poll);
    Ok(handler::ok_serialized(&paging::stream_page_body(
        "events", &records, token,
    )))
}

/// How many events a page of the streams without a `pageSize` holds: the
/// server's page size, at most Druva's 500.
fn stream_page_size(shared: &Shared) -> usize {
    shared.page_size.min(MAX_EVENTS_A_CALL)
}

pub(crate) async fn list_platform_events_v2(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    let mut params = handler::query_params(query.as_deref());
    paging::check_known(&params, &["source", IGNORE_TRACKER_EXPIRY, "pageToken"])?;
    let ignore_expiry = paging::ignore_tracker_expiry(&params)?;
    let source = params.remove("source");
    if source
        .as_deref()
        .is_some_and(|source| source != PLATFORM_SOURCE)
    {
        return Err(InvalidParameter::new(format!(
            "Invalid source: this API serves source={PLATFORM_SOURCE}"
        )));
    }
    let ignore_param = params.remove(IGNORE_TRACKER_EXPIRY);
    let has_token = params
        .get("pageToken")
        .is_some_and(|token| !token.is_empty());
    let mut query = paging::list_query(params)?;
    if has_token {
        if query.issued_ms.is_none() {
            return Err(InvalidParameter::new("Invalid pageToken"));
        }
    } else {
        // What the first request asked carries on in its tokens.
        query.params.insert("source".into(), PLATFORM_SOURCE.into());
        if let Some(ignore) = ignore_param {
            query.params.insert(IGNORE_TRACKER_EXPIRY.into(), ignore);
        }
    }
    let ignore_expiry = ignore_expiry || paging::ignore_tracker_expiry(&query.params)?;
    if let Some(refused) = handler::refuse_expired_tracker(&shared, query.issued_ms, ignore_expiry)
    {
        return Ok(refused);
    }
    let data = tenant.data();
    let total = data.events.len();
    if query.offset > total {
        return Err(InvalidParameter::new("Invalid pageToken"));
    }
    let page = Page::new_at(query.offset, stream_page_size(&shared), total);
    let records: Vec<PlatformEvent<'_>> = page
        .records(&data.events)
        .iter()
        .map(|event| PlatformEvent::of(event, &tenant.id))
        .collect();
    let token = paging::encode_expiring_token(&query.params, page.end, shared.clock_ms());
    Ok(handler::ok_serialized(&paging::stream_page_body(
        "events", &records, token,
    )))
}

/// An event as the Cyber Resilience (Realize) stream delivers it. Its
/// fields are the fake's own: Druva publishes no schema for this stream.
#[derive(Debug, Serialize)]
struct SecurityEvent<'a> {
    #[serde(rename = "eventID")]
    id: u64,
    #[serde(rename = "eventType")]
    kind: &'static str,
    #[serde(rename = "eventTime")]
    time: Timestamp,
    severity: u8,
    #[serde(rename = "globalID")]
    global_id: &'a str,
    #[serde(rename = "userEmail")]
    user_email: &'a str,
    #[serde(rename = "resourceName")]
    resource_name: &'a str,
    #[serde(rename = "sourceIP")]
    source_ip: &'a str,
    details: &'a str,
}

impl<'a> SecurityEvent<'a> {
    fn of(event: &'a Event, global_id: &'a str) -> Self {
        SecurityEvent {
            id: event.id,
            kind: event.kind,
            time: event.timestamp,
            severity: event.severity,
            global_id,
            user_email: &event.user_email,
            resource_name: &event.device_name,
            source_ip: &event.ip,
            details: &event.details,
        }
    }
}

pub(crate) async fn list_cyber_resilience_events(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    let params = handler::query_params(query.as_deref());
    paging::check_known(&params, &["trackerToken"])?;
    let data = tenant.data();
    let total = data.events.len();
    let token = params.get("trackerToken").map(String::as_str);
    let offset = paging::tracker_token_offset(token, total)?;
    let page = Page::new_at(offset, stream_page_size(&shared), total);
    let records: Vec<SecurityEvent<'_>> = page
        .records(&data.events)
        .iter()
        .map(|event| SecurityEvent::of(event, &tenant.id))
        .collect();
    let token = paging::encode_tracker_token(page.end);
    Ok(handler::ok_serialized(&paging::tracker_token_page_body(
        "events", &records, token,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataSet;

    #[test]
    fn cef_and_syslog_lines_carry_the_siem_fields() {
        let data = DataSet::generate(1, 3);
        let event = &data.events[0];
        let line = cef(event);
        assert!(line.starts_with("CEF:0|Druva|inSync|"), "{line}");
        assert!(
            line.contains(&format!("externalId={} ", event.id)),
            "{line}"
        );
        assert!(line.contains(&format!("src={} ", event.ip)), "{line}");
        assert!(
            line.contains(&format!("cn1={} ", event.device_id)),
            "{line}"
        );
        let line = syslog(event);
        let priority = u32::from(event.facility) * 8 + u32::from(event.severity);
        assert!(line.starts_with(&format!("<{priority}>1 ")), "{line}");
        assert!(
            line.contains(&format!("eventID=\"{}\"", event.id)),
            "{line}"
        );
    }

    #[test]
    fn cef_escapes_its_separators() {
        assert_eq!(cef_header("a|b\\c"), "a\\|b\\\\c");
        assert_eq!(cef_value("k=v\nx"), "k\\=v\\nx");
    }
}
