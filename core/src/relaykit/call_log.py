"""Hand call records to storage off the request path, without ever dropping one.

Records go through a bounded queue to one writer task that writes them in
batches. A full queue makes ``put`` wait (backpressure) rather than drop; a
caller cancelled while it waits leaves its record to the writer all the same
(see ``put``). ``aclose`` drains what is queued before returning. A writer
that ended before ``aclose`` (its task group cancelled, or it raised) leaves
``put`` to store each record itself, as before ``start``: nothing waits in
memory for a close that may be long in coming. With a
:class:`~relaykit.retention.RetentionPolicy` the writer also prunes old
records when it starts and then at most daily.

This module is the queue and the writer's schedule. How a batch is stored
while storage fails (retry with backoff, take apart, spill to a JSON Lines
file) is :mod:`relaykit.storage_outage`; how spilled records go back into
storage once it works (and the idle probe that finds out) is
:mod:`relaykit.spill_replay`. :class:`CallLog` is one object built on both,
so ``put``, on every call's path, reaches what it needs in one hop.

Each failed write, change between failing and working, spilled, lost or
replayed batch is also told to ``on_event`` (the client hands these
:mod:`gauge events <relaykit.gauge_events>` to its exporters, as metrics):
only on those paths, so a healthy write does nothing more. ``start`` tells
storage's state once, so the failing gauge has a value from the start.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .fork_safety import after_fork_in_child, leave_to_parent
from .gauge_events import StorageEvent, StorageFailing, StorageWriteFailed
from .protocols import CallRecord, Storage
from .record_spill import CAN_REPLAY, has_spilled
from .retention import RetentionPolicy
from .secrets import describe_error
from .spill_replay import SpillReplay

__all__ = ["CallLog"]

log = logging.getLogger("relaykit.call_log")


class CallLog(SpillReplay):
    """The queue between clients and a :class:`~relaykit.protocols.Storage`.

    ``on_event`` is called with a :data:`~relaykit.gauge_events.StorageEvent`
    for each failed write, change of storage's state, and batch spilled or
    lost, and with the state once at :meth:`start`; it must not block
    (exceptions it raises are logged, not raised).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        max_queue: int = 10_000,
        max_batch: int = 2000,
        retention: RetentionPolicy | None = None,
        retry_for: float = 60.0,
        close_timeout: float = 15.0,
        spill_path: Path | None = None,
        initial_wait: float = 0.1,
        max_wait: float = 5.0,
        on_event: Callable[[StorageEvent], None] | None = None,
    ) -> None:
        super().__init__(
            storage,
            max_batch=max_batch,
            retry_for=retry_for,
            close_timeout=close_timeout,
            spill_path=spill_path,
            initial_wait=initial_wait,
            max_wait=max_wait,
            on_event=on_event,
        )
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
        #: records whose callers were cancelled waiting for room, or were waiting when
        #: the log closed: the writer takes them (or aclose, after its last batch)
        self._overflow: deque[CallRecord] = deque()
        #: callers waiting for room now
        self._waiting = 0
        #: the client began to close (:meth:`closing`): callers no longer wait for room
        self._client_closing = False
        #: whether the writer ended before aclose: put then stores records itself
        self._writer_ended = False
        #: the scopes of records put stores itself (no writer): aclose bounds and waits for them
        self._inline: set[anyio.CancelScope] = set()
        self._inline_done: anyio.Event | None = None
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
        self._waiting = 0
        self._client_closing = False
        self._writer_ended = False
        self._inline = set()  # (the parent's writes, in the parent's event loop)
        self._inline_done = None
        super()._forget_parent()  # the writer's state: storage starts afresh, no replay

    def start(self, tg: TaskGroup) -> None:
        """Run the writer in ``tg``; until then ``put`` writes inline."""
        self._send, self._receive = anyio.create_memory_object_stream[CallRecord](self._max_queue)
        self._running = True
        self._writer_ended = False
        # The failing gauge's first value: exporters that only learn of series
        # from events (StatsD, OTLP) would otherwise have none until a failure,
        # and an alert on `failing == 1` could not tell healthy from no data.
        self._tell(StorageFailing(self._failing_since is not None))
        tg.start_soon(self._writer, self._receive)

    def closing(self) -> None:
        """The client began to close: a caller waiting for room in the full queue hands
        its record over at once (to the overflow, which the writer's next batch or
        :meth:`aclose` takes), and so does one that finds the queue full from now on.

        The client's close waits for the calls in flight, and a call's record is
        put as it ends: while storage failed, those calls waited for the writer's
        retries (up to ``retry_for``) and the close with them, never reaching
        :meth:`aclose`, whose ``close_timeout`` bounds that wait (then spills
        what is left). The overflow holds at most one record per call in flight.
        """
        self._client_closing = True
        if self._room is not None:
            self._room.set()
            self._room = None

    async def put(self, record: CallRecord) -> None:
        """Queue ``record``; waits while the queue is full.

        Before :meth:`start` it is written at once (spilled if storage fails).
        After :meth:`aclose` has begun it goes to the spill file, which the next
        call log on this storage replays into it (the call it describes has
        already ended: nothing is raised). A call the close could not cut short
        (a limiter's shielded answer, a tool's thread) ends so.
        """
        if self._closed:
            await self._spill([record], "it arrived after the call log closed")
            return
        if self._send is None or not self._running:
            await self._write_now([record])
            return
        if self._writer_ended:
            await self._write_orphaned(record)
            return
        try:
            # No checkpoint when there is room: the call that made the record
            # has just yielded plenty, and a trip through the event loop per
            # record was most of what queueing one cost (more under trio).
            self._send.send_nowait(record)
        except anyio.WouldBlock:
            if self._client_closing:  # no wait for room: aclose takes it (see closing)
                self._overflow.append(record)
                return
            await self._put_when_room(record)  # full: wait for the writer (backpressure)
            return
        except anyio.BrokenResourceError:
            # The writer has ended before aclose (its task group was cancelled, or
            # it raised), and is about to say so
            await self._write_orphaned(record)
            return
        if self._wake is not None:  # the writer waits for a record (or a probe's time)
            self._wake.set()

    async def _write_orphaned(self, record: CallRecord) -> None:
        """Store ``record``, the writer having ended before aclose, as :meth:`_write_now`
        does; first what the writer left (its batch, the queue, callers' records).

        Kept for aclose instead, records would pile up in memory for as long as
        the process runs on (lost all at once if it crashed), so each caller
        stores its own, and those left before it, in order: one batch, taken off
        the overflow at once, so no two callers store one record.
        """
        batch = [*self._overflow, record]
        self._overflow.clear()
        await self._write_now(batch)

    async def _write_now(self, batch: list[CallRecord]) -> None:
        """Store ``batch`` with no writer running (the log not started: a client
        not entered, or a forked child's; or its writer ended before aclose): one
        try, then the spill file.

        The call it describes has ended: storage's trouble must neither fail it
        nor hold it for ``retry_for``. A write cancelled with its caller, or cut
        off by aclose's ``close_timeout``, is spilled too (if it did land, its
        replay stores nothing twice).
        """
        # aclose waits for the write (storage must not close under it), bounded
        scope = anyio.CancelScope(deadline=self._deadline)
        self._inline.add(scope)
        try:
            with scope:
                await self.storage.write_batch(batch)
        except Exception as e:
            self.failed_writes += 1
            self._tell(StorageWriteFailed(type(e).__name__))
            await self._spill(batch, describe_error(e))
        except anyio.get_cancelled_exc_class():
            await self._spill(batch, "cancelled while storing it")  # (shielded)
            raise
        else:
            if scope.cancelled_caught:  # aclose's deadline passed
                await self._spill(batch, "storage unavailable")
        finally:
            self._inline.discard(scope)
            if not self._inline and self._inline_done is not None:
                self._inline_done.set()

    async def _put_when_room(self, record: CallRecord) -> None:
        """Queue ``record`` once the writer makes room.

        The record was handed over when the call ended: a cancellation of the
        wait must not lose it. The wait is on an event rather than in the
        stream's ``send``, so a cancelled wait surely sent nothing, and the
        record goes to the writer's overflow instead (at most one per caller).
        """
        assert self._send is not None
        self._waiting += 1
        try:
            while not self._writer_ended:
                if self._client_closing:  # handed to aclose instead (see closing)
                    self._overflow.append(record)
                    return
                if self._room is None:
                    self._room = anyio.Event()
                await self._room.wait()
                try:
                    self._send.send_nowait(record)
                    if self._wake is not None:
                        self._wake.set()
                    return
                except anyio.WouldBlock:
                    continue
                except anyio.ClosedResourceError:
                    # The log closed while it waited (it was handed over before the
                    # close began): the writer's last batch, or aclose, writes it.
                    self._overflow.append(record)
                    return
                except anyio.BrokenResourceError:
                    break  # the writer ended before the close (and is about to say so)
        except BaseException:
            self._overflow.append(record)
            raise
        finally:
            self._waiting -= 1
        # The writer ended before aclose: no one else will take it (no longer
        # counted as waiting: aclose need not spin while storage answers).
        await self._write_orphaned(record)

    @property
    def depth(self) -> int:
        """Records queued and not yet handed to storage."""
        return self._send.statistics().current_buffer_used if self._send is not None else 0

    async def _writer(self, receive: MemoryObjectReceiveStream[CallRecord]) -> None:
        try:
            if self._retention is not None:
                await self._retention.apply(self.storage)
            if CAN_REPLAY:  # records left by an earlier outage (of any process)
                try:
                    self._replay_due = await anyio.to_thread.run_sync(has_spilled, self.spill_path)
                except OSError as e:  # (the directory unreadable): no replay, calls go on
                    log.error("could not look for spilled call records: %s", e)
            async with receive:
                try:
                    await self._take_batches(receive)
                except BaseException:
                    self._keep_for_close(receive)
                    raise
        finally:
            if not self._closed:  # ended before aclose: put stores records itself
                self._writer_ended = True
            if self._room is not None:  # nothing more will be taken: wake who waits
                self._room.set()
            if self._taken:  # a replay not finished: its lines go back to the spill file
                with anyio.CancelScope(shield=True):
                    await self._give_back()
            self._done.set()

    async def _take_batches(self, receive: MemoryObjectReceiveStream[CallRecord]) -> None:
        """The writer's loop: take batches off the queue and write them, replay
        spilled records between them, until aclose closes the queue."""
        batch: list[CallRecord] = []
        try:
            while True:
                if self._replaying():
                    # one bounded step between live batches: a waiting batch goes first
                    await self._replay_step_safely()
                elif not self._probing():
                    # Others run between batches: a storage that answers without
                    # waiting would otherwise keep the loop to itself, its callers
                    # (and their cancellations) waiting behind it.
                    await anyio.lowlevel.checkpoint()
                try:
                    first = receive.receive_nowait()
                except anyio.WouldBlock:
                    if self._replaying():
                        continue
                    if self._probing():
                        # storage fails and records wait to be replayed: when no
                        # batch comes, try storage now and then all the same
                        await self._idle_probe()
                    else:
                        await self._wait_for_records()
                    continue
                except anyio.EndOfStream:
                    break
                batch = [first]
                self._top_up(batch)
                await self._write(batch)
                batch = []
                if self._retention is not None and self._retention.due():
                    await self._retention.apply(self.storage)
        except BaseException:
            # Cancelled (or a bug raised): its write may have landed, and storage
            # keeps a record once (by id).
            self._overflow.extendleft(reversed(batch))
            raise

    async def _wait_for_records(self) -> None:
        """Wait until ``put`` queues a record (or aclose begins).

        On an event rather than in the stream's ``receive``: a receive cancelled
        just as it is handed a record loses that record (see ``_keep_for_close``).
        """
        self._wake = wake = anyio.Event()
        try:
            await wake.wait()
        finally:
            self._wake = None

    def _keep_for_close(self, receive: MemoryObjectReceiveStream[CallRecord]) -> None:
        """The writer ended before aclose (cancelled, or a bug raised): what is
        queued goes to the overflow, for the next ``put`` or aclose.

        Its task group is the client's, which a cancelled scope around
        ``async with Client()`` cancels too; the client's exit then runs aclose,
        which writes the overflow (shielded, within ``close_timeout``), unless a
        call's record came first and took it along (``_write_orphaned``).
        """
        while True:
            try:
                self._overflow.append(receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                return

    def _replaying(self) -> bool:
        """Whether the writer should take a replay step now: one is due (and this
        platform can replay), storage works (as far as the last write knows), and
        the log is not closing."""
        return (
            CAN_REPLAY
            and self._replay_due
            and self._failing_since is None
            and self._deadline == math.inf
        )

    def _probing(self) -> bool:
        """Whether an idle writer should try storage now and then: it fails (as far
        as the last write knows), spilled records wait (and this platform can
        replay them), and the log is not closing."""
        return (
            CAN_REPLAY
            and self._replay_due
            and self._failing_since is not None
            and self._deadline == math.inf
        )

    def _top_up(self, batch: list[CallRecord]) -> None:
        """Add queued records to ``batch`` up to ``max_batch``, and any overflow."""
        receive = self._receive
        while receive is not None and len(batch) < self._max_batch:
            try:
                batch.append(receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        if self._room is not None:  # callers wait for room: there is some now
            self._room.set()
            self._room = None
        if self._overflow:
            batch.extend(self._overflow)
            self._overflow.clear()

    async def aclose(self) -> None:
        """Stop accepting records, wait until every queued one is written, close storage.

        Waits at most about ``close_timeout`` for a failing storage: then the
        records not yet stored are spilled to the spill file.
        """
        self._closed = True
        if self._running and self._send is not None:
            # Retrying has a limit now: then what is left is spilled, not waited for.
            self._deadline = anyio.current_time() + self._close_timeout
            if self._patience is not None:
                self._patience.deadline = min(self._patience.deadline, self._deadline)
            await self._send.aclose()
            if self._wake is not None:  # an idle writer: it is to stop
                self._wake.set()
            with anyio.CancelScope(shield=True):
                await self._done.wait()
                # Callers still waiting for room were woken by the writer's end: each
                # puts its record in the overflow, on its next turn (a few at most).
                while self._waiting:
                    await anyio.lowlevel.checkpoint()
                if self._overflow:  # left by callers after the writer's last batch
                    batch = list(self._overflow)
                    self._overflow.clear()
                    await self._write(batch)
            self._running = False
        if self._inline:
            # Records put stores itself (no writer running): storage must not close
            # under their writes, cut off at the deadline (then spilled).
            deadline = anyio.current_time() + self._close_timeout
            self._deadline = min(self._deadline, deadline)
            for scope in self._inline:
                scope.deadline = min(scope.deadline, self._deadline)
            self._inline_done = anyio.Event()
            with anyio.CancelScope(shield=True):
                await self._inline_done.wait()
        await self.storage.aclose()
