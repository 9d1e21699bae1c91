"""Token stores shared by processes: the ``druva.TokenStore`` protocol and
``druva.RedisTokenStore``. ``druva.DirectoryTokenStore`` is the core's
(``druva._druva``); the sealing, the entry names and the locking rules are
the core's too: a store only keeps opaque blobs under opaque keys."""

from __future__ import annotations

import contextlib
import os
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Optional, Protocol, runtime_checkable

__all__ = ["RedisTokenStore", "TokenStore", "redis_store"]


@runtime_checkable
class TokenStore(Protocol):
    """The protocol of a token store shared by processes: what ``token_cache=`` takes.

    druva calls it with opaque keys (hex entry names) and blobs (sealed
    tokens: encrypted and authenticated under a key derived from the
    secret); a store keeps them and never needs to read them. Any object
    with these four methods works; calls come from one druva thread of the
    process, each bounded by a timeout, and whatever a method raises makes
    druva log one WARNING and go on with the token kept in the process.

    >>> import contextlib
    >>> class DictStore:  # one process only: a store for tests
    ...     def __init__(self):
    ...         self.entries = {}
    ...     def load(self, key):
    ...         return self.entries.get(key)
    ...     def save(self, key, blob, ttl_seconds):
    ...         self.entries[key] = blob
    ...     def delete(self, key, blob):
    ...         if self.entries.get(key) == blob:
    ...             del self.entries[key]
    ...     def lock(self, key, timeout_seconds):
    ...         return contextlib.nullcontext()
    >>> store = DictStore()
    >>> isinstance(store, druva.TokenStore)
    True
    >>> druva.get_token(client_id, secret, token_cache=store)["token_type"]
    'bearer'
    >>> len(store.entries)
    1
    """

    def load(self, key: str) -> Optional[bytes]:
        """The blob stored under ``key``, or ``None``.

        >>> import tempfile
        >>> druva.DirectoryTokenStore(tempfile.mkdtemp()).load("0123abcd") is None
        True
        """

    def save(self, key: str, blob: bytes, ttl_seconds: float) -> None:
        """Stores ``blob`` under ``key``, replacing any other, for ``ttl_seconds`` at least.

        >>> import tempfile
        >>> store = druva.DirectoryTokenStore(tempfile.mkdtemp())
        >>> store.save("0123abcd", b"sealed", 1800)
        >>> store.load("0123abcd")
        b'sealed'
        """

    def delete(self, key: str, blob: bytes) -> None:
        """Deletes the entry under ``key``, only while it is ``blob``.

        >>> import tempfile
        >>> store = druva.DirectoryTokenStore(tempfile.mkdtemp())
        >>> store.save("0123abcd", b"newer", 1800)
        >>> store.delete("0123abcd", b"older")
        >>> store.load("0123abcd")
        b'newer'
        """

    def lock(self, key: str, timeout_seconds: float) -> AbstractContextManager[Any]:
        """A context manager holding ``key``'s lock across processes.

        Entering it waits at most ``timeout_seconds`` and raises
        ``TimeoutError`` if the lock is still held. A holder that dies must
        not keep the lock for ever (``flock``, an expiring Redis key).

        >>> import tempfile
        >>> store = druva.DirectoryTokenStore(tempfile.mkdtemp())
        >>> with store.lock("0123abcd", 5.0):
        ...     pass
        """


class RedisTokenStore:
    """A token store in a Redis server, shared by the processes of many hosts.

    What ``token_cache="redis://..."`` makes; it needs the ``redis`` package
    (``pip install 'druva[redis]'``). Entries are sealed blobs under
    ``druva:token:<HMAC>`` keys that expire with their token; a key's lock is
    ``SET NX PX`` with a random value, released by a compare-and-delete
    script, and expires after ``lock_expiry`` seconds, so a holder killed
    mid-request never blocks the others for long.

    Args:
        url: a ``redis://`` or ``rediss://`` (TLS) URL, as ``redis.Redis.from_url``
            takes it; a password in it never appears in a repr or log record.
        lock_expiry: seconds after which a lock whose holder vanished expires.
            Default ``30.0`` (druva's default timeout).
        socket_timeout: seconds a Redis command may take. Default ``5.0``.

    Raises:
        ImportError: the ``redis`` package is not installed.
        ValueError: ``url`` is not a ``redis://`` or ``rediss://`` URL.

    >>> store = druva.RedisTokenStore(redis_url)
    >>> druva.get_token(client_id, secret, token_cache=store)["token_type"]
    'bearer'
    """

    def __init__(self, url: str, *, lock_expiry: float = 30.0, socket_timeout: float = 5.0) -> None:
        scheme = urllib.parse.urlsplit(url).scheme if isinstance(url, str) else ""
        if scheme not in {"redis", "rediss"}:
            raise ValueError("RedisTokenStore needs a redis:// or rediss:// URL")
        if not lock_expiry > 0 or not socket_timeout > 0:
            raise ValueError("lock_expiry and socket_timeout must be positive seconds")
        try:
            import redis
        except ImportError as error:
            raise ImportError(
                "RedisTokenStore needs the redis package: pip install 'druva[redis]'",
                name="redis",
            ) from error
        self._url = _without_password(url)
        self._lock_expiry_ms = max(1, int(lock_expiry * 1000))
        self._client = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self._compare_and_delete = self._client.register_script(_COMPARE_AND_DELETE)

    def load(self, key: str) -> Optional[bytes]:
        """The blob stored under ``key``, or ``None``.

        >>> druva.RedisTokenStore(redis_url).load("0123abcd") is None
        True
        """
        blob = self._client.get(_PREFIX + key)
        # The client does not decode responses: a value is bytes.
        return blob if isinstance(blob, bytes) else None

    def save(self, key: str, blob: bytes, ttl_seconds: float) -> None:
        """Stores ``blob`` under ``key`` for ``ttl_seconds``, replacing any other.

        >>> store = druva.RedisTokenStore(redis_url)
        >>> store.save("0123abcd", b"sealed", 60)
        >>> store.load("0123abcd")
        b'sealed'
        """
        self._client.set(_PREFIX + key, blob, px=max(1, int(ttl_seconds * 1000)))

    def delete(self, key: str, blob: bytes) -> None:
        """Deletes the entry under ``key``, only while it is ``blob`` (atomically, in a script).

        >>> store = druva.RedisTokenStore(redis_url)
        >>> store.save("4567cdef", b"newer", 60)
        >>> store.delete("4567cdef", b"older")
        >>> store.load("4567cdef")
        b'newer'
        """
        self._compare_and_delete(keys=[_PREFIX + key], args=[blob])

    @contextlib.contextmanager
    def lock(self, key: str, timeout_seconds: float) -> Iterator[None]:
        """A context manager holding ``key``'s lock across processes and hosts.

        Entering it waits at most ``timeout_seconds`` and raises
        ``TimeoutError`` while another holder keeps it; the lock expires after
        ``lock_expiry`` seconds, and leaving releases it only if it is still
        this holder's.

        >>> store = druva.RedisTokenStore(redis_url)
        >>> with store.lock("0123abcd", 5.0):
        ...     pass
        """
        name = _LOCK_PREFIX + key
        value = os.urandom(16).hex().encode()
        deadline = time.monotonic() + max(0.0, timeout_seconds)
        pause = 0.005
        while not self._client.set(name, value, nx=True, px=self._lock_expiry_ms):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"the token store lock was not free within {timeout_seconds:.3f} s"
                )
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.1)
        try:
            yield
        finally:
            self._compare_and_delete(keys=[name], args=[value])

    def __repr__(self) -> str:
        return f"RedisTokenStore({self._url!r})"


_PREFIX = "druva:token:"
_LOCK_PREFIX = "druva:lock:"
# Deletes KEYS[1] only while it holds ARGV[1]: a lock that expired and was
# taken by another holder, or an entry another process replaced, stays.
_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def _without_password(url: str) -> str:
    """``url`` with any password masked, for reprs and log records."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


_REDIS_STORES: dict[str, RedisTokenStore] = {}


def redis_store(url: str) -> RedisTokenStore:
    """The ``RedisTokenStore`` of ``url``, one a URL for the process, so
    that every session given the same URL shares its connection pool and
    its token cache entries."""
    store = _REDIS_STORES.get(url)
    if store is None:
        store = _REDIS_STORES.setdefault(url, RedisTokenStore(url))
    return store
