"""The druva exception hierarchy.

Every exception druva raises for a failed call is a :class:`DruvaError`. The
transport errors also subclass the builtin exceptions that existing code
already catches: :class:`TransportError` is a :class:`ConnectionError` and
:class:`TimeoutError` is the builtin :class:`TimeoutError`. No message or
attribute ever holds a secret or a token.
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
    """Base class of every error druva raises for a failed call."""


class AuthenticationError(DruvaError):
    """The token endpoint refused the credentials.

    Raised for ``400 {"error": "invalid_grant"}`` and ``401 {"error":
    "invalid_client"}``; never retried. Check the Client ID, the Secret Key and
    the region.

    Attributes:
        status_code: the HTTP status of the refusal (400 or 401).
        error: the OAuth error code, e.g. ``"invalid_grant"``.
        error_description: the server's explanation, when it sent one.
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
    """The API answered with an error status (from ``raise_for_status()`` or paging).

    Attributes:
        status_code: the HTTP status.
        response: the :class:`druva.Response`.
        code: Druva's application error code (``"InsyncEndpoints-1006"``), if any.
        message: Druva's error message, if any.
    """

    def __init__(
        self,
        text: str,
        response: Response,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(text)
        self.response = response
        self.status_code: int = response.status_code
        self.code = code
        self.message = message


class RateLimitError(HTTPStatusError):
    """The API still answered 429 Too Many Requests after the retries."""


class TransportError(DruvaError, ConnectionError):
    """Connecting, sending or receiving failed: refused, reset, TLS, cut-off body."""


class TimeoutError(TransportError, builtins.TimeoutError):  # noqa: A001
    """The call took longer than its timeout."""


class ProtocolError(DruvaError):
    """A response that breaks the protocol: a token without ``access_token``,
    a page that is not JSON, a body larger than allowed, a redirect loop."""


class JSONDecodeError(ProtocolError, json.JSONDecodeError):
    """An API body (``Response.json()``, a page) that is not JSON.

    Also a :class:`json.JSONDecodeError`, so a :class:`ValueError`: code that
    catches what ``json.loads`` or ``requests``' ``Response.json()`` raise keeps
    working. The message gives the position; the body itself is in ``doc``.

    Attributes:
        msg: what was wrong, e.g. ``"Expecting value"``.
        doc: the body as text (invalid UTF-8 replaced).
        pos: the character offset in ``doc`` where decoding failed.
        lineno, colno: that position as a line and a column, from 1.
    """

    def __init__(self, msg: str, doc: str, pos: int) -> None:
        json.JSONDecodeError.__init__(self, msg, doc, pos)
