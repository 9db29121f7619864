"""Close what a constructor had made when a later step of it raises; close
everything a client holds even when one of them fails to close.

``Client(...)`` asks plugins for exporters (a StatsD socket, a Prometheus server
thread and its port), a rate limiter, a storage backend and a cache store. An
error after one of them was made (a second exporter plugin failing, a limiter
refused for budgets) left it open: a socket reported at garbage collection (a
ResourceWarning, an error under ``-W error``), a server thread holding its port
until the process ended.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)


class HalfBuilt:
    """What a constructor has made so far that needs closing: :meth:`close` closes
    it, newest first, when a later step fails."""

    def __init__(self) -> None:
        self._made: list[Any] = []

    def add(self, *things: Any) -> None:
        """Remember ``things`` (``None`` is skipped: a step that made nothing)."""
        self._made.extend(thing for thing in things if thing is not None)

    def close(self) -> None:
        """Close everything added, each once, newest first; then forget it."""
        made, self._made = self._made, []
        seen: set[int] = set()
        for thing in reversed(made):
            if id(thing) not in seen:  # a cache store may be the storage itself
                seen.add(id(thing))
                close_now(thing)


def close_now(thing: Any) -> None:
    """Close ``thing`` from synchronous code: its ``close()``, else its ``aclose()``
    run to its end in a thread of its own, with an event loop of its own (this
    thread may be running one, which synchronous code cannot wait on). Its errors
    are dropped: the error that made the caller close it is the one to report.

    Only for what was never used in an event loop (made in a constructor): an
    ``aclose`` then touches nothing that belongs to the caller's loop.
    """
    close = getattr(thing, "close", None)
    if callable(close) and not inspect.iscoroutinefunction(close):
        with contextlib.suppress(Exception):
            close()
        return
    aclose = getattr(thing, "aclose", None)
    if aclose is None:
        return

    import anyio  # here: `relaykit --help` imports this module, and no event loop

    def run() -> None:
        with contextlib.suppress(Exception):
            anyio.run(aclose)

    closer = threading.Thread(target=run, name="relaykit close", daemon=True)
    closer.start()
    closer.join()


async def close_all(closers: Iterable[Callable[[], Awaitable[object]]]) -> None:
    """Await each closer in turn, the later ones too when one raises; then raise
    the first error (the others are logged, by type)."""
    first: Exception | None = None
    for close in closers:
        try:
            await close()
        except Exception as e:
            if first is None:
                first = e
            else:
                # the type alone: a plugin's message may quote a key or a URL's password
                name = getattr(close, "__qualname__", type(close).__name__)
                log.warning("%s failed too, after an earlier close: %s", name, type(e).__name__)
    if first is not None:
        raise first
