"""One task per client that starts hedges when their delay is up.

A hedge that never fires should cost next to nothing, and most never fire: the
primary answers within the delay (by design, when the delay is the observed
p95). A sleeping task per call, started and cancelled each time, cost about
60-75 µs a call. Here a call adds an entry to a dict and, when it ends,
deletes it: two O(1) operations on a table every call keeps warm. (A heap,
which kept the earliest deadline on top, cost a tuple per entry and a sift
through cold entries per removal: 0.7 µs a call inside real calls, against
0.2 for the dict.)

The dict stays in deadline order because calls add their entries in the order
they start and a route's delay rarely changes, so its first entry is the
earliest. An entry due before the last one added (the p95 delay shrank) goes to
a small heap instead. The timer task sleeps in a cancel scope whose deadline
is moved earlier when an earlier entry arrives (that does not wake the task).
It wakes when a hedge is due, and otherwise when the deadline it slept for
belonged to a call that finished meanwhile; each wake looks at the first
entries only, however many calls are in flight.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable

import anyio


class Scheduled:
    """A pending hedge; :meth:`cancel` it when the call no longer needs it."""

    __slots__ = ("_timer", "fire")

    def __init__(self, timer: HedgeTimer | None, fire: Callable[[], None]) -> None:
        self._timer = timer
        self.fire: Callable[[], None] | None = fire

    def cancel(self) -> None:
        """Do not fire (a no-op once it has fired)."""
        if self.fire is not None:
            self.fire = None
            if self._timer is not None:
                self._timer._dropped(self)


#: how close the event loop's clock must read to time.monotonic() to be taken as it
_SAME_CLOCK = 1e-3


class HedgeTimer:
    """Calls each scheduled function once its delay has passed, from one task.

    Make it in the event loop that runs it.
    """

    def __init__(self) -> None:
        # Deadlines are on the event loop's clock. asyncio's is time.monotonic()
        # itself, read directly in a tenth of the time anyio.current_time() takes
        # to ask which library runs; trio's keeps an offset and a test's may run
        # at any rate, so those are asked.
        same = abs(anyio.current_time() - time.monotonic()) < _SAME_CLOCK
        self._clock: Callable[[], float] = time.monotonic if same else anyio.current_time
        self._monotonic = same
        #: the entries of calls in flight and their deadlines, in deadline order
        self._pending: dict[Scheduled, float] = {}
        self._last = -math.inf  # the deadline of the last entry added to _pending
        #: entries due before one added earlier, in a heap; dropped ones stay
        #: (``fire`` is None) until they reach its top
        self._early: list[tuple[float, int, Scheduled]] = []
        self._order = itertools.count()
        self._nap: anyio.CancelScope | None = None  # set while the task sleeps
        # the nap's deadline, kept here too (a scope's is a property to call), or
        # minus infinity while the task is awake: every call compares against it
        self._wake_at = -math.inf
        # Shielded: the timer runs in the client's task group, which a cancelled scope
        # around ``async with Client()`` cancels too, while a call the block shields
        # goes on and still hedges. Only close() (the client's aclose) stops it.
        self._scope = anyio.CancelScope(shield=True)

    def schedule(self, delay: float, fire: Callable[[], None]) -> Scheduled:
        """Call ``fire()`` (in the timer's task; it must not block) after ``delay`` seconds."""
        entry = Scheduled(self, fire)
        self.add(entry, delay)
        return entry

    def add(self, entry: Scheduled, delay: float, since: float | None = None) -> None:
        """Fire ``entry`` (made for this timer) after ``delay`` seconds, unless cancelled.

        ``since``: when the delay started, on ``time.monotonic()`` (default: now).
        A caller that has just read the clock saves reading it again. On a loop
        whose clock is not ``time.monotonic()`` (trio's) the time since then is
        taken off the delay, so it still counts from ``since``, not from now.
        """
        if since is None:
            deadline = self._clock() + delay
        elif self._monotonic:
            deadline = since + delay
        else:
            deadline = self._clock() + delay - (time.monotonic() - since)
        if deadline >= self._last:  # as nearly always: keeps the dict in deadline order
            self._pending[entry] = deadline
            self._last = deadline
        else:
            heapq.heappush(self._early, (deadline, next(self._order), entry))
        if deadline < self._wake_at:
            self._wake_at = self._nap.deadline = deadline  # type: ignore[union-attr]

    def _dropped(self, entry: Scheduled) -> None:
        """``entry`` was cancelled: forget it (one in the heap when it reaches the top).

        The nap's deadline stays, even if it was this entry's: moving it costs
        more (a cancel scope's deadline is registered with the event loop) than
        the timer waking once at a stale deadline, which happens about once per
        hedge delay, not once per call.
        """
        self._pending.pop(entry, None)

    async def run(self) -> None:
        """The timer's loop; runs in the client's task group until :meth:`close`
        (cancelling that task group does not stop it)."""
        pending, early = self._pending, self._early
        with self._scope:
            while True:
                now = self._clock()
                # Fire what is due, earliest first, from the dict's front and the heap's top.
                while True:
                    while early and early[0][2].fire is None:
                        heapq.heappop(early)  # dropped meanwhile
                    first = next(iter(pending), None)
                    at = pending[first] if first is not None else math.inf
                    if early and early[0][0] < at:
                        at, _, entry = early[0]
                        if at > now:
                            break
                        heapq.heappop(early)
                    elif first is not None and at <= now:
                        entry = first
                        del pending[first]
                    else:
                        break
                    fire, entry.fire = entry.fire, None
                    if fire is not None:
                        fire()
                wake_at = min(at, early[0][0]) if early else at
                with anyio.CancelScope(deadline=wake_at) as self._nap:
                    self._wake_at = wake_at
                    await anyio.sleep_forever()
                self._nap = None
                self._wake_at = -math.inf

    def close(self) -> None:
        """Stop the timer; pending hedges never fire."""
        self._scope.cancel()
