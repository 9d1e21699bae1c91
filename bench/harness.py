"""What every case of the benchmark shares: the processes that answer one JSON
line per JSON line (the FakeDruva server, the client workers), the samplers
that alternate clients round after round, the numbers and their formatting,
the context a case runs in, and the build of the Rust floor."""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import queue
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
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

LARGE_PAGE = 4097  # the most records Druva puts on a page


class BenchError(RuntimeError):
    """A worker, the server or the floor failed: the run stops with its message."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    rate_limit: Optional[int] = None,
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
    if rate_limit is not None:
        message["rate_limit"] = rate_limit
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
    if "share" in metric:
        return f"{value:.1%}"
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
