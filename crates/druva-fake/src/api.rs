//! The API side of the fake server: the router over the endpoints of every
//! product, the helpers their handlers share, and `/_echo`, which answers
//! with what it received so that tests can check a client's parameters,
//! headers and bodies.
//!
//! Requests reach this router only after the bearer check in `dispatch`,
//! which tells each handler whose tenant's data it serves ([`Caller`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::data::UserFields;
use super::envelope::{self, json_response};
use super::paging::{self, InvalidParameter, ListQuery};
use super::state::Shared;
use super::tenant::Tenant;
use super::{insync, msp, reporting, streams};

pub(crate) type SharedState = State<Arc<Shared>>;

/// Whose data a request reads: the tenant its token was issued for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    pub tenant: usize,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(insync::USERS, get(insync::list_users).post(create_user))
        .route(
            "/insync/usermanagement/v1/users/{id}",
            get(get_user)
                .put(update_user)
                .patch(update_user)
                .delete(delete_user),
        )
        .route("/insync/endpoints/v1/devices", get(insync::list_devices))
        .route("/insync/endpoints/v1/backups", get(insync::list_backups))
        .route("/insync/endpoints/v1/restores", get(insync::list_restores))
        .route(
            "/insync/storagemanagement/v1/storages",
            get(insync::list_storages),
        )
        .route(
            "/insync/profilemanagement/v1/profiles",
            get(insync::list_profiles),
        )
        .route(streams::EVENTS_V2, get(streams::list_events_v2))
        .route(streams::EVENTS_V3, get(streams::list_events_v3))
        .route(reporting::REPORTS, get(reporting::list_reports))
        .route(
            "/platform/reporting/{version}/reports/{report_id}",
            post(reporting::report_data),
        )
        .route("/phoenix/organization/v1/orgs", get(insync::list_orgs))
        .route(
            "/phoenix/storage/v1/orgs/{org_id}/reports/usage",
            get(insync::storage_usage),
        )
        .route(msp::CUSTOMERS, get(msp::list_customers))
        .route("/_echo", any(echo))
        .route("/_echo/{*rest}", any(echo))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

/// The query parameters, the last value winning for a repeated name.
pub(crate) fn query_params(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// A page-token list's query, or Druva's 400 for a page token that is bad
/// or not alone.
pub(crate) fn list_query(query: Option<&str>) -> Result<ListQuery, Box<Response>> {
    paging::list_query(query_params(query)).map_err(|invalid| Box::new(bad_request(&invalid)))
}

/// Druva's 400 for a parameter it cannot honour.
pub(crate) fn bad_request(invalid: &InvalidParameter) -> Response {
    envelope::bad_request(&invalid.0)
}

/// The tenant a caller's token was issued for.
pub(crate) fn tenant(shared: &Shared, caller: Caller) -> Result<&Tenant, Box<Response>> {
    shared
        .tenant(caller.tenant)
        .ok_or_else(|| Box::new(envelope::explicit_deny()))
}

/// One page of `items` under `field`, as the list query asks.
pub(crate) fn token_paged<T: Serialize>(
    shared: &Shared,
    query: &ListQuery,
    field: &str,
    items: &[T],
    with_total_size: bool,
) -> Response {
    match paging::token_page(query, shared.page_size, items.len()) {
        Ok(page) => ok_serialized(&paging::token_page_body(
            field,
            items,
            query,
            page,
            shared.last_page(),
            with_total_size,
        )),
        Err(invalid) => bad_request(&invalid),
    }
}

async fn get_user(
    State(shared): SharedState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let tenant = match tenant(&shared, caller) {
        Ok(tenant) => tenant,
        Err(refused) => return *refused,
    };
    let Some(id) = parse_user_id(&id) else {
        return user_not_found();
    };
    match tenant.data().user(id) {
        Some(user) => ok(json!(user)),
        None => user_not_found(),
    }
}

async fn create_user(
    State(shared): SharedState,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let tenant = match tenant(&shared, caller) {
        Ok(tenant) => tenant,
        Err(refused) => return *refused,
    };
    let Some(fields) = parse_user_fields(&body) else {
        return envelope::bad_request("The body must be a JSON object of user fields");
    };
    match tenant.data().create_user(fields) {
        Some(user) => json_response(StatusCode::CREATED, json!(user)),
        None => envelope::bad_request("userName and emailID are required"),
    }
}

async fn update_user(
    State(shared): SharedState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let tenant = match tenant(&shared, caller) {
        Ok(tenant) => tenant,
        Err(refused) => return *refused,
    };
    let Some(fields) = parse_user_fields(&body) else {
        return envelope::bad_request("The body must be a JSON object of user fields");
    };
    let Some(id) = parse_user_id(&id) else {
        return user_not_found();
    };
    match tenant.data().update_user(id, fields) {
        Some(user) => ok(json!(user)),
        None => user_not_found(),
    }
}

async fn delete_user(
    State(shared): SharedState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let tenant = match tenant(&shared, caller) {
        Ok(tenant) => tenant,
        Err(refused) => return *refused,
    };
    let deleted = parse_user_id(&id).is_some_and(|id| tenant.data().delete_user(id));
    if deleted {
        StatusCode::NO_CONTENT.into_response()
    } else {
        user_not_found()
    }
}

fn parse_user_id(text: &str) -> Option<u64> {
    text.parse().ok()
}

fn parse_user_fields(body: &[u8]) -> Option<UserFields> {
    serde_json::from_slice(body).ok()
}

fn user_not_found() -> Response {
    envelope::druva_error(
        StatusCode::NOT_FOUND,
        "InsyncUserManagement-404",
        "User not found",
    )
}

/// Answers with what it received: method, path, query, headers (with
/// `authorization` reduced to its scheme) and body.
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let query = uri.query().unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    ok(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": query,
        "args": echo_args(query),
        "headers": echo_headers(&headers),
        "body": text,
        "json": serde_json::from_slice::<Value>(&body).ok(),
    }))
}

/// Query parameters as httpbin shows them: a string, or a list when repeated.
fn echo_args(query: &str) -> Value {
    let mut args: Map<String, Value> = Map::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()).into_owned() {
        match args.get_mut(&name) {
            None => {
                args.insert(name, Value::String(value));
            }
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(single) => {
                let first = single.take();
                *single = Value::Array(vec![first, Value::String(value)]);
            }
        }
    }
    Value::Object(args)
}

/// Headers by lowercased name, repeated ones joined with `, `; the
/// `authorization` value is reduced to its scheme so no credential is echoed.
fn echo_headers(headers: &HeaderMap) -> Value {
    let mut echoed: Map<String, Value> = Map::new();
    for name in headers.keys() {
        let value = if name == header::AUTHORIZATION {
            super::authorization::auth_scheme(headers).unwrap_or_default()
        } else {
            headers
                .get_all(name)
                .iter()
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        echoed.insert(name.as_str().to_owned(), Value::String(value));
    }
    Value::Object(echoed)
}

async fn not_found(uri: Uri) -> Response {
    envelope::not_found(&format!("No API at {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    envelope::druva_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "InsyncCommon-405",
        &format!("{method} is not supported on {}", uri.path()),
    )
}

/// A 200 JSON response.
pub(crate) fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// A 200 with `body` serialized straight to bytes (and so a Content-Length).
pub(crate) fn ok_serialized<T: Serialize>(body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(error) => envelope::druva_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InsyncCommon-500",
            &format!("could not serialize the page: {error}"),
        ),
    }
}
