"""Soak: many requests through one ``druva.Session`` from many threads while
tokens expire every 2 seconds and ~1% of API calls answer 503.

Usage: python bench/soak.py [--requests 100000] [--threads 16] [--token-lifetime 2]
       [--fail-every 100] [--rate 0] [--rss-baseline 10000] [--max-rss-growth-mb 5]

It asserts that
- no call failed: every call returned 200 (503s are retried by the session);
- the token requests match the renewal policy: a short-lived token is renewed
  at half its life, so about ``duration / (lifetime / 2)`` of them;
- the client's RSS grew by less than ``--max-rss-growth-mb`` from the moment
  ``--rss-baseline`` requests were done to the end (checked only when the run
  is at least five times the baseline, so the short CI run skips it).

FakeDruva runs in a child process, not in this one: its request log, issued
tokens and fault queue would otherwise count in the RSS under test, and the
client's growth could hide behind (or be blamed on) the server's. Both
processes share the machine's cores either way. The child injects one 503 for
every ``--fail-every`` API requests it has received, so faults are spread over
the whole run instead of queued back to back.

CI runs the short form, paced so that it spans a few token lifetimes:
``python bench/soak.py --requests 5000 --threads 16 --rate 1000``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

PATH = "/insync/usermanagement/v1/users"
PARAMS = {"pageSize": 5}


def rss_bytes() -> int:
    """The resident set size of this process now (not the peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


# The server side, in a child process.


def serve(token_lifetime: float, fail_every: int) -> None:
    """Runs FakeDruva and answers commands on stdin, one JSON line each:
    ``counters`` and ``stop``. Injects a 503 every ``fail_every`` API requests."""
    from druva.testing import FakeDruva

    with FakeDruva(token_lifetime=token_lifetime, users=50, page_size=5) as fake:
        injected = [0]
        stopping = threading.Event()

        def inject_faults() -> None:
            while not stopping.wait(0.002):
                due = fake.api_requests // fail_every
                while injected[0] < due:
                    fake.fail_next(503, path="/insync")
                    injected[0] += 1

        injector = threading.Thread(target=inject_faults, daemon=True)
        injector.start()
        reply(
            sys.stdout,
            {"base_url": fake.base_url, "client_id": fake.client_id, "secret": fake.secret},
        )
        for line in sys.stdin:
            command = line.strip()
            if command == "counters":
                reply(
                    sys.stdout,
                    {
                        "token_requests": fake.token_requests,
                        "api_requests": fake.api_requests,
                        "injected_503s": injected[0],
                    },
                )
            elif command == "stop":
                break
        stopping.set()
        injector.join()


def reply(stream: TextIO, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


class Server:
    """The child process running FakeDruva."""

    def __init__(self, token_lifetime: float, fail_every: int) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                "--token-lifetime",
                str(token_lifetime),
                "--fail-every",
                str(fail_every),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self.read()

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the FakeDruva child process exited")
        message: dict[str, Any] = json.loads(line)
        return message

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read()

    def stop(self) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write("stop\n")
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# The client side: this process.


@dataclass
class Progress:
    """What the worker threads did, and the RSS at the baseline."""

    done: list[int]
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def total(self) -> int:
        return sum(self.done)


def run_workers(session: Any, requests: int, threads: int, rate: float, progress: Progress) -> None:
    """Sends ``requests`` calls from ``threads`` threads, at most ``rate`` a
    second in all (0: as fast as they go)."""
    interval = threads / rate if rate > 0 else 0.0
    started = time.monotonic()

    def worker(index: int, quota: int) -> None:
        for sent in range(quota):
            if interval:
                time.sleep(max(0.0, started + sent * interval - time.monotonic()))
            try:
                response = session.get(PATH, params=PARAMS)
                if response.status_code != 200:
                    raise RuntimeError(f"status {response.status_code}")
            except Exception as error:
                with progress.lock:
                    progress.failures.append(f"{type(error).__name__}: {error}")
            progress.done[index] += 1

    quotas = [requests // threads + (1 if i < requests % threads else 0) for i in range(threads)]
    workers = [threading.Thread(target=worker, args=(i, quota)) for i, quota in enumerate(quotas)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


def watch_rss(progress: Progress, baseline_at: int, finished: threading.Event) -> dict[str, int]:
    """Samples RSS once ``baseline_at`` requests are done; returns what it saw."""
    seen: dict[str, int] = {}

    def watch() -> None:
        while not finished.wait(0.005):
            if progress.total() >= baseline_at:
                seen["baseline"] = rss_bytes()
                return

    threading.Thread(target=watch, daemon=True).start()
    return seen


def soak(arguments: argparse.Namespace) -> int:
    import druva

    server = Server(arguments.token_lifetime, arguments.fail_every)
    try:
        info = server.info
        with druva.Session(info["client_id"], info["secret"], base_url=info["base_url"]) as s:
            first_token_at = time.monotonic()
            s.get(PATH, params=PARAMS).raise_for_status()  # connect, first token
            rss_start = rss_bytes()
            progress = Progress(done=[0] * arguments.threads)
            finished = threading.Event()
            seen = watch_rss(progress, arguments.rss_baseline, finished)
            started = time.monotonic()
            run_workers(s, arguments.requests, arguments.threads, arguments.rate, progress)
            ended = time.monotonic()
            duration = ended - started
            finished.set()
            rss_end = rss_bytes()
        counters = server.ask("counters")
    finally:
        server.stop()
    tokens_span = ended - first_token_at
    return report(arguments, progress, counters, duration, tokens_span, rss_start, seen, rss_end)


def report(
    arguments: argparse.Namespace,
    progress: Progress,
    counters: dict[str, Any],
    duration: float,
    tokens_span: float,
    rss_start: int,
    seen: dict[str, int],
    rss_end: int,
) -> int:
    mib = 1024 * 1024
    tokens = counters["token_requests"]
    # The warm-up's token, then a renewal at every half-life since it was fetched.
    expected_tokens = 1 + tokens_span // (arguments.token_lifetime / 2)
    retries = counters["api_requests"] - 1 - progress.total()
    baseline = seen.get("baseline")
    print(f"requests          {progress.total()} from {arguments.threads} threads")
    print(f"duration          {duration:.2f} s ({progress.total() / duration:.0f} requests/s)")
    print(f"failed calls      {len(progress.failures)}")
    print(f"injected 503s     {counters['injected_503s']} ({retries} retries sent)")
    print(
        f"token requests    {tokens} (expected {expected_tokens:.0f} for "
        f"{arguments.token_lifetime:g} s tokens renewed at half-life)"
    )
    print(f"RSS at start      {rss_start / mib:.1f} MiB")
    if baseline is not None:
        print(f"RSS at {arguments.rss_baseline:<10} {baseline / mib:.1f} MiB")
    print(f"RSS at end        {rss_end / mib:.1f} MiB", end="")
    if baseline is not None:
        print(f" (growth since {arguments.rss_baseline}: {(rss_end - baseline) / mib:+.2f} MiB)")
    else:
        print()

    problems = [f"{len(progress.failures)} failed calls, e.g. {progress.failures[:3]}"] * bool(
        progress.failures
    )
    # Each renewal comes a little after its half-life, so the count may lag.
    tolerance = 1 + 0.05 * expected_tokens
    if abs(tokens - expected_tokens) > tolerance:
        problems.append(
            f"{tokens} token requests, expected {expected_tokens:.1f} ± {tolerance:.1f}"
        )
    if counters["injected_503s"] == 0 and progress.total() >= 2 * arguments.fail_every:
        problems.append("no 503 was injected: the soak did not exercise retries")
    if baseline is not None and progress.total() >= 5 * arguments.rss_baseline:
        growth = rss_end - baseline
        if growth >= arguments.max_rss_growth_mb * mib:
            problems.append(
                f"RSS grew {growth / mib:.2f} MiB after {arguments.rss_baseline} requests "
                f"(limit {arguments.max_rss_growth_mb} MiB)"
            )
    for problem in problems:
        print(f"FAILED: {problem}")
    print("soak: " + ("FAILED" if problems else "OK"))
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--token-lifetime", type=float, default=2.0)
    parser.add_argument("--fail-every", type=int, default=100, help="one 503 per N API requests")
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="at most this many requests a second (default: unpaced); a short run paced "
        "to last a few token lifetimes still checks the renewals",
    )
    parser.add_argument("--rss-baseline", type=int, default=10_000)
    parser.add_argument("--max-rss-growth-mb", type=float, default=5.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve(arguments.token_lifetime, arguments.fail_every)
        return
    sys.exit(soak(arguments))


if __name__ == "__main__":
    main()
