"""``paginate(..., progress=True)`` and ``map(..., progress=True)``: the tqdm
progress bar a Paginator or a map updates."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable
from typing import Any, Optional, Protocol, TypeVar

__all__ = ["bar", "follow"]

T = TypeVar("T")

# How often an async map's bar is brought up to date, in seconds.
REFRESH = 0.1


class Counter(Protocol):
    """How many of a map's calls are done (the runtime counts them)."""

    @property
    def done(self) -> int: ...


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


async def follow(work: Awaitable[T], progress: Any, counter: Counter) -> T:
    """Awaits an async ``map``, moving its bar as calls finish, and closes the
    bar however the map ends (cancelling this cancels the map)."""
    task = asyncio.ensure_future(work)
    shown = 0
    try:
        while True:
            finished, _ = await asyncio.wait({task}, timeout=REFRESH)
            done = counter.done
            if done > shown:
                progress.update(done - shown)
                shown = done
            if finished:
                return task.result()
    finally:
        task.cancel()
        progress.close()
