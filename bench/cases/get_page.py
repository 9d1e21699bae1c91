"""The ``get_page`` case."""

from __future__ import annotations

import urllib.parse

from harness import (
    USERS_PATH,
    CaseResult,
    Context,
    Goal,
    druva_medians,
    fetch_body,
    paired_ratio,
    run_workers,
    time_table,
)

from cases._get import GET_CLIENTS, GET_LABELS, floor_samplers, page_params, primp_cpu_goal


def case_get_page(context: Context) -> CaseResult:
    params = page_params(context)
    url = f"{context.main.base_url}{USERS_PATH}?{urllib.parse.urlencode(params)}"
    body = fetch_body(url, context.access_token)
    config = context.config(path=USERS_PATH, params=params)
    floors = floor_samplers(context, url, with_json=True)
    samples = run_workers(context, "get_page", GET_CLIENTS, config, floors)
    requests_ratio = paired_ratio(samples, "requests_oauthlib")
    primp_ratio = paired_ratio(samples, "primp")
    primp_goals = [
        Goal(
            "druva ≥ 1.15x primp's speed",
            f"primp takes {primp_ratio:.2f}x druva's time",
            primp_ratio >= 1.15,
            issue=12,
        ),
        primp_cpu_goal(samples, issue=12),
    ]
    requests_goal = Goal(
        "druva ≥ 10x faster", f"{requests_ratio:.1f}x faster", requests_ratio >= 10
    )
    headers, rows = time_table(
        samples, GET_LABELS, "µs", {"requests_oauthlib": requests_goal, "primp": primp_goals}
    )
    return CaseResult(
        "get_page",
        "Sequential GET + `.json()`, a users page",
        f"`GET {USERS_PATH}?pageSize={params['pageSize']}` ({len(body) / 1024:.1f} KiB JSON, "
        f"{params['pageSize']} users) on a kept connection, then `.json()`. Wall and CPU a "
        "call side by side; the CPU ratio to primp is the median of the per-round ratios.",
        headers,
        rows,
        [requests_goal, *primp_goals],
        notes=[context.floor_note] if context.floor_note else [],
        druva=druva_medians(samples, "/ call"),
    )
