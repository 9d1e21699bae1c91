//! A core session against the fake server: the retry loop, token renewal and
//! the token request's own retries, end to end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use druva_core::errors::Error;
use druva_core::response::Response;
use druva_core::runtime::block_on;
use druva_core::session::{Call, Session, SessionConfig, SessionOptions};
use druva_fake::{FakeConfig, FakeServer, Fault, FaultKind};

mod common;
use common::{start, USERS};

fn fake() -> FakeServer {
    start(FakeConfig::default())
}

fn options(fake: &FakeServer) -> SessionOptions {
    SessionOptions {
        base_url: Some(fake.base_url().to_owned()),
        max_retries: Some(2),
        // Loopback traffic stays local whatever the proxy variables say.
        proxy: Some(String::new()),
        ..SessionOptions::default()
    }
}

fn session(fake: &FakeServer) -> Arc<Session> {
    let config = SessionConfig::new(fake.client_id(), fake.secret(), options(fake)).unwrap();
    Arc::new(Session::new(config).unwrap())
}

fn call(session: &Arc<Session>, method: &'static str) -> Result<Response, Error> {
    let request = session
        .prepare(Call {
            method,
            url: USERS,
            ..Call::default()
        })
        .unwrap();
    block_on(Arc::clone(session).send(request)).unwrap()
}

#[test]
fn a_session_retries_renews_or_returns_the_response_as_each_fault_calls_for() {
    // The behaviour; the fault the fake injects and the call the session
    // makes; the status it sees and the token and API requests the fake
    // received.
    #[rustfmt::skip]
    let cases = [
        ("a gateway error is retried until the call succeeds",
            Fault::status(503).times(2).on_path(USERS), "GET", 200, (1, 3)),
        ("after the last retry an API call returns the last response",
            Fault::status(503).times(5).on_path(USERS), "GET", 503, (1, 3)),
        ("a POST is not retried by default",
            Fault::status(503).on_path(USERS), "POST", 503, (1, 1)),
        ("a refusal that persists with a new token is returned, not retried",
            Fault::status(403).times(5).on_path(USERS), "GET", 403, (2, 2)),
        ("the token request retries a gateway error",
            Fault::status(502).times(2).on_path("/token"), "GET", 200, (3, 1)),
    ];
    for (behaviour, fault, method, status, requests) in cases {
        let fake = fake();
        let session = session(&fake);
        fake.fail_next(fault).unwrap();
        let seen = call(&session, method).unwrap().status_code;
        let received = (fake.token_requests(), fake.api_requests());
        assert_eq!((seen, received), (status, requests), "{behaviour}");
    }
}

#[test]
fn a_429_is_retried_for_a_post_within_rate_limit_wait_only() {
    let fake = fake();
    let options = SessionOptions {
        rate_limit_wait: Some(std::time::Duration::from_millis(2500)),
        ..options(&fake)
    };
    let config = SessionConfig::new(fake.client_id(), fake.secret(), options).unwrap();
    let session = Arc::new(Session::new(config).unwrap());
    let throttled = FaultKind::Status {
        status: 429,
        retry_after: Some("0".to_owned()),
        retryable: None,
    };
    fake.fail_next(Fault::new(throttled).times(10).on_path(USERS))
        .unwrap();
    // Retried while the limiter's waits fit in 2.5 s, max_retries aside: it
    // falls to one place, then spaces the starts a round trip, then 1 s,
    // then 2 s apart, and the 2 s would not fit.
    let started = std::time::Instant::now();
    assert_eq!(call(&session, "POST").unwrap().status_code, 429);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(fake.api_requests(), 3);
}

#[test]
fn a_refused_token_is_renewed_once_and_the_call_resent() {
    let fake = fake();
    let session = session(&fake);
    assert_eq!(call(&session, "GET").unwrap().status_code, 200);
    fake.expire_tokens();
    assert_eq!(call(&session, "GET").unwrap().status_code, 200);
    assert_eq!((fake.token_requests(), fake.api_requests()), (2, 3));
}

#[test]
fn the_token_request_reports_the_status_after_its_last_retry() {
    let fake = fake();
    let session = session(&fake);
    fake.fail_next(Fault::status(503).times(5).on_path("/token"))
        .unwrap();
    let error = call(&session, "GET").unwrap_err();
    assert!(matches!(error, Error::HttpStatus { .. }), "{error:?}");
    assert_eq!((fake.token_requests(), fake.api_requests()), (3, 0));
}

fn msp_session(fake: &FakeServer) -> Arc<Session> {
    let options = SessionOptions {
        msp: true,
        ..options(fake)
    };
    let config = SessionConfig::new(fake.client_id(), fake.secret(), options).unwrap();
    Arc::new(Session::new(config).unwrap())
}

fn exchanges(fake: &FakeServer) -> usize {
    fake.requests()
        .iter()
        .filter(|request| request.path.starts_with("/msp/v2/customers/"))
        .count()
}

#[test]
fn an_msp_session_exchanges_one_token_per_customer_and_renews_both_on_expiry() {
    let fake = start(FakeConfig {
        msp: true,
        customers: 2,
        ..FakeConfig::default()
    });
    let msp = msp_session(&fake);
    assert!(msp
        .config()
        .endpoints
        .token_url
        .path()
        .ends_with("/msp/auth/v1/token"));
    let ids = fake.customer_ids();
    let tenant = msp.customer(&ids[0]).unwrap();
    assert_eq!(call(&tenant, "GET").unwrap().status_code, 200);
    assert_eq!(call(&tenant, "GET").unwrap().status_code, 200);
    assert_eq!((fake.token_requests(), exchanges(&fake)), (2, 1));
    // The MSP token itself reads no tenant's data (its 403 costs one renewal).
    assert_eq!(call(&msp, "GET").unwrap().status_code, 403);
    assert_eq!((fake.token_requests(), exchanges(&fake)), (3, 1));
    // Both tokens expire together: the tenant's renewal renews the MSP
    // token when the exchange refuses it.
    fake.expire_tokens();
    assert_eq!(call(&tenant, "GET").unwrap().status_code, 200);
    assert_eq!((fake.token_requests(), exchanges(&fake)), (6, 3));
    // Not an MSP session, or not a customer ID: refused before any I/O.
    let plain = session(&fake);
    assert!(matches!(
        plain.customer(&ids[1]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        msp.customer(""),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        tenant.customer(&ids[1]),
        Err(Error::InvalidArgument { .. })
    ));
}
