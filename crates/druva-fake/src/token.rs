//! The token endpoint: the client-credentials grant exactly as Druva serves it.
//!
//! `POST` with `Authorization: Basic base64(client_id:secret)` and the form
//! `grant_type=client_credentials` (optionally `scope`). Bad or missing
//! credentials are `400 invalid_grant`, as Druva answers them.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde_json::json;

use super::envelope::{json_response, no_store, oauth_error};
use super::state::Shared;

/// Token request bodies are small forms; anything larger is refused.
const MAX_FORM_BYTES: usize = 64 * 1024;

pub(crate) async fn handle(shared: &Shared, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST {
        let mut response = oauth_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            Some("the token endpoint takes POST"),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("the request body could not be read"),
        );
    };
    if !has_valid_credentials(shared, &parts.headers) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some("Invalid client credentials"),
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", None);
    }
    issue(shared, form.get("scope"))
}

fn issue(shared: &Shared, scope: Option<&String>) -> Response {
    let (access_token, lifetime) = shared.issue_token();
    let mut body = json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs(),
    });
    if let (Some(scope), Some(object)) = (scope, body.as_object_mut()) {
        object.insert("scope".into(), scope.as_str().into());
    }
    no_store(json_response(StatusCode::OK, body))
}

fn has_valid_credentials(shared: &Shared, headers: &HeaderMap) -> bool {
    basic_credentials(headers)
        .is_some_and(|(client_id, secret)| shared.credentials_match(&client_id, &secret))
}

/// The client id and secret of an `Authorization: Basic` header. The secret
/// may itself contain `:`, so the pair is split at the first one.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (client_id, secret) = text.split_once(':')?;
    Some((client_id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(plain: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        headers
    }

    #[test]
    fn a_secret_with_colons_is_split_at_the_first_colon() {
        assert_eq!(
            basic_credentials(&basic("id:se:cr:et")),
            Some(("id".into(), "se:cr:et".into()))
        );
    }

    #[test]
    fn malformed_basic_headers_carry_no_credentials() {
        assert_eq!(basic_credentials(&basic("no-colon")), None);
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&bearer), None);
    }
}
