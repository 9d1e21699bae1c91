"""Session / AsyncSession: authenticated calls, paging, renewal, retries, URL policy."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

from .conftest import assert_ctrl_c_interrupts, run_python

USERS = "/insync/usermanagement/v1/users"
DEVICES = "/insync/endpoints/v1/devices"
EVENTS = "/insync/eventmanagement/v2/events"


def session_for(fake: FakeDruva, **kwargs: Any) -> druva.Session:
    return druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, **kwargs)


def async_session_for(fake: FakeDruva, **kwargs: Any) -> druva.AsyncSession:
    return druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url, **kwargs)


# Responses


def test_get_returns_a_response_like_requests(session: druva.Session) -> None:
    response = session.get(USERS)
    assert response.status_code == 200
    assert response.ok
    assert response.url.endswith(USERS)
    assert response.headers["Content-Type"] == response.headers["content-type"]
    assert "CONTENT-TYPE" in response.headers
    assert response.headers.get("x-missing", "default") == "default"
    assert isinstance(response.elapsed, datetime.timedelta)
    assert isinstance(response.content, bytes)
    page = response.json()
    assert page == __import__("json").loads(response.text)
    assert page["totalSize"] == 250
    assert len(page["users"]) == 100
    assert response.raise_for_status() is response


def test_error_status_carries_druvas_code_and_message(session: druva.Session) -> None:
    response = session.get("/insync/nothing/here")
    assert response.status_code == 404
    assert not response.ok
    with pytest.raises(druva.HTTPStatusError) as caught:
        response.raise_for_status()
    assert caught.value.status_code == 404
    assert caught.value.code == "InsyncCommon-404"
    assert caught.value.message
    assert caught.value.response is not None
    assert "404" in str(caught.value)


def test_invalid_json_body_is_a_protocol_error(fake: FakeDruva, session: druva.Session) -> None:
    fake.malform_next(path=USERS)
    with pytest.raises(druva.ProtocolError):
        session.get(USERS).json()


def test_params_headers_json_and_form_reach_the_server(session: druva.Session) -> None:
    echoed = session.get(
        "/_echo", params={"a": 1, "b": [True, "x y"]}, headers={"X-Trace": "t1"}
    ).json()
    assert echoed["args"] == {"a": "1", "b": ["true", "x y"]}
    assert echoed["headers"]["x-trace"] == "t1"
    assert echoed["headers"]["authorization"] == "Bearer"
    posted = session.post("/_echo", json={"name": "Ada", "n": [1, 2]}).json()
    assert posted["method"] == "POST"
    assert posted["json"] == {"name": "Ada", "n": [1, 2]}
    assert posted["headers"]["content-type"] == "application/json"
    form = session.put("/_echo", data={"k": "v w"}).json()
    assert form["body"] == "k=v+w"
    assert form["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert session.patch("/_echo", data=b"raw").json()["body"] == "raw"
    assert session.delete("/_echo").json()["method"] == "DELETE"
    assert session.request("options", "/_echo").json()["method"] == "OPTIONS"


def test_bearer_header_cannot_be_overridden(session: druva.Session) -> None:
    with pytest.raises(ValueError, match="Authorization"):
        session.get(USERS, headers={"authorization": "Bearer mine"})


def test_json_and_data_together_are_refused(session: druva.Session) -> None:
    with pytest.raises(ValueError, match="json= or data="):
        session.post("/_echo", json={}, data={"a": "b"})


# Paging


@pytest.mark.parametrize("last_page", ["missing", "empty", "null"])
def test_paginate_reads_every_page_once_for_each_last_page_form(last_page: str) -> None:
    with FakeDruva(users=250, page_size=100, last_page=last_page) as fake:
        with session_for(fake) as s:
            users = list(s.paginate(USERS))
        assert len(users) == 250
        assert len({u["userID"] for u in users}) == 250
        assert fake.api_requests == 3
        assert fake.token_requests == 1


def test_paginate_passes_params_and_names_the_items(session: druva.Session) -> None:
    pages = session.paginate(USERS, params={"pageSize": 50}, items="users")
    assert sum(1 for _ in pages) == 250
    assert pages.pages == 5


def test_paginate_follows_the_events_tracker(fake: FakeDruva, session: druva.Session) -> None:
    events = list(session.paginate(EVENTS))
    assert events
    trackers = [r["query"] for r in fake.requests if r["path"] == EVENTS]
    assert len(trackers) > 1
    assert "tracker=" in trackers[-1]


def test_paginate_raises_on_an_error_page(fake: FakeDruva, session: druva.Session) -> None:
    fake.fail_next(500, path=USERS)
    with pytest.raises(druva.HTTPStatusError) as caught:
        list(session.paginate(USERS))
    assert caught.value.status_code == 500


def test_paginate_needs_items_when_a_page_has_several_lists(session: druva.Session) -> None:
    with pytest.raises(druva.ProtocolError, match="no list field"):
        list(session.paginate(USERS, items="devices"))


# Renewal


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_renewed_once(
    fake: FakeDruva, session: druva.Session, status: int
) -> None:
    session.get(USERS)
    fake.fail_next(status, path=USERS)
    assert session.get(USERS).status_code == 200
    assert fake.token_requests == 2


def test_expired_tokens_are_renewed_mid_session(fake: FakeDruva, session: druva.Session) -> None:
    before = session.token["access_token"]
    fake.expire_tokens()
    assert session.get(USERS).status_code == 200
    assert session.token["access_token"] != before
    assert fake.token_requests == 2


def test_a_second_refusal_goes_to_the_caller(fake: FakeDruva, session: druva.Session) -> None:
    session.get(USERS)
    fake.fail_next(403, count=2, path=USERS)
    response = session.get(USERS)
    assert response.status_code == 403
    assert fake.token_requests == 2


# Retries


def test_429_with_retry_after_waits_and_succeeds(fake: FakeDruva, session: druva.Session) -> None:
    session.get(USERS)
    fake.fail_next(429, retry_after=1, path=USERS)
    started = time.monotonic()
    assert session.get(USERS).status_code == 200
    assert time.monotonic() - started >= 0.9


def test_persistent_429_is_a_rate_limit_error(fake: FakeDruva) -> None:
    # max_retries does not bound 429 retries: rate_limit_wait does. The
    # limiter falls to one place, then doubles its pace from 1 s: a round
    # trip and 1 s fit in 2.5 s, 2 s more would not.
    with session_for(fake, max_retries=0, rate_limit_wait=2.5) as s:
        s.get(USERS)
        fake.reset_counters()
        fake.fail_next(429, count=10, retry_after=0, path=USERS)
        started = time.monotonic()
        response = s.get(USERS)
        assert time.monotonic() - started >= 0.9
        assert response.status_code == 429
        with pytest.raises(druva.RateLimitError, match="429"):
            response.raise_for_status()
        assert fake.api_requests == 3


def test_a_post_is_retried_after_a_429_but_not_after_a_503(fake: FakeDruva) -> None:
    with session_for(fake) as s:
        s.get(USERS)
        fake.reset_counters()
        fake.fail_next(429, retry_after=1, path="/_echo")
        assert s.post("/_echo", json={"n": 1}).status_code == 200
        assert fake.api_requests == 2
        fake.reset_counters()
        fake.fail_next(503, path="/_echo")
        assert s.post("/_echo", json={"n": 1}).status_code == 503
        assert fake.api_requests == 1


def test_retry_false_does_not_retry_a_429(fake: FakeDruva) -> None:
    with session_for(fake) as s:
        s.get(USERS)
        fake.reset_counters()
        fake.fail_next(429, retry_after=1, path=USERS)
        started = time.monotonic()
        assert s.request("GET", USERS, retry=False).status_code == 429
        assert time.monotonic() - started < 0.9
        assert fake.api_requests == 1


def test_async_429_waits_count_against_rate_limit_wait(fake: FakeDruva) -> None:
    async def main() -> tuple[int, int]:
        async with druva.AsyncSession(
            fake.client_id, fake.secret, base_url=fake.base_url, max_retries=0, rate_limit_wait=1.5
        ) as s:
            await s.get(USERS)
            fake.reset_counters()
            fake.fail_next(429, count=10, retry_after=0, path="/_echo")
            response = await s.post("/_echo", json={})
            return response.status_code, fake.api_requests

    # Waits of a round trip and 1 s fit in 1.5 s; the next (2 s) would not.
    assert asyncio.run(main()) == (429, 3)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), 10**9])
def test_rate_limit_wait_must_be_a_sane_number_of_seconds(fake: FakeDruva, bad: float) -> None:
    with pytest.raises(ValueError, match="rate_limit_wait"):
        druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, rate_limit_wait=bad)


def test_a_403_that_persists_with_a_fresh_token_says_so(fake: FakeDruva) -> None:
    with session_for(fake) as s:
        s.get(USERS)
        fake.fail_next(403, count=2, path=USERS)
        response = s.get(USERS)
        assert response.status_code == 403
        with pytest.raises(druva.HTTPStatusError) as caught:
            response.raise_for_status()
        message = str(caught.value)
        assert "token was fresh" in message
        for cause in ("licence", "region", "tracker"):
            assert cause in message
        assert "missing scope" in message
        # For a minute, refusals of that token return without renewal (Fresh
        # tokens): a token fetched anew is outside that window.
        druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, force_refresh=True)
        # A 403 that a new token cured says nothing of the kind.
        fake.fail_next(403, path=USERS)
        assert s.get(USERS).status_code == 200
        fake.fail_next(403, count=1, path=USERS)
        fake.fail_next(404, count=1, path=USERS)
        with pytest.raises(druva.HTTPStatusError) as other:
            s.get(USERS).raise_for_status()
        assert "fresh" not in str(other.value)


def test_503_twice_then_success(fake: FakeDruva, session: druva.Session) -> None:
    session.get(USERS)
    fake.reset_counters()
    fake.fail_next(503, count=2, path=USERS)
    assert session.get(USERS).status_code == 200
    assert fake.api_requests == 3


def test_post_is_not_retried_unless_asked(fake: FakeDruva, session: druva.Session) -> None:
    session.get(USERS)
    fake.reset_counters()
    fake.fail_next(503, path="/_echo")
    assert session.post("/_echo", json={}).status_code == 503
    assert fake.api_requests == 1
    fake.fail_next(503, path="/_echo")
    assert session.post("/_echo", json={}, retry=True).status_code == 200
    assert fake.api_requests == 3


def test_dropped_connections_are_retried_for_gets(fake: FakeDruva, session: druva.Session) -> None:
    session.get(USERS)
    fake.drop_next(path=USERS)
    assert session.get(USERS).status_code == 200


def test_a_slow_response_is_a_timeout_error(fake: FakeDruva, session: druva.Session) -> None:
    session.get(USERS)
    fake.delay_next(3, path=USERS)
    with pytest.raises(druva.TimeoutError):
        session.get(USERS, timeout=0.3)


# URL and TLS policy


def test_a_foreign_origin_is_refused_and_nothing_is_sent(
    fake: FakeDruva, session: druva.Session
) -> None:
    for foreign in ("https://evil.example/steal", fake.base_url.replace("127.0.0.1", "localhost")):
        with pytest.raises(ValueError, match="origin"):
            session.get(foreign)
    assert fake.api_requests == 0
    assert fake.token_requests == 0
    assert session.get(fake.base_url + USERS).status_code == 200


def test_a_redirect_to_another_origin_carries_no_authorization(
    fake: FakeDruva, session: druva.Session
) -> None:
    with FakeDruva() as other:
        fake.redirect_next(other.base_url + "/_echo", path=USERS)
        response = session.get(USERS)
        assert response.url.startswith(other.base_url)
        assert other.requests[-1]["auth_scheme"] is None
        assert response.status_code == 401


def test_a_refusal_after_a_redirect_out_and_back_costs_no_token(
    fake: FakeDruva, session: druva.Session
) -> None:
    # Out to another origin and back: reqwest drops Authorization on the way
    # out, so our origin's 401 refused no token of ours; the valid token stays.
    first = session.token["access_token"]
    fake.reset_counters()
    with FakeDruva() as other:
        fake.redirect_next(other.base_url + "/_echo/away", path=USERS)
        other.redirect_next(fake.base_url + USERS + "?back=1", path="/_echo")
        response = session.get(USERS)
        assert response.status_code == 401
        assert response.url.startswith(fake.base_url)
        assert other.requests[-1]["auth_scheme"] is None
    assert fake.requests[-1]["auth_scheme"] is None, "the token never came back"
    assert fake.token_requests == 0, "the valid token was not thrown away"
    assert session.token["access_token"] == first
    assert session.get(USERS).status_code == 200


def test_a_same_origin_redirect_keeps_authorization(
    fake: FakeDruva, session: druva.Session
) -> None:
    fake.redirect_next(fake.base_url + "/_echo/moved", path=USERS)
    echoed = session.get(USERS).json()
    assert echoed["path"] == "/_echo/moved"
    assert echoed["headers"]["authorization"] == "Bearer"


def test_https_with_the_fakes_ca_bundle(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="druva")
    with FakeDruva(tls=True) as fake:
        assert fake.base_url.startswith("https://")
        with session_for(fake, ca_bundle=fake.ca_bundle) as s:
            assert s.get(USERS).status_code == 200
        caplog.clear()
        with session_for(fake) as untrusted:
            with pytest.raises(druva.TransportError, match="certificate") as caught:
                untrusted.get(USERS)
        assert "ca_bundle" in str(caught.value)
        # A refused certificate is not retried: it would be refused again.
        attempts = [r for r in caplog.records if r.getMessage().startswith("GET ")]
        assert len(attempts) == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_retries": -1}, ValueError),
        ({"max_retries": 1.5}, TypeError),
        ({"leeway": -1}, ValueError),
        ({"timeout": -2}, ValueError),
        ({"proxy": 3}, TypeError),
        ({"ca_bundle": 3}, TypeError),
    ],
)
def test_bad_session_arguments(
    fake: FakeDruva, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        session_for(fake, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"timeout": "3"}, "timeout"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"max_concurrency": "4"}, "max_concurrency"),
        ({"msp": "yes"}, "msp"),
    ],
)
def test_a_wrong_type_names_its_argument_in_the_message_itself(
    fake: FakeDruva, kwargs: dict[str, Any], name: str
) -> None:
    # In the message, not only in an exception note: Python 3.9 and 3.10
    # show no notes.
    with pytest.raises(TypeError) as caught:
        session_for(fake, **kwargs)
    assert caught.value.args[0].startswith(f"{name} must be ")


@pytest.mark.parametrize(
    ("call", "name"),
    [
        ({"timeout": "3"}, "timeout"),
        ({"retry": "yes"}, "retry"),
    ],
)
def test_a_call_argument_of_the_wrong_type_is_named_in_the_message(
    fake: FakeDruva, call: dict[str, Any], name: str
) -> None:
    with session_for(fake) as s, pytest.raises(TypeError) as caught:
        s.post(USERS, **call)
    assert caught.value.args[0].startswith(f"{name} must be ")
    assert fake.api_requests == 0


def test_zero_leeway_is_allowed(fake: FakeDruva) -> None:
    with session_for(fake, leeway=0) as s:
        assert s.get(USERS).ok


# Lifecycle, reprs, environment


def test_a_closed_session_refuses_calls(fake: FakeDruva) -> None:
    s = session_for(fake)
    s.close()
    assert s.closed
    with pytest.raises(RuntimeError, match="closed"):
        s.get(USERS)


def test_reprs_show_no_secret(fake: FakeDruva, session: druva.Session) -> None:
    text = repr(session) + repr(fake) + repr(async_session_for(fake))
    assert fake.secret not in text
    assert fake.client_id not in text
    assert fake.client_id[:4] + "***" in text
    with pytest.raises(TypeError, match="pickled"):
        __import__("pickle").dumps(session)


def test_from_env(fake: FakeDruva, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUVA_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("DRUVA_SECRET_KEY", fake.secret)
    monkeypatch.setenv("DRUVA_BASE_URL", fake.base_url)
    with druva.Session.from_env() as s:
        assert s.get(USERS).ok
    monkeypatch.delenv("DRUVA_SECRET_KEY")
    with pytest.raises(ValueError, match="DRUVA_SECRET_KEY"):
        druva.Session.from_env()


def test_one_debug_record_per_request_without_secrets(
    fake: FakeDruva, session: druva.Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="druva")
    token = session.token
    session.get(USERS, params={"pageSize": 3})
    lines = [r.getMessage() for r in caplog.records if "GET" in r.getMessage()]
    assert len(lines) == 1
    assert USERS in lines[0] and "200" in lines[0] and "ms" in lines[0]
    assert "pageSize" not in lines[0]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert token["access_token"] not in text and fake.secret not in text


# Threads, notebooks, signals, fork


def test_threads_share_a_session_while_short_tokens_expire() -> None:
    with FakeDruva(token_lifetime=2, users=20) as fake, session_for(fake) as s:
        failures: list[BaseException] = []
        calls = [0]
        deadline = time.monotonic() + 5

        def worker() -> None:
            while time.monotonic() < deadline:
                try:
                    s.get(USERS).raise_for_status()
                    calls[0] += 1
                except BaseException as error:
                    failures.append(error)

        threads = [threading.Thread(target=worker) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert calls[0] > 12
        # A 2 s token renewed after half its life: a handful of requests in 5 s.
        assert 2 <= fake.token_requests <= 8


def test_a_sync_session_works_inside_a_running_event_loop(session: druva.Session) -> None:
    async def notebook_cell() -> int:
        return session.get(USERS).status_code

    assert asyncio.run(notebook_cell()) == 200


def test_async_session_gathers_200_calls_with_one_token_request(fake: FakeDruva) -> None:
    async def main() -> list[druva.Response]:
        async with async_session_for(fake) as s:
            return await asyncio.gather(*(s.get(USERS, params={"pageSize": 1}) for _ in range(200)))

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 200
    assert fake.token_requests == 1
    assert fake.api_requests == 200


def test_async_session_pages_renews_and_raises(fake: FakeDruva) -> None:
    async def main() -> int:
        async with async_session_for(fake) as s:
            count = 0
            async for _ in s.paginate(USERS):
                count += 1
            fake.expire_tokens()
            assert (await s.get(USERS)).ok
            token = await s.token()
            assert token["access_token"]
            with pytest.raises(ValueError, match="origin"):
                s.paginate("https://evil.example/x")
            fake.fail_next(500, path=DEVICES)
            with pytest.raises(druva.HTTPStatusError):
                [d async for d in s.paginate(DEVICES)]
            return count

    assert asyncio.run(main()) == 250
    assert fake.token_requests == 2


def test_async_tasks_can_be_created_and_cancelled(fake: FakeDruva) -> None:
    async def main() -> None:
        async with async_session_for(fake) as s:
            await s.token()
            fake.delay_next(5, path=USERS)
            task = asyncio.create_task(s.get(USERS))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await asyncio.wait_for(s.get(DEVICES), 5)).ok

    asyncio.run(main())


def run_script(tmp_path: Path, code: str) -> subprocess.Popen[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_ctrl_c_interrupts_a_slow_get(tmp_path: Path) -> None:
    assert_ctrl_c_interrupts(
        tmp_path,
        setup="""
            s = druva.Session(fake.client_id, fake.secret, base_url=fake.base_url)
            s.get("/insync/usermanagement/v1/users")
            fake.delay_next(60, path="/insync")
        """,
        blocking_call='s.get("/insync/usermanagement/v1/users")',
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_session_used_before_fork_works_in_the_child(tmp_path: Path) -> None:
    child = run_script(
        tmp_path,
        """
        import os
        import druva
        from druva.testing import FakeDruva
        with FakeDruva() as fake:
            s = druva.Session(fake.client_id, fake.secret, base_url=fake.base_url)
            assert s.get("/insync/usermanagement/v1/users").ok
            pid = os.fork()
            if pid == 0:
                try:
                    users = list(s.paginate("/insync/usermanagement/v1/users"))
                    os._exit(0 if len(users) == 250 else 1)
                except BaseException:
                    os._exit(2)
            _, status = os.waitpid(pid, 0)
            print(os.waitstatus_to_exitcode(status), flush=True)
        """,
    )
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.split() == ["0"]


@pytest.fixture
def many_sessions(fake: FakeDruva) -> Iterator[list[druva.Session]]:
    sessions = [session_for(fake) for _ in range(20)]
    yield sessions
    for s in sessions:
        s.close()


def test_many_sessions_share_one_token(fake: FakeDruva, many_sessions: list[druva.Session]) -> None:
    for s in many_sessions:
        assert s.get(USERS).ok
    assert fake.token_requests == 1


# Proxies and trust from the environment


def test_proxy_argument_never_carries_a_loopback_call() -> None:
    # Plain http:// is allowed only because it stays on the machine: a proxy
    # never sees it (tests/test_reliability.py checks that non-loopback
    # https does go through the proxy).
    credentials = {"client_id": "proxied-client", "secret": "proxied-secret"}
    with FakeDruva(**credentials) as origin, FakeDruva(**credentials) as proxy:
        with druva.Session(
            "proxied-client", "proxied-secret", base_url=origin.base_url, proxy=proxy.base_url
        ) as s:
            assert s.get(USERS).ok
        assert (proxy.token_requests, proxy.api_requests) == (0, 0)
        assert (origin.token_requests, origin.api_requests) == (1, 1)


def test_proxy_environment_variables_never_carry_a_loopback_call() -> None:
    credentials = {"client_id": "env-proxied", "secret": "env-secret"}
    with FakeDruva(**credentials) as origin, FakeDruva(**credentials) as proxy:
        code = f"""
            import druva
            with druva.Session("env-proxied", "env-secret", base_url="{origin.base_url}") as s:
                assert s.get("{USERS}").ok
            with druva.Session(
                "env-proxied", "env-secret", base_url="{origin.base_url}", proxy=""
            ) as s:
                assert s.get("{USERS}").ok
        """
        for variable in ("HTTP_PROXY", "ALL_PROXY", "http_proxy"):
            result = run_python(code, **{variable: proxy.base_url, "NO_PROXY": ""})
            assert result.returncode == 0, result.stderr
        assert (proxy.token_requests, proxy.api_requests) == (0, 0)
        # One token a run (the two sessions of a run share it), two calls a run.
        assert (origin.token_requests, origin.api_requests) == (3, 6)


def test_ssl_cert_file_is_honoured() -> None:
    with FakeDruva(tls=True) as fake:
        assert fake.ca_bundle is not None
        code = f"""
            import druva
            token = druva.get_token("{fake.client_id}", "{fake.secret}", base_url="{fake.base_url}")
            assert token["access_token"]
        """
        trusted = run_python(code, SSL_CERT_FILE=fake.ca_bundle)
        assert trusted.returncode == 0, trusted.stderr
        assert fake.token_requests == 1


# Progress bars


def test_paginate_with_progress_yields_every_record(
    session: druva.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tqdm")
    assert sum(1 for _ in session.paginate(USERS, progress=True)) == 250
    assert "250" in capsys.readouterr().err


def test_async_paginate_with_progress_yields_every_record(fake: FakeDruva) -> None:
    pytest.importorskip("tqdm")

    async def main() -> int:
        async with async_session_for(fake) as s:
            return len([u async for u in s.paginate(USERS, progress=True)])

    assert asyncio.run(main()) == 250


def test_progress_without_tqdm_is_a_clear_error(
    session: druva.Session, fake: FakeDruva, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="pip install tqdm"):
        session.paginate(USERS, progress=True)
    with pytest.raises(ImportError, match="pip install tqdm"):
        async_session_for(fake).paginate(USERS, progress=True)
    assert fake.api_requests == 0


def test_async_session_works_where_the_loop_cannot_watch_a_descriptor(
    fake: FakeDruva, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loops without add_reader (Windows' proactor) use the generic bridge."""
    import druva._loop_queue

    monkeypatch.setattr(druva._loop_queue, "loop_queue_for", lambda loop: None)

    async def main() -> list[int]:
        async with async_session_for(fake) as s:
            responses = await asyncio.gather(*(s.get(USERS) for _ in range(20)))
            return [r.status_code for r in responses]

    assert asyncio.run(main()) == [200] * 20


# What "ok" means: one rule for a response, one for a page of a list


def test_a_3xx_response_is_ok_but_not_a_page(fake: FakeDruva, session: druva.Session) -> None:
    """As in requests, ok is "not 4xx/5xx"; a page of a list must be a 2xx."""
    fake.fail_next(304, path=USERS)
    response = session.get(USERS)
    assert response.status_code == 304
    assert response.ok
    assert response.raise_for_status() is response
    fake.fail_next(304, path=USERS)
    with pytest.raises(druva.HTTPStatusError) as caught:
        list(session.paginate(USERS))
    assert caught.value.status_code == 304
    assert not session.get(USERS + "/nobody").ok


def test_records_of_the_runtime_reach_logging_on_the_callers_thread(
    fake: FakeDruva, caplog: pytest.LogCaptureFixture
) -> None:
    # A retry is logged by druva's runtime thread; the record is emitted by the
    # caller's thread when the call returns (no Python thread state is made on
    # the runtime thread), sync and async alike.
    caplog.set_level(logging.INFO, logger="druva")
    with session_for(fake) as s:
        s.get(USERS)
        caplog.clear()
        fake.fail_next(503, path=USERS)
        assert s.get(USERS).status_code == 200
        sync_records = [r for r in caplog.records if "retry 1 of 3" in r.getMessage()]
    assert len(sync_records) == 1
    assert sync_records[0].levelno == logging.INFO
    assert sync_records[0].threadName == threading.current_thread().name

    async def main() -> None:
        async with druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            await s.get(USERS)
            caplog.clear()
            fake.fail_next(503, path=USERS)
            assert (await s.get(USERS)).status_code == 200

    asyncio.run(main())
    async_records = [r for r in caplog.records if "retry 1 of 3" in r.getMessage()]
    assert len(async_records) == 1
    assert async_records[0].threadName == threading.current_thread().name
