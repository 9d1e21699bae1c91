"""Token stores shared by processes (``token_cache=``): one token request for
every process sharing a store and a credential, sealed entries that show no
secret, private directories, a dead lock holder that blocks nobody, a failing
store that costs one WARNING and never a call. The Redis twin of these tests
is tests/test_token_store_redis.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import druva
import pytest
from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"

# A worker process: THREADS threads each get a token through the store, once
# the file GO exists (so that every process asks at about the same moment),
# and the process prints the access tokens it got as a JSON list.
WORKER = """
import json, os, sys, threading, time
import druva

go = os.environ["GO"]
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.005)
tokens, errors = [], []

def get():
    try:
        token = druva.get_token(
            os.environ["CLIENT_ID"], os.environ["SECRET"], base_url=os.environ["BASE_URL"],
            token_cache=os.environ["CACHE"], timeout=float(os.environ.get("TIMEOUT", "30")),
        )
        tokens.append(token["access_token"])
    except Exception as error:
        errors.append(repr(error))

threads = [threading.Thread(target=get) for _ in range(int(os.environ.get("THREADS", "1")))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"tokens": tokens, "errors": errors}))
"""


def clean_environment(**environment: str) -> dict[str, str]:
    """This process's environment without proxies, plus ``environment``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}
    }
    env.update(environment)
    return env


def start_worker(
    fake: FakeDruva, cache: str, go: Path, *, secret: Optional[str] = None, **environment: str
) -> subprocess.Popen[str]:
    env = clean_environment(
        CLIENT_ID=fake.client_id,
        SECRET=secret or fake.secret,
        BASE_URL=fake.base_url,
        CACHE=cache,
        GO=str(go),
        **environment,
    )
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WORKER)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def results(worker: subprocess.Popen[str]) -> dict[str, list[str]]:
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    result: dict[str, list[str]] = json.loads(out)
    return result


def run_workers(
    fake: FakeDruva, cache: str, tmp_path: Path, processes: int, **environment: str
) -> list[dict[str, list[str]]]:
    """``processes`` workers started together; what each got."""
    go = tmp_path / f"go-{time.monotonic_ns()}"
    workers = [start_worker(fake, cache, go, **environment) for _ in range(processes)]
    go.touch()
    return [results(worker) for worker in workers]


def share_one_token(fake: FakeDruva, cache: str, tmp_path: Path) -> None:
    """Four processes of four threads, then four more processes: one token
    request, one token, for all of them."""
    first = run_workers(fake, cache, tmp_path, processes=4, THREADS="4")
    later = run_workers(fake, cache, tmp_path, processes=4, THREADS="4")
    tokens = {token for result in first + later for token in result["tokens"]}
    errors = [error for result in first + later for error in result["errors"]]
    assert not errors
    assert len(tokens) == 1
    assert fake.token_requests == 1


def test_processes_and_threads_sharing_a_directory_make_one_token_request(
    fake: FakeDruva, tmp_path: Path
) -> None:
    share_one_token(fake, str(tmp_path / "tokens"), tmp_path)


def kill_the_holder_mid_request(fake: FakeDruva, cache: str, tmp_path: Path) -> None:
    """A process that dies (``kill -9``) while it holds the key's lock, in
    the middle of its token request, does not keep the others from getting
    a token within their timeout."""
    go = tmp_path / "go"
    go.touch()
    holder = start_worker(fake, cache, go, TIMEOUT="30")
    deadline = time.monotonic() + 30
    while fake.token_requests == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.token_requests == 1, "the holder never sent its token request"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    others = run_workers(fake, cache, tmp_path, processes=3, TIMEOUT="10")
    assert all(not result["errors"] for result in others), others
    assert all(len(result["tokens"]) == 1 for result in others)


def test_a_lock_holder_killed_mid_request_blocks_nobody(tmp_path: Path) -> None:
    # Every answer takes 2 s: the holder is killed while it waits for its own.
    with FakeDruva(latency=2.0) as slow:
        kill_the_holder_mid_request(slow, str(tmp_path / "tokens"), tmp_path)
        # The kernel released the dead holder's flock: one of the others took
        # it and made the one request the rest then read from the store.
        assert slow.token_requests == 2


def entries(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.suffix == ".token")


def test_the_directory_and_its_files_are_private_and_show_no_secret(
    fake: FakeDruva, tmp_path: Path
) -> None:
    directory = tmp_path / "new" / "tokens"
    token = druva.get_token(
        fake.client_id, fake.secret, base_url=fake.base_url, token_cache=directory
    )
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert len(entries(directory)) == 1
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        shown = path.name.encode() + path.read_bytes()
        for secret in (token["access_token"], fake.client_id, fake.secret):
            assert secret.encode() not in shown, path


def test_a_directory_open_to_others_is_refused_before_any_request(
    fake: FakeDruva, tmp_path: Path
) -> None:
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o700)
    directory.chmod(0o777)
    with pytest.raises(ValueError, match="writable by other users"):
        druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, token_cache=directory)
    with pytest.raises(ValueError, match="chmod 700"):
        druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, token_cache=directory)
    assert fake.token_requests == 0


def test_a_token_cache_of_the_wrong_kind_is_a_type_error(fake: FakeDruva) -> None:
    with pytest.raises(TypeError, match="has no load"):
        druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, token_cache=42)
    assert fake.token_requests == 0


def test_a_corrupt_entry_is_replaced_and_the_replacement_is_read(
    fake: FakeDruva, tmp_path: Path
) -> None:
    cache = str(tmp_path / "tokens")
    [first] = run_workers(fake, cache, tmp_path, processes=1)
    [entry] = entries(Path(cache))
    entry.write_bytes(b"druva-token-1:not a sealed token at all")
    [second] = run_workers(fake, cache, tmp_path, processes=1)
    assert fake.token_requests == 2
    assert second["tokens"] != first["tokens"]
    assert entry.read_bytes() != b"druva-token-1:not a sealed token at all"
    [third] = run_workers(fake, cache, tmp_path, processes=1)
    assert third["tokens"] == second["tokens"]
    assert fake.token_requests == 2


def test_another_secret_never_reads_an_entry(fake: FakeDruva, tmp_path: Path) -> None:
    cache = str(tmp_path / "tokens")
    run_workers(fake, cache, tmp_path, processes=1)
    go = tmp_path / "go"
    go.touch()
    wrong = results(start_worker(fake, cache, go, secret="not-" + fake.secret))
    # It asked the token endpoint, which refused it: the stored token of the
    # right secret was neither found nor served.
    assert wrong["tokens"] == []
    assert "AuthenticationError" in wrong["errors"][0]
    assert fake.token_requests == 2


class DictStore:
    """A druva.TokenStore in a dict, that records what it was asked."""

    def __init__(self, entries: Optional[dict[str, bytes]] = None) -> None:
        self.entries = {} if entries is None else entries
        self.calls: list[str] = []
        # Thread idents: a thread made outside Python may get a new
        # threading name each time it calls in (Python 3.13), not a new ident.
        self.threads: set[int] = set()

    def load(self, key: str) -> Optional[bytes]:
        self._called("load")
        return self.entries.get(key)

    def save(self, key: str, blob: bytes, ttl_seconds: float) -> None:
        self._called("save")
        assert 0 < ttl_seconds <= 1800
        self.entries[key] = blob

    def delete(self, key: str, blob: bytes) -> None:
        self._called("delete")
        if self.entries.get(key) == blob:
            del self.entries[key]

    def lock(self, key: str, timeout_seconds: float) -> contextlib.AbstractContextManager[Any]:
        self._called("lock")
        assert timeout_seconds > 0
        return contextlib.nullcontext()

    def _called(self, name: str) -> None:
        self.calls.append(name)
        self.threads.add(threading.get_ident())


def test_a_python_store_object_shares_tokens_and_is_called_off_the_runtime(
    fake: FakeDruva,
) -> None:
    shared: dict[str, bytes] = {}
    first, second = DictStore(shared), DictStore(shared)
    assert isinstance(first, druva.TokenStore)
    token = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, token_cache=first)
    assert first.calls == ["load", "lock", "load", "save"]
    # Another store object over the same entries: what another process sees.
    again = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, token_cache=second)
    assert again["access_token"] == token["access_token"]
    assert second.calls == ["load"]
    assert fake.token_requests == 1
    # A hit in the process's cache never touches the store.
    druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, token_cache=second)
    assert second.calls == ["load"]
    # Every call on druva's one store thread, not the caller's.
    [thread] = first.threads | second.threads
    assert thread != threading.get_ident()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_calls_its_python_store_on_a_store_thread_of_its_own(
    fake: FakeDruva,
) -> None:
    shared: dict[str, bytes] = {}
    options: dict[str, Any] = {"base_url": fake.base_url, "timeout": 10.0}
    token = druva.get_token(fake.client_id, fake.secret, token_cache=DictStore(shared), **options)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new store object over the copied entries
        code = 1
        try:
            child = druva.get_token(
                fake.client_id, fake.secret, token_cache=DictStore(shared), **options
            )
            os.write(write, child["access_token"].encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        from_child = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert from_child == token["access_token"]
    assert fake.token_requests == 1


def test_force_refresh_fetches_and_overwrites_the_stored_token(fake: FakeDruva) -> None:
    store = DictStore()
    options: dict[str, Any] = {"base_url": fake.base_url, "token_cache": store}
    first = druva.get_token(fake.client_id, fake.secret, **options)
    [blob] = store.entries.values()
    second = druva.get_token(fake.client_id, fake.secret, force_refresh=True, **options)
    assert second["access_token"] != first["access_token"]
    assert fake.token_requests == 2
    assert list(store.entries.values()) != [blob]


def test_a_refused_token_is_deleted_from_the_store_while_it_is_the_stored_one(
    fake: FakeDruva,
) -> None:
    store = DictStore()
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, token_cache=store) as s:
        assert s.get(USERS).status_code == 200
        [refused] = store.entries.values()
        fake.expire_tokens()
        assert s.get(USERS).status_code == 200
    assert fake.token_requests == 2
    assert "delete" in store.calls
    [stored] = store.entries.values()
    assert stored != refused


class FailingStore(DictStore):
    def load(self, key: str) -> Optional[bytes]:
        raise OSError("No space left on device")

    def lock(self, key: str, timeout_seconds: float) -> contextlib.AbstractContextManager[Any]:
        raise OSError("No space left on device")

    def __repr__(self) -> str:
        return "FailingStore()"


def test_a_failing_store_costs_one_warning_and_no_call(
    fake: FakeDruva, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="druva")
    options: dict[str, Any] = {"base_url": fake.base_url, "token_cache": FailingStore()}
    tokens = [
        druva.get_token(fake.client_id, fake.secret, force_refresh=True, **options)
        for _ in range(3)
    ]
    assert len({token["access_token"] for token in tokens}) == 3
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "FailingStore()" in record.getMessage()
    ]
    assert len(warnings) == 1, warnings
    assert "No space left on device" in warnings[0]
    assert fake.secret not in warnings[0]


def test_msp_customer_tokens_are_stored_per_customer() -> None:
    with FakeDruva(msp=True, customers=2) as msp:
        store = DictStore()
        with druva.Session(
            msp.client_id, msp.secret, base_url=msp.base_url, msp=True, token_cache=store
        ) as s:
            customers = [c["id"] for c in s.paginate("/msp/v2/customers")]
            for customer in customers:
                assert s.customer(customer).get(USERS).status_code == 200
        # The MSP token and one token a customer.
        assert len(store.entries) == 1 + len(customers)


def test_async_calls_share_tokens_through_the_store(fake: FakeDruva, tmp_path: Path) -> None:
    cache = tmp_path / "tokens"

    async def main() -> list[str]:
        token = await druva.get_token_async(
            fake.client_id, fake.secret, base_url=fake.base_url, token_cache=cache
        )
        async with druva.AsyncSession(
            fake.client_id, fake.secret, base_url=fake.base_url, token_cache=str(cache)
        ) as s:
            assert (await s.get(USERS)).status_code == 200
            session_token = await s.token()
        return [token["access_token"], session_token["access_token"]]

    first, second = asyncio.run(main())
    assert first == second
    [other_process] = run_workers(fake, str(cache), tmp_path, processes=1)
    assert other_process["tokens"] == [first]
    assert fake.token_requests == 1


def druva_cli(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "druva", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_environment(**environment),
    )


def test_cli_runs_share_one_token_through_druva_token_cache(
    fake: FakeDruva, tmp_path: Path
) -> None:
    environment = {
        "DRUVA_CLIENT_ID": fake.client_id,
        "DRUVA_SECRET_KEY": fake.secret,
        "DRUVA_BASE_URL": fake.base_url,
        "DRUVA_TOKEN_CACHE": str(tmp_path / "tokens"),
    }
    first = druva_cli("token", **environment)
    second = druva_cli("token", **environment)
    listed = druva_cli("get", USERS, **environment)
    for run in (first, second, listed):
        assert run.returncode == 0, run.stderr
    assert json.loads(first.stdout)["access_token"] == json.loads(second.stdout)["access_token"]
    assert fake.token_requests == 1


def test_from_env_reads_druva_token_cache(
    fake: FakeDruva, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "tokens"
    monkeypatch.setenv("DRUVA_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("DRUVA_SECRET_KEY", fake.secret)
    monkeypatch.setenv("DRUVA_BASE_URL", fake.base_url)
    monkeypatch.setenv("DRUVA_TOKEN_CACHE", str(cache))
    with druva.Session.from_env() as s:
        assert s.get(USERS).status_code == 200
    assert len(entries(cache)) == 1
    # The constructor itself reads no environment: a session without a
    # store keeps its own token, apart from the stored one.
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
        s.token  # noqa: B018 (fetches it)
    assert fake.token_requests == 2


def test_the_adapters_take_token_cache(fake: FakeDruva, tmp_path: Path) -> None:
    requests = pytest.importorskip("requests")
    from druva.auth import RequestsAuth

    cache = tmp_path / "tokens"
    auth = RequestsAuth(fake.client_id, fake.secret, base_url=fake.base_url, token_cache=cache)
    with requests.Session() as http:
        http.trust_env = False
        assert http.get(fake.base_url + USERS, auth=auth).status_code == 200
    assert len(entries(cache)) == 1


@pytest.fixture(autouse=True)
def _no_leftover_directories(tmp_path: Path) -> Iterator[None]:
    """Restores permissions a test changed, so pytest can clean up."""
    yield
    for path in tmp_path.rglob("*"):
        if path.is_dir():
            with contextlib.suppress(OSError):
                path.chmod(0o700)
