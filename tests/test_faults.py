"""The fault matrix: every fault FakeDruva can inject, through ``Session`` and
``AsyncSession``, each with its documented outcome.

Each row of ``CASES`` is one fault and what a caller sees: the response it gets
or the exception it raises (exactly that class), how many requests reached the
fake (so retries are counted, not guessed), and how long it may take. Every
row runs sync and async; no fault may hang, panic or surface as anything else,
and the session works again once the fault is used up.

``docs/faults.md`` is this table for readers; ``test_the_docs_table_is_this_matrix``
keeps the two in step (regenerate it with ``python -m tests.test_faults``).
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import druva
import pytest
from druva.testing import FakeDruva

from .conftest import RawServer, http_response

pytestmark = pytest.mark.timeout(60)

USERS = "/insync/usermanagement/v1/users"
USER_COUNT = 5
DOCS = Path(__file__).resolve().parent.parent / "docs" / "faults.md"
MIB = 1024 * 1024


# How a fault is injected, as data: applied to a FakeDruva and shown in the docs.


@dataclass(frozen=True)
class HttpDate:
    """A ``Retry-After`` HTTP date this many seconds ahead, made when injected."""

    seconds: float

    def value(self) -> str:
        return email.utils.formatdate(time.time() + self.seconds, usegmt=True)

    def __str__(self) -> str:
        if self.seconds < 0:
            return f"<HTTP date {-self.seconds:g} s ago>"
        return f"<HTTP date {self.seconds:g} s ahead>"


@dataclass(frozen=True)
class Url:
    """A URL on the fake itself (``own``) or on a second, foreign fake."""

    origin: str
    path: str

    def value(self, fake: FakeDruva, foreign: FakeDruva) -> str:
        return (fake if self.origin == "own" else foreign).base_url + self.path

    def __str__(self) -> str:
        server = "fake" if self.origin == "own" else "other"
        path = "USERS" if self.path == USERS else f'"{self.path}"'
        return f"{server}.base_url + {path}"


@dataclass(frozen=True)
class Inject:
    """One call of a FakeDruva fault method."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, fake: FakeDruva, foreign: FakeDruva) -> None:
        def resolve(value: Any) -> Any:
            if isinstance(value, HttpDate):
                return value.value()
            if isinstance(value, Url):
                return value.value(fake, foreign)
            return value

        args = [resolve(value) for value in self.args]
        kwargs = {name: resolve(value) for name, value in self.kwargs.items()}
        getattr(fake, self.method)(*args, **kwargs)

    def __str__(self) -> str:
        def show(value: Any) -> str:
            if isinstance(value, (HttpDate, Url)):
                return str(value)
            if value == USERS:
                return "USERS"
            if isinstance(value, int) and value >= MIB and value % MIB in (0, 1):
                return f"{value // MIB} * MIB" + (" + 1" if value % MIB else "")
            return repr(value)

        shown = [show(value) for value in self.args]
        shown += [f"{name}={show(value)}" for name, value in self.kwargs.items()]
        return f"fake.{self.method}({', '.join(shown)})"


def fault(method: str, *args: Any, **kwargs: Any) -> Inject:
    return Inject(method, args, kwargs)


# What the caller sees.


@dataclass(frozen=True)
class Returns:
    """The call returns: a response with this status, or (paging, ``json()``) its value."""

    status: int

    def __str__(self) -> str:
        return f"returns {self.status}"


@dataclass(frozen=True)
class Raises:
    """The call raises exactly this exception class, its message matching ``match``."""

    error: type[BaseException]
    match: str = ""

    def __str__(self) -> str:
        return f"raises `{self.error.__module__.split('.')[0]}.{self.error.__name__}`"


Outcome = Union[Returns, Raises]

# The calls a row can make, and how the docs show them, sync and async.
CALLS: dict[str, tuple[str, str]] = {
    "get": ("s.get(USERS)", "await s.get(USERS)"),
    "json": ("s.get(USERS).json()", "(await s.get(USERS)).json()"),
    "raise": ("s.get(USERS).raise_for_status()", "(await s.get(USERS)).raise_for_status()"),
    "post": ('s.post("/_echo", json={})', 'await s.post("/_echo", json={})'),
    "paginate": ("list(s.paginate(USERS))", "[u async for u in s.paginate(USERS)]"),
}


def call_sync(s: druva.Session, call: str) -> Any:
    if call == "get":
        return s.get(USERS)
    if call == "json":
        return s.get(USERS).json()
    if call == "raise":
        return s.get(USERS).raise_for_status()
    if call == "post":
        return s.post("/_echo", json={})
    if call == "paginate":
        return list(s.paginate(USERS))
    raise AssertionError(call)


async def call_async(s: druva.AsyncSession, call: str) -> Any:
    if call == "get":
        return await s.get(USERS)
    if call == "json":
        return (await s.get(USERS)).json()
    if call == "raise":
        return (await s.get(USERS)).raise_for_status()
    if call == "post":
        return await s.post("/_echo", json={})
    if call == "paginate":
        return [item async for item in s.paginate(USERS)]
    raise AssertionError(call)


@dataclass(frozen=True)
class Case:
    """One row of the matrix."""

    id: str
    fault: str
    injects: tuple[Inject, ...]
    outcome: Outcome
    api: int | None = None
    tokens: int | None = None
    call: str = "get"
    # Whether the session already holds a token when the fault is injected.
    warm: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)
    wrong_secret: bool = False
    min_seconds: float = 0.0
    max_seconds: float = 5.0
    note: str = ""


def on_token(method: str, *args: Any, **kwargs: Any) -> Inject:
    return fault(method, *args, **kwargs, path="/token")


def on_users(method: str, *args: Any, **kwargs: Any) -> Inject:
    return fault(method, *args, **kwargs, path=USERS)


CASES: list[Case] = [
    # Rate limits: retried for every method, against rate_limit_wait rather
    # than max_retries, paced by the session's limiter, honouring Retry-After.
    Case(
        "429-no-retry-after",
        "429 without `Retry-After`",
        (on_users("fail_next", 429),),
        Returns(200),
        api=2,
        max_seconds=1.0,
        note="back behind the session's limiter: retried one pacing interval (a round trip) later",
    ),
    Case(
        "429-retry-after-seconds",
        "429 with `Retry-After: 1` (seconds)",
        (on_users("fail_next", 429, retry_after=1),),
        Returns(200),
        api=2,
        min_seconds=0.9,
        note="retried after the server's 1 s",
    ),
    Case(
        "429-retry-after-fraction",
        "429 with `Retry-After: 0.5`",
        (on_users("fail_next", 429, retry_after=0.5),),
        Returns(200),
        api=2,
        min_seconds=0.45,
        max_seconds=1.5,
        note="waited as given (the limiter's pace replaces the old 1 s minimum)",
    ),
    Case(
        "429-retry-after-http-date",
        "429 with `Retry-After` as an HTTP date 2 s ahead",
        (on_users("fail_next", 429, retry_after=HttpDate(2)),),
        Returns(200),
        api=2,
        min_seconds=0.95,
        note="retried at that date (whole seconds)",
    ),
    Case(
        "429-retry-after-past-date",
        "429 with `Retry-After` as an HTTP date in the past",
        (on_users("fail_next", 429, retry_after=HttpDate(-60)),),
        Returns(200),
        api=2,
        max_seconds=1.0,
        note="no wait to honour: retried behind the limiter, as without it",
    ),
    Case(
        "429-retry-after-garbage",
        "429 with `Retry-After: soon` (garbage)",
        (on_users("fail_next", 429, retry_after="soon"),),
        Returns(200),
        api=2,
        max_seconds=2.5,
        note="the header is ignored; backoff as without it",
    ),
    Case(
        "429-max-retries-0",
        "429 once, on a session that never retries errors",
        (on_users("fail_next", 429, retry_after=1),),
        Returns(200),
        api=2,
        options={"max_retries": 0},
        note="429 retries are not counted against `max_retries`",
    ),
    Case(
        "429-post",
        "429 on a POST",
        (fault("fail_next", 429, retry_after=1, path="/_echo"),),
        Returns(200),
        api=2,
        call="post",
        note="a throttled request was not processed: every method is retried",
    ),
    Case(
        "429-rate-limit-wait-0",
        "429 once, on a session with no rate-limit budget",
        (on_users("fail_next", 429, retry_after=1),),
        Returns(429),
        api=1,
        options={"rate_limit_wait": 0},
        max_seconds=1.0,
        note="`rate_limit_wait=0` turns 429 retries off",
    ),
    Case(
        "429-persistent",
        "429 on every attempt",
        (on_users("fail_next", 429, count=10, retry_after=0),),
        Returns(429),
        api=3,
        options={"rate_limit_wait": 2.5},
        min_seconds=0.9,
        note="the limiter falls to one place, then each 429 doubles its pace from 1 s: "
        "a round trip and 1 s fit in `rate_limit_wait`, 2 s more would pass 2.5 s; "
        "then the last response",
    ),
    Case(
        "429-persistent-raise-for-status",
        "429 on every attempt, then `raise_for_status()`",
        (on_users("fail_next", 429, count=10, retry_after=0),),
        Raises(druva.RateLimitError, "429"),
        api=3,
        options={"rate_limit_wait": 2.5},
        call="raise",
    ),
    Case(
        "429-persistent-paginate",
        "429 on every attempt while paging",
        (on_users("fail_next", 429, count=10, retry_after=0),),
        Raises(druva.RateLimitError, "429"),
        api=3,
        options={"rate_limit_wait": 2.5},
        call="paginate",
    ),
    Case(
        "429-retry-after-past-budget",
        "429 with `Retry-After: 3600`",
        (on_users("fail_next", 429, retry_after=3600),),
        Returns(429),
        api=1,
        max_seconds=1.0,
        note="a wait that would pass `rate_limit_wait` (120 s) is not taken",
    ),
    # Server errors: 500 is final, gateway errors are retried.
    Case(
        "500",
        "500",
        (on_users("fail_next", 500),),
        Returns(500),
        api=1,
        note="not retried: the server said it failed",
    ),
    Case(
        "500-raise-for-status",
        "500, then `raise_for_status()`",
        (on_users("fail_next", 500),),
        Raises(druva.HTTPStatusError, "InsyncCommon-500"),
        api=1,
        call="raise",
        note="`.code`/`.message` from Druva's envelope",
    ),
    Case(
        "500-paginate",
        "500 on a page",
        (on_users("fail_next", 500),),
        Raises(druva.HTTPStatusError, "500"),
        api=1,
        call="paginate",
    ),
    *[
        Case(
            f"{status}-once",
            f"{status} once",
            (on_users("fail_next", status),),
            Returns(200),
            api=2,
            note="retried",
        )
        for status in (502, 503, 504)
    ],
    *[
        Case(
            f"{status}-persistent",
            f"{status} on every attempt",
            (on_users("fail_next", status, count=10),),
            Returns(status),
            api=4,
            note="the last response after 3 retries",
        )
        for status in (502, 503, 504)
    ],
    Case(
        "503-post",
        "503 on a POST",
        (fault("fail_next", 503, path="/_echo"),),
        Returns(503),
        api=1,
        call="post",
        note="POST is not retried unless `retry=True`",
    ),
    # Druva's retry hint: `retryable` in the error body decides, 401/403/429 aside.
    Case(
        "500-retryable-true",
        "500 whose body says `retryable: true`, once",
        (on_users("fail_next", 500, retryable=True),),
        Returns(200),
        api=2,
        note="Druva's retry hint: retried like a 503",
    ),
    Case(
        "500-retryable-true-persistent",
        "500 saying `retryable: true` on every attempt",
        (on_users("fail_next", 500, count=10, retryable=True),),
        Returns(500),
        api=4,
        note="the last response after 3 retries",
    ),
    Case(
        "400-retryable-true",
        "400 whose body says `retryable: true`, once",
        (on_users("fail_next", 400, retryable=True),),
        Returns(200),
        api=2,
        note="any 4xx or 5xx but 401, 403 and 429 follows the hint",
    ),
    Case(
        "500-retryable-true-post",
        "500 saying `retryable: true` on a POST",
        (fault("fail_next", 500, retryable=True, path="/_echo"),),
        Returns(500),
        api=1,
        call="post",
        note="like a 503: POST is not retried unless `retry=True`",
    ),
    Case(
        "503-retryable-false",
        "503 whose body says `retryable: false`",
        (on_users("fail_next", 503, retryable=False),),
        Returns(503),
        api=1,
        note="`retryable: false` is never retried",
    ),
    Case(
        "503-retryable-false-raise-for-status",
        "503 saying `retryable: false`, then `raise_for_status()`",
        (on_users("fail_next", 503, retryable=False),),
        Raises(druva.HTTPStatusError, "503"),
        api=1,
        call="raise",
        note="`.retryable` is the hint (`None` without one)",
    ),
    Case(
        "429-retryable-false",
        "429 whose body says `retryable: false`",
        (on_users("fail_next", 429, retry_after=1, retryable=False),),
        Returns(200),
        api=2,
        note="a 429 keeps its own rule",
    ),
    # Connections that break.
    Case(
        "reset-before-headers-once",
        "connection reset before the headers, once",
        (on_users("drop_next"),),
        Returns(200),
        api=2,
        note="retried",
    ),
    Case(
        "reset-before-headers-persistent",
        "connection reset before the headers, every attempt",
        (on_users("drop_next", count=10),),
        Raises(druva.TransportError, "connection"),
        api=4,
        note="also a `ConnectionError`",
    ),
    Case(
        "reset-after-headers-once",
        "connection reset after the headers, once",
        (on_users("drop_next", after_headers=True),),
        Returns(200),
        api=2,
        note="retried",
    ),
    Case(
        "reset-after-headers-persistent",
        "connection reset after the headers, every attempt",
        (on_users("drop_next", count=10, after_headers=True),),
        Raises(druva.TransportError, "cut off"),
        api=4,
    ),
    Case(
        "reset-post",
        "connection reset on a POST",
        (fault("drop_next", path="/_echo"),),
        Raises(druva.TransportError, "POST /_echo"),
        api=1,
        call="post",
        note="not retried: it may have been applied",
    ),
    Case(
        "truncated-once",
        "body cut short of its `Content-Length`, once",
        (on_users("truncate_next"),),
        Returns(200),
        api=2,
        note="retried",
    ),
    Case(
        "truncated-persistent",
        "body cut short of its `Content-Length`, every attempt",
        (on_users("truncate_next", count=10),),
        Raises(druva.TransportError, "cut off"),
        api=4,
    ),
    Case(
        "truncated-page-once",
        "a page cut short, once",
        (on_users("truncate_next"),),
        Returns(200),
        api=2,
        call="paginate",
        note="retried; every item arrives once",
    ),
    # Slow servers.
    Case(
        "slow-past-timeout",
        "response slower than the timeout (5 s, `timeout=0.5`)",
        (on_users("delay_next", 5),),
        Raises(druva.TimeoutError, "timed out after 0.500 s"),
        api=1,
        options={"timeout": 0.5},
        min_seconds=0.45,
        max_seconds=2.0,
        note="not retried; also the builtin `TimeoutError`",
    ),
    Case(
        "slow-within-timeout",
        "response slower than usual but within the timeout",
        (on_users("delay_next", 0.3),),
        Returns(200),
        api=1,
        min_seconds=0.25,
    ),
    Case(
        "503-retry-after-past-timeout",
        "503 with `Retry-After: 60` on a session with `timeout=1`",
        (on_users("fail_next", 503, count=3, retry_after=60),),
        Returns(503),
        api=1,
        options={"timeout": 1},
        max_seconds=1.0,
        note="`timeout` bounds the whole call: a retry whose wait would pass it is not attempted",
    ),
    Case(
        "503-then-slow-within-timeout",
        "503 with `Retry-After: 0.6`, then a 0.6 s answer, on a session with `timeout=1`",
        (
            on_users("fail_next", 503, retry_after=0.6),
            on_users("delay_next", 0.6),
        ),
        Raises(druva.TimeoutError, "timed out"),
        api=2,
        options={"timeout": 1},
        min_seconds=0.9,
        max_seconds=1.6,
        note="the retry gets only what is left of the call's timeout",
    ),
    # Bodies that break the protocol.
    Case(
        "malformed-json",
        "200 whose body is not JSON",
        (on_users("malform_next"),),
        Raises(druva.JSONDecodeError, "Expecting property name"),
        api=1,
        call="json",
        note="the response itself is returned; `.json()` raises",
    ),
    Case(
        "malformed-json-response",
        "200 whose body is not JSON, without `.json()`",
        (on_users("malform_next"),),
        Returns(200),
        api=1,
    ),
    Case(
        "malformed-page",
        "a page that is not JSON",
        (on_users("malform_next"),),
        Raises(druva.JSONDecodeError, "Expecting property name"),
        api=1,
        call="paginate",
    ),
    Case(
        "huge-body",
        "200 with a body past `max_response_bytes` (2 MiB, limit 1 MiB)",
        (on_users("huge_next", 2 * MIB),),
        Raises(druva.ProtocolError, "max_response_bytes"),
        api=1,
        options={"max_response_bytes": MIB},
        max_seconds=2.0,
        note="refused without reading it; not retried",
    ),
    Case(
        "huge-body-at-limit",
        "200 with a body of exactly `max_response_bytes`",
        (on_users("huge_next", MIB),),
        Returns(200),
        api=1,
        options={"max_response_bytes": MIB},
    ),
    Case(
        "huge-body-past-default",
        "200 with a body past the default limit (100 MiB + 1)",
        (on_users("huge_next", 100 * MIB + 1),),
        Raises(druva.ProtocolError, "104857600"),
        api=1,
        max_seconds=2.0,
    ),
    Case(
        "huge-body-10-gib",
        "200 with a 10 GiB body",
        (on_users("huge_next", 10 * 1024 * MIB),),
        Raises(druva.ProtocolError, "max_response_bytes"),
        api=1,
        max_seconds=2.0,
        note="memory stays bounded",
    ),
    # The token endpoint.
    Case(
        "token-500",
        "token endpoint 500",
        (on_token("fail_next", 500),),
        Raises(druva.HTTPStatusError, "500 .* POST /token"),
        api=0,
        tokens=1,
        warm=False,
    ),
    *[
        Case(
            f"token-{status}-once",
            f"token endpoint {status} once",
            (on_token("fail_next", status),),
            Returns(200),
            api=1,
            tokens=2,
            warm=False,
            note="the token request is retried",
        )
        for status in (502, 503, 504)
    ],
    Case(
        "token-503-persistent",
        "token endpoint 503 on every attempt",
        (on_token("fail_next", 503, count=10),),
        Raises(druva.HTTPStatusError, "503"),
        api=0,
        tokens=4,
        warm=False,
    ),
    Case(
        "token-429-persistent",
        "token endpoint 429 on every attempt",
        (on_token("fail_next", 429, count=10, retry_after=0),),
        Raises(druva.RateLimitError, "429"),
        api=0,
        tokens=3,
        warm=False,
        options={"rate_limit_wait": 2.5},
        min_seconds=1.9,
        note="the session's `rate_limit_wait` bounds its token requests too",
    ),
    Case(
        "token-400-invalid-grant",
        "token endpoint 400 `invalid_grant` (a wrong secret)",
        (),
        Raises(druva.AuthenticationError, "invalid_grant"),
        api=0,
        tokens=1,
        warm=False,
        wrong_secret=True,
        note="never retried",
    ),
    Case(
        "token-400-invalid-request",
        "token endpoint 400 `invalid_request`",
        (on_token("fail_next", 400),),
        Raises(druva.AuthenticationError, "invalid_request"),
        api=0,
        tokens=1,
        warm=False,
        note="an RFC 6749 §5.2 refusal, like every `error` of that list; never retried",
    ),
    Case(
        "token-401-invalid-client",
        "token endpoint 401 `invalid_client`",
        (on_token("fail_next", 401),),
        Raises(druva.AuthenticationError, "invalid_client"),
        api=0,
        tokens=1,
        warm=False,
        note="never retried",
    ),
    Case(
        "token-200-without-token",
        "token endpoint 200 without `access_token`",
        (on_token("fail_next", 200),),
        Raises(druva.ProtocolError, "no access_token"),
        api=0,
        tokens=1,
        warm=False,
    ),
    Case(
        "token-not-json",
        "token endpoint 200 whose body is not JSON",
        (on_token("malform_next"),),
        Raises(druva.ProtocolError, "not a JSON token object"),
        api=0,
        tokens=1,
        warm=False,
    ),
    Case(
        "token-reset-persistent",
        "token endpoint resets the connection on every attempt",
        (on_token("drop_next", count=10),),
        Raises(druva.TransportError, "token request"),
        api=0,
        tokens=4,
        warm=False,
    ),
    Case(
        "token-truncated-once",
        "token endpoint body cut short, once",
        (on_token("truncate_next"),),
        Returns(200),
        api=1,
        tokens=2,
        warm=False,
        note="retried",
    ),
    Case(
        "token-slow",
        "token endpoint slower than the timeout",
        (on_token("delay_next", 5),),
        Raises(druva.TimeoutError, "token request"),
        api=0,
        tokens=1,
        warm=False,
        options={"timeout": 0.5},
        max_seconds=2.0,
    ),
    Case(
        "token-huge",
        "token endpoint body past 100 MiB",
        (on_token("huge_next", 100 * MIB + 1),),
        Raises(druva.ProtocolError, "max_response_bytes"),
        api=0,
        tokens=1,
        warm=False,
        max_seconds=2.0,
    ),
    Case(
        "token-redirect-loop",
        "token endpoint redirects to itself",
        (on_token("redirect_next", Url("own", "/token"), count=100, status=307),),
        Raises(druva.ProtocolError, "too many redirects"),
        api=0,
        tokens=11,
        warm=False,
        note="10 redirects are followed; a loop is not retried",
    ),
    # The API refuses the token mid-session.
    *[
        Case(
            f"{status}-mid-session",
            f"{status} from the API mid-session",
            (on_users("fail_next", status),),
            Returns(200),
            api=2,
            tokens=1,
            note="one new token, the call retried once",
        )
        for status in (401, 403)
    ],
    *[
        Case(
            f"{status}-twice",
            f"{status} from the API, again with the new token",
            (on_users("fail_next", status, count=2),),
            Returns(status),
            api=2,
            tokens=1,
            note="one renewal only; the second refusal is returned",
        )
        for status in (401, 403)
    ],
    Case(
        "expired-tokens",
        "every issued token expires (`expire_tokens()`)",
        (fault("expire_tokens"),),
        Returns(200),
        api=2,
        tokens=1,
        note="403, one new token, retried",
    ),
    Case(
        "401-then-token-refused",
        "401 mid-session, then the token endpoint refuses the credentials",
        (on_users("fail_next", 401), on_token("fail_next", 401)),
        Raises(druva.AuthenticationError, "invalid_client"),
        api=1,
        tokens=1,
    ),
    # Redirects.
    Case(
        "redirect-loop",
        "a redirect loop (to the same URL)",
        (on_users("redirect_next", Url("own", USERS), count=100),),
        Raises(druva.ProtocolError, "too many redirects"),
        api=11,
        note="10 redirects are followed; a loop is not retried",
    ),
    Case(
        "redirect-loop-relative",
        "a redirect loop with a relative `Location`",
        (on_users("redirect_next", USERS, count=100),),
        Raises(druva.ProtocolError, "too many redirects"),
        api=11,
    ),
    Case(
        "redirect-same-origin",
        "a redirect within the origin",
        (on_users("redirect_next", Url("own", "/_echo/moved")),),
        Returns(200),
        api=2,
        note="followed, `Authorization` kept",
    ),
    Case(
        "redirect-foreign-origin",
        "a redirect to a foreign origin",
        (on_users("redirect_next", Url("foreign", "/_echo")),),
        Returns(401),
        api=1,
        tokens=0,
        note="followed without `Authorization` (the other server answers 401); the token is kept",
    ),
]


def case_ids() -> list[str]:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return ids


@pytest.fixture(scope="module")
def foreign() -> Iterator[FakeDruva]:
    """A second server on another port: another origin."""
    with FakeDruva(users=USER_COUNT) as server:
        yield server


@dataclass
class Observed:
    result: Any
    seconds: float
    api: int
    tokens: int
    works_afterwards: bool


def session_arguments(fake: FakeDruva, case: Case) -> tuple[tuple[str, str], dict[str, Any]]:
    secret = fake.secret + "-wrong" if case.wrong_secret else fake.secret
    return (fake.client_id, secret), {"base_url": fake.base_url, **case.options}


def observe_sync(case: Case, fake: FakeDruva, foreign: FakeDruva) -> Observed:
    credentials, options = session_arguments(fake, case)
    with druva.Session(*credentials, **options) as s:
        if case.warm:
            s.get(USERS).raise_for_status()
        fake.reset_counters()
        for inject in case.injects:
            inject.apply(fake, foreign)
        started = time.monotonic()
        try:
            result = call_sync(s, case.call)
        except Exception as error:
            result = error
        seconds = time.monotonic() - started
        api, tokens = fake.api_requests, fake.token_requests
        fake.clear_faults()
        works = case.wrong_secret or s.get(USERS).status_code == 200
    return Observed(result, seconds, api, tokens, works)


def observe_async(case: Case, fake: FakeDruva, foreign: FakeDruva) -> Observed:
    credentials, options = session_arguments(fake, case)

    async def main() -> Observed:
        async with druva.AsyncSession(*credentials, **options) as s:
            if case.warm:
                (await s.get(USERS)).raise_for_status()
            fake.reset_counters()
            for inject in case.injects:
                inject.apply(fake, foreign)
            started = time.monotonic()
            try:
                result = await call_async(s, case.call)
            except Exception as error:
                result = error
            seconds = time.monotonic() - started
            api, tokens = fake.api_requests, fake.token_requests
            fake.clear_faults()
            works = case.wrong_secret or (await s.get(USERS)).status_code == 200
        return Observed(result, seconds, api, tokens, works)

    return asyncio.run(main())


OBSERVERS: dict[str, Callable[[Case, FakeDruva, FakeDruva], Observed]] = {
    "sync": observe_sync,
    "async": observe_async,
}


def assert_outcome(case: Case, result: Any) -> None:
    if isinstance(case.outcome, Raises):
        assert isinstance(result, BaseException), f"expected {case.outcome}, got {result!r}"
        assert type(result) is case.outcome.error, repr(result)
        assert re.search(case.outcome.match, str(result)), str(result)
        return
    assert not isinstance(result, BaseException), f"expected {case.outcome}, raised {result!r}"
    if isinstance(result, druva.Response):
        assert result.status_code == case.outcome.status
    elif case.call == "paginate":
        assert len(result) == USER_COUNT
        assert len({user["userID"] for user in result}) == USER_COUNT


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("case", CASES, ids=case_ids())
def test_fault(case: Case, mode: str, foreign: FakeDruva) -> None:
    with FakeDruva(users=USER_COUNT) as fake:
        foreign_before = len(foreign.requests)
        observed = OBSERVERS[mode](case, fake, foreign)
        assert_outcome(case, observed.result)
        if case.api is not None:
            assert observed.api == case.api, "API requests the fake received"
        if case.tokens is not None:
            assert observed.tokens == case.tokens, "token requests the fake received"
        assert case.min_seconds <= observed.seconds <= case.max_seconds
        assert observed.works_afterwards, "the session works once the fault is used up"
        for request in foreign.requests[foreign_before:]:
            assert request["auth_scheme"] is None, "the bearer token reached another origin"


# Beyond the fake's faults: bodies without a Content-Length, and absurd lifetimes.


class ChunkedServer:
    """A server that hands out a token, then answers every API call with an
    endless chunked 200 (no Content-Length); it counts the body bytes it
    managed to send before the client hung up."""

    TOKEN = b'{"access_token": "chunked-token", "token_type": "bearer", "expires_in": 1800}'

    def __init__(self, offer: int) -> None:
        self.offer = offer
        self.sent = 0
        self.server = RawServer(self.answer)
        self.base_url = self.server.base_url

    def answer(self, request: bytes, connection: socket.socket) -> None:
        if request.startswith(b"POST /token"):
            connection.sendall(
                http_response("200 OK", self.TOKEN, "Content-Type: application/json")
            )
            return
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        size = 64 * 1024
        chunk = b"%x\r\n%s\r\n" % (size, b" " * size)
        while self.sent < self.offer:
            connection.sendall(chunk)
            self.sent += size

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_of_many_reads_arrives_whole_and_in_order(framing: str) -> None:
    # 3 MiB of distinct 4-byte words, written in pieces of odd sizes: the
    # client gets it over many socket reads, and joins them without a slip.
    body = b"".join(word.to_bytes(4, "big") for word in range(3 * MIB // 4))

    def answer(request: bytes, connection: socket.socket) -> None:
        if request.startswith(b"POST /token"):
            connection.sendall(
                http_response("200 OK", ChunkedServer.TOKEN, "Content-Type: application/json")
            )
            return
        framed = b"Content-Length: %d" % len(body)
        if framing == "chunked":
            framed = b"Transfer-Encoding: chunked"
        connection.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n%s\r\n\r\n" % framed)
        for start in range(0, len(body), 99_991):
            piece = body[start : start + 99_991]
            if framing == "chunked":
                piece = b"%x\r\n%s\r\n" % (len(piece), piece)
            connection.sendall(piece)
        if framing == "chunked":
            connection.sendall(b"0\r\n\r\n")

    server = RawServer(answer)
    try:
        with druva.Session("pieces", "secret", base_url=server.base_url) as s:
            response = s.get("/pieces")
    finally:
        server.close()

    assert response.status_code == 200
    assert response.content == body


@pytest.fixture
def chunked() -> Iterator[ChunkedServer]:
    server = ChunkedServer(offer=512 * MIB)
    yield server
    server.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_huge_body_without_content_length_is_cut_off_at_the_limit(
    mode: str, chunked: ChunkedServer
) -> None:
    """The size check runs as the body streams in, so memory stays bounded even
    when the server announces no length: the client stops reading near the limit."""
    arguments: dict[str, Any] = {"base_url": chunked.base_url, "max_response_bytes": MIB}

    def get_big() -> None:
        if mode == "sync":
            with druva.Session(f"chunked-{mode}", "secret", **arguments) as s:
                s.get("/big")
            return

        async def main() -> None:
            async with druva.AsyncSession(f"chunked-{mode}", "secret", **arguments) as s:
                await s.get("/big")

        asyncio.run(main())

    with pytest.raises(druva.ProtocolError, match="max_response_bytes"):
        get_big()
    assert chunked.sent < 64 * MIB, f"the client read {chunked.sent} bytes past a 1 MiB limit"


def render_table() -> str:
    """The matrix as the Markdown table of docs/faults.md."""
    lines = [
        "| fault | injected with | `Session` | `AsyncSession` | requests sent | notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for case in CASES:
        injected = "; ".join(f"`{inject}`" for inject in case.injects) or (
            "a wrong secret" if case.wrong_secret else ""
        )
        options = ", ".join(f"{name}={value!r}" for name, value in case.options.items())
        with_options = f" (session with `{options}`)" if options else ""
        sync, asynchronous = (f"`{call}`{with_options} {case.outcome}" for call in CALLS[case.call])
        sent = []
        if case.api is not None:
            sent.append(f"{case.api} API")
        if case.tokens is not None:
            sent.append(f"{case.tokens} token")
        lines.append(
            f"| {case.fault} | {injected} | {sync} | {asynchronous} | "
            f"{', '.join(sent)} | {case.note} |"
        )
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("retryable", [None, True, False])
def test_an_http_status_error_carries_druvas_retry_hint(
    fake: FakeDruva, retryable: bool | None
) -> None:
    fake.fail_next(500, count=10, path=USERS, retryable=retryable)
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, max_retries=0) as s:
        with pytest.raises(druva.HTTPStatusError) as raised:
            s.get(USERS).raise_for_status()
    assert raised.value.retryable is retryable


def test_the_docs_table_is_this_matrix() -> None:
    assert render_table() in DOCS.read_text(), (
        "docs/faults.md is out of date: regenerate its table with `python -m tests.test_faults`"
    )


if __name__ == "__main__":
    print(render_table(), end="")


@pytest.mark.parametrize("expires_in", ["1e19", "11757081114391813230", "1e300"])
def test_an_absurd_expires_in_is_capped_at_a_year(expires_in: str) -> None:
    """Found by fuzzing: a lifetime past what the clock can hold panicked when
    the cache asked whether the token was fresh."""
    body = b'{"access_token": "absurd", "token_type": "bearer", "expires_in": %s}' % (
        expires_in.encode()
    )
    server = RawServer(http_response("200 OK", body, "Content-Type: application/json"))
    try:
        first = druva.get_token(f"absurd-{expires_in}", "secret", base_url=server.base_url)
        again = druva.get_token(f"absurd-{expires_in}", "secret", base_url=server.base_url)
    finally:
        server.close()
    year = 366 * 24 * 3600
    assert year - 5 <= first["expires_in"] <= year
    assert again["access_token"] == first["access_token"], "served from the cache"
    assert len(server.requests) == 1
