"""Cancel scopes with deadlines on ``time.monotonic()``, made without a backend look-up each time.

Every call runs inside one cancel scope, its total timeout. ``anyio.move_on_after``
asks which async library runs twice per scope (for the clock, and for that
library's scope class): about 1.5 µs of the 5 µs a scope costs under asyncio.
A client entered with ``async with`` stays in one event loop, so it asks once,
here, and keeps the answer: the backend's scope class and whether the backend's
clock is ``time.monotonic()`` itself (asyncio's loop) or needs converting to (trio
keeps an offset; a test's virtual clock may run at any rate).
"""

from __future__ import annotations

import math
import time

import anyio

#: how close the backend's clock must read to time.monotonic() to be taken as it
_SAME_CLOCK = 1e-3


class DeadlineScopes:
    """Makes the running backend's cancel scopes; build it inside the loop that uses them."""

    __slots__ = ("_same_clock", "_type")

    def __init__(self) -> None:
        self._type = type(anyio.CancelScope())
        self._same_clock = abs(anyio.current_time() - time.monotonic()) < _SAME_CLOCK

    def until(self, deadline: float) -> anyio.CancelScope:
        """A scope cancelled at ``deadline`` (``time.monotonic()`` seconds), as
        ``anyio.move_on_after(deadline - time.monotonic())`` is."""
        if not self._same_clock and deadline != math.inf:
            deadline = anyio.current_time() + (deadline - time.monotonic())
        scope: anyio.CancelScope = self._type(deadline=deadline)
        return scope

    def plain(self) -> anyio.CancelScope:
        """A scope without a deadline, as ``anyio.CancelScope()`` is."""
        scope: anyio.CancelScope = self._type()
        return scope


def scope_until(scopes: DeadlineScopes | None, deadline: float) -> anyio.CancelScope:
    """``scopes.until(deadline)``, or anyio's own look-up for a client not entered."""
    if scopes is None:
        return anyio.move_on_after(deadline - time.monotonic())
    return scopes.until(deadline)
