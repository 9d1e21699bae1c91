"""The ``get_small`` case."""

from __future__ import annotations

from harness import (
    SMALL_PATH,
    CaseResult,
    Context,
    Goal,
    druva_medians,
    fetch_body,
    paired_ratio,
    run_workers,
    time_table,
)

from cases._get import GET_CLIENTS, GET_LABELS, floor_samplers, primp_cpu_goal


def case_get_small(context: Context) -> CaseResult:
    config = context.config(path=SMALL_PATH)
    body = fetch_body(context.main.base_url + SMALL_PATH, context.access_token)
    floors = floor_samplers(context, context.main.base_url + SMALL_PATH, with_json=False)
    samples = run_workers(context, "get_small", GET_CLIENTS, config, floors)
    goals: dict[str, Goal] = {}
    if "floor" in samples:
        ratio = 1 / paired_ratio(samples, "floor")
        goals["floor"] = Goal("druva ≤ 1.3x floor", f"druva = {ratio:.2f}x floor", ratio <= 1.3)
    if "primp" in samples:
        goals["primp"] = primp_cpu_goal(samples, issue=21)
    headers, rows = time_table(samples, GET_LABELS, "µs", goals)
    return CaseResult(
        "get_small",
        "Sequential GET, small body",
        f"`GET {SMALL_PATH}` ({len(body)} B JSON) on a kept connection with the bearer "
        "token, body read as bytes (`.content`), one call after another.",
        headers,
        rows,
        list(goals.values()),
        notes=[context.floor_note] if context.floor_note else [],
        druva=druva_medians(samples, "/ call"),
    )
