from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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


@dataclass
class RawServer:
    """A one-shot HTTP server on loopback that records the exact bytes of each
    request and answers with a canned response: for checking the wire format."""

    response: bytes
    requests: list[bytes] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

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
                    body += connection.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                connection.sendall(self.response)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def raw_token_server() -> Iterator[RawServer]:
    body = b'{"access_token": "raw-token", "token_type": "bearer", "expires_in": 1800}'
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    server = RawServer(response)
    yield server
    server.close()


def assert_ctrl_c_interrupts(tmp_path: Path, setup: str, blocking_call: str) -> None:
    """Runs ``setup`` then ``blocking_call`` in a child Python, sends SIGINT
    while the call blocks, and checks that it raised KeyboardInterrupt promptly."""
    script = tmp_path / "interrupted.py"
    body = textwrap.indent(textwrap.dedent(setup) + "\nprint('ready', flush=True)\n", "    ")
    script.write_text(
        "import sys, time\n"
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
