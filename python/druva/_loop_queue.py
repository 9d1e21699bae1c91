"""Each event loop's loop queue: how ``AsyncSession`` requests finish.

A finished request queues its result and wakes the loop through a descriptor
the loop watches (``loop.add_reader``): an eventfd on Linux, a self-pipe on
other unix. ``DRUVA_PORTABLE_WAKEUP=1`` (read once, at import; the older name
``DRUVA_PORTABLE_COMPLETIONS=1`` too) forces the self-pipe on Linux too, so
that the portable path is tested where CI runs. Where the loop cannot watch a
descriptor (Windows' proactor loop) there is no queue: ``loop_queue_for``
returns ``None`` and requests complete one by one through the generic bridge.
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Optional

from druva._druva import _LoopQueue

if TYPE_CHECKING:
    import asyncio

__all__ = ["PORTABLE", "PORTABLE_VARIABLES", "loop_queue_for"]

# The first is the name; the second, its name before, still honoured.
PORTABLE_VARIABLES = ("DRUVA_PORTABLE_WAKEUP", "DRUVA_PORTABLE_COMPLETIONS")
PORTABLE = any(os.environ.get(name) == "1" for name in PORTABLE_VARIABLES)

_QUEUES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Optional[_LoopQueue]] = (
    weakref.WeakKeyDictionary()
)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_QUEUES.clear)


def loop_queue_for(loop: asyncio.AbstractEventLoop) -> Optional[_LoopQueue]:
    """The loop's queue, registered with it on first use; ``None`` where the
    platform or the loop cannot watch a descriptor."""
    try:
        return _QUEUES[loop]
    except KeyError:
        pass
    queue: Optional[_LoopQueue]
    try:
        queue = _LoopQueue(portable=PORTABLE)
        loop.add_reader(queue.fd, queue.drain)
    except NotImplementedError:
        queue = None
    _QUEUES[loop] = queue
    return queue
