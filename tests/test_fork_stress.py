"""Forks under load: a process keeps async and sync requests in flight on
other threads while its main thread forks again and again; every child makes
one call and must answer. A child that hangs (a lock held by a runtime thread
at the moment of the fork) is killed and counted.

Bounded for CI: ``DRUVA_FORKS`` children (default 1000), at most about two
minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, logging, os, signal, sys, threading, time
    import druva
    from druva.testing import FakeDruva

    USERS = "/insync/usermanagement/v1/users"
    forks = int(sys.argv[1])
    deadline = time.monotonic() + float(sys.argv[2])

    # Records at INFO are on: retries on the runtime threads make some.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))

    with FakeDruva(users=5) as fake:
        arguments = dict(base_url=fake.base_url)
        stop = threading.Event()

        def async_load():
            async def main():
                async with druva.AsyncSession(fake.client_id, fake.secret, **arguments) as s:
                    while not stop.is_set():
                        await asyncio.gather(*(s.get(USERS) for _ in range(100)))
            asyncio.run(main())

        def sync_load():
            with druva.Session(fake.client_id, fake.secret, **arguments) as s:
                calls = 0
                while not stop.is_set():
                    calls += 1
                    if calls % 20 == 0:
                        # A retry: an INFO record made on a runtime thread.
                        fake.fail_next(503, path=USERS)
                    s.get(USERS)

        loads = [threading.Thread(target=async_load), threading.Thread(target=sync_load)]
        for load in loads:
            load.start()
        time.sleep(0.5)
        session = druva.Session(fake.client_id, fake.secret, **arguments)
        tried = answered = failed = hung = 0
        while tried < forks and time.monotonic() < deadline:
            tried += 1
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = 0 if session.get(USERS, timeout=10).status_code == 200 else 1
                finally:
                    os._exit(code)
            waited_until = time.monotonic() + 15
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    if os.waitstatus_to_exitcode(status) == 0:
                        answered += 1
                    else:
                        failed += 1
                    break
                if time.monotonic() > waited_until:
                    hung += 1
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.001)
        stop.set()
        for load in loads:
            load.join()
        print(json.dumps(dict(tried=tried, answered=answered, failed=failed, hung=hung)))
    """
)


def test_forked_children_under_async_and_sync_load_all_answer() -> None:
    forks = int(os.environ.get("DRUVA_FORKS", "1000"))
    child = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(forks), "150"],
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(result)
    assert result["hung"] == 0, result
    assert result["failed"] == 0, result
    assert result["tried"] >= min(forks, 200), result
    assert result["answered"] == result["tried"]
