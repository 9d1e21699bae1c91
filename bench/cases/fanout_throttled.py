"""The ``fanout_throttled`` case."""

from __future__ import annotations

from harness import CaseResult, Context, Goal, format_time

from cases._fanout import fanout_about, fanout_samples, throttled_result


def case_fanout_throttled(context: Context) -> CaseResult:
    limit = int(context.arguments.fanout_throttle)
    samples, calls, concurrency, latency = fanout_samples(context, "fanout_throttled", limit)
    ideal = calls / limit * latency

    def time_goal(wall: float) -> Goal:
        return Goal(
            f"druva ≤ 1.6x ideal at {limit}",
            f"{wall / ideal:.2f}x ideal, {format_time(wall, 'ms')}",
            wall <= 1.6 * ideal,
            issue=12,
        )

    return throttled_result(
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
        samples,
        (calls, concurrency),
        (
            ideal,
            f"ideal at {limit}: {calls} ÷ {limit} x {format_time(latency, 'ms')} "
            "(computed, not run)",
        ),
        time_goal,
    )
