"""druva.auth: Druva's token on the requests of an existing requests.Session,
httpx.Client or httpx.AsyncClient (DESIGN, Public Python API). Each test runs
every client against FakeDruva: the token from the shared cache, one renewal
and one resend on 401/403, no resend of a spent stream, nothing added to a
request for another origin."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import pickle
import re
import socket
import ssl
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import druva
import httpx
import pytest
import requests
from druva.auth import HttpxAuth, RequestsAuth
from druva.testing import FakeDruva

from .conftest import RawServer, http_response, run_python

USERS = "/insync/usermanagement/v1/users"
ECHO = "/_echo"
KINDS = ["requests", "httpx", "httpx-async"]

pytestmark = pytest.mark.timeout(60)


@dataclass
class Answer:
    status_code: int
    # The responses before this one (a refusal, a redirect).
    history: int


class Caller:
    """One kind of client with the adapter on, called the same way: an
    existing ``requests.Session``, ``httpx.Client`` or ``httpx.AsyncClient``
    (on one event loop kept for the whole test)."""

    def __init__(self, kind: str, auth: Any, verify: Any = True) -> None:
        self.kind = kind
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        if kind == "requests":
            self._session = requests.Session()
            self._session.trust_env = False
            self._session.verify = verify
            self._session.auth = auth
        elif kind == "httpx":
            self._client = httpx.Client(
                auth=auth, trust_env=False, follow_redirects=True, verify=verify
            )
        else:
            self._loop = asyncio.new_event_loop()

            async def opened() -> httpx.AsyncClient:
                return httpx.AsyncClient(
                    auth=auth, trust_env=False, follow_redirects=True, verify=verify
                )

            self._async_client = self._loop.run_until_complete(opened())

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Optional[bytes] = None,
        streamed: Optional[list[bytes]] = None,
        headers: Optional[dict[str, str]] = None,
    ) -> Answer:
        """Sends one request; ``streamed`` chunks go as a generator body (an
        async one for the AsyncClient)."""
        if self.kind == "requests":
            data: Any = body if streamed is None else iter(streamed)
            response = self._session.request(method, url, data=data, headers=headers)
            return Answer(response.status_code, len(response.history))
        content: Any = body if streamed is None else self._stream(streamed)
        if self._loop is None:
            sync = self._client.request(method, url, content=content, headers=headers)
            return Answer(sync.status_code, len(sync.history))
        sent = self._async_client.request(method, url, content=content, headers=headers)
        answer = self._loop.run_until_complete(sent)
        return Answer(answer.status_code, len(answer.history))

    def get_at_once(self, url: str, count: int) -> list[int]:
        """``count`` GETs in flight together: threads, or tasks of one loop."""
        if self._loop is None:
            statuses: list[int] = []
            threads = [
                threading.Thread(
                    target=lambda: statuses.append(self.request("GET", url).status_code)
                )
                for _ in range(count)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return statuses

        async def together() -> list[int]:
            responses = await asyncio.gather(*(self._async_client.get(url) for _ in range(count)))
            return [response.status_code for response in responses]

        return self._loop.run_until_complete(together())

    def _stream(self, chunks: list[bytes]) -> Any:
        if self._loop is None:
            return iter(chunks)

        async def chunked() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        return chunked()

    def close(self) -> None:
        if self.kind == "requests":
            self._session.close()
        elif self._loop is None:
            self._client.close()
        else:
            self._loop.run_until_complete(self._async_client.aclose())
            self._loop.close()


def adapter_for(kind: str, fake: FakeDruva, **options: Any) -> Any:
    adapter = RequestsAuth if kind == "requests" else HttpxAuth
    return adapter(fake.client_id, fake.secret, base_url=fake.base_url, **options)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def caller(kind: str, fake: FakeDruva) -> Iterator[Caller]:
    client = Caller(kind, adapter_for(kind, fake))
    yield client
    client.close()


def api_requests(fake: FakeDruva, path: str = USERS) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["kind"] == "api" and r["path"] == path]


def header_lines(raw: bytes) -> dict[str, str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in head)
    }


@pytest.fixture
def refusing_server() -> Iterator[RawServer]:
    """Another origin on the same host (another port), answering 401 to anything."""
    server = RawServer(http_response("401 Unauthorized"))
    yield server
    server.close()


@pytest.fixture
def refuses_then_redirects_to_a_refusal() -> Iterator[RawServer]:
    """The API origin: its first request is refused (401); after that it
    redirects (302) to a path that refuses every request."""

    def answer(request: bytes, connection: socket.socket) -> None:
        if request.startswith(b"GET /next ") or len(server.requests) == 1:
            connection.sendall(http_response("401 Unauthorized"))
        else:
            connection.sendall(http_response("302 Found", b"", "Location: /next"))

    server = RawServer(answer)
    yield server
    server.close()


def test_every_call_carries_the_token_shared_with_get_token_and_sessions(
    fake: FakeDruva, caller: Caller
) -> None:
    druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
    for _ in range(5):
        assert caller.request("GET", fake.base_url + USERS).status_code == 200
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
        assert s.get(USERS).status_code == 200
    assert fake.token_requests == 1
    sent = api_requests(fake)
    assert len(sent) == 6
    assert all(r["auth_scheme"] == "Bearer" and r["bearer_valid"] for r in sent)


def test_an_expired_token_is_renewed_once_and_the_request_resent(
    fake: FakeDruva, caller: Caller
) -> None:
    caller.request("GET", fake.base_url + USERS)
    fake.expire_tokens()
    fake.reset_counters()
    answer = caller.request("GET", fake.base_url + USERS)
    assert answer == Answer(200, history=1)
    assert fake.token_requests == 1
    assert [r["bearer_valid"] for r in api_requests(fake)] == [False, True]
    # The renewed token is the cache's: a session takes it without a request.
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
        assert s.get(USERS).status_code == 200
    assert fake.token_requests == 1


def test_a_body_in_memory_is_resent_with_the_new_token(fake: FakeDruva, caller: Caller) -> None:
    caller.request("GET", fake.base_url + USERS)
    fake.expire_tokens()
    answer = caller.request("POST", fake.base_url + ECHO, body=b'{"a": 1}')
    assert answer == Answer(200, history=1)
    echoed = api_requests(fake, ECHO)
    assert [r["body"] for r in echoed] == ['{"a": 1}', '{"a": 1}']
    assert [r["bearer_valid"] for r in echoed] == [False, True]


def test_a_persistent_403_is_returned_after_one_resend(fake: FakeDruva, caller: Caller) -> None:
    fake.fail_next(403, count=10, path=USERS)
    answer = caller.request("GET", fake.base_url + USERS)
    assert answer == Answer(403, history=1)
    assert len(api_requests(fake)) == 2
    assert fake.token_requests == 2


def test_persistent_refusals_cost_one_token_request_not_one_a_call(
    fake: FakeDruva, caller: Caller
) -> None:
    fake.fail_next(403, count=1000, path=USERS)
    answers = [caller.request("GET", fake.base_url + USERS) for _ in range(10)]
    assert answers[0] == Answer(403, history=1)
    # The renewed token refused too: the refusals are about access, and the
    # next ones return without renewal or resend.
    assert answers[1:] == [Answer(403, history=0)] * 9
    assert caller.get_at_once(fake.base_url + USERS, 8) == [403] * 8
    assert fake.token_requests == 2
    assert len(api_requests(fake)) == 2 + 9 + 8


def test_sessions_persistent_refusals_cost_one_token_request(fake: FakeDruva) -> None:
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as session:
        session.get(USERS)
        fake.fail_next(403, count=1000, path=USERS)
        answers = [session.get(USERS) for _ in range(10)]
        assert [answer.status_code for answer in answers] == [403] * 10
        assert fake.token_requests == 2
        for answer in answers:
            with pytest.raises(druva.HTTPStatusError, match="missing scope") as caught:
                answer.raise_for_status()
            assert "access, not the token" in str(caught.value)
        mapped = session.map([USERS] * 50)
        assert [answer.status_code for answer in mapped] == [403] * 50
        assert fake.token_requests == 2


def test_a_map_refused_at_once_costs_one_token_request(fake: FakeDruva) -> None:
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as session:
        session.get(USERS)
        fake.fail_next(403, count=1000, path=USERS)
        mapped = session.map([USERS] * 50, concurrency=16)
        assert [answer.status_code for answer in mapped] == [403] * 50
        assert fake.token_requests == 2


def test_an_async_sessions_persistent_refusals_cost_one_token_request(fake: FakeDruva) -> None:
    async def calls() -> list[int]:
        async with druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            await s.get(USERS)
            fake.fail_next(403, count=1000, path=USERS)
            together = await asyncio.gather(*(s.get(USERS) for _ in range(20)))
            one_by_one = [await s.get(USERS) for _ in range(10)]
            return [answer.status_code for answer in [*together, *one_by_one]]

    assert asyncio.run(calls()) == [403] * 30
    assert fake.token_requests == 2


def test_a_refusal_of_a_token_not_fetched_because_of_one_still_renews_it(
    fake: FakeDruva,
) -> None:
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as session:
        session.get(USERS)
        fake.expire_tokens()
        # One refusal of a token not fetched because of a refusal: renewed.
        assert session.get(USERS).status_code == 200
        assert fake.token_requests == 2


def test_a_streamed_body_is_not_resent(fake: FakeDruva, caller: Caller) -> None:
    caller.request("GET", fake.base_url + USERS)
    fake.expire_tokens()
    fake.reset_counters()
    answer = caller.request("POST", fake.base_url + ECHO, streamed=[b'{"a": ', b"1}"])
    assert answer == Answer(403, history=0)
    assert len(api_requests(fake, ECHO)) == 1
    # The refused token left the cache: the next call gets a new one at once.
    assert caller.request("GET", fake.base_url + USERS) == Answer(200, history=0)
    assert fake.token_requests == 1


def test_a_token_its_resend_accepted_is_renewed_at_its_own_refusal(
    fake: FakeDruva, caller: Caller
) -> None:
    caller.request("GET", fake.base_url + USERS)
    fake.expire_tokens()
    assert caller.request("GET", fake.base_url + USERS).status_code == 200
    assert fake.token_requests == 2
    # That new token worked: its own refusal later (revoked, say) is renewed,
    # not taken for the access refusal of a token that never worked.
    fake.expire_tokens()
    assert caller.request("GET", fake.base_url + USERS).status_code == 200
    assert fake.token_requests == 3


def test_requests_refused_together_share_one_renewal(fake: FakeDruva, caller: Caller) -> None:
    caller.request("GET", fake.base_url + USERS)
    fake.expire_tokens()
    fake.reset_counters()
    assert caller.get_at_once(fake.base_url + USERS, 8) == [200] * 8
    assert fake.token_requests == 1


def test_another_origin_gets_no_token_and_its_refusal_costs_none(
    fake: FakeDruva, caller: Caller, refusing_server: RawServer
) -> None:
    caller.request("GET", fake.base_url + USERS)
    fake.reset_counters()
    answer = caller.request("GET", refusing_server.base_url + "/x")
    theirs = caller.request(
        "GET", refusing_server.base_url + "/y", headers={"Authorization": "Bearer theirs"}
    )
    assert answer == theirs == Answer(401, history=0)
    received = [header_lines(raw) for raw in refusing_server.requests]
    assert len(received) == 2, "no resend to another origin"
    assert "authorization" not in received[0]
    assert received[1]["authorization"] == "Bearer theirs"
    assert fake.token_requests == 0


def test_a_redirect_to_another_origin_carries_no_token(
    fake: FakeDruva, caller: Caller, refusing_server: RawServer
) -> None:
    fake.redirect_next(refusing_server.base_url + "/elsewhere", path=USERS)
    answer = caller.request("GET", fake.base_url + USERS)
    assert answer == Answer(401, history=1)
    assert "authorization" not in header_lines(refusing_server.requests[0])
    assert fake.token_requests == 1, "another origin's 401 says nothing of the token"


def test_a_refusal_after_a_redirect_out_and_back_is_returned(
    fake: FakeDruva, caller: Caller
) -> None:
    caller.request("GET", fake.base_url + USERS)
    fake.reset_counters()
    with FakeDruva() as other:
        fake.redirect_next(other.base_url + "/_echo/away", path=USERS)
        other.redirect_next(fake.base_url + USERS + "?back=1", path="/_echo")
        answer = caller.request("GET", fake.base_url + USERS)
        assert other.requests[-1]["auth_scheme"] is None
    # The token was dropped on the way out and not put back: that 401 is not
    # a refusal of the token, so it is neither renewed nor resent.
    assert answer == Answer(401, history=2)
    assert fake.requests[-1]["auth_scheme"] is None
    assert fake.token_requests == 0
    assert caller.request("GET", fake.base_url + USERS) == Answer(200, history=0)


def test_a_resend_redirected_to_another_refusal_is_not_resent_again(
    fake: FakeDruva, kind: str, refuses_then_redirects_to_a_refusal: RawServer
) -> None:
    server = refuses_then_redirects_to_a_refusal
    adapter = RequestsAuth if kind == "requests" else HttpxAuth
    auth = adapter(fake.client_id, fake.secret, base_url=server.base_url, token_url=fake.token_url)
    client = Caller(kind, auth)
    try:
        answer = client.request("GET", server.base_url + "/start")
    finally:
        client.close()

    assert answer.status_code == 401
    sent = [request.split(b" HTTP/1.1", 1)[0] for request in server.requests]
    # The refusal, its one resend (redirected), the redirect's refusal: one resend a request.
    assert sent == [b"GET /start", b"GET /start", b"GET /next"]
    assert fake.token_requests == 2


def test_https_with_the_fakes_ca_bundle(kind: str) -> None:
    with FakeDruva(tls=True) as fake:
        assert fake.ca_bundle is not None
        auth = adapter_for(kind, fake, ca_bundle=fake.ca_bundle)
        trusted = (
            fake.ca_bundle
            if kind == "requests"
            else ssl.create_default_context(cafile=fake.ca_bundle)
        )
        client = Caller(kind, auth, verify=trusted)
        try:
            assert client.request("GET", fake.base_url + USERS).status_code == 200
        finally:
            client.close()
    assert fake.base_url.startswith("https://")


@pytest.mark.parametrize("adapter", [RequestsAuth, HttpxAuth])
@pytest.mark.parametrize(
    ("options", "error", "says"),
    [
        ({"region": "eu"}, ValueError, "unknown region"),
        ({"base_url": "http://apis.example.com"}, ValueError, "plain http://"),
        ({"token_url": "ftp://127.0.0.1/token"}, ValueError, "scheme"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"scope": 3}, TypeError, "scope"),
        ({"force_refresh": True}, TypeError, "force_refresh"),
        ({"max_retries": 3}, TypeError, "max_retries"),
    ],
)
def test_bad_options_raise_at_construction(
    adapter: Callable[..., Any], options: dict[str, Any], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        adapter("client-id", "the-secret", **options)


@pytest.mark.parametrize("adapter", [RequestsAuth, HttpxAuth])
@pytest.mark.parametrize(
    ("client_id", "secret"), [("", "the-secret"), ("a:b", "the-secret"), ("client-id", "")]
)
def test_bad_credentials_raise_at_construction(
    adapter: Callable[..., Any], client_id: str, secret: str
) -> None:
    with pytest.raises(ValueError, match=r"client_id|secret") as raised:
        adapter(client_id, secret)
    assert "the-secret" not in str(raised.value)


@pytest.mark.parametrize("adapter", [RequestsAuth, HttpxAuth])
def test_construction_sends_nothing(fake: FakeDruva, adapter: Callable[..., Any]) -> None:
    adapter(fake.client_id, fake.secret, base_url=fake.base_url)
    assert fake.requests == []


def test_the_repr_shows_neither_secret_nor_token(fake: FakeDruva, caller: Caller) -> None:
    auth = adapter_for(caller.kind, fake)
    caller.request("GET", fake.base_url + USERS)
    token = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)["access_token"]
    shown = repr(auth)
    assert shown.startswith(f"<druva.auth.{type(auth).__name__} client_id={fake.client_id[:4]}***")
    assert fake.base_url in shown
    with pytest.raises(TypeError, match="pickled") as raised:
        pickle.dumps(auth)
    for text in (shown, str(auth), str(raised.value)):
        assert fake.secret not in text and token not in text


def test_the_adapters_are_the_clients_own_auth_classes() -> None:
    assert issubclass(RequestsAuth, requests.auth.AuthBase)
    assert issubclass(HttpxAuth, httpx.Auth)


def test_importing_druva_imports_neither_requests_nor_httpx() -> None:
    result = run_python(
        """
        import sys
        import druva, druva.auth
        print("requests" in sys.modules, "httpx" in sys.modules)
        druva.auth.RequestsAuth
        print("requests" in sys.modules, "httpx" in sys.modules)
        from druva.auth import HttpxAuth
        print("requests" in sys.modules, "httpx" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["False False", "True False", "True True"]


def test_a_missing_client_package_is_an_import_error_saying_what_to_install() -> None:
    result = run_python(
        """
        import sys
        sys.modules["httpx"] = None  # as if it were not installed
        import druva.auth
        try:
            druva.auth.HttpxAuth
        except ImportError as error:
            print(error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "pip install httpx" in result.stdout


def readme_samples() -> list[str]:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    section = readme.read_text(encoding="utf-8").split("## Keep your requests code", 1)[1]
    return re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.DOTALL)


@pytest.mark.parametrize("sample", [0, 1])
def test_the_readme_samples_run_against_a_fake(
    fake: FakeDruva, sample: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    # The samples address Druva's cloud; here the fake stands in for it.
    code = (
        readme_samples()[sample]
        .replace("https://apis.druva.com", fake.base_url)
        .replace("(client_id, secret)", "(client_id, secret, base_url=BASE)")
    )
    scope: dict[str, Any] = {"client_id": fake.client_id, "secret": fake.secret}
    scope["BASE"] = fake.base_url
    exec(code, scope)  # noqa: S102
    assert scope.get("devices") or scope.get("users")
    assert fake.token_requests == 1


@dataclass
class HeldTokenEndpoint:
    """A loopback server whose token endpoint, once asked, answers only when
    ``released`` is set; its API answers 200 and records the Authorization."""

    asked: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    received: list[Optional[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.asked.set()
                if not endpoint.released.wait(10):
                    self.send_error(503)
                    return
                self.answer(b'{"access_token": "held", "token_type": "bearer", "expires_in": 1800}')

            def do_GET(self) -> None:
                endpoint.received.append(self.headers.get("Authorization"))
                self.answer(b"{}")

            def answer(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_async_flow_gets_its_token_without_blocking_the_loop() -> None:
    # The token endpoint answers only when another task of the same loop has
    # seen the request arrive: a token request that blocked the loop would
    # never be answered (a 503 after 10 s fails the call).
    endpoint = HeldTokenEndpoint()
    auth = HttpxAuth(f"loop-{uuid.uuid4().hex}", "the-secret", base_url=endpoint.base_url)

    async def main() -> int:
        async with httpx.AsyncClient(auth=auth, trust_env=False) as client:
            call = asyncio.ensure_future(client.get(endpoint.base_url + "/x"))
            while not endpoint.asked.is_set():
                await asyncio.sleep(0.01)
            endpoint.released.set()
            return (await call).status_code

    try:
        assert asyncio.run(main()) == 200
    finally:
        endpoint.close()
    assert endpoint.received == ["Bearer held"]


class ConnectProxy:
    """A tiny HTTPS proxy on loopback: it answers ``CONNECT host:port`` by
    piping bytes to that address, records each target, and serves at most
    ``limit`` tunnels (each on its own thread, each ending when either side
    closes or after 30 s idle)."""

    def __init__(self, limit: int = 64) -> None:
        self.targets: list[str] = []
        self._limit = limit
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for _ in range(self._limit):
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            client.settimeout(30)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target = head.split(b" ")[:2]
            if method != b"CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.targets.append(target.decode())
            host, _, port = target.decode().rpartition(":")
            with socket.create_connection((host, int(port)), timeout=30) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pump = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                pump.start()
                _pipe(client, upstream)
                pump.join(timeout=30)

    def close(self) -> None:
        self._listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def tls_fake() -> Iterator[FakeDruva]:
    with FakeDruva(tls=True) as server:
        yield server


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    yield server
    server.close()


def fake_target(fake: FakeDruva) -> str:
    return fake.base_url.removeprefix("https://")


def tls_options(fake: FakeDruva, **more: Any) -> dict[str, Any]:
    """The credential and options of ``fake`` served over HTTPS."""
    return {
        "client_id": fake.client_id,
        "secret": fake.secret,
        "base_url": fake.base_url,
        "ca_bundle": fake.ca_bundle,
        **more,
    }


def test_get_token_sends_its_token_request_through_the_proxy_given(
    tls_fake: FakeDruva, proxy: ConnectProxy
) -> None:
    options: dict[str, Any] = {
        "base_url": tls_fake.base_url,
        "ca_bundle": tls_fake.ca_bundle,
        "proxy": proxy.url,
    }
    druva.get_token(tls_fake.client_id, tls_fake.secret, **options)
    assert proxy.targets == [fake_target(tls_fake)]

    async def renewed() -> druva.Token:
        return await druva.get_token_async(
            tls_fake.client_id, tls_fake.secret, force_refresh=True, **options
        )

    asyncio.run(renewed())
    assert tls_fake.token_requests == 2
    assert len(proxy.targets) >= 1
    assert set(proxy.targets) == {fake_target(tls_fake)}


def test_a_proxy_that_refuses_the_connection_is_named_not_the_target(
    tls_fake: FakeDruva,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    refusing = f"http://user:password@127.0.0.1:{port}"
    with pytest.raises(druva.TransportError) as raised:
        druva.get_token(**tls_options(tls_fake, proxy=refusing, timeout=5))
    message = str(raised.value)
    assert f"could not connect to the proxy http://***@127.0.0.1:{port}" in message
    assert "password" not in message
    options = tls_options(tls_fake, proxy=refusing, max_retries=0, timeout=5)
    with druva.Session(**options) as session:
        shown = re.escape(f"the proxy http://***@127.0.0.1:{port}")
        with pytest.raises(druva.TransportError, match=shown):
            session.get(USERS)
    assert tls_fake.token_requests == 0


def test_a_sessions_token_requests_go_through_its_proxy(
    tls_fake: FakeDruva, proxy: ConnectProxy
) -> None:
    with druva.Session(**tls_options(tls_fake, proxy=proxy.url)) as session:
        assert session.get(USERS).status_code == 200
    assert tls_fake.token_requests == 1
    assert proxy.targets
    assert set(proxy.targets) == {fake_target(tls_fake)}


def test_httpx_auth_sends_its_token_request_through_the_proxy_given(
    tls_fake: FakeDruva, proxy: ConnectProxy
) -> None:
    auth = HttpxAuth(**tls_options(tls_fake, proxy=proxy.url))
    verify = ssl.create_default_context(cafile=str(tls_fake.ca_bundle))
    with httpx.Client(auth=auth, trust_env=False, verify=verify) as client:
        assert client.get(tls_fake.base_url + USERS).status_code == 200
    # The client itself was given no proxy: only the token request used it.
    assert proxy.targets == [fake_target(tls_fake)]


@pytest.mark.parametrize("where", ["session", "call"])
def test_requests_auth_takes_the_proxy_of_the_session_it_serves(
    tls_fake: FakeDruva, proxy: ConnectProxy, where: str
) -> None:
    auth = RequestsAuth(**tls_options(tls_fake))
    proxies = {"https": proxy.url}
    with requests.Session() as http:
        http.trust_env = False
        http.auth = auth
        http.verify = str(tls_fake.ca_bundle)
        if where == "session":
            http.proxies = proxies
            answer = http.get(tls_fake.base_url + USERS)
        else:
            answer = http.get(tls_fake.base_url + USERS, proxies=proxies)
    assert answer.status_code == 200
    assert tls_fake.token_requests == 1
    # One tunnel for requests' own call, one for druva's token request.
    assert len(proxy.targets) == 2
    assert set(proxy.targets) == {fake_target(tls_fake)}


def test_requests_auth_without_proxies_sends_nothing_through_a_proxy(
    tls_fake: FakeDruva, proxy: ConnectProxy
) -> None:
    auth = RequestsAuth(**tls_options(tls_fake))
    with requests.Session() as http:
        http.trust_env = False
        http.auth = auth
        assert http.get(tls_fake.base_url + USERS, verify=str(tls_fake.ca_bundle)).ok
    assert proxy.targets == []
