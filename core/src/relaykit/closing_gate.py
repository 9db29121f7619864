"""Which calls a closing client still lets through: those of the tool runs it waits for.

:meth:`relaykit.Client.aclose` refuses new calls at once
(:class:`~relaykit.ClientClosedError`) and waits for the work in flight. A
tool run is one piece of work over many model calls: while aclose waits for
it, its next step (and a call its tools make) is part of it, not a new call,
so it goes ahead. Once the client has shut down (aclose's wait over, its
connections closed) nothing does: a call then would fail deep in a closed
HTTP pool.

The run marks its own calls with a context variable, so they are told apart
from other tasks' calls without a parameter threaded through ``chat`` and
``stream``: a task a tool starts inherits the mark, and nothing else has it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeAlias

from .errors import ClientClosedError

#: the client whose tool run (in flight) the current code is part of
_finishing: ContextVar[object | None] = ContextVar("relaykit_finishing", default=None)


#: a block the current code is in (weakly: a task started inside a block keeps a
#: copy of the context, and must not keep the block, with the response it holds,
#: alive after it is left), and the node of the block it is inside
_Node: TypeAlias = "tuple[weakref.ref[object], _Node | None]"

#: the innermost stream or tool-run block (of any client) the current code is in
_inside: ContextVar[_Node | None] = ContextVar("relaykit_inside", default=None)


def entered(block: object) -> None:
    """``block`` (a stream's or tool run's) has been entered by the current task:
    its ``__aenter__`` returns.

    A context variable, not the task's id (``anyio.get_current_task``, some µs
    per stream): an ``__aenter__`` sets it in its caller's task context, and
    the block's own ``__aexit__`` puts the outer one back (:func:`left`).
    """
    _inside.set((weakref.ref(block), _inside.get()))


def left(block: object) -> None:
    """``block``'s ``__aexit__`` runs: the current code is in its outer block again
    (inner ones never left, such as a tool run's step streams that ended, go too)."""
    node = _inside.get()
    while node is not None:
        ref, outer = node
        if ref() is block:
            _inside.set(outer)
            return
        node = outer


def blocks_here() -> list[object]:
    """The blocks the current code is in, innermost first: those an aclose called
    here would wait for in vain (they are left only once it returns). A task
    started inside a block is in it too (its context is a copy)."""
    found = []
    node = _inside.get()
    while node is not None:
        ref, node = node
        block = ref()
        if block is not None:  # (gone: left, seen from a task started inside it)
            found.append(block)
    return found


@contextmanager
def finishing(client: object) -> Iterator[None]:
    """Inside, calls of ``client`` are part of work in flight: they go ahead while it closes."""
    token = _finishing.set(client)
    try:
        yield
    finally:
        _finishing.reset(token)


def part_of_work_in_flight(client: object) -> bool:
    """Whether the current code is inside :func:`finishing` for ``client``."""
    return _finishing.get() is client


def closed_under_call() -> ClientClosedError:
    """The error of a call the client's aclose cut off: its wait for calls in flight
    ran out (or its task was cancelled) before this one ended. A stream the caller
    still reads, a retry waiting out its backoff and a call waiting on a provider
    all end with it."""
    return ClientClosedError(
        "the client closed while this call was in flight: aclose waited "
        "[timeouts] total for it, then cancelled it",
        hint="let calls end before closing the client, or raise [timeouts] total",
    )


__all__ = [
    "blocks_here",
    "closed_under_call",
    "entered",
    "finishing",
    "left",
    "part_of_work_in_flight",
]
