"""get_token / get_token_async: Druva's token exchange, cached and single-flight."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

from .conftest import RawServer, assert_ctrl_c_interrupts, http_response


def token_for(fake: FakeDruva, **kwargs: Any) -> druva.Token:
    return druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, **kwargs)


def test_token_has_the_keys_oauthlib_returns(fake: FakeDruva) -> None:
    before = int(time.time())
    token = token_for(fake)
    assert isinstance(token, dict)
    assert set(token) == {"access_token", "token_type", "expires_in", "expires_at"}
    assert token["token_type"] == "bearer"
    assert 1795 <= token["expires_in"] <= 1800
    assert before + 1795 <= token["expires_at"] <= int(time.time()) + 1800
    assert token.access_token == token["access_token"]


def test_each_cached_token_is_the_callers_own_dict(fake: FakeDruva) -> None:
    first = token_for(fake)
    expected = dict(first)
    first["access_token"] = "changed"
    first["expires_in"] = -1
    del first["token_type"]
    second = token_for(fake)
    assert second is not first
    left = expected.pop("expires_in")
    assert second.pop("expires_in") in (left, left - 1)
    assert second == expected
    assert fake.token_requests == 1


def test_a_cached_token_is_made_as_token_itself_makes_one(fake: FakeDruva) -> None:
    # The binding makes a Token with dict's own constructor and a merge, which
    # is what Token(...) does only while Token adds no __new__ or __init__.
    assert druva.Token.__new__ is dict.__new__
    assert druva.Token.__init__ is dict.__init__
    token = token_for(fake)
    assert type(token) is druva.Token
    assert token == druva.Token(token)
    assert gc.is_tracked(token)


def test_a_cached_token_s_scope_list_is_the_callers_own(fake: FakeDruva) -> None:
    first = token_for(fake, scope="read write")
    assert first["scope"] == ["read", "write"]
    first["scope"].append("admin")
    assert token_for(fake, scope="read write")["scope"] == ["read", "write"]
    assert fake.token_requests == 1


def test_second_call_is_served_from_the_cache(fake: FakeDruva) -> None:
    first = token_for(fake)
    second = token_for(fake)
    assert second["access_token"] == first["access_token"]
    assert fake.token_requests == 1


def test_force_refresh_fetches_a_new_token(fake: FakeDruva) -> None:
    first = token_for(fake)
    renewed = token_for(fake, force_refresh=True)
    assert renewed["access_token"] != first["access_token"]
    assert token_for(fake)["access_token"] == renewed["access_token"]
    assert fake.token_requests == 2


def test_a_wrong_secret_never_gets_the_cached_token_of_the_right_one(fake: FakeDruva) -> None:
    token_for(fake)
    with pytest.raises(druva.AuthenticationError):
        druva.get_token(fake.client_id, fake.secret + "x", base_url=fake.base_url)
    assert fake.token_requests == 2


def test_scope_is_part_of_the_cache_key(fake: FakeDruva) -> None:
    plain = token_for(fake)
    scoped = token_for(fake, scope="read")
    assert scoped["scope"] == ["read"]
    assert scoped["access_token"] != plain["access_token"]
    assert fake.token_requests == 2


def test_invalid_grant_is_an_authentication_error_and_never_retried(fake: FakeDruva) -> None:
    with pytest.raises(druva.AuthenticationError) as caught:
        druva.get_token(fake.client_id, "not-the-secret", base_url=fake.base_url)
    error = caught.value
    assert error.status_code == 400
    assert error.error == "invalid_grant"
    assert isinstance(error, druva.DruvaError)
    assert fake.token_requests == 1


def test_token_requests_retry_gateway_errors_then_succeed(fake: FakeDruva) -> None:
    fake.fail_next(503, count=2, path="/token")
    assert token_for(fake)["access_token"]
    assert fake.token_requests == 3


def test_token_requests_honour_retry_after(fake: FakeDruva) -> None:
    fake.fail_next(429, retry_after=1, path="/token")
    started = time.monotonic()
    token_for(fake)
    assert time.monotonic() - started >= 0.9
    assert fake.token_requests == 2


def test_a_persistent_rate_limit_is_a_rate_limit_error(fake: FakeDruva) -> None:
    # A session's token requests wait on 429s within its rate_limit_wait.
    fake.fail_next(429, count=10, retry_after=0, path="/token")
    session = druva.Session(
        fake.client_id, fake.secret, base_url=fake.base_url, rate_limit_wait=2.5
    )
    with session, pytest.raises(druva.RateLimitError) as caught:
        _ = session.token
    assert caught.value.status_code == 429
    assert fake.token_requests == 3


def test_get_token_waits_on_429s_beyond_max_retries(fake: FakeDruva) -> None:
    # get_token has the default rate-limit budget (120 s): five 429s of 1 s
    # are more than the 3 retries a 503 gets, and still end in a token.
    fake.fail_next(429, count=5, retry_after=1, path="/token")
    started = time.monotonic()
    assert token_for(fake)["access_token"]
    assert time.monotonic() - started >= 4.5
    assert fake.token_requests == 6


def test_a_scope_list_changed_between_calls_gets_the_token_of_its_new_scope(
    fake: FakeDruva,
) -> None:
    """A list is not remembered by identity: changing it changes the token asked for."""
    scopes = ["read"]
    first = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, scope=scopes)
    scopes.append("write")
    second = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, scope=scopes)
    assert first["scope"] == ["read"]
    assert second["scope"] == ["read", "write"]
    assert fake.token_requests == 2


def test_a_token_endpoint_error_status_is_an_http_status_error(fake: FakeDruva) -> None:
    fake.fail_next(500, path="/token")
    with pytest.raises(druva.HTTPStatusError) as caught:
        token_for(fake)
    assert caught.value.status_code == 500
    assert fake.token_requests == 1


def test_a_success_without_a_token_is_a_protocol_error(fake: FakeDruva) -> None:
    fake.malform_next(path="/token")
    with pytest.raises(druva.ProtocolError):
        token_for(fake)


def test_connection_refused_is_a_transport_error_and_a_connection_error() -> None:
    with socket_that_refuses() as port, pytest.raises(ConnectionError) as caught:
        druva.get_token("id", "secret", base_url=f"http://127.0.0.1:{port}", timeout=2)
    assert isinstance(caught.value, druva.TransportError)


def test_a_slow_token_endpoint_is_a_timeout_error(fake: FakeDruva) -> None:
    fake.delay_next(5, path="/token")
    with pytest.raises(TimeoutError) as caught:
        token_for(fake, timeout=0.3)
    assert isinstance(caught.value, druva.TimeoutError)
    assert isinstance(caught.value, druva.TransportError)


class socket_that_refuses:
    """A loopback port with nothing listening on it."""

    def __enter__(self) -> int:
        import socket

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        probe.close()
        return port

    def __exit__(self, *exc_info: object) -> None:
        return None


def test_the_request_is_exactly_druvas_on_the_wire(raw_token_server: RawServer) -> None:
    secret = "se:cr/et+=="
    druva.get_token("client-a", secret, base_url=raw_token_server.base_url)
    request = raw_token_server.requests[0]
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /token HTTP/1.1"
    names = [line.split(b":", 1)[0] for line in lines[1:]]
    assert b"Authorization" in names
    assert b"Accept" in names
    assert b"Content-Type" in names
    headers = {
        n.decode(): line.split(b":", 1)[1].strip().decode() for n, line in zip(names, lines[1:])
    }
    expected = base64.b64encode(f"client-a:{secret}".encode()).decode()
    assert headers["Authorization"] == f"Basic {expected}"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert body == b"grant_type=client_credentials"


def test_scope_is_sent_only_when_given(raw_token_server: RawServer) -> None:
    druva.get_token("client-b", "s", base_url=raw_token_server.base_url, scope="read")
    body = raw_token_server.requests[0].partition(b"\r\n\r\n")[2]
    assert body == b"grant_type=client_credentials&scope=read"


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"client_id": ""}, ValueError, "client_id is empty"),
        ({"client_id": "a:b"}, ValueError, "':'"),
        ({"secret": ""}, ValueError, "secret is empty"),
        ({"client_id": 5}, TypeError, "client_id must be a str"),
        ({"secret": b"bytes"}, TypeError, "secret must be a str"),
        ({"region": "mars"}, ValueError, "unknown region"),
        ({"base_url": "http://example.com"}, ValueError, "plain http://"),
        ({"token_url": "http://10.0.0.1/token"}, ValueError, "plain http://"),
        ({"base_url": "not a url"}, ValueError, "not a valid URL"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": float("nan")}, ValueError, "timeout"),
        ({"timeout": "3"}, TypeError, "timeout"),
        ({"scope": ""}, ValueError, "scope is empty"),
        ({"force_refresh": "yes"}, TypeError, "force_refresh"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, ValueError, "ca_bundle"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    fake: FakeDruva, arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    call: dict[str, Any] = {
        "client_id": fake.client_id,
        "secret": fake.secret,
        "base_url": fake.base_url,
    }
    call.update(arguments)
    client_id, secret = call.pop("client_id"), call.pop("secret")
    with pytest.raises(error, match=message) as caught:
        druva.get_token(client_id, secret, **call)
    assert fake.secret not in str(caught.value)
    assert fake.token_requests == 0


def test_tokens_are_renewed_before_they_expire() -> None:
    with FakeDruva(token_lifetime=2) as fake:
        first = token_for(fake)
        assert token_for(fake)["access_token"] == first["access_token"]
        # The 60 s leeway is capped at half the 2 s lifetime: renewed after
        # 1 s, in the background; the caller that starts the renewal gets the
        # still-valid token at once.
        time.sleep(1.1)
        assert token_for(fake)["access_token"] == first["access_token"]
        deadline = time.monotonic() + 0.8
        while token_for(fake)["access_token"] == first["access_token"]:
            assert time.monotonic() < deadline, "renewed before the token expired"
            time.sleep(0.02)
        assert fake.token_requests == 2


def test_concurrent_callers_share_one_token_request(fake: FakeDruva) -> None:
    fake.delay_next(0.5, path="/token")
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(33)

    def in_a_thread() -> None:
        start.wait()
        try:
            results.append(token_for(fake)["access_token"])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    async def in_coroutines() -> list[druva.Token]:
        calls = [
            druva.get_token_async(fake.client_id, fake.secret, base_url=fake.base_url)
            for _ in range(200)
        ]
        return await asyncio.gather(*calls)

    threads = [threading.Thread(target=in_a_thread) for _ in range(32)]
    for thread in threads:
        thread.start()
    start.wait()
    tokens = asyncio.run(in_coroutines())
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 32
    assert len({*results, *(t["access_token"] for t in tokens)}) == 1
    assert fake.token_requests == 1


def test_concurrent_callers_share_the_error_too(fake: FakeDruva) -> None:
    fake.delay_next(0.3, path="/token")
    outcomes: list[BaseException] = []

    def call() -> None:
        try:
            druva.get_token(fake.client_id, fake.secret + "-wrong", base_url=fake.base_url)
        except druva.AuthenticationError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 8
    assert fake.token_requests == 1


def test_async_get_token_shares_the_sync_cache(fake: FakeDruva) -> None:
    sync_token = token_for(fake)

    async def main() -> druva.Token:
        return await druva.get_token_async(fake.client_id, fake.secret, base_url=fake.base_url)

    assert asyncio.run(main())["access_token"] == sync_token["access_token"]
    assert fake.token_requests == 1


def test_async_get_token_errors_are_the_same_classes(fake: FakeDruva) -> None:
    async def main() -> None:
        await druva.get_token_async(fake.client_id, "wrong", base_url=fake.base_url)

    with pytest.raises(druva.AuthenticationError):
        asyncio.run(main())


def test_cancelling_the_awaiting_task_cancels_the_token_request(fake: FakeDruva) -> None:
    fake.delay_next(2, path="/token")

    async def main() -> None:
        task = asyncio.ensure_future(
            druva.get_token_async(fake.client_id, fake.secret, base_url=fake.base_url)
        )
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    # The cache holds nothing: the next call makes its own request.
    token_for(fake)
    assert fake.token_requests == 2


def test_the_token_repr_masks_the_access_token_and_refuses_pickling(fake: FakeDruva) -> None:
    token = token_for(fake)
    assert token["access_token"] not in repr(token)
    assert token["access_token"] not in str(token)
    assert "***" in repr(token)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(token)


def test_no_secret_or_token_in_debug_logs_or_errors(
    fake: FakeDruva, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="druva")
    token = token_for(fake)
    token_for(fake)
    with pytest.raises(druva.AuthenticationError) as caught:
        druva.get_token(fake.client_id, fake.secret + "bad", base_url=fake.base_url)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "fetched" in text
    assert "served from cache" in text
    assert fake.client_id[:4] + "***" in text
    for leaked in (fake.secret, token["access_token"], fake.client_id):
        assert leaked not in text
        assert leaked not in str(caught.value)
        assert leaked not in repr(caught.value)


def test_debug_turned_on_at_run_time_applies_to_the_next_call(fake: FakeDruva) -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("druva")
    handler = Collect(level=logging.DEBUG)
    logger.addHandler(handler)
    previous = logger.level
    try:
        logger.setLevel(logging.WARNING)
        token_for(fake)
        token_for(fake)
        assert not [r for r in records if r.levelno < logging.WARNING]
        logger.setLevel(logging.DEBUG)
        token_for(fake)
        assert any("served from cache" in r.getMessage() for r in records)
    finally:
        logger.setLevel(previous)
        logger.removeHandler(handler)


OAUTHLIB_SAMPLE = """
from oauthlib.oauth2 import BackendApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

def getToken(clientId,secret):
 auth = HTTPBasicAuth(clientId, secret)
 client = BackendApplicationClient(client_id=clientId)
 oauth = OAuth2Session(client=client)
 token = oauth.fetch_token(token_url=TOKEN_URL, auth=auth)
 return token
"""


def test_druvas_documented_oauthlib_sample_runs_unchanged_against_the_fake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeDruva(tls=True) as fake:
        assert fake.ca_bundle is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        namespace: dict[str, Any] = {"TOKEN_URL": fake.token_url}
        exec(OAUTHLIB_SAMPLE, namespace)  # noqa: S102 - Druva's sample, verbatim
        sample = namespace["getToken"](fake.client_id, fake.secret)
        ours = druva.get_token(
            fake.client_id, fake.secret, base_url=fake.base_url, ca_bundle=fake.ca_bundle
        )
    assert {"access_token", "token_type", "expires_in", "expires_at"} <= set(sample)
    assert set(ours) == {"access_token", "token_type", "expires_in", "expires_at"}
    assert sample["token_type"] == ours["token_type"] == "bearer"
    assert sample["expires_in"] == 1800


def run_python(code: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_ctrl_c_interrupts_a_slow_token_request_quickly(tmp_path: Path) -> None:
    assert_ctrl_c_interrupts(
        tmp_path,
        setup='fake.delay_next(60, path="/token")',
        blocking_call="druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)",
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_fetches_its_own_token() -> None:
    result = run_python(
        """
        import os, sys
        import druva
        from druva.testing import FakeDruva
        with FakeDruva() as fake:
            parent = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
            pid = os.fork()
            if pid == 0:
                try:
                    cached = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
                    fresh = druva.get_token(
                        fake.client_id, fake.secret, base_url=fake.base_url, force_refresh=True
                    )
                    ok = cached["access_token"] == parent["access_token"] != fresh["access_token"]
                    os._exit(0 if ok else 1)
                except BaseException:
                    os._exit(2)
            _, status = os.waitpid(pid, 0)
            print(os.waitstatus_to_exitcode(status), fake.token_requests)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "2"]


def test_bad_arguments_are_refused_even_when_the_token_is_cached(fake: FakeDruva) -> None:
    client_id, secret, base_url = fake.client_id, fake.secret, fake.base_url
    druva.get_token(client_id, secret, base_url=base_url)
    with pytest.raises(ValueError, match="timeout"):
        druva.get_token(client_id, secret, base_url=base_url, timeout=-1)
    with pytest.raises(TypeError, match="force_refresh"):
        druva.get_token(client_id, secret, base_url=base_url, force_refresh="no")
    with pytest.raises(druva.AuthenticationError):
        druva.get_token(client_id, secret + "x", base_url=base_url)
    assert fake.token_requests == 2


def test_non_ascii_credentials_are_sent_as_utf8(raw_token_server: RawServer) -> None:
    # RFC 7617 (and DESIGN): UTF-8. requests.HTTPBasicAuth would send latin-1
    # bytes instead; the README says so.
    druva.get_token("clïent-ü", "sécret-€", base_url=raw_token_server.base_url)
    (request,) = raw_token_server.requests
    header = next(
        line for line in request.split(b"\r\n") if line.lower().startswith(b"authorization:")
    )
    encoded = header.split(b" ")[-1]
    assert base64.b64decode(encoded) == "clïent-ü:sécret-€".encode()


def test_non_ascii_credentials_work_against_a_server_that_reads_utf8() -> None:
    with FakeDruva(client_id="clïent-ü", secret="sécret-€") as fake:
        assert token_for(fake)["access_token"]


def form_of(request: bytes) -> list[tuple[str, str]]:
    """The form fields of a recorded token request, in order."""
    from urllib.parse import parse_qsl

    return parse_qsl(request.partition(b"\r\n\r\n")[2].decode(), keep_blank_values=True)


def head_of(request: bytes) -> str:
    return request.partition(b"\r\n\r\n")[0].decode().lower()


def token_server(body: bytes, status: str = "200 OK") -> RawServer:
    return RawServer(http_response(status, body, "Content-Type: application/json"))


def test_client_secret_post_and_token_params_are_sent_on_every_token_request() -> None:
    server = token_server(b'{"access_token": "t", "token_type": "Bearer", "expires_in": 1800}')
    try:
        options: dict[str, Any] = {
            "base_url": server.base_url,
            "client_auth": "post",
            "token_params": {"audience": "https://api.example", "resource": ["a", "b"]},
        }
        first = druva.get_token("post-client", "se cr&et", **options)
        druva.get_token("post-client", "se cr&et", force_refresh=True, **options)
        assert first["token_type"] == "Bearer"
        assert len(server.requests) == 2
        for request in server.requests:
            assert "authorization" not in head_of(request)
            assert form_of(request) == [
                ("grant_type", "client_credentials"),
                ("audience", "https://api.example"),
                ("resource", "a"),
                ("resource", "b"),
                ("client_id", "post-client"),
                ("client_secret", "se cr&et"),
            ]
    finally:
        server.close()


def test_client_auth_and_token_params_are_part_of_the_cache_key(fake: FakeDruva) -> None:
    plain = token_for(fake)
    with_params = token_for(fake, token_params={"audience": "x"})
    assert with_params["access_token"] != plain["access_token"]
    assert token_for(fake, token_params={"audience": "x"}) == with_params
    assert token_for(fake, token_params={"audience": "y"}) != with_params
    assert fake.token_requests == 3


@pytest.mark.parametrize("field", ["grant_type", "scope", "client_id", "client_secret"])
def test_the_protocols_own_fields_in_token_params_are_a_value_error(field: str) -> None:
    for call in (druva.get_token, druva.get_token_async):
        with pytest.raises(ValueError, match=field):
            call("id", "secret", base_url="http://127.0.0.1:9", token_params={field: "x"})
    with pytest.raises(ValueError, match=field):
        druva.Session("id", "secret", base_url="http://127.0.0.1:9", token_params={field: "x"})


def test_bad_client_auth_and_token_params_are_refused_before_any_request() -> None:
    with pytest.raises(ValueError, match="client_auth"):
        druva.get_token("id", "secret", base_url="http://127.0.0.1:9", client_auth="jwt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="client_auth"):
        druva.Session("id", "secret", base_url="http://127.0.0.1:9", client_auth="Basic")  # type: ignore[arg-type]
    for bad in ([("a", "b")], {"a": 1}, {1: "a"}, {"a": [1]}):
        with pytest.raises(TypeError, match="token_params"):
            druva.get_token("id", "secret", base_url="http://127.0.0.1:9", token_params=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("region", "sent"), [("cloud", None), ("govcloud", "read"), ("govcloud-workloads", "read")]
)
def test_govcloud_regions_send_scope_read_when_none_is_given_also_with_base_url(
    region: str, sent: str | None, raw_token_server: RawServer
) -> None:
    druva.get_token(f"gov-{region}", "secret", region=region, base_url=raw_token_server.base_url)
    druva.get_token(
        f"gov-{region}", "secret", region=region, base_url=raw_token_server.base_url, scope="admin"
    )
    first, given = (dict(form_of(request)) for request in raw_token_server.requests)
    assert first.get("scope") == sent
    assert given["scope"] == "admin"


def test_a_token_without_expires_in_is_kept_for_an_hour_and_scope_is_a_list() -> None:
    server = token_server(b'{"access_token": "t", "token_type": "BEARER", "scope": "read write"}')
    try:
        token = druva.get_token("no-expiry", "secret", base_url=server.base_url)
        assert 3595 <= token["expires_in"] <= 3600
        assert token["scope"] == ["read", "write"]
        assert token["token_type"] == "BEARER"
        druva.get_token("no-expiry", "secret", base_url=server.base_url)
        assert len(server.requests) == 1
    finally:
        server.close()


RFC_6749_ERRORS = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
]


@pytest.mark.parametrize("error", RFC_6749_ERRORS)
def test_every_rfc_6749_error_is_an_authentication_error_quoting_it_redacted(error: str) -> None:
    secret = "s3cr&t value"
    echoed = f"client_secret=s3cr%26t+value is not welcome ({error})"
    body = f'{{"error": "{error}", "error_description": "{echoed}"}}'.encode()
    server = token_server(body, "400 Bad Request")
    try:
        options: dict[str, Any] = {"base_url": server.base_url, "client_auth": "post"}

        async def fetch_async() -> druva.Token:
            return await druva.get_token_async(f"rfc-{error}", secret, **options)

        for fetch in (
            lambda: druva.get_token(f"rfc-{error}", secret, **options),
            lambda: asyncio.run(fetch_async()),
        ):
            with pytest.raises(druva.AuthenticationError) as caught:
                fetch()
            assert caught.value.error == error
            assert caught.value.error_description is not None
            assert "is not welcome" in caught.value.error_description
            for text in (str(caught.value), repr(caught.value), caught.value.error_description):
                assert "s3cr" not in text, text
            assert error in str(caught.value)
        assert len(server.requests) == 2, "never retried"
    finally:
        server.close()


def test_druva_token_with_a_refused_scope_exits_3(tmp_path: Path) -> None:
    server = token_server(
        b'{"error": "invalid_scope", "error_description": "admin is not granted"}',
        "400 Bad Request",
    )
    try:
        env = dict(
            os.environ,
            DRUVA_CLIENT_ID="cli-scope",
            DRUVA_SECRET_KEY="secret",
            DRUVA_BASE_URL=server.base_url,
        )
        result = subprocess.run(
            [sys.executable, "-m", "druva", "token", "--scope", "admin"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 3, result.stderr
        assert "invalid_scope" in result.stderr
        assert "admin is not granted" in result.stderr
    finally:
        server.close()
