"""The one reader of druva's environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["session_arguments"]


def session_arguments(overrides: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Client ID, secret and session options from the environment; explicit
    keyword arguments win."""
    client_id = os.environ.get("DRUVA_CLIENT_ID", "")
    secret = os.environ.get("DRUVA_SECRET_KEY", "")
    if not client_id or not secret:
        raise ValueError(
            "set DRUVA_CLIENT_ID and DRUVA_SECRET_KEY in the environment "
            "(and optionally DRUVA_REGION or DRUVA_BASE_URL) to use from_env()"
        )
    options = dict(overrides)
    for variable, argument in (("DRUVA_REGION", "region"), ("DRUVA_BASE_URL", "base_url")):
        value = os.environ.get(variable, "")
        if value and argument not in options:
            options[argument] = value
    return client_id, secret, options
