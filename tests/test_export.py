"""``druva export``: a list to JSON Lines or CSV, resumable after any kill.

The export runs as a user runs it, the console script in its own process, and
is killed with SIGKILL at random points; rerun until it finishes, its output
must hold the fake's whole list, every item exactly once, in order.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import druva
import pytest
from druva import _cli, _export
from druva.testing import FakeDruva

from .test_cli import DRUVA, clean_environment, run_on_terminal
from .test_cli import druva as run_druva

USERS = "/insync/usermanagement/v1/users"
REPORT = "/platform/reporting/v1/reports/epUsers"
EVENTS_V2 = "/insync/eventmanagement/v2/events"
EVENTS_V3 = "/platform/eventmanagement/v3/events"

# Kills a case: each costs a process start and a fraction of a second.
KILLS = int(os.environ.get("DRUVA_EXPORT_KILLS", "12"))


def environment(fake: FakeDruva) -> dict[str, str]:
    return clean_environment(
        DRUVA_CLIENT_ID=fake.client_id,
        DRUVA_SECRET_KEY=fake.secret,
        DRUVA_BASE_URL=fake.base_url,
    )


def export(
    fake: FakeDruva, *arguments: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run_druva("export", *arguments, env=environment(fake), timeout=timeout)


Run = Callable[..., "tuple[int, str]"]


@pytest.fixture
def export_here(
    fake: FakeDruva, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    """``druva export ...`` run in this process (quicker than a new one, for
    the many refusals): its exit status and what it printed on stderr."""
    monkeypatch.delenv("DRUVA_REGION", raising=False)
    monkeypatch.setenv("DRUVA_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("DRUVA_SECRET_KEY", fake.secret)
    monkeypatch.setenv("DRUVA_BASE_URL", fake.base_url)

    def run(*arguments: str) -> tuple[int, str]:
        capsys.readouterr()
        try:
            status = _cli.run(_cli.build_parser().parse_args(["export", *arguments]))
        except SystemExit as usage_error:  # argparse's own usage errors
            status = int(usage_error.code or 0)
        return status, capsys.readouterr().err

    return run


def read_state(out: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(_export.state_path(out).read_text())
    return state


def read_jsonl(out: Path) -> list[Any]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def read_csv(out: Path) -> list[dict[str, str]]:
    with out.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def assert_row_is_item(
    row: Mapping[str, str], item: Mapping[str, Any], columns: Sequence[str]
) -> None:
    """A CSV row holds its item: a string as itself, null or a missing key as
    an empty cell, any other value as its JSON; keys beyond ``columns`` as
    one JSON object in ``_extra``."""
    for column in columns:
        value, text = item.get(column), row[column]
        if isinstance(value, str):
            assert text == value, column
        elif value is None:
            assert text == "", column
        else:
            assert json.loads(text) == value, column
    extra = {key: value for key, value in item.items() if key not in columns}
    assert (json.loads(row["_extra"]) if row["_extra"] else {}) == extra


def assert_output_is(out: Path, file_format: str, expected: list[Any]) -> None:
    """The output holds ``expected``, each item once, in order."""
    if file_format == "jsonl":
        got = read_jsonl(out)
        assert len(got) == len(expected)
        for index, (item, wanted) in enumerate(zip(got, expected)):
            assert item == wanted, f"line {index + 1}"
        return
    with out.open(newline="", encoding="utf-8") as file:
        header = next(csv.reader(file))
    columns = list(expected[0])
    assert header == [*columns, "_extra"]
    rows = read_csv(out)
    assert len(rows) == len(expected)
    for row, wanted in zip(rows, expected):
        assert_row_is_item(row, wanted, columns)


def the_whole_list(fake: FakeDruva, path: str, **paging: Any) -> list[Any]:
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
        return list(s.paginate(path, **paging))


# Killed at random points


@dataclass
class Kills:
    kills: int = 0
    # Kills that left bytes past the state's length: the rerun had to cut them.
    cut_short: int = 0
    runs: int = 0


def kill_at_a_random_point(child: subprocess.Popen[bytes], out: Path, rng: random.Random) -> bool:
    """Waits for a random point of the child's run and kills it there; False
    when the child ended first. A quarter of the points are a random time after the
    start (the start itself, the token, the first pages); the others come when
    the output has grown by a random number of bytes, mid-list."""
    if rng.random() < 0.25:
        try:
            child.wait(timeout=rng.uniform(0.0, 0.3))
            return False
        except subprocess.TimeoutExpired:
            pass
    else:
        target = (out.stat().st_size if out.exists() else 0) + rng.randint(1, 20_000)
        while child.poll() is None:
            if out.exists() and out.stat().st_size >= target:
                break
            time.sleep(0.001)
        else:
            return False
    child.kill()
    child.wait()
    return True


def export_killed_again_and_again(
    fake: FakeDruva, arguments: list[str], out: Path, rng: random.Random, check: Callable[[], None]
) -> Kills:
    """Runs the export, kills it ``KILLS`` times at random points (rerunning it
    each time), then lets it finish. Whenever it finishes, ``check`` checks the
    output; one that finished before all its kills starts over (``--restart``)."""
    seen = Kills()
    restart: list[str] = []
    while seen.kills < KILLS:
        child = subprocess.Popen(
            [DRUVA, "export", *arguments, *restart],
            env=environment(fake),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        seen.runs += 1
        restart = []
        if not kill_at_a_random_point(child, out, rng):
            _, stderr = child.communicate(timeout=60)
            assert child.returncode == 0, stderr.decode()
            check()
            restart = ["--restart"]
            continue
        child.communicate(timeout=60)
        seen.kills += 1
        state = _export.state_path(out)
        if out.exists() and state.exists() and out.stat().st_size > read_state(out)["length"]:
            seen.cut_short += 1
    result = export(fake, *arguments, *restart)
    assert result.returncode == 0, result.stderr
    check()
    return seen


# Small pages: many page boundaries for the kills to fall around.
KILL_CASES = [
    pytest.param(USERS, {"params": {"pageSize": "20"}}, "jsonl", id="page-token-get-jsonl"),
    pytest.param(EVENTS_V3, {"params": {"pageSize": "100"}}, "csv", id="events-v3-csv"),
    pytest.param(EVENTS_V2, {}, "jsonl", id="events-v2-tracker-jsonl"),
    pytest.param(
        REPORT, {"method": "POST", "json": {"filters": {"pageSize": 20}}}, "jsonl", id="post-jsonl"
    ),
    pytest.param(
        REPORT, {"method": "POST", "json": {"filters": {"pageSize": 20}}}, "csv", id="post-csv"
    ),
]
# The lists to compare with, read in large pages (quicker; the same items).
WHOLE_LISTS = {
    USERS: {"params": {"pageSize": "1000"}},
    EVENTS_V3: {"params": {"pageSize": "500"}},
    EVENTS_V2: {},
    REPORT: {"method": "POST", "json": {"filters": {"pageSize": 500}}},
}


@pytest.fixture(scope="module")
def big_fake() -> Iterator[FakeDruva]:
    """A thousand items or more in every list, and a little latency so that
    kills land during requests too."""
    with FakeDruva(users=1000, page_size=50, latency=0.002) as server:
        yield server


def command_line(path: str, paging: Mapping[str, Any], file_format: str, out: Path) -> list[str]:
    arguments = [path, "--out", str(out), "--format", file_format]
    for key, value in paging.get("params", {}).items():
        arguments += ["--param", f"{key}={value}"]
    if "method" in paging:
        arguments += ["--method", paging["method"], "--json", json.dumps(paging["json"])]
    return arguments


@pytest.mark.parametrize(("path", "paging", "file_format"), KILL_CASES)
def test_killed_at_random_points_the_export_ends_with_every_item_exactly_once(
    big_fake: FakeDruva, tmp_path: Path, path: str, paging: dict[str, Any], file_format: str
) -> None:
    seed = int(os.environ.get("DRUVA_EXPORT_SEED", random.SystemRandom().randrange(2**32)))
    print(f"seed {seed} (DRUVA_EXPORT_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    out = tmp_path / f"export.{file_format}"
    arguments = command_line(path, paging, file_format, out)

    expected = the_whole_list(big_fake, path, **WHOLE_LISTS[path])
    assert len(expected) >= 1000

    def check() -> None:
        assert_output_is(out, file_format, expected)
        state = read_state(out)
        assert state["length"] == out.stat().st_size
        assert state["items"] == len(expected)
        assert state["finished"]

    seen = export_killed_again_and_again(big_fake, arguments, out, rng, check)

    assert seen.kills == KILLS
    assert seen.cut_short > 0, f"seed {seed}: no kill left a page half written"
    # Run again: a list that ended is complete; a stream is polled, and has nothing new.
    again = export(big_fake, *arguments)
    assert again.returncode == 0, again.stderr
    assert_output_is(out, file_format, expected)
    if path in (EVENTS_V2, EVENTS_V3):
        assert read_state(out)["cursor"]
    else:
        assert "is complete" in again.stderr


# A resumed export


def kill_after_the_first_page(fake: FakeDruva, arguments: list[str], out: Path) -> dict[str, Any]:
    """Runs the export and kills it once its state holds a page; that state."""
    child = subprocess.Popen(
        [DRUVA, "export", *arguments], env=environment(fake), stdin=subprocess.DEVNULL
    )
    state = _export.state_path(out)
    while child.poll() is None and not (state.exists() and read_state(out)["items"]):
        time.sleep(0.005)
    child.kill()
    child.wait()
    return read_state(out)


def test_a_resumed_export_sends_the_cursor_alone_and_writes_the_header_once(
    tmp_path: Path,
) -> None:
    out = tmp_path / "users.csv"
    arguments = [USERS, "--out", str(out), "--format", "csv", "--param", "pageSize=20"]
    with FakeDruva(users=120, latency=0.05) as fake:
        saved = kill_after_the_first_page(fake, arguments, out)
        fake.reset_counters()

        result = export(fake, *arguments)
        requests = [r for r in fake.requests if r["kind"] == "api"]
        expected = the_whole_list(fake, USERS)

    assert result.returncode == 0, result.stderr
    assert 0 < saved["items"] < 120, "killed after the first page and before the last"
    assert parse_qsl(requests[0]["query"]) == [("pageToken", saved["cursor"])]
    assert all(r["query"].startswith("pageToken=") and "&" not in r["query"] for r in requests)
    assert len(requests) == (120 - saved["items"]) // 20
    assert out.read_text(encoding="utf-8").count("userID,userName") == 1
    assert_output_is(out, "csv", expected)


def test_a_post_export_resumes_with_the_same_body_and_the_cursor_in_it(tmp_path: Path) -> None:
    out = tmp_path / "report.jsonl"
    body = {"filters": {"pageSize": 30}}
    arguments = [REPORT, "--out", str(out), "--method", "post", "--json", json.dumps(body)]
    with FakeDruva(users=100, latency=0.05) as fake:
        saved = kill_after_the_first_page(fake, arguments, out)
        fake.reset_counters()

        result = export(fake, *arguments)
        posts = [r for r in fake.requests if r["kind"] == "api"]
        expected = the_whole_list(fake, REPORT, method="POST", json=body)

    assert result.returncode == 0, result.stderr
    assert 0 < saved["items"] < 100
    assert json.loads(posts[0]["body"]) == {**body, "pageToken": saved["cursor"]}
    assert all(r["method"] == "POST" for r in posts)
    assert_output_is(out, "jsonl", expected)


# An events v2 tracker is resumed as a parameter (DESIGN, Paging): the state
# records the list's style (Paginator.style) to know it is one.
def test_an_events_v2_export_killed_mid_list_resumes_from_its_tracker(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    arguments = [EVENTS_V2, "--out", str(out)]
    with FakeDruva(users=500, latency=0.05) as fake:
        saved = kill_after_the_first_page(fake, arguments, out)
        result = export(fake, *arguments)
        expected = the_whole_list(fake, EVENTS_V2)

    assert 0 < saved["items"] < 1500
    assert result.returncode == 0, result.stderr
    assert_output_is(out, "jsonl", expected)


def test_a_finished_events_v2_export_is_polled_from_its_tracker(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "events.csv"
    assert export_here(EVENTS_V2, "--out", str(out), "--format", "csv")[0] == 0
    fake.add_events(70)

    status, stderr = export_here(EVENTS_V2, "--out", str(out), "--format", "csv")

    assert status == 0, stderr
    assert [int(row["eventID"]) for row in read_csv(out)] == list(range(1, 821))


def test_a_page_that_fails_leaves_the_state_on_it_and_the_rerun_fetches_it_again(
    fake: FakeDruva, session: druva.Session, tmp_path: Path
) -> None:
    out = tmp_path / "users.jsonl"
    spec = _export.ListSpec(USERS, params=(("pageSize", "50"),))

    def break_the_third_page(items: int, pages: int) -> None:
        # The second page is fetched ahead while the first is written: once
        # the fake has it, the next request, for the third page, is broken.
        if items == 1:
            deadline = time.monotonic() + 10
            while sum(r["path"] == USERS for r in fake.requests) < 2:
                assert time.monotonic() < deadline, "the second page was never asked for"
                time.sleep(0.005)
            fake.malform_next(path=USERS)

    with pytest.raises(druva.JSONDecodeError):
        _export.export(session, out, spec, progress=break_the_third_page)
    failed = read_state(out)
    fake.reset_counters()
    outcome = _export.export(session, out, spec)

    assert failed["items"] == 100 and failed["pages"] == 2 and not failed["finished"]
    assert failed["length"] == len(b"".join(out.read_bytes().splitlines(True)[:100]))
    assert parse_qsl(fake.requests[0]["query"]) == [("pageToken", failed["cursor"])]
    assert outcome.items == 250 and outcome.written == 150 and outcome.complete
    assert_output_is(out, "jsonl", the_whole_list(fake, USERS))


def test_an_export_writes_nothing_but_the_file_and_shows_no_progress_off_a_terminal(
    fake: FakeDruva, tmp_path: Path
) -> None:
    out = tmp_path / "users.jsonl"

    result = export(fake, USERS, "--out", str(out))

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
    assert_output_is(out, "jsonl", the_whole_list(fake, USERS))
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "users.jsonl",
        "users.jsonl.lock",
        "users.jsonl.state",
    ]
    assert read_state(out)["arguments"] == {
        "path": USERS,
        "method": "GET",
        "params": [],
        "body": None,
        "items": None,
        "format": "jsonl",
        "region": None,
        "base_url": fake.base_url,
    }


def test_an_export_shows_items_and_pages_on_a_terminal(fake: FakeDruva, tmp_path: Path) -> None:
    out = tmp_path / "users.jsonl"
    status, shown = run_on_terminal(
        ["export", USERS, "--out", str(out), "--param", "pageSize=50"],
        environment(fake),
        tmp_path / "stdout",
        {},
    )

    assert status == 0, shown
    assert "250 records, 5 pages" in shown
    assert len(read_jsonl(out)) == 250


def test_a_finished_list_is_complete_and_a_rerun_sends_nothing(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "users.jsonl"
    assert export_here(USERS, "--out", str(out)) == (0, "")
    before = out.read_bytes()
    fake.reset_counters()

    status, stderr = export_here(USERS, "--out", str(out))

    assert status == 0, stderr
    assert "is complete: 250 items" in stderr
    assert fake.requests == []
    assert out.read_bytes() == before


def test_a_finished_stream_is_polled_for_what_is_new(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    assert export_here(EVENTS_V3, "--out", str(out)) == (0, "")
    fake.add_events(70)

    assert export_here(EVENTS_V3, "--out", str(out)) == (0, "")
    assert export_here(EVENTS_V3, "--out", str(out)) == (0, "")

    ids = [event["details"]["eventID"] for event in read_jsonl(out)]
    assert ids == list(range(1, 821))


# Ctrl-C and --follow


def start_export(fake: FakeDruva, *arguments: str) -> subprocess.Popen[str]:
    """``druva export ...`` started in a process of its own, its output piped."""
    return subprocess.Popen(
        [DRUVA, "export", *arguments],
        env=environment(fake),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lines(out: Path, count: int, child: subprocess.Popen[str]) -> None:
    """Waits until ``out`` holds ``count`` lines (a bound, not an assertion on time)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= count:
            return
        assert child.poll() is None, child.communicate()
        time.sleep(0.01)
    raise AssertionError(f"{out} never reached {count} lines")


def test_follow_picks_up_new_events_and_ctrl_c_saves_the_state_for_the_next_run(
    tmp_path: Path,
) -> None:
    out = tmp_path / "events.jsonl"
    with FakeDruva(users=150) as fake:
        child = start_export(fake, EVENTS_V3, "--out", str(out), "--follow", "--interval", "0.05")
        try:
            wait_for_lines(out, 450, child)
            fake.add_events(120)
            wait_for_lines(out, 570, child)
            child.send_signal(signal.SIGINT)
            _, stderr = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
        saved = read_state(out)
        fake.add_events(30)
        resumed = export(fake, EVENTS_V3, "--out", str(out))

    assert child.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert saved["cursor"] and saved["items"] == 570
    assert resumed.returncode == 0, resumed.stderr
    ids = [event["details"]["eventID"] for event in read_jsonl(out)]
    assert ids == list(range(1, 601))


@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_mid_list_finishes_the_page_in_hand_saves_the_state_and_exits_0(
    tmp_path: Path, signal_number: int
) -> None:
    out = tmp_path / "users.jsonl"
    arguments = [USERS, "--out", str(out), "--param", "pageSize=20"]
    with FakeDruva(users=300, latency=0.01) as fake:
        child = start_export(fake, *arguments)
        try:
            wait_for_lines(out, 30, child)
            child.send_signal(signal_number)
            _, stderr = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
        stopped = read_state(out)
        size = out.stat().st_size
        lines = len(read_jsonl(out))
        resumed = export(fake, *arguments)
        expected = the_whole_list(fake, USERS)

    assert child.returncode == 0, stderr
    assert "run again to resume" in stderr
    # Whole pages, nothing after them: the page in hand was finished, not cut.
    assert not stopped["finished"]
    assert stopped["length"] == size
    assert stopped["items"] == lines and lines % 20 == 0 and lines >= 40
    assert resumed.returncode == 0, resumed.stderr
    assert_output_is(out, "jsonl", expected)


# The README


def readme_commands() -> list[list[str]]:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    section = readme.read_text(encoding="utf-8").split("## Export a list to a file", 1)[1]
    block = re.findall(r"```sh\n(.*?)```", section.split("\n## ", 1)[0], flags=re.DOTALL)[0]
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines()]


def test_the_readmes_export_commands_run_as_written(fake: FakeDruva, tmp_path: Path) -> None:
    commands = readme_commands()
    assert [command[:2] for command in commands] == [["druva", "export"]] * 3
    for command in commands:
        if "--follow" in command:  # runs until stopped: its test is above
            continue
        result = subprocess.run(
            [DRUVA, *command[1:]],
            cwd=tmp_path,
            env=environment(fake),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    assert_output_is(tmp_path / "users.jsonl", "jsonl", the_whole_list(fake, USERS))
    report = the_whole_list(
        fake,
        "/platform/reporting/v1/reports/epLastBackupStatus",
        method="POST",
        json={"filters": {"pageSize": 500}},
    )
    assert_output_is(tmp_path / "last_backups.csv", "csv", report)


# CSV


def test_csv_round_trips_nested_values_and_keys_the_first_item_lacks() -> None:
    items = [
        {"id": 1, "name": 'Zoë, "the" admin', "tags": ["a", "b"], "meta": {"x": 1}, "gone": None},
        {"id": 2, "name": "two\nlines", "tags": [], "meta": {}, "new": True, "also": {"k": "v"}},
        {"name": "", "id": 3.5, "gone": False},
    ]
    state = _export.State(arguments={})
    rows = _export.CsvRows(state)

    text = b"".join(rows.encode(item) for item in items).decode()
    read = list(csv.DictReader(io.StringIO(text, newline="")))

    assert state.columns == ["id", "name", "tags", "meta", "gone"]
    assert text.splitlines()[0] == "id,name,tags,meta,gone,_extra"
    assert len(read) == 3
    for row, item in zip(read, items):
        assert_row_is_item(row, item, state.columns)
    assert read[1]["_extra"] == '{"new":true,"also":{"k":"v"}}'
    assert read[2]["tags"] == read[2]["meta"] == ""  # missing keys: empty cells


def test_csv_refuses_items_that_are_not_objects(export_here: Run, tmp_path: Path) -> None:
    out = tmp_path / "events.csv"

    status, stderr = export_here(
        EVENTS_V2, "--param", "format=CEF", "--format", "csv", "--out", str(out)
    )

    assert status == 1
    assert "needs a JSON object, and this list's items are strings" in stderr
    assert "--format jsonl" in stderr


# Refusals


def test_a_state_of_other_arguments_is_refused_before_any_request(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "users.jsonl"
    assert export_here(USERS, "--out", str(out), "--param", "pageSize=50") == (0, "")
    before = out.read_bytes()
    fake.reset_counters()

    others = {
        "params": [USERS, "--param", "pageSize=40"],
        "format": [USERS, "--param", "pageSize=50", "--format", "csv"],
        "items": [USERS, "--param", "pageSize=50", "--items", "users"],
        "path": ["/insync/endpoints/v1/devices", "--param", "pageSize=50"],
        "base_url": [USERS, "--param", "pageSize=50", "--base-url", "http://127.0.0.1:9"],
    }
    for name, arguments in others.items():
        status, stderr = export_here(*arguments, "--out", str(out))
        assert status == 2, stderr
        assert f"is the state of another export ({name}: recorded " in stderr
        assert "--restart" in stderr
    assert fake.requests == []
    assert out.read_bytes() == before


def test_the_refusal_names_the_recorded_and_the_given_value(
    export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "report.jsonl"
    body = '{"filters": {"pageSize": 50}}'
    assert export_here(REPORT, "--method", "POST", "--json", body, "--out", str(out))[0] == 0

    status, stderr = export_here(
        REPORT, "--method", "POST", "--json", '{"filters": {}}', "--out", str(out)
    )

    assert status == 2
    assert 'body: recorded {"filters": {"pageSize": 50}}, given {"filters": {}}' in stderr


def test_a_file_without_its_state_is_refused_and_restart_overwrites_it(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "users.jsonl"
    out.write_text("someone else's data\n")

    refused, stderr = export_here(USERS, "--out", str(out))
    requests_when_refused = list(fake.requests)
    restarted = export_here(USERS, "--out", str(out), "--restart")

    assert refused == 2
    assert "users.jsonl exists but has no users.jsonl.state" in stderr
    assert "--restart" in stderr
    assert requests_when_refused == []
    assert restarted == (0, "")
    assert_output_is(out, "jsonl", the_whole_list(fake, USERS))


def test_restart_starts_over_a_state_of_other_arguments(
    fake: FakeDruva, export_here: Run, tmp_path: Path
) -> None:
    out = tmp_path / "users.csv"
    assert export_here(USERS, "--out", str(out)) == (0, "")

    assert export_here(USERS, "--out", str(out), "--format", "csv", "--restart") == (0, "")

    assert_output_is(out, "csv", the_whole_list(fake, USERS))
    assert read_state(out)["arguments"]["format"] == "csv"


@pytest.mark.parametrize("damage", ["shortened", "state-not-json", "state-of-another-kind"])
def test_an_output_changed_outside_the_export_is_refused(
    fake: FakeDruva, export_here: Run, tmp_path: Path, damage: str
) -> None:
    out = tmp_path / "users.jsonl"
    assert export_here(USERS, "--out", str(out)) == (0, "")
    state = _export.state_path(out)
    if damage == "shortened":
        out.write_bytes(out.read_bytes()[:100])
    elif damage == "state-not-json":
        state.write_text("{")
    else:
        state.write_text(json.dumps({"version": 99}))
    fake.reset_counters()

    status, stderr = export_here(USERS, "--out", str(out))

    assert status == 2, stderr
    assert "--restart" in stderr
    assert fake.requests == []


@pytest.mark.parametrize("where", ["under-a-file", "missing-directory", "a-directory"])
def test_an_unwritable_output_fails_before_the_first_request(
    fake: FakeDruva, export_here: Run, tmp_path: Path, where: str
) -> None:
    (tmp_path / "a-file").write_text("")
    out = {
        "under-a-file": tmp_path / "a-file" / "users.jsonl",
        "missing-directory": tmp_path / "missing" / "users.jsonl",
        "a-directory": tmp_path,
    }[where]

    status, stderr = export_here(USERS, "--out", str(out))

    assert status == 2, stderr
    assert f"cannot write {out}" in stderr
    assert fake.requests == []


BAD_INPUTS = {
    "param-without-equals": (["--param", "pageSize"], "KEY=VALUE"),
    "json-not-json": (["--method", "POST", "--json", "{filters"], "--json is not JSON"),
    "json-without-post": (["--json", "{}"], "add --method POST"),
    "json-not-an-object": (["--method", "POST", "--json", "[1]"], "must be a JSON object"),
    "interval-zero": (["--follow", "--interval", "0"], "above 0"),
    "interval-negative": (["--follow", "--interval", "-5"], "above 0"),
    "interval-nan": (["--follow", "--interval", "nan"], "above 0"),
    "interval-without-follow": (["--interval", "5"], "--follow"),
    "unknown-format": (["--format", "xml"], "invalid choice"),
    "unknown-method": (["--method", "PUT"], "invalid choice"),
    "no-out": ([], "--out"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_a_usage_error_before_any_network_io(
    fake: FakeDruva, export_here: Run, tmp_path: Path, case: str
) -> None:
    options, message = BAD_INPUTS[case]
    out = tmp_path / "out.jsonl"
    arguments = [USERS, *options] + (["--out", str(out)] if case != "no-out" else [])

    status, stderr = export_here(*arguments)

    assert status == 2, stderr
    assert message in stderr
    assert fake.requests == []
    assert list(tmp_path.iterdir()) == []
