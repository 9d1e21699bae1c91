"""What the two GET cases (``get_small``, ``get_page``) and ``json`` share: the
clients, their labels, the floor samplers, the goal of CPU against primp's and
the page parameters."""

from __future__ import annotations

from harness import Context, FloorSampler, Goal, Sample, Sampler, cpu_of, paired_ratio


def floor_samplers(context: Context, url: str, with_json: bool) -> list[Sampler]:
    if context.floor is None:
        return []
    samplers: list[Sampler] = [
        FloorSampler("floor", context.floor, url, context.access_token, decode_json=False)
    ]
    if with_json:
        samplers.append(FloorSampler("floor_json", context.floor, url, context.access_token, True))
    return samplers


GET_CLIENTS = ["druva", "requests_oauthlib", "authlib", "httpx", "primp", "pyreqwest"]
GET_LABELS = {
    "druva": "druva `Session.get`",
    "requests_oauthlib": "requests_oauthlib `OAuth2Session.get`",
    "authlib": "Authlib `OAuth2Session.get` (requests)",
    "httpx": "httpx `Client.get` (bearer header)",
    "primp": "primp `Client.get`",
    "pyreqwest": "pyreqwest `SyncClient`",
    "floor": "raw Rust reqwest loop (floor)",
    "floor_json": "raw Rust reqwest + serde_json `Value`",
}


def primp_cpu_goal(samples: dict[str, list[Sample]], issue: int) -> Goal:
    """druva's CPU a call no more than primp's, as the median of the per-round ratios."""
    cpu_ratio = paired_ratio(samples, "druva", "primp", cpu_of)
    return Goal(
        "druva's CPU / call ≤ primp's",
        f"druva's CPU is {cpu_ratio:.2f}x primp's",
        cpu_ratio <= 1,
        issue=issue,
    )


def page_params(context: Context) -> dict[str, str]:
    return {"pageSize": str(context.arguments.page_records)}
