"""The ``fanout_rate_limited`` case: the fan-out against a server that takes
R requests a second (a token bucket holding one second's worth), the other
throttling model Druva may use (its Sentinel connector polls at 10 a second)."""

from __future__ import annotations

from harness import CaseResult, Context, Goal, format_time

from cases._fanout import fanout_about, fanout_samples, throttled_result


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

    def time_goal(wall: float) -> Goal:
        return Goal(
            f"druva ≤ 1.25x N/rate ({calls} ÷ {rate}/s)",
            f"{wall / ideal:.2f}x, {format_time(wall, 'ms')}",
            wall <= 1.25 * ideal,
            issue=21,
        )

    return throttled_result(
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
        samples,
        (calls, concurrency),
        (ideal, f"N/rate: {calls} ÷ {rate} a second (computed, not run)"),
        time_goal,
    )
