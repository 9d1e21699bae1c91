"""OAuth 2.0 access tokens and authenticated sessions for the Druva REST APIs.

``druva.get_token(client_id, secret)`` returns the same token dict as
Druva's documented ``oauthlib`` sample, cached for the whole process and
shared by every thread and task. ``druva.Session`` and
``druva.AsyncSession`` keep the token fresh, renew it when the API refuses
it, retry rate limits and gateway errors, page through lists, run many
calls at once, and never send the token to another origin. Every failed
call raises a ``druva.DruvaError``; ``druva.testing.FakeDruva`` is a local
Druva to test against.

In the examples, ``client_id`` and ``secret`` are a Druva API credential
and ``s`` is a ``druva.Session``. The tests run them as they are against
a ``druva.testing.FakeDruva`` (``fake``) of 25 users, 10 a page.

>>> import druva
>>> token = druva.get_token(client_id, secret)
>>> with druva.Session(client_id, secret) as s:
...     emails = [user["emailID"] for user in s.paginate("/insync/usermanagement/v1/users")]
>>> emails[0]
'linus.ritchie.1@example.com'
"""

from __future__ import annotations

import atexit
import collections.abc
import logging

from druva import _druva
from druva._druva import (
    AsyncSession,
    DirectoryTokenStore,
    Headers,
    Paginator,
    Response,
    Session,
    __version__,
    get_token,
    get_token_async,
)
from druva._errors import (
    AuthenticationError,
    DruvaError,
    HTTPStatusError,
    JSONDecodeError,
    ProtocolError,
    RateLimitError,
    TimeoutError,
    TransportError,
)
from druva._store import RedisTokenStore, TokenStore
from druva._token import Token

__all__ = [
    "AsyncSession",
    "AuthenticationError",
    "DirectoryTokenStore",
    "DruvaError",
    "HTTPStatusError",
    "Headers",
    "JSONDecodeError",
    "Paginator",
    "ProtocolError",
    "RateLimitError",
    "RedisTokenStore",
    "Response",
    "Session",
    "TimeoutError",
    "Token",
    "TokenStore",
    "TransportError",
    "__version__",
    "get_token",
    "get_token_async",
]

logging.getLogger("druva").addHandler(logging.NullHandler())


def _follow_logging_levels() -> None:
    """Make a logging level changed at run time apply to druva's next record.

    The Rust side caches each logger's level (pyo3-log); the stdlib clears its
    own level caches in ``Manager._clear_cache`` whenever a level changes, so
    druva clears its cache there too: no cost per call.
    """
    manager = logging.Logger.manager
    clear_cache = getattr(manager, "_clear_cache", None)
    if clear_cache is None or getattr(clear_cache, "_druva", False):
        return

    def clear_cache_and_druvas() -> None:
        clear_cache()
        _druva._reset_log_cache()

    clear_cache_and_druvas._druva = True  # type: ignore[attr-defined]
    manager._clear_cache = clear_cache_and_druvas  # type: ignore[attr-defined]


_follow_logging_levels()
# AsyncSession's calls return coroutines made in Rust: registered, so that
# asyncio.create_task() and inspect.isawaitable() take them like any other.
collections.abc.Coroutine.register(_druva._Awaitable)
_druva._reset_log_cache()
# Stop the runtime's worker threads before the interpreter finalizes, so none of
# them hands a result to a dying interpreter.
atexit.register(_druva._shutdown)
