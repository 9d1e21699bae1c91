"""The ``cli_loop`` case: ``druva get`` run 20 times in a shell loop, with and
without ``DRUVA_TOKEN_CACHE``, against a FakeDruva with 50 ms of latency
(issue 19): token requests and wall time side by side."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

from harness import PYTHON, CaseResult, Context, Goal, format_time, log, median, start_server

RUNS = 20
LATENCY = 0.05
USERS_PATH = "/insync/usermanagement/v1/users"


def druva_command() -> str:
    """The console script beside the benchmark's Python, as a user runs it."""
    script = Path(PYTHON).parent / "druva"
    if script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(PYTHON)} -m druva"


def one_loop(context: Context, cache: str | None) -> tuple[float, int]:
    """Wall time of the loop and the token requests its server received."""
    server = start_server(context.control, users=10, latency=LATENCY)
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DRUVA_")
        and name.upper() not in {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}
    }
    environment.update(
        DRUVA_CLIENT_ID=server.client_id,
        DRUVA_SECRET_KEY=server.secret,
        DRUVA_BASE_URL=server.base_url,
    )
    if cache is not None:
        environment["DRUVA_TOKEN_CACHE"] = cache
    loop = f"for i in $(seq {RUNS}); do {druva_command()} get {USERS_PATH} > /dev/null; done"
    started = time.perf_counter()
    subprocess.run(["sh", "-c", loop], env=environment, check=True, timeout=600)
    wall = time.perf_counter() - started
    counters = context.control.call({"op": "counters", "id": server.id})
    context.control.call({"op": "stop", "id": server.id})
    return wall, int(counters["token_requests"])


def case_cli_loop(context: Context) -> CaseResult:
    modes = {"without DRUVA_TOKEN_CACHE": False, "DRUVA_TOKEN_CACHE=<a directory>": True}
    walls: dict[str, list[float]] = {mode: [] for mode in modes}
    requests: dict[str, list[int]] = {mode: [] for mode in modes}
    for round_number in range(context.rounds):
        for mode, cached in modes.items():
            with tempfile.TemporaryDirectory() as scratch:
                cache = str(Path(scratch) / "tokens") if cached else None
                wall, token_requests = one_loop(context, cache)
            walls[mode].append(wall)
            requests[mode].append(token_requests)
        log(f"  cli_loop: round {round_number + 1}/{context.rounds}")
    shared = "DRUVA_TOKEN_CACHE=<a directory>"
    goal = Goal(
        f"1 token request for {RUNS} runs",
        ", ".join(map(str, requests[shared])) + " a loop",
        all(count == 1 for count in requests[shared]),
        issue=19,
    )
    headers = ["shell loop", "token requests (each loop)", "wall time / loop", "per run", "goal"]
    rows = [
        [
            f"{RUNS} x `druva get`, {mode}",
            ", ".join(map(str, requests[mode])),
            format_time(median(walls[mode]), "ms"),
            format_time(median(walls[mode]) / RUNS, "ms"),
            goal.cell() if mode == shared else "",
        ]
        for mode in modes
    ]
    notes = [
        f"Each loop runs against a FakeDruva started for it alone, with {LATENCY * 1000:.0f} ms "
        "added to every answer (token requests included); the token requests are that "
        "server's own counter. A run is a new process: without a store each one exchanges "
        "its own token, with one all but the first read it from the directory."
    ]
    return CaseResult(
        "cli_loop",
        "`druva get` in a shell loop, with and without a shared token store",
        f"`for i in $(seq {RUNS}); do druva get {USERS_PATH}; done` at {LATENCY * 1000:.0f} ms "
        "of latency.",
        headers,
        rows,
        [goal],
        notes,
        druva={
            "wall without store": median(walls["without DRUVA_TOKEN_CACHE"]),
            "wall with store": median(walls[shared]),
        },
    )
