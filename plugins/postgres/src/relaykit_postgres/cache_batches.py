"""Response-cache operations that arrive together go to PostgreSQL together.

A burst of cached calls (500 at once) made 500 lookups and 500 writes, each
taking a pooled connection (8) and a round trip of its own: queued behind each
other, 85 to 195 of 500 writes ran past ``[cache] timeout`` (0.5 s) in
``bench/cache_burst.py``, and the client counted the store failed and left it
alone. :class:`Batches` runs the operations waiting together as one: lookups
as one ``SELECT ... WHERE key = ANY(...)``, writes as one upsert in one
transaction, in key order (see :meth:`PostgresStorage._store
<relaykit_postgres.storage.PostgresStorage>`).

There is no task of its own: while fewer than :data:`FLIGHTS` batches are in
flight, a caller whose request waits (the newest) runs the next one (a flight)
for the requests at the head of the queue, up to :data:`MAX_ITEMS` keys or
entries; a lone request flies at once, with no window waited for. Callers beyond that wait
for the next flight: nothing is dropped, and each stays within its own scope
(the client's ``[cache] timeout``). A caller cancelled while it runs a flight
cancels that round trip (a transaction rolled back): the other requests go back
to the head of the queue, and another of their callers runs them.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio

from relaykit.errors import StorageUnavailableError

#: keys (or entries) one flight carries at most; a request of more flies alone, whole
MAX_ITEMS = 512
#: flights of one kind (lookups, writes) at once: each holds a pooled connection,
#: and the rest of the pool (8 by default) is left to the call log and the others
FLIGHTS = 2

Item = TypeVar("Item")
Result = TypeVar("Result")

_QUEUED, _FLYING, _DONE = range(3)


class _Request(Generic[Item, Result]):
    """One caller's items, and what became of them."""

    __slots__ = ("error", "items", "result", "state", "wake")

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = items
        self.state = _QUEUED
        self.result: Result | None = None
        self.error: BaseException | None = None
        #: set to wake the caller: its request is done, or it may run a flight
        self.wake: anyio.Event | None = None


class Batches(Generic[Item, Result]):
    """Requests run together by ``run(requests' items) -> one result per request``.

    ``run`` is one round trip (or transaction) for all of them. When it raises
    :class:`~relaykit.errors.StorageUnavailableError` (the server's trouble,
    after the storage's own retry), each request fails with it, as it would
    have alone; any other error (what one request held: a value too big for
    an index) runs each request alone, so that it fails that one only.
    """

    def __init__(
        self,
        run: Callable[[list[Sequence[Item]]], Awaitable[list[Result]]],
        *,
        max_items: int = MAX_ITEMS,
        flights: int = FLIGHTS,
    ) -> None:
        self._run = run
        self._max_items = max_items
        self._max_flights = flights
        self._queue: deque[_Request[Item, Result]] = deque()
        self._flights = 0
        #: set when a flight ends or a request leaves: :meth:`drain` looks again
        self._changed: anyio.Event | None = None

    async def submit(self, items: Sequence[Item]) -> Result:
        """``items``' result, run with the requests waiting alongside."""
        request: _Request[Item, Result] = _Request(items)
        self._queue.append(request)
        try:
            while request.state != _DONE:
                if request.state == _QUEUED and self._flights < self._max_flights:
                    await self._fly()
                else:
                    request.wake = anyio.Event()
                    try:
                        await request.wake.wait()
                    finally:
                        request.wake = None  # running again: no longer one to wake
        except BaseException:
            self._withdraw(request)
            raise
        if request.error is not None:
            # each caller its own copy: one instance raised in many tasks would
            # gather every task's traceback
            raise copy.copy(request.error) from None
        return request.result  # type: ignore[return-value]

    async def drain(self) -> None:
        """Wait until no request is queued or in flight (their callers run them)."""
        while self._queue or self._flights:
            if self._changed is None or self._changed.is_set():
                self._changed = anyio.Event()
            await self._changed.wait()

    def forget(self) -> None:
        """Drop every request (in a forked child: its callers are the parent's)."""
        self._queue.clear()
        self._flights = 0

    async def _fly(self) -> None:
        """Run the requests at the head of the queue, up to ``max_items`` of them."""
        batch: list[_Request[Item, Result]] = []
        count = 0
        while self._queue and (not batch or count + len(self._queue[0].items) <= self._max_items):
            request = self._queue.popleft()
            request.state = _FLYING
            batch.append(request)
            count += len(request.items)
        self._flights += 1
        try:
            await self._settle(batch)
        except anyio.get_cancelled_exc_class():
            # This caller was cancelled (its round trip with it): the others' requests
            # go back to the head of the queue, in their order, for one of them to run.
            for request in reversed(batch):
                if request.state == _FLYING:
                    request.state = _QUEUED
                    self._queue.appendleft(request)
            raise
        finally:
            self._flights -= 1
            self._kick()

    async def _settle(self, batch: list[_Request[Item, Result]]) -> None:
        try:
            results = await self._run([request.items for request in batch])
        except StorageUnavailableError as e:
            for request in batch:
                self._done(request, None, e)
            return
        except Exception as e:
            if len(batch) == 1:
                self._done(batch[0], None, e)
                return
            for request in batch:  # one request's bad data must not fail the others
                await self._settle([request])
            return
        for request, result in zip(batch, results, strict=True):
            self._done(request, result, None)

    def _done(
        self, request: _Request[Item, Result], result: Result | None, error: BaseException | None
    ) -> None:
        request.state, request.result, request.error = _DONE, result, error
        if request.wake is not None:
            request.wake.set()

    def _withdraw(self, request: _Request[Item, Result]) -> None:
        """``request``'s caller has gone (cancelled): it is run no more, if it was waiting."""
        if request.state == _QUEUED:
            self._queue.remove(request)
        request.state = _DONE  # a flight still carrying it delivers to nobody
        self._kick()

    def _kick(self) -> None:
        """Wake waiting callers to run the flights there is room for now."""
        if self._changed is not None:
            self._changed.set()
        room = self._max_flights - self._flights
        # The newest first: the flight runs within its caller's scope, and the one
        # that came last has the most of its [cache] timeout left (the oldest, woken
        # first under a slow server, saw each flight cut short and run again).
        for request in reversed(self._queue):
            if room <= 0:
                return
            if request.wake is None:  # its caller is running (a flight of its own)
                continue
            # one woken already, not yet run, takes a flight's room as well: waking
            # more would leave which caller runs the flight to the scheduler
            if not request.wake.is_set():
                request.wake.set()
            room -= 1
