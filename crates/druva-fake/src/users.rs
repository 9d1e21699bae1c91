//! One inSync user by ID: read, create, update (`PUT` or `PATCH`) and
//! delete, in the caller's tenant. The list of users is in `insync`.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::data::UserFields;
use super::envelope::{self, json_response};
use super::handler::{ok, CallerTenant};

pub(crate) async fn get_user(tenant: CallerTenant, Path(id): Path<String>) -> Response {
    let Some(id) = parse_user_id(&id) else {
        return user_not_found();
    };
    match tenant.data().user(id) {
        Some(user) => ok(json!(user)),
        None => user_not_found(),
    }
}

pub(crate) async fn create_user(tenant: CallerTenant, body: Bytes) -> Response {
    let Some(fields) = parse_user_fields(&body) else {
        return envelope::bad_request("The body must be a JSON object of user fields");
    };
    match tenant.data().create_user(fields) {
        Some(user) => json_response(StatusCode::CREATED, json!(user)),
        None => envelope::bad_request("userName and emailID are required"),
    }
}

pub(crate) async fn update_user(
    tenant: CallerTenant,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
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

pub(crate) async fn delete_user(tenant: CallerTenant, Path(id): Path<String>) -> Response {
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
