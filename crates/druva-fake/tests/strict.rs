//! `FakeDruva` as strict as Druva: every 400 rule of the lists and streams,
//! events v2 and v3 resumption, Reporting API paging, the MSP credential and
//! tenant isolation, latency and `max_in_flight`, and the checks of the
//! configuration. Seen from a plain HTTP client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use druva_core::errors::Error;
use druva_core::runtime::block_on;
use druva_fake::{CaughtUp, FakeConfig, FakeServer};
use serde_json::{json, Value};

mod common;
use common::{start, USERS};

const DEVICES: &str = "/insync/endpoints/v1/devices";
const BACKUPS: &str = "/insync/endpoints/v1/backups";
const EVENTS_V2: &str = "/insync/eventmanagement/v2/events";
const EVENTS_V3: &str = "/platform/eventmanagement/v3/events";
const REPORTS: &str = "/platform/reporting/v1/reports";
const CUSTOMERS: &str = "/msp/v2/customers";

/// A client that ignores proxy variables, so loopback traffic stays local.
fn client() -> reqwest::Client {
    reqwest::Client::clone(&druva_fake::loopback_client(None).unwrap())
}

fn users(users: usize) -> FakeServer {
    start(FakeConfig {
        users,
        ..FakeConfig::default()
    })
}

/// The status and JSON body of a response.
fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    block_on(async move {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    })
    .unwrap()
}

fn basic_token(fake: &FakeServer, url: &str) -> (u16, Value) {
    send(
        client()
            .post(url)
            .basic_auth(fake.client_id(), Some(fake.secret()))
            .form(&[("grant_type", "client_credentials")]),
    )
}

/// A fake of `users` users, and a token for it.
fn users_and_token(users: usize) -> (FakeServer, String) {
    let fake = self::users(users);
    let token = token(&fake);
    (fake, token)
}

fn token(fake: &FakeServer) -> String {
    let (status, body) = basic_token(fake, &fake.token_url());
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn get(fake: &FakeServer, path: &str, query: &[(&str, &str)], token: &str) -> (u16, Value) {
    send(
        client()
            .get(format!("{}{path}", fake.base_url()))
            .query(query)
            .bearer_auth(token),
    )
}

fn ok(fake: &FakeServer, path: &str, query: &[(&str, &str)], token: &str) -> Value {
    let (status, body) = get(fake, path, query, token);
    assert_eq!(status, 200, "{path} {query:?}: {body}");
    body
}

fn post_json(fake: &FakeServer, path: &str, body: &Value, token: &str) -> (u16, Value) {
    send(
        client()
            .post(format!("{}{path}", fake.base_url()))
            .json(body)
            .bearer_auth(token),
    )
}

#[allow(clippy::needless_pass_by_value)] // called with a fresh reply
fn assert_bad_request(reply: (u16, Value), says: &str) {
    assert_eq!(reply.0, 400, "{}", reply.1);
    assert_eq!(reply.1["code"], "InsyncCommon-400", "{}", reply.1);
    let message = reply.1["message"].as_str().unwrap();
    assert!(message.contains(says), "{message:?} should say {says:?}");
}

/// A query, and what Druva's 400 to it says.
type BadQuery<'a> = (&'a [(&'a str, &'a str)], &'a str);

/// Asserts that a GET of `path` with each query is Druva's 400 saying so.
fn assert_bad_queries(fake: &FakeServer, path: &str, token: &str, queries: &[BadQuery<'_>]) {
    for &(query, says) in queries {
        assert_bad_request(get(fake, path, query, token), says);
    }
}

fn ids(items: &Value, key: &str) -> Vec<u64> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_u64().unwrap())
        .collect()
}

/// Every item of a page-token list, sending the token alone as Druva asks.
fn all_pages(
    fake: &FakeServer,
    path: &str,
    field: &str,
    query: &[(&str, &str)],
    token: &str,
) -> Vec<Value> {
    let mut items = Vec::new();
    let mut page = ok(fake, path, query, token);
    loop {
        items.extend(page[field].as_array().unwrap().iter().cloned());
        let next = page["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if next.is_empty() {
            return items;
        }
        page = ok(fake, path, &[("pageToken", &next)], token);
    }
}

/// A filter, its value, and which users it should keep.
type Case<'a> = (&'a str, String, Box<dyn Fn(&Value) -> bool + 'a>);

#[test]
fn every_documented_users_filter_is_honoured() {
    let (fake, token) = users_and_token(120);
    let every = all_pages(&fake, USERS, "users", &[], &token);
    assert_eq!(every.len(), 120);
    let user = &every[17];
    let email = user["emailID"].as_str().unwrap();
    let local = email.split('@').next().unwrap();
    let name = user["userName"].as_str().unwrap();
    let cases: Vec<Case<'_>> = vec![
        (
            "profileID",
            user["profileID"].to_string(),
            Box::new(|u: &Value| u["profileID"] == user["profileID"]),
        ),
        (
            "storageID",
            user["storageID"].to_string(),
            Box::new(|u: &Value| u["storageID"] == user["storageID"]),
        ),
        (
            "cacheID",
            user["cacheID"].to_string(),
            Box::new(|u: &Value| u["cacheID"] == user["cacheID"]),
        ),
        (
            "userIDs",
            "3,5,8".to_owned(),
            Box::new(|u: &Value| [3, 5, 8].contains(&u["userID"].as_u64().unwrap())),
        ),
        (
            "emailID",
            email.to_owned(),
            Box::new(|u: &Value| u["emailID"] == email),
        ),
        (
            "searchPrefixEmailID",
            local[..3].to_owned(),
            Box::new(|u: &Value| u["emailID"].as_str().unwrap().starts_with(&local[..3])),
        ),
        (
            "searchPrefixUserName",
            name[..3].to_owned(),
            Box::new(|u: &Value| u["userName"].as_str().unwrap().starts_with(&name[..3])),
        ),
        (
            "minAddedOn",
            "2023-07-01T00:00:00Z".to_owned(),
            Box::new(|u: &Value| u["addedOn"].as_str().unwrap() >= "2023-07-01T00:00:00Z"),
        ),
        (
            "maxAddedOn",
            "2023-03-01T00:00:00Z".to_owned(),
            Box::new(|u: &Value| u["addedOn"].as_str().unwrap() <= "2023-03-01T00:00:00Z"),
        ),
        (
            "status",
            "preserved".to_owned(),
            Box::new(|u: &Value| u["status"] == "preserved"),
        ),
        (
            "ldapGUID",
            user["ldapGUID"].as_str().unwrap().to_owned(),
            Box::new(|u: &Value| u["ldapGUID"] == user["ldapGUID"]),
        ),
        (
            "privacySettingsEnabled",
            "true".to_owned(),
            Box::new(|u: &Value| u["privacySettingsEnabled"] == true),
        ),
    ];
    for (name, value, expected) in cases {
        let found = all_pages(
            &fake,
            USERS,
            "users",
            &[(name, &value), ("pageSize", "7")],
            &token,
        );
        let wanted: Vec<&Value> = every.iter().filter(|u| expected(u)).collect();
        assert!(!wanted.is_empty(), "{name}={value} should match some user");
        assert!(wanted.len() < every.len(), "{name}={value} should filter");
        assert_eq!(found.iter().collect::<Vec<_>>(), wanted, "{name}={value}");
    }
}

#[test]
fn an_unknown_parameter_or_a_malformed_value_is_druvas_400() {
    let (fake, token) = users_and_token(5);
    assert_bad_request(
        get(&fake, USERS, &[("colour", "red")], &token),
        "Unknown parameter colour",
    );
    for (name, value) in [
        ("profileID", "one"),
        ("userIDs", "1,,2"),
        ("minAddedOn", "2023-13-01"),
        ("status", "deleted"),
        ("privacySettingsEnabled", "yes"),
    ] {
        assert_bad_request(get(&fake, USERS, &[(name, value)], &token), name);
    }
    assert_bad_request(
        get(&fake, DEVICES, &[("platformOS", "Windows")], &token),
        "platformOS",
    );
    assert_bad_request(get(&fake, DEVICES, &[("userID", "x")], &token), "userID");
}

#[test]
fn a_page_token_beside_any_other_parameter_is_refused_on_every_token_list() {
    let (fake, token) = users_and_token(30);
    for (path, first) in [
        (USERS, vec![("pageSize", "5")]),
        (DEVICES, vec![("pageSize", "5")]),
        (BACKUPS, vec![("lastSuccessful", "true"), ("pageSize", "5")]),
        ("/insync/endpoints/v1/restores", vec![("pageSize", "2")]),
        (
            "/insync/profilemanagement/v1/profiles",
            vec![("pageSize", "2")],
        ),
        (EVENTS_V3, vec![("pageSize", "5")]),
    ] {
        let page = ok(&fake, path, &first, &token);
        let next = page["nextPageToken"].as_str().unwrap().to_owned();
        assert!(!next.is_empty(), "{path} should have a second page");
        assert_bad_request(
            get(
                &fake,
                path,
                &[("pageToken", &next), ("pageSize", "5")],
                &token,
            ),
            "alone",
        );
        let alone = ok(&fake, path, &[("pageToken", &next)], &token);
        assert!(
            alone.as_object().unwrap().contains_key("nextPageToken"),
            "{path}"
        );
    }
}

#[test]
fn devices_filter_by_user_and_id() {
    let (fake, token) = users_and_token(40);
    let every = all_pages(&fake, DEVICES, "devices", &[], &token);
    let user_id = every[3]["userID"].as_u64().unwrap();
    let of_user = all_pages(
        &fake,
        DEVICES,
        "devices",
        &[("userID", &user_id.to_string())],
        &token,
    );
    assert!(!of_user.is_empty());
    assert!(of_user.iter().all(|d| d["userID"] == user_id));
    let chosen = format!("{},{}", every[0]["deviceID"], every[9]["deviceID"]);
    let by_id = all_pages(&fake, DEVICES, "devices", &[("deviceIDs", &chosen)], &token);
    assert_eq!(
        ids(&Value::from(by_id), "deviceID"),
        vec![
            every[0]["deviceID"].as_u64().unwrap(),
            every[9]["deviceID"].as_u64().unwrap()
        ]
    );
    let two_users = all_pages(&fake, DEVICES, "devices", &[("userIDs", "1,2")], &token);
    assert!(two_users
        .iter()
        .all(|d| [1, 2].contains(&d["userID"].as_u64().unwrap())));
}

#[test]
fn the_last_successful_backup_of_each_device_belongs_to_its_user() {
    let (fake, token) = users_and_token(25);
    assert_bad_request(get(&fake, BACKUPS, &[], &token), "lastSuccessful");
    assert_bad_request(
        get(&fake, BACKUPS, &[("lastSuccessful", "false")], &token),
        "lastSuccessful",
    );
    let devices = all_pages(&fake, DEVICES, "devices", &[], &token);
    let backups = all_pages(
        &fake,
        BACKUPS,
        "backups",
        &[("lastSuccessful", "true")],
        &token,
    );
    assert_eq!(
        ids(&Value::from(backups.clone()), "deviceID"),
        ids(&Value::from(devices.clone()), "deviceID")
    );
    for backup in &backups {
        assert!(backup["startTime"].as_str().unwrap() < backup["endTime"].as_str().unwrap());
        for field in [
            "backupStatus",
            "filesBackedUp",
            "bytesTransferred",
            "filesMissed",
            "snapshotSize",
            "systemSettingsBackedUp",
        ] {
            assert!(backup.get(field).is_some(), "{field} in {backup}");
        }
    }
    let user_id = devices[0]["userID"].to_string();
    let of_user = all_pages(
        &fake,
        BACKUPS,
        "backups",
        &[("lastSuccessful", "true"), ("userID", &user_id)],
        &token,
    );
    let expected: Vec<&Value> = devices
        .iter()
        .filter(|d| d["userID"] == devices[0]["userID"])
        .map(|d| &d["deviceID"])
        .collect();
    assert_eq!(
        of_user.iter().map(|b| &b["deviceID"]).collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn restores_storages_and_profiles_have_druvas_shapes() {
    let (fake, token) = users_and_token(40);
    let devices = all_pages(&fake, DEVICES, "devices", &[], &token);
    let restores = all_pages(
        &fake,
        "/insync/endpoints/v1/restores",
        "restores",
        &[],
        &token,
    );
    assert!(!restores.is_empty());
    for restore in &restores {
        let device = devices
            .iter()
            .find(|d| d["deviceID"] == restore["deviceID"])
            .unwrap();
        assert_eq!(device["userID"], restore["userID"]);
    }
    let storages = ok(&fake, "/insync/storagemanagement/v1/storages", &[], &token);
    assert_eq!(storages["totalSize"], 3);
    assert_eq!(storages["nextPageToken"], "");
    assert!(storages["storages"][0]["StorageID"].is_u64());
    let profiles = ok(&fake, "/insync/profilemanagement/v1/profiles", &[], &token);
    assert_eq!(
        (
            profiles["totalSize"].clone(),
            profiles["nextPageToken"].clone()
        ),
        (json!(5), json!(""))
    );
}

/// Every page of events v2 from `params`: the events and the last tracker.
fn events_v2(
    fake: &FakeServer,
    params: &[(&str, &str)],
    token: &str,
) -> (Vec<Value>, String, usize) {
    let mut events = Vec::new();
    let mut query: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut calls = 0;
    loop {
        let borrowed: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let page = ok(fake, EVENTS_V2, &borrowed, token);
        calls += 1;
        let batch = page["events"].as_array().unwrap();
        assert!(batch.len() <= 500);
        events.extend(batch.iter().cloned());
        let tracker = page["tracker"].as_str().unwrap().to_owned();
        if page["nextPageExists"] == false {
            return (events, tracker, calls);
        }
        query.retain(|(key, _)| key != "tracker");
        query.push(("tracker".to_owned(), tracker));
    }
}

/// The events v2 stream in CEF from `tracker` (from the start without one),
/// asserted to be `count` CEF lines; and the last tracker.
fn cef_events(
    fake: &FakeServer,
    token: &str,
    tracker: Option<&str>,
    count: usize,
) -> (Vec<Value>, String) {
    let mut params = vec![("format", "CEF")];
    params.extend(tracker.map(|tracker| ("tracker", tracker)));
    let (lines, tracker, _) = events_v2(fake, &params, token);
    assert_eq!(lines.len(), count, "{params:?}");
    for line in &lines {
        let line = line.as_str().unwrap();
        assert!(line.starts_with("CEF:0|Druva|inSync|"), "{line}");
    }
    (lines, tracker)
}

#[test]
fn events_v2_come_500_a_call_with_the_siem_fields_of_real_users_and_devices() {
    let (fake, token) = users_and_token(300);
    let (events, _, calls) = events_v2(&fake, &[], &token);
    assert_eq!((events.len(), calls), (900, 2));
    let devices = all_pages(&fake, DEVICES, "devices", &[("pageSize", "4097")], &token);
    for event in &events {
        for field in [
            "ip",
            "eventDetails",
            "facility",
            "inSyncDataSourceID",
            "inSyncDataSourceName",
            "inSyncUserEmail",
            "timestamp",
        ] {
            assert!(event.get(field).is_some(), "{field} in {event}");
        }
        let device = devices
            .iter()
            .find(|d| d["deviceID"] == event["inSyncDataSourceID"])
            .unwrap();
        assert_eq!(device["deviceName"], event["inSyncDataSourceName"]);
        assert_eq!(device["userID"], event["inSyncUserID"]);
    }
    let bad: [BadQuery; 2] = [
        (&[("pageSize", "10")], "Unknown parameter pageSize"),
        (&[("format", "XML")], "format"),
    ];
    assert_bad_queries(&fake, EVENTS_V2, &token, &bad);
}

#[test]
fn events_v2_in_cef_or_syslog_are_strings_and_a_tracker_keeps_its_format() {
    let (fake, token) = users_and_token(200);
    let (_, tracker) = cef_events(&fake, &token, None, 600);
    let (syslog, _, _) = events_v2(&fake, &[("format", "Syslog")], &token);
    assert!(syslog
        .iter()
        .all(|line| line.as_str().unwrap().starts_with('<')));
    let bad: [BadQuery; 2] = [
        (&[("tracker", &tracker)], "format=CEF"),
        (&[("tracker", &tracker), ("format", "Syslog")], "format=CEF"),
    ];
    assert_bad_queries(&fake, EVENTS_V2, &token, &bad);
}

#[test]
fn a_final_v2_tracker_returns_exactly_the_events_added_since() {
    let (fake, token) = users_and_token(10);
    let (_, saved) = cef_events(&fake, &token, None, 30);
    let (_, same) = cef_events(&fake, &token, Some(&saved), 0);
    fake.add_events(7).unwrap();
    let (new, _) = cef_events(&fake, &token, Some(&same), 7);
    let (all, _, _) = events_v2(&fake, &[], &token);
    let new_ids: Vec<u64> = all[30..]
        .iter()
        .map(|e| e["eventID"].as_u64().unwrap())
        .collect();
    for (line, id) in new.iter().zip(new_ids) {
        assert!(line
            .as_str()
            .unwrap()
            .contains(&format!("externalId={id} ")));
    }
}

#[test]
fn events_v3_never_end_and_resume_after_the_saved_token() {
    for caught_up in [CaughtUp::SameToken, CaughtUp::NewToken] {
        let fake = start(FakeConfig {
            users: 10,
            caught_up,
            ..FakeConfig::default()
        });
        let token = token(&fake);
        let bad: [BadQuery; 3] = [
            (&[("pageSize", "501")], "pageSize"),
            (&[("pageSize", "0")], "pageSize"),
            (&[("colour", "red")], "Unknown parameter"),
        ];
        assert_bad_queries(&fake, EVENTS_V3, &token, &bad);
        let mut seen = BTreeSet::new();
        let mut page = ok(&fake, EVENTS_V3, &[("pageSize", "8")], &token);
        let mut sent = String::new();
        while !page["events"].as_array().unwrap().is_empty() {
            for event in page["events"].as_array().unwrap() {
                assert!(seen.insert(event["details"]["eventID"].as_u64().unwrap()));
                assert_eq!(event["productID"], 8193);
            }
            sent = page["nextPageToken"].as_str().unwrap().to_owned();
            page = ok(&fake, EVENTS_V3, &[("pageToken", &sent)], &token);
        }
        assert_eq!(seen.len(), 30);
        let saved = page["nextPageToken"].as_str().unwrap().to_owned();
        assert_eq!(
            saved == sent,
            caught_up == CaughtUp::SameToken,
            "{caught_up:?}"
        );
        fake.add_events(5).unwrap();
        let new = ok(&fake, EVENTS_V3, &[("pageToken", &saved)], &token);
        let new_ids: Vec<u64> = new["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["details"]["eventID"].as_u64().unwrap())
            .collect();
        assert_eq!(new_ids, (31..=35).collect::<Vec<_>>());
        assert!(!new["nextPageToken"].as_str().unwrap().is_empty());
    }
}

#[test]
fn events_v3_filters_are_kept_in_the_token() {
    let (fake, token) = users_and_token(40);
    let first = ok(
        &fake,
        EVENTS_V3,
        &[("type", "Login"), ("pageSize", "3")],
        &token,
    );
    let next = first["nextPageToken"].as_str().unwrap().to_owned();
    let second = ok(&fake, EVENTS_V3, &[("pageToken", &next)], &token);
    for page in [&first, &second] {
        assert!(page["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["type"] == "Login"));
    }
}

fn report(fake: &FakeServer, id: &str, body: &Value, token: &str) -> (u16, Value) {
    post_json(
        fake,
        &format!("/platform/reporting/v1/reports/{id}"),
        body,
        token,
    )
}

#[test]
fn report_pages_keep_their_filters_and_are_checked() {
    let (fake, token) = users_and_token(60);
    let list = ok(&fake, REPORTS, &[], &token);
    let ids: Vec<&str> = list["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reportID"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"epLastBackupStatus"), "{ids:?}");
    let filters = json!({"pageSize": 4, "filterBy": [{"fieldName": "status", "operator": "EQUAL", "value": "Backup Failed"}]});
    let mut rows = Vec::new();
    let mut body = json!({"filters": filters});
    loop {
        let (status, page) = report(&fake, "epLastBackupStatus", &body, &token);
        assert_eq!(status, 200, "{page}");
        assert!(page["data"].as_array().unwrap().len() <= 4);
        rows.extend(page["data"].as_array().unwrap().iter().cloned());
        let next = page["nextPageToken"].as_str().unwrap().to_owned();
        if next.is_empty() {
            break;
        }
        body["pageToken"] = json!(next);
    }
    assert!(rows.len() > 4, "{}", rows.len());
    assert!(rows.iter().all(|row| row["status"] == "Backup Failed"));
    let (_, first) = report(
        &fake,
        "epLastBackupStatus",
        &json!({"filters": filters}),
        &token,
    );
    let next = first["nextPageToken"].as_str().unwrap();
    let other = json!({"filters": {"pageSize": 4}, "pageToken": next});
    assert_bad_request(
        report(&fake, "epLastBackupStatus", &other, &token),
        "does not match the filters",
    );
    assert_bad_request(
        report(
            &fake,
            "epLastBackupStatus",
            &json!({"filters": {"pageSize": 501}}),
            &token,
        ),
        "pageSize",
    );
    assert_bad_request(
        report(&fake, "epLastBackupStatus", &json!({"pageSize": 5}), &token),
        "Unknown field pageSize",
    );
    let (status, missing) = report(&fake, "epNoSuchReport", &json!({}), &token);
    assert_eq!(
        (status, missing["code"].as_str().is_some()),
        (404, true),
        "{missing}"
    );
}

/// An MSP fake's MSP token.
fn msp_token(fake: &FakeServer) -> String {
    token(fake)
}

fn exchange(
    fake: &FakeServer,
    customer: &str,
    bearer: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = client()
        .post(format!(
            "{}/msp/v2/customers/{customer}/token",
            fake.base_url()
        ))
        .form(form);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    send(request)
}

fn msp(customers: usize, users: usize) -> FakeServer {
    start(FakeConfig {
        msp: true,
        customers,
        users,
        page_size: 2,
        ..FakeConfig::default()
    })
}

#[test]
fn an_msp_credential_gets_its_token_only_at_the_msp_endpoint() {
    let fake = msp(3, 4);
    assert!(fake.token_url().ends_with("/msp/auth/v1/token"));
    let (status, body) = basic_token(&fake, &format!("{}/token", fake.base_url()));
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
    let plain = users(1);
    let (status, body) = basic_token(&plain, &format!("{}/msp/auth/v1/token", plain.base_url()));
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
    let token = token(&plain);
    assert_eq!(get(&plain, CUSTOMERS, &[], &token).0, 404);
    assert!(plain.customer_ids().is_empty());
    assert_eq!(
        exchange(
            &plain,
            "x",
            Some(&token),
            &[("grant_type", "client_credentials")]
        )
        .0,
        404
    );
}

#[test]
fn customers_are_paged_as_druvas_msp_sample_pages_them() {
    let fake = msp(5, 1);
    let token = msp_token(&fake);
    let mut listed = Vec::new();
    let mut page = ok(
        &fake,
        CUSTOMERS,
        &[("pageToken", ""), ("pageSize", "2")],
        &token,
    );
    loop {
        listed.extend(page["customers"].as_array().unwrap().iter().cloned());
        let next = page["nextPageToken"].as_str().unwrap().to_owned();
        if next.is_empty() {
            break;
        }
        // The sample's later requests: the token beside an empty pageSize.
        page = ok(
            &fake,
            CUSTOMERS,
            &[("pageToken", &next), ("pageSize", "")],
            &token,
        );
    }
    let ids: Vec<String> = listed
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, fake.customer_ids());
    assert!(listed.iter().all(|c| c["accountName"].is_string()));
    let first = ok(&fake, CUSTOMERS, &[("pageSize", "2")], &token);
    let next = first["nextPageToken"].as_str().unwrap();
    assert_bad_request(
        get(
            &fake,
            CUSTOMERS,
            &[("pageToken", next), ("pageSize", "2")],
            &token,
        ),
        "alone",
    );
}

#[test]
fn the_tenant_token_exchange_refuses_what_druva_refuses() {
    let fake = msp(3, 2);
    let msp = msp_token(&fake);
    let customer = fake.customer_ids()[0].clone();
    let grant = [("grant_type", "client_credentials")];
    let (status, body) = exchange(&fake, &customer, Some(&msp), &grant);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(exchange(&fake, &customer, None, &grant).0, 401);
    assert_eq!(exchange(&fake, &customer, Some("forged"), &grant).0, 403);
    let tenant = body["access_token"].as_str().unwrap();
    assert_eq!(exchange(&fake, &customer, Some(tenant), &grant).0, 403);
    let (status, unknown) = exchange(&fake, "no-such-customer", Some(&msp), &grant);
    assert_eq!((status, unknown["code"].is_string()), (404, true));
    assert_eq!(exchange(&fake, &customer, Some(&msp), &[]).0, 400);
    assert_eq!(
        exchange(&fake, &customer, Some(&msp), &[("grant_type", "password")]).0,
        400
    );
    let token_requests = fake.token_requests();
    let recorded = fake.requests();
    let exchanges: Vec<_> = recorded
        .iter()
        .filter(|r| r.path.ends_with(&format!("{customer}/token")))
        .collect();
    assert_eq!(exchanges.len(), 6);
    assert!(exchanges
        .iter()
        .all(|r| r.kind == druva_fake::RequestKind::Token && r.body.is_none()));
    assert_eq!(token_requests, 1 + 7);
    fake.expire_tokens();
    assert_eq!(get(&fake, CUSTOMERS, &[], &msp).0, 403);
    assert_eq!(get(&fake, USERS, &[], tenant).0, 403);
}

#[test]
fn a_customer_token_reads_only_its_customer() {
    let fake = msp(3, 6);
    let msp = msp_token(&fake);
    let grant = [("grant_type", "client_credentials")];
    let tokens: Vec<String> = fake
        .customer_ids()
        .iter()
        .map(|id| {
            exchange(&fake, id, Some(&msp), &grant).1["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let emails = |token: &str| -> Vec<String> {
        all_pages(&fake, USERS, "users", &[], token)
            .iter()
            .map(|u| u["emailID"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = emails(&tokens[0]);
    let second = emails(&tokens[1]);
    assert_eq!((first.len(), second.len()), (6, 6));
    assert!(first.iter().all(|e| e.ends_with("@customer1.example.com")));
    assert!(second.iter().all(|e| e.ends_with("@customer2.example.com")));
    // The last customer is hollow.
    assert!(emails(&tokens[2]).is_empty());
    assert_eq!(ok(&fake, REPORTS, &[], &tokens[2])["reports"], Value::Null);
    assert_eq!(report(&fake, "epUsers", &json!({}), &tokens[2]).0, 404);
    assert!(ok(&fake, REPORTS, &[], &tokens[0])["reports"]
        .as_array()
        .is_some());
    assert!(events_v2(&fake, &[], &tokens[2]).0.is_empty());
    // An MSP token is no tenant's, and a tenant's is not the MSP's.
    assert_eq!(get(&fake, USERS, &[], &msp).0, 403);
    assert_eq!(report(&fake, "epUsers", &json!({}), &msp).0, 403);
    assert_eq!(get(&fake, CUSTOMERS, &[], &tokens[0]).0, 403);
}

#[test]
fn latency_delays_every_response() {
    let fake = start(FakeConfig {
        users: 1,
        latency: Duration::from_millis(300),
        ..FakeConfig::default()
    });
    let started = Instant::now();
    let token = token(&fake);
    ok(&fake, USERS, &[], &token);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn requests_beyond_max_in_flight_get_429_without_retry_after() {
    let fake = start(FakeConfig {
        users: 1,
        latency: Duration::from_millis(400),
        max_in_flight: Some(2),
        ..FakeConfig::default()
    });
    let token = token(&fake);
    let url = format!("{}{USERS}", fake.base_url());
    let replies = block_on(async move {
        let client = client();
        let calls = (0..5).map(|_| {
            let request = client.get(&url).bearer_auth(&token).send();
            async move {
                let response = request.await.unwrap();
                (
                    response.status().as_u16(),
                    response.headers().contains_key("retry-after"),
                )
            }
        });
        futures::future::join_all(calls).await
    })
    .unwrap();
    let throttled = replies.iter().filter(|(status, _)| *status == 429).count();
    assert_eq!(throttled, 3, "{replies:?}");
    assert!(replies
        .iter()
        .all(|(status, retry_after)| !retry_after && [200, 429].contains(status)));
}

#[test]
fn api_request_bodies_are_recorded_and_token_bodies_never() {
    let (fake, token) = users_and_token(3);
    report(
        &fake,
        "epUsers",
        &json!({"filters": {"pageSize": 2}}),
        &token,
    );
    ok(&fake, USERS, &[], &token);
    let recorded = fake.requests();
    assert_eq!(recorded[0].body, None);
    assert_eq!(
        recorded[1].body.as_deref(),
        Some(r#"{"filters":{"pageSize":2}}"#)
    );
    assert_eq!(recorded[2].body, None);
}

#[test]
fn absurd_sizes_are_value_errors_naming_the_argument() {
    let cases = [
        (
            "users",
            FakeConfig {
                users: 100_001,
                ..FakeConfig::default()
            },
        ),
        (
            "page_size",
            FakeConfig {
                page_size: 0,
                ..FakeConfig::default()
            },
        ),
        (
            "customers",
            FakeConfig {
                customers: 0,
                ..FakeConfig::default()
            },
        ),
        (
            "customers",
            FakeConfig {
                customers: 101,
                msp: true,
                ..FakeConfig::default()
            },
        ),
        (
            "users multiplied by customers",
            FakeConfig {
                users: 100_000,
                customers: 11,
                msp: true,
                ..FakeConfig::default()
            },
        ),
        (
            "token_lifetime",
            FakeConfig {
                token_lifetime: Duration::ZERO,
                ..FakeConfig::default()
            },
        ),
        (
            "latency",
            FakeConfig {
                latency: Duration::from_secs(61),
                ..FakeConfig::default()
            },
        ),
        (
            "max_in_flight",
            FakeConfig {
                max_in_flight: Some(0),
                ..FakeConfig::default()
            },
        ),
    ];
    for (name, config) in cases {
        let error = FakeServer::start(config).unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
        assert!(error.to_string().contains(name), "{name}: {error}");
    }
    let fake = users(1);
    assert!(fake.add_events(0).is_err());
    assert!(fake.add_events(100_001).is_err());
    let error = druva_fake::whole_argument("port", 70_000, 0, 65_535).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("port must be between 0 and 65535"),
        "{error}"
    );
}
