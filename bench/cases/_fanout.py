"""What the two fan-out cases (``fanout``, ``fanout_throttled``) share: the
samples of a batch, its table and its description."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Optional

from harness import (
    SMALL_PATH,
    CaseResult,
    Context,
    CountedSampler,
    Goal,
    Sample,
    Sampler,
    WorkerSampler,
    alternate,
    close_all,
    cpu_of,
    fetch_access_token,
    format_bytes,
    format_ratio,
    format_time,
    goal_cells,
    median,
    paired_ratio,
    start_server,
)

FANOUT_LABELS = {
    "druva": "druva `Session.map(paths, concurrency={c})`",
    "requests": "requests + `ThreadPoolExecutor({c})`, a pool of {c}",
    "aiohttp": "aiohttp, `asyncio.Semaphore({c})`",
}


def failed_calls(run: Sample) -> int:
    return int(run.extra["failed"])


def throttled_share(run: Sample, calls: int) -> float:
    """The share of the requests the server got that it answered 429: every
    request beyond one a call (the peers never retry, so theirs is 0)."""
    sent = int(run.extra["server_requests"])
    return (sent - calls) / sent if sent else 0.0


def throttled_result(
    key: str,
    title: str,
    about: str,
    samples: dict[str, list[Sample]],
    sizes: tuple[int, int],
    ideal: tuple[float, str],
    time_goal: Callable[[float], Goal],
) -> CaseResult:
    """The result of a throttled fan-out case (either throttling model) of
    ``sizes`` (calls, concurrency) against ``ideal`` (seconds, its label):
    druva's goals are the shared ones and ``time_goal`` of its median wall."""
    calls, concurrency = sizes
    shared_goals, kept = throttled_goals(samples["druva"], calls)
    goals = {"druva": [*shared_goals, time_goal(kept["wall / batch"])]}
    labels = {client: label.format(c=concurrency) for client, label in FANOUT_LABELS.items()}
    headers, rows = fanout_table(samples, labels, ideal[0], ideal[1], goals)
    return CaseResult(key, title, about, headers, rows, goals["druva"], druva=kept)


def throttled_goals(runs: Sequence[Sample], calls: int) -> tuple[list[Goal], dict[str, float]]:
    """druva's goals under either throttling model (no call failed, at most
    10 % of requests answered 429) and the medians kept for before → after."""
    failed = [failed_calls(run) for run in runs]
    share = median([throttled_share(run, calls) for run in runs])
    goals = [
        Goal(
            "druva 0 calls failed",
            f"{sum(failed)} failed in {len(runs)} batches",
            not any(failed),
            issue=12,
        ),
        Goal("druva ≤ 10 % of requests answered 429", f"{share:.1%}", share <= 0.10, issue=21),
    ]
    kept = {
        "wall / batch": median([run.wall for run in runs]),
        "failed calls / batch": float(median(failed)),
        "429 share / batch": share,
    }
    return goals, kept


def fanout_samples(
    context: Context,
    case: str,
    max_in_flight: Optional[int],
    rate_limit: Optional[int] = None,
    calls: Optional[int] = None,
) -> tuple[dict[str, list[Sample]], int, int, float]:
    """Every fan-out client against a FakeDruva of its own (latency, and
    ``max_in_flight`` or ``rate_limit`` when given), one batch of ``calls``
    (default ``--fanout-calls``) a sample, the server's count of API requests
    a batch beside it."""
    arguments = context.arguments
    calls = int(arguments.fanout_calls if calls is None else calls)
    concurrency = int(arguments.fanout_concurrency)
    latency = float(arguments.latency)
    server = start_server(
        context.control,
        users=10,
        latency=latency,
        max_in_flight=max_in_flight,
        rate_limit=rate_limit,
    )
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
