"""A SIEM poller on Platform events v3: the stream never ends, so each run
reads until it has caught up, saves ``p.cursor``, and resumes from it with
``cursor=``, getting exactly the events that arrived in between, whether a
caught-up stream answers with the same token or with a new one."""

from __future__ import annotations

from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

EVENTS = "/platform/eventmanagement/v3/events"


def poll(s: druva.Session, saved: str | None) -> tuple[list[Any], str | None]:
    pages = (
        s.paginate(EVENTS, params={"pageSize": 200})
        if saved is None
        else s.paginate(EVENTS, cursor=saved)
    )
    events = list(pages)
    return events, pages.cursor


@pytest.mark.parametrize("caught_up", ["same", "new"])
def test_a_resumed_poll_gets_exactly_the_new_events(caught_up: str) -> None:
    with FakeDruva(users=150) as fake:
        fake.set_caught_up(caught_up)
        with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            first, saved = poll(s, None)
            nothing, still = poll(s, saved)
            fake.add_events(333)
            new, after = poll(s, still)
        requests = [r for r in fake.requests if r["path"] == EVENTS]

    ids = [e["details"]["eventID"] for e in first]
    assert ids == list(range(1, 451))
    assert nothing == []
    assert [e["details"]["eventID"] for e in new] == list(range(451, 784))
    assert saved and still and after
    assert (still == saved) == (caught_up == "same")
    for event in first + new:
        assert event["productID"] == 8193
        assert event["globalID"]
        assert {"inSyncDataSourceID", "ip", "eventDetails"} <= event["details"].keys()
    queries = [r["query"] for r in requests]
    assert queries[0] == "pageSize=200"
    # Every later request, resumed ones included, sends its page token alone.
    assert all(q.startswith("pageToken=") and "&" not in q for q in queries[1:])
    # 450 events at 200 a page, then the empty page that says it has caught up.
    assert len(queries) == 4 + 1 + 3
