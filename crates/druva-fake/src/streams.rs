//! The two event streams over a tenant's event log, which only grows.
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

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use serde::Serialize;
use serde_json::json;

use super::config::CaughtUp;
use super::data::{Event, ENDPOINTS_PRODUCT_ID};
use super::handler::{self, Answer, CallerTenant, SharedState};
use super::paging::{self, InvalidParameter, Page};

pub(crate) const EVENTS_V2: &str = "/insync/eventmanagement/v2/events";
pub(crate) const EVENTS_V3: &str = "/platform/eventmanagement/v3/events";

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

pub(crate) async fn list_events_v2(tenant: CallerTenant, RawQuery(query): RawQuery) -> Answer {
    let params = handler::query_params(query.as_deref());
    paging::check_known(&params, &["tracker", "format"])?;
    let format = Format::parse(params.get("format").map(String::as_str))?;
    let data = tenant.data();
    let total = data.events.len();
    let tracker = params.get("tracker").map(String::as_str);
    let offset = paging::tracker_offset(tracker, format.name(), total)?;
    let page = Page::new_at(offset, MAX_EVENTS_A_CALL, total);
    let tracker = paging::encode_tracker(page.end, format.name());
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
        let page_size = match params.get("pageSize") {
            None => MAX_EVENTS_A_CALL,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|size| (1..=MAX_EVENTS_A_CALL).contains(size))
                .ok_or_else(|| {
                    InvalidParameter::new(format!(
                        "Invalid pageSize: it must be a whole number from 1 to {MAX_EVENTS_A_CALL}"
                    ))
                })?,
        };
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
