"""The benchmark harness of issues 5 and 12: druva against its peers and the floor.

    python bench/run.py                          # every case; writes bench/RESULTS.md
    python bench/run.py --smoke                  # every case at a tiny size, for CI
    python bench/run.py --cases get_small,get_page --repeat 11

The fan-out cases (``fanout``, ``fanout_throttled``) and ``paginate_consumer``
run against a FakeDruva of their own with ``latency`` (and ``max_in_flight``)
set; their ideals are computed, not run.

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
import base64
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import queue
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional, Protocol, Union

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
CLIENTS = str(BENCH / "clients.py")

SMALL_PATH = "/insync/profilemanagement/v1/profiles"
USERS_PATH = "/insync/usermanagement/v1/users"
PEERS = [
    "druva",
    "requests",
    "requests-oauthlib",
    "oauthlib",
    "authlib",
    "httpx",
    "httpx-auth",
    "aiohttp",
    "primp",
    "pyreqwest",
    "orjson",
    "msgspec",
]
CASES = [
    "token_cached",
    "token_cold",
    "get_small",
    "get_page",
    "json",
    "async",
    "storm",
    "paginate",
    "paginate_consumer",
    "fanout",
    "fanout_throttled",
    "import",
]
LARGE_PAGE = 4097  # the most records Druva puts on a page


class BenchError(RuntimeError):
    """A worker, the server or the floor failed: the run stops with its message."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- processes that answer one JSON line per JSON line ---


class Child:
    """A subprocess speaking JSON lines on stdin/stdout; stderr passes through."""

    def __init__(self, name: str, argv: Sequence[str], first_line: Optional[dict[str, Any]] = None):
        self.name = name
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=ROOT,
        )
        self.lines: queue.Queue[Optional[str]] = queue.Queue()
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        if first_line is not None:
            self.send(first_line)

    def _read(self, stream: Optional[IO[str]]) -> None:
        assert stream is not None
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError as error:
            raise BenchError(f"{self.name} is gone (exit {self.process.wait()})") from error

    def receive(self, timeout: float = 900.0) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"{self.name}: no answer within {timeout:.0f} s") from None
        if line is None:
            raise BenchError(f"{self.name} exited with status {self.process.wait()}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise BenchError(f"{self.name}: {reply['error']}")
        return reply

    def call(self, message: dict[str, Any], timeout: float = 900.0) -> dict[str, Any]:
        self.send(message)
        return self.receive(timeout)

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Server:
    """One FakeDruva inside the server process."""

    id: int
    base_url: str
    token_url: str
    client_id: str
    secret: str
    token_lifetime: float

    def config(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "token_url": self.token_url,
            "client_id": self.client_id,
            "secret": self.secret,
            "token_lifetime": self.token_lifetime,
        }


def start_server(
    control: Child,
    users: int,
    page_size: int = 100,
    token_lifetime: float = 7200,
    latency: float = 0.0,
    max_in_flight: Optional[int] = None,
) -> Server:
    message: dict[str, Any] = {
        "op": "start",
        "users": users,
        "page_size": page_size,
        "token_lifetime": token_lifetime,
        "latency": latency,
    }
    if max_in_flight is not None:
        message["max_in_flight"] = max_in_flight
    reply = control.call(message)
    return Server(
        reply["id"],
        reply["base_url"],
        reply["token_url"],
        reply["client_id"],
        reply["secret"],
        token_lifetime,
    )


def loopback_get(url: str, headers: dict[str, str], data: Optional[bytes] = None) -> bytes:
    """One request to a FakeDruva, stdlib only (POST when ``data`` is given)."""
    if not url.startswith("http://127.0.0.1:"):
        raise BenchError(f"not a loopback FakeDruva URL: {url}")
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        body: bytes = response.read()
    return body


def fetch_access_token(server: Server) -> str:
    """A token for the clients that take a bearer token as is."""
    basic = base64.b64encode(f"{server.client_id}:{server.secret}".encode()).decode()
    body = loopback_get(
        server.token_url,
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        b"grant_type=client_credentials",
    )
    token: str = json.loads(body)["access_token"]
    return token


def fetch_body(url: str, access_token: str) -> bytes:
    return loopback_get(url, {"Authorization": f"Bearer {access_token}"})


# --- samples and samplers ---


@dataclass
class Sample:
    wall: float  # seconds per call (per run for one-shot cases)
    cpu: float
    max_rss_kib: int
    calls: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    server_cpu: float = 0.0  # the server process's CPU seconds per call meanwhile
    server_calls: int = 0  # requests the server saw for this sample, when not ``calls``


class Sampler(Protocol):
    name: str

    def prepare(self, seconds: float) -> None: ...

    def sample(self) -> Sample: ...

    def close(self) -> None: ...


def sample_of(reply: dict[str, Any], calls: int) -> Sample:
    return Sample(
        reply["wall_s"] / calls, reply["cpu_s"] / calls, int(reply["max_rss_kib"]), calls, reply
    )


class WorkerSampler:
    """One client in a long-lived worker process; ``calls`` a sample."""

    def __init__(self, case: str, client: str, config: dict[str, Any], calls: Optional[int] = None):
        self.name = client
        self.calls = calls or 1
        self.fixed = calls is not None
        self.child = Child(f"{case}/{client}", [PYTHON, CLIENTS, case, client], config)

    def ready(self) -> None:
        self.child.receive()

    def prepare(self, seconds: float) -> None:
        if not self.fixed:
            self.calls = int(self.child.call({"op": "calibrate", "seconds": seconds})["n"])

    def sample(self) -> Sample:
        return sample_of(self.child.call({"op": "run", "n": self.calls}), self.calls)

    def close(self) -> None:
        self.child.close()


class FloorSampler:
    """The raw Rust reqwest loop, a fresh process a sample."""

    def __init__(
        self, name: str, binary: Path, url: str, access_token: str, decode_json: bool
    ) -> None:
        self.name = name
        self.argv = [str(binary), url, access_token]
        self.flags = ["--json"] if decode_json else []
        self.calls = 1

    def run(self, calls: int, warmup: int) -> Sample:
        argv = [*self.argv, str(calls), *self.flags, "--warmup", str(warmup)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise BenchError(f"{self.name}: {done.stderr.strip()}")
        return sample_of(json.loads(done.stdout), calls)

    def prepare(self, seconds: float) -> None:
        probe = self.run(200, 20)
        self.calls = max(10, round(seconds / max(probe.wall, 1e-9)))

    def sample(self) -> Sample:
        sample = self.run(self.calls, 100)
        sample.server_calls = self.calls + 100
        return sample

    def close(self) -> None:
        pass


class OneShotSampler:
    """A fresh process a sample: ``argv`` prints one JSON line and exits."""

    def __init__(self, name: str, argv: Sequence[str], config: Optional[dict[str, Any]] = None):
        self.name = name
        self.argv = list(argv)
        self.config = config

    def prepare(self, seconds: float) -> None:
        self.sample()  # warms the page cache and any .pyc files

    def sample(self) -> Sample:
        stdin = json.dumps(self.config) + "\n" if self.config is not None else ""
        done = subprocess.run(
            self.argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"{self.name}: {done.stderr.strip()[-2000:]}")
        return sample_of(json.loads(done.stdout.strip().splitlines()[-1]), 1)

    def close(self) -> None:
        pass


def server_cpu_seconds(control: Child) -> float:
    return float(control.call({"op": "usage"})["cpu_s"])


class CountedSampler:
    """Another sampler whose samples also carry the API requests one server
    received meanwhile (``extra["server_requests"]``: retries included)."""

    def __init__(self, inner: Sampler, control: Child, server: Server) -> None:
        self.name = inner.name
        self.inner, self.control, self.server = inner, control, server

    def api_requests(self) -> int:
        return int(self.control.call({"op": "counters", "id": self.server.id})["api_requests"])

    def prepare(self, seconds: float) -> None:
        self.inner.prepare(seconds)

    def sample(self) -> Sample:
        before = self.api_requests()
        sample = self.inner.sample()
        sample.extra["server_requests"] = self.api_requests() - before
        return sample

    def close(self) -> None:
        self.inner.close()


def alternate(
    case: str,
    samplers: Sequence[Sampler],
    rounds: int,
    seconds: float,
    control: Optional[Child] = None,
) -> dict[str, list[Sample]]:
    """Every sampler once a round, the order rotated each round. With the
    server's ``control``, each sample also gets the server's CPU a call."""
    for sampler in samplers:
        sampler.prepare(seconds)
    samples: dict[str, list[Sample]] = {sampler.name: [] for sampler in samplers}
    for round_number in range(rounds):
        shift = round_number % len(samplers)
        for sampler in [*samplers[shift:], *samplers[:shift]]:
            server_before = server_cpu_seconds(control) if control else 0.0
            sample = sampler.sample()
            if control:
                server_calls = sample.server_calls or sample.calls
                sample.server_cpu = (server_cpu_seconds(control) - server_before) / server_calls
            samples[sampler.name].append(sample)
        log(f"  {case}: round {round_number + 1}/{rounds}")
    return samples


def close_all(samplers: Sequence[Sampler]) -> None:
    for sampler in samplers:
        sampler.close()


# --- numbers and their formatting ---


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def wall_of(sample: Sample) -> float:
    return sample.wall


def cpu_of(sample: Sample) -> float:
    return sample.cpu


def paired_ratio(
    samples: dict[str, list[Sample]],
    client: str,
    reference: str = "druva",
    metric: Callable[[Sample], float] = wall_of,
) -> float:
    """Median over rounds of client ÷ reference, each round's pair side by side."""
    return median(
        [metric(mine) / metric(theirs) for mine, theirs in zip(samples[client], samples[reference])]
    )


def format_time(seconds: float, unit: str) -> str:
    scale = {"ns": 1e9, "µs": 1e6, "ms": 1e3, "s": 1.0}[unit]
    value = seconds * scale
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def format_metric(metric: str, value: float) -> str:
    """A druva median for the before/after table: a time unless named otherwise."""
    if "req/s" in metric:
        return f"{value:,.0f} req/s"
    if "pages" in metric:
        return f"{value:.2f} pages"
    if metric.startswith("failed"):
        return f"{value:,.0f} calls"
    unit = "ns" if value < 1e-6 else "µs" if value < 1e-3 else "ms" if value < 1 else "s"
    return format_time(value, unit)


def format_bytes(count: float) -> str:
    if abs(count) >= 1 << 20:
        return f"{count / (1 << 20):,.1f} MiB"
    return f"{count / 1024:,.1f} KiB"


def format_ratio(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.1f}x"


@dataclass
class Goal:
    text: str
    measured: str
    met: bool
    issue: int = 5  # the issue that set it

    @property
    def status(self) -> str:
        return "met" if self.met else "**not met**"

    def cell(self) -> str:
        return f"{self.text}: {self.status} ({self.measured})"


@dataclass
class CaseResult:
    key: str
    title: str
    about: str
    headers: list[str]
    rows: list[list[str]]
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    druva: dict[str, float] = field(default_factory=dict)  # for before/after


def goal_cells(goals: Union[Goal, Sequence[Goal], None]) -> str:
    """The goal column of a row: its goals, each with its status."""
    if goals is None:
        return ""
    if isinstance(goals, Goal):
        return goals.cell()
    return "; ".join(goal.cell() for goal in goals)


def time_table(
    samples: dict[str, list[Sample]],
    labels: dict[str, str],
    unit: str,
    goals: Optional[Mapping[str, Union[Goal, Sequence[Goal]]]] = None,
) -> tuple[list[str], list[list[str]]]:
    """Per client: median wall a call, min-max, median CPU a call (the client's
    and, when measured, the server's), peak RSS, ratios to druva, goal."""
    goals = goals or {}
    with_server = any(run.server_cpu for runs in samples.values() for run in runs)
    headers = ["client", "wall / call (median)", "min - max", "CPU / call"]
    headers += ["server CPU / call"] if with_server else []
    headers += ["peak RSS", "time ÷ druva's", "CPU ÷ druva's", "goal"]
    rows = []
    for client, runs in samples.items():
        walls = [run.wall for run in runs]
        row = [
            labels.get(client, client),
            format_time(median(walls), unit),
            f"{format_time(min(walls), unit)} - {format_time(max(walls), unit)}",
            format_time(median([run.cpu for run in runs]), unit),
        ]
        if with_server:
            row.append(format_time(median([run.server_cpu for run in runs]), unit))
        row += [
            format_bytes(max(run.max_rss_kib for run in runs) * 1024),
            format_ratio(paired_ratio(samples, client)),
            format_ratio(paired_ratio(samples, client, metric=cpu_of)),
            goal_cells(goals.get(client)),
        ]
        rows.append(row)
    return headers, rows


def druva_medians(samples: dict[str, list[Sample]], unit_name: str) -> dict[str, float]:
    runs = samples.get("druva", [])
    if not runs:
        return {}
    return {
        f"wall {unit_name}".strip(): median([run.wall for run in runs]),
        f"CPU {unit_name}".strip(): median([run.cpu for run in runs]),
    }


# --- the cases ---


@dataclass
class Context:
    arguments: argparse.Namespace
    control: Child
    main: Server
    access_token: str
    floor: Optional[Path]
    floor_note: str

    def config(self, **extra: Any) -> dict[str, Any]:
        return {**self.main.config(), "access_token": self.access_token, **extra}

    @property
    def rounds(self) -> int:
        return int(self.arguments.repeat)

    @property
    def seconds(self) -> float:
        return float(self.arguments.seconds)


def run_workers(
    context: Context,
    case: str,
    clients: Sequence[str],
    config: dict[str, Any],
    extra: Sequence[Sampler] = (),
    calls: Optional[int] = None,
    measure_server: bool = True,
) -> dict[str, list[Sample]]:
    workers = [WorkerSampler(case, client, config, calls) for client in clients]
    samplers: list[Sampler] = [*workers, *extra]
    try:
        for worker in workers:
            worker.ready()
        control = context.control if measure_server else None
        return alternate(case, samplers, context.rounds, context.seconds, control)
    finally:
        close_all(samplers)


def case_token_cached(context: Context) -> CaseResult:
    clients = [
        "druva",
        "druva_module",
        "dict",
        "dict_get",
        "authlib",
        "httpx_auth",
        "oauthlib_sample",
    ]
    samples = run_workers(context, "token_cached", clients, context.config())
    druva_ns = median([run.wall for run in samples["druva"]])
    module_ns = median([run.wall for run in samples["druva_module"]])
    dict_gets = paired_ratio(samples, "druva_module", "dict_get")
    goals = {
        "druva": Goal("≤ 0.5 µs", format_time(druva_ns, "ns"), druva_ns <= 0.5e-6),
        "druva_module": Goal(
            "≤ 0.2 µs with keyword arguments",
            f"{format_time(module_ns, 'ns')} = {dict_gets:.1f} `dict.get` calls",
            module_ns <= 0.2e-6,
            issue=12,
        ),
    }
    labels = {
        "druva": "druva `get_token` (cache hit)",
        "druva_module": "druva `druva.get_token(cid, secret, base_url=...)`",
        "dict": "Python dict lookup (floor)",
        "dict_get": "Python `dict.get`",
        "authlib": "Authlib `ensure_active_token`",
        "httpx_auth": "httpx-auth token cache",
        "oauthlib_sample": "oauthlib sample `getToken()`",
    }
    headers, rows = time_table(samples, labels, "ns", goals)
    return CaseResult(
        "token_cached",
        "Cached token",
        "A call that asks for a token already cached. druva: `get_token(client_id, secret, "
        "base_url=base_url)` with the function bound to a name, and as users write it, "
        "`druva.get_token(...)` through the module, `base_url` a keyword argument. The oauthlib "
        "sample has no cache: every `getToken()` is a full exchange on a new connection. "
        "Authlib: `OAuth2Session.ensure_active_token(token)` (the expiry check before each "
        "request); httpx-auth: `OAuth2.token_cache.get_token(...)` (what its auth flow runs); "
        "all timed as one statement in a `timeit` loop, which the dict lookup (`cache[key]`) "
        "and `cache.get(key)` show the cost of; the goal counts druva's hit in `dict.get` calls.",
        headers,
        rows,
        list(goals.values()),
        druva={
            **druva_medians(samples, "/ call"),
            "wall / call, `druva.get_token` with keywords": module_ns,
        },
    )


def case_token_cold(context: Context) -> CaseResult:
    clients = ["druva", "requests_oauthlib", "authlib_httpx", "oauthlib_sample"]
    samples = run_workers(context, "token_cold", clients, context.config())
    labels = {
        "druva": "druva `get_token(force_refresh=True)`",
        "requests_oauthlib": "requests_oauthlib `fetch_token` (kept session)",
        "authlib_httpx": "Authlib httpx `OAuth2Client.fetch_token`",
        "oauthlib_sample": "oauthlib sample `getToken()` (new session a call)",
    }
    headers, rows = time_table(samples, labels, "µs")
    return CaseResult(
        "token_cold",
        "Cold token exchange",
        "One `POST /token` (client credentials, Basic auth) and the token parsed, every call.",
        headers,
        rows,
        druva=druva_medians(samples, "/ call"),
    )


def floor_samplers(context: Context, url: str, with_json: bool) -> list[Sampler]:
    if context.floor is None:
        return []
    samplers: list[Sampler] = [
        FloorSampler("floor", context.floor, url, context.access_token, decode_json=False)
    ]
    if with_json:
        samplers.append(FloorSampler("floor_json", context.floor, url, context.access_token, True))
    return samplers


GET_CLIENTS = ["druva", "requests_oauthlib", "authlib", "httpx", "primp", "pyreqwest"]
GET_LABELS = {
    "druva": "druva `Session.get`",
    "requests_oauthlib": "requests_oauthlib `OAuth2Session.get`",
    "authlib": "Authlib `OAuth2Session.get` (requests)",
    "httpx": "httpx `Client.get` (bearer header)",
    "primp": "primp `Client.get`",
    "pyreqwest": "pyreqwest `SyncClient`",
    "floor": "raw Rust reqwest loop (floor)",
    "floor_json": "raw Rust reqwest + serde_json `Value`",
}


def case_get_small(context: Context) -> CaseResult:
    config = context.config(path=SMALL_PATH)
    body = fetch_body(context.main.base_url + SMALL_PATH, context.access_token)
    floors = floor_samplers(context, context.main.base_url + SMALL_PATH, with_json=False)
    samples = run_workers(context, "get_small", GET_CLIENTS, config, floors)
    goals: dict[str, Goal] = {}
    if "floor" in samples:
        ratio = 1 / paired_ratio(samples, "floor")
        goals["floor"] = Goal("druva ≤ 1.3x floor", f"druva = {ratio:.2f}x floor", ratio <= 1.3)
    headers, rows = time_table(samples, GET_LABELS, "µs", goals)
    return CaseResult(
        "get_small",
        "Sequential GET, small body",
        f"`GET {SMALL_PATH}` ({len(body)} B JSON) on a kept connection with the bearer "
        "token, body read as bytes (`.content`), one call after another.",
        headers,
        rows,
        list(goals.values()),
        notes=[context.floor_note] if context.floor_note else [],
        druva=druva_medians(samples, "/ call"),
    )


def page_params(context: Context) -> dict[str, str]:
    return {"pageSize": str(context.arguments.page_records)}


def case_get_page(context: Context) -> CaseResult:
    params = page_params(context)
    url = f"{context.main.base_url}{USERS_PATH}?{urllib.parse.urlencode(params)}"
    body = fetch_body(url, context.access_token)
    config = context.config(path=USERS_PATH, params=params)
    floors = floor_samplers(context, url, with_json=True)
    samples = run_workers(context, "get_page", GET_CLIENTS, config, floors)
    requests_ratio = paired_ratio(samples, "requests_oauthlib")
    primp_ratio = paired_ratio(samples, "primp")
    cpu_ratio = paired_ratio(samples, "druva", "primp", cpu_of)
    primp_goals = [
        Goal(
            "druva ≥ 1.15x primp's speed",
            f"primp takes {primp_ratio:.2f}x druva's time",
            primp_ratio >= 1.15,
            issue=12,
        ),
        Goal(
            "druva's CPU / call ≤ primp's",
            f"druva's CPU is {cpu_ratio:.2f}x primp's",
            cpu_ratio <= 1,
            issue=12,
        ),
    ]
    requests_goal = Goal(
        "druva ≥ 10x faster", f"{requests_ratio:.1f}x faster", requests_ratio >= 10
    )
    headers, rows = time_table(
        samples, GET_LABELS, "µs", {"requests_oauthlib": requests_goal, "primp": primp_goals}
    )
    return CaseResult(
        "get_page",
        "Sequential GET + `.json()`, a users page",
        f"`GET {USERS_PATH}?pageSize={params['pageSize']}` ({len(body) / 1024:.1f} KiB JSON, "
        f"{params['pageSize']} users) on a kept connection, then `.json()`. Wall and CPU a "
        "call side by side; the CPU ratio to primp is the median of the per-round ratios.",
        headers,
        rows,
        [requests_goal, *primp_goals],
        notes=[context.floor_note] if context.floor_note else [],
        druva=druva_medians(samples, "/ call"),
    )


JSON_CLIENTS = ["druva", "orjson", "msgspec", "json_loads"]
JSON_LABELS = {
    "druva": "druva `Response.json()`",
    "orjson": "`orjson.loads(response.content)`",
    "msgspec": "`msgspec.json.decode(response.content)`",
    "json_loads": "`json.loads(response.content)`",
}


def json_goals(samples: dict[str, list[Sample]], page: str) -> dict[str, list[Goal]]:
    """Issue 12's goal on a page, and on the users page issue 5's too."""
    orjson_ratio = 1 / paired_ratio(samples, "orjson")
    goals = {
        "orjson": [
            Goal(
                f"≤ 1.0x orjson, {page}",
                f"{orjson_ratio:.2f}x orjson",
                orjson_ratio <= 1.0,
                issue=12,
            )
        ]
    }
    if page == "users page":
        loads_ratio = 1 / paired_ratio(samples, "json_loads")
        goals["json_loads"] = [
            Goal("≤ 0.5x `json.loads`", f"{loads_ratio:.2f}x", loads_ratio <= 0.5)
        ]
    return goals


def case_json(context: Context) -> CaseResult:
    params = page_params(context)
    config = context.config(path=USERS_PATH, params=params)
    pages = [("users page", f"{params['pageSize']} users", config)]
    log(f"  json: starting a FakeDruva with {LARGE_PAGE} users")
    large = start_server(context.control, users=LARGE_PAGE)
    try:
        large_params = {"pageSize": str(LARGE_PAGE)}
        large_config = {
            **large.config(),
            "access_token": fetch_access_token(large),
            "path": USERS_PATH,
            "params": large_params,
        }
        pages.append((f"{LARGE_PAGE}-record page", f"{LARGE_PAGE} users", large_config))
        sizes = [
            len(
                fetch_body(
                    f"{page_config['base_url']}{USERS_PATH}?"
                    f"{urllib.parse.urlencode(page_config['params'])}",
                    page_config["access_token"],
                )
            )
            for _, _, page_config in pages
        ]
        tables = [
            run_workers(context, "json", JSON_CLIENTS, page_config, measure_server=False)
            for _, _, page_config in pages
        ]
    finally:
        context.control.call({"op": "stop", "id": large.id})
    headers: list[str] = []
    rows: list[list[str]] = []
    goals: list[Goal] = []
    druva: dict[str, float] = {}
    for (page, records, _), size, samples in zip(pages, sizes, tables):
        page_goals = json_goals(samples, page)
        unit = "µs" if median([run.wall for run in samples["druva"]]) < 1e-3 else "ms"
        table_headers, table_rows = time_table(samples, JSON_LABELS, unit, page_goals)
        headers = ["page", *table_headers]
        rows += [[f"{records}, {format_bytes(size)}", *row] for row in table_rows]
        goals += [goal for client in JSON_CLIENTS for goal in page_goals.get(client, [])]
        suffix = "" if page == "users page" else f", {page}"
        druva.update(
            {
                f"wall / decode{suffix}": median([run.wall for run in samples["druva"]]),
                f"CPU / decode{suffix}": median([run.cpu for run in samples["druva"]]),
            }
        )
    return CaseResult(
        "json",
        "`Response.json()` against orjson, msgspec and `json.loads`",
        f"Decoding the same bytes again and again: the users page ({params['pageSize']} users) "
        f"and a page of {LARGE_PAGE} users (the most Druva puts on a page), each fetched once "
        "from FakeDruva. druva's decoder against orjson's `loads`, msgspec's `json.decode` and "
        "the standard library's `json.loads`, all given the response's bytes; the clients of "
        "each page are sampled in alternation, and the ratios are to druva on that page.",
        headers,
        rows,
        goals,
        druva=druva,
    )


def case_async(context: Context) -> CaseResult:
    arguments = context.arguments
    calls, in_flight = int(arguments.async_calls), int(arguments.in_flight)
    config = context.config(path=SMALL_PATH, in_flight=in_flight)
    clients = ["druva", "aiohttp", "httpx", "authlib", "primp"]
    samples = run_workers(context, "async", clients, config, calls=calls)
    druva_rps = median([1 / run.wall for run in samples["druva"]])
    aiohttp_rps = median([1 / run.wall for run in samples["aiohttp"]])
    rps_ratio = paired_ratio(
        samples, "aiohttp"
    )  # aiohttp's time ÷ druva's = druva's rate ÷ aiohttp's
    cpu_ratio = paired_ratio(samples, "druva", "aiohttp", cpu_of)
    goal = Goal(
        "druva ≥ 1.5x aiohttp's req/s, less CPU a request",
        f"{rps_ratio:.2f}x req/s, {cpu_ratio:.2f}x CPU",
        rps_ratio >= 1.5 and cpu_ratio < 1,
    )
    labels = {
        "druva": "druva `AsyncSession`",
        "aiohttp": "aiohttp `ClientSession` (bearer header)",
        "httpx": "httpx `AsyncClient` (bearer header)",
        "authlib": "Authlib `AsyncOAuth2Client`",
        "primp": "primp `AsyncClient`",
    }
    headers = [
        "client",
        "req/s (median)",
        "min - max",
        "CPU / request",
        "server CPU / request",
        "peak RSS",
        "time ÷ druva's",
        "CPU ÷ druva's",
        "goal",
    ]
    rows = []
    for client, runs in samples.items():
        rates = [1 / run.wall for run in runs]
        rows.append(
            [
                labels[client],
                f"{median(rates):,.0f}",
                f"{min(rates):,.0f} - {max(rates):,.0f}",
                format_time(median([run.cpu for run in runs]), "µs"),
                format_time(median([run.server_cpu for run in runs]), "µs"),
                format_bytes(max(run.max_rss_kib for run in runs) * 1024),
                format_ratio(paired_ratio(samples, client)),
                format_ratio(paired_ratio(samples, client, metric=cpu_of)),
                goal.cell() if client == "aiohttp" else "",
            ]
        )
    return CaseResult(
        "async",
        f"Async, {calls} calls with {in_flight} in flight",
        f"`GET {SMALL_PATH}` + `.json()`, {calls} calls a sample, {in_flight} coroutines each "
        f"awaiting one call after another; req/s = {calls} ÷ wall time. aiohttp's median: "
        f"{aiohttp_rps:,.0f} req/s, druva's: {druva_rps:,.0f} req/s.",
        headers,
        rows,
        [goal],
        druva={"req/s": druva_rps, "CPU / request": median([r.cpu for r in samples["druva"]])},
    )


def case_storm(context: Context) -> CaseResult:
    arguments = context.arguments
    tasks, threads = int(arguments.storm_tasks), int(arguments.storm_threads)
    worker = Child("storm/druva", [PYTHON, CLIENTS, "storm", "druva"], context.config())
    token_requests: list[int] = []
    runs: list[dict[str, Any]] = []
    try:
        worker.receive()
        for round_number in range(context.rounds):
            # Fresh credentials on a fresh server: a cache key never seen before.
            server = start_server(context.control, users=10)
            reply = worker.call(
                {"op": "storm", "tasks": tasks, "threads": threads, **server.config()}
            )
            counters = context.control.call({"op": "counters", "id": server.id})
            context.control.call({"op": "stop", "id": server.id})
            token_requests.append(int(counters["token_requests"]))
            runs.append(reply)
            log(f"  storm: round {round_number + 1}/{context.rounds}")
    finally:
        worker.close()
    waiters = tasks + threads

    def latency(share: float) -> float:
        per_run = [
            run["latencies_s"][min(len(run["latencies_s"]) - 1, int(share * waiters))]
            for run in runs
        ]
        return median(per_run)

    answered = [len(run["latencies_s"]) for run in runs]
    errors = [error for run in runs for error in run["errors"]]
    one_request = all(count == 1 for count in token_requests)
    goal = Goal(
        "exactly 1 token request",
        f"{', '.join(map(str, token_requests))} a storm",
        one_request and all(n == waiters for n in answered) and not errors,
    )
    headers = [
        "client",
        "token requests (each storm)",
        "distinct tokens",
        "waiters answered",
        "latency median",
        "p99",
        "max",
        "CPU / storm",
        "goal",
    ]
    rows = [
        [
            f"druva: {tasks} tasks (`get_token_async`) + {threads} threads (`get_token`)",
            ", ".join(map(str, token_requests)),
            ", ".join(str(run["distinct_tokens"]) for run in runs),
            f"{min(answered)} of {waiters}",
            format_time(latency(0.5), "ms"),
            format_time(latency(0.99), "ms"),
            format_time(median([run["latencies_s"][-1] for run in runs]), "ms"),
            format_time(median([run["cpu_s"] for run in runs]), "ms"),
            goal.cell(),
        ]
    ]
    notes = [
        "Each storm runs against a FakeDruva started for it alone (fresh credentials, so a "
        "cold cache and a new connection); the number of token requests is that server's own "
        "counter, read through bench/server.py's control channel (stdin/stdout), not from the "
        "client. Latency is from the moment all waiters are released to each one's return; "
        "the statistics are medians over the storms."
    ]
    if errors:
        notes.append(f"Errors: {errors[:3]}")
    return CaseResult(
        "storm",
        "Token storm on a cold cache",
        f"{tasks} asyncio tasks and {threads} threads ask for the same token at once.",
        headers,
        rows,
        [goal],
        notes,
        druva={
            "latency median": latency(0.5),
            "latency max": median([r["latencies_s"][-1] for r in runs]),
        },
    )


def case_paginate(context: Context) -> CaseResult:
    arguments = context.arguments
    records = int(arguments.paginate_records)
    log(f"  paginate: starting a FakeDruva with {records} users")
    server = start_server(context.control, users=records, page_size=4097)
    try:
        access_token = fetch_access_token(server)
        params = {"pageSize": "4097"}
        first_page = fetch_body(
            f"{server.base_url}{USERS_PATH}?{urllib.parse.urlencode(params)}", access_token
        )
        config = {
            **server.config(),
            "access_token": access_token,
            "path": USERS_PATH,
            "params": params,
        }
        samplers: list[Sampler] = [
            OneShotSampler(client, [PYTHON, CLIENTS, "paginate", client], config)
            for client in ["druva", "requests_oauthlib"]
        ]
        samples = alternate("paginate", samplers, context.rounds, context.seconds, context.control)
    finally:
        context.control.call({"op": "stop", "id": server.id})
    page_bytes = len(first_page)
    for runs in samples.values():
        for run in runs:
            if run.extra["records"] != records:
                raise BenchError(f"paginate returned {run.extra['records']} of {records} records")

    def beyond(run: Sample) -> float:
        extra = run.extra
        return float(extra["peak_rss_bytes"] - extra["baseline_rss_bytes"] - extra["results_bytes"])

    druva_beyond = median([beyond(run) for run in samples["druva"]])

    def decoded_page(runs: list[Sample]) -> float:
        """One full page's share of the results, as Python objects."""
        return median([run.extra["results_bytes"] for run in runs]) * 4097 / records

    speedup = paired_ratio(samples, "requests_oauthlib")
    goals = {
        "requests_oauthlib": Goal("druva ≥ 2x faster", f"{speedup:.2f}x faster", speedup >= 2),
        "druva": Goal(
            "peak ≤ results + 1.5 pages",
            f"{druva_beyond / page_bytes:.2f} pages of JSON",
            druva_beyond <= 1.5 * page_bytes,
        ),
    }
    labels = {
        "druva": "druva `list(Session.paginate(...))`",
        "requests_oauthlib": "requests_oauthlib hand-written loop",
    }
    headers = [
        "client",
        "wall (median)",
        "min - max",
        "CPU",
        "server CPU",
        "peak RSS",
        "results",
        "peak beyond baseline + results",
        "time ÷ druva's",
        "CPU ÷ druva's",
        "goal",
    ]
    rows = []
    for client, runs in samples.items():
        walls = [run.wall for run in runs]
        over = median([beyond(run) for run in runs])
        rows.append(
            [
                labels[client],
                format_time(median(walls), "s"),
                f"{format_time(min(walls), 's')} - {format_time(max(walls), 's')}",
                format_time(median([run.cpu for run in runs]), "s"),
                format_time(median([run.server_cpu for run in runs]), "s"),
                format_bytes(median([run.extra["peak_rss_bytes"] for run in runs])),
                format_bytes(median([run.extra["results_bytes"] for run in runs])),
                f"{format_bytes(over)} = {over / page_bytes:.2f} pages of JSON"
                f" = {over / decoded_page(runs):.2f} decoded pages",
                format_ratio(paired_ratio(samples, client)),
                format_ratio(paired_ratio(samples, client, metric=cpu_of)),
                goals[client].cell(),
            ]
        )
    pages = -(-records // 4097)
    return CaseResult(
        "paginate",
        f"Paginate {records:,} records",
        f"Every user of a FakeDruva holding {records:,}, 4097 a page ({pages} pages; one page "
        f"is {format_bytes(page_bytes)} of JSON), collected into one list. Each run is a fresh "
        "process, so its peak RSS is its own.",
        headers,
        rows,
        list(goals.values()),
        [
            "Baseline: the process's RSS after imports, session and token, just before the "
            "loop. Results: every object the returned list reaches, each counted once at the "
            "size the allocator hands out (`sys.getsizeof` rounded up to pymalloc's 16-byte "
            "classes, or malloc's header and alignment above 512 bytes). The rest of the peak "
            "is what the loop held besides the results. The goal counts it in pages of JSON "
            f"body ({format_bytes(page_bytes)}, what the server sends for one page); a decoded "
            "page (its records as Python objects) is also shown."
        ],
        druva={
            "wall / run": median([run.wall for run in samples["druva"]]),
            "beyond results (pages)": druva_beyond / page_bytes,
        },
    )


FANOUT_LABELS = {
    "druva": "druva `Session.map(paths, concurrency={c})`",
    "requests": "requests + `ThreadPoolExecutor({c})`, a pool of {c}",
    "aiohttp": "aiohttp, `asyncio.Semaphore({c})`",
}


def failed_calls(run: Sample) -> int:
    return int(run.extra["failed"])


def fanout_samples(
    context: Context, case: str, max_in_flight: Optional[int]
) -> tuple[dict[str, list[Sample]], int, int, float]:
    """Every fan-out client against a FakeDruva of its own (latency, and
    ``max_in_flight`` when given), one batch a sample, the server's count of
    API requests a batch beside it."""
    arguments = context.arguments
    calls, concurrency = int(arguments.fanout_calls), int(arguments.fanout_concurrency)
    latency = float(arguments.latency)
    server = start_server(context.control, users=10, latency=latency, max_in_flight=max_in_flight)
    config = {
        **server.config(),
        "access_token": fetch_access_token(server),
        "path": SMALL_PATH,
        "calls": calls,
        "concurrency": concurrency,
    }
    workers = [WorkerSampler(case, client, config, calls=1) for client in FANOUT_LABELS]
    samplers: list[Sampler] = [
        CountedSampler(worker, context.control, server) for worker in workers
    ]
    try:
        for worker in workers:
            worker.ready()
        samples = alternate(case, samplers, context.rounds, context.seconds, context.control)
    finally:
        close_all(samplers)
        context.control.call({"op": "stop", "id": server.id})
    return samples, calls, concurrency, latency


def fanout_table(
    samples: dict[str, list[Sample]],
    labels: dict[str, str],
    ideal: float,
    ideal_label: str,
    goals: Mapping[str, Sequence[Goal]],
) -> tuple[list[str], list[list[str]]]:
    """Per client: wall a batch against the ideal, CPU, the requests the server
    saw and the calls that failed (each a median, min - max across rounds)."""
    headers = [
        "client",
        "wall / batch (median)",
        "min - max",
        "÷ ideal",
        "CPU / batch",
        "server CPU / batch",
        "requests the server got",
        "calls failed (min - max)",
        "peak RSS",
        "time ÷ druva's",
        "CPU ÷ druva's",
        "goal",
    ]
    rows = []
    for client, runs in samples.items():
        walls = [run.wall for run in runs]
        failed = [failed_calls(run) for run in runs]
        sent = [int(run.extra["server_requests"]) for run in runs]
        rows.append(
            [
                labels[client],
                format_time(median(walls), "ms"),
                f"{format_time(min(walls), 'ms')} - {format_time(max(walls), 'ms')}",
                format_ratio(median(walls) / ideal),
                format_time(median([run.cpu for run in runs]), "ms"),
                format_time(median([run.server_cpu for run in runs]), "ms"),
                f"{median(sent):,.0f} ({min(sent):,} - {max(sent):,})",
                f"{median(failed):,.0f} ({min(failed):,} - {max(failed):,})",
                format_bytes(max(run.max_rss_kib for run in runs) * 1024),
                format_ratio(paired_ratio(samples, client)),
                format_ratio(paired_ratio(samples, client, metric=cpu_of)),
                goal_cells(goals.get(client)),
            ]
        )
    rows.append([ideal_label, format_time(ideal, "ms"), "", "1.00x", *[""] * 8])
    return headers, rows


def fanout_about(calls: int, concurrency: int, latency: float, extra: str) -> str:
    return (
        f"{calls} `GET {SMALL_PATH}` calls (body read as bytes), {concurrency} at a time, "
        f"against a FakeDruva of its own that waits {format_time(latency, 'ms')} before every "
        f"answer (a WAN round trip){extra}. One batch a sample, each on a new client (session, "
        "connection pool) built and closed outside the clock, so every batch starts cold as a "
        "script's does; the bearer token is fetched beforehand (druva's from its cache). "
        "requests: a `requests.Session` with `HTTPAdapter(pool_maxsize="
        f"{concurrency})` and `ThreadPoolExecutor({concurrency}).map` (the executor is made "
        f"inside the clock); aiohttp: one task a call, `asyncio.Semaphore({concurrency})`, the "
        "default connector (up to 100 connections). A call fails when its final answer is not "
        "2xx, after the client's own retry handling: druva's (429s retried, see DESIGN.md), "
        "none for the peers, as a user writes them. The server's count of API requests "
        "includes every retry. The ideal is computed, not run."
    )


def case_fanout(context: Context) -> CaseResult:
    samples, calls, concurrency, latency = fanout_samples(context, "fanout", None)
    for client, runs in samples.items():
        if any(failed_calls(run) for run in runs):
            statuses = [run.extra["statuses"] for run in runs]
            raise BenchError(f"fanout: {client} failed calls without throttling: {statuses}")
    ideal = calls / concurrency * latency
    druva_wall = median([run.wall for run in samples["druva"]])
    labels = {client: label.format(c=concurrency) for client, label in FANOUT_LABELS.items()}
    peers = [client for client in samples if client != "druva"]
    best = min(peers, key=lambda peer: paired_ratio(samples, peer))
    best_ratio = paired_ratio(samples, best)
    goals = {
        "druva": [
            Goal(
                "druva ≤ 1.25x ideal",
                f"{druva_wall / ideal:.2f}x ideal, {format_time(druva_wall, 'ms')}",
                druva_wall <= 1.25 * ideal,
                issue=12,
            ),
            Goal(
                "druva no slower than the best peer",
                f"{best} (fastest peer) takes {best_ratio:.2f}x druva's time",
                best_ratio >= 1,
                issue=12,
            ),
        ]
    }
    ideal_label = (
        f"ideal: {calls} ÷ {concurrency} x {format_time(latency, 'ms')} (computed, not run)"
    )
    headers, rows = fanout_table(samples, labels, ideal, ideal_label, goals)
    return CaseResult(
        "fanout",
        f"Fan-out, {calls} GETs at {format_time(latency, 'ms')} latency, {concurrency} at a time",
        fanout_about(calls, concurrency, latency, ""),
        headers,
        rows,
        goals["druva"],
        druva={
            "wall / batch": druva_wall,
            "CPU / batch": median([run.cpu for run in samples["druva"]]),
        },
    )


def case_fanout_throttled(context: Context) -> CaseResult:
    limit = int(context.arguments.fanout_throttle)
    samples, calls, concurrency, latency = fanout_samples(context, "fanout_throttled", limit)
    ideal = calls / limit * latency
    druva_runs = samples["druva"]
    druva_wall = median([run.wall for run in druva_runs])
    druva_failed = [failed_calls(run) for run in druva_runs]
    labels = {client: label.format(c=concurrency) for client, label in FANOUT_LABELS.items()}
    goals = {
        "druva": [
            Goal(
                "druva 0 calls failed",
                f"{sum(druva_failed)} failed in {len(druva_runs)} batches",
                not any(druva_failed),
                issue=12,
            ),
            Goal(
                f"druva ≤ 1.6x ideal at {limit}",
                f"{druva_wall / ideal:.2f}x ideal, {format_time(druva_wall, 'ms')}",
                druva_wall <= 1.6 * ideal,
                issue=12,
            ),
        ]
    }
    ideal_label = (
        f"ideal at {limit}: {calls} ÷ {limit} x {format_time(latency, 'ms')} (computed, not run)"
    )
    headers, rows = fanout_table(samples, labels, ideal, ideal_label, goals)
    return CaseResult(
        "fanout_throttled",
        f"Throttled fan-out, {calls} GETs, {concurrency} at a time, the server taking {limit}",
        fanout_about(
            calls,
            concurrency,
            latency,
            f", and answers `429` (no `Retry-After`) to any API request beyond {limit} in "
            "flight; druva's session has its defaults (no `max_concurrency`): what it lets "
            "through halves after a 429 and grows back with successes. A "
            "client whose calls fail can finish within the ideal: a 429 ends its call early",
        ),
        headers,
        rows,
        goals["druva"],
        druva={
            "wall / batch": druva_wall,
            "failed calls / batch": float(median(druva_failed)),
        },
    )


CONSUMER_LABELS = {
    "sleep": "druva `Session.paginate`, consumer in `time.sleep` (I/O-bound)",
    "busy": "druva `Session.paginate`, consumer in a busy loop (CPU-bound)",
}


def case_paginate_consumer(context: Context) -> CaseResult:
    arguments = context.arguments
    pages, page_size = int(arguments.consumer_pages), int(arguments.consumer_page_size)
    latency, work = float(arguments.latency), float(arguments.consumer_work)
    records = pages * page_size
    server = start_server(context.control, users=records, page_size=page_size, latency=latency)
    config = {
        **server.config(),
        "access_token": fetch_access_token(server),
        "path": USERS_PATH,
        "params": {"pageSize": str(page_size)},
        "page_size": page_size,
        "work_s": work,
    }
    workers = [
        WorkerSampler("paginate_consumer", client, config, calls=1) for client in CONSUMER_LABELS
    ]
    samplers: list[Sampler] = [
        CountedSampler(worker, context.control, server) for worker in workers
    ]
    try:
        for worker in workers:
            worker.ready()
        samples = alternate(
            "paginate_consumer", samplers, context.rounds, context.seconds, context.control
        )
    finally:
        close_all(samplers)
        context.control.call({"op": "stop", "id": server.id})
    for client, runs in samples.items():
        for run in runs:
            if run.extra["records"] != [records] or run.extra["server_requests"] != pages:
                raise BenchError(
                    f"paginate_consumer/{client}: {run.extra['records']} records in "
                    f"{run.extra['server_requests']} requests, not {records} in {pages}"
                )
    network, consumer = pages * latency, pages * work
    overlapped, serial = max(network, consumer), network + consumer
    goals: dict[str, list[Goal]] = {}
    for client, kind in [("sleep", "I/O-bound"), ("busy", "CPU-bound")]:
        wall = median([run.wall for run in samples[client]])
        goals[client] = [
            Goal(
                f"≤ 1.1x max(network, consumer), {kind} consumer",
                f"{wall / overlapped:.2f}x, {format_time(wall, 'ms')} (the sum: "
                f"{serial / overlapped:.2f}x)",
                wall <= 1.1 * overlapped,
                issue=12,
            )
        ]
    headers = [
        "client",
        "wall (median)",
        "min - max",
        "÷ max(network, consumer)",
        "÷ network + consumer",
        "CPU",
        "server CPU",
        "peak RSS",
        "goal",
    ]
    rows = []
    for client, runs in samples.items():
        walls = [run.wall for run in runs]
        rows.append(
            [
                CONSUMER_LABELS[client],
                format_time(median(walls), "ms"),
                f"{format_time(min(walls), 'ms')} - {format_time(max(walls), 'ms')}",
                format_ratio(median(walls) / overlapped),
                format_ratio(median(walls) / serial),
                format_time(median([run.cpu for run in runs]), "ms"),
                format_time(median([run.server_cpu for run in runs]), "ms"),
                format_bytes(max(run.max_rss_kib for run in runs) * 1024),
                goal_cells(goals[client]),
            ]
        )
    rows.append(
        [
            f"max(network, consumer) = max({pages} x {format_time(latency, 'ms')}, "
            f"{pages} x {format_time(work, 'ms')}) (computed)",
            format_time(overlapped, "ms"),
            "",
            "1.00x",
            format_ratio(overlapped / serial),
            *[""] * 4,
        ]
    )
    rows.append(
        [
            "network + consumer, one after the other (computed)",
            format_time(serial, "ms"),
            "",
            format_ratio(serial / overlapped),
            "1.00x",
            *[""] * 4,
        ]
    )
    return CaseResult(
        "paginate_consumer",
        f"Paginate {pages} pages at {format_time(latency, 'ms')} latency, a consumer "
        f"spending {format_time(work, 'ms')} a page",
        f"`Session.paginate` over {records:,} users, {page_size} a page ({pages} pages, each "
        f"answered after {format_time(latency, 'ms')} by a FakeDruva of its own), the records "
        f"consumed in the caller's thread, which spends {format_time(work, 'ms')} on the first "
        "record of each page: in `time.sleep` (an I/O-bound consumer, e.g. writing to a "
        "database; the GIL is released) or in a busy loop on `time.perf_counter()` (a "
        "CPU-bound one, which holds the GIL and competes with decoding for it). The token is "
        "fetched before the clock starts. Network = pages x latency (the server's own time and "
        "the transfer come on top), consumer = pages x the work; with the next page fetched "
        "while one is consumed, the wall time approaches the larger of the two, without it "
        "their sum. The server counted exactly one request a page in every run.",
        headers,
        rows,
        [goal for client in CONSUMER_LABELS for goal in goals[client]],
        druva={
            "wall, sleeping consumer": median([run.wall for run in samples["sleep"]]),
            "wall, busy consumer": median([run.wall for run in samples["busy"]]),
        },
    )


IMPORT_SNIPPET = """\
import sys, time
wall, cpu = time.perf_counter(), time.process_time()
__import__(sys.argv[1])
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
import json, resource
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "max_rss_kib": peak}))
"""


def case_import(context: Context) -> CaseResult:
    samplers: list[Sampler] = [
        OneShotSampler(module, [PYTHON, "-I", "-c", IMPORT_SNIPPET, module])
        for module in ["druva", "requests_oauthlib"]
    ]
    samples = alternate("import", samplers, max(context.rounds, 5), context.seconds)
    druva_wall = median([run.wall for run in samples["druva"]])
    goal = Goal("≤ 30 ms", format_time(druva_wall, "ms"), druva_wall <= 0.030)
    labels = {"druva": "`import druva`", "requests_oauthlib": "`import requests_oauthlib`"}
    headers, rows = time_table(samples, labels, "ms", {"druva": goal})
    return CaseResult(
        "import",
        "Import time",
        "A fresh interpreter (`python -I -c`) each time, timing the import statement alone "
        "(interpreter start-up excluded); peak RSS is the whole interpreter's.",
        headers,
        rows,
        [goal],
        druva=druva_medians(samples, ""),
    )


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
    "import": case_import,
}


# --- the floor binary ---


def build_floor(profile: str) -> tuple[Optional[Path], str]:
    """Builds bench/floor.rs with cargo; returns its path and a note for the report."""
    if shutil.which("cargo") is None:
        return None, "The Rust floor was skipped: no cargo on PATH."
    command = ["cargo", "build", "-p", "druva-core", "--example", "bench_floor"]
    if profile == "release":
        command.append("--release")
    log(f"building the floor: {shlex.join(command)}")
    command.append("--message-format=json")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"cargo build of bench_floor failed:\n{done.stderr[-3000:]}")
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message.get("target", {}).get("name") == "bench_floor" and message.get("executable"):
            note = (
                ""
                if profile == "release"
                else (
                    "The floor was built in the dev profile (smoke run): its numbers are not a floor."
                )
            )
            return Path(message["executable"]), note
    raise BenchError("cargo built bench_floor but named no executable")


# --- the report ---


def read_field(path: str, key: str, separator: str = ":") -> str:
    """The value of the first ``key<separator>value`` line of a file, or "unknown"."""
    try:
        with open(path) as lines:
            for line in lines:
                name, found, value = line.partition(separator)
                if found and name.strip() == key:
                    return value.strip().strip('"')
    except OSError:
        pass
    return "unknown"


def machine() -> list[tuple[str, str]]:
    memory_kib = read_field("/proc/meminfo", "MemTotal").split()[0]
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    rustc = shutil.which("rustc")
    rust_version = "none"
    if rustc:
        done = subprocess.run([rustc, "--version"], capture_output=True, text=True, check=False)
        rust_version = done.stdout.strip()
    versions = []
    for name in PEERS:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    memory = f"{int(memory_kib) / (1 << 20):.1f} GiB" if memory_kib.isdigit() else "unknown"
    os_name = read_field("/etc/os-release", "PRETTY_NAME", "=")
    return [
        ("CPU", read_field("/proc/cpuinfo", "model name")),
        ("cores", f"{os.cpu_count()} logical, {usable} usable by this process"),
        ("memory", memory),
        ("OS", f"{os_name}; {platform.platform()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("Rust (floor)", rust_version),
        ("packages", ", ".join(versions)),
        ("load average at start", ", ".join(f"{value:.2f}" for value in os.getloadavg())),
    ]


def git_head() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def before_after(results: Sequence[CaseResult], before: dict[str, Any], source: str) -> list[str]:
    """The goals and druva's own medians of an earlier run against this one's."""
    goal_rows = []
    for result in results:
        earlier = {
            text: measured for text, measured, _ in before.get("goals", {}).get(result.key, [])
        }
        for goal in result.goals:
            if goal.text in earlier:
                goal_rows.append([result.title, goal.text, earlier[goal.text], goal.measured])
    median_rows = []
    for result in results:
        for metric, value in result.druva.items():
            old = before.get("druva", {}).get(result.key, {}).get(metric)
            if old:
                median_rows.append(
                    [
                        result.title,
                        metric,
                        format_metric(metric, old),
                        format_metric(metric, value),
                        f"{value / old:.2f}x",
                    ]
                )
    return [
        "## Before → after",
        "",
        f"Before: `{source}` ({before.get('command', 'unknown command')}, "
        f"{before.get('when', 'unknown date')}). Ratios within one run are the fair "
        "comparison; absolute medians of two runs on a shared machine are only indicative.",
        "",
        markdown_table(["case", "goal", "before", "after"], goal_rows),
        "",
        markdown_table(
            ["case", "druva's median", "before", "after", "after ÷ before"],
            median_rows,
        ),
        "",
    ]


def report(
    results: Sequence[CaseResult],
    command: str,
    arguments: argparse.Namespace,
    about_machine: list[tuple[str, str]],
    elapsed: float,
    before: Optional[dict[str, Any]],
) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    parts = [
        "# Benchmark results",
        "",
        f"Produced by `{command}` on {now}, in {elapsed:.0f} s, measuring the druva "
        f"installed in `{sys.prefix}` (source tree at `{git_head()}`)."
        + (" **Smoke run: too few iterations to mean anything.**" if arguments.smoke else ""),
        "",
        "Taken on a shared machine (2 cores, other engineers' builds and tests running): "
        "absolute numbers move from run to run; the clients of a case were sampled in "
        f"alternation, {arguments.repeat} rounds, so their ratios are the fair comparison. "
        "Medians over the rounds, min - max across them; CPU is `time.process_time()` of the "
        "client's own process (all its threads); peak RSS is that process's `ru_maxrss`; "
        "time ÷ druva's is the median of the per-round ratios. FakeDruva ran in its own "
        "process (bench/server.py), every client in another (bench/clients.py).",
        "",
        *[f"{note}\n" for note in arguments.note],
        "## Machine",
        "",
        markdown_table(["", ""], [*about_machine, ("load average at end", load)]),
        "",
        "## Goals (issues 5 and 12)",
        "",
        markdown_table(
            ["case", "goal", "measured", "status", "issue"],
            [
                [result.title, goal.text, goal.measured, goal.status, str(goal.issue)]
                for result in results
                for goal in result.goals
            ],
        ),
        "",
    ]
    if before is not None:
        parts += before_after(results, before, str(arguments.compare))
    if (BENCH / "PROFILES.md").exists():
        parts += [
            "Profiles of the goals not met, and what would be needed: [PROFILES.md](PROFILES.md).",
            "",
        ]
    for result in results:
        parts += [f"## {result.title}", "", result.about, ""]
        parts += [markdown_table(result.headers, result.rows), ""]
        for note in result.notes:
            parts += [note, ""]
    return "\n".join(parts)


# --- command line ---


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
            "command": command,
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
