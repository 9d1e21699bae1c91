"""A user and device inventory: every user with their devices, read with two
paged lists and joined on ``userID``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import druva
from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"
DEVICES = "/insync/endpoints/v1/devices"


def inventory(s: druva.Session) -> dict[int, dict[str, Any]]:
    """Each user by ID, with the list of their devices under ``devices``."""
    devices_of: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for device in s.paginate(DEVICES):
        devices_of[device["userID"]].append(device)
    return {
        user["userID"]: {**user, "devices": devices_of[user["userID"]]}
        for user in s.paginate(USERS)
    }


def test_every_user_is_listed_once_with_exactly_their_devices() -> None:
    with FakeDruva(users=230, page_size=100) as fake:
        with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            users = inventory(s)
            # Druva's own filter gives each user's devices: the join must agree.
            for user_id in (1, 117, 230):
                own = list(s.paginate(DEVICES, params={"userID": user_id}))
                assert users[user_id]["devices"] == own
        requests = fake.requests

    assert sorted(users) == list(range(1, 231))
    device_ids = [d["deviceID"] for user in users.values() for d in user["devices"]]
    assert len(device_ids) == len(set(device_ids))
    assert sorted(device_ids) == list(range(1, len(device_ids) + 1))
    for user in users.values():
        assert 1 <= len(user["devices"]) <= 2
        assert all(d["userName"] == user["userName"] for d in user["devices"])

    listed = [r for r in requests if r["kind"] == "api" and r["query"] != "userID=1"]
    user_pages = [r["query"] for r in listed if r["path"] == USERS]
    device_pages = [
        r["query"] for r in listed if r["path"] == DEVICES and "userID" not in (r["query"] or "")
    ]
    assert len(user_pages) == 3
    assert len(device_pages) == -(-len(device_ids) // 100)
    # The first page asks with no parameter; the later ones send the page token alone.
    for pages in (user_pages, device_pages):
        assert pages[0] is None
        assert all(q.startswith("pageToken=") and "&" not in q for q in pages[1:])
    assert all(
        r["method"] == "GET" and r["auth_scheme"] == "Bearer" and r["bearer_valid"] for r in listed
    )
    assert [r["kind"] for r in requests].count("token") == 1
