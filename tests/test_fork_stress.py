"""Forks under load: a process keeps async and sync requests in flight on
other threads while its main thread forks again and again; every child makes
one call and must answer. A child that hangs (a lock held by a runtime thread
at the moment of the fork) is killed and counted.

Three loads, each a way a lock was once held across a fork:

- ``info``: records at INFO, made on runtime threads by retries;
- ``debug``: druva's DEBUG logging on, with a handler, under async load (the
  queue of records kept for Python is locked by runtime threads all the time);
- ``churn``: tokens revoked every 5 ms, ``force_refresh`` loops and async
  re-authentication (the token cache's locks are taken all the time).

Bounded for CI: ``DRUVA_FORKS`` children a load (default 300), at most about
16 seconds a load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, logging, os, signal, sys, threading, time
    import druva
    from druva.testing import FakeDruva

    USERS = "/insync/usermanagement/v1/users"
    load, forks = sys.argv[1], int(sys.argv[2])
    deadline = time.monotonic() + float(sys.argv[3])

    # Records at INFO are on: retries on the runtime threads make some.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))
    if load == "debug":
        druva_logger = logging.getLogger("druva")
        druva_logger.setLevel(logging.DEBUG)
        druva_logger.addHandler(logging.StreamHandler(open(os.devnull, "w")))

    with FakeDruva(users=5) as fake:
        arguments = dict(base_url=fake.base_url)
        stop = threading.Event()

        def async_load():
            async def main():
                async with druva.AsyncSession(fake.client_id, fake.secret, **arguments) as s:
                    while not stop.is_set():
                        # Under churn some calls meet a revoked token twice: a 403.
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

        def revoke_tokens():
            while not stop.wait(0.005):
                fake.expire_tokens()

        def refresh_tokens():
            while not stop.is_set():
                druva.get_token(fake.client_id, fake.secret, force_refresh=True, **arguments)

        loads = [threading.Thread(target=async_load), threading.Thread(target=sync_load)]
        if load == "churn":
            loads += [threading.Thread(target=revoke_tokens)]
            loads += [threading.Thread(target=refresh_tokens)]
        for thread in loads:
            thread.start()
        time.sleep(0.5)
        session = druva.Session(fake.client_id, fake.secret, **arguments)
        tried = answered = failed = hung = 0
        while tried < forks and time.monotonic() < deadline:
            tried += 1
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    status = session.get(USERS, timeout=10).status_code
                    # Under churn the token may be revoked again between the
                    # renewal and the retry: a 403 is an answer too.
                    code = 0 if status == 200 or (load == "churn" and status == 403) else 1
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
        for thread in loads:
            thread.join()
        print(json.dumps(dict(tried=tried, answered=answered, failed=failed, hung=hung)))
    """
)


@pytest.mark.parametrize("load", ["info", "debug", "churn"])
def test_forked_children_under_load_all_answer(load: str) -> None:
    forks = int(os.environ.get("DRUVA_FORKS", "300"))
    child = subprocess.run(
        [sys.executable, "-c", SCRIPT, load, str(forks), "16"],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(load, result)
    assert result["hung"] == 0, result
    assert result["failed"] == 0, result
    # A loaded machine forks slower: the bound only says the test did fork.
    assert result["tried"] >= min(forks, 20), result
    assert result["answered"] == result["tried"]
