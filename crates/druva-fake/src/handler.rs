//! What every API handler shares: the server state, the caller's tenant as
//! an extractor, the query readers and the responses.
//!
//! Requests reach a handler only after the bearer check in `dispatch`, which
//! puts the [`Caller`] on the request; [`CallerTenant`] turns it into the
//! tenant whose data the handler serves. A handler answers [`Answer`], so a
//! parameter it cannot honour is Druva's 400 through `?`.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::envelope::{self, json_response};
use super::paging::{self, InvalidParameter, ListQuery};
use super::state::Shared;
use super::tenant::Tenant;

pub(crate) type SharedState = State<Arc<Shared>>;

/// What a handler answers: a response, or Druva's 400 for a parameter.
pub(crate) type Answer = Result<Response, InvalidParameter>;

/// Whose data a request reads: the tenant its token was issued for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    pub tenant: usize,
}

/// The caller's tenant, extracted from the request's [`Caller`]; a request
/// without one is refused as an unknown token is.
pub(crate) struct CallerTenant(Arc<Tenant>);

impl Deref for CallerTenant {
    type Target = Tenant;

    fn deref(&self) -> &Tenant {
        &self.0
    }
}

impl FromRequestParts<Arc<Shared>> for CallerTenant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        parts
            .extensions
            .get::<Caller>()
            .and_then(|caller| shared.tenant(caller.tenant))
            .map(|tenant| CallerTenant(Arc::clone(tenant)))
            .ok_or_else(envelope::explicit_deny)
    }
}

/// Druva's 400 for a parameter it cannot honour.
impl IntoResponse for InvalidParameter {
    fn into_response(self) -> Response {
        envelope::bad_request(&self.0)
    }
}

/// The query parameters, the last value winning for a repeated name.
pub(crate) fn query_params(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// A page-token list's query; refused when its page token is bad or not
/// alone.
pub(crate) fn list_query(query: Option<&str>) -> Result<ListQuery, InvalidParameter> {
    paging::list_query(query_params(query))
}

/// One page of `items` under `field`, as the list query asks.
pub(crate) fn token_paged<T: Serialize>(
    shared: &Shared,
    query: &ListQuery,
    field: &str,
    items: &[T],
    with_total_size: bool,
) -> Answer {
    let page = paging::token_page(query, shared.page_size, items.len())?;
    Ok(ok_serialized(&paging::token_page_body(
        field,
        items,
        query,
        page,
        shared.last_page(),
        with_total_size,
    )))
}

/// Druva's 403 for an events v2 tracker (issued at `issued_ms`, `None`
/// for none) older than `tracker_ttl`, unless the request lets an expired
/// one through (`ignoreTrackerExpiry=true`): the explicit deny.
pub(crate) fn refuse_expired_tracker(
    shared: &Shared,
    issued_ms: Option<u64>,
    ignore_expiry: bool,
) -> Option<Response> {
    let expired = issued_ms.is_some_and(|issued| shared.tracker_expired(issued));
    (expired && !ignore_expiry).then(envelope::explicit_deny)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FakeConfig;
    use axum::http::Request;

    /// The caller's tenant, or the status of the refusal.
    fn extract(shared: &Arc<Shared>, caller: Option<Caller>) -> Result<CallerTenant, StatusCode> {
        let (mut parts, ()) = Request::new(()).into_parts();
        if let Some(caller) = caller {
            parts.extensions.insert(caller);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(CallerTenant::from_request_parts(&mut parts, shared))
            .map_err(|refused| refused.status())
    }

    fn msp_server() -> Arc<Shared> {
        Arc::new(Shared::new(&FakeConfig {
            msp: true,
            customers: 2,
            users: 3,
            ..FakeConfig::default()
        }))
    }

    #[test]
    fn a_handler_gets_the_tenant_its_callers_token_was_issued_for() {
        let shared = msp_server();
        let tenant = extract(&shared, Some(Caller { tenant: 1 })).unwrap();
        assert_eq!(tenant.id, shared.tenants[1].id);
    }

    #[test]
    fn a_request_without_a_known_tenant_is_refused_as_an_unknown_token() {
        let shared = msp_server();
        for caller in [None, Some(Caller { tenant: 2 })] {
            let refused = extract(&shared, caller).err();
            assert_eq!(refused, Some(StatusCode::FORBIDDEN));
        }
    }
}
