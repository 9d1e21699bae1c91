"""FakeDruva as strict as Druva, seen from druva's own sessions: the lists and
their filters, the event streams, the Reporting API, the MSP credential and
tenant isolation, latency and ``max_in_flight``, and the checks of every
constructor argument."""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"
DEVICES = "/insync/endpoints/v1/devices"
BACKUPS = "/insync/endpoints/v1/backups"
PROFILES = "/insync/profilemanagement/v1/profiles"
EVENTS_V2 = "/insync/eventmanagement/v2/events"
EVENTS_V3 = "/platform/eventmanagement/v3/events"
REPORTS = "/platform/reporting/v1/reports"
CUSTOMERS = "/msp/v2/customers"
CUSTOMERS_V3 = "/msp/v3/customers"
CYBER_RESILIENCE = "/realize/eventmanagement/v1/events/tracker"
PLATFORM_V2 = "/platform/eventmanagement/v2/events"


def session_for(fake: FakeDruva, **kwargs: Any) -> druva.Session:
    return druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, **kwargs)


@pytest.fixture
def small() -> Iterator[FakeDruva]:
    with FakeDruva(users=60, page_size=10) as server:
        yield server


def raw(
    fake: FakeDruva, method: str, path: str, token: str | None, form: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One request with an exact bearer token, outside any session."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(fake.base_url + path, data=data, method=method)  # noqa: S310 (the fake on loopback)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the fake on loopback)
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


# The inSync lists


def test_every_documented_users_filter_narrows_the_list(small: FakeDruva) -> None:
    with session_for(small) as s:
        everyone = list(s.paginate(USERS))
        user = everyone[11]
        local = user["emailID"].split("@")[0]
        filters: dict[str, tuple[Any, Callable[[dict[str, Any]], bool]]] = {
            "profileID": (user["profileID"], lambda u: u["profileID"] == user["profileID"]),
            "storageID": (user["storageID"], lambda u: u["storageID"] == user["storageID"]),
            "cacheID": (user["cacheID"], lambda u: u["cacheID"] == user["cacheID"]),
            "userIDs": ("2,4,6", lambda u: u["userID"] in (2, 4, 6)),
            "emailID": (user["emailID"], lambda u: u["emailID"] == user["emailID"]),
            "searchPrefixEmailID": (local[:4], lambda u: u["emailID"].startswith(local[:4])),
            "searchPrefixUserName": (
                user["userName"][:3],
                lambda u: u["userName"].startswith(user["userName"][:3]),
            ),
            "minAddedOn": ("2023-06-01T00:00:00Z", lambda u: u["addedOn"] >= "2023-06-01"),
            "maxAddedOn": ("2023-06-01T00:00:00Z", lambda u: u["addedOn"] < "2023-06-01"),
            "status": ("preserved", lambda u: u["status"] == "preserved"),
            "ldapGUID": (user["ldapGUID"], lambda u: u["ldapGUID"] == user["ldapGUID"]),
            "privacySettingsEnabled": ("false", lambda u: not u["privacySettingsEnabled"]),
        }
        for name, (value, keeps) in filters.items():
            found = list(s.paginate(USERS, params={name: value}))
            assert found == [u for u in everyone if keeps(u)], name
            assert 0 < len(found) < len(everyone), name


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"colour": "red"}, "Unknown parameter colour"),
        ({"profileID": "one"}, "profileID"),
        ({"minAddedOn": "last week"}, "minAddedOn"),
        ({"status": "deleted"}, "status"),
    ],
)
def test_an_unknown_filter_or_a_malformed_value_is_a_400(
    small: FakeDruva, params: dict[str, str], says: str
) -> None:
    with session_for(small) as s, pytest.raises(druva.HTTPStatusError) as raised:
        list(s.paginate(USERS, params=params))
    assert raised.value.status_code == 400
    assert raised.value.code == "InsyncCommon-400"
    assert says in str(raised.value.message)


def test_later_pages_send_the_page_token_alone_and_the_fake_enforces_it(small: FakeDruva) -> None:
    with session_for(small) as s:
        devices = list(s.paginate(DEVICES, params={"userIDs": "1,2,3,4,5,6,7,8"}))
        first = s.get(DEVICES, params={"pageSize": 2}).json()
        refused = s.get(DEVICES, params={"pageToken": first["nextPageToken"], "pageSize": 2})
    assert {d["userID"] for d in devices} == set(range(1, 9))
    queries = [r["query"] for r in small.requests if r["path"] == DEVICES]
    assert queries[0] == "userIDs=1%2C2%2C3%2C4%2C5%2C6%2C7%2C8"
    assert all(q.startswith("pageToken=") and "&" not in q for q in queries[1 : len(queries) - 2])
    assert refused.status_code == 400
    assert "alone" in refused.json()["message"]


def test_profiles_carry_a_next_page_token_like_every_list(small: FakeDruva) -> None:
    with session_for(small) as s:
        page = s.get(PROFILES).json()
    assert page["nextPageToken"] == ""
    assert page["totalSize"] == len(page["profiles"]) == 5


def test_last_successful_backups_need_the_parameter_and_match_the_devices(
    small: FakeDruva,
) -> None:
    with session_for(small) as s:
        devices = list(s.paginate(DEVICES))
        backups = list(s.paginate(BACKUPS, params={"lastSuccessful": "true"}))
        missing = s.get(BACKUPS)
    assert [b["deviceID"] for b in backups] == [d["deviceID"] for d in devices]
    assert missing.status_code == 400
    assert "lastSuccessful" in missing.json()["message"]


# Event streams


def test_events_v2_come_500_a_call_with_the_siem_fields(fake: FakeDruva) -> None:
    with session_for(fake) as s:
        pages = s.paginate(EVENTS_V2)
        events = list(pages)
        devices = {d["deviceID"]: d for d in s.paginate(DEVICES)}
    assert len(events) == 750
    assert pages.pages == 2
    for event in events:
        device = devices[event["inSyncDataSourceID"]]
        assert device["deviceName"] == event["inSyncDataSourceName"]
        assert device["userID"] == event["inSyncUserID"]
        assert {"ip", "eventDetails", "facility"} <= event.keys()


def test_events_v2_in_cef_are_strings_and_the_tracker_keeps_the_format(fake: FakeDruva) -> None:
    with session_for(fake) as s:
        pages = s.paginate(EVENTS_V2, params={"format": "CEF"})
        lines = list(pages)
        refused = s.get(EVENTS_V2, params={"tracker": pages.cursor})
    assert len(lines) == 750
    assert all(line.startswith("CEF:0|Druva|inSync|") for line in lines)
    queries = [r["query"] for r in fake.requests if r["path"] == EVENTS_V2]
    assert all("format=CEF" in q for q in queries[:-1])
    assert refused.status_code == 400
    assert "format=CEF" in refused.json()["message"]


def test_events_v3_resume_from_the_saved_cursor_with_only_the_new_events() -> None:
    async def walk(fake: FakeDruva) -> None:
        async with druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            pages = s.paginate(EVENTS_V3, params={"pageSize": 7})
            first = [event async for event in pages]
            saved = pages.cursor
            assert saved
            fake.add_events(4)
            again = s.paginate(EVENTS_V3, cursor=saved)
            new = [event async for event in again]
        assert len(first) == 30
        assert [e["details"]["eventID"] for e in new] == [31, 32, 33, 34]

    for caught_up in ("same", "new"):
        with FakeDruva(users=10) as fake:
            fake.set_caught_up(caught_up)
            asyncio.run(walk(fake))


def test_events_v3_page_size_is_at_most_500(small: FakeDruva) -> None:
    with session_for(small) as s:
        assert s.get(EVENTS_V3, params={"pageSize": 501}).status_code == 400
        assert s.get(EVENTS_V3, params={"pageSize": 500}).status_code == 200


# Reporting API


def test_report_pages_resend_the_filters_with_the_page_token(small: FakeDruva) -> None:
    body = {
        "filters": {
            "pageSize": 4,
            "filterBy": [{"fieldName": "status", "operator": "EQUAL", "value": "Backup Failed"}],
        }
    }
    with session_for(small) as s:
        reports = s.get(REPORTS).json()["reports"]
        rows = list(s.paginate(REPORTS + "/epLastBackupStatus", method="POST", json=body))
        other = s.post(
            REPORTS + "/epLastBackupStatus",
            json={"filters": {"pageSize": 3}, "pageToken": "bogus"},
        )
        unknown = s.post(REPORTS + "/epNoSuchReport", json={})
    assert "epLastBackupStatus" in [r["reportID"] for r in reports]
    assert rows and all(row["status"] == "Backup Failed" for row in rows)
    posted = [
        json.loads(r["body"]) for r in small.requests if r["path"].endswith("epLastBackupStatus")
    ]
    assert posted[0] == body
    assert all(p["filters"] == body["filters"] and p["pageToken"] for p in posted[1:-1])
    assert other.status_code == 400
    assert unknown.status_code == 404


# MSP


@pytest.fixture
def msp() -> Iterator[FakeDruva]:
    with FakeDruva(users=5, msp=True, customers=3, page_size=2) as server:
        yield server


def customer_token(s: druva.Session, customer_id: str) -> str:
    reply = s.post(f"{CUSTOMERS}/{customer_id}/token", data={"grant_type": "client_credentials"})
    reply.raise_for_status()
    token: str = reply.json()["access_token"]
    return token


def test_an_msp_fake_lists_its_customers_and_exchanges_their_tokens(msp: FakeDruva) -> None:
    assert msp.token_url == msp.base_url + "/msp/auth/v1/token"
    with druva.Session(
        msp.client_id, msp.secret, base_url=msp.base_url, token_url=msp.token_url
    ) as s:
        customers = list(s.paginate(CUSTOMERS))
        tokens = [customer_token(s, c["id"]) for c in customers]
    assert [c["id"] for c in customers] == msp.customer_ids
    assert all(c["accountName"] for c in customers)
    emails = [raw(msp, "GET", USERS, token)[1]["users"] for token in tokens]
    assert all(u["emailID"].endswith("@customer1.example.com") for u in emails[0])
    assert all(u["emailID"].endswith("@customer2.example.com") for u in emails[1])
    assert emails[2] == []
    assert raw(msp, "GET", REPORTS, tokens[2]) == (200, {"reports": None})
    exchanges = [r for r in msp.requests if r["path"].endswith("/token")]
    assert msp.token_requests == len(exchanges) == 4
    assert all(r["kind"] == "token" and r["body"] is None for r in exchanges)


def test_an_msp_token_reads_no_tenant_and_the_exchange_refuses_like_druva(msp: FakeDruva) -> None:
    customer = msp.customer_ids[0]
    with druva.Session(
        msp.client_id, msp.secret, base_url=msp.base_url, token_url=msp.token_url
    ) as s:
        msp_token = s.token["access_token"]
        tenant = customer_token(s, customer)
        with pytest.raises(druva.HTTPStatusError) as raised:
            s.get(USERS).raise_for_status()
    assert raised.value.status_code == 403
    grant = {"grant_type": "client_credentials"}
    path = f"{CUSTOMERS}/{customer}/token"
    assert raw(msp, "POST", path, None, grant)[0] == 401
    assert raw(msp, "POST", path, "forged", grant)[0] == 403
    assert raw(msp, "POST", path, tenant, grant)[0] == 403
    assert raw(msp, "POST", f"{CUSTOMERS}/nobody/token", msp_token, grant)[0] == 404
    assert raw(msp, "POST", path, msp_token, {})[0] == 400
    assert raw(msp, "GET", CUSTOMERS, tenant)[0] == 403
    msp.expire_tokens()
    assert raw(msp, "GET", CUSTOMERS, msp_token)[0] == 403
    assert raw(msp, "GET", USERS, tenant)[0] == 403


def test_the_msp_credential_is_refused_at_the_plain_token_endpoint(msp: FakeDruva) -> None:
    with pytest.raises(druva.AuthenticationError) as raised:
        druva.get_token(msp.client_id, msp.secret, base_url=msp.base_url)
    assert raised.value.error == "invalid_grant"
    with FakeDruva(users=1) as plain:
        assert plain.customer_ids == []
        with session_for(plain) as s:
            assert s.get(CUSTOMERS).status_code == 404


# Knobs


def test_latency_is_added_to_every_response() -> None:
    with FakeDruva(users=1, latency=0.25) as fake, session_for(fake) as s:
        started = time.monotonic()
        s.get(USERS).raise_for_status()
    assert time.monotonic() - started >= 0.5  # the token request, then the call


def test_requests_beyond_max_in_flight_get_429_without_retry_after() -> None:
    with FakeDruva(users=1, latency=0.4, max_in_flight=2) as fake:
        token = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
        replies: list[tuple[int, str | None]] = []

        def call() -> None:
            request = urllib.request.Request(fake.base_url + USERS)  # noqa: S310 (the fake on loopback)
            request.add_header("Authorization", f"Bearer {token['access_token']}")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the fake on loopback)
                    replies.append((response.status, response.headers.get("Retry-After")))
            except urllib.error.HTTPError as error:
                replies.append((error.code, error.headers.get("Retry-After")))

        threads = [threading.Thread(target=call) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(replies) == [(200, None)] * 2 + [(429, None)] * 3


def test_request_bodies_are_recorded_for_api_calls_only(small: FakeDruva) -> None:
    with session_for(small) as s:
        s.post("/_echo", json={"a": 1})
        s.get(USERS)
    token, posted, listed = small.requests
    assert (token["kind"], token["body"]) == ("token", None)
    assert json.loads(posted["body"]) == {"a": 1}
    assert listed["body"] is None


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"users": -1}, "users must be between 0 and 100000"),
        ({"users": 10**40}, "users must be between 0 and 100000"),
        ({"page_size": 0}, "page_size must be between 1 and 4097"),
        ({"customers": 0}, "customers must be between 1 and 100"),
        ({"msp": True, "customers": 50, "users": 100_000}, "users multiplied by customers"),
        ({"token_lifetime": 0}, "token_lifetime"),
        ({"token_lifetime": math.inf}, "token_lifetime"),
        ({"latency": -0.1}, "latency"),
        ({"latency": math.nan}, "latency"),
        ({"latency": 61}, "latency must be between 0 and 60"),
        ({"max_in_flight": 0}, "max_in_flight must be between 1 and 100000"),
        ({"port": 65536}, "port must be between 0 and 65535"),
        ({"port": -1}, "port must be between 0 and 65535"),
        ({"seed": -1}, "seed must be between 0"),
        ({"rate_limit": 0}, "rate_limit must be between 1 and 100000"),
        ({"rate_limit": 100_001}, "rate_limit must be between 1 and 100000"),
        ({"tracker_ttl": 0}, "tracker_ttl"),
        ({"tracker_ttl": -1.0}, "tracker_ttl"),
        ({"tracker_ttl": math.inf}, "tracker_ttl"),
    ],
)
def test_an_absurd_argument_is_a_value_error_naming_it(
    arguments: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        FakeDruva(**arguments)


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"client_id": 3}, "client_id must be a str, not int"),
        ({"secret": b"x"}, "secret must be a str, not bytes"),
        ({"users": "10"}, "users must be an int, not str"),
        ({"tls": 1}, "tls must be"),
        ({"latency": "1"}, "latency must be a number of seconds, not str"),
        ({"max_in_flight": 2.5}, "max_in_flight must be an int, not float"),
        ({"rate_limit": True}, "rate_limit must be an int, not bool"),
        ({"last_page": None}, "last_page must be a str, not NoneType"),
    ],
)
def test_a_wrong_type_is_a_type_error_naming_the_argument(
    arguments: dict[str, Any], says: str
) -> None:
    with pytest.raises(TypeError, match=says):
        FakeDruva(**arguments)


def test_the_signature_shows_the_fake_crates_defaults() -> None:
    from druva._druva import _fake_defaults

    defaults = _fake_defaults()
    parameters = inspect.signature(FakeDruva).parameters
    assert defaults, "the fake crate gives its defaults"
    for name, value in defaults.items():
        assert parameters[name].default == value, name
        assert type(parameters[name].default) is type(value), name
    with FakeDruva() as fake:
        assert fake.base_url.startswith("http://127.0.0.1:")
        assert isinstance(fake, FakeDruva)
        assert not hasattr(fake, "__dict__"), "no attribute can be set by mistake"


def test_add_events_and_set_caught_up_check_their_arguments(small: FakeDruva) -> None:
    for count in (0, -3, 100_001):
        with pytest.raises(ValueError, match="count must be between 1 and 100000"):
            small.add_events(count)
    with pytest.raises(ValueError, match="caught_up"):
        small.set_caught_up("never")


# The streams of Druva's Sentinel connector, the 2025 MSP list, the knobs of a long-lived feed


def read_stream(
    s: druva.Session, path: str, first: dict[str, str], cursor_field: str, cursor_param: str
) -> tuple[list[Any], str]:
    """Every event from `first` on, each later page asked with the cursor alone."""
    events: list[Any] = []
    params = first
    for _ in range(100):
        page = s.get(path, params=params).raise_for_status().json()
        events.extend(page["events"])
        cursor = page[cursor_field]
        if not page["events"]:
            return events, cursor
        params = {cursor_param: cursor}
    raise AssertionError("the stream did not end")


def test_cyber_resilience_events_page_with_tracker_tokens_and_resume_with_the_new_ones() -> None:
    with FakeDruva(users=10, page_size=4) as fake, session_for(fake) as s:
        events, last = read_stream(s, CYBER_RESILIENCE, {}, "nextTrackerToken", "trackerToken")
        assert [event["eventID"] for event in events] == list(range(1, 31))
        fake.add_events(3)
        new, again = read_stream(
            s, CYBER_RESILIENCE, {"trackerToken": last}, "nextTrackerToken", "trackerToken"
        )
        assert [event["eventID"] for event in new] == [31, 32, 33]
        caught_up = s.get(CYBER_RESILIENCE, params={"trackerToken": again}).json()
        assert caught_up == {"events": [], "nextTrackerToken": again}
        assert s.get(CYBER_RESILIENCE, params={"pageToken": again}).status_code == 400


def test_platform_events_v2_take_the_connectors_parameters_beside_the_page_token() -> None:
    with FakeDruva(users=10, page_size=7) as fake, session_for(fake) as s:
        first = {"source": "Platform", "ignoreTrackerExpiry": "True"}
        events, last = read_stream(s, PLATFORM_V2, first, "nextPageToken", "pageToken")
        assert [event["details"]["eventID"] for event in events] == list(range(1, 31))
        fake.add_events(2)
        connector = {**first, "pageToken": last}
        page = s.get(PLATFORM_V2, params=connector).raise_for_status().json()
        assert [event["details"]["eventID"] for event in page["events"]] == [31, 32]
        for refused in ({"source": "inSync"}, {"pageToken": last, "pageSize": "5"}):
            assert s.get(PLATFORM_V2, params=refused).status_code == 400, refused


def test_an_expired_events_v2_tracker_is_a_403_unless_the_request_ignores_expiry() -> None:
    with FakeDruva(users=10, tracker_ttl=0.1) as fake, session_for(fake) as s:
        tracker = s.get(EVENTS_V2).json()["tracker"]
        page_token = s.get(PLATFORM_V2, params={"source": "Platform"}).json()["nextPageToken"]
        time.sleep(0.3)
        refused = s.get(EVENTS_V2, params={"tracker": tracker})
        assert (refused.status_code, refused.json()["message"]) == (
            403,
            "User is not authorized to access this resource with an explicit deny",
        )
        for ignore in ("True", "true"):
            let_through = {"tracker": tracker, "ignoreTrackerExpiry": ignore}
            assert s.get(EVENTS_V2, params=let_through).status_code == 200
        assert s.get(PLATFORM_V2, params={"pageToken": page_token}).status_code == 403
        connector = {"pageToken": page_token, "ignoreTrackerExpiry": "True"}
        assert s.get(PLATFORM_V2, params=connector).status_code == 200


def test_api_requests_beyond_rate_limit_a_second_get_429_without_retry_after() -> None:
    with FakeDruva(users=1, rate_limit=1) as fake:
        token = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
        replies = [raw(fake, "GET", USERS, token["access_token"])[0] for _ in range(5)]
        assert replies[0] == 200
        assert 429 in replies
        request = urllib.request.Request(fake.base_url + USERS)  # noqa: S310 (the fake on loopback)
        request.add_header("Authorization", f"Bearer {token['access_token']}")
        retry_afters = []
        for _ in range(3):
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the fake on loopback)
                    retry_afters.append(response.headers.get("Retry-After"))
            except urllib.error.HTTPError as error:
                retry_afters.append(error.headers.get("Retry-After"))
        assert retry_afters == [None] * 3
        for _ in range(3):  # token requests are never refused so
            druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, force_refresh=True)


def test_msp_v3_customers_page_at_most_100_and_the_page_token_comes_alone() -> None:
    with FakeDruva(msp=True, customers=5, users=2) as fake, session_for(fake, msp=True) as s:
        ids = [customer["id"] for customer in s.paginate(CUSTOMERS_V3, params={"pageSize": 2})]
        assert ids == fake.customer_ids
        token = s.get(CUSTOMERS_V3, params={"pageSize": 2}).json()["nextPageToken"]
        for refused in (
            {"pageSize": 101},
            {"pageSize": 0},
            {"pageToken": token, "pageSize": 2},
            {"pageToken": token, "includeFeatures": "true"},
        ):
            assert s.get(CUSTOMERS_V3, params=refused).status_code == 400, refused
        features = s.get(CUSTOMERS_V3, params={"includeFeatures": "true"}).json()
        assert all(customer["features"] for customer in features["customers"])


@pytest.mark.parametrize("retryable", [None, True, False])
def test_fail_next_puts_retryable_in_the_error_body_only_when_given(
    small: FakeDruva, retryable: bool | None
) -> None:
    small.fail_next(500, path=USERS, retryable=retryable)
    with session_for(small, max_retries=0) as s:
        body = s.get(USERS, params={"pageSize": 1}).json()
    assert body.get("retryable", "absent") == ("absent" if retryable is None else retryable)
    with pytest.raises(TypeError, match="retryable"):
        small.fail_next(500, retryable="yes")  # type: ignore[arg-type]
