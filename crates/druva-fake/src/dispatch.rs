//! The front door every request goes through: count and record it, apply a
//! queued fault, then route it to the token endpoint or, after the bearer
//! check, to the API router.

use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use tower::ServiceExt;

use super::envelope;
use super::faults::{self, FaultAction};
use super::state::{RecordedRequest, RequestKind, Shared};
use super::token;

/// The error that makes hyper close a connection without answering: a
/// service error aborts the HTTP/1 connection before any response byte.
#[derive(Debug)]
pub(crate) struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("injected fault: connection dropped")
    }
}

impl std::error::Error for DropConnection {}

/// What every connection of a server needs to answer a request.
#[derive(Clone)]
pub(crate) struct App {
    shared: Arc<Shared>,
    router: Router,
}

impl App {
    pub fn new(shared: Arc<Shared>) -> Self {
        let router = super::api::router(Arc::clone(&shared));
        App { shared, router }
    }

    /// Answers one request, or drops its connection when a fault says so.
    pub async fn handle(self, request: Request<Incoming>) -> Result<Response, DropConnection> {
        let request = request.map(Body::new);
        let path = request.uri().path().to_owned();
        let kind = RequestKind::of(&path);
        let bearer_valid =
            bearer_token(request.headers()).is_some_and(|token| self.shared.token_is_valid(token));
        self.shared.record(RecordedRequest {
            kind,
            method: request.method().as_str().to_owned(),
            path: path.clone(),
            query: request.uri().query().map(str::to_owned),
            auth_scheme: auth_scheme(request.headers()),
            bearer_valid,
        });
        if let Some(fault) = self.shared.faults.take(&path) {
            match faults::action(fault, kind) {
                FaultAction::Respond(response) => return Ok(response),
                FaultAction::DropConnection => return Err(DropConnection),
                FaultAction::DelayThenHandle(delay) => tokio::time::sleep(delay).await,
            }
        }
        Ok(match kind {
            RequestKind::Token => token::handle(&self.shared, request).await,
            RequestKind::Api => self.api(request, bearer_valid).await,
        })
    }

    /// The API gateway's check, then the router: 401 without a bearer token,
    /// 403 with one that is unknown or expired.
    async fn api(self, request: Request<Body>, bearer_valid: bool) -> Response {
        if bearer_token(request.headers()).is_none() {
            return envelope::unauthorized();
        }
        if !bearer_valid {
            return envelope::explicit_deny();
        }
        let Ok(response) = self.router.oneshot(request).await;
        response
    }
}

/// The token of an `Authorization: Bearer` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The scheme of the `Authorization` header, the only part of it the server
/// ever records or echoes: `Basic` and `Bearer` normalised, others as sent.
pub(crate) fn auth_scheme(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    let scheme = text.split_whitespace().next()?;
    let normalised = if scheme.eq_ignore_ascii_case("basic") {
        "Basic".to_owned()
    } else if scheme.eq_ignore_ascii_case("bearer") {
        "Bearer".to_owned()
    } else {
        // A scheme-less header would be the credential itself: never keep it.
        if text.split_whitespace().nth(1).is_none() {
            return Some("(no scheme)".to_owned());
        }
        scheme.chars().take(32).collect()
    };
    Some(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_authorization(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn only_the_scheme_of_authorization_is_kept() {
        assert_eq!(
            auth_scheme(&with_authorization("bearer abc")).as_deref(),
            Some("Bearer")
        );
        assert_eq!(
            auth_scheme(&with_authorization("Basic aWQ6c2VjcmV0")).as_deref(),
            Some("Basic")
        );
        assert_eq!(
            auth_scheme(&with_authorization("sometoken")).as_deref(),
            Some("(no scheme)")
        );
        assert_eq!(auth_scheme(&HeaderMap::new()), None);
    }

    #[test]
    fn a_bearer_token_needs_the_bearer_scheme() {
        assert_eq!(
            bearer_token(&with_authorization("Bearer  tok ")),
            Some("tok")
        );
        assert_eq!(bearer_token(&with_authorization("Basic tok")), None);
        assert_eq!(bearer_token(&with_authorization("Bearer ")), None);
    }
}
