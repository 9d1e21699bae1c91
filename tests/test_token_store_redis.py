"""The shared token store in a real redis-server (Debian's package, started
by the ``redis_url`` fixture on a free loopback port): what
tests/test_token_store.py shows for a directory, across processes that
share a Redis instead."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

from tests.test_token_store import kill_the_holder_mid_request, run_workers, share_one_token

redis = pytest.importorskip("redis")


@pytest.fixture
def client(redis_url: str) -> Iterator[Any]:
    """A client of the test's redis-server, emptied before the test."""
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.close()


def test_processes_and_threads_sharing_a_redis_make_one_token_request(
    fake: FakeDruva, redis_url: str, client: Any, tmp_path: Path
) -> None:
    share_one_token(fake, redis_url, tmp_path)


def test_a_redis_lock_holder_killed_mid_request_blocks_nobody(
    redis_url: str, client: Any, tmp_path: Path
) -> None:
    with FakeDruva(latency=2.0) as slow:
        kill_the_holder_mid_request(slow, redis_url, tmp_path)
    # The dead holder's lock is still there, to expire on its own.
    assert client.keys("druva:lock:*")


def test_redis_values_show_no_token_client_id_or_secret(
    fake: FakeDruva, redis_url: str, client: Any
) -> None:
    token = druva.get_token(
        fake.client_id, fake.secret, base_url=fake.base_url, token_cache=redis_url
    )
    keys = client.keys("*")
    assert len(keys) == 1
    [key] = keys
    assert key.startswith(b"druva:token:")
    assert 0 < client.pttl(key) <= 1800 * 1000
    shown = key + client.get(key)
    for secret in (token["access_token"], fake.client_id, fake.secret):
        assert secret.encode() not in shown


def test_a_corrupt_redis_entry_is_replaced(
    fake: FakeDruva, redis_url: str, client: Any, tmp_path: Path
) -> None:
    [first] = run_workers(fake, redis_url, tmp_path, processes=1)
    [key] = client.keys("druva:token:*")
    client.set(key, b"tampered")
    [second] = run_workers(fake, redis_url, tmp_path, processes=1)
    assert second["tokens"] != first["tokens"]
    assert client.get(key) != b"tampered"
    [third] = run_workers(fake, redis_url, tmp_path, processes=1)
    assert third["tokens"] == second["tokens"]
    assert fake.token_requests == 2


def test_the_redis_store_deletes_and_unlocks_only_its_own(redis_url: str, client: Any) -> None:
    store = druva.RedisTokenStore(redis_url, lock_expiry=0.5)
    store.save("abc", b"newer", 60)
    store.delete("abc", b"older")
    assert store.load("abc") == b"newer"
    store.delete("abc", b"newer")
    assert store.load("abc") is None
    with store.lock("abc", 1.0), pytest.raises(TimeoutError):
        # Held: another holder gives up at its timeout.
        druva.RedisTokenStore(redis_url).lock("abc", 0.05).__enter__()
    # Released on leaving; an expired lock can be taken again.
    with store.lock("abc", 0.05):
        pass
    store.lock("abc", 0.05).__enter__()
    with druva.RedisTokenStore(redis_url).lock("abc", 2.0):
        pass


def test_a_redis_url_password_is_never_shown() -> None:
    store = druva.RedisTokenStore("redis://user:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in repr(store)
    assert "***" in repr(store)


def test_a_redis_store_that_is_down_costs_no_call(fake: FakeDruva) -> None:
    # Nothing listens on port 1: every store operation fails.
    down = druva.RedisTokenStore("redis://127.0.0.1:1/0", socket_timeout=0.5)
    token = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, token_cache=down)
    assert token["token_type"] == "bearer"
    assert fake.token_requests == 1


def test_an_async_session_shares_through_redis(
    fake: FakeDruva, redis_url: str, client: Any
) -> None:
    async def main() -> str:
        async with druva.AsyncSession(
            fake.client_id, fake.secret, base_url=fake.base_url, token_cache=redis_url
        ) as s:
            token = await s.token()
        return str(token["access_token"])

    access_token = asyncio.run(main())
    store = druva.RedisTokenStore(redis_url)
    again = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, token_cache=store)
    assert again["access_token"] == access_token
    assert fake.token_requests == 1
