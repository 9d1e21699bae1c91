"""Edges where druva used to be quietly wrong: a body's charset, proxies and
loopback, bad proxy and TLS settings, tiny timeouts, token redirects."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import druva
import pytest

USERS = "/insync/usermanagement/v1/users"
TOKEN_BODY = b'{"access_token": "reliable-token", "token_type": "bearer", "expires_in": 1800}'


@dataclass
class Answer:
    status: int = 200
    body: bytes = b'{"users": [], "nextPageToken": ""}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]


class Server:
    """An HTTP server on loopback: POST answers a token, GET answers
    ``answer`` (or what ``route`` returns); it records every request."""

    def __init__(self, route: Callable[[str, str], Answer] | None = None) -> None:
        self.answer = Answer()
        self.received: list[Received] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.reply("POST")

            def do_GET(self) -> None:
                self.reply("GET")

            def reply(self, method: str) -> None:
                outer.received.append(Received(method, self.path, dict(self.headers.items())))
                answer = route(method, self.path) if route else None
                if answer is None:
                    answer = Answer(body=TOKEN_BODY) if method == "POST" else outer.answer
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    origin = Server()
    yield origin
    origin.close()


def session_for(server: Server, **options: object) -> druva.Session:
    return druva.Session("reliable-client", "reliable-secret", base_url=server.base_url, **options)


# Response.text


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain; charset=base64",
        "text/plain; charset=",
        'text/plain; charset=""',
        "text/plain; charset=no-such-charset",
        "text/plain; charset=idna",
    ],
)
def test_text_with_a_charset_python_cannot_decode_falls_back_to_utf8(
    server: Server, content_type: str
) -> None:
    body = "café ".encode() + b"\xff"
    server.answer = Answer(body=body, headers={"Content-Type": content_type})
    with session_for(server) as s:
        response = s.get(USERS)
    assert response.text == body.decode("utf-8", "replace")


def test_text_with_a_known_charset_decodes_with_it(server: Server) -> None:
    body = "café".encode("latin-1")
    server.answer = Answer(body=body, headers={"Content-Type": "text/plain; charset=ISO-8859-1"})
    with session_for(server) as s:
        assert s.get(USERS).text == "café"


# Durations


@pytest.mark.parametrize("timeout", [5e-324, 1e-9, 0.0009])
def test_a_sub_millisecond_timeout_is_a_value_error_that_says_the_minimum(timeout: float) -> None:
    with pytest.raises(ValueError, match=r"timeout must be at least 0\.001 seconds"):
        druva.Session("reliable-client", "reliable-secret", timeout=timeout)
    with pytest.raises(ValueError, match=r"timeout must be at least 0\.001 seconds"):
        druva.get_token("reliable-client", "reliable-secret", timeout=timeout)


def test_a_sub_millisecond_timeout_of_one_call_is_a_value_error(server: Server) -> None:
    with session_for(server) as s:
        with pytest.raises(ValueError, match=r"timeout must be at least 0\.001 seconds"):
            s.get(USERS, timeout=5e-324)
    assert server.received == []


def test_a_millisecond_timeout_and_a_zero_leeway_are_accepted(server: Server) -> None:
    session_for(server, timeout=0.001).close()
    with session_for(server, leeway=0) as s:
        assert s.get(USERS, timeout=0.001 + 10).ok


# Token redirects


@pytest.fixture
def foreign() -> Iterator[Server]:
    other = Server()
    yield other
    other.close()


def redirecting_token_endpoint(location: str, status: int) -> Server:
    def route(method: str, path: str) -> Answer | None:
        if method == "POST" and path == "/token":
            return Answer(status=status, body=b"", headers={"Location": location})
        return None

    return Server(route)


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_token_from_another_origin_after_a_redirect_is_a_protocol_error(
    foreign: Server, status: int
) -> None:
    origin = redirecting_token_endpoint(f"{foreign.base_url}/token", status)
    try:
        with pytest.raises(druva.ProtocolError, match="redirected to another origin"):
            druva.get_token(f"redirected-{status}", "redirect-secret", base_url=origin.base_url)
        with session_for(origin) as s, pytest.raises(druva.ProtocolError, match="another origin"):
            s.get(USERS)
    finally:
        origin.close()
    assert foreign.received, "the redirect was not followed: the test proves nothing"
    assert all("Authorization" not in request.headers for request in foreign.received)
    # Only the redirected token request: no API call carried a foreign token.
    assert {request.path for request in foreign.received} == {"/token"}


def test_a_token_endpoint_that_redirects_within_its_origin_still_works() -> None:
    def route(method: str, path: str) -> Answer | None:
        if method == "POST" and path == "/token":
            return Answer(status=307, body=b"", headers={"Location": "/oauth/token"})
        return None

    origin = Server(route)
    try:
        token = druva.get_token("redirected-within", "redirect-secret", base_url=origin.base_url)
    finally:
        origin.close()
    assert token["access_token"] == "reliable-token"
