"""``Session.map`` / ``AsyncSession.map``: many calls at once, at most
``concurrency`` in flight, results in order, each call with the session's
whole policy; an error status is a response, the first failure cancels the
rest unless ``return_exceptions=True``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

from .conftest import assert_ctrl_c_interrupts

USERS = "/insync/usermanagement/v1/users"


def user_urls(count: int) -> list[str]:
    return [f"{USERS}/{n}" for n in range(1, count + 1)]


def session_for(fake: FakeDruva, **kwargs: Any) -> druva.Session:
    return druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, **kwargs)


def test_results_come_in_the_order_of_the_urls(fake: FakeDruva) -> None:
    urls = list(reversed(user_urls(40)))
    with session_for(fake) as s:
        responses = s.map(urls, concurrency=8)
    assert [r.json()["userID"] for r in responses] == list(range(40, 0, -1))
    assert [r.url.split("/")[-1] for r in responses] == [u.split("/")[-1] for u in urls]


def test_no_more_than_concurrency_calls_are_in_flight() -> None:
    # The fake answers 429 to any request beyond 4 in flight: a map of 4 at a
    # time never meets one; 8 at a time does (and is retried to success).
    with FakeDruva(users=24, latency=0.05, max_in_flight=4) as fake:
        with session_for(fake) as s:
            s.token  # noqa: B018 - the token first, so that only API calls count
            fake.reset_counters()
            assert [r.status_code for r in s.map(user_urls(24), concurrency=4)] == [200] * 24
            assert fake.api_requests == 24, "no call was throttled"
            fake.reset_counters()
            assert [r.status_code for r in s.map(user_urls(16), concurrency=8)] == [200] * 16
            assert fake.api_requests > 16, "8 at a time met the server's limit"


def test_an_error_status_is_a_response_not_a_failure(fake: FakeDruva) -> None:
    with session_for(fake) as s:
        responses = s.map([f"{USERS}/1", f"{USERS}/999999", f"{USERS}/2"])
    assert [r.status_code for r in responses] == [200, 404, 200]


def test_the_first_failure_is_raised_and_the_rest_is_not_sent(fake: FakeDruva) -> None:
    with session_for(fake, max_retries=0) as s:
        s.token  # noqa: B018
        fake.reset_counters()
        fake.drop_next(count=1, path=f"{USERS}/1")
        with pytest.raises(druva.TransportError):
            s.map(user_urls(10), concurrency=1)
        assert [r["path"] for r in fake.requests] == [f"{USERS}/1"]


def test_return_exceptions_puts_each_failure_in_its_place(fake: FakeDruva) -> None:
    with session_for(fake, max_retries=0) as s:
        fake.drop_next(count=1, path=f"{USERS}/2")
        outcomes = s.map(user_urls(3), concurrency=1, return_exceptions=True)
    assert isinstance(outcomes[0], druva.Response) and outcomes[0].status_code == 200
    assert isinstance(outcomes[1], druva.TransportError)
    assert isinstance(outcomes[2], druva.Response) and outcomes[2].status_code == 200


def test_every_call_gets_the_sessions_policy(fake: FakeDruva) -> None:
    with session_for(fake) as s:
        s.token  # noqa: B018
        fake.expire_tokens()
        fake.fail_next(503, count=2, path=f"{USERS}/3")
        responses = s.map(user_urls(6), concurrency=3, params={"x": "1"}, timeout=10)
    assert [r.status_code for r in responses] == [200] * 6
    assert fake.token_requests == 2, "one renewal for all the refused calls"


def test_bad_arguments_are_refused_before_any_call(fake: FakeDruva) -> None:
    with session_for(fake) as s:
        with pytest.raises(TypeError, match="iterable of URLs"):
            s.map(USERS)
        with pytest.raises(TypeError, match="as str"):
            s.map([USERS, 42])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="concurrency"):
            s.map([USERS], concurrency=0)
        with pytest.raises(ValueError):
            s.map([USERS, "https://elsewhere.example/steal"])
        assert s.map([]) == []
    assert fake.api_requests == 0


def test_progress_shows_every_call(fake: FakeDruva, capsys: pytest.CaptureFixture[str]) -> None:
    with session_for(fake) as s:
        assert len(s.map(user_urls(12), progress=True)) == 12
    assert "12/12" in capsys.readouterr().err


def test_async_map_returns_in_order_and_puts_exceptions_in_place(fake: FakeDruva) -> None:
    async def main() -> list[Any]:
        async with druva.AsyncSession(
            fake.client_id, fake.secret, base_url=fake.base_url, max_retries=0
        ) as s:
            ordered = await s.map(user_urls(20), concurrency=5)
            assert [r.json()["userID"] for r in ordered] == list(range(1, 21))
            fake.drop_next(count=1, path=f"{USERS}/2")
            outcomes: list[Any] = await s.map(user_urls(3), concurrency=1, return_exceptions=True)
            return outcomes

    outcomes = asyncio.run(main())
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "Response",
        "TransportError",
        "Response",
    ]


def test_sync_and_async_map_are_one_method() -> None:
    assert druva.AsyncSession.map is druva.Session.map


def test_ctrl_c_cancels_a_map(tmp_path: Path) -> None:
    setup = """
    s = druva.Session(fake.client_id, fake.secret, base_url=fake.base_url)
    s.token
    fake.delay_next(30, count=100)
    """
    call = "s.map(['/insync/usermanagement/v1/users'] * 20, concurrency=4)"
    assert_ctrl_c_interrupts(tmp_path, setup, call)


def test_max_concurrency_caps_every_caller_of_a_session_together() -> None:
    # 16 threads and a map of 16, on a session of max_concurrency=4, against
    # a server that throttles beyond 4 in flight: not one request throttled.
    import threading

    with FakeDruva(users=16, latency=0.05, max_in_flight=4) as fake:
        with session_for(fake, max_concurrency=4) as s:
            s.token  # noqa: B018
            fake.reset_counters()
            statuses: list[int] = []
            threads = [
                threading.Thread(target=lambda: statuses.append(s.get(f"{USERS}/1").status_code))
                for _ in range(16)
            ]
            for thread in threads:
                thread.start()
            mapped = s.map(user_urls(16), concurrency=16)
            for thread in threads:
                thread.join()
            assert statuses == [200] * 16
            assert [r.status_code for r in mapped] == [200] * 16
            assert fake.api_requests == 32, "no request was throttled"


@pytest.mark.parametrize("cap", [{"max_concurrency": 24}, {}], ids=["capped", "default"])
def test_a_throttled_batch_slows_down_instead_of_failing(cap: dict[str, int]) -> None:
    # The server takes 6 at a time; the session starts at 16 (its initial
    # places, under the map's 24 and any cap), halves what it lets through on the 429s
    # and waits them out: every call ends in a 200. A session without
    # max_concurrency adapts the same way.
    with FakeDruva(users=5, latency=0.03, max_in_flight=6) as fake:
        with session_for(fake, **cap) as s:
            s.token  # noqa: B018
            fake.reset_counters()
            responses = s.map([f"{USERS}/1"] * 120, concurrency=24)
            assert [r.status_code for r in responses] == [200] * 120
            assert fake.api_requests - 120 < 120, "fewer throttled attempts than calls"


@pytest.mark.parametrize("bad", [0, -1, 10**6])
def test_max_concurrency_must_be_a_sane_count(fake: FakeDruva, bad: int) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        session_for(fake, max_concurrency=bad)
    with pytest.raises(TypeError):
        session_for(fake, max_concurrency=2.5)


def test_async_tasks_share_the_sessions_cap() -> None:
    async def main(fake: FakeDruva) -> list[int]:
        async with druva.AsyncSession(
            fake.client_id, fake.secret, base_url=fake.base_url, max_concurrency=3
        ) as s:
            await s.token()
            fake.reset_counters()
            responses = await asyncio.gather(*(s.get(f"{USERS}/1") for _ in range(30)))
            return [r.status_code for r in responses]

    with FakeDruva(users=3, latency=0.03, max_in_flight=3) as fake:
        assert asyncio.run(main(fake)) == [200] * 30
        assert fake.api_requests == 30


def test_an_async_map_with_progress_ends_or_is_cancelled_cleanly(
    fake: FakeDruva, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main() -> int:
        async with druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            assert len(await s.map(user_urls(8), progress=True)) == 8
            fake.delay_next(5, count=8, path=USERS)
            task = asyncio.ensure_future(s.map(user_urls(8), progress=True))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            fake.clear_faults()
            return len(await s.map(user_urls(4)))

    assert asyncio.run(main()) == 4
    assert "8/8" in capsys.readouterr().err


class RecordingBar:
    """Stands in for tqdm: records what the map shows."""

    def __init__(self) -> None:
        self.updates: list[int] = []
        self.closed = False

    def update(self, count: int) -> None:
        self.updates.append(count)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_bar_moves_while_the_calls_run(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import druva._progress

    bars: list[RecordingBar] = []

    def recording_bar(*args: Any, **kwargs: Any) -> RecordingBar:
        bars.append(RecordingBar())
        return bars[-1]

    monkeypatch.setattr(druva._progress, "bar", recording_bar)
    monkeypatch.setattr(druva._progress, "REFRESH", 0.02)
    # One call at a time, 0.1 s each: the bar is looked at several times
    # before the map ends, and must have moved by then.
    with FakeDruva(users=6, latency=0.1) as fake:
        if kind == "sync":
            with session_for(fake) as s:
                assert len(s.map(user_urls(6), concurrency=1, progress=True)) == 6
        else:

            async def main() -> int:
                async with druva.AsyncSession(
                    fake.client_id, fake.secret, base_url=fake.base_url
                ) as s:
                    return len(await s.map(user_urls(6), concurrency=1, progress=True))

            assert asyncio.run(main()) == 6
    (bar,) = bars
    assert sum(bar.updates) == 6
    assert len(bar.updates) > 1, bar.updates
    assert bar.closed
