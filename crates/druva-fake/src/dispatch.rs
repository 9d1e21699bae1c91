//! The front door every request goes through: count and record it (an API
//! request with its body), refuse it beyond `rate_limit` or `max_in_flight`,
//! wait `latency`,
//! apply a queued fault, then route it to a token endpoint or, after the
//! bearer check, to the API router with the caller's tenant.

use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use tower::ServiceExt;

use super::api;
use super::authorization::{auth_scheme, bearer_token};
use super::envelope;
use super::faults::{self, FaultAction};
use super::handler::Caller;
use super::request::{RecordedRequest, RequestKind};
use super::state::{Scope, Shared};
use super::token;

/// The largest API request body the fake reads; a larger one is refused.
const MAX_API_BODY_BYTES: usize = 16 * 1024 * 1024;

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
        let router = api::router(Arc::clone(&shared));
        App { shared, router }
    }

    /// Answers one request, or drops its connection when a fault says so.
    pub async fn handle(self, request: Request<Incoming>) -> Result<Response, DropConnection> {
        let request = request.map(Body::new);
        let path = request.uri().path().to_owned();
        let kind = RequestKind::of(&path);
        let scope =
            bearer_token(request.headers()).and_then(|token| self.shared.token_scope(token));
        let (request, body) = match kind {
            RequestKind::Token => (request, Ok(None)),
            RequestKind::Api => read_body(request).await,
        };
        self.shared.record(RecordedRequest {
            kind,
            method: request.method().as_str().to_owned(),
            path: path.clone(),
            query: request.uri().query().map(str::to_owned),
            auth_scheme: auth_scheme(request.headers()),
            bearer_valid: scope.is_some(),
            body: body.as_ref().ok().cloned().flatten(),
        });
        let shared = Arc::clone(&self.shared);
        let flight = match kind {
            RequestKind::Token => None,
            RequestKind::Api => {
                let place = shared.enter_flight().filter(|_| shared.admit_at_rate());
                let Some(place) = place else {
                    self.wait_latency().await;
                    return Ok(envelope::too_many_requests());
                };
                Some(place)
            }
        };
        self.wait_latency().await;
        if let Some(fault) = self.shared.faults.take(&path) {
            match faults::action(fault, kind) {
                FaultAction::Respond(response) => return Ok(response),
                FaultAction::DropConnection => return Err(DropConnection),
                FaultAction::DelayThenHandle(delay) => tokio::time::sleep(delay).await,
            }
        }
        let response = match (kind, body) {
            (RequestKind::Token, _) => token::handle(&self.shared, request).await,
            (RequestKind::Api, Err(refused)) => refused,
            (RequestKind::Api, Ok(_)) => self.api(request, scope).await,
        };
        drop(flight);
        Ok(response)
    }

    async fn wait_latency(&self) {
        if !self.shared.latency.is_zero() {
            tokio::time::sleep(self.shared.latency).await;
        }
    }

    /// The API gateway's check, then the router: 401 without a bearer token,
    /// 403 with one that is unknown or expired, or for the other side (an MSP
    /// token on a tenant's API, a tenant's token on the MSP API).
    async fn api(self, mut request: Request<Body>, scope: Option<Scope>) -> Response {
        if bearer_token(request.headers()).is_none() {
            return envelope::unauthorized();
        }
        let Some(scope) = scope else {
            return envelope::explicit_deny();
        };
        let path = request.uri().path();
        let on_msp_api = path.starts_with("/msp/");
        if on_msp_api && !self.shared.msp {
            return envelope::not_found(&format!("No API at {path}"));
        }
        let caller = match scope {
            Scope::Msp if on_msp_api || is_echo(path) => Caller { tenant: 0 },
            Scope::Tenant(tenant) if !on_msp_api => Caller { tenant },
            Scope::Msp | Scope::Tenant(_) => return envelope::explicit_deny(),
        };
        request.extensions_mut().insert(caller);
        let Ok(response) = self.router.oneshot(request).await;
        response
    }
}

/// `/_echo` answers any valid token: it is the fake's own, not a tenant's.
fn is_echo(path: &str) -> bool {
    path == "/_echo" || path.starts_with("/_echo/")
}

/// Reads an API request's body, to record it and hand it on: the body as
/// text (`None` when empty), or the 400 for a body that could not be read.
async fn read_body(request: Request<Body>) -> (Request<Body>, Result<Option<String>, Response>) {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, MAX_API_BODY_BYTES).await {
        Ok(bytes) => {
            let text = (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
            (Request::from_parts(parts, Body::from(bytes)), Ok(text))
        }
        Err(_) => (
            Request::from_parts(parts, Body::empty()),
            Err(envelope::bad_request(
                "the request body could not be read (at most 16 MiB)",
            )),
        ),
    }
}
