"""Hand call records to storage off the request path, without ever dropping one.

Records go through a bounded queue to one writer task that writes them in
batches. A full queue makes ``put`` wait (backpressure) rather than drop;
``aclose`` drains what is queued before returning. With a
:class:`~relaykit.retention.RetentionPolicy` the writer also prunes old
records when it starts and then at most daily.
"""

from __future__ import annotations

import logging

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

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
            log.error(
                "call record %s (%s) arrived after the call log closed; not stored",
                record.id,
                record.provider,
            )
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
            await self._send.send(record)  # full: wait for the writer (backpressure)

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
                    await self._write(batch)
                    if self._retention is not None and self._retention.due():
                        await self._retention.apply(self.storage)
        finally:
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
            self._running = False
        await self.storage.aclose()
