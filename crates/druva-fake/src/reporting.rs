//! The Platform Reporting API over the caller's tenant.
//!
//! `GET /platform/reporting/v1/reports` lists the reports (`"reports": null`
//! for a hollow customer). `POST /platform/reporting/{version}/reports/{id}`
//! takes `{"filters": {"pageSize": N, "filterBy": [...]}, "pageToken": "..."}`
//! and answers rows in `data` with a `nextPageToken` beside them (`""` on the
//! last page). A page token carries the filters it was issued for and is
//! refused beside any others, and after five minutes, as Druva documents.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::data::{iso8601, DataSet, ENDPOINTS_PRODUCT_ID};
use super::envelope;
use super::handler::{self, Answer, CallerTenant};
use super::paging::{self, InvalidParameter};

pub(crate) const REPORTS: &str = "/platform/reporting/v1/reports";

/// The most rows a page, and the page size without one, as Druva documents.
const MAX_PAGE_SIZE: usize = 500;
const DEFAULT_PAGE_SIZE: usize = 100;

/// How long a report page token stays valid.
const TOKEN_LIFETIME_SECONDS: u64 = 300;

/// The operators of `filterBy`: the `OpenAPI` enum, and the spellings its
/// description uses.
const OPERATORS: &[&str] = &[
    "EQUAL", "NOTEQUAL", "CONTAINS", "GT", "GTE", "GTEQ", "LT", "LTE", "LTEQ",
];

/// A report the fake serves: its listing and the columns of its rows.
struct Report {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    columns: &'static [&'static str],
    rows: fn(&DataSet) -> Vec<Value>,
}

const CATALOGUE: &[Report] = &[
    Report {
        id: "epLastBackupStatus",
        name: "Last Backup Status",
        description: "The status of the last backup of each device.",
        columns: &[
            "deviceID",
            "deviceName",
            "userID",
            "userName",
            "emailID",
            "platformOS",
            "status",
            "lastBackupTime",
        ],
        rows: last_backup_rows,
    },
    Report {
        id: "epUsers",
        name: "Users",
        description: "The users and their profile and storage.",
        columns: &[
            "userID",
            "userName",
            "emailID",
            "status",
            "profileName",
            "storageName",
            "addedOn",
        ],
        rows: user_rows,
    },
];

fn last_backup_rows(data: &DataSet) -> Vec<Value> {
    data.devices
        .iter()
        .map(|device| {
            let user = data.user(device.user_id);
            let last = data
                .backups
                .iter()
                .find(|backup| backup.device_id == device.id)
                .map(|backup| iso8601(backup.end_time.0));
            json!({
                "deviceID": device.id,
                "deviceName": device.name,
                "userID": device.user_id,
                "userName": device.user_name,
                "emailID": user.map(|user| user.email.as_str()),
                "platformOS": device.platform,
                "status": device.last_backup_status,
                "lastBackupTime": last,
            })
        })
        .collect()
}

fn user_rows(data: &DataSet) -> Vec<Value> {
    data.users
        .iter()
        .map(|user| {
            json!({
                "userID": user.id,
                "userName": user.name,
                "emailID": user.email,
                "status": user.status,
                "profileName": data.profile_name(user.profile_id),
                "storageName": data.storage_name(user.storage_id),
                "addedOn": iso8601(user.added_on.0),
            })
        })
        .collect()
}

fn report_not_found(id: &str) -> Response {
    envelope::druva_error(
        StatusCode::NOT_FOUND,
        "Reporting-404",
        &format!("Report {id} was not found"),
    )
}

/// The reports the caller can read, optionally of some `productIDs` only.
pub(crate) async fn list_reports(tenant: CallerTenant, RawQuery(query): RawQuery) -> Answer {
    let params = handler::query_params(query.as_deref());
    let products = product_ids(&params)?;
    if tenant.hollow {
        return Ok(handler::ok(json!({"reports": null})));
    }
    let wanted = products.is_none_or(|ids| ids.contains(&ENDPOINTS_PRODUCT_ID));
    let reports: Vec<Value> = CATALOGUE
        .iter()
        .filter(|_| wanted)
        .map(|report| {
            json!({
                "reportID": report.id,
                "reportName": report.name,
                "reportDescription": report.description,
                "productName": "Endpoints",
                "version": "v1",
            })
        })
        .collect();
    Ok(handler::ok(json!({"reports": reports})))
}

fn product_ids(params: &HashMap<String, String>) -> Result<Option<Vec<u64>>, InvalidParameter> {
    paging::check_known(params, &["productIDs"])?;
    params
        .get("productIDs")
        .map(|text| {
            text.split(',')
                .map(|part| part.trim().parse())
                .collect::<Result<Vec<u64>, _>>()
                .map_err(|_| {
                    InvalidParameter::new(
                        "Invalid productIDs: they must be whole numbers separated by commas",
                    )
                })
        })
        .transpose()
}

/// One page of a report's rows, as the body's filters and page token ask.
pub(crate) async fn report_data(
    tenant: CallerTenant,
    Path((version, report_id)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let report = CATALOGUE.iter().find(|report| report.id == report_id);
    let (Some(report), false, true) = (report, tenant.hollow, ["v1", "v2"].contains(&&*version))
    else {
        return Ok(report_not_found(&report_id));
    };
    let request = ReportRequest::parse(&body, report)?;
    let rows: Vec<Value> = (report.rows)(&tenant.data())
        .into_iter()
        .filter(|row| request.matches(row))
        .collect();
    let Some(page) = rows.get(request.offset..) else {
        return Err(InvalidParameter::new("Invalid pageToken"));
    };
    let size = request.page_size;
    let end = request.offset.saturating_add(size).min(rows.len());
    let next = if end < rows.len() {
        encode_token(&request.filters, end)
    } else {
        String::new()
    };
    Ok(handler::ok(json!({
        "data": page.iter().take(size).collect::<Vec<_>>(),
        "lastSyncTimestamp": iso8601(now()),
        "filters": request.filters,
        "nextPageToken": next,
    })))
}

/// One `filterBy` condition.
#[derive(Debug)]
struct Condition {
    field: String,
    operator: String,
    value: Value,
}

/// A report request's body, checked.
#[derive(Debug)]
struct ReportRequest {
    /// The body's `filters` as sent (`{}` when absent), which a page token
    /// is bound to.
    filters: Value,
    page_size: usize,
    conditions: Vec<Condition>,
    offset: usize,
}

impl ReportRequest {
    fn parse(body: &[u8], report: &Report) -> Result<Self, InvalidParameter> {
        let body: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body)
                .map_err(|_| InvalidParameter::new("The body must be a JSON object"))?
        };
        let Value::Object(body) = body else {
            return Err(InvalidParameter::new("The body must be a JSON object"));
        };
        if let Some(key) = body
            .keys()
            .find(|key| !["filters", "pageToken"].contains(&key.as_str()))
        {
            return Err(InvalidParameter::new(format!(
                "Unknown field {key}; the body takes filters and pageToken"
            )));
        }
        let filters = body.get("filters").cloned().unwrap_or_else(|| json!({}));
        let Value::Object(fields) = &filters else {
            return Err(InvalidParameter::new("filters must be a JSON object"));
        };
        let page_size = page_size(fields)?;
        let conditions = conditions(fields, report)?;
        let offset = match body.get("pageToken") {
            None | Some(Value::Null) => 0,
            Some(Value::String(token)) if token.is_empty() => 0,
            Some(Value::String(token)) => decode_token(token, &filters)?,
            Some(_) => return Err(InvalidParameter::new("pageToken must be a string")),
        };
        Ok(ReportRequest {
            filters,
            page_size,
            conditions,
            offset,
        })
    }

    fn matches(&self, row: &Value) -> bool {
        self.conditions.iter().all(|condition| {
            let actual = row.get(&condition.field).unwrap_or(&Value::Null);
            compare(actual, &condition.operator, &condition.value)
        })
    }
}

fn page_size(filters: &Map<String, Value>) -> Result<usize, InvalidParameter> {
    let Some(value) = filters.get("pageSize") else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    let size = value.as_u64().and_then(|size| usize::try_from(size).ok());
    paging::page_size_within(size, MAX_PAGE_SIZE)
}

fn conditions(
    filters: &Map<String, Value>,
    report: &Report,
) -> Result<Vec<Condition>, InvalidParameter> {
    if let Some(key) = filters
        .keys()
        .find(|key| !["pageSize", "filterBy"].contains(&key.as_str()))
    {
        return Err(InvalidParameter::new(format!(
            "Unknown filter {key}; filters take pageSize and filterBy"
        )));
    }
    let Some(list) = filters.get("filterBy") else {
        return Ok(Vec::new());
    };
    let Value::Array(list) = list else {
        return Err(InvalidParameter::new("filterBy must be a list"));
    };
    list.iter()
        .map(|entry| {
            let field = entry.get("fieldName").and_then(Value::as_str);
            let operator = entry.get("operator").and_then(Value::as_str);
            let value = entry.get("value");
            let (Some(field), Some(operator), Some(value)) = (field, operator, value) else {
                return Err(InvalidParameter::new(
                    "Each filterBy entry needs fieldName, operator and value",
                ));
            };
            if !report.columns.contains(&field) {
                return Err(InvalidParameter::new(format!(
                    "Invalid fieldName {field}: report {} has {}",
                    report.id,
                    report.columns.join(", ")
                )));
            }
            if !OPERATORS.contains(&operator) {
                return Err(InvalidParameter::new(format!(
                    "Invalid operator {operator}: it must be one of {}",
                    OPERATORS.join(", ")
                )));
            }
            Ok(Condition {
                field: field.to_owned(),
                operator: operator.to_owned(),
                value: value.clone(),
            })
        })
        .collect()
}

/// Whether a row's value meets a condition. A list value means any of it
/// (for `EQUAL`) or none of it (for `NOTEQUAL`).
fn compare(actual: &Value, operator: &str, expected: &Value) -> bool {
    if let Value::Array(choices) = expected {
        let any = choices
            .iter()
            .any(|choice| compare(actual, "EQUAL", choice));
        return match operator {
            "EQUAL" => any,
            "NOTEQUAL" => !any,
            _ => false,
        };
    }
    let ordering = match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match operator {
        "EQUAL" => actual == expected,
        "NOTEQUAL" => actual != expected,
        "CONTAINS" => match (actual, expected) {
            (Value::String(a), Value::String(b)) => a.contains(b.as_str()),
            _ => false,
        },
        "GT" => ordering.is_some_and(std::cmp::Ordering::is_gt),
        "GTE" | "GTEQ" => ordering.is_some_and(std::cmp::Ordering::is_ge),
        "LT" => ordering.is_some_and(std::cmp::Ordering::is_lt),
        "LTE" | "LTEQ" => ordering.is_some_and(std::cmp::Ordering::is_le),
        _ => false,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// A page token: base64 of when it was issued, the offset and the filters.
fn encode_token(filters: &Value, offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{offset}:{filters}", now()))
}

fn decode_token(token: &str, filters: &Value) -> Result<usize, InvalidParameter> {
    let invalid = || InvalidParameter::new("Invalid pageToken");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, ':');
    let (Some(issued), Some(offset), Some(issued_for)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let issued: u64 = issued.parse().map_err(|_| invalid())?;
    let offset: usize = offset.parse().map_err(|_| invalid())?;
    let issued_for: Value = serde_json::from_str(issued_for).map_err(|_| invalid())?;
    if now().saturating_sub(issued) > TOKEN_LIFETIME_SECONDS {
        return Err(InvalidParameter::new(
            "pageToken has expired: report page tokens are valid for 5 minutes",
        ));
    }
    if issued_for != *filters {
        return Err(InvalidParameter::new(
            "pageToken does not match the filters: send the filters of the first request with it",
        ));
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_compare_like_druva_describes() {
        assert!(compare(
            &json!("Backup Failed"),
            "EQUAL",
            &json!("Backup Failed")
        ));
        assert!(compare(&json!(5), "GT", &json!(4)));
        assert!(compare(&json!("b"), "GTE", &json!("b")));
        assert!(compare(&json!("abc"), "CONTAINS", &json!("b")));
        assert!(compare(&json!(2), "EQUAL", &json!([1, 2])));
        assert!(compare(&json!(3), "NOTEQUAL", &json!([1, 2])));
        assert!(!compare(&json!("x"), "LT", &json!(1)));
    }

    #[test]
    fn a_page_token_is_bound_to_its_filters() {
        let filters = json!({"pageSize": 2});
        let token = encode_token(&filters, 4);
        assert_eq!(decode_token(&token, &filters).unwrap(), 4);
        assert!(decode_token(&token, &json!({"pageSize": 3})).is_err());
        assert!(decode_token("bm9wZQ==", &filters).is_err());
    }

    #[test]
    fn a_report_body_is_checked() {
        let report = &CATALOGUE[0];
        let parse = |body: Value| ReportRequest::parse(body.to_string().as_bytes(), report);
        assert_eq!(parse(json!({})).unwrap().page_size, 100);
        assert!(parse(json!({"filters": {"pageSize": 501}})).is_err());
        assert!(parse(json!({"filters": {"pageSize": 0}})).is_err());
        assert!(parse(json!({"pagesize": 5})).is_err());
        let unknown_field = json!({"filters": {"filterBy": [
            {"fieldName": "colour", "operator": "EQUAL", "value": "red"}]}});
        assert!(parse(unknown_field).unwrap_err().0.contains("colour"));
        let bad_operator = json!({"filters": {"filterBy": [
            {"fieldName": "status", "operator": "LIKE", "value": "x"}]}});
        assert!(parse(bad_operator).is_err());
        assert!(ReportRequest::parse(b"[1]", report).is_err());
    }
}
