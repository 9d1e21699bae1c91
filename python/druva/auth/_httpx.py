"""``druva.auth.HttpxAuth``: the adapter for ``httpx``, sync and async."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx

from druva.auth._common import _TokenAuthAdapter, bearer

__all__ = ["HttpxAuth"]


class HttpxAuth(_TokenAuthAdapter, httpx.Auth):
    """Druva's bearer token on the requests of an ``httpx.Client`` or ``AsyncClient``.

    ``HttpxAuth(client_id, secret, **token_options)``: the same arguments as
    :class:`druva.auth.RequestsAuth` (those of :func:`druva.get_token` but
    ``force_refresh``), refused at once, before any request, when bad.

    Each request to the credential's origin (the API base URL's scheme, host
    and port, as a :class:`druva.Session` has it) gets ``Authorization: Bearer
    <token>``, the token taken from the process-wide cache that :func:`druva.get_token`
    and every session share, renewed ahead of its expiry; an ``AsyncClient``
    (under asyncio) gets it with :func:`druva.get_token_async`, so the event
    loop never blocks. A request to any other origin goes out as it was, with no header
    added or removed.

    When that origin answers 401 or 403 (after the client's redirects), the
    token is renewed once (one token request however many requests were
    refused together) and the request is resent once; if that is refused
    too, that response is returned, and the cause is access, not the token:
    for the next minute (or until that token expires) refusals are returned
    as they are, without renewal, so they cost no token requests. A request
    whose body is a stream (a generator, an async iterator, a file) is not
    resent: its body is spent, so the 401/403 is returned as it is (the next
    request gets the new token). Its repr shows the masked client id, never the secret or the
    token; it cannot be pickled.

    >>> import httpx
    >>> from druva.auth import HttpxAuth
    >>> auth = HttpxAuth(client_id, secret)  # doctest: +SKIP
    >>> with httpx.Client(auth=auth) as client:  # doctest: +SKIP
    ...     users = client.get("https://apis.druva.com/insync/usermanagement/v1/users").json()
    >>> async with httpx.AsyncClient(auth=auth) as client:  # doctest: +SKIP
    ...     users = (await client.get("https://apis.druva.com/insync/usermanagement/v1/users")).json()
    """

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Puts the token on a request of ``httpx.Client``; on a 401/403, renews it and resends.

        Only a request to the credential's origin gets the token.

        >>> with httpx.Client(auth=HttpxAuth(client_id, secret)) as client:  # doctest: +SKIP
        ...     client.get("https://apis.druva.com/insync/usermanagement/v1/users")
        """
        if not self._auth.admits(str(request.url)):
            yield request
            return
        request.headers["Authorization"] = bearer(self._auth.token())
        response = yield request
        if self._resend(request, response):
            request.headers["Authorization"] = bearer(self._auth.token())
            response = yield request
            self._refused_again(response)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """:meth:`sync_auth_flow` for ``httpx.AsyncClient``, never blocking the event loop.

        The token comes from :func:`druva.get_token_async`.

        >>> auth = HttpxAuth(client_id, secret)  # doctest: +SKIP
        >>> async with httpx.AsyncClient(auth=auth) as client:  # doctest: +SKIP
        ...     await client.get("https://apis.druva.com/insync/usermanagement/v1/users")
        """
        if not self._auth.admits(str(request.url)):
            yield request
            return
        request.headers["Authorization"] = bearer(await self._auth.token_async())
        response = yield request
        if self._resend(request, response):
            request.headers["Authorization"] = bearer(await self._auth.token_async())
            response = yield request
            self._refused_again(response)

    def _refused_again(self, response: httpx.Response) -> None:
        """Tells the core that ``response`` to the resent request refused its
        new token too, when it did: the refusals are then about access, and
        for the next minute they are returned without renewal."""
        last = response.request
        authorization = last.headers.get("Authorization")
        self._auth.refused(response.status_code, str(last.url), authorization, resent=True)

    def _resend(self, request: httpx.Request, response: httpx.Response) -> bool:
        """Whether ``response`` (the last of the client's redirects from
        ``request``) refused the token and ``request`` can be sent again: its
        body is bytes held in memory, not a stream already spent."""
        last = response.request
        authorization = last.headers.get("Authorization")
        refused = self._auth.refused(response.status_code, str(last.url), authorization)
        return refused and isinstance(request.stream, httpx.ByteStream)
