"""``druva export`` as a collector that runs for months (a SIEM feed, a cron
job): a lock on the output, a state checked before anything is truncated,
``--from-now``, ``--rotate-bytes``, ``--follow`` through outages, an expired
tracker, a declared paging style and a clean stop that a second signal
does not cut short.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import druva
import pytest
from druva import _export
from druva.testing import FakeDruva

from . import test_export
from .test_cli import DRUVA
from .test_export import (
    EVENTS_V2,
    EVENTS_V3,
    KILLS,
    USERS,
    Run,
    environment,
    export,
    kill_after_the_first_page,
    read_jsonl,
    read_state,
    the_whole_list,
    wait_for_lines,
)

export_here = test_export.export_here  # the fixture, shared

CYBER_RESILIENCE = "/realize/eventmanagement/v1/events/tracker"
PLATFORM_V2 = "/platform/eventmanagement/v2/events"

# Waits of the backoff, scaled so that an outage costs milliseconds.
QUICK_BACKOFF = {"_DRUVA_EXPORT_BACKOFF_SCALE": "0.01"}


def start(fake: FakeDruva, *arguments: str, **variables: str) -> subprocess.Popen[str]:
    """``druva export ...`` in a process of its own, its stderr piped."""
    return subprocess.Popen(
        [DRUVA, "export", *arguments],
        env={**environment(fake), **variables},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_and_wait(child: subprocess.Popen[str], signal_number: int = signal.SIGTERM) -> str:
    """Signals the child and waits for it (bounded); its stderr."""
    child.send_signal(signal_number)
    try:
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    return stderr


def event_ids(out: Path) -> list[int]:
    """The IDs of the events ``out`` holds (events v3 keep theirs in ``details``)."""
    return [event.get("details", event)["eventID"] for event in read_jsonl(out)]


# The backoff and what a following run waits out: each rule lives once.


def test_the_backoff_starts_at_one_second_and_doubles_up_to_five_minutes() -> None:
    delays = [_export.backoff_delay(failures) for failures in range(1, 13)]

    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    assert _export.backoff_delay(10_000) == 300


def error_of(fake: FakeDruva, status: int, count: int = 1) -> druva.DruvaError:
    """The error a session raises when the API answers ``status`` ``count`` times."""
    fake.fail_next(status, count=count, path=USERS)
    with druva.Session(
        fake.client_id, fake.secret, base_url=fake.base_url, max_retries=0, rate_limit_wait=0
    ) as s:
        try:
            s.get(USERS).raise_for_status()
        except druva.DruvaError as error:
            return error
    raise AssertionError(f"a {status} raised nothing")


TRANSIENT = [500, 502, 503, 504, 429, 401, 403]
REJECTED = [400, 404, 409, 422]


@pytest.mark.parametrize(
    ("status", "transient"),
    [*((status, True) for status in TRANSIENT), *((status, False) for status in REJECTED)],
)
def test_a_following_run_waits_out_outages_but_not_an_argument_druva_rejects(
    fake: FakeDruva, status: int, transient: bool
) -> None:
    # 401 and 403 are renewed once with a new token: they persist through it.
    error = error_of(fake, status, count=2)

    assert _export.is_transient(error) is transient


def test_a_following_run_waits_out_a_network_down_but_not_a_refused_credential(
    fake: FakeDruva,
) -> None:
    with druva.Session(fake.client_id, "wrong", base_url=fake.base_url) as s:
        with pytest.raises(druva.AuthenticationError) as refused:
            s.get(USERS)
    with druva.Session(fake.client_id, fake.secret, base_url="http://127.0.0.1:9") as s:
        with pytest.raises(druva.TransportError) as unreachable:
            s.get(USERS)

    assert not _export.is_transient(refused.value)
    assert _export.is_transient(unreachable.value)


# One run an output


def test_a_second_export_of_the_same_file_is_refused_while_the_first_runs(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "users.jsonl"
    assert export_here(USERS, "--out", str(out), "--param", "pageSize=50") == (0, "")
    before = out.read_bytes()
    fake.reset_counters()

    with _export.locked(out):  # the first run, holding the lock
        status, stderr = export_here(USERS, "--out", str(out), "--param", "pageSize=50")
        restarted, _ = export_here(USERS, "--out", str(out), "--restart")
    after_it = export_here(USERS, "--out", str(out), "--param", "pageSize=50")

    assert status == restarted == 2, stderr
    assert "is being written by another druva export" in stderr
    assert fake.requests == []
    assert out.read_bytes() == before
    assert after_it[0] == 0, after_it[1]


def test_a_second_export_of_a_running_one_is_refused_across_processes(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    with FakeDruva(users=50) as fake:
        first = start(fake, EVENTS_V3, "--out", str(out), "--follow", "--interval", "0.05")
        try:
            wait_for_lines(out, 150, first)
            second = export(fake, EVENTS_V3, "--out", str(out), "--follow")
        finally:
            stderr = stop_and_wait(first)

    assert second.returncode == 2, second.stderr
    assert "is being written by another druva export" in second.stderr
    assert "Errno" not in second.stderr
    assert first.returncode == 0, stderr
    assert event_ids(out) == list(range(1, 151))


def test_state_writes_from_many_threads_never_collide_on_a_temporary_name(
    tmp_path: Path,
) -> None:
    out = tmp_path / "users.jsonl"
    failures: list[BaseException] = []

    def write_states(writer: int) -> None:
        for count in range(40):
            try:
                _export.write_state(out, _export.State(arguments={"writer": writer}, items=count))
            except BaseException as error:
                failures.append(error)

    threads = [threading.Thread(target=write_states, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert read_state(out)["items"] == 39
    assert sorted(path.name for path in tmp_path.iterdir()) == ["users.jsonl.state"]


# A state checked against the output before anything is truncated


TAMPERED_STATES: dict[str, Any] = {
    "length-past-the-end": lambda state, size: {**state, "length": size + 10},
    "length-inside-a-line": lambda state, size: {**state, "length": size - 5},
    "length-true": lambda state, size: {**state, "length": True},
    "length-a-string": lambda state, size: {**state, "length": str(size)},
    "length-negative": lambda state, size: {**state, "length": -1},
    "length-a-float": lambda state, size: {**state, "length": float(size)},
    "items-true": lambda state, size: {**state, "items": True},
    "columns-a-string": lambda state, size: {**state, "columns": "userID"},
    "rotating-elsewhere": lambda state, size: {**state, "rotating": "../elsewhere"},
    "skipping-a-string": lambda state, size: {**state, "skipping": "yes"},
}


@pytest.mark.parametrize("tampering", TAMPERED_STATES)
def test_a_tampered_state_is_refused_and_nothing_is_truncated(
    fake: FakeDruva, export_here: Run, tmp_path: Path, tampering: str
) -> None:
    out = tmp_path / "events.jsonl"
    assert export_here(EVENTS_V3, "--out", str(out)) == (0, "")
    state_file = _export.state_path(out)
    state = json.loads(state_file.read_text())
    state["finished"] = False  # a stream the next run would poll and write to
    state_file.write_text(json.dumps(TAMPERED_STATES[tampering](state, out.stat().st_size)))
    before = out.read_bytes()
    fake.add_events(10)
    fake.reset_counters()

    status, stderr = export_here(EVENTS_V3, "--out", str(out))

    assert status == 2, stderr
    assert "--restart" in stderr
    assert fake.requests == []
    assert out.read_bytes() == before


def test_a_length_right_after_a_line_is_whole_pages_and_resumes(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "users.jsonl"
    assert export_here(USERS, "--out", str(out), "--param", "pageSize=50") == (0, "")
    state = read_state(out)
    lines = out.read_bytes().splitlines(keepends=True)
    # Back to the end of the second page, cursor and all: a kill's leftovers.
    state.update(length=len(b"".join(lines[:100])), items=100, pages=2, finished=False)
    state["cursor"] = None
    _export.state_path(out).write_text(json.dumps(state))

    status, stderr = export_here(USERS, "--out", str(out), "--param", "pageSize=50")

    assert status == 0, stderr
    # Resumed from the first page (the cursor was dropped): its items again, after the 100.
    assert len(read_jsonl(out)) == 350


def test_an_output_that_is_a_symbolic_link_is_refused(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    real = tmp_path / "real.jsonl"
    real.write_text("kept\n")
    link = tmp_path / "users.jsonl"
    link.symlink_to(real)

    status, stderr = export_here(USERS, "--out", str(link))

    assert status == 2, stderr
    assert "is a symbolic link" in stderr
    assert str(real) in stderr
    assert fake.requests == []
    assert real.read_text() == "kept\n"


def test_an_output_replaced_by_a_link_to_another_file_never_truncates_it(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    assert export_here(EVENTS_V3, "--out", str(out)) == (0, "")
    unrelated = tmp_path / "unrelated.log"
    unrelated.write_bytes(b"x" * (2 * out.stat().st_size) + b"\n")
    before = unrelated.read_bytes()
    out.unlink()
    out.symlink_to(unrelated)
    fake.add_events(10)

    status, stderr = export_here(EVENTS_V3, "--out", str(out))

    assert status == 2, stderr
    assert "is a symbolic link" in stderr
    assert unrelated.read_bytes() == before


# --from-now: a new feed starts with new events, not a flood of history


@pytest.mark.parametrize("stream", [EVENTS_V2, EVENTS_V3])
def test_from_now_writes_nothing_of_the_history_then_every_new_event(
    tmp_path: Path, stream: str
) -> None:
    out = tmp_path / "events.jsonl"
    with FakeDruva(users=500) as fake:
        fake.add_events(500)  # 3 events a user, 2,000 in all
        first = export(fake, stream, "--out", str(out), "--from-now")
        written_first = out.read_bytes()
        fake.add_events(300)
        second = export(fake, stream, "--out", str(out), "--from-now")
        fake.add_events(20)
        third = export(fake, stream, "--out", str(out))  # with a state, --from-now changes nothing

    assert first.returncode == 0, first.stderr
    assert written_first == b""
    assert second.returncode == third.returncode == 0, second.stderr + third.stderr
    assert read_state(out)["items"] == 320
    assert event_ids(out) == list(range(2001, 2321))


def test_from_now_killed_while_skipping_keeps_skipping_on_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    with FakeDruva(users=500) as fake:
        session = druva.Session(fake.client_id, fake.secret, base_url=fake.base_url)
        spec = _export.ListSpec(EVENTS_V3, params=(("pageSize", "100"),), base_url=fake.base_url)

        def break_the_third_page() -> None:
            deadline = time.monotonic() + 30
            while sum(r["path"] == EVENTS_V3 for r in fake.requests) < 2:
                assert time.monotonic() < deadline, "the second page was never asked for"
                time.sleep(0.002)
            fake.malform_next(path=EVENTS_V3)

        breaker = threading.Thread(target=break_the_third_page)
        breaker.start()
        with session, pytest.raises(druva.JSONDecodeError):
            _export.export(session, out, spec, from_now=True)
        breaker.join(timeout=60)
        failed = read_state(out)
        rerun = export(fake, EVENTS_V3, "--out", str(out), "--param", "pageSize=100")
        skipped = out.read_bytes()
        fake.add_events(30)
        later = export(fake, EVENTS_V3, "--out", str(out), "--param", "pageSize=100")

    assert failed["skipping"] and failed["pages"] >= 1 and failed["items"] == 0
    assert rerun.returncode == later.returncode == 0, rerun.stderr + later.stderr
    assert skipped == b""
    assert event_ids(out) == list(range(1501, 1531))


# --rotate-bytes


def every_line(out: Path) -> list[Any]:
    """The items of ``out`` and of the files it was rotated to, oldest first."""
    return [item for path in [*_export.rotated_files(out), out] for item in read_jsonl(path)]


def test_a_full_output_is_rotated_at_a_page_boundary_and_a_new_one_begun(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "users.csv"
    arguments = [USERS, "--out", str(out), "--format", "csv", "--param", "pageSize=50"]

    status, stderr = export_here(*arguments, "--rotate-bytes", "5000")

    rotated = _export.rotated_files(out)
    assert status == 0, stderr
    assert len(rotated) >= 2
    for path in rotated:
        assert path.name[len(out.name) :].startswith(".20")
        text = path.read_bytes().decode()
        assert text.startswith("userID,userName,")  # every file has its header
        rows = text.count("\r\n") - 1
        assert rows % 50 == 0 and rows > 0, path.name  # whole pages
        assert path.stat().st_size >= 5000
    rows = [
        line
        for path in [*rotated, out]
        for line in path.read_text(encoding="utf-8").splitlines()[1:]
    ]
    assert [row.split(",", 1)[0] for row in rows] == [
        user["userID"] if isinstance(user["userID"], str) else str(user["userID"])
        for user in the_whole_list(fake, USERS)
    ]
    assert read_state(out)["length"] == out.stat().st_size


def kill_at_a_random_point(child: subprocess.Popen[bytes], out: Path, rng: random.Random) -> bool:
    """Kills the child at a random point of its run (a random time, or once
    the output and its rotated files have grown by a random number of bytes);
    False when it ended first."""

    def size() -> int:
        files = [*_export.rotated_files(out), out]
        return sum(path.stat().st_size for path in files if path.exists())

    if rng.random() < 0.25:
        try:
            child.wait(timeout=rng.uniform(0.0, 0.3))
            return False
        except subprocess.TimeoutExpired:
            pass
    else:
        target = size() + rng.randint(1, 30_000)
        deadline = time.monotonic() + 60
        while child.poll() is None and size() < target and time.monotonic() < deadline:
            time.sleep(0.001)
        if child.poll() is not None:
            return False
    child.kill()
    child.wait()
    return True


def test_rotating_exports_killed_at_random_points_hold_every_event_once_in_order(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("DRUVA_EXPORT_SEED", random.SystemRandom().randrange(2**32)))
    print(f"seed {seed} (DRUVA_EXPORT_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    out = tmp_path / "events.jsonl"
    arguments = [EVENTS_V3, "--out", str(out), "--param", "pageSize=50"]
    kills = runs = 0
    with FakeDruva(users=700, latency=0.002) as fake:
        while kills < KILLS * 2:
            child = subprocess.Popen(
                [DRUVA, "export", *arguments, "--rotate-bytes", str(rng.randint(2_000, 40_000))],
                env=environment(fake),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            runs += 1
            if kill_at_a_random_point(child, out, rng):
                child.communicate(timeout=60)
                kills += 1
                continue
            _, stderr = child.communicate(timeout=60)
            assert child.returncode == 0, f"seed {seed}: {stderr.decode()}"
            fake.add_events(rng.randint(50, 400))  # the stream grows: more to kill
        finished = export(fake, *arguments, "--rotate-bytes", "20000")
        expected = the_whole_list(fake, EVENTS_V3, params={"pageSize": "500"})

    assert finished.returncode == 0, f"seed {seed}: {finished.stderr}"
    assert len(_export.rotated_files(out)) > 1, f"seed {seed}: nothing was rotated"
    got = every_line(out)
    assert len(got) == len(expected), f"seed {seed}"
    for index, (item, wanted) in enumerate(zip(got, expected)):
        assert item == wanted, f"seed {seed}: item {index + 1}"


# --follow through outages


@pytest.fixture
def following(tmp_path: Path) -> Iterator[tuple[FakeDruva, Path, subprocess.Popen[str]]]:
    """A fake with 300 events and ``druva export --follow`` of them, caught up."""
    out = tmp_path / "events.jsonl"
    with FakeDruva(users=100) as fake:
        child = start(
            fake,
            EVENTS_V3,
            "--out",
            str(out),
            "--follow",
            "--interval",
            "0.05",
            "--timeout",
            "2",
            **QUICK_BACKOFF,
        )
        try:
            wait_for_lines(out, 300, child)
            yield fake, out, child
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


def wait_for_requests(fake: FakeDruva, path: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while sum(r["path"] == path for r in fake.requests) < count:
        assert time.monotonic() < deadline, f"fewer than {count} requests to {path}"
        time.sleep(0.01)


def test_follow_survives_a_token_endpoint_and_an_api_outage_and_sigterm_exits_0(
    following: tuple[FakeDruva, Path, subprocess.Popen[str]],
) -> None:
    fake, out, child = following
    # The token endpoint down: every token refused with a 503, the token expired.
    fake.reset_counters()
    fake.fail_next(503, count=12, path="/token")
    fake.expire_tokens()
    fake.add_events(50)
    wait_for_requests(fake, "/token", 12)
    # Then the API down: 503s (429s past rate_limit_wait are is_transient's test).
    fake.fail_next(503, count=12, path=EVENTS_V3)
    wait_for_requests(fake, EVENTS_V3, 12)
    fake.add_events(50)
    wait_for_lines(out, 400, child)
    alive = child.poll() is None

    stderr = stop_and_wait(child)

    assert alive
    assert child.returncode == 0, stderr
    assert event_ids(out) == list(range(1, 401))
    failures = [line for line in stderr.splitlines() if "trying again in" in line]
    assert failures, stderr
    assert all(line[:4].isdigit() and line[19] == "Z" for line in failures), failures
    assert "503" in stderr
    assert fake.secret not in stderr


def test_follow_survives_the_server_going_away_and_coming_back(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    with FakeDruva(users=100) as first:
        port, client_id, secret = first.port, first.client_id, first.secret
        child = start(
            first,
            *(EVENTS_V3, "--out", str(out), "--follow", "--interval", "0.05", "--timeout", "1"),
            **QUICK_BACKOFF,
        )
        try:
            wait_for_lines(out, 300, child)
        except BaseException:
            child.kill()
            raise
    try:
        # A broken network, longer than a call's own retries (--timeout 1): nothing listens.
        time.sleep(2.5)
        down = child.poll() is None
        with FakeDruva(users=100, port=port, client_id=client_id, secret=secret) as second:
            second.add_events(40)
            wait_for_lines(out, 340, child)
            alive = child.poll() is None
            stderr = stop_and_wait(child)
    finally:
        if child.poll() is None:
            child.kill()

    assert down and alive
    assert child.returncode == 0, stderr
    assert "trying again in" in stderr
    assert event_ids(out) == list(range(1, 341))


@pytest.mark.parametrize(
    ("status", "words"), [(400, "400"), (404, "404")], ids=["bad-request", "not-found"]
)
def test_follow_ends_on_an_argument_druva_rejects(
    following: tuple[FakeDruva, Path, subprocess.Popen[str]], status: int, words: str
) -> None:
    fake, out, child = following
    fake.fail_next(status, count=5, path=EVENTS_V3)
    try:
        child.wait(timeout=60)
    finally:
        stderr = stop_and_wait(child)

    assert child.returncode == 1, stderr
    assert words in stderr
    assert event_ids(out) == list(range(1, 301))


def test_follow_ends_on_a_refused_credential(
    following: tuple[FakeDruva, Path, subprocess.Popen[str]],
) -> None:
    fake, out, child = following
    fake.fail_next(401, count=5, path="/token")
    fake.expire_tokens()
    try:
        child.wait(timeout=60)
    finally:
        stderr = stop_and_wait(child)

    assert child.returncode == 3, stderr
    assert event_ids(out) == list(range(1, 301))


# An expired tracker


def test_an_expired_tracker_exits_3_naming_the_two_ways_on(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    assert export_here(EVENTS_V2, "--out", str(out)) == (0, "")
    before = out.read_bytes()
    fake.add_events(10)
    # Druva's answer to a tracker it no longer keeps, and to the new token's retry.
    fake.fail_next(403, count=2, path=EVENTS_V2)

    status, stderr = export_here(EVENTS_V2, "--out", str(out))

    assert status == 3, stderr
    assert "--param ignoreTrackerExpiry=True" in stderr
    assert "--restart" in stderr
    assert out.read_bytes() == before
    assert read_state(out)["items"] == 750


def test_resuming_an_expired_tracker_with_ignore_tracker_expiry_is_the_same_export(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    assert export_here(EVENTS_V2, "--out", str(out)) == (0, "")
    fake.add_events(10)
    fake.fail_next(403, count=2, path=EVENTS_V2)
    assert export_here(EVENTS_V2, "--out", str(out))[0] == 3
    fake.reset_counters()

    status, stderr = export_here(
        EVENTS_V2, "--out", str(out), "--param", "ignoreTrackerExpiry=True"
    )

    assert status == 0, stderr
    assert event_ids(out) == list(range(1, 761))
    assert all("ignoreTrackerExpiry=True" in r["query"] for r in fake.requests)


def test_a_tracker_past_its_lifetime_exits_3_and_ignore_tracker_expiry_resumes_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "events.jsonl"
    with FakeDruva(users=100, tracker_ttl=0.2) as fake:
        first = export(fake, EVENTS_V2, "--out", str(out), "--param", "format=CEF")
        time.sleep(0.5)  # the saved tracker outlives the fake's tracker_ttl
        fake.add_events(25)
        expired = export(fake, EVENTS_V2, "--out", str(out), "--param", "format=CEF")
        resumed = export(
            fake,
            *(EVENTS_V2, "--out", str(out), "--param", "format=CEF"),
            *("--param", "ignoreTrackerExpiry=True"),
        )

    assert first.returncode == 0, first.stderr
    assert expired.returncode == 3, expired.stderr
    assert "--param ignoreTrackerExpiry=True" in expired.stderr
    assert "--restart" in expired.stderr
    assert resumed.returncode == 0, resumed.stderr
    lines = read_jsonl(out)
    assert len(lines) == 325
    assert [int(line.split("externalId=")[1].split(" ")[0]) for line in lines] == list(
        range(1, 326)
    )


def test_an_expired_platform_page_token_says_that_only_a_restart_revives_it(
    tmp_path: Path,
) -> None:
    # A page token is sent alone, and carries the parameters it was issued
    # with: adding ignoreTrackerExpiry later does not revive it.
    out = tmp_path / "platform.jsonl"
    arguments = [PLATFORM_V2, "--out", str(out), "--param", "source=Platform"]
    with FakeDruva(users=20, tracker_ttl=0.2) as fake:
        first = export(fake, *arguments)
        time.sleep(0.5)  # the saved page token outlives the fake's tracker_ttl
        fake.add_events(5)
        expired = export(fake, *arguments)
        restarted = export(fake, *arguments, "--param", "ignoreTrackerExpiry=True", "--restart")
        expected = the_whole_list(fake, PLATFORM_V2, params={"source": "Platform"})

    assert first.returncode == 0, first.stderr
    assert expired.returncode == 3, expired.stderr
    assert "--restart" in expired.stderr
    assert "--param ignoreTrackerExpiry=True from the first run" in expired.stderr
    assert restarted.returncode == 0, restarted.stderr
    assert read_jsonl(out) == expected


# A declared paging style


DECLARED = ["--cursor-field", "nextPageToken", "--cursor-param", "pageToken"]


def test_a_declared_style_is_recorded_and_a_killed_export_resumes_through_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "users.jsonl"
    arguments = [USERS, "--out", str(out), "--param", "pageSize=20", *DECLARED]
    with FakeDruva(users=200, latency=0.05) as fake:
        saved = kill_after_the_first_page(fake, arguments, out)
        fake.reset_counters()
        resumed = export(fake, *arguments)
        requests = [r for r in fake.requests if r["kind"] == "api"]
        undeclared = export(fake, USERS, "--out", str(out), "--param", "pageSize=20")
        expected = the_whole_list(fake, USERS)

    assert 0 < saved["items"] < 200
    assert saved["style"] == "declared"
    assert saved["arguments"]["cursor_field"] == "nextPageToken"
    assert saved["arguments"]["cursor_param"] == "pageToken"
    assert saved["arguments"]["keep_params"] is False
    assert resumed.returncode == 0, resumed.stderr
    # The cursor alone, as declared (no --keep-params), from the saved one on.
    assert parse_qsl(requests[0]["query"]) == [("pageToken", saved["cursor"])]
    assert all("pageSize" not in r["query"] for r in requests)
    assert read_jsonl(out) == expected
    assert undeclared.returncode == 2
    assert "cursor_field: recorded" in undeclared.stderr


def test_keep_params_resends_the_params_with_the_declared_cursor(tmp_path: Path) -> None:
    # Events v2 binds a tracker to its format: the format must go with it.
    declared = ["--param", "format=CEF", "--cursor-field", "tracker", "--cursor-param", "tracker"]
    kept, dropped = tmp_path / "kept.jsonl", tmp_path / "dropped.jsonl"
    with FakeDruva(users=400) as fake:
        keeping = export(fake, EVENTS_V2, "--out", str(kept), *declared, "--keep-params")
        dropping = export(fake, EVENTS_V2, "--out", str(dropped), *declared)
        expected = the_whole_list(fake, EVENTS_V2, params={"format": "CEF"})

    assert keeping.returncode == 0, keeping.stderr
    assert read_state(kept)["arguments"]["keep_params"] is True
    assert read_jsonl(kept) == expected
    assert dropping.returncode == 1
    assert "400" in dropping.stderr


def test_a_cyber_resilience_stream_declared_by_hand_is_exported_whole(tmp_path: Path) -> None:
    out = tmp_path / "cyber.jsonl"
    declared = ["--cursor-field", "nextTrackerToken", "--cursor-param", "trackerToken"]
    with FakeDruva(users=400) as fake:
        result = export(fake, CYBER_RESILIENCE, "--out", str(out), *declared)
        expected = the_whole_list(fake, CYBER_RESILIENCE)

    assert result.returncode == 0, result.stderr
    assert len(expected) > 100
    assert read_jsonl(out) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--cursor-field", "nextCursor"], "come together"),
        (["--cursor-param", "cursor"], "come together"),
        (["--keep-params"], "--keep-params goes with"),
        (["--rotate-bytes", "0"], "above 0"),
    ],
)
def test_collector_options_out_of_place_are_usage_errors(
    fake: FakeDruva, export_here: Run, tmp_path: Path, options: list[str], message: str
) -> None:
    status, stderr = export_here(USERS, "--out", str(tmp_path / "out.jsonl"), *options)

    assert status == 2, stderr
    assert message in stderr
    assert fake.requests == []
    assert list(tmp_path.iterdir()) == []


# A second signal


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_during_the_clean_stop_changes_nothing(tmp_path: Path, first: int) -> None:
    out = tmp_path / "users.jsonl"
    arguments = [USERS, "--out", str(out), "--param", "pageSize=20"]
    with FakeDruva(users=300, latency=0.05) as fake:
        child = start(fake, *arguments)
        try:
            wait_for_lines(out, 30, child)
            child.send_signal(first)
            for _ in range(50):  # more signals while it stops, and as it exits
                if child.poll() is not None:
                    break
                child.send_signal(signal.SIGINT if first == signal.SIGTERM else signal.SIGTERM)
                time.sleep(0.005)
            _, stderr = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
        stopped = read_state(out)
        size = out.stat().st_size
        resumed = export(fake, *arguments)
        expected = the_whole_list(fake, USERS)

    assert child.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stopped["length"] == size and not stopped["finished"]
    assert resumed.returncode == 0, resumed.stderr
    assert read_jsonl(out) == expected
