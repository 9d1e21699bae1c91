"""The benchmark harness of issues 5 and 12: druva against its peers and the floor.

    python bench/run.py                          # every case; writes bench/RESULTS.md
    python bench/run.py --smoke                  # every case at a tiny size, for CI
    python bench/run.py --cases get_small,get_page --repeat 11

The fan-out cases (``fanout``, ``fanout_throttled``, ``fanout_rate_limited``)
and ``paginate_consumer`` run against a FakeDruva of their own with ``latency``
(and ``max_in_flight`` or ``rate_limit``) set; their ideals are computed, not run.

This file is the command line and the run; bench/harness.py holds what every
case shares (the processes, the samplers, the numbers), bench/cases/ one module
a case, and bench/report.py the report.

FakeDruva runs in a process of its own (bench/server.py) and every client in
another (bench/clients.py), so each client's wall time, CPU time and peak RSS
are its own. All clients of a case are set up side by side and then sampled in
alternation, round after round, each round starting one client later, so a
burst of load from elsewhere on a shared machine hits them all alike. Ratios
to druva are the median of the per-round ratios. The floor of the GET cases is
a raw reqwest loop in Rust (bench/floor.rs, built with cargo).

Install the peers with ``pip install '.[bench]'``; druva is measured as it is
installed in the running Python. A full run writes bench/RESULTS.md and the raw
numbers beside it in bench/RESULTS.json; to record a change of druva:

    cp bench/RESULTS.json /tmp/before.json      # then rebuild druva, and
    python bench/run.py --compare /tmp/before.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

from cases.async_calls import case_async
from cases.cli_loop import case_cli_loop
from cases.fanout import case_fanout
from cases.fanout_rate_limited import case_fanout_rate_limited
from cases.fanout_throttled import case_fanout_throttled
from cases.get_page import case_get_page
from cases.get_small import case_get_small
from cases.import_time import case_import
from cases.json_decode import case_json
from cases.paginate import case_paginate
from cases.paginate_consumer import case_paginate_consumer
from cases.storm import case_storm
from cases.token_cached import case_token_cached
from cases.token_cold import case_token_cold
from harness import (
    BENCH,
    PYTHON,
    CaseResult,
    Child,
    Context,
    build_floor,
    fetch_access_token,
    log,
    start_server,
)
from report import machine, report, without_machine_paths

CASE_FUNCTIONS: dict[str, Callable[[Context], CaseResult]] = {
    "token_cached": case_token_cached,
    "token_cold": case_token_cold,
    "get_small": case_get_small,
    "get_page": case_get_page,
    "json": case_json,
    "async": case_async,
    "storm": case_storm,
    "paginate": case_paginate,
    "paginate_consumer": case_paginate_consumer,
    "fanout": case_fanout,
    "fanout_throttled": case_fanout_throttled,
    "fanout_rate_limited": case_fanout_rate_limited,
    "import": case_import,
    "cli_loop": case_cli_loop,
}
CASES = list(CASE_FUNCTIONS)


def parse_arguments(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark druva against its peers and a raw Rust floor (issues 5 and 12).",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every case at a tiny size, a few iterations, no file written (CI)",
    )
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"comma-separated cases to run (default: all): {', '.join(CASES)}",
    )
    parser.add_argument("--repeat", type=int, help="rounds of every case (default 7; smoke 2)")
    parser.add_argument(
        "--seconds", type=float, help="target length of one sample (default 0.3; smoke 0.02)"
    )
    parser.add_argument(
        "--output",
        help="the report to write (default bench/RESULTS.md; smoke: none); '-' writes none",
    )
    parser.add_argument(
        "--compare", help="a results JSON of an earlier run: adds druva's before → after"
    )
    parser.add_argument(
        "--floor-profile",
        choices=["release", "dev"],
        help="cargo profile of the floor (default release; smoke dev)",
    )
    parser.add_argument(
        "--note", action="append", default=[], help="a line for the report (repeatable)"
    )
    parser.add_argument(
        "--floor", help="a bench_floor binary already built (default: build it with cargo)"
    )
    parser.add_argument("--page-records", type=int, default=125, help="users in the ~20 KB page")
    parser.add_argument("--async-calls", type=int, help="calls a sample (default 1000; smoke 200)")
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--storm-tasks", type=int, default=1000)
    parser.add_argument("--storm-threads", type=int, default=64)
    parser.add_argument(
        "--paginate-records", type=int, help="records to page through (default 100000; smoke 10000)"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.02,
        help="FakeDruva's latency in the fan-out and consumer cases, seconds (default 0.02)",
    )
    parser.add_argument(
        "--fanout-calls", type=int, help="GETs in a fan-out batch (default 640; smoke 64)"
    )
    parser.add_argument("--fanout-concurrency", type=int, default=32)
    parser.add_argument(
        "--fanout-throttle", type=int, default=8, help="FakeDruva's max_in_flight (throttled case)"
    )
    parser.add_argument(
        "--fanout-rate",
        type=int,
        default=100,
        help="FakeDruva's rate_limit, requests a second (rate-limited case)",
    )
    parser.add_argument(
        "--fanout-rate-calls",
        type=int,
        help="GETs in a rate-limited batch (default 400; smoke 40)",
    )
    parser.add_argument(
        "--consumer-pages", type=int, help="pages in paginate_consumer (default 20; smoke 4)"
    )
    parser.add_argument("--consumer-page-size", type=int, default=100)
    parser.add_argument(
        "--consumer-work",
        type=float,
        default=0.02,
        help="seconds the paginate_consumer consumer spends a page (default 0.02)",
    )
    arguments = parser.parse_args(argv)
    smoke = arguments.smoke
    defaults = {
        "repeat": 2 if smoke else 7,
        "seconds": 0.02 if smoke else 0.3,
        "floor_profile": "dev" if smoke else "release",
        "async_calls": 200 if smoke else 1000,
        "paginate_records": 10_000 if smoke else 100_000,
        "fanout_calls": 64 if smoke else 640,
        "fanout_rate_calls": 40 if smoke else 400,
        "consumer_pages": 4 if smoke else 20,
        "output": "-" if smoke else str(BENCH / "RESULTS.md"),
    }
    for name, value in defaults.items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, value)
    arguments.case_list = [case.strip() for case in arguments.cases.split(",") if case.strip()]
    unknown = sorted(set(arguments.case_list) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    return arguments


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = parse_arguments(argv)
    command = shlex.join(["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    started = time.perf_counter()
    about_machine = machine()
    before = None
    if arguments.compare:
        with open(arguments.compare) as old:
            before = json.load(old)
    needs_floor = {"get_small", "get_page"} & set(arguments.case_list)
    floor: Optional[Path] = None
    floor_note = ""
    if arguments.floor:
        floor = Path(arguments.floor)
    elif needs_floor:
        floor, floor_note = build_floor(arguments.floor_profile)
    control = Child("server", [PYTHON, str(BENCH / "server.py")])
    results: list[CaseResult] = []
    try:
        main_server = start_server(control, users=max(1000, arguments.page_records))
        context = Context(
            arguments, control, main_server, fetch_access_token(main_server), floor, floor_note
        )
        for case in arguments.case_list:
            log(f"case {case}")
            case_started = time.perf_counter()
            results.append(CASE_FUNCTIONS[case](context))
            log(f"case {case}: {time.perf_counter() - case_started:.1f} s")
    finally:
        control.close()
    text = report(results, command, arguments, about_machine, time.perf_counter() - started, before)
    print(text)
    if arguments.output != "-":
        output = Path(arguments.output)
        output.write_text(text + "\n")
        raw = {
            "command": without_machine_paths(command),
            "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "druva": {result.key: result.druva for result in results},
            "goals": {
                result.key: [[goal.text, goal.measured, goal.met] for goal in result.goals]
                for result in results
            },
        }
        output.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
        log(f"wrote {output} and {output.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
