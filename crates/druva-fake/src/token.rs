//! The token endpoints: the client-credentials grant exactly as Druva serves
//! it, for a plain credential (`/token`, and any other path ending in
//! `/token`) or an MSP one (`/msp/auth/v1/token`), and the MSP's exchange of
//! its token for a customer's (`/msp/v2/customers/{id}/token`).
//!
//! A grant is a `POST` with `Authorization: Basic base64(client_id:secret)`
//! and the form `grant_type=client_credentials` (optionally `scope`). Bad or
//! missing credentials are `400 invalid_grant`, as Druva answers them, and so
//! is a credential at the other kind's endpoint.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::authorization::{basic_credentials, bearer_token};
use super::envelope::{self, json_response, no_store, oauth_error};
use super::state::{Scope, Shared};

/// Token request bodies are small forms; anything larger is refused.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Where an MSP credential gets its token.
pub(crate) const MSP_TOKEN_PATH: &str = "/msp/auth/v1/token";

/// Answers a request to any token endpoint.
pub(crate) async fn handle(shared: &Shared, request: Request<Body>) -> Response {
    let path = request.uri().path().to_owned();
    if let Some(customer) = exchange_customer(&path) {
        if !shared.msp {
            return envelope::not_found(&format!("No API at {path}"));
        }
        return exchange(shared, customer, request).await;
    }
    let msp_endpoint = path == MSP_TOKEN_PATH;
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
    // An MSP credential is refused at the plain endpoint, and the reverse.
    if msp_endpoint != shared.msp || !has_valid_credentials(shared, &parts.headers) {
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
    let scope = if shared.msp {
        Scope::Msp
    } else {
        Scope::Tenant(0)
    };
    issue(shared, scope, form.get("scope"))
}

/// The customer ID of a `/msp/v2/customers/{id}/token` path.
fn exchange_customer(path: &str) -> Option<&str> {
    path.strip_prefix("/msp/v2/customers/")?
        .strip_suffix("/token")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// The MSP's exchange: a valid MSP bearer token and the form
/// `grant_type=client_credentials` get a token for one customer.
async fn exchange(shared: &Shared, customer: &str, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST {
        return envelope::druva_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MSP-405",
            "The customer token endpoint takes POST",
        );
    }
    let Some(token) = bearer_token(&parts.headers) else {
        return envelope::unauthorized();
    };
    if shared.token_scope(token) != Some(Scope::Msp) {
        return envelope::explicit_deny();
    }
    let Some(index) = shared.customer_index(customer) else {
        return envelope::druva_error(
            StatusCode::NOT_FOUND,
            "MSP-404",
            &format!("No customer with ID {customer}"),
        );
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return envelope::bad_request("the request body could not be read");
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return envelope::druva_error(
            StatusCode::BAD_REQUEST,
            "MSP-400",
            "grant_type must be client_credentials",
        );
    }
    issue(shared, Scope::Tenant(index), None)
}

fn issue(shared: &Shared, scope: Scope, requested: Option<&String>) -> Response {
    let (access_token, lifetime) = shared.issue_token(scope);
    let mut body = json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs(),
    });
    if let (Some(scope), Some(object)) = (requested, body.as_object_mut()) {
        object.insert("scope".into(), scope.as_str().into());
    }
    no_store(json_response(StatusCode::OK, body))
}

fn has_valid_credentials(shared: &Shared, headers: &HeaderMap) -> bool {
    basic_credentials(headers)
        .is_some_and(|(client_id, secret)| shared.credentials_match(&client_id, &secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_customer_token_path_names_a_customer() {
        assert_eq!(
            exchange_customer("/msp/v2/customers/c-1/token"),
            Some("c-1")
        );
        assert_eq!(exchange_customer("/msp/v2/customers//token"), None);
        assert_eq!(exchange_customer("/msp/v2/customers/a/b/token"), None);
        assert_eq!(exchange_customer("/token"), None);
    }
}
