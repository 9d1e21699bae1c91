"""The druva exception hierarchy.

Every exception druva raises for a failed call is a ``DruvaError``. Some
also subclass the builtin exceptions that existing code already catches:
``TransportError`` is a ``ConnectionError``, ``TimeoutError`` the builtin
``TimeoutError``, ``JSONDecodeError`` a ``json.JSONDecodeError`` (so a
``ValueError``). No message or attribute ever holds a secret or a token.
"""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from druva._druva import Response

__all__ = [
    "AuthenticationError",
    "DruvaError",
    "HTTPStatusError",
    "JSONDecodeError",
    "ProtocolError",
    "RateLimitError",
    "TimeoutError",
    "TransportError",
]


class DruvaError(Exception):
    """The base class of every error druva raises for a failed call.

    Bad arguments are not failed calls: they raise ``TypeError`` or
    ``ValueError`` before anything is sent. No message or attribute holds a
    secret or a token.

    >>> try:
    ...     druva.get_token(client_id, "not the secret")
    ... except druva.DruvaError as error:
    ...     print(type(error).__name__)
    AuthenticationError
    """


class AuthenticationError(DruvaError):
    """The token endpoint refused the credentials.

    Raised for ``400 {"error": "invalid_grant"}`` and ``401 {"error":
    "invalid_client"}``; never retried. Check the Client ID, the Secret Key
    and the region (a credential works only on the cloud that issued it).

    Attributes:
        status_code: the HTTP status of the refusal (400 or 401).
        error: the OAuth error code, e.g. ``"invalid_grant"``.
        error_description: the server's explanation, when it sent one.

    >>> try:
    ...     druva.get_token(client_id, "not the secret")
    ... except druva.AuthenticationError as error:
    ...     print(error.status_code, error.error, error.error_description)
    400 invalid_grant Invalid client credentials
    """

    def __init__(
        self,
        message: str,
        status_code: int,
        error: str,
        error_description: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.error_description = error_description


class HTTPStatusError(DruvaError):
    """The API answered with an error status: from ``Response.raise_for_status()`` or paging.

    A session call itself returns the response whatever its status;
    ``Response.raise_for_status()`` and ``Paginator`` iteration raise this.
    A 403 that persists with a freshly fetched token says so in its
    message: the cause is then access (the credential's rights or licence,
    the cloud, an expired tracker), not the token.

    Attributes:
        status_code: the HTTP status.
        response: the ``druva.Response``.
        code: Druva's application error code (``"InsyncEndpoints-1006"``), if any.
        message: Druva's error message, if any.
        retryable: Druva's retry hint, the body's ``retryable`` (``None`` when
            absent). ``True`` was retried like a 503 before this was raised
            (idempotent methods or ``retry=True``, up to ``max_retries``);
            ``False`` was never retried.

    >>> try:
    ...     s.get("/insync/usermanagement/v1/users/999999").raise_for_status()
    ... except druva.HTTPStatusError as error:
    ...     print(error.status_code, error.code, error.message)
    404 InsyncUserManagement-404 User not found
    """

    def __init__(
        self,
        text: str,
        response: Response,
        code: str | None = None,
        message: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(text)
        self.response = response
        self.status_code: int = response.status_code
        self.code = code
        self.message = message
        self.retryable = retryable


class RateLimitError(HTTPStatusError):
    """The API still answered 429 Too Many Requests after the retries.

    A 429 is retried for every method (unless ``retry=False``) while the
    waits fit in the session's ``rate_limit_wait``; then the call returns
    the last 429, and its ``Response.raise_for_status()`` (or paging) raises this.

    >>> fake.fail_next(429, count=2, path="/insync")
    >>> with druva.Session(client_id, secret, rate_limit_wait=0) as impatient:
    ...     try:
    ...         impatient.get("/insync/usermanagement/v1/users").raise_for_status()
    ...     except druva.RateLimitError as error:
    ...         print(error.status_code)
    429
    """


class TransportError(DruvaError, ConnectionError):
    """Connecting, sending or receiving failed: refused, reset, TLS, cut-off body.

    Raised after the retries (connection failures are retried like 502-504).
    Also a builtin ``ConnectionError``, so ``except ConnectionError`` keeps
    working.

    >>> fake.drop_next(count=2, path="/insync")
    >>> with druva.Session(client_id, secret, max_retries=0) as once:
    ...     try:
    ...         once.get("/insync/usermanagement/v1/users")
    ...     except ConnectionError as error:
    ...         print(type(error).__name__)
    TransportError
    """


class TimeoutError(TransportError, builtins.TimeoutError):  # noqa: A001
    """The call took longer than its timeout.

    A call's ``timeout`` bounds all of it: every attempt, every retry wait,
    the wait for a shared token request (the waits on 429s aside). Also the
    builtin ``TimeoutError``, so ``except TimeoutError`` keeps working.

    >>> fake.delay_next(1.0, path="/insync")
    >>> try:
    ...     s.get("/insync/usermanagement/v1/users", timeout=0.2)
    ... except TimeoutError:
    ...     print("timed out")
    timed out
    """


class ProtocolError(DruvaError):
    """A response that breaks the protocol.

    A token answer without ``access_token`` or that is not JSON (its body
    is never quoted), an API body that is not JSON (``JSONDecodeError``), a
    body larger than ``max_response_bytes``, a redirect loop.

    >>> fake.huge_next(2_000_000, path="/insync")
    >>> with druva.Session(client_id, secret, max_response_bytes=1_000_000) as small:
    ...     try:
    ...         small.get("/insync/usermanagement/v1/users")
    ...     except druva.ProtocolError:
    ...         print("body too large")
    body too large
    """


class JSONDecodeError(ProtocolError, json.JSONDecodeError):
    """An API body that is not JSON: from ``Response.json()`` or a page.

    Also a ``json.JSONDecodeError``, so a ``ValueError``: code that catches
    what ``json.loads`` or ``requests``' ``Response.json()`` raise keeps
    working. The message gives the position; the body itself is in ``doc``.

    Attributes:
        msg: what was wrong, e.g. ``"Expecting value"``.
        doc: the body as text (invalid UTF-8 replaced).
        pos: the character offset in ``doc`` where decoding failed.
        lineno, colno: that position as a line and a column, from 1.

    >>> fake.malform_next(path="/insync")
    >>> try:
    ...     s.get("/insync/usermanagement/v1/users").json()
    ... except ValueError as error:
    ...     print(type(error).__name__, error.pos)
    JSONDecodeError ...
    """

    def __init__(self, msg: str, doc: str, pos: int) -> None:
        json.JSONDecodeError.__init__(self, msg, doc, pos)
