"""The ``paginate_consumer`` case."""

from __future__ import annotations

from harness import (
    USERS_PATH,
    BenchError,
    CaseResult,
    Context,
    CountedSampler,
    Goal,
    Sampler,
    WorkerSampler,
    alternate,
    close_all,
    fetch_access_token,
    format_bytes,
    format_ratio,
    format_time,
    goal_cells,
    median,
    start_server,
)

CONSUMER_LABELS = {
    "sleep": "druva `Session.paginate`, consumer in `time.sleep` (I/O-bound)",
    "busy": "druva `Session.paginate`, consumer in a busy loop (CPU-bound)",
    "none": "druva `Session.paginate`, no consumer: the network alone (measured)",
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
    # The network is what the listing takes with no consumer, in this run: the
    # server's sleeps overshoot `latency` (a timer's granularity) and the
    # transfer and the server's own time come on top. pages x latency is shown
    # beside it, a bound no real server reaches.
    nominal, consumer = pages * latency, pages * work
    network = median([run.wall for run in samples["none"]])
    overlapped, serial = max(network, consumer), network + consumer
    goals: dict[str, list[Goal]] = {}
    for client, kind in [("sleep", "I/O-bound"), ("busy", "CPU-bound")]:
        wall = median([run.wall for run in samples[client]])
        goals[client] = [
            Goal(
                f"≤ 1.1x max(network, consumer), {kind} consumer",
                f"{wall / overlapped:.2f}x, {format_time(wall, 'ms')} (the sum: "
                f"{serial / overlapped:.2f}x; {wall / max(nominal, consumer):.2f}x "
                f"max({pages} x latency, consumer))",
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
                goal_cells(goals.get(client, [])),
            ]
        )
    rows.append(
        [
            f"max(network, consumer) = max(the network alone, {pages} x "
            f"{format_time(work, 'ms')}) (computed)",
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
    rows.append(
        [
            f"{pages} x {format_time(latency, 'ms')} latency, the network's bound (computed)",
            format_time(nominal, "ms"),
            "",
            format_ratio(nominal / overlapped),
            format_ratio(nominal / serial),
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
        "fetched before the clock starts. Network = the same listing read with no consumer, "
        "sampled in alternation with the others (pages x latency is its lower bound: the "
        "server's sleeps overshoot, its own time and the transfer come on top), consumer = "
        "pages x the work; with the next page fetched "
        "while one is consumed, the wall time approaches the larger of the two, without it "
        "their sum. The server counted exactly one request a page in every run.",
        headers,
        rows,
        [goal for client_goals in goals.values() for goal in client_goals],
        druva={
            "wall, sleeping consumer": median([run.wall for run in samples["sleep"]]),
            "wall, busy consumer": median([run.wall for run in samples["busy"]]),
            "wall, no consumer": network,
        },
    )
