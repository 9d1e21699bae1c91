"""druva in one page: a token, a GET, paging, and concurrent async calls.

Run it as it is to try it offline, against a fake Druva started for the occasion:

    python examples/quickstart.py

Set DRUVA_CLIENT_ID and DRUVA_SECRET_KEY (and DRUVA_REGION or DRUVA_BASE_URL
when you are not on the main cloud) to make the same read-only calls against
your own Druva tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import NamedTuple

import druva
from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"
DEVICES = "/insync/endpoints/v1/devices"
PROFILES = "/insync/profilemanagement/v1/profiles"


class Credential(NamedTuple):
    """Where to connect and as whom."""

    client_id: str
    secret: str
    region: str = "cloud"
    base_url: str | None = None


def credential_from_environment() -> Credential | None:
    """The credential in DRUVA_CLIENT_ID / DRUVA_SECRET_KEY, if both are set."""
    client_id = os.environ.get("DRUVA_CLIENT_ID")
    secret = os.environ.get("DRUVA_SECRET_KEY")
    if not client_id or not secret:
        return None
    region = os.environ.get("DRUVA_REGION") or "cloud"
    return Credential(client_id, secret, region, os.environ.get("DRUVA_BASE_URL") or None)


def get_a_token(credential: Credential) -> None:
    """``druva.get_token``: the dict oauthlib's fetch_token() returns, cached for the process."""
    started = time.perf_counter()
    token = druva.get_token(
        credential.client_id,
        credential.secret,
        region=credential.region,
        base_url=credential.base_url,
    )
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = druva.get_token(
        credential.client_id,
        credential.secret,
        region=credential.region,
        base_url=credential.base_url,
    )
    cached = time.perf_counter() - started
    print(f"get_token: {token!r}")  # the repr masks the access token
    print(
        f"get_token again: the same token: {again['access_token'] == token['access_token']} "
        f"({first * 1e3:.1f} ms, then {cached * 1e6:.0f} µs from the cache)"
    )


def use_a_session(credential: Credential) -> None:
    """``druva.Session``: the token rides along, renewed when needed."""
    with druva.Session(
        credential.client_id,
        credential.secret,
        region=credential.region,
        base_url=credential.base_url,
    ) as session:
        response = session.get(DEVICES, params={"pageSize": 5}).raise_for_status()
        devices = response.json()["devices"]
        print(f"GET {DEVICES}: {response.status_code}, {len(devices)} devices on the first page")

        pages = session.paginate(USERS)  # one page in memory at a time
        emails = [user["emailID"] for user in pages]
        print(f"paginate {USERS}: {len(emails)} users in {pages.pages} pages")


async def gather_with_an_async_session(credential: Credential) -> None:
    """``druva.AsyncSession``: the same calls as coroutines, many at once."""
    async with druva.AsyncSession(
        credential.client_id,
        credential.secret,
        region=credential.region,
        base_url=credential.base_url,
    ) as session:
        responses = await asyncio.gather(
            session.get(USERS, params={"pageSize": 1}),
            session.get(DEVICES, params={"pageSize": 1}),
            session.get(PROFILES),
        )
        statuses = [response.status_code for response in responses]
        print(f"AsyncSession gather of 3 GETs: statuses {statuses}")
        devices = [device async for device in session.paginate(DEVICES)]
        print(f"AsyncSession paginate {DEVICES}: {len(devices)} devices")


def main() -> None:
    with contextlib.ExitStack() as stack:
        credential = credential_from_environment()
        if credential is None:
            fake = stack.enter_context(FakeDruva(users=120, page_size=50))
            print(f"No DRUVA_CLIENT_ID / DRUVA_SECRET_KEY: a fake Druva at {fake.base_url}")
            credential = Credential(fake.client_id, fake.secret, base_url=fake.base_url)
        get_a_token(credential)
        use_a_session(credential)
        asyncio.run(gather_with_an_async_session(credential))


if __name__ == "__main__":
    main()
