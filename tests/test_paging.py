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
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer(TOKEN.encode())

    def do_GET(self) -> None:
        page = "first"
        if "pageToken=" in self.path:
            page = self.path.split("pageToken=", 1)[1].split("&", 1)[0]
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
