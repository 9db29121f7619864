"""One task per client that starts hedges when their delay is up.

A hedge that never fires should cost next to nothing, and most never fire: the
primary answers within the delay (by design, when the delay is the observed
p95). A sleeping task per call, started and cancelled each time, cost about
60-75 µs a call; an entry in this timer's heap costs a push and a flag.

The timer sleeps until the earliest deadline plus :data:`RESOLUTION`, then
fires every entry that is due, so at high call rates one wake-up serves many
calls (entries of calls that already finished are skipped as they come up).
A hedge therefore starts up to ``RESOLUTION`` after its delay.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import anyio

#: how late a hedge may start, so that one wake-up of the timer serves many calls
RESOLUTION = 0.005


class Scheduled:
    """A pending hedge; :meth:`cancel` it when the call no longer needs it."""

    __slots__ = ("fire",)

    def __init__(self, fire: Callable[[], None]) -> None:
        self.fire: Callable[[], None] | None = fire

    def cancel(self) -> None:
        """Do not fire (a no-op once it has fired)."""
        self.fire = None


class HedgeTimer:
    """Calls each scheduled function once its delay has passed, from one task."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Scheduled]] = []
        self._order = itertools.count()
        self._sleeping_until = math.inf
        self._nap: anyio.CancelScope | None = None
        self._scope = anyio.CancelScope()

    def schedule(self, delay: float, fire: Callable[[], None]) -> Scheduled:
        """Call ``fire()`` (in the timer's task; it must not block) after ``delay`` seconds."""
        entry = Scheduled(fire)
        deadline = anyio.current_time() + delay
        heapq.heappush(self._heap, (deadline, next(self._order), entry))
        if deadline + RESOLUTION < self._sleeping_until and self._nap is not None:
            self._nap.cancel()  # it sleeps past this deadline: wake it to sleep less
        return entry

    async def run(self) -> None:
        """The timer's loop; runs in the client's task group until :meth:`close`."""
        heap = self._heap
        with self._scope:
            while True:
                now = anyio.current_time()
                while heap and heap[0][0] <= now:
                    entry = heapq.heappop(heap)[2]
                    fire, entry.fire = entry.fire, None
                    if fire is not None:
                        fire()
                self._sleeping_until = heap[0][0] + RESOLUTION if heap else math.inf
                with anyio.CancelScope(deadline=self._sleeping_until) as self._nap:
                    await anyio.sleep_forever()
                self._nap = None

    def close(self) -> None:
        """Stop the timer; pending hedges never fire."""
        self._scope.cancel()
