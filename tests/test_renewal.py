"""Renewal that no caller waits for (DESIGN, Behaviour): once a token enters its
leeway window, one background renewal starts and every caller keeps the
still-valid token; a failed renewal keeps serving it (one WARNING) and is
retried until the token expires; a refusal is not retried. Only a caller that
finds no valid token waits, and sees the error.

Tokens here live 6 s, so the window (the 60 s leeway capped at half the
lifetime) opens 3 s after the token request. The tests check behaviour: which
token each caller got, how many token requests were made, that no call failed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator

import druva
import pytest
from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"
LIFETIME = 6.0
WINDOW_OPENS = LIFETIME / 2

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def short_lived() -> Iterator[FakeDruva]:
    with FakeDruva(token_lifetime=LIFETIME, users=3) as fake:
        yield fake


def session_for(fake: FakeDruva) -> druva.Session:
    return druva.Session(fake.client_id, fake.secret, base_url=fake.base_url)


def into_the_window(started: float) -> None:
    time.sleep(max(0.0, started + WINDOW_OPENS + 0.3 - time.monotonic()))


def first_token_then_the_window(fake: FakeDruva, s: druva.Session) -> tuple[float, str]:
    """Fetches the first token, waits until it is in its leeway window, and
    resets the fake's counters: when it started, and the token."""
    started = time.monotonic()
    first = s.token["access_token"]
    into_the_window(started)
    fake.reset_counters()
    return started, first


def wait_for(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("the condition never held")


def test_callers_in_the_window_keep_the_valid_token_during_a_slow_renewal(
    short_lived: FakeDruva,
) -> None:
    with session_for(short_lived) as s:
        _started, first = first_token_then_the_window(short_lived, s)
        short_lived.delay_next(2, path="/token")
        served = [s.token["access_token"] for _ in range(20)]
        statuses = [s.get(USERS).status_code for _ in range(5)]
        assert served == [first] * 20, "every caller got the still-valid token"
        assert statuses == [200] * 5
        assert short_lived.token_requests == 1, "one background renewal"
        wait_for(lambda: s.token["access_token"] != first)
        assert short_lived.token_requests == 1


def test_a_failed_renewal_keeps_serving_the_valid_token_and_is_retried(
    short_lived: FakeDruva, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="druva")
    with session_for(short_lived) as s:
        _started, first = first_token_then_the_window(short_lived, s)
        # More failures than the token request's own retries: the renewal
        # must keep trying with backoff while the token is valid.
        short_lived.fail_next(503, count=5, path="/token")
        assert s.get(USERS).status_code == 200
        assert s.token["access_token"] == first
        wait_for(lambda: s.token["access_token"] != first)
        assert s.get(USERS).status_code == 200
        assert short_lived.token_requests >= 6
    # Only this credential's records: a renewal left over from another test
    # may still be failing against its stopped server.
    masked = short_lived.client_id[:4] + "***"
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and masked in r.getMessage()
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "stays in use" in warnings[0].getMessage()
    assert short_lived.secret not in warnings[0].getMessage()


def test_a_refused_renewal_is_not_retried_and_the_token_is_served_until_it_expires(
    short_lived: FakeDruva,
) -> None:
    with session_for(short_lived) as s:
        started, first = first_token_then_the_window(short_lived, s)
        short_lived.fail_next(401, path="/token")
        assert s.token["access_token"] == first  # starts the renewal
        wait_for(lambda: short_lived.token_requests == 1)
        served = [s.token["access_token"] for _ in range(10)]
        assert served == [first] * 10
        assert s.get(USERS).status_code == 200
        time.sleep(0.5)
        assert short_lived.token_requests == 1, "a refusal is not retried"
        # Once it has expired, a caller waits for a new token request.
        time.sleep(max(0.0, started + LIFETIME + 0.2 - time.monotonic()))
        assert s.token["access_token"] != first
        assert short_lived.token_requests == 2


def test_threads_in_the_window_start_one_renewal(short_lived: FakeDruva) -> None:
    with session_for(short_lived) as s:
        _started, first = first_token_then_the_window(short_lived, s)
        short_lived.delay_next(1, path="/token")
        barrier = threading.Barrier(16)
        got: list[str] = []

        def call() -> None:
            barrier.wait()
            assert s.get(USERS).status_code == 200
            got.append(s.token["access_token"])

        threads = [threading.Thread(target=call) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert got == [first] * 16
        assert short_lived.token_requests == 1


def test_async_callers_in_the_window_do_not_wait_either(short_lived: FakeDruva) -> None:
    async def main() -> tuple[list[str], str]:
        async with druva.AsyncSession(
            short_lived.client_id, short_lived.secret, base_url=short_lived.base_url
        ) as s:
            started = time.monotonic()
            first = (await s.token())["access_token"]
            await asyncio.sleep(max(0.0, started + WINDOW_OPENS + 0.3 - time.monotonic()))
            short_lived.reset_counters()
            short_lived.delay_next(2, path="/token")
            responses = await asyncio.gather(*(s.get(USERS) for _ in range(10)))
            assert all(response.status_code == 200 for response in responses)
            tokens = [(await s.token())["access_token"] for _ in range(5)]
            return tokens, first

    tokens, first = asyncio.run(main())
    assert tokens == [first] * 5
    assert short_lived.token_requests == 1


def test_get_token_in_the_window_returns_the_valid_token(short_lived: FakeDruva) -> None:
    def token() -> druva.Token:
        return druva.get_token(
            short_lived.client_id, short_lived.secret, base_url=short_lived.base_url
        )

    started = time.monotonic()
    first = token()["access_token"]
    into_the_window(started)
    short_lived.reset_counters()
    short_lived.delay_next(2, path="/token")
    assert [token()["access_token"] for _ in range(5)] == [first] * 5
    wait_for(lambda: short_lived.token_requests == 1)
    assert [token()["access_token"] for _ in range(5)] == [first] * 5
    wait_for(lambda: token()["access_token"] != first)
    assert short_lived.token_requests == 1
