"""``druva.auth.RequestsAuth``: the adapter for ``requests``."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

import requests
from requests import PreparedRequest, Response
from requests.auth import AuthBase
from requests.utils import select_proxy

from druva import _druva
from druva.auth._common import TokenOptions, _TokenAuthAdapter, bearer

if TYPE_CHECKING:
    from typing_extensions import Unpack

# How far up the stack `requests.Session.request` is looked for: it calls
# `prepare_request`, which calls `PreparedRequest.prepare`, which calls the auth.
_SESSION_FRAMES = 6

# At most this many proxies are remembered; past it, the oldest is forgotten.
_PROXIES_KEPT = 8

__all__ = ["RequestsAuth"]


class RequestsAuth(_TokenAuthAdapter, AuthBase):
    """Druva's bearer token on the requests of an existing ``requests`` session.

    ``RequestsAuth(client_id, secret, **token_options)`` takes the arguments of
    :func:`druva.get_token` (``region``, ``base_url``, ``token_url``, ``scope``,
    ``timeout``, ``ca_bundle``; not ``force_refresh``), checked at once as
    :func:`druva.get_token` checks them: bad options raise before any request.

    Each request to the credential's origin (the API base URL's scheme, host
    and port, as a :class:`druva.Session` has it) gets ``Authorization: Bearer
    <token>``, the token taken from the process-wide cache that :func:`druva.get_token`
    and every session share, renewed ahead of its expiry. A request to any
    other origin goes out as it was, with no header added or removed.

    When that origin answers 401 or 403, the token is renewed once (one token
    request however many requests were refused together) and the request is
    resent once; if that is refused too, that response is returned, and the
    cause is access, not the token: for the next minute (or until that token
    expires) refusals are returned as they are, without renewal. A request
    whose body is a stream (a generator, an iterator, a file) is not resent:
    its body is spent, so the 401/403 is returned as it is (the next request
    gets the new token). Its repr shows the masked client id, never the
    secret or the token; it cannot be pickled.

    >>> import requests
    >>> from druva.auth import RequestsAuth
    >>> with requests.Session() as s:  # doctest: +SKIP
    ...     s.auth = RequestsAuth(client_id, secret)
    ...     users = s.get("https://apis.druva.com/insync/usermanagement/v1/users").json()
    """

    def __init__(self, client_id: str, secret: str, **token_options: Unpack[TokenOptions]) -> None:
        super().__init__(client_id, secret, **token_options)
        self._follows_session = "proxy" not in token_options
        self._through: dict[str, _druva._TokenAuth] = {}

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        if request.url is None or not self._auth.admits(request.url):
            return request
        proxies = _calling_session_proxies(sys._getframe(1), self._auth.token_url)
        auth = self._auth_through(proxies)
        request.headers["Authorization"] = bearer(auth.token())
        request.hooks["response"].append(self._renew_once)
        return request

    def _auth_through(self, proxies: Optional[Mapping[str, str]]) -> _druva._TokenAuth:
        """The credential whose token requests go through the proxy that
        ``proxies`` (the session's, merged as requests merges them) give the
        token URL, unless a ``proxy=`` was given; ``None``: the environment's."""
        if not self._follows_session or proxies is None:
            return self._auth
        proxy = select_proxy(self._auth.token_url, dict(proxies)) or ""
        auth = self._through.get(proxy)
        if auth is None:
            auth = self._auth.through(proxy)
            if len(self._through) >= _PROXIES_KEPT:
                del self._through[next(iter(self._through))]
            self._through[proxy] = auth
        return auth

    def _renew_once(self, response: Response, **send_options: Any) -> Response:
        """The response, or when it refused the token and the request can be
        sent again, the response to the request resent with a new token.

        Resent straight through the connection, as requests' own
        ``HTTPDigestAuth`` does: no hook runs on that response, so a refusal
        of the new token is returned, not renewed again.
        """
        request = response.request
        authorization = request.headers.get("Authorization")
        if not self._auth.refused(response.status_code, request.url or "", authorization):
            return response
        if not (request.body is None or isinstance(request.body, (bytes, str))):
            return response
        # Read and release the refused response, so its connection serves the resend.
        response.content  # noqa: B018
        response.close()
        # One resend a request, redirects included: the request's copies (the
        # resend, every redirect requests builds) share its dict of hooks, so
        # without this hook there no refusal of any of them is resent again. A
        # new list, not a removal, as the hooks are being called from the old one.
        request.hooks["response"] = [
            hook for hook in request.hooks["response"] if hook != self._renew_once
        ]
        resent = request.copy()
        auth = self._auth_through(send_options.get("proxies"))
        resent.headers["Authorization"] = bearer(auth.token())
        answer = response.connection.send(resent, **send_options)
        answer.history.append(response)
        answer.request = resent
        # Refused too: the cause is access, and for the next minute such
        # refusals are returned without renewal.
        authorization = resent.headers.get("Authorization")
        self._auth.refused(answer.status_code, resent.url or "", authorization, resent=True)
        return answer


def _calling_session_proxies(frame: Any, token_url: str) -> Optional[dict[str, str]]:
    """The proxies a ``requests.Session.request`` up the stack from ``frame``
    would send to ``token_url`` with: its ``proxies=`` merged with the
    session's and, when it trusts the environment, the environment's (its
    ``NO_PROXY`` too), as requests merges them (``None`` when the request
    was not made through ``Session.request``)."""
    for _ in range(_SESSION_FRAMES):
        if frame is None:
            return None
        if frame.f_code is requests.Session.request.__code__:
            session = frame.f_locals["self"]
            given = dict(frame.f_locals.get("proxies") or {})
            settings = session.merge_environment_settings(token_url, given, None, None, None)
            proxies: dict[str, str] = settings["proxies"]
            return proxies
        frame = frame.f_back
    return None
