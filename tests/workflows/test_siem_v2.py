"""A SIEM poller on inSync events v2: it reads the stream to its end, saves
the final tracker, and on its next run resumes from it with the same
parameters, getting exactly the events that arrived in between."""

from __future__ import annotations

from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

EVENTS = "/insync/eventmanagement/v2/events"


def poll(
    s: druva.Session, saved: str | None, params: dict[str, str]
) -> tuple[list[Any], str | None]:
    """One run of the poller: the new events and the tracker to save."""
    resume = {"tracker": saved, **params} if saved else params
    pages = s.paginate(EVENTS, params=resume)
    events = list(pages)
    return events, pages.cursor


def event_id(event: Any) -> int:
    """The event ID of a JSON event or of a CEF line (its externalId)."""
    if isinstance(event, dict):
        return int(event["eventID"])
    return int(event.split("externalId=")[1].split(" ")[0])


@pytest.mark.parametrize("params", [{}, {"format": "CEF"}], ids=["json", "cef"])
def test_a_resumed_poll_gets_exactly_the_new_events(params: dict[str, str]) -> None:
    with FakeDruva(users=250) as fake:
        with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            first, saved = poll(s, None, params)
            nothing, still = poll(s, saved, params)
            fake.add_events(620)
            new, after = poll(s, still, params)
            everything, _ = poll(s, None, {})
        requests = [r for r in fake.requests if r["path"] == EVENTS]

    assert [event_id(e) for e in first] == list(range(1, 751))
    assert nothing == []
    assert saved and still and after
    assert [event_id(e) for e in new] == list(range(751, 1371))
    if params:
        assert all(line.startswith("CEF:0|Druva|inSync|") for line in first + new)
    # The CEF lines describe the same events as the JSON ones.
    by_id = {e["eventID"]: e for e in everything}
    for event in new:
        record = by_id[event_id(event)]
        if isinstance(event, str):
            assert f"src={record['ip']} " in event
            assert f"cn1={record['inSyncDataSourceID']} " in event
    # 750 events, then 620 new ones: 500 a call at most.
    queries = [r["query"] or "" for r in requests]
    runs = [queries[0:2], queries[2:3], queries[3:5]]
    assert [len(run) for run in runs] == [2, 1, 2]
    for run in runs:
        assert all("tracker=" in q for q in run[1:])
        assert all(("format=CEF" in q) == bool(params) for q in run)
    assert "tracker=" not in runs[0][0]
    assert all("tracker=" in run[0] for run in runs[1:])
