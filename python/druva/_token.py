"""The :class:`Token` returned by :func:`druva.get_token`."""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ["Token"]


class Token(dict):  # type: ignore[type-arg]
    """An OAuth 2.0 access token: a ``dict`` with the keys oauthlib returns.

    Keys: ``access_token``, ``token_type`` (``"bearer"``), ``expires_in``
    (whole seconds left when it was returned), ``expires_at`` (Unix time in
    seconds) and ``scope`` when the server sent one, as a list of strings
    (``["read"]``, as requests_oauthlib returns it). Code written for
    ``OAuth2Session.fetch_token()`` works unchanged.

    Its ``repr`` masks the access token, so printing it in a notebook or a log
    does not leak it; ``token["access_token"]`` gives the real value. It
    refuses to be pickled: a bearer credential should be stored deliberately,
    e.g. ``json.dumps(dict(token))``.

    >>> token = druva.get_token(client_id, secret)
    >>> token
    Token(access_token='***', token_type='bearer', expires_in=..., expires_at=...)
    >>> sorted(token)
    ['access_token', 'expires_at', 'expires_in', 'token_type']
    """

    __slots__ = ()

    @property
    def access_token(self) -> str:
        """The bearer token to send as ``Authorization: Bearer <access_token>``.

        The same as ``token["access_token"]``.

        >>> token = druva.get_token(client_id, secret)
        >>> headers = {"Authorization": f"Bearer {token.access_token}"}
        """
        value: str = self["access_token"]
        return value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{key}={'***' if key == 'access_token' else value!r}" for key, value in self.items()
        )
        return f"Token({fields})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "druva.Token refuses to be pickled: it is a bearer credential; "
            "store it deliberately, e.g. json.dumps(dict(token))"
        )

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self.__reduce__()
