"""The ``fanout`` case."""

from __future__ import annotations

from harness import BenchError, CaseResult, Context, Goal, format_time, median, paired_ratio

from cases._fanout import FANOUT_LABELS, failed_calls, fanout_about, fanout_samples, fanout_table


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
