"""Rate limiters for tests: the memory limiter on clocks that never move, served to a client.

A budget counts per UTC calendar day or month, so a test whose limiter reads
the real wall clock fails when it runs across midnight (or a month's end): a
hold taken before it is settled in the next period. Give the limiter pinned
clocks instead, and serve it to the client under a backend name of its own::

    limits = LimiterPlugin(frozen_limiter())
    config = {"limiter": {"backend": "frozen"}, "limits": {"*": {"budget_usd": 1}}}
    async with relaykit.Client(config, plugins=[limits, ...]) as client:
        ...
    assert limits.limiter._budgets["*"].spent == ...  # exact: nothing expired

:class:`LimiterPlugin` serves any limiter object, so a shared limiter (Redis)
built with ``wall_clock=lambda: MID_PERIOD`` goes through the client the same way.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from .._hookimpl import hookimpl
from ..memory_limiter import MemoryRateLimiter

#: A monotonic reading for a frozen limiter's rate clock (any number serves)
FROZEN_NOW = 1000.0
#: A wall-clock reading far from any day's or month's end: 2025-11-15T12:00:00Z
MID_PERIOD = 1_763_208_000.0

L = TypeVar("L")


def frozen_limiter(*, now: float = FROZEN_NOW, wall: float = MID_PERIOD) -> MemoryRateLimiter:
    """The memory limiter on clocks that never move: its state is exact arithmetic.

    ``now`` is what its rate clock (rpm, tpm) reads, ``wall`` what its budget
    clock reads: nothing expires and no budget period ends while a test runs.
    """
    return MemoryRateLimiter(clock=lambda: now, wall_clock=lambda: wall)


class LimiterPlugin(Generic[L]):
    """A plugin serving one limiter object as ``[limiter] backend = name``.

    The test keeps the object (``.limiter``) to look at its state afterwards.
    """

    def __init__(self, limiter: L, *, name: str = "frozen") -> None:
        self.limiter = limiter
        self.name = name

    @hookimpl
    def relaykit_rate_limiter(self, name: str, config: object) -> L | None:
        """``limiter`` when the config asks for ``name``."""
        return self.limiter if name == self.name else None
