"""FakeDruva servers in a process of their own, driven by ``run.py``.

The benchmark clients run in other processes, so what a client costs (wall,
CPU, memory) is never mixed with what the server costs. This process can hold
several servers at once (the main one, a large one for paging, a fresh one for
each token storm) and answers one JSON object a line on stdin:

    {"op": "start", "users": 1000, "page_size": 100, "token_lifetime": 7200,
     "latency": 0.02, "max_in_flight": 8, "rate_limit": 100}   (the last three optional)
        -> {"id": 1, "base_url": ..., "token_url": ..., "client_id": ..., "secret": ...}
    {"op": "counters", "id": 1}  -> {"token_requests": N, "api_requests": N}
    {"op": "reset", "id": 1}     -> {}   (counters and request log)
    {"op": "stop", "id": 1}      -> {}
    {"op": "usage"}              -> {"cpu_s": ..., "max_rss_kib": ...}

End of input stops every server and the process. The counters are how the
token storm case reads the number of token requests the server received, and
the fan-out cases the number of API requests (retries included) a batch cost.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

from druva.testing import FakeDruva


def handle(servers: dict[int, FakeDruva], message: dict[str, Any]) -> dict[str, Any]:
    op = message.get("op")
    if op == "start":
        fake = FakeDruva(
            users=int(message.get("users", 250)),
            page_size=int(message.get("page_size", 100)),
            token_lifetime=float(message.get("token_lifetime", 1800)),
            latency=float(message.get("latency", 0.0)),
            max_in_flight=message.get("max_in_flight"),
            rate_limit=message.get("rate_limit"),
        )
        fake.__enter__()
        server_id = max(servers, default=0) + 1
        servers[server_id] = fake
        return {
            "id": server_id,
            "base_url": fake.base_url,
            "token_url": fake.token_url,
            "client_id": fake.client_id,
            "secret": fake.secret,
        }
    if op == "usage":
        return {
            "cpu_s": time.process_time(),
            "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    fake = servers[int(message["id"])]
    if op == "counters":
        return {"token_requests": fake.token_requests, "api_requests": fake.api_requests}
    if op == "reset":
        fake.reset_counters()
        return {}
    if op == "stop":
        fake.stop()
        del servers[int(message["id"])]
        return {}
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    servers: dict[int, FakeDruva] = {}
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                reply = handle(servers, json.loads(line))
            except Exception as error:
                reply = {"error": f"{type(error).__name__}: {error}"}
            print(json.dumps(reply), flush=True)
    finally:
        for fake in servers.values():
            fake.stop()


if __name__ == "__main__":
    main()
