"""The ``fanout_throttled`` case."""

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


def case_fanout_throttled(context: Context) -> CaseResult:
    limit = int(context.arguments.fanout_throttle)
    samples, calls, concurrency, latency = fanout_samples(context, "fanout_throttled", limit)
    ideal = calls / limit * latency
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
                issue=12,
            ),
            Goal(
                f"druva ≤ 1.6x ideal at {limit}",
                f"{druva_wall / ideal:.2f}x ideal, {format_time(druva_wall, 'ms')}",
                druva_wall <= 1.6 * ideal,
                issue=12,
            ),
            Goal(
                "druva ≤ 10 % of requests answered 429",
                f"{druva_throttled:.1%}",
                druva_throttled <= 0.10,
                issue=21,
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
            "flight; druva's session has its defaults (no `max_concurrency`): after a 429 its "
            "limiter halves what it lets through, paces the starts a round trip apart and grows "
            "back one place a round trip (TCP's congestion avoidance). A "
            "client whose calls fail can finish within the ideal: a 429 ends its call early",
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
