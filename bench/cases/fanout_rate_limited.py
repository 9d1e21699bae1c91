"""The ``fanout_rate_limited`` case: the fan-out against a server that takes
R requests a second (a token bucket holding one second's worth), the other
throttling model Druva may use (its Sentinel connector polls at 10 a second)."""

from __future__ import annotations

from harness import CaseResult, Context, Goal, format_time, median

from cases._fanout import (
    FANOUT_LABELS,
    failed_calls,
    fanout_about,
    fanout_samples,
    fanout_table,
    throttled_share,
)


def case_fanout_rate_limited(context: Context) -> CaseResult:
    rate = int(context.arguments.fanout_rate)
    samples, calls, concurrency, latency = fanout_samples(
        context,
        "fanout_rate_limited",
        None,
        rate_limit=rate,
        calls=int(context.arguments.fanout_rate_calls),
    )
    ideal = calls / rate
    druva_runs = samples["druva"]
    druva_wall = median([run.wall for run in druva_runs])
    druva_failed = [failed_calls(run) for run in druva_runs]
    druva_throttled = median([throttled_share(run, calls) for run in druva_runs])
    labels = {client: label.format(c=concurrency) for client, label in FANOUT_LABELS.items()}
    goals = {
        "druva": [
            Goal(
                "druva 0 calls failed",
                f"{sum(druva_failed)} failed in {len(druva_runs)} batches",
                not any(druva_failed),
                issue=21,
            ),
            Goal(
                f"druva ≤ 1.25x N/rate ({calls} ÷ {rate}/s)",
                f"{druva_wall / ideal:.2f}x, {format_time(druva_wall, 'ms')}",
                druva_wall <= 1.25 * ideal,
                issue=21,
            ),
            Goal(
                "druva ≤ 10 % of requests answered 429",
                f"{druva_throttled:.1%}",
                druva_throttled <= 0.10,
                issue=21,
            ),
        ]
    }
    ideal_label = f"N/rate: {calls} ÷ {rate} a second (computed, not run)"
    headers, rows = fanout_table(samples, labels, ideal, ideal_label, goals)
    return CaseResult(
        "fanout_rate_limited",
        f"Rate-limited fan-out, {calls} GETs, {concurrency} at a time, "
        f"the server taking {rate} a second",
        fanout_about(
            calls,
            concurrency,
            latency,
            f", and takes at most {rate} API requests a second (a token bucket holding one "
            "second's worth, full at the start, so a batch can beat N/rate by that second), "
            "answering `429` (no `Retry-After`) beyond; druva's session has its defaults: "
            "after a 429 its limiter halves what it lets through and spaces the starts a "
            "round trip apart, then grows back one place a round trip (at least 0.5 s). A "
            "client whose calls fail can finish early: a 429 ends its call",
        ),
        headers,
        rows,
        goals["druva"],
        druva={
            "wall / batch": druva_wall,
            "failed calls / batch": float(median(druva_failed)),
            "429 share / batch": druva_throttled,
        },
    )
