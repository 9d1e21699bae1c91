"""The last successful backup of every device to a CSV file, one row a
device with its user, each row checked against what the fake serves."""

from __future__ import annotations

import csv
from pathlib import Path

import druva
from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"
DEVICES = "/insync/endpoints/v1/devices"
BACKUPS = "/insync/endpoints/v1/backups"
COLUMNS = [
    "deviceID",
    "deviceName",
    "userID",
    "emailID",
    "startTime",
    "endTime",
    "bytesTransferred",
]


def export_last_backups(s: druva.Session, out: Path) -> int:
    """Writes one row per device's last successful backup; returns the rows written."""
    devices = {d["deviceID"]: d for d in s.paginate(DEVICES)}
    emails = {u["userID"]: u["emailID"] for u in s.paginate(USERS)}
    rows = 0
    with out.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        for backup in s.paginate(BACKUPS, params={"lastSuccessful": "true"}):
            device = devices[backup["deviceID"]]
            writer.writerow(
                {
                    "deviceID": backup["deviceID"],
                    "deviceName": device["deviceName"],
                    "userID": device["userID"],
                    "emailID": emails[device["userID"]],
                    "startTime": backup["startTime"],
                    "endTime": backup["endTime"],
                    "bytesTransferred": backup["bytesTransferred"],
                }
            )
            rows += 1
    return rows


def test_each_device_gets_one_row_matching_its_backup_device_and_user(tmp_path: Path) -> None:
    out = tmp_path / "last_backups.csv"
    with FakeDruva(users=120, page_size=50) as fake:
        with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            written = export_last_backups(s, out)
            with out.open(newline="", encoding="utf-8") as file:
                rows = list(csv.DictReader(file))
            # Each row against the fake's own records for that one device.
            for row in rows:
                (backup,) = s.get(
                    BACKUPS, params={"lastSuccessful": "true", "deviceID": row["deviceID"]}
                ).json()["backups"]
                (device,) = s.get(DEVICES, params={"deviceIDs": row["deviceID"]}).json()["devices"]
                (user,) = s.get(USERS, params={"userIDs": row["userID"]}).json()["users"]
                assert row == {
                    "deviceID": str(device["deviceID"]),
                    "deviceName": device["deviceName"],
                    "userID": str(user["userID"]),
                    "emailID": user["emailID"],
                    "startTime": backup["startTime"],
                    "endTime": backup["endTime"],
                    "bytesTransferred": str(backup["bytesTransferred"]),
                }
                assert device["userID"] == user["userID"]
                assert backup["startTime"] < backup["endTime"]
        requests = fake.requests

    assert written == len(rows)
    assert [int(row["deviceID"]) for row in rows] == list(range(1, written + 1))
    backup_pages = [
        r["query"]
        for r in requests
        if r["path"] == BACKUPS and "deviceID" not in (r["query"] or "")
    ]
    assert backup_pages[0] == "lastSuccessful=true"
    assert len(backup_pages) == -(-written // 50)
    assert all(q.startswith("pageToken=") and "&" not in q for q in backup_pages[1:])
