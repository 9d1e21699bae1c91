"""A Reporting API export to CSV: the failed last backups of every device,
filtered on the server, paged with POST bodies that keep the filters and add
the page token."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import druva
from druva.testing import FakeDruva

REPORT = "/platform/reporting/v1/reports/epLastBackupStatus"
FILTERS = {
    "pageSize": 5,
    "filterBy": [{"fieldName": "status", "operator": "EQUAL", "value": "Backup Failed"}],
}


def export(s: druva.Session, out: Path) -> int:
    rows = 0
    with out.open("w", newline="", encoding="utf-8") as file:
        writer: csv.DictWriter[str] | None = None
        for row in s.paginate(REPORT, method="POST", json={"filters": FILTERS}):
            if writer is None:
                writer = csv.DictWriter(file, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            rows += 1
    return rows


def test_the_export_holds_exactly_the_filtered_rows_and_every_page_kept_the_filters(
    tmp_path: Path,
) -> None:
    out = tmp_path / "failed_backups.csv"
    with FakeDruva(users=200) as fake:
        with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            written = export(s, out)
            # The whole report, unfiltered, to check the export against.
            every = list(s.paginate(REPORT, method="POST", json={"filters": {"pageSize": 500}}))
        posts = [r for r in fake.requests if r["path"] == REPORT]

    with out.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    failed = [row for row in every if row["status"] == "Backup Failed"]
    assert written == len(rows) == len(failed) > 5
    assert rows == [{key: str(value) for key, value in row.items()} for row in failed]

    export_posts = posts[: -(-written // 5)]
    bodies = [json.loads(r["body"]) for r in export_posts]
    assert bodies[0] == {"filters": FILTERS}
    tokens = [body.pop("pageToken") for body in bodies[1:]]
    assert all(body == {"filters": FILTERS} for body in bodies)
    assert len(set(tokens)) == len(tokens) and all(tokens)
    assert all(r["method"] == "POST" and r["query"] is None for r in export_posts)
    assert json.loads(posts[-1]["body"]) == {"filters": {"pageSize": 500}}
