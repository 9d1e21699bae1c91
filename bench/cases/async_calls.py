"""The ``async`` case."""

from __future__ import annotations

from harness import (
    SMALL_PATH,
    CaseResult,
    Context,
    Goal,
    cpu_of,
    format_bytes,
    format_ratio,
    format_time,
    median,
    paired_ratio,
    run_workers,
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
