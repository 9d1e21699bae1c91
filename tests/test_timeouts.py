"""A call's ``timeout`` bounds the caller's whole call: every attempt, every
5xx/connect retry wait, every wait on a token request shared with others. The
waits on a 429 are bounded by ``rate_limit_wait`` instead."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"
TOKEN = b'{"access_token": "slow-token", "token_type": "bearer", "expires_in": 1800}'


class SlowGateway(http.server.ThreadingHTTPServer):
    """Hands out a token at once, then answers every API call with a 503
    after ``delay`` seconds."""

    daemon_threads = True

    def __init__(self, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.delay = delay
        self.calls = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    server: SlowGateway

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        self.wfile.write(head.encode() + body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer(200, TOKEN)

    def do_GET(self) -> None:
        self.server.calls += 1
        time.sleep(self.server.delay)
        self._answer(503, b'{"message": "busy"}')


@pytest.fixture
def slow_gateway() -> Iterator[SlowGateway]:
    server = SlowGateway(delay=0.4)
    yield server
    server.shutdown()
    server.server_close()


def test_a_retry_after_longer_than_the_timeout_is_not_waited_for(fake: FakeDruva) -> None:
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, timeout=1) as s:
        s.get(USERS)
        fake.reset_counters()
        fake.fail_next(503, count=3, retry_after=60, path=USERS)
        started = time.monotonic()
        assert s.get(USERS).status_code == 503
        assert time.monotonic() - started < 1.0
        assert fake.api_requests == 1


def test_slow_gateway_errors_end_by_the_timeout(slow_gateway: SlowGateway) -> None:
    # Each 503 takes 0.4 s, under the 1 s timeout; with retries they would
    # take 1.6 s and more. The call ends by its timeout, with what it got.
    with druva.Session("slow", "secret", base_url=slow_gateway.base_url, timeout=1) as s:
        started = time.monotonic()
        try:
            outcome: Any = s.get("/slow").status_code
        except druva.TimeoutError as error:
            outcome = error
        elapsed = time.monotonic() - started
    assert outcome == 503 or isinstance(outcome, druva.TimeoutError)
    assert elapsed < 1.4, f"the call took {elapsed:.2f} s with timeout=1"
    assert 1 <= slow_gateway.calls <= 3


def test_async_calls_are_bounded_the_same_way(slow_gateway: SlowGateway) -> None:
    async def main() -> float:
        async with druva.AsyncSession(
            "slow-async", "secret", base_url=slow_gateway.base_url, timeout=1
        ) as s:
            started = time.monotonic()
            with contextlib.suppress(druva.TimeoutError):
                await s.get("/slow")
            return time.monotonic() - started

    assert asyncio.run(main()) < 1.4


def _timed_token(session: druva.Session, results: dict[str, Any], name: str) -> None:
    started = time.monotonic()
    try:
        results[name] = session.token["access_token"]
    except druva.DruvaError as error:
        results[name] = error
    results[name + "_seconds"] = time.monotonic() - started


@pytest.mark.parametrize("leader", ["impatient", "patient"])
def test_each_caller_of_a_shared_token_request_waits_by_its_own_timeout(
    fake: FakeDruva, leader: str
) -> None:
    # Whoever starts the (2 s) token request, the impatient caller (timeout=1)
    # gives up after its second, and the patient one (timeout=20) gets the
    # token from the same request: neither cuts short nor stretches the other.
    fake.delay_next(2, path="/token")
    sessions = {
        name: druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, timeout=timeout)
        for name, timeout in (("impatient", 1), ("patient", 20))
    }
    follower = "patient" if leader == "impatient" else "impatient"
    results: dict[str, Any] = {}
    threads = []
    for name in (leader, follower):
        thread = threading.Thread(target=_timed_token, args=(sessions[name], results, name))
        thread.start()
        threads.append(thread)
        time.sleep(0.2)  # the leader has started the token request
    for thread in threads:
        thread.join()
    assert isinstance(results["impatient"], druva.TimeoutError)
    assert results["impatient_seconds"] < 1.6
    assert "timeout=" in str(results["impatient"])
    assert isinstance(results["patient"], str), results["patient"]
    assert fake.token_requests == 1, "both waited for the same request"


def test_a_call_waiting_for_a_slow_token_is_bounded_by_its_timeout(fake: FakeDruva) -> None:
    fake.delay_next(3, path="/token")
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, timeout=1) as s:
        started = time.monotonic()
        with pytest.raises(druva.TimeoutError):
            s.get(USERS)
        assert time.monotonic() - started < 1.5
