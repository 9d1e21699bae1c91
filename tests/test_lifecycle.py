"""Concurrency and lifecycle: sessions come and go without leaking threads,
sockets or memory; a closed session says so; the interpreter exits cleanly
with requests in flight; a fork mid-request leaves the child working."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

pytestmark = pytest.mark.timeout(120)

USERS = "/insync/usermanagement/v1/users"
SLOW = "/insync/endpoints/v1/devices"
MIB = 1024 * 1024


def status_field(name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {name} in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def os_threads() -> int:
    return status_field("Threads")


def thread_names() -> list[str]:
    """The names of this process's OS threads, for messages."""
    names = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/comm") as comm:
            names.append(comm.read().strip())
    return sorted(names)


def rss() -> int:
    return status_field("VmRSS") * 1024


def settled(measure: Callable[[], int], at_most: int, seconds: float = 5.0) -> int:
    """The measure once it is at most ``at_most``, or its value after ``seconds``:
    closed connections take a moment to be torn down on both ends."""
    deadline = time.monotonic() + seconds
    value = measure()
    while value > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
        value = measure()
    return value


@pytest.fixture
def fake() -> Iterator[FakeDruva]:
    with FakeDruva(users=20, page_size=10) as server:
        yield server


def session_for(fake: FakeDruva, **kwargs: Any) -> druva.Session:
    return druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, **kwargs)


def async_session_for(fake: FakeDruva, **kwargs: Any) -> druva.AsyncSession:
    return druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url, **kwargs)


# Many sessions


def use_and_close_sync(fake: FakeDruva) -> None:
    with session_for(fake) as s:
        assert s.get(USERS).ok
        assert len(list(s.paginate(USERS))) == 20


def use_and_close_async(fake: FakeDruva) -> None:
    async def main() -> None:
        async with async_session_for(fake) as s:
            responses = await asyncio.gather(*(s.get(USERS) for _ in range(4)))
            assert all(response.ok for response in responses)

    asyncio.run(main())


def use_and_drop(fake: FakeDruva) -> None:
    s = session_for(fake)
    assert s.get(USERS).ok
    del s  # never closed: dropping it must release the same


@pytest.mark.parametrize(
    "cycle",
    [use_and_close_sync, use_and_close_async, use_and_drop],
    ids=["sync", "async", "dropped-unclosed"],
)
def test_sessions_created_and_closed_in_a_loop_leak_nothing(
    fake: FakeDruva, cycle: Callable[[FakeDruva], None]
) -> None:
    for _ in range(30):  # warm up: the runtime, the pools, the allocator
        cycle(fake)
    gc.collect()
    threads, fds, memory = os_threads(), settled(open_fds, 0, 0.5), rss()
    python_threads = threading.active_count()

    for _ in range(400):
        cycle(fake)
    gc.collect()

    assert threading.active_count() == python_threads
    # Idle threads of the runtime's blocking pool (asyncio results are handed
    # over from there) linger for tokio's 10 s keep-alive before they exit.
    assert settled(os_threads, threads, 12) <= threads, f"OS threads grew: {thread_names()}"
    assert settled(open_fds, fds + 2) <= fds + 2, "file descriptors (sockets) grew"
    assert rss() - memory < 16 * MIB, f"RSS grew {(rss() - memory) / MIB:.1f} MiB"
    assert fake.token_requests == 1, "every session shared one cached token"


# Closed sessions


SYNC_CALLS: dict[str, Callable[[druva.Session], Any]] = {
    "get": lambda s: s.get(USERS),
    "post": lambda s: s.post("/_echo", json={}),
    "put": lambda s: s.put("/_echo", data="x"),
    "patch": lambda s: s.patch("/_echo", json={}),
    "delete": lambda s: s.delete("/_echo"),
    "request": lambda s: s.request("GET", USERS),
    "token": lambda s: s.token,
    "paginate": lambda s: list(s.paginate(USERS)),
}


@pytest.mark.parametrize("call", SYNC_CALLS, ids=list(SYNC_CALLS))
def test_a_closed_session_raises_a_clear_runtime_error(fake: FakeDruva, call: str) -> None:
    s = session_for(fake)
    s.close()
    s.close()  # idempotent
    before = fake.api_requests + fake.token_requests
    with pytest.raises(RuntimeError, match=r"session is closed.*new Session") as caught:
        SYNC_CALLS[call](s)
    assert not isinstance(caught.value, druva.DruvaError)
    assert fake.api_requests + fake.token_requests == before, "a closed session sent a request"
    assert s.closed
    assert "closed" in repr(s)


ASYNC_CALLS: dict[str, Callable[[druva.AsyncSession], Any]] = {
    "get": lambda s: s.get(USERS),
    "post": lambda s: s.post("/_echo", json={}),
    "request": lambda s: s.request("DELETE", "/_echo"),
    "token": lambda s: s.token(),
    "paginate": lambda s: s.paginate(USERS).__anext__(),
}


@pytest.mark.parametrize("call", ASYNC_CALLS, ids=list(ASYNC_CALLS))
def test_a_closed_async_session_raises_a_clear_runtime_error(fake: FakeDruva, call: str) -> None:
    async def main() -> None:
        async with async_session_for(fake) as s:
            pass
        assert s.closed
        with pytest.raises(RuntimeError, match="session is closed"):
            await ASYNC_CALLS[call](s)

    asyncio.run(main())


def test_closing_mid_iteration_stops_the_paginator_clearly(fake: FakeDruva) -> None:
    s = session_for(fake)
    pages = s.paginate(USERS, params={"pageSize": 5})
    first = [next(pages) for _ in range(5)]
    assert len(first) == 5
    # The next page is fetched ahead meanwhile; once it is back, close: a page
    # fetched ahead is not handed out by a closed session's paginator either.
    deadline = time.monotonic() + 10
    while sum(r["path"] == USERS for r in fake.requests) < 2:
        assert time.monotonic() < deadline, "the next page was never fetched ahead"
        time.sleep(0.005)
    time.sleep(0.1)
    s.close()
    with pytest.raises(RuntimeError, match="closed"):
        next(pages)


def test_a_call_under_way_when_the_session_closes_finishes(fake: FakeDruva) -> None:
    s = session_for(fake)
    s.get(USERS)
    fake.delay_next(0.5, path=SLOW)
    outcome: list[Any] = []
    call = threading.Thread(target=lambda: outcome.append(s.get(SLOW).status_code))
    call.start()
    time.sleep(0.2)
    s.close()
    call.join(timeout=10)
    assert outcome == [200]


# Interpreter shutdown and fork, in child processes


def run_child(fake: FakeDruva, code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DRUVA_CLIENT_ID": fake.client_id,
        "DRUVA_SECRET_KEY": fake.secret,
        "DRUVA_BASE_URL": fake.base_url,
        "PYTHONFAULTHANDLER": "1",
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_no_crash(stderr: str) -> None:
    signs = ("panicked", "PanicException", "Fatal Python error", "Aborted", "Segmentation", "core")
    for sign in signs:
        assert sign not in stderr, stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ending", ["falls-off-the-end", "sys-exit", "async-loop-in-a-thread"])
def test_the_interpreter_exits_cleanly_with_requests_in_flight(
    fake: FakeDruva, ending: str
) -> None:
    fake.delay_next(30, count=100, path=SLOW)
    child = f"""
        import asyncio, sys, threading, time
        import druva

        s = druva.Session.from_env()
        s.get("{USERS}")
        started = threading.Barrier(9)

        def blocked_call():
            started.wait()
            s.get("{SLOW}")

        def blocked_loop():
            async def main():
                a = druva.AsyncSession.from_env()
                started.wait()
                await asyncio.gather(*(a.get("{SLOW}") for _ in range(4)))
            asyncio.run(main())

        target = blocked_loop if "{ending}" == "async-loop-in-a-thread" else blocked_call
        for _ in range(8):
            threading.Thread(target=target, daemon=True).start()
        started.wait()
        time.sleep(0.5)  # every call is now waiting on the slow server
        print("exiting", flush=True)
        if "{ending}" == "sys-exit":
            sys.exit(0)
    """
    started = time.monotonic()
    result = run_child(fake, child)
    assert result.stdout.strip() == "exiting", result.stderr
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15, "the exit waited for the requests in flight"
    assert_no_crash(result.stderr)
    # A daemon thread still waiting when the runtime stops at exit waits for
    # the interpreter to end it: no traceback about the stopped runtime.
    errors = re.findall(r"^\S+(?:Error|Exception)\b.*$", result.stderr, re.MULTILINE)
    assert errors == [], result.stderr
    assert fake.api_requests >= 9


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("in_flight", ["api-request", "token-request"])
def test_a_fork_while_another_thread_is_mid_request_leaves_the_child_working(
    fake: FakeDruva, in_flight: str
) -> None:
    """The parent's thread is waiting on the server when the process forks:
    the child (which has no such thread) makes its own calls, with its own
    connections and, if the parent's token request was in flight, its own token."""
    if in_flight == "api-request":
        fake.delay_next(2, path=SLOW)
        background = f's.get("{SLOW}").status_code'
    else:
        fake.delay_next(2, path="/token")
        background = 's.token["token_type"]'
    child = f"""
        import os, signal, threading, time
        import druva

        s = druva.Session.from_env(timeout=10)
        outcome = []
        thread = threading.Thread(target=lambda: outcome.append({background}))
        thread.start()
        time.sleep(0.5)  # the background call is now waiting on the server
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)  # a child that hangs dies instead of wedging the test
            try:
                users = list(s.paginate("{USERS}"))
                status = s.get("{USERS}").status_code
                os._exit(0 if len(users) == 20 and status == 200 else 1)
            except BaseException as error:
                print("child failed:", repr(error), flush=True)
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        thread.join()
        print(os.waitstatus_to_exitcode(status), outcome, flush=True)
    """
    result = run_child(fake, child, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = "200" if in_flight == "api-request" else "'bearer'"
    assert result.stdout.split() == ["0", f"[{expected}]"], result.stdout + result.stderr
    assert_no_crash(result.stderr)
