//! The response bodies Druva answers with when something is wrong, in one
//! place: the API gateway's `{"message"}` for auth and throttling, the
//! application envelope `{"code", "message", "retryable", "data"}`, and OAuth's
//! `{"error", "error_description"}` on the token endpoint.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// The message of Druva's 403 for an unknown or expired token.
pub(crate) const EXPLICIT_DENY: &str =
    "User is not authorized to access this resource with an explicit deny";

/// A JSON response with the given status.
pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// The API gateway's 401 for a request without a bearer token.
pub(crate) fn unauthorized() -> Response {
    json_response(StatusCode::UNAUTHORIZED, unauthorized_body())
}

fn unauthorized_body() -> Value {
    json!({"message": "Unauthorized"})
}

/// The API gateway's 403 for an unknown or expired bearer token.
pub(crate) fn explicit_deny() -> Response {
    json_response(StatusCode::FORBIDDEN, explicit_deny_body())
}

fn explicit_deny_body() -> Value {
    json!({"message": EXPLICIT_DENY})
}

/// The gateway's 429, without `Retry-After` (Druva documents none).
pub(crate) fn too_many_requests() -> Response {
    json_response(StatusCode::TOO_MANY_REQUESTS, too_many_requests_body())
}

fn too_many_requests_body() -> Value {
    json!({"message": "Too Many Requests"})
}

/// Druva's application error envelope; `code` is like `InsyncCommon-404`.
pub(crate) fn druva_error(status: StatusCode, code: &str, message: &str) -> Response {
    let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
    json_response(
        status,
        json!({"code": code, "message": message, "retryable": retryable, "data": {}}),
    )
}

/// A 400 in Druva's envelope, for bad parameters.
pub(crate) fn bad_request(message: &str) -> Response {
    druva_error(StatusCode::BAD_REQUEST, "InsyncCommon-400", message)
}

/// A 404 in Druva's envelope.
pub(crate) fn not_found(message: &str) -> Response {
    druva_error(StatusCode::NOT_FOUND, "InsyncCommon-404", message)
}

/// An OAuth 2.0 error from the token endpoint (RFC 6749 §5.2).
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: Option<&str>) -> Response {
    no_store(json_response(status, oauth_error_body(error, description)))
}

fn oauth_error_body(error: &str, description: Option<&str>) -> Value {
    let mut body = json!({"error": error});
    if let (Some(description), Some(object)) = (description, body.as_object_mut()) {
        object.insert("error_description".into(), description.into());
    }
    body
}

/// Marks a token endpoint response as not cacheable, as RFC 6749 §5.1 asks.
pub(crate) fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The body an injected status answers with: what Druva would send for that
/// status on that side (token endpoint or API), carrying Druva's retry hint
/// `retryable` only when one is given. An injected success on the token
/// endpoint is a well-formed token answer that lacks `access_token`, the
/// "200 without a token" a client must refuse.
pub(crate) fn for_status(
    status: StatusCode,
    on_token_endpoint: bool,
    retryable: Option<bool>,
) -> Response {
    if on_token_endpoint && status.is_success() {
        return no_store(json_response(
            status,
            json!({"token_type": "bearer", "expires_in": 1800}),
        ));
    }
    if status.is_success() || status.is_redirection() || status.is_informational() {
        return status.into_response();
    }
    let mut body = if on_token_endpoint {
        oauth_error_body(oauth_code(status), Some("injected fault"))
    } else {
        match status {
            StatusCode::UNAUTHORIZED => unauthorized_body(),
            StatusCode::FORBIDDEN => explicit_deny_body(),
            StatusCode::TOO_MANY_REQUESTS => too_many_requests_body(),
            _ => json!({
                "code": format!("InsyncCommon-{}", status.as_u16()),
                "message": status.canonical_reason().unwrap_or("Error"),
                "data": {},
            }),
        }
    };
    if let (Some(retryable), Some(object)) = (retryable, body.as_object_mut()) {
        object.insert("retryable".into(), retryable.into());
    }
    let response = json_response(status, body);
    if on_token_endpoint {
        no_store(response)
    } else {
        response
    }
}

fn oauth_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "invalid_client",
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
            "temporarily_unavailable"
        }
        _ => "server_error",
    }
}
