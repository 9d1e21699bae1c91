"""Forks under token churn: while other threads force token renewals in a
loop, re-authenticate async sessions whose tokens the server keeps revoking
(every 5 ms), and renew in the background, the main thread forks again and
again. Every child must get a token from the cache it inherited (through
``get_token`` and through a session made before the fork) and finish; a child
that hangs (a token-cache lock held by a runtime thread at the fork) is killed
and counted.

Bounded for CI: ``DRUVA_TOKEN_FORKS`` children (default 200), at most about
two minutes.
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
    import asyncio, collections, json, os, signal, sys, threading, time
    import druva
    from druva.testing import FakeDruva

    USERS = "/insync/usermanagement/v1/users"
    forks = int(sys.argv[1])
    deadline = time.monotonic() + float(sys.argv[2])
    child_limit = float(sys.argv[3])

    # Short-lived tokens: callers keep entering the renewal window, so
    # background renewals are under way at the forks too.
    with FakeDruva(users=5, token_lifetime=4) as fake:
        arguments = dict(base_url=fake.base_url)
        stop = threading.Event()

        def forced_renewals():
            while not stop.is_set():
                try:
                    druva.get_token(fake.client_id, fake.secret, force_refresh=True, **arguments)
                except druva.DruvaError:
                    pass

        def revocations():
            while not stop.is_set():
                fake.expire_tokens()
                time.sleep(0.005)

        def async_reauthentication():
            async def main():
                async with druva.AsyncSession(fake.client_id, fake.secret, **arguments) as s:
                    while not stop.is_set():
                        await asyncio.gather(
                            *(s.get(USERS) for _ in range(20)), return_exceptions=True
                        )
            asyncio.run(main())

        loads = [
            threading.Thread(target=forced_renewals),
            threading.Thread(target=forced_renewals),
            threading.Thread(target=revocations),
            threading.Thread(target=async_reauthentication),
        ]
        for load in loads:
            load.start()
        time.sleep(0.3)
        session = druva.Session(fake.client_id, fake.secret, **arguments)

        def child():
            token = druva.get_token(fake.client_id, fake.secret, timeout=10, **arguments)
            renewed = druva.get_token(
                fake.client_id, fake.secret, timeout=10, force_refresh=True, **arguments
            )
            through_session = session.token
            return all(t["access_token"] for t in (token, renewed, through_session))

        def outcome(pid):
            # A bounded wait: a child still running past the limit is hung.
            limit = time.monotonic() + child_limit
            while time.monotonic() < limit:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return "answered" if os.waitstatus_to_exitcode(status) == 0 else "failed"
                time.sleep(0.001)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hung"

        counts = collections.Counter(answered=0, failed=0, hung=0)
        while sum(counts.values()) < forks and time.monotonic() < deadline:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = 0 if child() else 1
                finally:
                    os._exit(code)
            counts[outcome(pid)] += 1
        stop.set()
        for load in loads:
            load.join()
        session.close()
        print(json.dumps(dict(counts, tried=sum(counts.values()))))
    """
)


def test_forked_children_under_token_churn_all_get_a_token() -> None:
    forks = int(os.environ.get("DRUVA_TOKEN_FORKS", "200"))
    child = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(forks), "150", "10"],
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(result)
    assert result["hung"] == 0, result
    assert result["failed"] == 0, result
    assert result["tried"] >= min(forks, 100), result
    assert result["answered"] == result["tried"]
