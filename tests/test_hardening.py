"""What a hostile or careless input meets: customer IDs that would change the
token exchange's path, server text that echoes a secret or a token, and a
failed background renewal that must be heard without another call."""

from __future__ import annotations

from collections.abc import Iterator

import druva
import pytest
from druva.testing import FakeDruva

CUSTOMERS = "/msp/v2/customers"


@pytest.fixture
def msp() -> Iterator[FakeDruva]:
    with FakeDruva(msp=True, customers=2, users=3) as fake:
        yield fake


@pytest.mark.parametrize(
    "customer_id", [".", "..", "a/../b", "a/b", "a?b", "a#b", "%2e%2e", "a\\b"]
)
def test_a_customer_id_that_would_change_the_exchange_path_is_refused_before_any_io(
    msp: FakeDruva, customer_id: str
) -> None:
    with druva.Session(msp.client_id, msp.secret, base_url=msp.base_url, msp=True) as s:
        requests = len(msp.requests)
        with pytest.raises(ValueError, match="customer_id"):
            s.customer(customer_id)
    assert len(msp.requests) == requests, "nothing was sent"


def test_a_customer_id_of_one_segment_is_exchanged_at_its_own_path(msp: FakeDruva) -> None:
    customer_id = msp.customer_ids[0]
    with druva.Session(msp.client_id, msp.secret, base_url=msp.base_url, msp=True) as s:
        assert s.customer(customer_id).get("/insync/usermanagement/v1/users").ok
    paths = [r["path"] for r in msp.requests if r["path"].startswith(CUSTOMERS + "/")]
    assert paths == [f"{CUSTOMERS}/{customer_id}/token"]
