"""``paginate(..., progress=True)``: the tqdm progress bar a Paginator updates."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["bar"]


def bar(url: str) -> Any:
    """A tqdm bar counting the records of ``url``; the paginator updates it
    after each page and closes it at the end.

    tqdm is looked up now, so a missing tqdm fails at ``paginate()``, not at
    the first record.
    """
    try:
        tqdm = importlib.import_module("tqdm.auto").tqdm
    except ImportError:
        raise ImportError(
            "paginate(progress=True) needs tqdm: "
            "pip install tqdm (or pip install 'druva[progress]')"
        ) from None
    return tqdm(desc=url, unit=" records")
