"""The ``paginate`` case."""

from __future__ import annotations

import urllib.parse

from harness import (
    CLIENTS,
    PYTHON,
    USERS_PATH,
    BenchError,
    CaseResult,
    Context,
    Goal,
    OneShotSampler,
    Sample,
    Sampler,
    alternate,
    cpu_of,
    fetch_access_token,
    fetch_body,
    format_bytes,
    format_ratio,
    format_time,
    log,
    median,
    paired_ratio,
    start_server,
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
