"""Cost of a cached ``druva.get_token`` call, in nanoseconds per call.

Usage: python bench/cache_hit.py [--calls N] [--repeat R]

Starts a FakeDruva in this process only to fill the cache; every timed call is
a cache hit, which touches no network and no runtime. A Python dict lookup of
the same key is measured alongside as the floor.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import druva
from druva.testing import FakeDruva


def per_call_ns(function: Callable[[], object], calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        function()
    return (time.perf_counter_ns() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    arguments = parser.parse_args()
    with FakeDruva() as fake:
        client_id, secret, base_url = fake.client_id, fake.secret, fake.base_url
        druva.get_token(client_id, secret, base_url=base_url)
        cache = {(base_url + "/token", client_id, secret, None): {"access_token": "x"}}
        key = (base_url + "/token", client_id, secret, None)
        cases: dict[str, Callable[[], object]] = {
            "druva.get_token (cache hit)": lambda: druva.get_token(
                client_id, secret, base_url=base_url
            ),
            "dict lookup (floor)": lambda: cache[key],
        }
        print(f"{'case':32} {'median ns/call':>15} {'min':>8} {'max':>8}")
        for name, function in cases.items():
            samples = [per_call_ns(function, arguments.calls) for _ in range(arguments.repeat)]
            print(
                f"{name:32} {statistics.median(samples):15.0f} "
                f"{min(samples):8.0f} {max(samples):8.0f}"
            )
        assert fake.token_requests == 1


if __name__ == "__main__":
    main()
