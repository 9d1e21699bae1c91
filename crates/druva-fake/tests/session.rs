//! A core session against the fake server: the retry loop, token renewal and
//! the token request's own retries, end to end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;

use druva_core::endpoint::Endpoints;
use druva_core::errors::Error;
use druva_core::http::ClientOptions;
use druva_core::response::Response;
use druva_core::runtime::block_on;
use druva_core::session::{Call, Session, SessionConfig};
use druva_core::token::Credentials;
use druva_fake::{FakeConfig, FakeServer, Fault};

const USERS: &str = "/insync/usermanagement/v1/users";

fn fake() -> FakeServer {
    FakeServer::start(FakeConfig::default()).unwrap()
}

fn session(fake: &FakeServer) -> Arc<Session> {
    let config = SessionConfig {
        endpoints: Endpoints::resolve("cloud", Some(fake.base_url()), None).unwrap(),
        credentials: Arc::new(Credentials::new(fake.client_id(), fake.secret()).unwrap()),
        scope: None,
        timeout: Duration::from_secs(10),
        max_retries: 2,
        leeway: Duration::from_secs(60),
        client_options: ClientOptions {
            ca_bundle: None,
            proxy: Some(String::new()),
        },
        max_response_bytes: 1024 * 1024,
    };
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
fn a_gateway_error_is_retried_until_the_call_succeeds() {
    let fake = fake();
    let session = session(&fake);
    fake.fail_next(Fault::status(503).times(2).on_path(USERS))
        .unwrap();
    assert_eq!(call(&session, "GET").unwrap().status_code, 200);
    assert_eq!(fake.api_requests(), 3);
}

#[test]
fn after_the_last_retry_an_api_call_returns_the_last_response() {
    let fake = fake();
    let session = session(&fake);
    fake.fail_next(Fault::status(429).times(5).on_path(USERS))
        .unwrap();
    assert_eq!(call(&session, "GET").unwrap().status_code, 429);
    assert_eq!(fake.api_requests(), 3);
}

#[test]
fn a_post_is_not_retried_by_default() {
    let fake = fake();
    let session = session(&fake);
    fake.fail_next(Fault::status(503).on_path(USERS)).unwrap();
    assert_eq!(call(&session, "POST").unwrap().status_code, 503);
    assert_eq!(fake.api_requests(), 1);
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
fn a_refusal_that_persists_with_a_new_token_is_returned_not_retried() {
    let fake = fake();
    let session = session(&fake);
    fake.fail_next(Fault::status(403).times(5).on_path(USERS))
        .unwrap();
    assert_eq!(call(&session, "GET").unwrap().status_code, 403);
    assert_eq!((fake.token_requests(), fake.api_requests()), (2, 2));
}

#[test]
fn the_token_request_retries_and_then_reports_the_status() {
    let fake = fake();
    let session = session(&fake);
    fake.fail_next(Fault::status(502).times(2).on_path("/token"))
        .unwrap();
    assert_eq!(call(&session, "GET").unwrap().status_code, 200);
    assert_eq!(fake.token_requests(), 3);

    let fake = self::fake();
    let session = self::session(&fake);
    fake.fail_next(Fault::status(503).times(5).on_path("/token"))
        .unwrap();
    let error = call(&session, "GET").unwrap_err();
    assert!(matches!(error, Error::HttpStatus { .. }), "{error:?}");
    assert_eq!((fake.token_requests(), fake.api_requests()), (3, 0));
}
