//! `/_echo`, the fake's own endpoint: it answers any valid token with what it
//! received, so that tests can check a client's parameters, headers and
//! bodies.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::authorization::auth_scheme;
use super::handler::ok;

/// Answers with what it received: method, path, query, headers (with
/// `authorization` reduced to its scheme) and body.
pub(crate) async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
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
            auth_scheme(headers).unwrap_or_default()
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
