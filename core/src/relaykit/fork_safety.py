"""Resets that run in a forked child, so objects built before ``fork()`` work after it.

A process forked from one that already runs relaykit (gunicorn or uvicorn
``--preload``, ``multiprocessing`` with the fork start method, Celery's
prefork pool) gets a copy of every object but only the thread that forked:
a writer thread, an export thread or a metrics server is gone, while the
objects that talk to it still think it runs; a pooled socket or a database
connection is shared with the parent, and using it from both corrupts what
the other sends. An object that owns such a resource registers a reset with
:func:`after_fork_in_child`; the reset drops what belongs to the parent (never
closing or using it: that would disturb the parent) so the child starts its
own resources lazily, on first use.

Plugins use this public module too::

    from relaykit.fork_safety import after_fork_in_child, leave_to_parent

    class MyExporter:
        def __init__(self) -> None:
            self._thread = None  # started on first use
            after_fork_in_child(self, MyExporter._forget_parent)

        def _forget_parent(self) -> None:
            self._thread = None  # the parent's thread does not exist here
            leave_to_parent(self._socket)  # the parent's still: neither use nor close it
            self._socket = None  # opened again on first use

The registry below is process-wide state, unlike everything else in the
core: ``fork()`` is a process-wide event, and :func:`os.register_at_fork`
cannot take a registration back, so one hook serves every object and holds
each only weakly (an object that is gone needs no reset).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import itertools
import logging
import os
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

__all__ = ["after_fork_in_child", "can_fork", "leave_to_parent"]

T = TypeVar("T")

log = logging.getLogger("relaykit")

#: whether this platform forks at all (POSIX does; Windows does not)
can_fork: bool = hasattr(os, "fork") and hasattr(os, "register_at_fork")

#: token -> (weak reference to the owner, its reset), in registration order
_resets: dict[int, tuple[weakref.ref[Any], Callable[[Any], None]]] = {}
_tokens = itertools.count()

#: what this process inherited and must neither use nor finalize (see leave_to_parent)
_left: list[object] = []


def after_fork_in_child(owner: T, reset: Callable[[T], None]) -> None:
    """Call ``reset(owner)`` in every child process forked while ``owner`` is alive.

    :param owner: the object whose resources belong to the process that made
        them; held weakly (it must support weak references).
    :param reset: runs in the child right after ``fork()``, before anything
        else there, with one thread: it must neither block nor use what the
        parent still uses (sockets, SQLite connections: drop them, do not
        close them). Resets run in the order they were registered; one that
        raises is logged and the others still run.

    On a platform without ``fork()`` this does nothing.
    """
    if not can_fork:
        return
    token = next(_tokens)
    # The callback forgets the entry when the owner goes, so the registry stays
    # as small as the set of live owners.
    ref = weakref.ref(owner, partial(_forget, token))
    _resets[token] = (ref, reset)  # one dict operation: atomic, so no lock to reset after fork


def leave_to_parent(*objects: object) -> None:
    """Keep ``objects`` (inherited from the parent) referenced for the rest of this process.

    Call it from a reset on what the parent still uses: pooled sockets,
    database connections, an event loop's transports. Dropped instead, garbage
    collection would finalize them in the child: a SQLite connection closed
    there may clean up files under the parent, and an asyncio transport closed
    there unregisters its socket from an epoll instance the parent shares.
    The cost is their memory and file descriptors, once per fork.
    """
    _left.extend(objects)


def _forget(token: int, _: object) -> None:
    _resets.pop(token, None)


def _run_resets() -> None:
    for ref, reset in list(_resets.values()):
        owner = ref()
        if owner is None:
            continue
        try:
            reset(owner)
        except Exception:
            log.exception("resetting %r after fork failed", owner)


if can_fork:
    os.register_at_fork(after_in_child=_run_resets)
