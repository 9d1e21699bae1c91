"""The ``json`` case."""

from __future__ import annotations

import urllib.parse

from harness import (
    LARGE_PAGE,
    USERS_PATH,
    CaseResult,
    Context,
    Goal,
    Sample,
    fetch_access_token,
    fetch_body,
    format_bytes,
    log,
    median,
    paired_ratio,
    run_workers,
    start_server,
    time_table,
)

from cases._get import page_params

JSON_CLIENTS = ["druva", "orjson", "msgspec", "json_loads"]
JSON_LABELS = {
    "druva": "druva `Response.json()`",
    "orjson": "`orjson.loads(response.content)`",
    "msgspec": "`msgspec.json.decode(response.content)`",
    "json_loads": "`json.loads(response.content)`",
}


def json_goals(samples: dict[str, list[Sample]], page: str) -> dict[str, list[Goal]]:
    """Issue 12's goal on a page, and on the users page issue 5's too."""
    orjson_ratio = 1 / paired_ratio(samples, "orjson")
    goals = {
        "orjson": [
            Goal(
                f"≤ 1.0x orjson, {page}",
                f"{orjson_ratio:.2f}x orjson",
                orjson_ratio <= 1.0,
                issue=12,
            )
        ]
    }
    if page == "users page":
        loads_ratio = 1 / paired_ratio(samples, "json_loads")
        goals["json_loads"] = [
            Goal("≤ 0.5x `json.loads`", f"{loads_ratio:.2f}x", loads_ratio <= 0.5)
        ]
    return goals


def case_json(context: Context) -> CaseResult:
    params = page_params(context)
    config = context.config(path=USERS_PATH, params=params)
    pages = [("users page", f"{params['pageSize']} users", config)]
    log(f"  json: starting a FakeDruva with {LARGE_PAGE} users")
    large = start_server(context.control, users=LARGE_PAGE)
    try:
        large_params = {"pageSize": str(LARGE_PAGE)}
        large_config = {
            **large.config(),
            "access_token": fetch_access_token(large),
            "path": USERS_PATH,
            "params": large_params,
        }
        pages.append((f"{LARGE_PAGE}-record page", f"{LARGE_PAGE} users", large_config))
        sizes = [
            len(
                fetch_body(
                    f"{page_config['base_url']}{USERS_PATH}?"
                    f"{urllib.parse.urlencode(page_config['params'])}",
                    page_config["access_token"],
                )
            )
            for _, _, page_config in pages
        ]
        tables = [
            run_workers(context, "json", JSON_CLIENTS, page_config, measure_server=False)
            for _, _, page_config in pages
        ]
    finally:
        context.control.call({"op": "stop", "id": large.id})
    headers: list[str] = []
    rows: list[list[str]] = []
    goals: list[Goal] = []
    druva: dict[str, float] = {}
    for (page, records, _), size, samples in zip(pages, sizes, tables):
        page_goals = json_goals(samples, page)
        unit = "µs" if median([run.wall for run in samples["druva"]]) < 1e-3 else "ms"
        table_headers, table_rows = time_table(samples, JSON_LABELS, unit, page_goals)
        headers = ["page", *table_headers]
        rows += [[f"{records}, {format_bytes(size)}", *row] for row in table_rows]
        goals += [goal for client in JSON_CLIENTS for goal in page_goals.get(client, [])]
        suffix = "" if page == "users page" else f", {page}"
        druva.update(
            {
                f"wall / decode{suffix}": median([run.wall for run in samples["druva"]]),
                f"CPU / decode{suffix}": median([run.cpu for run in samples["druva"]]),
            }
        )
    return CaseResult(
        "json",
        "`Response.json()` against orjson, msgspec and `json.loads`",
        f"Decoding the same bytes again and again: the users page ({params['pageSize']} users) "
        f"and a page of {LARGE_PAGE} users (the most Druva puts on a page), each fetched once "
        "from FakeDruva. druva's decoder against orjson's `loads`, msgspec's `json.decode` and "
        "the standard library's `json.loads`, all given the response's bytes; the clients of "
        "each page are sampled in alternation, and the ratios are to druva on that page.",
        headers,
        rows,
        goals,
        druva=druva,
    )
