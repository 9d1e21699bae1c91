"""Lists that never end, and sessions that were closed: neither may wedge a
caller or grow without bound."""

from __future__ import annotations

import json
import os
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

from .conftest import assert_ctrl_c_interrupts

TOKEN = b'{"access_token": "endless-token", "token_type": "bearer", "expires_in": 1800}'

# A server whose every page has an item and a fresh 4 KB page token: the
# list never ends. Also run inside the Ctrl-C child below.
ENDLESS_SERVER = r"""
import http.server, json, threading

class Endless(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served = 0

    def log_message(self, *args):
        pass

    def answer(self, body):
        # One write: headers and body in separate segments would wait out
        # delayed ACKs, 40 ms a page.
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        length = b"Content-Length: %d\r\n\r\n" % len(body)
        self.wfile.write(head + length + body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.answer(TOKEN)

    def do_GET(self):
        Endless.served += 1
        token = f"{Endless.served:08d}".ljust(4096, "x")
        body = {"items": [{"n": Endless.served}], "nextPageToken": token}
        self.answer(json.dumps(body).encode())

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
threading.Thread(target=server.serve_forever, daemon=True).start()
endless_url = f"http://127.0.0.1:{server.server_address[1]}"
"""


@pytest.fixture
def endless() -> Iterator[Any]:
    scope: dict[str, Any] = {"TOKEN": TOKEN}
    exec(ENDLESS_SERVER, scope)  # noqa: S102 - our own constant server code
    yield scope
    scope["server"].shutdown()
    scope["server"].server_close()


def rss_mib() -> float:
    status = Path(f"/proc/{os.getpid()}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_an_endless_list_costs_one_page_of_memory(endless: Any) -> None:
    with druva.Session("endless", "secret", base_url=endless["endless_url"]) as s:
        pager = s.paginate("/list")
        for _ in range(200):  # warm up allocators and the connection
            next(pager)
        before = rss_mib()
        for _ in range(3000):
            next(pager)
        grown = rss_mib() - before
        assert pager.pages == 3200
        assert pager.cursor is not None and len(pager.cursor) == 4096
    # Keeping every 4 KB token would be 12 MiB more; allocator noise is far less.
    assert grown < 8, f"RSS grew {grown:.1f} MiB over 3000 pages"


def test_ctrl_c_stops_an_endless_list_however_fast_pages_come(tmp_path: Path) -> None:
    setup = (
        f"TOKEN = {TOKEN!r}\n"
        + ENDLESS_SERVER
        + "s = druva.Session('endless', 'secret', base_url=endless_url)\n"
        + "next(iter(s.paginate('/list')))\n"
    )
    assert_ctrl_c_interrupts(tmp_path, setup, "list(s.paginate('/list'))")


def test_ctrl_c_keeps_the_page_it_interrupted(endless: Any) -> None:
    # A KeyboardInterrupt raised between pages loses nothing: the page taken
    # just before it is yielded by the next next().
    with druva.Session("endless", "secret", base_url=endless["endless_url"]) as s:
        pager = s.paginate("/list")
        seen = [next(pager)["n"] for _ in range(5)]
    assert seen == sorted(seen) and len(set(seen)) == 5


def test_a_closed_session_serves_no_token(fake: FakeDruva) -> None:
    s = druva.Session(fake.client_id, fake.secret, base_url=fake.base_url)
    assert s.token["access_token"]
    s.close()
    with pytest.raises(RuntimeError, match="closed"):
        _ = s.token
    requests = fake.token_requests

    async def main() -> None:
        session = druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url)
        await session.token()
        await session.close()
        with pytest.raises(RuntimeError, match="closed"):
            await session.token()

    import asyncio

    asyncio.run(main())
    assert fake.token_requests == requests, "the async session's token was cached"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_fifo_as_ca_bundle_is_refused_without_waiting_for_a_writer(
    tmp_path: Path, fake: FakeDruva
) -> None:
    # Opening or reading a FIFO waits for a writer, beyond the reach of
    # Ctrl-C: it is refused before it is read (no writer ever comes here).
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"ca_bundle .* is not a regular file"):
        druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, ca_bundle=fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, ca_bundle=fifo)
    assert fake.token_requests == 0


def test_the_fixture_server_is_endless(endless: Any) -> None:
    # The other tests rely on it: every page has a new token and one item.
    with druva.Session("endless", "secret", base_url=endless["endless_url"]) as s:
        first = s.get("/list").json()
        second = s.get("/list", params={"pageToken": first["nextPageToken"]}).json()
    assert first["nextPageToken"] != second["nextPageToken"]
    assert json.dumps(first["items"]) != json.dumps(second["items"])


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_ca_bundle_is_refused_not_read_forever(fake: FakeDruva) -> None:
    with pytest.raises(ValueError, match="ca_bundle /dev/zero is not a regular file"):
        druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, ca_bundle="/dev/zero")


def test_a_ca_bundle_over_16_mib_is_refused_unread(tmp_path: Path, fake: FakeDruva) -> None:
    huge = tmp_path / "huge.pem"
    with open(huge, "wb") as file:
        file.truncate(17 * 1024 * 1024)  # sparse: no disk used
    with pytest.raises(ValueError, match=r"ca_bundle .* is larger than 16 MiB"):
        druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, ca_bundle=huge)
