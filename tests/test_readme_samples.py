"""The README's "Druva's sample scripts, on druva" run as written, from the
environment, against FakeDruva, and do what the README says."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import druva
from druva.testing import FakeDruva

README = Path(__file__).resolve().parent.parent / "README.md"
REPORT = "/platform/reporting/v1/reports/epLastBackupStatus"
EVENTS = "/insync/eventmanagement/v2/events"


def samples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Druva's sample scripts, on druva", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def run(code: str, fake: FakeDruva, cwd: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DRUVA_")}
    env.update(
        DRUVA_CLIENT_ID=fake.client_id, DRUVA_SECRET_KEY=fake.secret, DRUVA_BASE_URL=fake.base_url
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_readme_has_the_two_samples() -> None:
    found = samples()
    assert len(found) == 2
    assert REPORT in found[0] and EVENTS in found[1]


def test_the_reporting_export_sample_writes_every_failed_backup(tmp_path: Path) -> None:
    export = samples()[0]
    with FakeDruva(users=300) as fake:
        run(export, fake, tmp_path)
        with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            every = list(s.paginate(REPORT, method="POST", json={"filters": {"pageSize": 500}}))
    with (tmp_path / "failed_backups.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    failed = [row for row in every if row["status"] == "Backup Failed"]
    assert rows == [{key: str(value) for key, value in row.items()} for row in failed]
    assert len(rows) > 0


def test_the_events_sample_resumes_with_exactly_the_new_events(tmp_path: Path) -> None:
    poller = samples()[1]
    log = tmp_path / "insync_events.log"
    with FakeDruva(users=100) as fake:
        run(poller, fake, tmp_path)
        first = log.read_text(encoding="utf-8").splitlines()
        saved = (tmp_path / "tracker.txt").read_text()
        run(poller, fake, tmp_path)
        assert log.read_text(encoding="utf-8").splitlines() == first, "nothing new, nothing added"
        fake.add_events(700)
        run(poller, fake, tmp_path)
        lines = log.read_text(encoding="utf-8").splitlines()
        requests = [r for r in fake.requests if r["path"] == EVENTS]
    assert first and all(line.startswith("CEF:") for line in lines)
    assert len(lines) == len(first) + 700
    assert len(set(lines)) == len(lines), "no event twice"
    assert saved and (tmp_path / "tracker.txt").read_text() != saved
    assert all("format=CEF" in (r["query"] or "") for r in requests)
