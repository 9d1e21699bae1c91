"""The ``token_cached`` case."""

from __future__ import annotations

from harness import (
    CaseResult,
    Context,
    Goal,
    druva_medians,
    format_time,
    median,
    paired_ratio,
    run_workers,
    time_table,
)


def case_token_cached(context: Context) -> CaseResult:
    clients = [
        "druva",
        "druva_module",
        "dict",
        "dict_get",
        "authlib",
        "httpx_auth",
        "oauthlib_sample",
    ]
    samples = run_workers(context, "token_cached", clients, context.config())
    druva_ns = median([run.wall for run in samples["druva"]])
    module_ns = median([run.wall for run in samples["druva_module"]])
    dict_gets = paired_ratio(samples, "druva_module", "dict_get")
    hit_goal = Goal("≤ 0.5 µs", format_time(druva_ns, "ns"), druva_ns <= 0.5e-6)
    keyword_goals = [
        Goal(
            "≤ 0.2 µs with keyword arguments",
            f"{format_time(module_ns, 'ns')} = {dict_gets:.1f} `dict.get` calls",
            module_ns <= 0.2e-6,
            issue=12,
        ),
        Goal(
            "≤ 6 `dict.get` calls with keyword arguments",
            f"{dict_gets:.2f} `dict.get` calls",
            dict_gets <= 6,
            issue=21,
        ),
    ]
    labels = {
        "druva": "druva `get_token` (cache hit)",
        "druva_module": "druva `druva.get_token(cid, secret, base_url=...)`",
        "dict": "Python dict lookup (floor)",
        "dict_get": "Python `dict.get`",
        "authlib": "Authlib `ensure_active_token`",
        "httpx_auth": "httpx-auth token cache",
        "oauthlib_sample": "oauthlib sample `getToken()`",
    }
    headers, rows = time_table(
        samples, labels, "ns", {"druva": hit_goal, "druva_module": keyword_goals}
    )
    return CaseResult(
        "token_cached",
        "Cached token",
        "A call that asks for a token already cached. druva: `get_token(client_id, secret, "
        "base_url=base_url)` with the function bound to a name, and as users write it, "
        "`druva.get_token(...)` through the module, `base_url` a keyword argument. The oauthlib "
        "sample has no cache: every `getToken()` is a full exchange on a new connection. "
        "Authlib: `OAuth2Session.ensure_active_token(token)` (the expiry check before each "
        "request); httpx-auth: `OAuth2.token_cache.get_token(...)` (what its auth flow runs); "
        "all timed as one statement in a `timeit` loop, which the dict lookup (`cache[key]`) "
        "and `cache.get(key)` show the cost of; the goal counts druva's hit in `dict.get` calls.",
        headers,
        rows,
        [hit_goal, *keyword_goals],
        druva={
            **druva_medians(samples, "/ call"),
            "wall / call, `druva.get_token` with keywords": module_ns,
        },
    )
