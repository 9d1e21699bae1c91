"""What the two adapters share: their options, checked before any request,
and the repr that never shows the secret. The token, the origin rule and the
renewal are the core's (``druva._druva._TokenAuth``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, Optional, TypedDict, Union

from druva import _druva

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from druva._store import TokenStore
    from druva._token import Token

__all__ = ["_TokenAuthAdapter", "TokenOptions", "bearer"]


class TokenOptions(TypedDict, total=False):
    """The keyword arguments of :func:`druva.get_token` that an adapter takes:
    all of them but ``force_refresh`` (the adapter renews the token itself)."""

    region: str
    base_url: Optional[str]
    token_url: Optional[str]
    scope: Union[str, Sequence[str], None]
    timeout: float
    ca_bundle: Union[str, os.PathLike[str], None]
    token_cache: Union[str, os.PathLike[str], TokenStore, None]
    client_auth: Literal["basic", "post"]
    token_params: Optional[Mapping[str, Union[str, Sequence[str]]]]
    proxy: Optional[str]


class _TokenAuthAdapter:
    """The credential of an adapter, checked as :func:`druva.get_token` checks
    it (nothing is sent), kept in the core."""

    _auth: _druva._TokenAuth

    def __init__(self, client_id: str, secret: str, **token_options: Unpack[TokenOptions]) -> None:
        name = type(self).__name__
        if "force_refresh" in token_options:
            raise TypeError(
                f"{name} takes no force_refresh: it renews the token itself, once, "
                "when the API refuses it (401 or 403)"
            )
        unknown = sorted(set(token_options) - TokenOptions.__optional_keys__)
        if unknown:
            raise TypeError(
                f"{name} got unexpected keyword arguments {', '.join(map(repr, unknown))}; "
                f"it takes druva.get_token's: {', '.join(sorted(TokenOptions.__optional_keys__))}"
            )
        self._auth = _druva._token_auth(client_id, secret, **token_options)

    def __repr__(self) -> str:
        return f"<druva.auth.{type(self).__name__} {self._auth.description()}>"


def bearer(token: Token) -> str:
    """The ``Authorization`` header value that carries ``token``."""
    return f"Bearer {token.access_token}"
