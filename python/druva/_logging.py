"""Keeps a fork from landing while a handler of druva's records is writing.

druva emits records from other threads than the caller's (its log flusher,
the threads that wait for requests). A thread that is inside a handler when
another thread forks leaves the handler's stream locked in the child for
good: CPython re-creates the handlers' locks in the child (``logging`` does
that), but not the lock inside the stream's buffer, so the child's first
record to that stream waits forever. Around every fork the handlers that
druva's records reach are therefore held by the forking thread: no other
thread is inside them when the process forks.
"""

from __future__ import annotations

import logging
import os

__all__: list[str] = []

_held: list[logging.Handler] = []


def _handlers_of_druva() -> list[logging.Handler]:
    """The handlers a record of the ``druva`` logger reaches, once each."""
    handlers: list[logging.Handler] = []
    logger: logging.Logger | None = logging.getLogger("druva")
    while logger is not None:
        handlers.extend(handler for handler in logger.handlers if handler not in handlers)
        logger = logger.parent if logger.propagate else None
    return handlers


def _hold_handlers() -> None:
    for handler in _handlers_of_druva():
        handler.acquire()
        _held.append(handler)


def _release_handlers() -> None:
    while _held:
        _held.pop().release()


def _forget_handlers() -> None:
    # logging has re-created every handler's lock in the child already.
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_hold_handlers,
        after_in_parent=_release_handlers,
        after_in_child=_forget_handlers,
    )
