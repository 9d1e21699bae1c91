"""``paginate(..., progress=True)``: a tqdm progress bar over the records."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol


class _Bar(Protocol):
    def update(self, n: int = 1) -> object: ...
    def set_postfix_str(self, s: str = "", refresh: bool = True) -> object: ...
    def close(self) -> object: ...


class _Pages(Protocol):
    @property
    def pages(self) -> int: ...


def _bar(url: str) -> _Bar:
    try:
        tqdm = importlib.import_module("tqdm.auto").tqdm
    except ImportError:
        raise ImportError(
            "paginate(progress=True) needs tqdm: "
            "pip install tqdm (or pip install 'druva[progress]')"
        ) from None
    bar: _Bar = tqdm(desc=url, unit=" records")
    return bar


def with_progress(pages: Iterator[Any], url: str) -> Iterator[Any]:
    """Yields the records of ``pages`` while a progress bar counts them and their pages.

    tqdm is looked up now, so a missing tqdm fails at the call, not at the first record.
    """
    bar = _bar(url)

    def records() -> Iterator[Any]:
        try:
            for item in pages:
                bar.update()
                bar.set_postfix_str(f"{_page_count(pages)} pages", refresh=False)
                yield item
        finally:
            bar.close()

    return records()


def with_progress_async(pages: AsyncIterator[Any], url: str, counter: _Pages) -> AsyncIterator[Any]:
    """The async twin of :func:`with_progress`."""
    bar = _bar(url)

    async def records() -> AsyncIterator[Any]:
        try:
            async for item in pages:
                bar.update()
                bar.set_postfix_str(f"{counter.pages} pages", refresh=False)
                yield item
        finally:
            bar.close()

    return records()


def _page_count(pages: object) -> int:
    count: int = getattr(pages, "pages", 0)
    return count
