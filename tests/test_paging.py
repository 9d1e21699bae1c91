"""The paging state machine, as Python's iterators drive it: a page that fails
is fetched again, in sync and async iteration alike, and nothing is lost or
yielded twice."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import druva
import pytest

TOKEN = json.dumps({"access_token": "scripted", "token_type": "bearer", "expires_in": 1800})


class ScriptedServer(http.server.ThreadingHTTPServer):
    """Answers ``POST /token`` with a token and ``GET /list`` with the next
    scripted body for the page asked for (by ``pageToken``)."""

    def __init__(self, pages: dict[str, list[bytes]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages = pages
        self.page_requests: list[str] = []
        # (method, path with query, JSON body or None) of every list request
        self.received: list[tuple[str, str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_body(self, page: str) -> bytes:
        self.page_requests.append(page)
        bodies = self.pages[page]
        return bodies.pop(0) if len(bodies) > 1 else bodies[0]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ScriptedServer

    def log_message(self, message: str, *args: Any) -> None:
        pass

    def _answer(self, body: bytes) -> None:
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
        for marker in ("pageToken=", "tracker="):
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
