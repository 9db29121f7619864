"""Hand call records to storage off the request path, without ever dropping one.

Records go through a bounded queue to one writer task that writes them in
batches. A full queue makes ``put`` wait (backpressure) rather than drop; a
caller cancelled while it waits leaves its record to the writer all the same
(see ``put``). ``aclose`` drains what is queued before returning. With a
:class:`~relaykit.retention.RetentionPolicy` the writer also prunes old
records when it starts and then at most daily.

When storage fails (see ``_write``), the writer keeps the batch and retries
it with capped exponential backoff and jitter, topping it up from the queue,
for up to ``retry_for`` seconds (the queue meanwhile fills, and then callers
wait); after that it spills batches to a JSON Lines file
(:mod:`relaykit.record_spill`) with a loud error, trying storage again now and
then, until a write succeeds. Only :class:`~relaykit.StorageUnavailableError`
says for sure that storage, not the records, failed: another exception is
retried a few times, then the batch is halved until the record(s) storage
refuses are found and spilled alone, and the rest stored. ``aclose`` gives
the writer ``close_timeout`` seconds, then spills what is left.

When a write succeeds after storage had failed, and when the writer starts
and the spill file (or a taken file a dead process left) exists, the writer
replays the spill file into storage: it stores the file's first record in
place, and only once storage took it (storage still down leaves the file
where it is) takes the file (see :func:`relaykit.record_spill.take`), then
stores its records ``max_batch`` at a time, one batch after each live batch
(never before one waiting), and removes the file once every record is stored
(or spilled again). Lines storage refused go to ``FILE.refused`` instead,
said once, never replayed. A record storage refuses shows that it answers:
it counts as working again. A replay storage fails pauses until a write
succeeds again; one still going when the log closes puts the file's lines
back. While storage fails and spilled
records wait, an idle writer (no batch arrives) tries the replay's next step
every ``max_wait`` seconds, so storage that comes back while no calls are made
gets its records without new traffic. Without ``fcntl`` (Windows) there
is no replay: ``relaykit logs import`` loads the file.

Each failed write, change between failing and working, spilled, lost or
replayed batch is also told to ``on_event`` (the client hands these
:mod:`gauge events <relaykit.gauge_events>` to its exporters, as metrics):
only on those paths, so a healthy write does nothing more. ``start`` tells
storage's state once, so the failing gauge has a value from the start.
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .errors import StorageUnavailableError
from .fork_safety import after_fork_in_child, leave_to_parent
from .gauge_events import (
    RecordsLost,
    RecordsReplayed,
    RecordsSpilled,
    StorageEvent,
    StorageFailing,
    StorageWriteFailed,
)
from .protocols import CallRecord, Storage
from .record_spill import (
    CAN_REPLAY,
    default_spill_path,
    first_spilled,
    give_back,
    has_spilled,
    keep_refused,
    spill,
    spill_target,
    spilled_lines,
    take,
)
from .retention import RetentionPolicy
from .secrets import describe_error

log = logging.getLogger("relaykit.call_log")

#: failed writes with an exception other than StorageUnavailableError before the
#: batch is taken apart: a flaky backend that does not say so gets this many tries
UNKNOWN_FAILURE_TRIES = 3


class CallLog:
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
        self._retry_for = retry_for
        self._close_timeout = close_timeout
        self._spill_path = spill_path
        self._initial_wait = initial_wait
        self._max_wait = max_wait
        self._on_event = on_event
        #: when (anyio clock) storage began failing; None while it works
        self._failing_since: float | None = None
        #: when (anyio clock) the last write failed: an idle probe waits max_wait from it
        self._last_failure = -math.inf
        #: set by put (and aclose) while the writer waits idle for an idle probe's time
        self._wake: anyio.Event | None = None
        #: set once storage failed for retry_for: batches are spilled, storage is tried
        #: again at this time (then every max_wait) until a write succeeds
        self._next_probe: float | None = None
        #: when aclose wants the writer done (anyio clock); inf until it is called
        self._deadline = math.inf
        #: the cancel scope of the write or backoff in progress, cut short by aclose
        self._patience: anyio.CancelScope | None = None
        #: whether the spill file may hold records to replay (see _replay_step)
        self._replay_due = False
        #: the files a replay has taken, and their records not yet stored
        self._taken: list[Path] = []
        self._pending: deque[CallRecord] = deque()
        #: records the replay in progress has stored (for its closing log line)
        self._replay_stored = 0
        #: failed write attempts, records spilled to the file or lost, and records
        #: replayed from it into storage (for tests, metrics)
        self.failed_writes = 0
        self.spilled = 0
        self.lost = 0
        self.replayed = 0
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
        self._patience = None  # (the parent's scope, in the parent's event loop)
        self._deadline = math.inf
        self._failing_since = self._next_probe = None  # the child's storage starts afresh
        self._last_failure = -math.inf
        self._wake = None
        # A replay in progress is the parent's: its taken files and records stay its own.
        self._replay_due = False
        self._taken = []
        self._pending = deque()

    def start(self, tg: TaskGroup) -> None:
        """Run the writer in ``tg``; until then ``put`` writes inline."""
        self._send, self._receive = anyio.create_memory_object_stream[CallRecord](self._max_queue)
        self._running = True
        # The failing gauge's first value: exporters that only learn of series
        # from events (StatsD, OTLP) would otherwise have none until a failure,
        # and an alert on `failing == 1` could not tell healthy from no data.
        self._tell(StorageFailing(self._failing_since is not None))
        tg.start_soon(self._writer, self._receive)

    async def put(self, record: CallRecord) -> None:
        """Queue ``record``; waits while the queue is full.

        After :meth:`aclose` has begun there is nowhere to write it: it is logged
        as lost, never raised (the call it describes has already ended).
        """
        if self._closed:
            self._late(record)
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
            return
        if self._wake is not None:  # the writer waits for an idle probe's time
            self._wake.set()

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
                    if self._wake is not None:
                        self._wake.set()
                    return
                except anyio.WouldBlock:
                    continue
                except anyio.ClosedResourceError:  # closed while it waited: said, not raised
                    self._late(record)
                    return
        except BaseException:
            self._overflow.append(record)
            raise

    def _late(self, record: CallRecord) -> None:
        """``record`` came after :meth:`aclose`: say it is lost (and count it)."""
        self.lost += 1
        log.error(
            "call record %s (%s) arrived after the call log closed; not stored",
            record.id,
            record.provider,
        )
        self._tell(RecordsLost(1))

    def _tell(self, event: StorageEvent) -> None:
        """Hand ``event`` to ``on_event``; a failing callback must not stop the writer."""
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("on_event failed for %r", event)

    @property
    def depth(self) -> int:
        """Records queued and not yet handed to storage."""
        return self._send.statistics().current_buffer_used if self._send is not None else 0

    @property
    def spill_path(self) -> Path:
        """The file batches are spilled to (and replayed from).

        Unless given: a file named by the storage's ``spill_target``, if it has one.
        """
        if self._spill_path is None:
            self._spill_path = default_spill_path(spill_target(self.storage))
        return self._spill_path

    async def _writer(self, receive: MemoryObjectReceiveStream[CallRecord]) -> None:
        try:
            if self._retention is not None:
                await self._retention.apply(self.storage)
            if CAN_REPLAY:  # records left by an earlier outage (of any process)
                self._replay_due = await anyio.to_thread.run_sync(has_spilled, self.spill_path)
            async with receive:
                while True:
                    if self._replaying():
                        # one bounded step between live batches: a waiting batch goes first
                        await self._replay_step()
                        try:
                            first = receive.receive_nowait()
                        except anyio.WouldBlock:
                            continue
                        except anyio.EndOfStream:
                            break
                    elif self._probing():
                        # storage fails and records wait to be replayed: when no
                        # batch comes, try storage now and then all the same
                        try:
                            first = receive.receive_nowait()
                        except anyio.WouldBlock:
                            await self._idle_probe()
                            continue
                        except anyio.EndOfStream:
                            break
                    else:
                        try:
                            first = await receive.receive()
                        except anyio.EndOfStream:
                            break
                    batch = [first]
                    self._top_up(batch)
                    await self._write(batch)
                    if self._retention is not None and self._retention.due():
                        await self._retention.apply(self.storage)
        finally:
            if self._room is not None:  # nothing more will be taken: wake who waits
                self._room.set()
            if self._taken:  # a replay not finished: its lines go back to the spill file
                with anyio.CancelScope(shield=True):
                    await self._give_back()
            self._done.set()

    def _replaying(self) -> bool:
        """Whether the writer should take a replay step now: one is due, storage
        works (as far as the last write knows), and the log is not closing."""
        return self._replay_due and self._failing_since is None and self._deadline == math.inf

    def _probing(self) -> bool:
        """Whether an idle writer should try storage now and then: it fails (as far
        as the last write knows), spilled records wait, and the log is not closing."""
        return self._replay_due and self._failing_since is not None and self._deadline == math.inf

    async def _idle_probe(self) -> None:
        """Wait for a record, or until storage is due to be tried again; try it then.

        The try is the replay's next step, which stores real spilled records if
        storage works again (and then the replay goes on). Waits on an event
        ``put`` sets rather than in the stream's ``receive``: cancelling a
        receive could lose the record it was just handed.
        """
        due = self._next_probe if self._next_probe is not None else self._last_failure
        if self._next_probe is None:
            due += self._max_wait
        if anyio.current_time() < due:
            self._wake = wake = anyio.Event()
            try:
                with anyio.CancelScope(deadline=due):
                    await wake.wait()
            finally:
                self._wake = None
            if wake.is_set():  # a record came (or aclose began): the writer takes it
                return
        failures = self.failed_writes
        await self._replay_step()
        if self.failed_writes > failures and self._next_probe is not None:
            # still failing: live batches are spilled without a try for another while
            self._next_probe = anyio.current_time() + self._max_wait

    async def _replay_step(self) -> None:
        """Store up to ``max_batch`` spilled records; take the spill file first if need be.

        A batch storage fails pauses the replay (``_failed`` marks storage
        failing) until a write succeeds; one it refuses is taken apart as a
        live batch is. Records spilled again meanwhile are replayed later.
        """
        if not self._pending:
            if self._taken:
                await self._finish_replay()
            # The file is taken only once storage answers: its first record is
            # stored in place first. Taken while storage is down, the file would
            # wait under a name of this process's (a later run, `logs import`
            # looking for FILE, would not find it there) for nothing.
            try:
                first = await anyio.to_thread.run_sync(first_spilled, self.spill_path)
            except OSError:
                first = None  # (_take says why)
            if first is not None:
                try:
                    await self._attempt([first])
                except StorageUnavailableError as e:
                    self._failed(e, 1)
                    return  # still down: tried again later, the file left as it is
                except Exception:
                    first = None  # it answers (refusing that one?): the replay sorts it out
                else:
                    self._recovered(1)
                    self.replayed += 1
                    self._replay_stored += 1
                    self._tell(RecordsReplayed(1))
            if not await self._take():
                self._replay_due = False
                return
            if first is not None and first in self._pending:  # stored already: not twice
                self._pending.remove(first)
                if not self._pending:
                    return  # (the next step removes the taken files)
        n = min(self._max_batch, len(self._pending))
        chunk = [self._pending.popleft() for _ in range(n)]
        before = self.spilled + self.lost
        try:
            await self._attempt(chunk)
        except StorageUnavailableError as e:
            self._pending.extendleft(reversed(chunk))  # tried again once storage works
            self._failed(e, n)
            return
        except Exception as e:
            self._failed(e, n)
            await self._bisect(chunk, e)  # what it refuses is spilled as refused
        else:
            self._recovered(n)
        # What storage did not take was spilled again (or lost, and said so).
        stored = n - (self.spilled + self.lost - before)
        if stored > 0:
            self.replayed += stored
            self._replay_stored += stored
            self._tell(RecordsReplayed(stored))

    async def _take(self) -> bool:
        """Take the spill file (and leftovers) and read its records; whether there are any."""
        path = self.spill_path
        try:
            taken = await anyio.to_thread.run_sync(take, path)
            self._taken.extend(taken)
            for file in taken:
                records, refused = await anyio.to_thread.run_sync(spilled_lines, file)
                self._pending.extend(records)
                if refused:
                    kept = await anyio.to_thread.run_sync(keep_refused, path, refused)
                    log.warning(
                        "%d spilled call records are not replayed: storage refused them"
                        " (or they are not records); they are in %s. Once fixed, load them"
                        " with `relaykit logs import %s`",
                        len(refused),
                        kept,
                        kept,
                    )
        except OSError as e:
            log.error("could not replay call records from %s: %s", path, e)
            return False
        if self._taken and not self._pending:
            await self._finish_replay()
        if self._pending:
            log.info(
                "storing %d call records spilled to %s while storage was failing",
                len(self._pending),
                path,
            )
        return bool(self._pending)

    async def _finish_replay(self) -> None:
        """Remove the taken files: each of their records is stored, spilled again, or kept."""
        taken, self._taken = self._taken, []
        for file in taken:
            await anyio.to_thread.run_sync(partial(file.unlink, missing_ok=True))
        if self._replay_stored:
            # WARNING, as the ERROR that asked for `relaykit logs import` was: no need now
            log.warning(
                "stored %d call records spilled to %s; no need to import them",
                self._replay_stored,
                self.spill_path,
            )
        self._replay_stored = 0

    async def _give_back(self) -> None:
        """Put the lines of a replay not finished back into the spill file."""
        taken, self._taken = self._taken, []
        self._pending.clear()
        try:
            # (the refused lines are in FILE.refused already)
            await anyio.to_thread.run_sync(
                partial(give_back, taken, self.spill_path, skip_refused=True)
            )
        except OSError as e:
            log.error(
                "could not put spilled call records back in %s: %s; they are in %s",
                self.spill_path,
                e,
                ", ".join(str(file) for file in taken),
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

    @contextmanager
    def _patient(self) -> Iterator[anyio.CancelScope]:
        """A scope for one write or wait, cancelled at aclose's deadline."""
        with anyio.CancelScope(deadline=self._deadline) as scope:
            self._patience = scope
            try:
                yield scope
            finally:
                self._patience = None

    async def _attempt(self, batch: list[CallRecord]) -> None:
        """One ``write_batch``; a write cut short by aclose's deadline counts as unavailable."""
        with self._patient() as scope:
            await self.storage.write_batch(batch)
        if scope.cancelled_caught:
            raise StorageUnavailableError(
                f"storage did not finish writing within close_timeout ({self._close_timeout} s)"
            )

    async def _write(self, batch: list[CallRecord]) -> None:
        """Store ``batch``: retry, take apart or spill it as storage fails; never raise.

        Storage trouble must not fail the caller's request, nor lose a record.
        """
        unknown_failures = 0
        attempt = 0
        while True:
            now = anyio.current_time()
            if (self._next_probe is not None and now < self._next_probe) or now >= self._deadline:
                # storage has been failing for long enough (or aclose is out of
                # time): do not make callers wait for it
                await self._spill(batch, "storage unavailable")
                return
            try:
                await self._attempt(batch)
            except StorageUnavailableError as e:
                error: Exception = e
            except Exception as e:
                unknown_failures += 1
                if unknown_failures >= UNKNOWN_FAILURE_TRIES:
                    self._failed(e, len(batch))
                    await self._bisect(batch, e)
                    return
                error = e
            else:
                self._recovered(len(batch))
                return
            self._failed(error, len(batch))
            now = anyio.current_time()
            assert self._failing_since is not None
            if self._next_probe is not None or now - self._failing_since >= self._retry_for:
                self._next_probe = now + self._max_wait
                await self._spill(batch, describe_error(error))
                return
            wait = min(self._max_wait, self._initial_wait * 2.0 ** min(attempt, 30))
            attempt += 1  # (capped above: a day of retries must not overflow a float)
            with self._patient():  # aclose's deadline ends the wait: spilled next time round
                await anyio.sleep(random.uniform(wait / 2, wait))  # jitter: writers spread out
            self._top_up(batch)  # frees room in the queue for waiting callers

    async def _bisect(self, batch: list[CallRecord], error: Exception) -> None:
        """Store what storage accepts of ``batch``; spill the record(s) it refuses."""
        if len(batch) == 1:
            (record,) = batch
            log.error(
                "storage refuses call record %s (%s): %s",
                record.id,
                record.provider,
                describe_error(error),
            )
            await self._spill(batch, f"refused: {describe_error(error)}", refused=True)
            # The refusal is storage's answer: it is up (the failing gauge goes
            # back to 0 now, not at the next write that succeeds).
            self._recovered(0)
            return
        middle = len(batch) // 2
        for part in (batch[:middle], batch[middle:]):
            try:
                await self._attempt(part)
            except StorageUnavailableError as e:
                self._failed(e, len(part))
                await self._write(part)  # storage itself failed: retried (or spilled) as usual
            except Exception as e:
                self._failed(e, len(part))
                await self._bisect(part, e)
            else:
                self._recovered(len(part))

    def _failed(self, error: Exception, count: int) -> None:
        self.failed_writes += 1
        self._last_failure = anyio.current_time()
        self._tell(StorageWriteFailed(type(error).__name__))
        if self._failing_since is None:
            self._failing_since = anyio.current_time()
            self._tell(StorageFailing(True))
            log.warning(
                "could not store %d call records (%s); retrying for up to %g s",
                count,
                describe_error(error),
                self._retry_for,
            )

    def _recovered(self, count: int) -> None:
        if self._failing_since is not None:
            took = anyio.current_time() - self._failing_since
            if count:
                log.warning("storage works again after %.1f s; stored %d call records", took, count)
            else:  # (a record it refused: the refusal is its answer)
                log.warning("storage answers again after %.1f s (it refused a call record)", took)
            self._tell(StorageFailing(False))
            self._replay_due = CAN_REPLAY  # what was spilled meanwhile can go in now
        self._failing_since = None
        self._next_probe = None

    async def _spill(self, batch: list[CallRecord], reason: str, *, refused: bool = False) -> None:
        """Append ``batch`` to the spill file and say so; log it as lost if that fails too.

        ``refused``: storage refused this record (not: storage failed).
        """
        path = self.spill_path
        try:
            with anyio.CancelScope(shield=True):  # the only copy: finish writing it
                unwritable = await anyio.to_thread.run_sync(spill, path, batch, reason)
        except OSError as e:
            unwritable = batch
            log.error("could not write call records to %s: %s", path, e)
        written = len(batch) - len(unwritable)
        self.spilled += written
        if written and not refused:
            self._replay_due = CAN_REPLAY  # replayed once storage works (see _idle_probe)
        if written:
            self._tell(RecordsSpilled(written, "refused" if refused else "unavailable"))
            log.error(
                "could not store %d call records (%s); wrote them to %s: once storage works,"
                " load them with `relaykit logs import %s`",
                written,
                reason,
                path,
                path,
            )
        if unwritable:
            self.lost += len(unwritable)
            self._tell(RecordsLost(len(unwritable)))
            log.error(
                "LOST %d call records storage could not take nor %s hold: %s",
                len(unwritable),
                path,
                ", ".join(record.id for record in unwritable),
            )

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
            if self._wake is not None:  # an idle writer: it is to stop, not probe
                self._wake.set()
            with anyio.CancelScope(shield=True):
                await self._done.wait()
                if self._overflow:  # left by callers cancelled after the writer's last batch
                    batch = list(self._overflow)
                    self._overflow.clear()
                    await self._write(batch)
            self._running = False
        await self.storage.aclose()
