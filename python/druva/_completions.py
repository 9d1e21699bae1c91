"""Each event loop's completion queue (see ``src/completions.rs``)."""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Optional

from druva._druva import _Completions

if TYPE_CHECKING:
    import asyncio

__all__ = ["completions_for"]

# None where the loop cannot watch a file descriptor (Windows' proactor loop).
_COMPLETIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Optional[_Completions]] = (
    weakref.WeakKeyDictionary()
)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_COMPLETIONS.clear)


def completions_for(loop: asyncio.AbstractEventLoop) -> Optional[_Completions]:
    """The loop's completion queue, registered with it on first use."""
    try:
        return _COMPLETIONS[loop]
    except KeyError:
        pass
    completions: Optional[_Completions] = _Completions()
    assert completions is not None
    try:
        loop.add_reader(completions.fd, completions.drain)
    except NotImplementedError:
        completions = None
    _COMPLETIONS[loop] = completions
    return completions
