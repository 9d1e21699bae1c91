"""Throttling paced like TCP: a session's limiter lowers how many requests it
lets through and how fast it starts them after a 429, and grows back by about
one place a round trip, so a throttled batch neither fails nor keeps running
into the server's limit. Counts only: no assertion on time."""

from __future__ import annotations

import druva
import pytest
from druva.testing import FakeDruva

pytestmark = pytest.mark.timeout(120)

PROFILES = "/insync/profilemanagement/v1/profiles"


def session_for(fake: FakeDruva) -> druva.Session:
    return druva.Session(fake.client_id, fake.secret, base_url=fake.base_url)


def test_a_batch_against_a_server_taking_8_in_flight_is_paced() -> None:
    # 640 calls, 32 at a time, against a server that answers 429 beyond 8 in
    # flight: every call ends in a 200, and at most one request in ten was
    # throttled (the first burst, 24 of 32, is most of them).
    calls = 640
    with FakeDruva(users=5, latency=0.02, max_in_flight=8) as fake:
        with session_for(fake) as s:
            s.token  # noqa: B018 - the token first, so that only API calls count
            fake.reset_counters()
            responses = s.map([PROFILES] * calls, concurrency=32)
            assert [r.status_code for r in responses] == [200] * calls
            throttled = fake.api_requests - calls
            assert throttled <= 0.10 * fake.api_requests, (throttled, fake.api_requests)


def test_a_batch_against_a_server_taking_100_a_second_is_paced() -> None:
    # 300 calls, 32 at a time, against a server that takes 100 requests a
    # second (a bucket of one second's worth) and answers 429 beyond: every
    # call ends in a 200, and the limiter's pace keeps the throttled requests
    # to a few (the first burst, against an emptied bucket, is most of them).
    calls = 300
    with FakeDruva(users=5, latency=0.02, rate_limit=100) as fake:
        with session_for(fake) as s:
            s.token  # noqa: B018
            fake.reset_counters()
            responses = s.map([PROFILES] * calls, concurrency=32)
            assert [r.status_code for r in responses] == [200] * calls
            throttled = fake.api_requests - calls
            assert throttled <= 0.20 * fake.api_requests, (throttled, fake.api_requests)
