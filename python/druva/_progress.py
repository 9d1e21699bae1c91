"""``paginate(..., progress=True)`` and ``map(..., progress=True)``: the tqdm
progress bar a Paginator or a map updates."""

from __future__ import annotations

import importlib
from typing import Any, Optional

__all__ = ["bar"]


def bar(
    description: str, total: Optional[int] = None, unit: str = " records", caller: str = "paginate"
) -> Any:
    """A tqdm bar counting the records of a list (or a map's calls); the
    paginator (or the map) updates it and closes it at the end.

    tqdm is looked up now, so a missing tqdm fails at ``paginate()`` (or
    ``map()``), not at the first record.
    """
    try:
        tqdm = importlib.import_module("tqdm.auto").tqdm
    except ImportError:
        raise ImportError(
            f"{caller}(progress=True) needs tqdm: "
            "pip install tqdm (or pip install 'druva[progress]')"
        ) from None
    return tqdm(desc=description, total=total, unit=unit)
