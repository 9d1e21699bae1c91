"""Druva MSP: an MSP credential's sessions, and the customer (tenant) sessions
they hand out, against FakeDruva's MSP mode.

An MSP credential gets its token from ``/msp/auth/v1/token``; each customer's
token is exchanged with ``POST /msp/v2/customers/{id}/token`` under the MSP
token, cached for the process per (MSP credential, customer), and renewed like
any token, the exchange included when the MSP token has expired too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"
CUSTOMERS = "/msp/v2/customers"


@pytest.fixture
def msp() -> Iterator[FakeDruva]:
    with FakeDruva(msp=True, customers=3, users=7) as fake:
        yield fake


def msp_session(fake: FakeDruva, **kwargs: Any) -> druva.Session:
    return druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, msp=True, **kwargs)


def exchanges(fake: FakeDruva, customer_id: str | None = None) -> list[dict[str, Any]]:
    """The token exchanges the fake received (for one customer, or all)."""
    return [
        request
        for request in fake.requests
        if request["path"].startswith(CUSTOMERS + "/")
        and request["path"].endswith("/token")
        and (customer_id is None or request["path"] == f"{CUSTOMERS}/{customer_id}/token")
    ]


def msp_token_requests(fake: FakeDruva) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["path"] == "/msp/auth/v1/token"]


def user_ids(session: druva.Session) -> list[Any]:
    return [user["userID"] for user in session.paginate(USERS)]


def test_an_msp_session_gets_its_token_from_the_msp_token_endpoint(msp: FakeDruva) -> None:
    with msp_session(msp) as s:
        assert s.token_url == msp.base_url + "/msp/auth/v1/token"
        assert s.token["access_token"]
        customers = list(s.paginate(CUSTOMERS))
    assert [customer["id"] for customer in customers] == msp.customer_ids
    assert all(customer["accountName"] for customer in customers)
    assert len(msp_token_requests(msp)) == 1
    assert msp_token_requests(msp)[0]["auth_scheme"] == "Basic"


def test_token_url_still_overrides_the_msp_token_url(msp: FakeDruva) -> None:
    custom = msp.base_url + "/somewhere/else"
    with msp_session(msp, token_url=custom) as s:
        assert s.token_url == custom


def test_customer_needs_an_msp_session_and_a_customer_id(msp: FakeDruva) -> None:
    plain = druva.Session(msp.client_id, msp.secret, base_url=msp.base_url)
    with plain, pytest.raises(ValueError, match="msp=True"):
        plain.customer(msp.customer_ids[0])
    with msp_session(msp) as s:
        for bad in ("", "   ", "a\nb", "x" * 300):
            with pytest.raises(ValueError, match="customer_id"):
                s.customer(bad)
        tenant = s.customer(msp.customer_ids[0])
        with pytest.raises(ValueError, match="already"):
            tenant.customer(msp.customer_ids[1])
        with pytest.raises(TypeError):
            s.customer(42)  # type: ignore[arg-type]
    assert msp.token_requests == 0, "arguments are checked before any I/O"


def test_a_customer_session_reads_only_its_customers_data(msp: FakeDruva) -> None:
    first, second = msp.customer_ids[:2]
    with msp_session(msp) as s:
        a, b = s.customer(first), s.customer(second)
        assert isinstance(a, druva.Session)
        users_a, users_b = user_ids(a), user_ids(b)
        assert len(users_a) == len(users_b) == 7
        emails_a = {user["emailID"] for user in a.paginate(USERS)}
        emails_b = {user["emailID"] for user in b.paginate(USERS)}
        assert emails_a.isdisjoint(emails_b), "each customer has its own users"
        # The MSP token itself reads no tenant's data.
        refused = s.get(USERS)
        assert refused.status_code == 403
    for customer in (first, second):
        (exchange,) = exchanges(msp, customer)
        assert exchange["method"] == "POST"
        assert exchange["auth_scheme"] == "Bearer"


def test_a_customer_token_is_exchanged_once_for_many_threads(msp: FakeDruva) -> None:
    customer = msp.customer_ids[0]
    with msp_session(msp) as s:
        tenant = s.customer(customer)
        barrier = threading.Barrier(12)
        statuses: list[int] = []

        def call() -> None:
            barrier.wait()
            statuses.append(tenant.get(USERS).status_code)

        threads = [threading.Thread(target=call) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * 12
    assert len(msp_token_requests(msp)) == 1
    assert len(exchanges(msp)) == 1


def test_customer_tokens_are_cached_for_the_process(msp: FakeDruva) -> None:
    customer = msp.customer_ids[1]
    with msp_session(msp) as one, msp_session(msp) as two:
        token_one = one.customer(customer).token
        token_two = two.customer(customer).token
        assert token_one["access_token"] == token_two["access_token"]
        assert one.customer(msp.customer_ids[0]).token["access_token"] != token_one["access_token"]
    assert len(exchanges(msp, customer)) == 1
    assert len(msp_token_requests(msp)) == 1


def test_expired_tokens_renew_the_exchange_and_the_msp_token_once(msp: FakeDruva) -> None:
    customer = msp.customer_ids[0]
    with msp_session(msp) as s:
        tenant = s.customer(customer)
        assert tenant.get(USERS).status_code == 200
        msp.reset_counters()
        msp.expire_tokens()
        # 403 with the customer token, a new exchange refused (the MSP token
        # expired with it), a new MSP token, the exchange again, the call again.
        assert tenant.get(USERS).status_code == 200
        assert len(msp_token_requests(msp)) == 1
        assert len(exchanges(msp, customer)) == 2
        assert msp.api_requests == 2
        assert s.get(CUSTOMERS).status_code == 200


def test_a_refused_exchange_is_an_error_the_caller_sees(msp: FakeDruva) -> None:
    with msp_session(msp) as s:
        unknown = s.customer("no-such-customer")
        with pytest.raises(druva.HTTPStatusError) as caught:
            unknown.get(USERS)
        assert caught.value.status_code == 404
        assert s.get(CUSTOMERS).status_code == 200


def test_closing_a_customer_session_leaves_the_msp_session_open(msp: FakeDruva) -> None:
    with msp_session(msp) as s:
        tenant = s.customer(msp.customer_ids[0])
        assert tenant.get(USERS).status_code == 200
        tenant.close()
        assert tenant.closed and not s.closed
        with pytest.raises(RuntimeError):
            tenant.get(USERS)
        assert s.get(CUSTOMERS).status_code == 200
        other = s.customer(msp.customer_ids[1])
    assert s.closed and other.closed, "closing the MSP session closes its customers"
    with pytest.raises(RuntimeError):
        other.get(USERS)


def test_reprs_name_the_customer_but_no_secret(msp: FakeDruva) -> None:
    with msp_session(msp) as s:
        tenant = s.customer(msp.customer_ids[0])
        tenant.get(USERS)
        for text in (repr(s), repr(tenant), repr(tenant.token)):
            assert msp.secret not in text
            assert tenant.token["access_token"] not in text
        assert msp.customer_ids[0] in repr(tenant)
        assert "msp" in repr(s)


def test_an_async_msp_session_hands_out_async_customer_sessions(msp: FakeDruva) -> None:
    async def main() -> tuple[list[list[Any]], int]:
        async with druva.AsyncSession(
            msp.client_id, msp.secret, base_url=msp.base_url, msp=True
        ) as s:
            customers = [c["id"] async for c in s.paginate(CUSTOMERS)]
            tenants = [s.customer(customer) for customer in customers]
            assert all(isinstance(tenant, druva.AsyncSession) for tenant in tenants)

            async def users(tenant: druva.AsyncSession) -> list[Any]:
                return [user["userID"] async for user in tenant.paginate(USERS)]

            found = await asyncio.gather(*(users(tenant) for tenant in tenants))
            statuses = await asyncio.gather(*(tenants[0].get(USERS) for _ in range(10)))
            return list(found), sum(r.status_code == 200 for r in statuses)

    found, ok = asyncio.run(main())
    assert ok == 10
    assert [len(users) for users in found[:-1]] == [7] * (len(found) - 1)
    assert found[-1] == [], "the last customer is hollow"
    assert len(exchanges(msp)) == len(msp.customer_ids)
    assert len(msp_token_requests(msp)) == 1


def test_a_plain_credential_is_refused_at_the_msp_token_endpoint() -> None:
    with FakeDruva() as fake:
        s = druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, msp=True)
        with s, pytest.raises(druva.AuthenticationError):
            _ = s.token
