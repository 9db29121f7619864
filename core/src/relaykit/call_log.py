"""Hand call records to storage off the request path, without ever dropping one.

Records go through a bounded queue to one writer task that writes them in
batches. A full queue makes ``put`` wait (backpressure) rather than drop; a
caller cancelled while it waits leaves its record to the writer all the same
(see ``put``). ``aclose`` drains what is queued before returning. With a
:class:`~relaykit.retention.RetentionPolicy` the writer also prunes old
records when it starts and then at most daily.
"""

from __future__ import annotations

import logging
from collections import deque

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .fork_safety import after_fork_in_child, leave_to_parent
from .protocols import CallRecord, Storage
from .retention import RetentionPolicy

log = logging.getLogger("relaykit.call_log")


class CallLog:
    """The queue between clients and a :class:`~relaykit.protocols.Storage`."""

    def __init__(
        self,
        storage: Storage,
        *,
        max_queue: int = 10_000,
        max_batch: int = 2000,
        retention: RetentionPolicy | None = None,
    ) -> None:
        self.storage = storage
        self._max_batch = max_batch
        self._retention = retention
        self._max_queue = max_queue
        # Created in start(): a client that is built but never entered leaves no
        # unclosed streams behind.
        self._send: MemoryObjectSendStream[CallRecord] | None = None
        self._receive: MemoryObjectReceiveStream[CallRecord] | None = None
        self._running = False
        self._closed = False
        self._done = anyio.Event()
        #: set by the writer when it takes records off a full queue
        self._room: anyio.Event | None = None
        #: records whose callers were cancelled waiting for room: the writer takes them
        self._overflow: deque[CallRecord] = deque()
        after_fork_in_child(self, CallLog._forget_parent)

    def _forget_parent(self) -> None:
        """In a forked child: drop the parent's queue; records go inline until :meth:`start`.

        Its writer task runs in the parent's event loop, which does not run here,
        and what it holds is the parent's to write (it still does): written here
        as well, each record would be stored twice.
        """
        leave_to_parent(self._send, self._receive, self._overflow)
        self._send = self._receive = None
        self._running = False
        self._room = None
        self._overflow = deque()

    def start(self, tg: TaskGroup) -> None:
        """Run the writer in ``tg``; until then ``put`` writes inline."""
        self._send, self._receive = anyio.create_memory_object_stream[CallRecord](self._max_queue)
        self._running = True
        tg.start_soon(self._writer, self._receive)

    async def put(self, record: CallRecord) -> None:
        """Queue ``record``; waits while the queue is full.

        After :meth:`aclose` has begun there is nowhere to write it: it is logged
        as lost, never raised (the call it describes has already ended).
        """
        if self._closed:
            self._lost(record)
            return
        if self._send is None or not self._running:
            await self.storage.write_batch([record])
            return
        try:
            # No checkpoint when there is room: the call that made the record
            # has just yielded plenty, and a trip through the event loop per
            # record was most of what queueing one cost (more under trio).
            self._send.send_nowait(record)
        except anyio.WouldBlock:
            await self._put_when_room(record)  # full: wait for the writer (backpressure)

    async def _put_when_room(self, record: CallRecord) -> None:
        """Queue ``record`` once the writer makes room.

        The record was handed over when the call ended: a cancellation of the
        wait must not lose it. The wait is on an event rather than in the
        stream's ``send``, so a cancelled wait surely sent nothing, and the
        record goes to the writer's overflow instead (at most one per caller).
        """
        assert self._send is not None
        try:
            while True:
                if self._room is None:
                    self._room = anyio.Event()
                await self._room.wait()
                try:
                    self._send.send_nowait(record)
                    return
                except anyio.WouldBlock:
                    continue
                except anyio.ClosedResourceError:  # closed while it waited: said, not raised
                    self._lost(record)
                    return
        except BaseException:
            self._overflow.append(record)
            raise

    @staticmethod
    def _lost(record: CallRecord) -> None:
        log.error(
            "call record %s (%s) arrived after the call log closed; not stored",
            record.id,
            record.provider,
        )

    @property
    def depth(self) -> int:
        """Records queued and not yet handed to storage."""
        return self._send.statistics().current_buffer_used if self._send is not None else 0

    async def _writer(self, receive: MemoryObjectReceiveStream[CallRecord]) -> None:
        try:
            if self._retention is not None:
                await self._retention.apply(self.storage)
            async with receive:
                async for first in receive:
                    batch = [first]
                    while len(batch) < self._max_batch:
                        try:
                            batch.append(receive.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                    if self._room is not None:  # callers wait for room: there is some now
                        self._room.set()
                        self._room = None
                    if self._overflow:
                        batch.extend(self._overflow)
                        self._overflow.clear()
                    await self._write(batch)
                    if self._retention is not None and self._retention.due():
                        await self._retention.apply(self.storage)
        finally:
            if self._room is not None:  # nothing more will be taken: wake who waits
                self._room.set()
            self._done.set()

    async def _write(self, batch: list[CallRecord]) -> None:
        try:
            await self.storage.write_batch(batch)
        except Exception:
            # Storage trouble must not fail the caller's request; say so loudly.
            log.exception("could not store %d call records", len(batch))

    async def aclose(self) -> None:
        """Stop accepting records, wait until every queued one is written, close storage."""
        self._closed = True
        if self._running and self._send is not None:
            await self._send.aclose()
            with anyio.CancelScope(shield=True):
                await self._done.wait()
                if self._overflow:  # left by callers cancelled after the writer's last batch
                    batch = list(self._overflow)
                    self._overflow.clear()
                    await self._write(batch)
            self._running = False
        await self.storage.aclose()
