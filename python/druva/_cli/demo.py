"""``druva demo``: the whole flow against an embedded FakeDruva, narrated."""

from __future__ import annotations

import argparse
import asyncio
import time

import druva
from druva._cli._common import add_command
from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"
DEVICES = "/insync/endpoints/v1/devices"
PROFILES = "/insync/profilemanagement/v1/profiles"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = add_command(
        commands,
        "demo",
        help="walk the whole flow against an embedded fake Druva",
        description="""Start an embedded FakeDruva and walk the whole flow against
        it: a token and the cached one, a Session GET, paging, renewal, retries
        and an AsyncSession gather. No credentials, no network.""",
    )
    demo.add_argument("--users", type=int, default=1000, help="synthetic users (default 1000)")
    demo.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    say = Narrator()
    with FakeDruva(users=arguments.users, page_size=500) as fake:
        say.step(f"Started a fake Druva at {fake.base_url} with {arguments.users} users.")
        say.code("token = druva.get_token(client_id, secret)")
        started = time.perf_counter()
        token = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
        first = time.perf_counter() - started
        calls = 10_000
        started = time.perf_counter()
        for _ in range(calls):
            again = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
        cached = (time.perf_counter() - started) / calls
        say.result(repr(token) + "  # the repr masks the token")
        say.result(
            f"first call {first * 1e3:.2f} ms (one token request); the next {calls} calls "
            f"{cached * 1e6:.2f} µs each from the cache, same token: "
            f"{again['access_token'] == token['access_token']}"
        )

        with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as session:
            say.code('session.get("/insync/profilemanagement/v1/profiles").json()')
            profiles = session.get(PROFILES).raise_for_status().json()["profiles"]
            say.result(f"{len(profiles)} profiles, e.g. {profiles[0]['profileName']!r}")

            say.code('sum(1 for _ in session.paginate("/insync/usermanagement/v1/users"))')
            started = time.perf_counter()
            pages = session.paginate(USERS)
            count = sum(1 for _ in pages)
            elapsed = time.perf_counter() - started
            say.result(f"{count} users in {pages.pages} pages, {elapsed * 1e3:.1f} ms")

            fake.expire_tokens()
            say.code("fake.expire_tokens(); session.get(...)  # the API now refuses the token")
            status = session.get(USERS, params={"pageSize": 1}).status_code
            say.result(f"status {status}: the session renewed its token once and retried")

            fake.fail_next(503, count=2, path=DEVICES)
            say.code("fake.fail_next(503, count=2); session.get(devices)")
            status = session.get(DEVICES).status_code
            say.result(f"status {status} after two retried 503s")

        say.code("await asyncio.gather(*(s.get(...) for _ in range(100)))  # AsyncSession")
        started = time.perf_counter()
        statuses = asyncio.run(gather_devices(fake))
        elapsed = time.perf_counter() - started
        say.result(f"{statuses.count(200)} of {len(statuses)} OK in {elapsed * 1e3:.1f} ms")

        say.step(
            f"The fake received {fake.token_requests} token requests and "
            f"{fake.api_requests} API requests."
        )
    say.step("Next: druva.Session(client_id, secret) against the real cloud; see the README.")
    return 0


async def gather_devices(fake: FakeDruva) -> list[int]:
    async with druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url) as s:
        responses = await asyncio.gather(
            *(s.get(DEVICES, params={"pageSize": 10}) for _ in range(100))
        )
    return [response.status_code for response in responses]


class Narrator:
    """Prints the demo's steps."""

    def __init__(self) -> None:
        self.count = 0

    def step(self, text: str) -> None:
        print(f"\n{text}")

    def code(self, text: str) -> None:
        self.count += 1
        print(f"\n[{self.count}] >>> {text}")

    def result(self, text: str) -> None:
        print(f"    {text}")
