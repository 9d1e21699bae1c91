"""Each event loop's completion queue: how ``AsyncSession`` requests finish.

A finished request queues its result and wakes the loop through a descriptor
the loop watches (``loop.add_reader``): an eventfd on Linux, a self-pipe on
other unix. ``DRUVA_PORTABLE_COMPLETIONS=1`` (read once, at import) forces the
self-pipe on Linux too, so that the portable path is tested where CI runs.
Where the loop cannot watch a descriptor (Windows' proactor loop) there is no
queue: ``completions_for`` returns ``None`` and requests complete one by one
through the generic bridge.
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Optional

from druva._druva import _Completions

if TYPE_CHECKING:
    import asyncio

__all__ = ["PORTABLE", "completions_for"]

PORTABLE = os.environ.get("DRUVA_PORTABLE_COMPLETIONS") == "1"

_COMPLETIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Optional[_Completions]] = (
    weakref.WeakKeyDictionary()
)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_COMPLETIONS.clear)


def completions_for(loop: asyncio.AbstractEventLoop) -> Optional[_Completions]:
    """The loop's completion queue, registered with it on first use; ``None``
    where the platform or the loop cannot watch a descriptor."""
    try:
        return _COMPLETIONS[loop]
    except KeyError:
        pass
    completions: Optional[_Completions]
    try:
        completions = _Completions(portable=PORTABLE)
        loop.add_reader(completions.fd, completions.drain)
    except NotImplementedError:
        completions = None
    _COMPLETIONS[loop] = completions
    return completions
