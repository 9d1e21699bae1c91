"""The paging state machine, as Python's iterators drive it: a page that fails
is fetched again, in sync and async iteration alike, and nothing is lost or
yielded twice."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

TOKEN = json.dumps({"access_token": "scripted", "token_type": "bearer", "expires_in": 1800})


class ScriptedServer(http.server.ThreadingHTTPServer):
    """Answers ``POST /token`` with a token and ``GET /list`` with the next
    scripted body for the page asked for (by ``pageToken``)."""

    def __init__(self, pages: dict[str, list[bytes | int]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        # A body to send, or an error status to answer instead.
        self.pages = pages
        # Seconds to wait before answering a page.
        self.delays: dict[str, float] = {}
        self.page_requests: list[str] = []
        # (method, path with query, JSON body or None) of every list request
        self.received: list[tuple[str, str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_body(self, page: str) -> bytes | int:
        self.page_requests.append(page)
        time.sleep(self.delays.get(page, 0.0))
        bodies = self.pages[page]
        return bodies.pop(0) if len(bodies) > 1 else bodies[0]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ScriptedServer

    def log_message(self, message: str, *args: Any) -> None:
        pass

    def _answer(self, body: bytes | int) -> None:
        if isinstance(body, int):
            self.send_response(body)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/token":
            self._answer(TOKEN.encode())
            return
        sent = json.loads(body)
        self.server.received.append(("POST", self.path, sent))
        self._answer(self.server.next_body(sent.get("pageToken", "first")))

    def do_GET(self) -> None:
        self.server.received.append(("GET", self.path, None))
        page = "first"
        for marker in ("pageToken=", "tracker=", "trackerToken=", "cursor="):
            if marker in self.path:
                page = self.path.split(marker, 1)[1].split("&", 1)[0]
        self._answer(self.server.next_body(page))


# The first answer for page one is a page whose paging fields read fine but
# whose items do not decode: a string that is not UTF-8.
BROKEN_FIRST_PAGE = b'{"items": [{"name": "\xff\xfe"}], "nextPageToken": "two"}'
FIRST_PAGE = b'{"items": [{"name": "a"}, {"name": "b"}], "nextPageToken": "two"}'
SECOND_PAGE = b'{"items": [{"name": "c"}], "nextPageToken": ""}'


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer({"first": [BROKEN_FIRST_PAGE, FIRST_PAGE], "two": [SECOND_PAGE]})
    yield scripted
    scripted.shutdown()
    scripted.server_close()


def names(items: list[Any]) -> list[str]:
    return [item["name"] for item in items]


def test_a_page_that_fails_to_decode_is_fetched_again(server: ScriptedServer) -> None:
    with druva.Session("client", "secret", base_url=server.base_url) as s:
        pages = s.paginate("/list")
        with pytest.raises(druva.ProtocolError):
            next(pages)
        assert pages.pages == 0
        assert names(list(pages)) == ["a", "b", "c"]
    assert server.page_requests == ["first", "first", "two"]


def test_an_async_page_that_fails_to_decode_is_fetched_again(server: ScriptedServer) -> None:
    async def main() -> tuple[list[str], int]:
        async with druva.AsyncSession("client", "secret", base_url=server.base_url) as s:
            pages = s.paginate("/list")
            with pytest.raises(druva.ProtocolError):
                async for _ in pages:
                    pass
            taken = pages.pages
            return names([item async for item in pages]), taken

    items, pages_before_retry = asyncio.run(main())
    assert pages_before_retry == 0
    assert items == ["a", "b", "c"]
    assert server.page_requests == ["first", "first", "two"]


def test_a_paginator_keeps_its_place_when_iteration_stops_mid_page(
    server: ScriptedServer,
) -> None:
    server.pages["first"] = [FIRST_PAGE]

    async def main() -> list[str]:
        async with druva.AsyncSession("client", "secret", base_url=server.base_url) as s:
            pages = s.paginate("/list")
            taken = []
            async for item in pages:
                taken.append(item)
                break
            taken.extend([item async for item in pages])
            return names(taken)

    assert asyncio.run(main()) == ["a", "b", "c"]


def test_a_paginator_iterates_the_way_its_session_calls(server: ScriptedServer) -> None:
    with druva.Session("client", "secret", base_url=server.base_url) as s:
        pages = s.paginate("/list")
        with pytest.raises(TypeError, match="with `for`"):
            pages.__aiter__()
    session = druva.AsyncSession("client", "secret", base_url=server.base_url)
    with pytest.raises(TypeError, match="async for"):
        iter(session.paginate("/list"))
    assert server.page_requests == []


def test_async_calls_are_coroutines_that_start_when_awaited(server: ScriptedServer) -> None:
    server.pages["first"] = [FIRST_PAGE]
    session = druva.AsyncSession("client", "secret", base_url=server.base_url)
    call = session.get("/list")
    assert asyncio.iscoroutine(call)
    assert server.page_requests == []

    async def main() -> int:
        task = asyncio.create_task(session.get("/list"))
        response = await task
        return response.status_code

    assert asyncio.run(main()) == 200
    assert asyncio.run(call).status_code == 200
    with pytest.raises(RuntimeError, match="already awaited"):
        asyncio.run(call)
    assert server.page_requests == ["first", "first"]


def page(items: list[Any], **paging: Any) -> bytes:
    return json.dumps({"items": items, **paging}).encode()


def scripted(pages: dict[str, bytes]) -> ScriptedServer:
    return ScriptedServer({name: [body] for name, body in pages.items()})


def walk_sync(server: ScriptedServer, url: str = "/list", **options: Any) -> tuple[list[Any], Any]:
    with druva.Session("client", "secret", base_url=server.base_url) as s:
        pages = s.paginate(url, **options)
        return list(pages), pages.cursor


def walk_async(server: ScriptedServer, url: str = "/list", **options: Any) -> tuple[list[Any], Any]:
    async def main() -> tuple[list[Any], Any]:
        async with druva.AsyncSession("client", "secret", base_url=server.base_url) as s:
            pages = s.paginate(url, **options)
            return [item async for item in pages], pages.cursor

    return asyncio.run(main())


WALKS = [pytest.param(walk_sync, id="sync"), pytest.param(walk_async, id="async")]


@pytest.mark.parametrize("walk", WALKS)
def test_later_pages_send_the_page_token_alone(walk: Any) -> None:
    server = scripted(
        {"first": page([1, 2], nextPageToken="two"), "two": page([3], nextPageToken="")}
    )
    try:
        items, cursor = walk(server, params={"pageSize": 2, "status": "active"})
    finally:
        server.shutdown()
    assert items == [1, 2, 3]
    assert cursor is None
    assert [path for _, path, _ in server.received] == [
        "/list?pageSize=2&status=active",
        "/list?pageToken=two",
    ]


@pytest.mark.parametrize("walk", WALKS)
def test_a_stream_that_caught_up_ends_and_keeps_its_cursor(walk: Any) -> None:
    server = scripted(
        {
            "first": page([1], nextPageToken="t1"),
            "t1": page([2], nextPageToken="t2"),
            "t2": page([], nextPageToken="t2"),
        }
    )
    try:
        items, cursor = walk(server)
        resumed, cursor_after = walk(server, cursor=cursor)
    finally:
        server.shutdown()
    assert items == [1, 2]
    assert cursor == "t2"
    assert resumed == []
    assert cursor_after == "t2"
    assert server.page_requests == ["first", "t1", "t2", "t2"]


@pytest.mark.parametrize("walk", WALKS)
def test_a_repeated_cursor_ends_the_list_without_an_error(walk: Any) -> None:
    server = scripted(
        {"first": page([1], nextPageToken="same"), "same": page([2], nextPageToken="same")}
    )
    try:
        items, cursor = walk(server)
    finally:
        server.shutdown()
    assert items == [1, 2]
    assert cursor == "same"


@pytest.mark.parametrize("walk", WALKS)
def test_post_paging_sends_the_same_body_with_the_page_token(walk: Any) -> None:
    server = scripted(
        {
            "first": json.dumps({"data": [{"row": 1}], "nextPageToken": "n2"}).encode(),
            "n2": json.dumps({"data": [{"row": 2}], "nextPageToken": ""}).encode(),
        }
    )
    body = {"filters": {"pageSize": 1, "attribute": "lastBackup"}}
    try:
        items, _ = walk(server, "/report", method="POST", json=body)
    finally:
        server.shutdown()
    assert items == [{"row": 1}, {"row": 2}]
    assert server.received == [
        ("POST", "/report", body),
        ("POST", "/report", {**body, "pageToken": "n2"}),
    ]


@pytest.mark.parametrize("walk", WALKS)
def test_a_null_list_is_an_empty_page(walk: Any) -> None:
    server = scripted({"first": json.dumps({"reports": None, "nextPageToken": ""}).encode()})
    try:
        items, cursor = walk(server)
    finally:
        server.shutdown()
    assert items == []
    assert cursor is None


@pytest.mark.parametrize("walk", WALKS)
def test_a_tracker_stream_resends_its_params_and_keeps_the_last_tracker(walk: Any) -> None:
    server = scripted(
        {
            "saved": page([1], tracker="t1", nextPageExists=True),
            "t1": page([2], tracker="t2", nextPageExists=False),
        }
    )
    try:
        items, cursor = walk(server, params={"tracker": "saved", "format": "CEF"})
    finally:
        server.shutdown()
    assert items == [1, 2]
    assert cursor == "t2"
    assert [path for _, path, _ in server.received] == [
        "/list?tracker=saved&format=CEF",
        "/list?format=CEF&tracker=t1",
    ]


def test_bad_paging_arguments_are_refused_before_any_request(server: ScriptedServer) -> None:
    with druva.Session("client", "secret", base_url=server.base_url) as s:
        with pytest.raises(ValueError, match="GET or POST"):
            s.paginate("/list", method="PUT")
        with pytest.raises(ValueError, match="JSON object"):
            s.paginate("/list", method="POST", json=[1])
        with pytest.raises(ValueError, match="json="):
            s.paginate("/list", json={"filters": {}})
        with pytest.raises(ValueError, match="cursor="):
            s.paginate("/list", cursor="")
    assert server.received == []


# Fetching ahead: while the caller consumes a page, the next one is on its way.

THIRD_PAGE = b'{"items": [{"name": "d"}], "nextPageToken": ""}'
MIDDLE_PAGE = b'{"items": [{"name": "c"}], "nextPageToken": "three"}'


@pytest.fixture
def three_pages() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer({"first": [FIRST_PAGE], "two": [MIDDLE_PAGE], "three": [THIRD_PAGE]})
    yield scripted
    scripted.shutdown()
    scripted.server_close()


def wait_for_requests(server: ScriptedServer, count: int) -> None:
    """Waits (bounded) until the server has been asked for ``count`` pages."""
    deadline = time.monotonic() + 10
    while len(server.page_requests) < count:
        assert time.monotonic() < deadline, f"only {server.page_requests} were asked for"
        time.sleep(0.01)


def test_the_next_page_is_fetched_while_the_caller_consumes_this_one(
    three_pages: ScriptedServer,
) -> None:
    with druva.Session("client", "secret", base_url=three_pages.base_url) as s:
        pages = s.paginate("/list")
        assert next(pages)["name"] == "a"
        # Page two is asked for before the caller wants it...
        wait_for_requests(three_pages, 2)
        # ...but only one page ahead, and the walk has not moved past page one.
        time.sleep(0.3)
        assert three_pages.page_requests == ["first", "two"]
        assert pages.cursor == "two"
        assert pages.pages == 1
        assert names(list(pages)) == ["b", "c", "d"]
        assert pages.cursor is None
    # Each page asked for once: the page fetched ahead is the one taken.
    assert three_pages.page_requests == ["first", "two", "three"]


def test_an_async_paginator_fetches_the_next_page_while_the_caller_consumes(
    three_pages: ScriptedServer,
) -> None:
    async def main() -> tuple[list[str], list[str]]:
        async with druva.AsyncSession("client", "secret", base_url=three_pages.base_url) as s:
            pages = s.paginate("/list")
            first = await pages.__anext__()
            deadline = time.monotonic() + 10
            while len(three_pages.page_requests) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            asked = list(three_pages.page_requests)
            rest = [item async for item in pages]
            return names([first, *rest]), asked

    items, asked_after_first = asyncio.run(main())
    assert asked_after_first == ["first", "two"]
    assert items == ["a", "b", "c", "d"]
    assert three_pages.page_requests == ["first", "two", "three"]


def test_a_page_fetched_ahead_that_failed_is_fetched_again_when_reached(
    three_pages: ScriptedServer,
) -> None:
    three_pages.pages["two"] = [500, MIDDLE_PAGE]
    with druva.Session("client", "secret", base_url=three_pages.base_url, max_retries=0) as s:
        pages = s.paginate("/list")
        assert next(pages)["name"] == "a"
        wait_for_requests(three_pages, 2)
        assert names(list(pages)) == ["b", "c", "d"]
    assert three_pages.page_requests == ["first", "two", "two", "three"]


@pytest.mark.parametrize("iteration", ["sync", "async"])
def test_a_page_that_fails_ahead_and_again_is_raised_and_retried(
    three_pages: ScriptedServer, iteration: str
) -> None:
    three_pages.pages["two"] = [500, 503, MIDDLE_PAGE]
    taken: list[Any] = []
    if iteration == "sync":
        with druva.Session("client", "secret", base_url=three_pages.base_url, max_retries=0) as s:
            pages = s.paginate("/list")

            def take_all() -> None:
                for item in pages:
                    taken.append(item)

            with pytest.raises(druva.HTTPStatusError) as raised:
                take_all()
            assert raised.value.status_code == 503
            assert pages.cursor == "two"
            taken.extend(pages)
    else:

        async def main() -> None:
            async with druva.AsyncSession(
                "client", "secret", base_url=three_pages.base_url, max_retries=0
            ) as s:
                pages = s.paginate("/list")

                async def take_all() -> None:
                    async for item in pages:
                        taken.append(item)

                with pytest.raises(druva.HTTPStatusError) as raised:
                    await take_all()
                assert raised.value.status_code == 503
                assert pages.cursor == "two"
                taken.extend([item async for item in pages])

        asyncio.run(main())
    assert names(taken) == ["a", "b", "c", "d"]
    assert three_pages.page_requests == ["first", "two", "two", "two", "three"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_fetches_the_page_its_parent_was_fetching_ahead(
    three_pages: ScriptedServer,
) -> None:
    three_pages.delays["two"] = 0.5
    with druva.Session("client", "secret", base_url=three_pages.base_url) as s:
        pages = s.paginate("/list")
        assert next(pages)["name"] == "a"
        wait_for_requests(three_pages, 2)
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports by exit status
            try:
                code = 0 if names(list(pages)) == ["b", "c", "d"] else 1
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert names(list(pages)) == ["b", "c", "d"]
    # The child asked for page two again (its parent's request never runs in
    # it); the parent took the page it had fetched ahead.
    assert three_pages.page_requests.count("two") == 2
    assert three_pages.page_requests.count("three") == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_paginator_iterated_by_another_thread_at_a_fork_is_usable_in_the_child(
    three_pages: ScriptedServer,
) -> None:
    three_pages.delays["two"] = 1.0
    taken: list[Any] = []
    with druva.Session("client", "secret", base_url=three_pages.base_url) as s:
        pages = s.paginate("/list")
        iterating = threading.Thread(target=lambda: taken.extend(pages), daemon=True)
        iterating.start()
        # The other thread has page one and waits for page two when the fork comes.
        wait_for_requests(three_pages, 2)
        deadline = time.monotonic() + 10
        while len(taken) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports by exit status
            try:
                code = 0 if names(list(pages)) == ["c", "d"] else 1
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(child, 0)
        iterating.join(10)
    # The child's paginator saw its parent's fetch as never started, and
    # fetched page two itself.
    assert os.waitstatus_to_exitcode(status) == 0
    assert names(taken) == ["a", "b", "c", "d"]


def test_an_async_paginator_fetches_again_right_after_a_cancelled_fetch(
    three_pages: ScriptedServer,
) -> None:
    three_pages.delays["first"] = 0.5

    async def main() -> list[str]:
        async with druva.AsyncSession("client", "secret", base_url=three_pages.base_url) as s:
            pages = s.paginate("/list")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(pages.__anext__(), 0.05)
            return names([item async for item in pages])

    assert asyncio.run(main()) == ["a", "b", "c", "d"]


# A page gets one call's budget (timeout, max_retries, rate_limit_wait),
# however it is fetched: ahead, then again when the caller reaches it.

USERS = "/insync/usermanagement/v1/users"


@dataclass
class Walked:
    """A walk through FakeDruva's 250 users (100 a page) that a page failed."""

    before: int
    """Items yielded before the failure."""
    error: BaseException
    requests: int
    """API requests the server had received when the failure was raised."""
    after: int
    """Items yielded by iterating again, with the faults cleared."""


def walk_through_a_failure(fake: FakeDruva, iteration: str, **options: Any) -> Walked:
    def options_for(session_type: Any) -> Any:
        return session_type(fake.client_id, fake.secret, base_url=fake.base_url, **options)

    if iteration == "sync":
        with options_for(druva.Session) as s:
            pages = s.paginate(USERS)
            before: list[Any] = []
            with pytest.raises(druva.DruvaError) as raised:
                before.extend(pages)
            requests = fake.api_requests
            fake.clear_faults()
            return Walked(len(before), raised.value, requests, len(list(pages)))

    async def main() -> Walked:
        async with options_for(druva.AsyncSession) as s:
            pages = s.paginate(USERS)
            before: list[Any] = []

            async def take_all() -> None:
                async for item in pages:
                    before.append(item)

            with pytest.raises(druva.DruvaError) as raised:
                await take_all()
            requests = fake.api_requests
            fake.clear_faults()
            return Walked(len(before), raised.value, requests, len([i async for i in pages]))

    return asyncio.run(main())


@pytest.mark.parametrize("iteration", ["sync", "async"])
def test_a_page_fetched_ahead_gets_one_calls_retries(fake: FakeDruva, iteration: str) -> None:
    # The first page is answered (a delay of zero uses up the first fault);
    # every attempt at the second, fetched ahead, answers 503.
    fake.delay_next(0, path=USERS)
    fake.fail_next(503, count=10, path=USERS)

    walked = walk_through_a_failure(fake, iteration, max_retries=2)

    assert walked.before == 100
    assert isinstance(walked.error, druva.HTTPStatusError)
    assert walked.error.status_code == 503
    # The first page, then 1 + max_retries attempts at the second in all.
    assert walked.requests == 1 + 3
    assert walked.after == 150


@pytest.mark.parametrize("iteration", ["sync", "async"])
def test_a_page_fetched_ahead_gets_one_calls_timeout(fake: FakeDruva, iteration: str) -> None:
    # The second page, fetched ahead, is answered after the call's timeout.
    fake.delay_next(0, path=USERS)
    fake.delay_next(3, path=USERS)

    walked = walk_through_a_failure(fake, iteration, timeout=1.0, max_retries=2)

    assert walked.before == 100
    assert isinstance(walked.error, druva.TimeoutError)
    # Timed out once: no second attempt with a timeout of its own.
    assert walked.requests == 2
    assert walked.after == 150


@pytest.mark.parametrize("iteration", ["sync", "async"])
def test_a_page_fetched_ahead_gets_one_calls_rate_limit_wait(
    fake: FakeDruva, iteration: str
) -> None:
    # Every attempt at the second page, fetched ahead, is throttled for a second.
    fake.delay_next(0, path=USERS)
    fake.fail_next(429, count=10, retry_after=1, path=USERS)

    walked = walk_through_a_failure(fake, iteration, rate_limit_wait=1.5)

    assert walked.before == 100
    assert isinstance(walked.error, druva.RateLimitError)
    # The first page, then the second: one wait of a second fits in 1.5 s, a
    # second wait would not.
    assert walked.requests == 1 + 2
    assert walked.after == 150


def test_paginate_is_lazy(fake: FakeDruva, session: druva.Session) -> None:
    pages = session.paginate(USERS)
    assert fake.api_requests == 0
    next(pages)
    # The first page, and at most the one after it, fetched ahead.
    assert fake.api_requests in (1, 2)
    deadline = time.monotonic() + 10
    while fake.api_requests < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.api_requests == 2
    assert pages.pages == 1


def test_the_page_after_is_asked_for_when_a_page_arrives_before_its_items_are_taken(
    fake: FakeDruva, session: druva.Session
) -> None:
    # Page two answers late, while the caller waits for it in another thread.
    fake.delay_next(0, path=USERS)
    fake.delay_next(0.5, path=USERS)
    pages = session.paginate(USERS)
    taken: list[Any] = []

    def consume() -> None:
        for item in pages:
            taken.append(item)

    consumer = threading.Thread(target=consume, daemon=True)
    switch_interval = sys.getswitchinterval()
    # No forced hand-off of the GIL: a thread keeps it until it waits.
    sys.setswitchinterval(1000)
    try:
        consumer.start()
        deadline = time.monotonic() + 10
        # The consumer has page one's items and waits for page two.
        while len(taken) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        # This thread now holds the GIL, so the consumer cannot take page
        # two's items; page three is asked for all the same, by druva's
        # runtime, when page two arrives.
        while fake.api_requests < 3 and time.monotonic() < deadline:
            pass
        asked, held = fake.api_requests, len(taken)
    finally:
        sys.setswitchinterval(switch_interval)
    consumer.join(10)
    assert (asked, held) == (3, 100)
    assert len(taken) == 250
    # Each page asked for once.
    assert fake.api_requests == 3


# Resuming from a saved (cursor, style).

EVENTS_V2 = "/insync/eventmanagement/v2/events"


def test_a_tracker_stream_resumes_from_a_saved_cursor_and_style(
    fake: FakeDruva, session: druva.Session
) -> None:
    events = session.paginate(EVENTS_V2, params={"format": "CEF"})
    assert len(list(events)) > 0
    saved, style = events.cursor, events.style
    assert style == "tracker"
    fake.add_events(3)
    fake.reset_counters()

    resumed = session.paginate(EVENTS_V2, params={"format": "CEF"}, cursor=saved, style=style)
    assert (resumed.cursor, resumed.style) == (saved, "tracker")
    assert len(list(resumed)) == 3

    first = fake.requests[0]["query"]
    assert "format=CEF" in first
    assert f"tracker={saved}" in first


@pytest.mark.parametrize("walk", WALKS)
def test_a_saved_page_token_resumes_with_its_style(walk: Any) -> None:
    server = scripted({"saved": page([1], nextPageToken="")})
    try:
        items, cursor = walk(server, params={"pageSize": 2}, cursor="saved", style="page-token")
    finally:
        server.shutdown()
    assert items == [1]
    assert cursor is None
    assert [path for _, path, _ in server.received] == ["/list?pageToken=saved"]


def test_a_style_needs_a_cursor_and_a_known_name(server: ScriptedServer) -> None:
    with druva.Session("client", "secret", base_url=server.base_url) as s:
        with pytest.raises(ValueError, match="cursor="):
            s.paginate("/list", style="tracker")
        with pytest.raises(ValueError, match="page-token"):
            s.paginate("/list", cursor="x", style="pages")
        assert s.paginate("/list").style is None
    assert server.received == []


# The tracker-token and declared styles, and a cursor nothing reads.

CYBER_RESILIENCE = "/realize/eventmanagement/v1/events/tracker"
PLATFORM_V2 = "/platform/eventmanagement/v2/events"


@pytest.mark.parametrize("walk", WALKS)
def test_a_tracker_token_stream_resends_its_params_and_resumes_from_its_cursor(walk: Any) -> None:
    server = scripted(
        {
            "first": page([1], nextTrackerToken="t1"),
            "t1": page([2], nextTrackerToken="t2"),
            "t2": page([], nextTrackerToken="t2"),
        }
    )
    try:
        items, cursor = walk(server, params={"since": "x"})
        resumed, after = walk(server, params={"since": "x"}, cursor=cursor, style="tracker-token")
    finally:
        server.shutdown()
    assert (items, cursor, resumed, after) == ([1, 2], "t2", [], "t2")
    assert [path for _, path, _ in server.received] == [
        "/list?since=x",
        "/list?since=x&trackerToken=t1",
        "/list?since=x&trackerToken=t2",
        "/list?since=x&trackerToken=t2",
    ]


@pytest.mark.parametrize("walk", WALKS)
@pytest.mark.parametrize(
    ("keep_params", "second"), [(False, "/list?cursor=c1"), (True, "/list?a=1&cursor=c1")]
)
def test_a_declared_style_follows_its_field_and_sends_its_param(
    walk: Any, keep_params: bool, second: str
) -> None:
    server = scripted({"first": page([1], nextCursor="c1"), "c1": page([2], nextCursor=None)})
    declared = {"cursor_field": "nextCursor", "cursor_param": "cursor", "keep_params": keep_params}
    try:
        items, cursor = walk(server, params={"a": "1"}, **declared)
        resumed, _ = walk(server, params={"a": "1"}, cursor="c1", **declared)
    finally:
        server.shutdown()
    assert (items, cursor, resumed) == ([1, 2], None, [2])
    assert [path for _, path, _ in server.received] == ["/list?a=1", second, second]


@pytest.mark.parametrize("walk", WALKS)
def test_a_cursor_that_no_rule_reads_is_an_error_naming_it_not_a_one_page_list(walk: Any) -> None:
    server = scripted({"first": page([1], nextCursor="c1")})
    try:
        with pytest.raises(druva.ProtocolError, match="nextCursor") as raised:
            walk(server)
    finally:
        server.shutdown()
    assert "cursor_field=" in str(raised.value)
    assert "cursor_param=" in str(raised.value)


def test_declared_arguments_come_whole_and_agree_with_the_style(server: ScriptedServer) -> None:
    with druva.Session("client", "secret", base_url=server.base_url) as s:
        for alone in ({"cursor_field": "next"}, {"cursor_param": "cursor"}, {"keep_params": True}):
            with pytest.raises(ValueError, match="cursor_field= and cursor_param="):
                s.paginate("/list", **alone)
        with pytest.raises(ValueError, match="declared"):
            s.paginate("/list", cursor="x", style="declared")
        with pytest.raises(ValueError, match="contradicts"):
            s.paginate("/list", cursor="x", style="tracker", cursor_field="n", cursor_param="c")
        with pytest.raises(ValueError, match="tracker-token"):
            s.paginate("/list", cursor="x", style="tracker tokens")
        declared = s.paginate("/list", cursor_field="n", cursor_param="c")
        assert declared.style == "declared"
    assert server.received == []


def read_list(
    fake: FakeDruva, path: str, is_async: bool, **options: Any
) -> tuple[list[Any], str | None, str | None]:
    """Every item of a list of the fake, its last cursor and its style."""

    def session_of(kind: Any) -> Any:
        return kind(fake.client_id, fake.secret, base_url=fake.base_url)

    if not is_async:
        with session_of(druva.Session) as s:
            pages = s.paginate(path, **options)
            return list(pages), pages.cursor, pages.style

    async def main() -> tuple[list[Any], str | None, str | None]:
        async with session_of(druva.AsyncSession) as s:
            pages = s.paginate(path, **options)
            return [item async for item in pages], pages.cursor, pages.style

    return asyncio.run(main())


ITERATIONS = [pytest.param(False, id="sync"), pytest.param(True, id="async")]


@pytest.mark.parametrize("is_async", ITERATIONS)
def test_cyber_resilience_events_are_read_whole_and_resumed_with_only_the_new_ones(
    is_async: bool,
) -> None:
    with FakeDruva(users=10, page_size=4) as fake:
        events, saved, style = read_list(fake, CYBER_RESILIENCE, is_async)
        assert [event["eventID"] for event in events] == list(range(1, 31))
        assert style == "tracker-token"
        fake.add_events(3)
        new, _, _ = read_list(fake, CYBER_RESILIENCE, is_async, cursor=saved, style=style)
        assert [event["eventID"] for event in new] == [31, 32, 33]


@pytest.mark.parametrize("is_async", ITERATIONS)
def test_platform_events_v2_page_like_the_sentinel_connector_with_a_declared_style(
    is_async: bool,
) -> None:
    connector = {
        "params": {"source": "Platform", "ignoreTrackerExpiry": "True"},
        "cursor_field": "nextPageToken",
        "cursor_param": "pageToken",
        "keep_params": True,
    }
    with FakeDruva(users=10, page_size=7) as fake:
        events, saved, style = read_list(fake, PLATFORM_V2, is_async, **connector)
        assert [event["details"]["eventID"] for event in events] == list(range(1, 31))
        assert style == "declared"
        assert "source=Platform" in fake.requests[-1]["query"]
        fake.add_events(2)
        new, _, _ = read_list(fake, PLATFORM_V2, is_async, cursor=saved, **connector)
        assert [event["details"]["eventID"] for event in new] == [31, 32]
        plain, _, style = read_list(fake, PLATFORM_V2, is_async, params={"source": "Platform"})
        assert (len(plain), style) == (32, "page-token")
