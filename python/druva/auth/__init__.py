"""Druva's bearer token for code that keeps its own ``requests`` or ``httpx`` client.

:class:`RequestsAuth` is a ``requests.auth.AuthBase`` and :class:`HttpxAuth` an
``httpx.Auth`` (for ``httpx.Client`` and ``httpx.AsyncClient``). Both take
:func:`druva.get_token`'s arguments (less ``force_refresh``) and put the token
from the same process-wide cache on each request to the credential's origin
(the API base URL's scheme, host and port); a request to any other origin goes
out untouched. On a 401 or 403 from that origin the token is renewed once and
the request resent once, unless its body was a stream (a generator, an
iterator, a file): that body is spent, so the 401/403 is returned as it is.

>>> import requests
>>> from druva.auth import RequestsAuth
>>> s = requests.Session()
>>> s.auth = RequestsAuth(client_id, secret)  # doctest: +SKIP
>>> s.get("https://apis.druva.com/insync/usermanagement/v1/users").json()  # doctest: +SKIP

Importing this module imports neither ``requests`` nor ``httpx``: each is
imported when its adapter is first looked up here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from druva.auth._httpx import HttpxAuth
    from druva.auth._requests import RequestsAuth

__all__ = ["HttpxAuth", "RequestsAuth"]

# Each adapter, the module that defines it and the package that module needs.
_ADAPTERS = {
    "RequestsAuth": ("druva.auth._requests", "requests"),
    "HttpxAuth": ("druva.auth._httpx", "httpx"),
}


def __getattr__(name: str) -> Any:
    if name not in _ADAPTERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, package = _ADAPTERS[name]
    try:
        adapter = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as error:
        if error.name != package:
            raise
        raise ImportError(
            f"druva.auth.{name} needs the {package} package: pip install {package}"
        ) from error
    globals()[name] = adapter
    return adapter


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
