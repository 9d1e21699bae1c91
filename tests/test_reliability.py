"""Edges where druva used to be quietly wrong: a body's charset, proxies and
loopback, bad proxy and TLS settings, tiny timeouts, token redirects."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import druva
import pytest

from .conftest import RawServer, run_python

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


# Proxies never see loopback traffic


@pytest.fixture
def proxy() -> Iterator[RawServer]:
    """A TCP listener posing as a proxy: it records the request of every
    connection it gets, then hangs up."""
    listener = RawServer(b"")
    yield listener
    listener.close()


LOOPBACK_CALLS = """
    import asyncio, druva
    for base_url in [{base_urls}]:
        with druva.Session("loop-client", "loop-secret", base_url=base_url{options}) as s:
            assert s.get("{path}").ok
        async def main():
            async with druva.AsyncSession(
                "loop-async", "loop-secret", base_url=base_url{options}
            ) as s:
                return (await s.get("{path}")).ok
        assert asyncio.run(main())
        assert druva.get_token("loop-token", "loop-secret", base_url=base_url)["access_token"]
    print("done")
"""


def loopback_urls(server: Server) -> str:
    return f'"{server.base_url}", "http://localhost:{server.port}"'


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "HTTPS_PROXY"])
def test_a_proxy_from_the_environment_never_sees_loopback_calls(
    server: Server, proxy: RawServer, variable: str
) -> None:
    code = LOOPBACK_CALLS.format(base_urls=loopback_urls(server), options="", path=USERS)
    result = run_python(code, **{variable: proxy.base_url})
    assert result.returncode == 0, result.stderr
    assert proxy.requests == []
    methods = [request.method for request in server.received]
    # Each session and get_token asked for a token; each session made its call.
    assert methods.count("POST") >= 1
    assert methods.count("GET") == 4


def test_the_proxy_argument_never_sees_loopback_calls(server: Server, proxy: RawServer) -> None:
    with session_for(server, proxy=proxy.base_url) as s:
        assert s.get(USERS).ok

    async def main() -> bool:
        async with druva.AsyncSession(
            "reliable-async", "reliable-secret", base_url=server.base_url, proxy=proxy.base_url
        ) as s:
            return (await s.get(USERS)).ok

    assert asyncio.run(main())
    with druva.Session(
        "reliable-localhost",
        "reliable-secret",
        base_url=f"http://localhost:{server.port}",
        proxy=proxy.base_url,
    ) as s:
        assert s.get(USERS).ok
    assert proxy.requests == []
    assert [request.method for request in server.received].count("GET") == 3


def test_https_to_another_host_still_goes_through_the_proxy_argument(
    proxy: RawServer,
) -> None:
    with druva.Session(
        "proxied-client",
        "proxied-secret",
        base_url="https://apis.example.invalid",
        proxy=proxy.base_url,
        timeout=3,
        max_retries=0,
    ) as s:
        with pytest.raises(druva.TransportError):
            s.get(USERS)
    assert proxy.requests
    assert proxy.requests[0].startswith(b"CONNECT apis.example.invalid:443 ")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HTTPS_PROXY", "{url}"), ("ALL_PROXY", "{url}"), ("https_proxy", "127.0.0.1:{port}")],
)
def test_https_to_another_host_still_goes_through_the_environment_proxy(
    proxy: RawServer, variable: str, value: str
) -> None:
    code = """
        import druva
        try:
            druva.get_token("env-client", "env-secret", base_url="https://apis.example.invalid",
                            timeout=3)
        except druva.TransportError:
            print("refused")
    """
    result = run_python(code, **{variable: value.format(url=proxy.base_url, port=proxy.port)})
    assert result.stdout.split() == ["refused"], result.stderr
    assert proxy.requests
    assert proxy.requests[0].startswith(b"CONNECT apis.example.invalid:443 ")


# Proxy and TLS settings that cannot work are refused up front


@pytest.mark.parametrize(
    ("proxy_url", "says"),
    [
        ("htp://proxy.example:3128", 'scheme "htp"'),
        ("socks9://proxy.example", 'scheme "socks9"'),
        ("socks5://proxy.example:1080", "SOCKS proxies are not supported"),
        ("proxy.example:3128", "has no scheme"),
        ("http://", "not a valid proxy URL"),
    ],
)
def test_a_proxy_argument_druva_cannot_use_is_a_value_error(proxy_url: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        druva.Session("reliable-client", "reliable-secret", proxy=proxy_url)
    message = str(caught.value)
    assert "the proxy argument" in message
    assert says in message
    assert "accepted schemes are http and https" in message


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_variable_druva_cannot_use_is_a_value_error_with_credentials_masked(
    variable: str,
) -> None:
    code = """
        import druva
        for call in (
            lambda: druva.Session("env-client", "env-secret"),
            lambda: druva.get_token("env-client", "env-secret"),
        ):
            try:
                call()
            except ValueError as error:
                print(error)
    """
    result = run_python(code, **{variable: "htp://proxyuser:hunter2@proxy.example:3128"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    for line in lines:
        assert f"the environment variable {variable}" in line
        assert "htp://***@proxy.example:3128" in line
        assert "hunter2" not in line


def test_an_empty_proxy_variable_means_no_proxy(server: Server) -> None:
    code = f"""
        import druva
        with druva.Session("env-client", "env-secret", base_url="{server.base_url}") as s:
            assert s.get("{USERS}").ok
    """
    result = run_python(code, HTTPS_PROXY="", HTTP_PROXY="")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SSL_CERT_FILE", "/nonexistent/ca-bundle.pem"),
        ("SSL_CERT_DIR", "/nonexistent/certs"),
        ("SSL_CERT_DIR", "/etc:/nonexistent/certs"),
    ],
)
@pytest.mark.skipif(sys.platform != "linux", reason="where the platform verifier reads them")
def test_a_tls_variable_naming_a_missing_path_is_a_value_error(variable: str, value: str) -> None:
    code = """
        import druva
        for call in (
            lambda: druva.Session("tls-client", "tls-secret"),
            lambda: druva.get_token("tls-client", "tls-secret"),
        ):
            try:
                call()
            except ValueError as error:
                print(error)
    """
    result = run_python(code, **{variable: value})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    for line in lines:
        assert f"the environment variable {variable}" in line
        assert "/nonexistent/" in line


@pytest.mark.skipif(sys.platform != "linux", reason="where the platform verifier reads them")
def test_tls_variables_that_leave_nothing_to_trust_say_so(tmp_path: Path) -> None:
    code = """
        import druva
        try:
            druva.Session("tls-client", "tls-secret")
        except druva.TransportError as error:
            print(error)
    """
    result = run_python(code, SSL_CERT_FILE=None, SSL_CERT_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "No CA certificates were loaded" in result.stdout
    assert "SSL_CERT_DIR" in result.stdout
