"""Typed contract of the compiled core, checked against the binary by
``python -m mypy.stubtest druva._druva``."""

import asyncio
import datetime
import os
import pathlib
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, Literal, Optional, TypeVar, Union, final

from typing_extensions import Self, disjoint_base

from druva._store import TokenStore
from druva._token import Token

__version__: str
__all__ = [
    "AsyncSession",
    "DirectoryTokenStore",
    "Headers",
    "Paginator",
    "Response",
    "Session",
    "_Awaitable",
    "_BaseSession",
    "_Canceller",
    "_DirectoryLock",
    "_FakeServer",
    "_InTransit",
    "_LoopQueue",
    "_TokenAuth",
    "_token_auth",
    "__version__",
    "_fake_defaults",
    "_reset_log_cache",
    "_shutdown",
    "get_token",
    "get_token_async",
    "json_loads",
]

_Params = Optional[Union[Mapping[str, Any], Sequence[tuple[str, Any]]]]
_Headers = Optional[Union[Mapping[str, Any], Sequence[tuple[str, Any]]]]
_Path = Union[str, os.PathLike[str]]
_Scope = Optional[Union[str, Sequence[str]]]
_TokenCache = Optional[Union[str, os.PathLike[str], TokenStore]]
_ClientAuth = Literal["basic", "post"]
_TokenParams = Optional[Mapping[str, Union[str, Sequence[str]]]]

def get_token(
    client_id: str,
    secret: str,
    *,
    region: str = "cloud",
    base_url: Optional[str] = None,
    token_url: Optional[str] = None,
    scope: _Scope = None,
    timeout: float = 30.0,
    force_refresh: bool = False,
    ca_bundle: Optional[_Path] = None,
    token_cache: _TokenCache = None,
    client_auth: _ClientAuth = "basic",
    token_params: _TokenParams = None,
    proxy: Optional[str] = None,
) -> Token: ...
def get_token_async(
    client_id: str,
    secret: str,
    *,
    region: str = "cloud",
    base_url: Optional[str] = None,
    token_url: Optional[str] = None,
    scope: _Scope = None,
    timeout: float = 30.0,
    force_refresh: bool = False,
    ca_bundle: Optional[_Path] = None,
    token_cache: _TokenCache = None,
    client_auth: _ClientAuth = "basic",
    token_params: _TokenParams = None,
    proxy: Optional[str] = None,
) -> Coroutine[Any, Any, Token]: ...
def _token_auth(
    client_id: str,
    secret: str,
    *,
    region: str = "cloud",
    base_url: Optional[str] = None,
    token_url: Optional[str] = None,
    scope: _Scope = None,
    timeout: float = 30.0,
    force_refresh: bool = False,
    ca_bundle: Optional[_Path] = None,
    token_cache: _TokenCache = None,
    client_auth: _ClientAuth = "basic",
    token_params: _TokenParams = None,
    proxy: Optional[str] = None,
) -> _TokenAuth: ...
def json_loads(data: Union[str, bytes]) -> Any: ...
def _shutdown() -> None: ...
def _reset_log_cache() -> None: ...

@final
class Headers(Mapping[str, str]):
    def __getitem__(self, key: str, /) -> str: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def get(self, name: str, default: Any = None) -> Any: ...
    def keys(self) -> list[str]: ...  # type: ignore[override]
    def values(self) -> list[str]: ...  # type: ignore[override]
    def items(self) -> list[tuple[str, str]]: ...  # type: ignore[override]

@final
class Response:
    @property
    def status_code(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def url(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    @property
    def elapsed(self) -> datetime.timedelta: ...
    def json(self) -> Any: ...
    def raise_for_status(self) -> Self: ...
    def __bool__(self) -> bool: ...

@final
class Paginator(Iterator[Any], AsyncIterator[Any]):
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Coroutine[Any, Any, Any]: ...
    @property
    def pages(self) -> int: ...
    @property
    def cursor(self) -> Optional[str]: ...
    @property
    def style(self) -> Optional[str]: ...

_R = TypeVar("_R")
_N = TypeVar("_N")
_M = TypeVar("_M")

@disjoint_base
class _BaseSession(Generic[_R, _N, _M]):
    # Every call, once: a Session returns the Response (_R), None (_N) and
    # map's list (_M), an AsyncSession coroutines of them.
    def request(
        self,
        method: str,
        url: str,
        *,
        params: _Params = None,
        json: Any = None,
        data: Any = None,
        headers: _Headers = None,
        timeout: Optional[float] = None,
        retry: Optional[bool] = None,
    ) -> _R: ...
    def get(
        self,
        url: str,
        *,
        params: _Params = None,
        headers: _Headers = None,
        timeout: Optional[float] = None,
    ) -> _R: ...
    def post(
        self,
        url: str,
        *,
        params: _Params = None,
        json: Any = None,
        data: Any = None,
        headers: _Headers = None,
        timeout: Optional[float] = None,
        retry: Optional[bool] = None,
    ) -> _R: ...
    def put(
        self,
        url: str,
        *,
        params: _Params = None,
        json: Any = None,
        data: Any = None,
        headers: _Headers = None,
        timeout: Optional[float] = None,
        retry: Optional[bool] = None,
    ) -> _R: ...
    def patch(
        self,
        url: str,
        *,
        params: _Params = None,
        json: Any = None,
        data: Any = None,
        headers: _Headers = None,
        timeout: Optional[float] = None,
        retry: Optional[bool] = None,
    ) -> _R: ...
    def delete(
        self,
        url: str,
        *,
        params: _Params = None,
        headers: _Headers = None,
        timeout: Optional[float] = None,
    ) -> _R: ...
    def map(
        self,
        urls: Iterable[str],
        *,
        method: str = "GET",
        params: _Params = None,
        json: Any = None,
        headers: _Headers = None,
        timeout: Optional[float] = None,
        concurrency: int = 16,
        return_exceptions: bool = False,
        progress: bool = False,
    ) -> _M: ...
    def close(self) -> _N: ...
    @property
    def base_url(self) -> str: ...
    @property
    def token_url(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def paginate(
        self,
        url: str,
        *,
        params: _Params = None,
        items: Optional[str] = None,
        method: str = "GET",
        json: Any = None,
        cursor: Optional[str] = None,
        style: Optional[str] = None,
        progress: bool = False,
        cursor_field: Optional[str] = None,
        cursor_param: Optional[str] = None,
        keep_params: Optional[bool] = None,
    ) -> Paginator: ...

@final
class Session(_BaseSession[Response, None, list[Any]]):
    def __new__(
        cls,
        client_id: str,
        secret: str,
        *,
        region: str = "cloud",
        base_url: Optional[str] = None,
        token_url: Optional[str] = None,
        scope: _Scope = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        leeway: float = 60.0,
        ca_bundle: Optional[_Path] = None,
        proxy: Optional[str] = None,
        max_response_bytes: int = 104857600,
        rate_limit_wait: float = 120.0,
        max_concurrency: Optional[int] = None,
        msp: bool = False,
        token_cache: _TokenCache = None,
        client_auth: _ClientAuth = "basic",
        token_params: _TokenParams = None,
    ) -> Self: ...
    @classmethod
    def from_env(cls, **kwargs: Any) -> Self: ...
    def customer(self, customer_id: str) -> Self: ...
    @property
    def token(self) -> Token: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_exc_info: object) -> None: ...

@final
class AsyncSession(
    _BaseSession[
        Coroutine[Any, Any, Response], Coroutine[Any, Any, None], Coroutine[Any, Any, list[Any]]
    ]
):
    def __new__(
        cls,
        client_id: str,
        secret: str,
        *,
        region: str = "cloud",
        base_url: Optional[str] = None,
        token_url: Optional[str] = None,
        scope: _Scope = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        leeway: float = 60.0,
        ca_bundle: Optional[_Path] = None,
        proxy: Optional[str] = None,
        max_response_bytes: int = 104857600,
        rate_limit_wait: float = 120.0,
        max_concurrency: Optional[int] = None,
        msp: bool = False,
        token_cache: _TokenCache = None,
        client_auth: _ClientAuth = "basic",
        token_params: _TokenParams = None,
    ) -> Self: ...
    @classmethod
    def from_env(cls, **kwargs: Any) -> Self: ...
    def customer(self, customer_id: str) -> Self: ...
    def token(self) -> Coroutine[Any, Any, Token]: ...
    def __aenter__(self) -> Coroutine[Any, Any, Self]: ...
    def __aexit__(self, *_exc_info: object) -> Coroutine[Any, Any, None]: ...

@final
class DirectoryTokenStore:
    def __new__(cls, path: _Path) -> Self: ...
    @property
    def path(self) -> pathlib.Path: ...
    def load(self, key: str) -> Optional[bytes]: ...
    def save(self, key: str, blob: bytes, ttl_seconds: float) -> None: ...
    def delete(self, key: str, blob: bytes) -> None: ...
    def lock(self, key: str, timeout_seconds: float) -> _DirectoryLock: ...

@final
class _DirectoryLock:
    def __enter__(self) -> Self: ...
    def __exit__(self, *_exception: object) -> bool: ...

@final
class _Awaitable(Coroutine[Any, Any, Any]):
    def __await__(self) -> Self: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any: ...
    def throw(self, error: Any, *_rest: Any) -> Any: ...
    def close(self) -> None: ...

@final
class _TokenAuth:
    # One credential of druva.auth's adapters: its token from get_token's
    # cache, and the origin that token may go to.
    def token(self) -> Token: ...
    def token_async(self) -> Coroutine[Any, Any, Token]: ...
    def through(self, proxy: Optional[str]) -> _TokenAuth: ...
    @property
    def token_url(self) -> str: ...
    def admits(self, url: str) -> bool: ...
    def refused(
        self, status_code: int, url: str, authorization: object, *, resent: bool = False
    ) -> bool: ...
    def description(self) -> str: ...

@final
class _InTransit: ...

@final
class _LoopQueue:
    def __new__(cls, portable: bool = False) -> Self: ...
    @property
    def fd(self) -> int: ...
    @property
    def mechanism(self) -> Literal["eventfd", "pipe"]: ...
    @property
    def in_flight(self) -> int: ...
    def drain(self) -> None: ...

@final
class _Canceller:
    def __call__(self, future: asyncio.Future[Any]) -> None: ...

def _fake_defaults() -> dict[str, Any]: ...

@disjoint_base
class _FakeServer:
    def __new__(cls, arguments: dict[str, Any]) -> Self: ...
    @property
    def base_url(self) -> str: ...
    @property
    def token_url(self) -> str: ...
    @property
    def customer_ids(self) -> list[str]: ...
    @property
    def port(self) -> int: ...
    @property
    def client_id(self) -> str: ...
    @property
    def secret(self) -> str: ...
    @property
    def ca_bundle(self) -> Optional[str]: ...
    @property
    def token_requests(self) -> int: ...
    @property
    def api_requests(self) -> int: ...
    @property
    def requests(self) -> list[dict[str, Any]]: ...
    def reset_counters(self) -> None: ...
    def fail_next(
        self,
        status: int,
        count: int = 1,
        retry_after: Union[int, float, str, None] = None,
        path: Optional[str] = None,
        retryable: Optional[bool] = None,
    ) -> None: ...
    def delay_next(self, seconds: float, count: int = 1, path: Optional[str] = None) -> None: ...
    def drop_next(
        self, count: int = 1, path: Optional[str] = None, after_headers: bool = False
    ) -> None: ...
    def malform_next(self, count: int = 1, path: Optional[str] = None) -> None: ...
    def truncate_next(self, count: int = 1, path: Optional[str] = None) -> None: ...
    def redirect_next(
        self, location: str, count: int = 1, path: Optional[str] = None, status: int = 302
    ) -> None: ...
    def huge_next(self, size: int, count: int = 1, path: Optional[str] = None) -> None: ...
    def clear_faults(self) -> None: ...
    def add_events(self, count: int) -> None: ...
    def set_caught_up(self, name: str) -> None: ...
    def expire_tokens(self) -> None: ...
    def set_token_lifetime(self, seconds: float) -> None: ...
    def set_last_page(self, name: str) -> None: ...
    def stop(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_exc_info: object) -> None: ...
