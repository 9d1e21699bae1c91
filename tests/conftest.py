from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import druva
import pytest
from druva.testing import FakeDruva


@pytest.fixture
def fake() -> Iterator[FakeDruva]:
    """A fresh fake Druva with its own generated credentials (so its tokens
    never collide with another test's in the process-wide cache)."""
    with FakeDruva(users=250, page_size=100) as server:
        yield server


@pytest.fixture
def session(fake: FakeDruva) -> Iterator[druva.Session]:
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
        yield s


Answerer = Callable[[bytes, socket.socket], None]


class RawServer:
    """An HTTP server on loopback at the level of bytes, for what a real server
    would not do: it records the exact bytes of each request (head, and the
    body its Content-Length announces) and answers with ``response``: canned
    bytes, or a function of the request that writes to the connection. Each
    connection serves one request and is closed; a client that hangs up
    early is not an error."""

    def __init__(self, response: bytes | Answerer) -> None:
        self.requests: list[bytes] = []
        self._answer = response if callable(response) else self._canned(response)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _canned(response: bytes) -> Answerer:
        return lambda _request, connection: connection.sendall(response)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(30)
                try:
                    request = self._read(connection)
                    self.requests.append(request)
                    self._answer(request, connection)
                except OSError:
                    pass

    @staticmethod
    def _read(connection: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def close(self) -> None:
        self._listener.close()


def http_response(status: str, body: bytes = b"", *headers: str) -> bytes:
    """The bytes of a complete HTTP/1.1 response that closes its connection."""
    head = [f"HTTP/1.1 {status}", *headers, "Connection: close", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
def raw_token_server() -> Iterator[RawServer]:
    body = b'{"access_token": "raw-token", "token_type": "bearer", "expires_in": 1800}'
    server = RawServer(http_response("200 OK", body, "Content-Type: application/json"))
    yield server
    server.close()


def assert_ctrl_c_interrupts(tmp_path: Path, setup: str, blocking_call: str) -> None:
    """Runs ``setup`` then ``blocking_call`` in a child Python, sends SIGINT
    while the call blocks, and checks that it raised KeyboardInterrupt promptly."""
    script = tmp_path / "interrupted.py"
    body = textwrap.indent(textwrap.dedent(setup) + "\nprint('ready', flush=True)\n", "    ")
    script.write_text(
        "import signal, sys, time\n"
        # Started as a background job, the child inherits SIGINT ignored.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import druva\n"
        "from druva.testing import FakeDruva\n"
        "with FakeDruva() as fake:\n"
        + body
        + "    try:\n"
        + f"        {blocking_call}\n"
        + "    except KeyboardInterrupt:\n"
        + "        print('interrupted', time.monotonic(), flush=True)\n"
        + "        sys.exit(3)\n"
    )
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready", child.communicate()[1]
    time.sleep(0.5)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    line = child.stdout.readline().split()
    assert child.wait(timeout=10) == 3, child.communicate()[1]
    assert line[0] == "interrupted"
    # The contract is 200 ms; the bound leaves room for a loaded shared machine.
    assert float(line[1]) - sent < 1.0


def run_python(code: str, **environment: str | None) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a fresh interpreter, whose clients read the environment
    anew: the proxy variables cleared, then ``environment`` applied (``None``
    removes a variable)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}
    }
    for name, value in environment.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def redis_required() -> bool:
    """Whether a missing redis-server fails the Redis tests instead of skipping
    them: on CI, or when DRUVA_REQUIRE_REDIS=1."""
    return bool(os.environ.get("CI")) or os.environ.get("DRUVA_REQUIRE_REDIS") == "1"


def start_redis_server() -> tuple[subprocess.Popen[bytes], str] | None:
    """A redis-server of its own on a free loopback port, keeping nothing on
    disk, and its URL; ``None`` when redis-server is not installed."""
    import shutil

    executable = shutil.which("redis-server")
    if executable is None:
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing on disk: no snapshots, no append-only file.
    options = ["--save", "", "--appendonly", "no"]
    server = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    server.kill()
    server.wait(timeout=10)
    raise RuntimeError("redis-server did not start listening within 10 s")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a redis-server started for the tests (and stopped after
    them). Without redis-server the test is skipped, or fails on CI."""
    started = start_redis_server()
    if started is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if redis_required():
            pytest.fail(message)
        pytest.skip(message)
    server, url = started
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
