"""Secret hygiene: the secret and every issued token appear nowhere they should not.

The whole flow runs — sync, async, the command line, and the error paths —
with the root logger at DEBUG and a handler on it, so every record that
reaches Python logging is captured, from any logger (the binding forwards only
druva's own records today; a dependency's would be caught here too). Then every repr, str,
exception message, formatted traceback, log record and line of command output
is searched for the secret, its Basic-auth encoding and every token the fake
issued. The only place a token may appear is the stdout of ``druva token``,
whose job is to print it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

pytestmark = pytest.mark.timeout(120)

USERS = "/insync/usermanagement/v1/users"

# Runs the command line with DEBUG records of every logger going to stderr.
CLI = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"
    "from druva.__main__ import main\n"
    "main(sys.argv[1:])\n"
)


@dataclass
class Exposure:
    """Everything the flow showed to the outside world, and what must not be in it."""

    secrets: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    texts: list[tuple[str, str]] = field(default_factory=list)
    records: int = 0

    def show(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def token(self, token: druva.Token) -> druva.Token:
        self.tokens.add(token["access_token"])
        self.show("repr(Token)", repr(token))
        self.show("str(Token)", str(token))
        return token

    def error(self, where: str, error: BaseException) -> None:
        self.show(f"{where}: str", str(error))
        self.show(f"{where}: repr", repr(error))
        self.show(f"{where}: args", repr(error.args))
        self.show(f"{where}: attributes", repr(vars(error)))
        self.show(
            f"{where}: traceback",
            "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        )
        response = getattr(error, "response", None)
        if response is not None:
            self.show(f"{where}: repr(response)", repr(response))

    def leaks(self) -> list[str]:
        forbidden = {value for value in self.secrets | self.tokens if value}
        assert forbidden, "the flow must have issued tokens"
        return [
            f"{where} shows {value[:6]}…"
            for where, text in self.texts
            for value in forbidden
            if value in text
        ]


class Collect(logging.Handler):
    def __init__(self, exposure: Exposure) -> None:
        super().__init__(logging.DEBUG)
        self.exposure = exposure
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.exposure.records += 1
        self.exposure.show(f"log record of {record.name}", self.format(record))
        self.exposure.show(f"log args of {record.name}", repr(record.args))


@pytest.fixture
def exposure() -> Iterator[Exposure]:
    """Root logger at DEBUG with a handler that keeps every record."""
    exposure = Exposure()
    root = logging.getLogger()
    handler = Collect(exposure)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield exposure
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def fake(exposure: Exposure) -> Iterator[FakeDruva]:
    # A secret with characters that survive every encoding, long enough that
    # any appearance is a leak rather than a coincidence.
    with FakeDruva(users=12, page_size=5, secret="s3cr3t-Key:with/colons+=") as server:
        exposure.secrets |= {
            server.secret,
            server.secret + "-wrong",
            base64.b64encode(f"{server.client_id}:{server.secret}".encode()).decode(),
        }
        exposure.show("repr(FakeDruva)", repr(server))
        yield server


def expect_error(
    exposure: Exposure, where: str, error_type: type[BaseException], call: Any
) -> None:
    with pytest.raises(error_type) as caught:
        call()
    exposure.error(where, caught.value)


def sync_flow(fake: FakeDruva, exposure: Exposure) -> None:
    arguments = {"base_url": fake.base_url}
    exposure.token(druva.get_token(fake.client_id, fake.secret, **arguments))
    exposure.token(druva.get_token(fake.client_id, fake.secret, **arguments))
    exposure.token(druva.get_token(fake.client_id, fake.secret, force_refresh=True, **arguments))
    with druva.Session(fake.client_id, fake.secret, timeout=2, **arguments) as s:
        exposure.show("repr(Session)", repr(s))
        exposure.show("str(Session)", str(s))
        exposure.token(s.token)
        response = s.get(USERS, params={"pageSize": 2})
        exposure.show("repr(Response)", repr(response))
        exposure.show("Response.headers", repr(dict(response.headers.items())))
        exposure.show("Response.url", response.url)
        assert len(list(s.paginate(USERS))) == 12
        exposure.show("echo of a POST", s.post("/_echo", json={"a": 1}).text)
        fake.expire_tokens()
        assert s.get(USERS).ok  # 403, renewal
        exposure.token(s.token)
        fake.fail_next(401, path=USERS)
        assert s.get(USERS).ok  # 401, renewal
        exposure.token(s.token)
        fake.fail_next(503, path=USERS)
        fake.fail_next(429, retry_after=0, path=USERS)
        fake.drop_next(path=USERS)
        assert s.get(USERS).ok  # retried
        fake.fail_next(500, path=USERS)
        expect_error(exposure, "500", druva.HTTPStatusError, s.get(USERS).raise_for_status)
        fake.malform_next(path=USERS)
        expect_error(exposure, "bad JSON", druva.ProtocolError, s.get(USERS).json)
        fake.delay_next(5, path=USERS)
        expect_error(exposure, "timeout", druva.TimeoutError, lambda: s.get(USERS, timeout=0.2))
        fake.drop_next(count=10, path=USERS)
        expect_error(exposure, "reset", druva.TransportError, lambda: s.get(USERS))
        fake.clear_faults()
        fake.redirect_next(fake.base_url + USERS, count=20, path=USERS)
        expect_error(exposure, "redirect loop", druva.ProtocolError, lambda: s.get(USERS))
        fake.clear_faults()
        with FakeDruva() as other:
            fake.redirect_next(other.base_url + "/_echo", path=USERS)
            assert s.get(USERS).status_code == 401
            assert all(request["auth_scheme"] is None for request in other.requests)
        expect_error(exposure, "foreign", ValueError, lambda: s.get("https://evil.example/x"))
        expect_error(
            exposure, "header", ValueError, lambda: s.get(USERS, headers={"Authorization": "x"})
        )
        exposure.token(s.token)
    expect_error(exposure, "closed", RuntimeError, lambda: s.get(USERS))
    exposure.show("repr(closed Session)", repr(s))
    with druva.Session(fake.client_id, fake.secret + "-wrong", **arguments) as wrong:
        exposure.show("repr(Session with a wrong secret)", repr(wrong))
        expect_error(exposure, "wrong secret", druva.AuthenticationError, lambda: wrong.get(USERS))
    fake.fail_next(503, count=10, path="/token")
    expect_error(
        exposure,
        "token 503",
        druva.HTTPStatusError,
        lambda: druva.get_token(fake.client_id, fake.secret, force_refresh=True, **arguments),
    )
    fake.clear_faults()
    for bad in (
        lambda: druva.Session(fake.client_id, fake.secret + "\n", **arguments),
        lambda: druva.Session(fake.client_id + ":" + fake.secret, fake.secret, **arguments),
        lambda: druva.Session(fake.client_id, fake.secret, timeout=-1, **arguments),
        lambda: druva.Session(fake.client_id, fake.secret, base_url="http://evil.example"),
        lambda: druva.get_token(fake.client_id, fake.secret + "\x00", **arguments),
    ):
        expect_error(exposure, "bad argument", ValueError, bad)


def async_flow(fake: FakeDruva, exposure: Exposure) -> None:
    arguments = {"base_url": fake.base_url}

    async def main() -> None:
        exposure.token(await druva.get_token_async(fake.client_id, fake.secret, **arguments))
        exposure.token(
            await druva.get_token_async(
                fake.client_id, fake.secret, force_refresh=True, **arguments
            )
        )
        async with druva.AsyncSession(fake.client_id, fake.secret, timeout=2, **arguments) as s:
            exposure.show("repr(AsyncSession)", repr(s))
            exposure.token(await s.token())
            assert len([user async for user in s.paginate(USERS)]) == 12
            fake.expire_tokens()
            assert (await s.get(USERS)).ok
            exposure.token(await s.token())
            fake.fail_next(403, path=USERS)
            assert (await s.get(USERS)).ok
            exposure.token(await s.token())
            fake.delay_next(5, path=USERS)
            with pytest.raises(druva.TimeoutError) as timeout:
                await s.get(USERS, timeout=0.2)
            exposure.error("async timeout", timeout.value)
            fake.fail_next(500, path=USERS)
            with pytest.raises(druva.HTTPStatusError) as status:
                [user async for user in s.paginate(USERS)]
            exposure.error("async page 500", status.value)
        wrong = druva.AsyncSession(fake.client_id, fake.secret + "-wrong", **arguments)
        with pytest.raises(druva.AuthenticationError) as refused:
            await wrong.get(USERS)
        exposure.error("async wrong secret", refused.value)

    asyncio.run(main())


def cli(fake: FakeDruva, *argv: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DRUVA_CLIENT_ID": fake.client_id,
        "DRUVA_SECRET_KEY": fake.secret if secret is None else secret,
        "DRUVA_BASE_URL": fake.base_url,
    }
    return subprocess.run(
        [sys.executable, "-c", CLI, *argv],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def cli_flow(fake: FakeDruva, exposure: Exposure) -> None:
    token = cli(fake, "token")
    assert token.returncode == 0, token.stderr
    printed = druva.Token(__import__("json").loads(token.stdout))
    exposure.tokens.add(printed["access_token"])
    assert ":druva:" in token.stderr, "the command's log records must be captured"
    exposure.show("druva token: stderr", token.stderr)
    runs = {
        "druva get": cli(fake, "get", USERS, "--param", "pageSize=2"),
        "druva get --all": cli(fake, "get", USERS, "--all"),
        "druva get (404)": cli(fake, "get", "/insync/nothing"),
        "druva get (foreign)": cli(fake, "get", "https://evil.example/x"),
        "druva token (wrong secret)": cli(fake, "token", secret=fake.secret + "-wrong"),
        "druva get (wrong secret)": cli(fake, "get", USERS, secret=fake.secret + "-wrong"),
    }
    assert runs["druva get"].returncode == 0
    assert runs["druva token (wrong secret)"].returncode == 3
    assert runs["druva get (foreign)"].returncode != 0
    for name, run in runs.items():
        exposure.show(f"{name}: stdout", run.stdout)
        exposure.show(f"{name}: stderr", run.stderr)


def test_the_secret_and_tokens_appear_nowhere(fake: FakeDruva, exposure: Exposure) -> None:
    sync_flow(fake, exposure)
    async_flow(fake, exposure)
    cli_flow(fake, exposure)
    # Every token the fake issued is one the flow saw: none escaped the search.
    assert len(exposure.tokens) >= 8
    assert exposure.records > 50, "DEBUG logging captured too little to prove anything"
    assert exposure.leaks() == []


def test_the_search_finds_a_leak(fake: FakeDruva, exposure: Exposure) -> None:
    """The check above can fail: a token printed anywhere is reported."""
    token = exposure.token(druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url))
    logging.getLogger("druva.test").debug("leaked %s", token["access_token"])
    assert f"log record of druva.test shows {token['access_token'][:6]}…" in exposure.leaks()


@pytest.mark.parametrize("kind", ["Session", "AsyncSession", "Token"])
def test_pickling_refuses_clearly_and_names_no_secret(fake: FakeDruva, kind: str) -> None:
    arguments = {"base_url": fake.base_url}
    values: dict[str, Any] = {
        "Session": lambda: druva.Session(fake.client_id, fake.secret, **arguments),
        "AsyncSession": lambda: druva.AsyncSession(fake.client_id, fake.secret, **arguments),
        "Token": lambda: druva.get_token(fake.client_id, fake.secret, **arguments),
    }
    value = values[kind]()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match=rf"(?i){kind}.*pickle") as caught:
            pickle.dumps(value, protocol=protocol)
        assert fake.secret not in str(caught.value)
