"""The one reader of druva's environment variables.

``Session.from_env()``, ``AsyncSession.from_env()`` and the command line all
read the credential and the cloud here, with one set of rules:

- ``DRUVA_CLIENT_ID`` and ``DRUVA_SECRET_KEY`` are required; an empty value
  counts as unset.
- ``DRUVA_REGION`` and ``DRUVA_BASE_URL`` choose the cloud; an empty value
  counts as unset.
- Explicit arguments win: an explicit ``region`` or ``base_url`` (not
  ``None``) chooses the cloud, and then neither variable is read, so that
  ``--region govcloud`` is not undone by a ``DRUVA_BASE_URL`` left in the
  shell.
- ``DRUVA_TOKEN_CACHE`` (a directory or a ``redis://`` URL) becomes
  ``token_cache=`` unless one is given: processes sharing it share tokens.
  The constructors themselves read no environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional

__all__ = [
    "BASE_URL",
    "CLIENT_ID",
    "REGION",
    "SECRET_KEY",
    "TOKEN_CACHE",
    "cloud_arguments",
    "credentials",
    "missing_credentials_message",
    "session_arguments",
    "token_cache_arguments",
]

CLIENT_ID = "DRUVA_CLIENT_ID"
SECRET_KEY = "DRUVA_SECRET_KEY"  # noqa: S105 (the variable's name, not a secret)
REGION = "DRUVA_REGION"
BASE_URL = "DRUVA_BASE_URL"
TOKEN_CACHE = "DRUVA_TOKEN_CACHE"  # noqa: S105 (the variable's name, not a secret)

# The keyword argument each cloud variable stands for.
CLOUD_VARIABLES = {"region": REGION, "base_url": BASE_URL}


def _value(environ: Mapping[str, str], name: str) -> Optional[str]:
    """The variable's value; ``None`` when it is unset or empty."""
    return environ.get(name) or None


def credentials(environ: Optional[Mapping[str, str]] = None) -> tuple[Optional[str], Optional[str]]:
    """``(client_id, secret)`` from the environment, each ``None`` when unset or empty."""
    environ = os.environ if environ is None else environ
    return _value(environ, CLIENT_ID), _value(environ, SECRET_KEY)


def missing_credentials_message(missing: Sequence[str]) -> str:
    """What to set, naming only the variables in ``missing`` (never a value)."""
    return f"set {' and '.join(missing)} in the environment (an empty value counts as unset)"


def cloud_arguments(
    overrides: Mapping[str, Any], environ: Optional[Mapping[str, str]] = None
) -> dict[str, Any]:
    """``overrides`` with ``region`` / ``base_url`` from the environment when
    neither is given explicitly (``None`` counts as not given)."""
    environ = os.environ if environ is None else environ
    arguments = {key: value for key, value in overrides.items() if value is not None}
    if any(argument in arguments for argument in CLOUD_VARIABLES):
        return arguments
    for argument, name in CLOUD_VARIABLES.items():
        value = _value(environ, name)
        if value is not None:
            arguments[argument] = value
    return arguments


def token_cache_arguments(
    arguments: Mapping[str, Any], environ: Optional[Mapping[str, str]] = None
) -> dict[str, Any]:
    """``arguments`` with ``token_cache`` from ``DRUVA_TOKEN_CACHE`` when it
    is not given (``None`` counts as not given)."""
    environ = os.environ if environ is None else environ
    arguments = dict(arguments)
    value = _value(environ, TOKEN_CACHE)
    if arguments.get("token_cache") is None and value is not None:
        arguments["token_cache"] = value
    return arguments


def session_arguments(
    overrides: Mapping[str, Any], environ: Optional[Mapping[str, str]] = None
) -> tuple[str, str, dict[str, Any]]:
    """``(client_id, secret, keyword_arguments)`` for ``Session`` from the
    environment and ``overrides`` (the keyword arguments of ``from_env``).

    Raises ``ValueError`` naming the variables to set when the Client ID or
    the Secret Key is missing or empty.

    >>> client_id, secret, options = session_arguments({"timeout": 10})  # doctest: +SKIP
    >>> druva.Session(client_id, secret, **options)  # doctest: +SKIP
    """
    environ = os.environ if environ is None else environ
    client_id, secret = credentials(environ)
    if client_id is None or secret is None:
        missing = [
            name for name, value in ((CLIENT_ID, client_id), (SECRET_KEY, secret)) if value is None
        ]
        raise ValueError(
            missing_credentials_message(missing)
            + f" to use from_env() (and optionally {REGION} or {BASE_URL})"
        )
    return client_id, secret, token_cache_arguments(cloud_arguments(overrides, environ), environ)
