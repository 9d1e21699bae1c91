"""Cortex XSOAR's Druva event collector, first fetch: its 1.3.2 release
stopped the flood of historical events a new collector used to ingest. The
same collector on ``druva export``: one command, run by a scheduler every few
minutes, ``--from-now`` on every run. The first run reads the stream to its
end and writes nothing; each later run writes exactly what arrived since,
even when a run is killed part way."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from druva import _export
from druva.testing import FakeDruva

from ..test_cli import DRUVA
from ..test_export import environment, read_jsonl, read_state

EVENTS = "/insync/eventmanagement/v2/events"


def fetch(fake: FakeDruva, out: Path) -> subprocess.CompletedProcess[str]:
    """One scheduled run of the collector."""
    return subprocess.run(
        [DRUVA, "export", EVENTS, "--out", str(out), "--from-now"],
        env=environment(fake),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_first_fetch_writes_no_history_and_each_later_fetch_what_is_new(
    tmp_path: Path,
) -> None:
    out = tmp_path / "druva_events.jsonl"
    with FakeDruva(users=1000) as fake:  # 3,000 events of history
        first = fetch(fake, out)
        history = out.read_bytes()
        fake.add_events(1_200)  # more than two calls of 500
        second = fetch(fake, out)
        after_second = len(read_jsonl(out))
        third = fetch(fake, out)  # nothing new
        fake.add_events(7)
        fourth = fetch(fake, out)

    for run in (first, second, third, fourth):
        assert run.returncode == 0, run.stderr
    assert history == b""
    assert after_second == 1_200
    assert [event["eventID"] for event in read_jsonl(out)] == list(range(3_001, 4_208))
    assert read_state(out)["items"] == 1_207


def test_a_first_fetch_killed_while_it_reads_the_history_still_writes_none_of_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "druva_events.jsonl"
    with FakeDruva(users=1000, latency=0.05) as fake:
        child = subprocess.Popen(
            [DRUVA, "export", EVENTS, "--out", str(out), "--from-now"],
            env=environment(fake),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Killed once the state records pages of history read, not written.
            deadline = time.monotonic() + 60
            while child.poll() is None and time.monotonic() < deadline:
                state = _export.state_path(out)
                if state.exists() and read_state(out)["pages"] >= 2:
                    break
                time.sleep(0.005)
        finally:
            child.kill()
            child.wait()
        killed = read_state(out)
        rerun = fetch(fake, out)
        fake.add_events(40)
        later = fetch(fake, out)

    assert killed["skipping"], "killed while reading the history"
    assert rerun.returncode == later.returncode == 0, rerun.stderr + later.stderr
    assert [event["eventID"] for event in read_jsonl(out)] == list(range(3_001, 3_041))
