"""How AsyncSession requests complete through the loop queue: the eventfd on
Linux, the self-pipe on other unix (and anywhere with DRUVA_PORTABLE_WAKEUP=1,
or its older name DRUVA_PORTABLE_COMPLETIONS=1)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import druva
import pytest
from druva._loop_queue import PORTABLE_VARIABLES, loop_queue_for
from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"

unix_only = pytest.mark.skipif(os.name != "posix", reason="the completion descriptor is unix's")

GATHER_50_THROUGH_THE_PORTABLE_PATH = textwrap.dedent(
    """
    import asyncio
    import druva
    from druva._loop_queue import loop_queue_for
    from druva.testing import FakeDruva

    async def main(fake):
        async with druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            users = "/insync/usermanagement/v1/users"
            responses = await asyncio.gather(*(s.get(users) for _ in range(50)))
            print(loop_queue_for(asyncio.get_running_loop()).mechanism)
            print(sorted({r.status_code for r in responses}), len(responses))

    with FakeDruva() as fake:
        asyncio.run(main(fake))
    """
)


@unix_only
@pytest.mark.parametrize("variable", PORTABLE_VARIABLES)
def test_the_portable_switch_makes_async_requests_complete_through_a_pipe(variable: str) -> None:
    environment = {
        name: value for name, value in os.environ.items() if name not in PORTABLE_VARIABLES
    }
    environment[variable] = "1"
    result = subprocess.run(
        [sys.executable, "-c", GATHER_50_THROUGH_THE_PORTABLE_PATH],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["pipe", "[200] 50"]


@unix_only
def test_without_the_switch_linux_uses_an_eventfd_and_other_unix_a_pipe() -> None:
    async def mechanism() -> str:
        queue = loop_queue_for(asyncio.get_running_loop())
        assert queue is not None
        return queue.mechanism

    portable = any(os.environ.get(name) == "1" for name in PORTABLE_VARIABLES)
    expected = "eventfd" if sys.platform.startswith("linux") and not portable else "pipe"
    assert asyncio.run(mechanism()) == expected


@unix_only
def test_a_loop_gets_one_loop_queue_and_each_loop_its_own() -> None:
    async def queue() -> object:
        loop = asyncio.get_running_loop()
        first = loop_queue_for(loop)
        assert loop_queue_for(loop) is first
        return first

    assert asyncio.run(queue()) is not asyncio.run(queue())


def test_finished_and_cancelled_requests_leave_no_future_behind(fake: FakeDruva) -> None:
    # The queue keeps each request's asyncio future (runtime threads hold
    # none): every one must be let go once completed or cancelled.
    async def main() -> int:
        async with druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            await asyncio.gather(*(s.get(USERS) for _ in range(50)))
            fake.delay_next(5, count=10, path=USERS)
            slow = [asyncio.ensure_future(s.get(USERS)) for _ in range(10)]
            await asyncio.sleep(0.2)
            for task in slow:
                task.cancel()
            await asyncio.gather(*slow, return_exceptions=True)
            queue = loop_queue_for(asyncio.get_running_loop())
            assert queue is not None
            return queue.in_flight

    assert asyncio.run(main()) == 0
