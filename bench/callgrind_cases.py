"""The client's instructions a call, case by case, counted by callgrind.

Wall times on a shared machine move by more than the 5 % a before/after check
needs; instruction counts do not. Each case runs N times in one process under
``valgrind --tool=callgrind``, against a FakeDruva in another process (not
traced, so the server's share is left out), after the same preparation as
every other case. The ``none`` case is that preparation alone: its count,
subtracted, leaves the work of the N runs.

Usage:
    python bench/callgrind_cases.py CASE N
        one case, N times (run it under valgrind; ``none`` is the baseline)
    python bench/callgrind_cases.py --profile DIR [--cases a,b] [--repeat R]
        none and every case under callgrind with this interpreter's druva, R
        rounds: DIR/CASE.ROUND.out and DIR/counts.json (instructions a call,
        from the mean of the rounds)
    python bench/callgrind_cases.py --compare BEFORE_DIR AFTER_DIR
        the two counts.json as a Markdown table

Only the standard library and druva are imported, so any version's wheel can be
measured: the FakeDruva comes from the same druva as the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import USERS_PATH

RECORDS = 20_000
PAGE_PARAMS = {"pageSize": "4097"}
SMALL_PARAMS = {"pageSize": "1"}
JSON_PARAMS = {"pageSize": "125"}
MAP_CALLS = 100
SERVER_SECONDS = 3600

# The server process: a FakeDruva until its stdin closes, its address and
# credentials as one JSON line on stdout.
SERVER = f"""
import json, sys
from druva.testing import FakeDruva
with FakeDruva(users={RECORDS}, token_lifetime={SERVER_SECONDS}) as fake:
    print(json.dumps({{"base_url": fake.base_url, "client_id": fake.client_id,
                      "secret": fake.secret}}), flush=True)
    sys.stdin.read()
"""


@dataclass(frozen=True)
class Case:
    about: str
    calls: int  # the N of --profile
    units: int  # calls (or records) one run makes: the count is divided by N x units


CASES = {
    "none": Case("the preparation alone (the baseline)", 0, 1),
    "token_cached": Case("cached `get_token(cid, secret, base_url=...)`, 20,000 calls", 20_000, 1),
    "token_cold": Case(
        "`get_token(..., force_refresh=True)` (a token request each), 300 calls", 300, 1
    ),
    "get_small": Case("small GET (`pageSize=1`, `.content`), 300 calls", 300, 1),
    "json": Case("`Response.json()` of a 125-user page, 300 calls", 300, 1),
    "paginate": Case(f"`paginate`, {RECORDS:,} records at `pageSize=4097`, per record", 1, RECORDS),
    "map": Case(f"`map` of {MAP_CALLS} small GETs, 10 maps, per GET", 10, MAP_CALLS),
    "async_get": Case("`AsyncSession` small GET (`.content`), 300 calls", 300, 1),
}


@contextmanager
def fake_server() -> Iterator[dict[str, str]]:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield json.loads(server.stdout.readline())
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def prepare(server: dict[str, str]) -> dict[str, Callable[[int], None]]:
    """Everything any case needs, each made warm by one call, and what each case repeats."""
    import druva

    cid, secret, base_url = server["client_id"], server["secret"], server["base_url"]
    session = druva.Session(cid, secret, base_url=base_url)
    session.token  # noqa: B018 - the token first, as every case has it
    druva.get_token(cid, secret, base_url=base_url)
    druva.get_token(cid, secret, base_url=base_url, force_refresh=True)
    session.get(USERS_PATH, params=SMALL_PARAMS).content  # noqa: B018
    response = session.get(USERS_PATH, params=JSON_PARAMS)
    if len(response.json()["users"]) != 125:
        raise RuntimeError("the 125-user page has another length")
    paths = [USERS_PATH] * MAP_CALLS
    session.map(paths, params=SMALL_PARAMS)
    pages = session.paginate(USERS_PATH, params=PAGE_PARAMS)
    next(pages)
    del pages  # dropped, with the page fetched ahead
    loop = asyncio.new_event_loop()
    async_session = druva.AsyncSession(cid, secret, base_url=base_url)

    async def async_gets(calls: int) -> None:
        for _ in range(calls):
            (await async_session.get(USERS_PATH, params=SMALL_PARAMS)).content  # noqa: B018

    loop.run_until_complete(async_gets(1))

    def token_cached(calls: int) -> None:
        for _ in range(calls):
            druva.get_token(cid, secret, base_url=base_url)

    def token_cold(calls: int) -> None:
        for _ in range(calls):
            druva.get_token(cid, secret, base_url=base_url, force_refresh=True)

    def get_small(calls: int) -> None:
        for _ in range(calls):
            session.get(USERS_PATH, params=SMALL_PARAMS).content  # noqa: B018

    def decode(calls: int) -> None:
        for _ in range(calls):
            response.json()

    def paginate(calls: int) -> None:
        for _ in range(calls):
            records = sum(1 for _ in session.paginate(USERS_PATH, params=PAGE_PARAMS))
            if records != RECORDS:
                raise RuntimeError(f"paginate gave {records} of {RECORDS} records")

    def fan_out(calls: int) -> None:
        for _ in range(calls):
            session.map(paths, params=SMALL_PARAMS)

    def async_get(calls: int) -> None:
        loop.run_until_complete(async_gets(calls))

    return {
        "none": lambda calls: None,
        "token_cached": token_cached,
        "token_cold": token_cold,
        "get_small": get_small,
        "json": decode,
        "paginate": paginate,
        "map": fan_out,
        "async_get": async_get,
    }


def run_case(name: str, calls: int) -> None:
    with fake_server() as server:
        prepare(server)[name](calls)


def total_instructions(out_file: Path) -> int:
    for line in out_file.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no instruction total in {out_file}")


def profile(directory: Path, names: list[str], repeat: int) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    # A fixed hash seed: the same dict layouts, so the same instructions, run after run.
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    totals: dict[str, list[int]] = {}
    for round_ in range(repeat):
        for name in ["none", *[n for n in names if n != "none"]]:
            out_file = directory / f"{name}.{round_}.out"
            command = [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={out_file}",
                sys.executable,
                __file__,
                name,
                str(CASES[name].calls),
            ]
            subprocess.run(
                command, check=True, timeout=3600, stderr=subprocess.DEVNULL, env=environment
            )
            totals.setdefault(name, []).append(total_instructions(out_file))
            print(f"{name}: {totals[name][-1]:,} instructions", flush=True)
    import druva

    baseline = statistics.mean(totals["none"])
    per_call = {
        name: (statistics.mean(runs) - baseline) / (CASES[name].calls * CASES[name].units)
        for name, runs in totals.items()
        if name != "none"
    }
    counts = {
        "python": sys.version.split()[0],
        "druva": str(Path(druva.__file__).parent),
        "totals": totals,
        "per_call": per_call,
    }
    (directory / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    for name, count in per_call.items():
        print(f"{name}: {count:,.0f} a call")


def compare(before: Path, after: Path) -> None:
    old = json.loads((before / "counts.json").read_text())["per_call"]
    new = json.loads((after / "counts.json").read_text())["per_call"]
    print("| case | instructions a call, before | after | after ÷ before |")
    print("| --- | --- | --- | --- |")
    for name, case in CASES.items():
        if name in old and name in new:
            ratio = new[name] / old[name]
            print(f"| {case.about} | {old[name]:,.0f} | {new[name]:,.0f} | {ratio:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", choices=list(CASES))
    parser.add_argument("calls", nargs="?", type=int)
    parser.add_argument("--profile", type=Path, metavar="DIR")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, averaged")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    arguments = parser.parse_args()
    if arguments.compare:
        compare(*arguments.compare)
    elif arguments.profile:
        names = arguments.cases.split(",")
        unknown = set(names) - set(CASES)
        if unknown:
            parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
        profile(arguments.profile, names, arguments.repeat)
    elif arguments.case is not None:
        calls = CASES[arguments.case].calls if arguments.calls is None else arguments.calls
        run_case(arguments.case, calls)
    else:
        parser.error("give CASE N, --profile DIR or --compare BEFORE AFTER")


if __name__ == "__main__":
    main()
