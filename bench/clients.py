"""Every client of every benchmark case, and the worker that runs one of them.

``run.py`` starts one worker process a client (``python bench/clients.py CASE
CLIENT``), so each process imports only its own library and its CPU time and
peak RSS are its own. The first line on stdin is the configuration (JSON: the
server's URLs and credentials, a bearer token, paths); then one command a line:

    {"op": "calibrate", "seconds": 0.3}  -> {"n": N}   (calls per sample)
    {"op": "run", "n": N}                -> {"wall_s", "cpu_s", "max_rss_kib", ...}
    {"op": "storm", ...credentials}      -> the token storm's numbers

The ``paginate`` case is one-shot: the worker measures once and exits, so the
peak RSS it reports belongs to that run alone. In the fan-out cases a "call"
of ``run`` is one whole batch (``calls`` GETs, ``concurrency`` in flight), and
in ``paginate_consumer`` one whole listing read by a consumer that works on
each page.

Sync cases are timed with :class:`timeit.Timer` over a one-line statement per
client (no wrapper function around the call), with the garbage collector on.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import sys
import threading
import time
import timeit
from collections.abc import Awaitable, Callable
from typing import Any

Config = dict[str, Any]
Statement = tuple[str, dict[str, Any]]
AsyncCall = Callable[[], Awaitable[Any]]

# requests_oauthlib and Authlib refuse plain http:// without these; FakeDruva
# listens on loopback only.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")


def max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bearer(config: Config) -> str:
    return f"Bearer {config['access_token']}"


def token_dict(config: Config) -> dict[str, Any]:
    """The token as requests_oauthlib and Authlib keep it."""
    return {
        "access_token": config["access_token"],
        "token_type": "Bearer",
        "expires_in": int(config["token_lifetime"]),
    }


def oauthlib_sample(token_url: str) -> Callable[[str, str], Any]:
    """Druva's documented snippet, verbatim but for the token URL."""
    from oauthlib.oauth2 import BackendApplicationClient
    from requests.auth import HTTPBasicAuth
    from requests_oauthlib import OAuth2Session

    def getToken(clientId: str, secret: str) -> Any:
        auth = HTTPBasicAuth(clientId, secret)
        client = BackendApplicationClient(client_id=clientId)
        oauth = OAuth2Session(client=client)
        return oauth.fetch_token(token_url=token_url, auth=auth)

    return getToken


def druva_session(config: Config) -> Any:
    import druva

    return druva.Session(config["client_id"], config["secret"], base_url=config["base_url"])


# --- cached get_token: the cost of asking for a token that is already there ---


def cached_druva(config: Config) -> Statement:
    import druva

    druva.get_token(config["client_id"], config["secret"], base_url=config["base_url"])
    return (
        "get_token(client_id, secret, base_url=base_url)",
        {
            "get_token": druva.get_token,
            "client_id": config["client_id"],
            "secret": config["secret"],
            "base_url": config["base_url"],
        },
    )


def cached_druva_module(config: Config) -> Statement:
    """As users write it: the module attribute, keyword ``base_url``."""
    import druva

    druva.get_token(config["client_id"], config["secret"], base_url=config["base_url"])
    return (
        "druva.get_token(client_id, secret, base_url=base_url)",
        {
            "druva": druva,
            "client_id": config["client_id"],
            "secret": config["secret"],
            "base_url": config["base_url"],
        },
    )


def cached_oauthlib_sample(config: Config) -> Statement:
    return (
        "getToken(client_id, secret)",
        {
            "getToken": oauthlib_sample(config["token_url"]),
            "client_id": config["client_id"],
            "secret": config["secret"],
        },
    )


def cached_authlib(config: Config) -> Statement:
    from authlib.integrations.requests_client import OAuth2Session

    session = OAuth2Session(
        config["client_id"],
        config["secret"],
        token_endpoint=config["token_url"],
        grant_type="client_credentials",
    )
    session.fetch_token()
    return ("session.ensure_active_token(session.token)", {"session": session})


def cached_httpx_auth(config: Config) -> Statement:
    import httpx_auth
    from httpx_auth._oauth2.common import OAuth2

    auth = httpx_auth.OAuth2ClientCredentials(
        config["token_url"], client_id=config["client_id"], client_secret=config["secret"]
    )
    # What auth_flow does before it sets the header: the token cache lookup.
    return (
        "cache.get_token(state, early_expiry=early_expiry, on_missing_token=fetch,"
        " on_expired_token=refresh)",
        {
            "cache": OAuth2.token_cache,
            "state": auth.state,
            "early_expiry": auth.early_expiry,
            "fetch": auth.request_new_token,
            "refresh": auth.refresh_token,
        },
    )


def cached_dict(config: Config) -> Statement:
    key = (config["token_url"], config["client_id"], config["secret"], None)
    return ("cache[key]", {"cache": {key: token_dict(config)}, "key": key})


def cached_dict_get(config: Config) -> Statement:
    """One ``dict.get`` call: the unit the issue counts a cache hit in."""
    _, namespace = cached_dict(config)
    return "cache.get(key)", namespace


# --- cold token exchange: one full request to the token endpoint per call ---


def cold_druva(config: Config) -> Statement:
    _, namespace = cached_druva(config)
    return "get_token(client_id, secret, base_url=base_url, force_refresh=True)", namespace


def cold_requests_oauthlib(config: Config) -> Statement:
    from oauthlib.oauth2 import BackendApplicationClient
    from requests.auth import HTTPBasicAuth
    from requests_oauthlib import OAuth2Session

    oauth = OAuth2Session(client=BackendApplicationClient(client_id=config["client_id"]))
    return (
        "oauth.fetch_token(token_url=token_url, auth=auth)",
        {
            "oauth": oauth,
            "token_url": config["token_url"],
            "auth": HTTPBasicAuth(config["client_id"], config["secret"]),
        },
    )


def cold_authlib_httpx(config: Config) -> Statement:
    from authlib.integrations.httpx_client import OAuth2Client

    client = OAuth2Client(config["client_id"], config["secret"])
    return (
        "client.fetch_token(token_url, grant_type='client_credentials')",
        {"client": client, "token_url": config["token_url"]},
    )


# --- sequential GET on a kept connection: small body (.content), page (.json()) ---


def get_request(config: Config) -> tuple[str, str, dict[str, Any]]:
    """The client's GET as an expression, its status attribute, and its namespace."""
    client = config["client"]
    params = config.get("params")
    url = config["base_url"] + config["path"]
    namespace: dict[str, Any] = {"url": url, "path": config["path"], "params": params}
    with_params = ", params=params" if params else ""
    if client == "druva":
        namespace["s"] = druva_session(config)
        return f"s.get(path{with_params})", "status_code", namespace
    if client == "requests_oauthlib":
        from oauthlib.oauth2 import BackendApplicationClient
        from requests_oauthlib import OAuth2Session

        namespace["s"] = OAuth2Session(
            client=BackendApplicationClient(client_id=config["client_id"]),
            token=token_dict(config),
        )
    elif client == "authlib":
        from authlib.integrations.requests_client import OAuth2Session as AuthlibSession

        namespace["s"] = AuthlibSession(
            config["client_id"],
            config["secret"],
            token=token_dict(config),
            token_endpoint=config["token_url"],
            grant_type="client_credentials",
        )
    elif client == "httpx":
        import httpx

        namespace["s"] = httpx.Client(headers={"Authorization": bearer(config)})
    elif client == "primp":
        import primp

        namespace["s"] = primp.Client(auth_bearer=config["access_token"])
    elif client == "pyreqwest":
        from pyreqwest.client import SyncClientBuilder

        namespace["s"] = (
            SyncClientBuilder().default_headers({"Authorization": bearer(config)}).build()
        )
        query = ".query(params)" if params else ""
        return f"s.get(url){query}.build().send()", "status", namespace
    else:
        raise ValueError(f"unknown client {client!r}")
    return f"s.get(url{with_params})", "status_code", namespace


def get_statement(config: Config, read: str) -> Statement:
    """``read`` is ``.content`` (small body) or ``.json()`` (users page). The
    request is made once first: anything but a 200 stops the run."""
    request, status, namespace = get_request(config)
    answered = getattr(eval(request, namespace), status)  # noqa: S307 - our own expression
    if answered != 200:
        raise RuntimeError(f"{config['client']} got HTTP {answered} from {config['path']}")
    if read == ".content" and config["client"] == "pyreqwest":
        read = ".bytes()"
    return request + read, namespace


def get_small(config: Config) -> Statement:
    return get_statement(config, ".content")


def get_page(config: Config) -> Statement:
    return get_statement(config, ".json()")


# --- Response.json() against json.loads, orjson and msgspec on the same bytes ---


def json_druva(config: Config) -> Statement:
    response = druva_session(config).get(config["path"], params=config["params"])
    if response.json() is response.json():
        raise RuntimeError("Response.json() caches its result: this case would time nothing")
    return "response.json()", {"response": response}


def json_body(config: Config) -> bytes:
    response = druva_session(config).get(config["path"], params=config["params"])
    if response.status_code != 200:
        raise RuntimeError(f"got HTTP {response.status_code} from {config['path']}")
    body: bytes = response.content
    return body


def json_loads(config: Config) -> Statement:
    return "loads(body)", {"loads": json.loads, "body": json_body(config)}


def json_orjson(config: Config) -> Statement:
    import orjson

    return "loads(body)", {"loads": orjson.loads, "body": json_body(config)}


def json_msgspec(config: Config) -> Statement:
    import msgspec

    return "decode(body)", {"decode": msgspec.json.decode, "body": json_body(config)}


SYNC_CASES: dict[str, dict[str, Callable[[Config], Statement]]] = {
    "token_cached": {
        "druva": cached_druva,
        "oauthlib_sample": cached_oauthlib_sample,
        "authlib": cached_authlib,
        "httpx_auth": cached_httpx_auth,
        "dict": cached_dict,
        "dict_get": cached_dict_get,
        "druva_module": cached_druva_module,
    },
    "token_cold": {
        "druva": cold_druva,
        "requests_oauthlib": cold_requests_oauthlib,
        "authlib_httpx": cold_authlib_httpx,
        "oauthlib_sample": cached_oauthlib_sample,
    },
    "get_small": dict.fromkeys(
        ["druva", "requests_oauthlib", "authlib", "httpx", "primp", "pyreqwest"], get_small
    ),
    "get_page": dict.fromkeys(
        ["druva", "requests_oauthlib", "authlib", "httpx", "primp", "pyreqwest"], get_page
    ),
    "json": {
        "druva": json_druva,
        "orjson": json_orjson,
        "msgspec": json_msgspec,
        "json_loads": json_loads,
    },
}


class SyncWorker:
    """Times one statement, ``n`` executions a sample."""

    def __init__(self, statement: Statement) -> None:
        source, namespace = statement
        namespace["gc"] = gc
        self.timer = timeit.Timer(source, setup="gc.enable()", globals=namespace)
        self.timer.timeit(3)  # fails here, before any timing, if the call is wrong

    def calibrate(self, seconds: float) -> int:
        calls = 1
        while True:
            elapsed = self.timer.timeit(calls)
            if elapsed >= min(seconds / 5, 0.05) or calls >= 1 << 24:
                return max(1, round(calls * seconds / max(elapsed, 1e-9)))
            calls *= 2 if elapsed > seconds / 50 else 10

    def run(self, calls: int) -> dict[str, Any]:
        cpu_started = time.process_time()
        wall = self.timer.timeit(calls)
        cpu = time.process_time() - cpu_started
        return {"calls": calls, "wall_s": wall, "cpu_s": cpu, "max_rss_kib": max_rss_kib()}


# --- async: N calls with a fixed number in flight ---


async def async_druva(config: Config) -> AsyncCall:
    import druva

    session = druva.AsyncSession(config["client_id"], config["secret"], base_url=config["base_url"])
    path = config["path"]

    async def call() -> Any:
        return (await session.get(path)).json()

    return call


async def async_aiohttp(config: Config) -> AsyncCall:
    import aiohttp

    session = aiohttp.ClientSession(headers={"Authorization": bearer(config)})
    url = config["base_url"] + config["path"]

    async def call() -> Any:
        async with session.get(url) as response:
            return await response.json()

    return call


async def async_httpx(config: Config) -> AsyncCall:
    import httpx

    client = httpx.AsyncClient(headers={"Authorization": bearer(config)})
    url = config["base_url"] + config["path"]

    async def call() -> Any:
        return (await client.get(url)).json()

    return call


async def async_authlib(config: Config) -> AsyncCall:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    client = AsyncOAuth2Client(
        config["client_id"],
        config["secret"],
        token=token_dict(config),
        token_endpoint=config["token_url"],
        grant_type="client_credentials",
    )
    url = config["base_url"] + config["path"]

    async def call() -> Any:
        return (await client.get(url)).json()

    return call


async def async_primp(config: Config) -> AsyncCall:
    import primp

    client = primp.AsyncClient(auth_bearer=config["access_token"])
    url = config["base_url"] + config["path"]

    async def call() -> Any:
        return (await client.get(url)).json()

    return call


ASYNC_CLIENTS: dict[str, Callable[[Config], Awaitable[AsyncCall]]] = {
    "druva": async_druva,
    "aiohttp": async_aiohttp,
    "httpx": async_httpx,
    "authlib": async_authlib,
    "primp": async_primp,
}


class AsyncWorker:
    """``n`` calls, ``in_flight`` of them at a time, on one event loop."""

    def __init__(self, client: str, config: Config) -> None:
        self.loop = asyncio.new_event_loop()
        self.in_flight = int(config["in_flight"])
        self.call = self.loop.run_until_complete(ASYNC_CLIENTS[client](config))
        listing = config["path"].rsplit("/", 1)[-1]
        first = self.loop.run_until_complete(self.call())
        if not isinstance(first, dict) or listing not in first:
            raise RuntimeError(f"{client} did not get the {listing} listing: {first!r:.200}")
        self.loop.run_until_complete(self.load(self.in_flight * 2))

    async def load(self, calls: int) -> None:
        remaining = iter(range(calls))

        async def one_in_flight() -> None:
            for _ in remaining:
                await self.call()

        await asyncio.gather(*(one_in_flight() for _ in range(min(self.in_flight, calls))))

    def calibrate(self, seconds: float) -> int:
        raise NotImplementedError("the async case runs a fixed number of calls")

    def run(self, calls: int) -> dict[str, Any]:
        cpu_started = time.process_time()
        wall_started = time.perf_counter()
        self.loop.run_until_complete(self.load(calls))
        wall = time.perf_counter() - wall_started
        cpu = time.process_time() - cpu_started
        return {"calls": calls, "wall_s": wall, "cpu_s": cpu, "max_rss_kib": max_rss_kib()}


# --- fan-out: one batch of GETs a sample, a fixed number in flight ---

# A client's batch maker: given a number of calls, builds a new client
# (outside the clock) and returns the batch to time, giving one status code
# a call, and how to close the client.
Batch = tuple[Callable[[], list[int]], Callable[[], Any]]
MakeBatch = Callable[[int], Batch]


def fanout_druva(config: Config) -> MakeBatch:
    """``Session.map``; ``max_concurrency`` (the adaptive cap) when configured."""
    import druva

    concurrency = int(config["concurrency"])
    options = {}
    if config.get("max_concurrency"):
        options["max_concurrency"] = int(config["max_concurrency"])

    def make(calls: int) -> Batch:
        paths = [config["path"]] * calls
        session = druva.Session(
            config["client_id"], config["secret"], base_url=config["base_url"], **options
        )

        def batch() -> list[int]:
            return [r.status_code for r in session.map(paths, concurrency=concurrency)]

        return batch, session.close

    return make


def fanout_requests(config: Config) -> MakeBatch:
    """requests + ``ThreadPoolExecutor``, a pool of as many connections as threads."""
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from requests.adapters import HTTPAdapter

    url = config["base_url"] + config["path"]
    concurrency = int(config["concurrency"])

    def make(calls: int) -> Batch:
        urls = [url] * calls
        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=concurrency))
        session.headers["Authorization"] = bearer(config)

        def get(one: str) -> int:
            return int(session.get(one).status_code)

        def batch() -> list[int]:
            with ThreadPoolExecutor(concurrency) as pool:
                return list(pool.map(get, urls))

        return batch, session.close

    return make


def fanout_aiohttp(config: Config) -> MakeBatch:
    """aiohttp, every call a task, an ``asyncio.Semaphore`` holding them to
    ``concurrency``; the default connector (at most 100 connections)."""
    import aiohttp

    loop = asyncio.new_event_loop()
    url = config["base_url"] + config["path"]
    concurrency = int(config["concurrency"])

    def make(calls: int) -> Batch:
        async def open_session() -> Any:
            return aiohttp.ClientSession(headers={"Authorization": bearer(config)})

        session = loop.run_until_complete(open_session())

        async def every_call() -> list[int]:
            semaphore = asyncio.Semaphore(concurrency)

            async def get() -> int:
                async with semaphore, session.get(url) as response:
                    await response.read()
                    return int(response.status)

            return list(await asyncio.gather(*(get() for _ in range(calls))))

        def batch() -> list[int]:
            return loop.run_until_complete(every_call())

        def close() -> None:
            loop.run_until_complete(session.close())

        return batch, close

    return make


FANOUT_CLIENTS: dict[str, Callable[[Config], MakeBatch]] = {
    "druva": fanout_druva,
    "requests": fanout_requests,
    "aiohttp": fanout_aiohttp,
}


class FanoutWorker:
    """``n`` batches a sample, each on a client of its own, built and closed
    outside the clock: a batch starts cold, as a script's does (connections,
    and druva's adaptive limit, start afresh)."""

    def __init__(self, client: str, config: Config) -> None:
        self.make = FANOUT_CLIENTS[client](config)
        self.calls = int(config["calls"])
        batch, close = self.make(1)
        statuses = batch()  # imports, the token, and a check that a call works
        close()
        if statuses != [200]:
            raise RuntimeError(f"{client} got HTTP {statuses} from {config['path']}")

    def calibrate(self, seconds: float) -> int:
        raise NotImplementedError("the fan-out cases run a fixed batch")

    def run(self, batches: int) -> dict[str, Any]:
        wall = cpu = 0.0
        statuses: dict[str, int] = {}
        for _ in range(batches):
            batch, close = self.make(self.calls)
            cpu_started = time.process_time()
            wall_started = time.perf_counter()
            answered = batch()
            wall += time.perf_counter() - wall_started
            cpu += time.process_time() - cpu_started
            close()
            for status in answered:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
        failed = sum(count for status, count in statuses.items() if not status.startswith("2"))
        return {
            "calls": batches,
            "wall_s": wall,
            "cpu_s": cpu,
            "max_rss_kib": max_rss_kib(),
            "failed": failed,
            "statuses": statuses,
        }


# --- paginate with a consumer that works on every page ---


def no_work(seconds: float) -> None:
    """Spends nothing: the listing read as fast as the network gives it."""


def busy_wait(seconds: float) -> None:
    """Spends ``seconds`` on the CPU, holding the GIL as Python code does."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


class ConsumerWorker:
    """``Session.paginate`` read by a consumer that spends ``work_s`` on the
    first item of each page (``page_size`` items): in ``time.sleep`` for the
    ``sleep`` client (an I/O-bound consumer, the GIL released), in a busy loop
    for ``busy`` (a CPU-bound one, competing for the GIL); ``none`` spends
    nothing, which measures the network alone."""

    def __init__(self, client: str, config: Config) -> None:
        self.spend = {"sleep": time.sleep, "busy": busy_wait, "none": no_work}[client]
        self.session = druva_session(config)
        self.session.token  # noqa: B018 - fetch the token before the timed runs
        self.path, self.params = config["path"], config["params"]
        self.page_size, self.work = int(config["page_size"]), float(config["work_s"])
        self.run(1)

    def read(self) -> int:
        records = 0
        for _ in self.session.paginate(self.path, params=self.params):
            if records % self.page_size == 0:
                self.spend(self.work)
            records += 1
        return records

    def calibrate(self, seconds: float) -> int:
        raise NotImplementedError("paginate_consumer reads the whole listing once a sample")

    def run(self, listings: int) -> dict[str, Any]:
        cpu_started = time.process_time()
        wall_started = time.perf_counter()
        records = [self.read() for _ in range(listings)]
        wall = time.perf_counter() - wall_started
        cpu = time.process_time() - cpu_started
        return {
            "calls": listings,
            "wall_s": wall,
            "cpu_s": cpu,
            "max_rss_kib": max_rss_kib(),
            "records": records,
        }


# --- token storm: threads and tasks on a cold cache at once ---


def token_storm(message: dict[str, Any]) -> dict[str, Any]:
    """``threads`` threads and ``tasks`` asyncio tasks ask for the same token
    at the same moment, on a cache that has never seen these credentials."""
    import druva

    client_id, secret, base_url = message["client_id"], message["secret"], message["base_url"]
    go = threading.Event()
    started = 0.0
    latencies: list[float] = []
    access_tokens: set[str] = set()
    errors: list[str] = []

    def record(token: Any) -> None:
        latencies.append(time.perf_counter() - started)
        access_tokens.add(token["access_token"])

    def in_thread() -> None:
        go.wait()
        try:
            record(druva.get_token(client_id, secret, base_url=base_url))
        except Exception as error:
            errors.append(repr(error))

    async def in_task() -> None:
        record(await druva.get_token_async(client_id, secret, base_url=base_url))

    async def storm() -> None:
        nonlocal started
        started = time.perf_counter()
        go.set()
        await asyncio.gather(*(in_task() for _ in range(int(message["tasks"]))))

    threads = [threading.Thread(target=in_thread) for _ in range(int(message["threads"]))]
    for thread in threads:
        thread.start()
    cpu_started = time.process_time()
    asyncio.run(storm())
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "cpu_s": time.process_time() - cpu_started,
        "latencies_s": sorted(latencies),
        "distinct_tokens": len(access_tokens),
        "errors": errors[:3],
        "max_rss_kib": max_rss_kib(),
    }


# --- paginate: every record of a large listing, one fresh process a run ---


def allocated_size(item: Any) -> int:
    """Bytes the allocator hands out for ``item``: ``sys.getsizeof`` (which
    includes the GC header) rounded up as pymalloc does (16-byte classes up to
    512 bytes) or as glibc malloc does above that (8 bytes of header)."""
    size = sys.getsizeof(item)
    if size > 512:
        size += 8
    return -(-size // 16) * 16


def deep_size(root: Any) -> int:
    """Bytes held by ``root`` and everything it reaches, each object once."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += allocated_size(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total


def paginate_druva(config: Config) -> Callable[[], list[Any]]:
    session = druva_session(config)
    session.token  # noqa: B018 - fetch the token before the timed run

    def every_record() -> list[Any]:
        return list(session.paginate(config["path"], params=config["params"]))

    return every_record


def paginate_requests_oauthlib(config: Config) -> Callable[[], list[Any]]:
    """The loop a user of the oauthlib sample writes by hand."""
    from oauthlib.oauth2 import BackendApplicationClient
    from requests_oauthlib import OAuth2Session

    session = OAuth2Session(
        client=BackendApplicationClient(client_id=config["client_id"]), token=token_dict(config)
    )
    url = config["base_url"] + config["path"]

    def every_record() -> list[Any]:
        records: list[Any] = []
        params = dict(config["params"])
        while True:
            response = session.get(url, params=params)
            response.raise_for_status()
            page = response.json()
            records.extend(page["users"])
            next_page = page.get("nextPageToken")
            if not next_page:
                return records
            # As Druva's own scripts do: a page token goes alone.
            params = {"pageToken": next_page}

    return every_record


PAGINATE_CLIENTS: dict[str, Callable[[Config], Callable[[], list[Any]]]] = {
    "druva": paginate_druva,
    "requests_oauthlib": paginate_requests_oauthlib,
}


def paginate_once(client: str, config: Config) -> dict[str, Any]:
    every_record = PAGINATE_CLIENTS[client](config)
    gc.collect()
    baseline = current_rss_bytes()
    cpu_started = time.process_time()
    wall_started = time.perf_counter()
    records = every_record()
    wall = time.perf_counter() - wall_started
    cpu = time.process_time() - cpu_started
    peak = max_rss_kib() * 1024
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "records": len(records),
        "baseline_rss_bytes": baseline,
        "peak_rss_bytes": peak,
        "results_bytes": deep_size(records),
        "max_rss_kib": peak // 1024,
    }


def reply(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


def main() -> None:
    case, client = sys.argv[1], sys.argv[2]
    config: Config = json.loads(sys.stdin.readline())
    config["client"] = client
    if case == "paginate":
        reply(paginate_once(client, config))
        return
    worker: SyncWorker | AsyncWorker | FanoutWorker | ConsumerWorker | None = None
    if case == "async":
        worker = AsyncWorker(client, config)
    elif case in ("fanout", "fanout_throttled", "fanout_rate_limited"):
        worker = FanoutWorker(client, config)
    elif case == "paginate_consumer":
        worker = ConsumerWorker(client, config)
    elif case != "storm":
        worker = SyncWorker(SYNC_CASES[case][client](config))
    reply({"ready": True})
    for line in sys.stdin:
        message = json.loads(line)
        if message["op"] == "storm":
            reply(token_storm(message))
        elif worker is None:
            raise ValueError(f"{case} takes only storm commands")
        elif message["op"] == "calibrate":
            reply({"n": worker.calibrate(float(message["seconds"]))})
        elif message["op"] == "run":
            reply(worker.run(int(message["n"])))
        else:
            raise ValueError(f"unknown op {message['op']!r}")


if __name__ == "__main__":
    main()
