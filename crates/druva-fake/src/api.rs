//! The API side of the fake server: the inSync and Phoenix endpoints over the
//! synthetic data set, and `/_echo`, which answers with what it received so
//! that tests can check a client's parameters, headers and bodies.
//!
//! Requests reach this router only after the bearer check in `dispatch`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::data::{User, UserFields};
use super::envelope::{self, json_response};
use super::paging::{self, ListQuery};
use super::state::{lock, Shared};

type SharedState = State<Arc<Shared>>;

const USERS: &str = "/insync/usermanagement/v1/users";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(USERS, get(list_users).post(create_user))
        .route(
            "/insync/usermanagement/v1/users/{id}",
            get(get_user)
                .put(update_user)
                .patch(update_user)
                .delete(delete_user),
        )
        .route("/insync/endpoints/v1/devices", get(list_devices))
        .route("/insync/profilemanagement/v1/profiles", get(list_profiles))
        .route("/insync/eventmanagement/v2/events", get(list_events))
        .route("/phoenix/organization/v1/orgs", get(list_orgs))
        .route("/_echo", any(echo))
        .route("/_echo/{*rest}", any(echo))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

/// The query parameters, the last value winning for a repeated name.
fn query_params(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// A page-token list's query, or Druva's 400 for a page token that is bad
/// or not alone.
fn list_query(query: Option<&str>) -> Result<ListQuery, Box<Response>> {
    paging::list_query(query_params(query))
        .map_err(|invalid| Box::new(envelope::bad_request(invalid.0)))
}

/// Users, filtered by `emailID` when given, paged with `pageToken`.
async fn list_users(State(shared): SharedState, RawQuery(query): RawQuery) -> Response {
    let query = match list_query(query.as_deref()) {
        Ok(query) => query,
        Err(refused) => return *refused,
    };
    let data = lock(&shared.data);
    let Some(email) = query.params.get("emailID") else {
        return token_paged(&shared, &query, "users", &data.users, true);
    };
    let users: Vec<&User> = data
        .users
        .iter()
        .filter(|user| user.email == *email)
        .collect();
    token_paged(&shared, &query, "users", &users, true)
}

async fn list_devices(State(shared): SharedState, RawQuery(query): RawQuery) -> Response {
    let query = match list_query(query.as_deref()) {
        Ok(query) => query,
        Err(refused) => return *refused,
    };
    let data = lock(&shared.data);
    token_paged(&shared, &query, "devices", &data.devices, false)
}

async fn list_orgs(State(shared): SharedState, RawQuery(query): RawQuery) -> Response {
    let query = match list_query(query.as_deref()) {
        Ok(query) => query,
        Err(refused) => return *refused,
    };
    let data = lock(&shared.data);
    token_paged(&shared, &query, "orgs", &data.orgs, false)
}

/// One page of `items` under `field`, as the list query asks.
fn token_paged<T: Serialize>(
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
        Err(invalid) => envelope::bad_request(invalid.0),
    }
}

/// Profiles come in one page, without a `nextPageToken`.
async fn list_profiles(State(shared): SharedState) -> Response {
    ok(json!({"profiles": lock(&shared.data).profiles}))
}

/// Events, paged with `tracker` / `nextPageExists` as inSync events v2 are.
async fn list_events(State(shared): SharedState, RawQuery(query): RawQuery) -> Response {
    let params = query_params(query.as_deref());
    let data = lock(&shared.data);
    match paging::tracker_page(&params, shared.page_size, data.events.len()) {
        Ok(page) => ok_serialized(&paging::tracker_page_body("events", &data.events, page)),
        Err(invalid) => envelope::bad_request(invalid.0),
    }
}

async fn get_user(State(shared): SharedState, Path(id): Path<String>) -> Response {
    let Some(id) = parse_user_id(&id) else {
        return user_not_found();
    };
    match lock(&shared.data).user(id) {
        Some(user) => ok(json!(user)),
        None => user_not_found(),
    }
}

async fn create_user(State(shared): SharedState, body: Bytes) -> Response {
    let Some(fields) = parse_user_fields(&body) else {
        return envelope::bad_request("The body must be a JSON object of user fields");
    };
    match lock(&shared.data).create_user(fields) {
        Some(user) => json_response(StatusCode::CREATED, json!(user)),
        None => envelope::bad_request("userName and emailID are required"),
    }
}

async fn update_user(State(shared): SharedState, Path(id): Path<String>, body: Bytes) -> Response {
    let Some(fields) = parse_user_fields(&body) else {
        return envelope::bad_request("The body must be a JSON object of user fields");
    };
    let Some(id) = parse_user_id(&id) else {
        return user_not_found();
    };
    match lock(&shared.data).update_user(id, fields) {
        Some(user) => ok(json!(user)),
        None => user_not_found(),
    }
}

async fn delete_user(State(shared): SharedState, Path(id): Path<String>) -> Response {
    let deleted = parse_user_id(&id).is_some_and(|id| lock(&shared.data).delete_user(id));
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
            super::dispatch::auth_scheme(headers).unwrap_or_default()
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
fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// A 200 with `body` serialized straight to bytes (and so a Content-Length).
fn ok_serialized<T: Serialize>(body: &T) -> Response {
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
