"""The ``storm`` case."""

from __future__ import annotations

from typing import Any

from harness import (
    CLIENTS,
    PYTHON,
    CaseResult,
    Child,
    Context,
    Goal,
    format_time,
    log,
    median,
    start_server,
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
