"""``druva.AsyncSession`` and ``druva.get_token_async``: the asyncio face of the
same Rust engine, runtime and token cache as the sync API."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Optional, Union

from druva._completions import completions_for
from druva._druva import Response, Session, _get_token_async
from druva._progress import with_progress_async
from druva._token import Token

__all__ = ["AsyncSession", "get_token_async"]

Params = Optional[Union[Mapping[str, Any], Sequence[tuple[str, Any]]]]
Headers = Optional[Union[Mapping[str, str], Sequence[tuple[str, str]]]]
PathLike = Union[str, "os.PathLike[str]"]


async def get_token_async(
    client_id: str,
    secret: str,
    *,
    region: str = "cloud",
    base_url: str | None = None,
    token_url: str | None = None,
    scope: str | Sequence[str] | None = None,
    timeout: float = 30.0,
    force_refresh: bool = False,
    ca_bundle: PathLike | None = None,
) -> Token:
    """The coroutine twin of :func:`druva.get_token`: same cache, same result.

    A cache hit returns at once without touching the event loop or the
    runtime; concurrent callers on a cold cache share one token request.

    >>> token = await druva.get_token_async(client_id, secret)  # doctest: +SKIP
    """
    result = _get_token_async(
        client_id,
        secret,
        region=region,
        base_url=base_url,
        token_url=token_url,
        scope=scope,
        timeout=timeout,
        force_refresh=force_refresh,
        ca_bundle=ca_bundle,
    )
    if isinstance(result, Token):
        return result
    token: Token = await result
    return token


class AsyncSession:
    """The asyncio twin of :class:`druva.Session`: every call is a coroutine.

    Same arguments, same token cache, same retries and renewal. Works inside
    an already running loop (Jupyter's), with ``asyncio.gather`` of hundreds of
    calls; cancelling the awaiting task cancels the request.

    >>> async with druva.AsyncSession(client_id, secret) as s:  # doctest: +SKIP
    ...     devices = [d async for d in s.paginate("/insync/endpoints/v1/devices")]
    """

    __slots__ = ("_session",)

    def __init__(
        self,
        client_id: str,
        secret: str,
        *,
        region: str = "cloud",
        base_url: str | None = None,
        token_url: str | None = None,
        scope: str | Sequence[str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        leeway: float = 60.0,
        ca_bundle: PathLike | None = None,
        proxy: str | None = None,
        max_response_bytes: int = 100 * 1024 * 1024,
    ) -> None:
        self._session = Session(
            client_id,
            secret,
            region=region,
            base_url=base_url,
            token_url=token_url,
            scope=scope,
            timeout=timeout,
            max_retries=max_retries,
            leeway=leeway,
            ca_bundle=ca_bundle,
            proxy=proxy,
            max_response_bytes=max_response_bytes,
        )

    @classmethod
    def from_env(cls, **kwargs: Any) -> AsyncSession:
        """A session from ``DRUVA_CLIENT_ID``, ``DRUVA_SECRET_KEY`` and
        optionally ``DRUVA_REGION`` / ``DRUVA_BASE_URL``."""
        session = cls.__new__(cls)
        session._session = Session.from_env(**kwargs)
        return session

    @property
    def base_url(self) -> str:
        """The base URL that paths are joined to."""
        return self._session.base_url

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._session.closed

    async def token(self) -> Token:
        """A valid :class:`druva.Token`, fetched or renewed if needed."""
        result = self._session._token_async()
        if isinstance(result, Token):
            return result
        token: Token = await result
        return token

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        json: Any = None,
        data: Any = None,
        headers: Headers = None,
        timeout: float | None = None,
        retry: bool | None = None,
    ) -> Response:
        """Sends a request; see :meth:`druva.Session.request`."""
        # Imported here: asyncio takes longer to import than all of druva, and
        # sync users never need it (after the first call this is a dict lookup).
        import asyncio

        loop = asyncio.get_running_loop()
        completions = completions_for(loop)
        if completions is None:
            response: Response = await self._session._request_async(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=headers,
                timeout=timeout,
                retry=retry,
            )
            return response
        batched: Response = await self._session._request_batched(
            completions,
            loop,
            method,
            url,
            params=params,
            json=json,
            data=data,
            headers=headers,
            timeout=timeout,
            retry=retry,
        )
        return batched

    async def get(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        timeout: float | None = None,
    ) -> Response:
        """``GET url``; see :meth:`druva.Session.request`."""
        return await self.request("GET", url, params=params, headers=headers, timeout=timeout)

    async def post(
        self,
        url: str,
        *,
        params: Params = None,
        json: Any = None,
        data: Any = None,
        headers: Headers = None,
        timeout: float | None = None,
        retry: bool | None = None,
    ) -> Response:
        """``POST url``; not retried unless ``retry=True``."""
        return await self.request(
            "POST",
            url,
            params=params,
            json=json,
            data=data,
            headers=headers,
            timeout=timeout,
            retry=retry,
        )

    async def put(
        self,
        url: str,
        *,
        params: Params = None,
        json: Any = None,
        data: Any = None,
        headers: Headers = None,
        timeout: float | None = None,
        retry: bool | None = None,
    ) -> Response:
        """``PUT url``; see :meth:`druva.Session.request`."""
        return await self.request(
            "PUT",
            url,
            params=params,
            json=json,
            data=data,
            headers=headers,
            timeout=timeout,
            retry=retry,
        )

    async def patch(
        self,
        url: str,
        *,
        params: Params = None,
        json: Any = None,
        data: Any = None,
        headers: Headers = None,
        timeout: float | None = None,
        retry: bool | None = None,
    ) -> Response:
        """``PATCH url``; not retried unless ``retry=True``."""
        return await self.request(
            "PATCH",
            url,
            params=params,
            json=json,
            data=data,
            headers=headers,
            timeout=timeout,
            retry=retry,
        )

    async def delete(
        self,
        url: str,
        *,
        params: Params = None,
        headers: Headers = None,
        timeout: float | None = None,
    ) -> Response:
        """``DELETE url``; see :meth:`druva.Session.request`."""
        return await self.request("DELETE", url, params=params, headers=headers, timeout=timeout)

    def paginate(
        self,
        url: str,
        *,
        params: Params = None,
        items: str | None = None,
        progress: bool = False,
    ) -> AsyncIterator[Any]:
        """Iterates over every item of a list endpoint, page by page:
        ``async for user in s.paginate("/insync/usermanagement/v1/users")``.

        The URL is checked now; pages are fetched as the loop asks for them.
        ``progress=True`` shows a tqdm progress bar (tqdm must be installed).
        """
        pages = self._session.paginate(url, params=params, items=items)

        async def items_of_every_page() -> AsyncIterator[Any]:
            while True:
                page = await pages._next_page_async()
                if page is None:
                    return
                for item in page:
                    yield item

        if progress:
            return with_progress_async(items_of_every_page(), url, pages)
        return items_of_every_page()

    async def close(self) -> None:
        """Closes the connection pool; later calls raise ``RuntimeError``."""
        self._session.close()

    async def __aenter__(self) -> AsyncSession:
        """``async with druva.AsyncSession(...) as s:`` gives the session itself."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Closes the session at the end of the ``async with`` block."""
        await self.close()

    def __repr__(self) -> str:
        return repr(self._session).replace("<druva.Session", "<druva.AsyncSession", 1)

    def __reduce__(self) -> Any:
        raise TypeError(
            "druva.AsyncSession cannot be pickled: it holds a credential; create a new "
            "session in the other process (AsyncSession.from_env() reads it from the environment)"
        )
