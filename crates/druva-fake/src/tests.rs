//! The fake server seen from a real HTTP client, as druva's own client and
//! tests see it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::*;
use druva_core::errors::Error;
use druva_core::runtime::block_on;

const USERS: &str = "/insync/usermanagement/v1/users";
const EVENTS: &str = "/insync/eventmanagement/v2/events";

/// A response read to its end, or the error that cut it short.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: bytes::Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A client that ignores proxy variables, so loopback traffic stays local.
fn client() -> reqwest::Client {
    client_with(None)
}

fn client_with(ca_bundle: Option<&Path>) -> reqwest::Client {
    reqwest::Client::clone(&loopback_client(ca_bundle).unwrap())
}

fn start(config: FakeConfig) -> FakeServer {
    FakeServer::start(config).unwrap()
}

fn fake() -> FakeServer {
    start(FakeConfig::default())
}

fn send(request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
    block_on(async move {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    })
    .unwrap()
}

/// The grant of every token request.
const GRANT: (&str, &str) = ("grant_type", "client_credentials");

fn token_request(fake: &FakeServer, client_id: &str, secret: &str) -> reqwest::RequestBuilder {
    client()
        .post(fake.token_url())
        .basic_auth(client_id, Some(secret))
        .form(&[GRANT])
}

/// A token request from `client` to `url` with `fake`'s own credentials
/// and `form`.
fn token_post(
    client: &reqwest::Client,
    url: &str,
    fake: &FakeServer,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .basic_auth(fake.client_id(), Some(fake.secret()))
        .form(form)
}

fn get_token(fake: &FakeServer) -> String {
    let reply = send(token_request(fake, fake.client_id(), fake.secret())).unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

fn api_get(fake: &FakeServer, path_and_query: &str, token: &str) -> reqwest::RequestBuilder {
    client()
        .get(format!("{}{path_and_query}", fake.base_url()))
        .bearer_auth(token)
}

fn get_json(fake: &FakeServer, path_and_query: &str, token: &str) -> Value {
    let reply = send(api_get(fake, path_and_query, token)).unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    reply.json()
}

/// A fake of `users` users (three events each) that pages by `page_size`,
/// and a token for it.
fn paged(users: usize, page_size: usize) -> (FakeServer, String) {
    let fake = start(FakeConfig {
        users,
        page_size,
        ..FakeConfig::default()
    });
    let token = get_token(&fake);
    (fake, token)
}

/// The string `field` of the 200 JSON answer to `path_and_query`.
fn get_text(fake: &FakeServer, path_and_query: &str, token: &str, field: &str) -> String {
    get_json(fake, path_and_query, token)[field]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asserts that each of `requests` (a path and query) is Druva's 400.
fn assert_bad_requests(fake: &FakeServer, token: &str, requests: &[String]) {
    for refused in requests {
        let reply = send(api_get(fake, refused, token)).unwrap();
        assert_eq!(reply.status, 400, "{refused}");
    }
}

#[test]
fn a_token_request_with_the_right_credentials_gets_a_bearer_token() {
    let fake = fake();
    let reply = send(token_request(&fake, fake.client_id(), fake.secret())).unwrap();
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    assert!(body["access_token"].as_str().unwrap().len() >= 80);
    assert!(body.get("scope").is_none());
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert_eq!((fake.token_requests(), fake.api_requests()), (1, 0));
}

#[test]
fn a_requested_scope_is_echoed() {
    let fake = fake();
    let form = [GRANT, ("scope", "read")];
    let request = token_post(&client(), &fake.token_url(), &fake, &form);
    assert_eq!(send(request).unwrap().json()["scope"], "read");
}

#[test]
fn wrong_or_missing_credentials_are_invalid_grant_and_still_counted() {
    let fake = fake();
    let wrong = send(token_request(&fake, fake.client_id(), "wrong")).unwrap();
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["error"], "invalid_grant");
    assert!(wrong.json()["error_description"].is_string());
    let anonymous = client().post(fake.token_url()).form(&[GRANT]);
    assert_eq!(send(anonymous).unwrap().json()["error"], "invalid_grant");
    assert_eq!(fake.token_requests(), 2);
}

#[test]
fn a_wrong_grant_type_is_unsupported_grant_type() {
    let fake = fake();
    let form = [("grant_type", "password")];
    let request = token_post(&client(), &fake.token_url(), &fake, &form);
    let reply = send(request).unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "unsupported_grant_type");
}

#[test]
fn a_secret_containing_colons_is_accepted() {
    let fake = start(FakeConfig {
        client_id: Some("my-client".into()),
        secret: Some("se:cr+et/==".into()),
        ..FakeConfig::default()
    });
    assert_eq!(
        (fake.client_id(), fake.secret()),
        ("my-client", "se:cr+et/==")
    );
    get_token(&fake);
}

#[test]
fn generated_credentials_differ_per_server() {
    let (first, second) = (fake(), fake());
    assert_eq!(first.client_id().len(), 32);
    assert_ne!(first.client_id(), second.client_id());
    assert_ne!(first.secret(), second.secret());
}

#[test]
fn the_api_answers_401_without_a_token_and_403_with_an_unknown_one() {
    let fake = fake();
    let anonymous = send(client().get(format!("{}{USERS}", fake.base_url()))).unwrap();
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["message"], "Unauthorized");
    let unknown = send(api_get(&fake, USERS, "not-a-token")).unwrap();
    assert_eq!(unknown.status, 403);
    assert_eq!(unknown.json()["message"], envelope::EXPLICIT_DENY);
    assert_eq!((fake.token_requests(), fake.api_requests()), (0, 2));
}

#[test]
fn requests_are_recorded_with_the_auth_scheme_only() {
    let fake = fake();
    let token = get_token(&fake);
    get_json(&fake, &format!("{USERS}?pageSize=5"), &token);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let (token_request, api_request) = (&requests[0], &requests[1]);
    assert_eq!(token_request.kind, RequestKind::Token);
    assert_eq!(token_request.auth_scheme.as_deref(), Some("Basic"));
    assert_eq!(api_request.kind, RequestKind::Api);
    assert_eq!(api_request.method, "GET");
    assert_eq!(api_request.path, USERS);
    assert_eq!(api_request.query.as_deref(), Some("pageSize=5"));
    assert_eq!(api_request.auth_scheme.as_deref(), Some("Bearer"));
    assert!(api_request.bearer_valid);
    let recorded = format!("{requests:?}");
    assert!(!recorded.contains(&token) && !recorded.contains(fake.secret()));
    fake.reset_counters();
    assert_eq!((fake.token_requests(), fake.requests().len()), (0, 0));
}

#[test]
fn expire_tokens_refuses_every_issued_token_but_not_new_ones() {
    let fake = fake();
    let old = get_token(&fake);
    fake.expire_tokens();
    assert_eq!(send(api_get(&fake, USERS, &old)).unwrap().status, 403);
    let new = get_token(&fake);
    assert_eq!(send(api_get(&fake, USERS, &new)).unwrap().status, 200);
}

#[test]
fn a_token_is_refused_after_its_real_lifetime_even_below_a_second() {
    let fake = start(FakeConfig {
        token_lifetime: Duration::from_millis(400),
        ..FakeConfig::default()
    });
    let reply = send(token_request(&fake, fake.client_id(), fake.secret())).unwrap();
    assert_eq!(reply.json()["expires_in"], 0);
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(send(api_get(&fake, USERS, &token)).unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(send(api_get(&fake, USERS, &token)).unwrap().status, 403);
    fake.set_token_lifetime(Duration::from_secs(2));
    let reply = send(token_request(&fake, fake.client_id(), fake.secret())).unwrap();
    assert_eq!(reply.json()["expires_in"], 2);
}

/// Follows `nextPageToken` the way a client must: missing, `""` and `null`
/// all end the listing.
fn page_through_users(fake: &FakeServer, token: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            None => USERS.to_owned(),
            Some(page_token) => format!("{USERS}?pageToken={}", urlencode(page_token)),
        };
        let page = get_json(fake, &path, token);
        assert_eq!(page["totalSize"], 250);
        ids.extend(
            page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|user| user["userID"].as_u64().unwrap()),
        );
        match page.get("nextPageToken").and_then(Value::as_str) {
            Some(page_token) if !page_token.is_empty() => next = Some(page_token.to_owned()),
            _ => return ids,
        }
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[test]
fn paging_through_all_users_takes_one_request_a_page_for_each_last_page_form() {
    for (form, expected) in [
        (LastPage::Missing, None),
        (LastPage::Empty, Some(Value::from(""))),
        (LastPage::Null, Some(Value::Null)),
    ] {
        let fake = start(FakeConfig {
            last_page: form,
            ..FakeConfig::default()
        });
        let token = get_token(&fake);
        let ids = page_through_users(&fake, &token);
        assert_eq!(ids, (1..=250).collect::<Vec<u64>>(), "{form:?}");
        assert_eq!(fake.api_requests(), 3, "{form:?}");
        let last = get_json(&fake, &format!("{USERS}?pageSize=1000"), &token);
        assert_eq!(last.get("nextPageToken").cloned(), expected, "{form:?}");
    }
}

#[test]
fn set_last_page_changes_the_form_of_later_pages() {
    let fake = fake();
    let token = get_token(&fake);
    fake.set_last_page(LastPage::Null);
    let page = get_json(&fake, "/phoenix/organization/v1/orgs", &token);
    assert_eq!(page["nextPageToken"], Value::Null);
    assert_eq!(page["orgs"].as_array().unwrap().len(), 3);
}

#[test]
fn page_size_is_honoured_and_capped_and_bad_page_tokens_are_refused() {
    let fake = start(FakeConfig {
        users: 5000,
        ..FakeConfig::default()
    });
    let token = get_token(&fake);
    let small = get_json(&fake, &format!("{USERS}?pageSize=7"), &token);
    assert_eq!(small["users"].as_array().unwrap().len(), 7);
    let next = small["nextPageToken"].as_str().unwrap();
    let second = get_json(
        &fake,
        &format!("{USERS}?pageToken={}", urlencode(next)),
        &token,
    );
    assert_eq!(
        second["users"].as_array().unwrap().len(),
        7,
        "the token keeps the size"
    );
    assert_eq!(second["users"][0]["userID"], 8);
    let not_alone = send(api_get(
        &fake,
        &format!("{USERS}?pageSize=7&pageToken={}", urlencode(next)),
        &token,
    ))
    .unwrap();
    assert_eq!(not_alone.status, 400);
    let capped = get_json(&fake, &format!("{USERS}?pageSize=100000"), &token);
    assert_eq!(capped["users"].as_array().unwrap().len(), MAX_PAGE_SIZE);
    let bad = send(api_get(&fake, &format!("{USERS}?pageToken=%21%21"), &token)).unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["code"], "InsyncCommon-400");
    assert_eq!(bad.json()["retryable"], false);
    let devices = get_json(&fake, "/insync/endpoints/v1/devices?pageSize=4097", &token);
    assert_eq!(devices["devices"].as_array().unwrap().len(), 4097);
}

#[test]
fn events_page_with_a_tracker_until_no_next_page_exists() {
    // 600 events, at Druva's 500 a call whatever the page size.
    let (fake, token) = paged(200, 7);
    let mut ids = BTreeSet::new();
    let mut path = EVENTS.to_owned();
    loop {
        let page = get_json(&fake, &path, &token);
        for event in page["events"].as_array().unwrap() {
            assert!(ids.insert(event["eventID"].as_u64().unwrap()));
        }
        let tracker = page["tracker"].as_str().unwrap();
        path = format!("{EVENTS}?tracker={}", urlencode(tracker));
        if page["nextPageExists"] == false {
            break;
        }
    }
    assert_eq!(ids.len(), 600);
    assert_eq!(fake.api_requests(), 2);
    let caught_up = get_json(&fake, &path, &token);
    assert_eq!(caught_up["events"], serde_json::json!([]));
    assert_eq!(caught_up["nextPageExists"], false);
    let bad = send(api_get(&fake, &format!("{EVENTS}?tracker=nope"), &token)).unwrap();
    assert_eq!(
        (bad.status, bad.json()["message"].clone()),
        (400, "Invalid tracker".into())
    );
}

#[test]
fn the_data_set_is_seeded() {
    let read = |seed| {
        let fake = start(FakeConfig {
            seed,
            users: 20,
            ..FakeConfig::default()
        });
        let token = get_token(&fake);
        get_json(&fake, USERS, &token)["users"].clone()
    };
    assert_eq!(read(3), read(3));
    assert_ne!(read(3), read(4));
}

#[test]
fn users_can_be_read_created_changed_and_deleted() {
    let fake = fake();
    let token = get_token(&fake);
    let user = get_json(&fake, &format!("{USERS}/1"), &token);
    assert_eq!(user["userID"], 1);
    for field in [
        "userName",
        "emailID",
        "profileID",
        "storageID",
        "status",
        "addedOn",
    ] {
        assert!(user.get(field).is_some(), "missing {field}");
    }
    let base = fake.base_url().to_owned();
    let created = send(
        client()
            .post(format!("{base}{USERS}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"userName": "New", "emailID": "new@example.com"})),
    )
    .unwrap();
    assert_eq!(created.status, 201);
    let id = created.json()["userID"].as_u64().unwrap();
    assert_eq!(id, 251);
    let patched = send(
        client()
            .patch(format!("{base}{USERS}/{id}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"status": "preserved"})),
    )
    .unwrap();
    assert_eq!(patched.json()["status"], "preserved");
    let deleted = send(
        client()
            .delete(format!("{base}{USERS}/{id}"))
            .bearer_auth(&token),
    )
    .unwrap();
    assert_eq!((deleted.status, deleted.body.len()), (204, 0));
    let gone = send(api_get(&fake, &format!("{USERS}/{id}"), &token)).unwrap();
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["retryable"], false);
}

#[test]
fn unknown_paths_and_methods_get_druvas_error_envelope() {
    let fake = fake();
    let token = get_token(&fake);
    let missing = send(api_get(&fake, "/insync/nothing/v1/here", &token)).unwrap();
    assert_eq!(missing.status, 404);
    let body = missing.json();
    assert_eq!(body["code"], "InsyncCommon-404");
    assert_eq!(body["data"], serde_json::json!({}));
    let wrong_method = send(
        client()
            .delete(format!("{}/insync/endpoints/v1/devices", fake.base_url()))
            .bearer_auth(&token),
    )
    .unwrap();
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json()["code"], "InsyncCommon-405");
    let profiles = get_json(&fake, "/insync/profilemanagement/v1/profiles", &token);
    assert_eq!(profiles["profiles"].as_array().unwrap().len(), 5);
    assert_eq!(profiles["nextPageToken"], "");
}

#[test]
fn echo_shows_the_request_but_only_the_scheme_of_its_authorization() {
    let fake = fake();
    let token = get_token(&fake);
    let reply = send(
        client()
            .put(format!("{}/_echo/sub?a=1&b=2&b=3", fake.base_url()))
            .bearer_auth(&token)
            .header("X-Custom", "yes")
            .json(&serde_json::json!({"k": [1, 2]})),
    )
    .unwrap();
    let echo = reply.json();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/_echo/sub");
    assert_eq!(echo["query"], "a=1&b=2&b=3");
    assert_eq!(echo["args"], serde_json::json!({"a": "1", "b": ["2", "3"]}));
    assert_eq!(echo["headers"]["x-custom"], "yes");
    assert_eq!(echo["headers"]["authorization"], "Bearer");
    assert_eq!(echo["json"], serde_json::json!({"k": [1, 2]}));
    assert_eq!(echo["body"], r#"{"k":[1,2]}"#);
    assert!(!String::from_utf8_lossy(&reply.body).contains(&token));
}

#[test]
fn a_status_fault_answers_instead_with_retry_after_and_counts() {
    let fake = fake();
    let token = get_token(&fake);
    fake.fail_next(Fault::new(FaultKind::Status {
        status: 429,
        retry_after: Some("2".into()),
        retryable: None,
    }))
    .unwrap();
    fake.fail_next(Fault::new(FaultKind::Status {
        status: 503,
        retry_after: None,
        retryable: Some(true),
    }))
    .unwrap();
    let throttled = send(api_get(&fake, USERS, &token)).unwrap();
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.headers["retry-after"], "2");
    assert_eq!(throttled.json()["message"], "Too Many Requests");
    let unavailable = send(api_get(&fake, USERS, &token)).unwrap();
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.json()["retryable"], true);
    assert!(unavailable.headers.get("retry-after").is_none());
    assert_eq!(send(api_get(&fake, USERS, &token)).unwrap().status, 200);
    assert_eq!((fake.token_requests(), fake.api_requests()), (1, 3));
}

#[test]
fn an_injected_status_carries_retryable_only_when_asked() {
    let fake = fake();
    let token = get_token(&fake);
    for retryable in [None, Some(false), Some(true)] {
        for status in [500, 429, 403] {
            fake.fail_next(Fault::new(FaultKind::Status {
                status,
                retry_after: None,
                retryable,
            }))
            .unwrap();
            let reply = send(api_get(&fake, USERS, &token)).unwrap();
            assert_eq!(reply.status, status);
            let body = reply.json();
            assert_eq!(body.get("retryable").and_then(Value::as_bool), retryable);
        }
    }
    fake.fail_next(Fault::status(500)).unwrap();
    let body = send(api_get(&fake, USERS, &token)).unwrap().json();
    assert_eq!(body["code"], "InsyncCommon-500");
}

#[test]
fn a_fault_without_a_path_hits_the_token_endpoint_too() {
    let fake = fake();
    fake.fail_next(Fault::status(401)).unwrap();
    let refused = send(token_request(&fake, fake.client_id(), fake.secret())).unwrap();
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"], "invalid_client");
    get_token(&fake);
    assert_eq!(fake.token_requests(), 2);
}

#[test]
fn a_fault_with_a_path_waits_for_a_matching_request() {
    let fake = fake();
    fake.fail_next(Fault::status(500).on_path("/insync/endpoints").times(2))
        .unwrap();
    let token = get_token(&fake);
    get_json(&fake, USERS, &token);
    for _ in 0..2 {
        let reply = send(api_get(&fake, "/insync/endpoints/v1/devices", &token)).unwrap();
        assert_eq!(reply.status, 500);
    }
    get_json(&fake, "/insync/endpoints/v1/devices", &token);
    fake.fail_next(Fault::status(500)).unwrap();
    fake.clear_faults();
    get_json(&fake, USERS, &token);
}

/// A fake whose next answer comes after `delay`, and a token for it.
fn delaying(delay: Duration) -> (FakeServer, String) {
    let fake = fake();
    let token = get_token(&fake);
    fake.fail_next(Fault::new(FaultKind::Delay(delay))).unwrap();
    (fake, token)
}

#[test]
fn a_delay_fault_answers_normally_after_the_delay() {
    let (fake, token) = delaying(Duration::from_millis(300));
    let started = Instant::now();
    let reply = send(api_get(&fake, USERS, &token)).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["users"].as_array().unwrap().len(), 100);
}

#[test]
fn a_drop_fault_closes_the_connection_before_any_response() {
    let fake = fake();
    // One client for everything, so the dropped connection is a pooled one.
    let client = client();
    let token_request = token_post(&client, &fake.token_url(), &fake, &[GRANT]);
    let token = send(token_request).unwrap().json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.fail_next(Fault::new(FaultKind::Drop {
        after_headers: false,
    }))
    .unwrap();
    let users = format!("{}{USERS}", fake.base_url());
    let error = send(client.get(&users).bearer_auth(&token)).err().unwrap();
    assert!(error.is_request() && !error.is_connect(), "{error:?}");
    assert_eq!(fake.api_requests(), 1, "the client must not have retried");
    assert_eq!(
        send(client.get(&users).bearer_auth(&token)).unwrap().status,
        200
    );
}

#[test]
fn a_drop_after_headers_fault_cuts_the_body() {
    let fake = fake();
    let token = get_token(&fake);
    fake.fail_next(Fault::new(FaultKind::Drop {
        after_headers: true,
    }))
    .unwrap();
    let request = api_get(&fake, USERS, &token);
    let status = block_on(async move {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.bytes().await.is_err())
    })
    .unwrap();
    assert_eq!(status, (200, true));
}

#[test]
fn a_truncated_fault_sends_less_than_its_content_length() {
    let fake = fake();
    let token = get_token(&fake);
    fake.fail_next(Fault::new(FaultKind::Truncated)).unwrap();
    let error = send(api_get(&fake, USERS, &token)).err().unwrap();
    assert!(error.is_body() || error.is_decode(), "{error:?}");
}

#[test]
fn a_malformed_json_fault_is_a_200_that_does_not_parse() {
    let fake = fake();
    fake.fail_next(Fault::new(FaultKind::MalformedJson))
        .unwrap();
    let reply = send(token_request(&fake, fake.client_id(), fake.secret())).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
}

#[test]
fn a_redirect_fault_sends_the_client_elsewhere() {
    let fake = fake();
    let token = get_token(&fake);
    fake.fail_next(Fault::new(FaultKind::Redirect {
        location: "/_echo".into(),
        status: 307,
    }))
    .unwrap();
    let reply = send(api_get(&fake, USERS, &token)).unwrap();
    assert_eq!(reply.json()["path"], "/_echo");
    assert_eq!(reply.json()["headers"]["authorization"], "Bearer");
    assert_eq!(fake.api_requests(), 2);
}

#[test]
fn a_huge_body_fault_streams_exactly_the_asked_bytes() {
    let fake = fake();
    let token = get_token(&fake);
    let bytes = 5 * 1024 * 1024 + 3;
    fake.fail_next(Fault::new(FaultKind::HugeBody { bytes }))
        .unwrap();
    let reply = send(api_get(&fake, USERS, &token)).unwrap();
    assert_eq!(reply.headers["content-length"], bytes.to_string().as_str());
    assert_eq!(reply.body.len() as u64, bytes);
    assert_eq!(reply.json(), serde_json::json!([]));
}

#[test]
fn tls_is_trusted_with_the_ca_bundle_and_refused_without_it() {
    let fake = start(FakeConfig {
        tls: true,
        ..FakeConfig::default()
    });
    assert!(fake.base_url().starts_with("https://127.0.0.1:"));
    let ca = fake.ca_pem_path().unwrap().to_path_buf();
    assert!(std::fs::read_to_string(&ca)
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    let trusted = token_post(&client_with(Some(&ca)), &fake.token_url(), &fake, &[GRANT]);
    assert_eq!(send(trusted).unwrap().status, 200);
    let localhost = fake.token_url().replace("127.0.0.1", "localhost");
    let by_name = token_post(&client_with(Some(&ca)), &localhost, &fake, &[GRANT]);
    assert_eq!(send(by_name).unwrap().status, 200);
    let untrusted = send(client().post(fake.token_url())).err().unwrap();
    assert!(untrusted.is_connect(), "{untrusted:?}");
    fake.stop();
    assert!(!ca.exists(), "the CA file outlived the server");
}

#[test]
fn stop_is_idempotent_and_closes_the_port() {
    let fake = fake();
    let url = fake.token_url();
    assert!(fake.is_running());
    fake.stop();
    fake.stop();
    assert!(!fake.is_running());
    let error = send(client().post(url)).err().unwrap();
    assert!(error.is_connect(), "{error:?}");
}

#[test]
fn stop_does_not_wait_long_for_a_slow_request() {
    let (fake, token) = delaying(Duration::from_secs(30));
    let slow = druva_core::runtime::Pending::spawn(api_get(&fake, USERS, &token).send()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    fake.stop();
    assert!(started.elapsed() < Duration::from_secs(4));
    drop(slow);
}

#[test]
fn a_fixed_port_in_use_is_an_error() {
    let first = fake();
    let error = FakeServer::start(FakeConfig {
        port: first.port(),
        ..FakeConfig::default()
    })
    .unwrap_err();
    assert!(error.to_string().contains("could not listen"), "{error}");
}

#[test]
fn bad_configurations_are_value_errors() {
    for config in [
        FakeConfig {
            page_size: 0,
            ..FakeConfig::default()
        },
        FakeConfig {
            page_size: 4098,
            ..FakeConfig::default()
        },
        FakeConfig {
            client_id: Some("a:b".into()),
            ..FakeConfig::default()
        },
        FakeConfig {
            secret: Some(String::new()),
            ..FakeConfig::default()
        },
    ] {
        let error = FakeServer::start(config).unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
    }
}

#[test]
fn concurrent_requests_are_all_served_and_counted() {
    let fake = fake();
    let requests: Vec<_> = (0..50)
        .map(|_| token_request(&fake, fake.client_id(), fake.secret()).send())
        .collect();
    let statuses = block_on(async move {
        futures::future::join_all(requests)
            .await
            .into_iter()
            .map(|response| response.map(|response| response.status().as_u16()).ok())
            .collect::<Vec<_>>()
    })
    .unwrap();
    assert!(statuses.iter().all(|status| *status == Some(200)));
    assert_eq!(fake.token_requests(), 50);
}

#[test]
fn a_server_can_be_dropped_inside_async_code() {
    let fake = fake();
    let url = fake.token_url();
    block_on(async move { drop(fake) }).unwrap();
    let error = send(client().post(url)).err().unwrap();
    assert!(error.is_connect(), "{error:?}");
}

const CYBER_RESILIENCE: &str = "/realize/eventmanagement/v1/events/tracker";
const PLATFORM_V2: &str = "/platform/eventmanagement/v2/events";
const V3: &str = "/msp/v3/customers";

/// Reads a stream from `first` to its end, each later page from `next`
/// applied to the cursor of the page before: the event IDs in order and
/// the last cursor.
fn read_stream(
    fake: &FakeServer,
    token: &str,
    first: &str,
    cursor_field: &str,
    next: impl Fn(&str) -> String,
) -> (Vec<u64>, String) {
    // Platform events carry their ID in `details`.
    let id = |event: &Value| {
        event
            .get("eventID")
            .or_else(|| event["details"].get("eventID"))
            .and_then(Value::as_u64)
            .unwrap()
    };
    let mut ids = Vec::new();
    let mut path = first.to_owned();
    let mut sent: Option<String> = None;
    for _ in 0..100 {
        let page = get_json(fake, &path, token);
        let events = page["events"].as_array().unwrap();
        ids.extend(events.iter().map(id));
        let cursor = page[cursor_field].as_str().unwrap().to_owned();
        if events.is_empty() {
            return (ids, cursor);
        }
        path = next(&cursor);
        sent = Some(cursor);
    }
    panic!("the stream did not end; last cursor {sent:?}");
}

#[test]
fn cyber_resilience_events_page_with_tracker_tokens_and_grow() {
    let (fake, token) = paged(10, 4);
    let next = |cursor: &str| format!("{CYBER_RESILIENCE}?trackerToken={}", urlencode(cursor));
    let (ids, last) = read_stream(&fake, &token, CYBER_RESILIENCE, "nextTrackerToken", next);
    assert_eq!(ids, (1..=30).collect::<Vec<u64>>());
    let caught_up = get_json(&fake, &next(&last), &token);
    assert_eq!(caught_up["events"], serde_json::json!([]));
    assert_eq!(
        caught_up["nextTrackerToken"],
        last.as_str(),
        "the same place"
    );
    fake.add_events(3).unwrap();
    let (new, _) = read_stream(&fake, &token, &next(&last), "nextTrackerToken", next);
    assert_eq!(new, [31, 32, 33]);
    let first = get_json(&fake, CYBER_RESILIENCE, &token);
    let event = &first["events"][0];
    for field in ["eventType", "eventTime", "severity", "globalID", "sourceIP"] {
        assert!(event.get(field).is_some(), "{field} in {event}");
    }
    assert_bad_requests(
        &fake,
        &token,
        &[
            format!("{CYBER_RESILIENCE}?trackerToken=nope"),
            format!("{CYBER_RESILIENCE}?pageToken=x"),
            format!("{CYBER_RESILIENCE}?ignoreTrackerExpiry=True"),
        ],
    );
}

#[test]
fn platform_events_v2_page_with_page_tokens_alone_or_beside_the_connectors_parameters() {
    let (fake, token) = paged(10, 7);
    let first = format!("{PLATFORM_V2}?source=Platform");
    let alone = |cursor: &str| format!("{PLATFORM_V2}?pageToken={}", urlencode(cursor));
    let (ids, last) = read_stream(&fake, &token, &first, "nextPageToken", alone);
    assert_eq!(ids, (1..=30).collect::<Vec<u64>>());
    let connector = |cursor: &str| {
        format!(
            "{PLATFORM_V2}?ignoreTrackerExpiry=True&source=Platform&pageToken={}",
            urlencode(cursor)
        )
    };
    let (same, _) = read_stream(&fake, &token, PLATFORM_V2, "nextPageToken", connector);
    assert_eq!(same, ids);
    fake.add_events(2).unwrap();
    let (new, _) = read_stream(&fake, &token, &alone(&last), "nextPageToken", alone);
    assert_eq!(new, [31, 32]);
    assert_bad_requests(
        &fake,
        &token,
        &[
            format!("{PLATFORM_V2}?source=inSync"),
            format!("{PLATFORM_V2}?pageSize=5"),
            format!("{}&pageSize=5", alone(&last)),
            format!("{PLATFORM_V2}?pageToken=nope"),
            format!("{PLATFORM_V2}?ignoreTrackerExpiry=maybe"),
        ],
    );
}

#[test]
fn an_expired_events_v2_tracker_is_refused_unless_the_request_ignores_expiry() {
    let fake = start(FakeConfig {
        users: 10,
        tracker_ttl: Some(Duration::from_millis(100)),
        ..FakeConfig::default()
    });
    let token = get_token(&fake);
    let insync = get_text(&fake, EVENTS, &token, "tracker");
    let first = format!("{PLATFORM_V2}?source=Platform");
    let platform = get_text(&fake, &first, &token, "nextPageToken");
    let ignoring = format!("{PLATFORM_V2}?ignoreTrackerExpiry=True");
    let carried = get_text(&fake, &ignoring, &token, "nextPageToken");
    let realize = get_text(&fake, CYBER_RESILIENCE, &token, "nextTrackerToken");
    std::thread::sleep(Duration::from_millis(300));
    let insync = format!("{EVENTS}?tracker={}", urlencode(&insync));
    let platform = format!("{PLATFORM_V2}?pageToken={}", urlencode(&platform));
    for expired in [&insync, &platform] {
        let reply = send(api_get(&fake, expired, &token)).unwrap();
        assert_eq!(reply.status, 403, "{expired}");
        assert_eq!(reply.json()["message"], envelope::EXPLICIT_DENY);
        for ignore in ["True", "true", "TRUE"] {
            let let_through = format!("{expired}&ignoreTrackerExpiry={ignore}");
            get_json(&fake, &let_through, &token);
        }
        let still = format!("{expired}&ignoreTrackerExpiry=false");
        assert_eq!(send(api_get(&fake, &still, &token)).unwrap().status, 403);
    }
    // A stream begun with ignoreTrackerExpiry=True keeps it in its tokens;
    // Cyber Resilience tokens do not expire.
    get_json(
        &fake,
        &format!("{PLATFORM_V2}?pageToken={}", urlencode(&carried)),
        &token,
    );
    get_json(
        &fake,
        &format!("{CYBER_RESILIENCE}?trackerToken={}", urlencode(&realize)),
        &token,
    );
}

#[test]
fn a_rate_limit_answers_429_without_retry_after_beyond_its_rate_and_spares_tokens() {
    let fake = start(FakeConfig {
        rate_limit: Some(1),
        ..FakeConfig::default()
    });
    let token = get_token(&fake);
    let statuses: Vec<(u16, bool)> = (0..5)
        .map(|_| {
            let reply = send(api_get(&fake, USERS, &token)).unwrap();
            (reply.status, reply.headers.contains_key("retry-after"))
        })
        .collect();
    assert_eq!(statuses.first(), Some(&(200, false)), "a full bucket");
    assert!(statuses.contains(&(429, false)), "{statuses:?}");
    for _ in 0..3 {
        get_token(&fake);
    }
}

#[test]
fn msp_v3_customers_page_by_at_most_100_with_the_page_token_alone() {
    let fake = start(FakeConfig {
        msp: true,
        customers: 5,
        users: 2,
        ..FakeConfig::default()
    });
    let token = get_token(&fake);
    let mut ids = Vec::new();
    let mut path = format!("{V3}?pageSize=2");
    for _ in 0..10 {
        let page = get_json(&fake, &path, &token);
        let customers = page["customers"].as_array().unwrap();
        assert!(customers.len() <= 2);
        ids.extend(
            customers
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => {
                path = format!("{V3}?pageToken={}", urlencode(next));
            }
            _ => break,
        }
    }
    assert_eq!(ids, fake.customer_ids());
    let next = get_text(&fake, &format!("{V3}?pageSize=2"), &token, "nextPageToken");
    let with_features = get_json(&fake, &format!("{V3}?includeFeatures=true"), &token);
    assert!(with_features["customers"][0]["features"].is_array());
    assert!(get_json(&fake, V3, &token)["customers"][0]
        .get("features")
        .is_none());
    assert_bad_requests(
        &fake,
        &token,
        &[
            format!("{V3}?pageSize=0"),
            format!("{V3}?pageSize=101"),
            format!("{V3}?includeFeatures=yes"),
            format!("{V3}?pageToken={}&pageSize=2", urlencode(&next)),
            format!("{V3}?pageToken={}&pageSize=", urlencode(&next)),
            format!("{V3}?pageToken={}&includeFeatures=true", urlencode(&next)),
        ],
    );
}
