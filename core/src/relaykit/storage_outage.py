"""Store a batch of call records whatever storage does: retry, take apart, spill.

The write half of :class:`~relaykit.call_log.CallLog`, apart from its queue
because it is a state machine of its own (storage working, failing, failing
for long enough that batches are spilled) that the queue only feeds.

When storage fails, or a write hangs (see :meth:`OutageWriter._answer_by`),
the writer keeps the batch and retries it with capped exponential backoff and
jitter, topping it up from the queue, for up to ``retry_for`` seconds (the
queue meanwhile fills, and then callers wait); after that it spills batches to a JSON Lines file
(:mod:`relaykit.record_spill`) with a loud error, trying storage again now and
then, until a write succeeds. Only :class:`~relaykit.StorageUnavailableError`
says for sure that storage, not the records, failed: another exception is
retried a few times, then the batch is halved until the record(s) storage
refuses are found and spilled alone, and the rest stored (a refusal shows
storage answers: it counts as working again). ``aclose`` gives
the writer ``close_timeout`` seconds, then spills what is left. What was
spilled goes back into storage by :mod:`relaykit.spill_replay`.

Each failed write, change between failing and working, spilled or lost batch
is also told to ``on_event`` (the client hands these :mod:`gauge events
<relaykit.gauge_events>` to its exporters, as metrics): only on those paths,
so a healthy write does nothing more.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio

from .errors import StorageUnavailableError
from .gauge_events import (
    RecordsLost,
    RecordsSpilled,
    StorageEvent,
    StorageFailing,
    StorageWriteFailed,
)
from .protocols import CallRecord, Storage
from .record_spill import default_spill_path, spill, spill_target
from .secrets import describe_error

# The call log's logger, whichever of its modules speaks: users filter on one name.
log = logging.getLogger("relaykit.call_log")

#: failed writes with an exception other than StorageUnavailableError before the
#: batch is taken apart: a flaky backend that does not say so gets this many tries
UNKNOWN_FAILURE_TRIES = 3


class OutageWriter:
    """Writes batches to ``storage``, riding out its outages; a base of
    :class:`~relaykit.call_log.CallLog` (not used on its own).

    One object with the queue rather than one it holds: ``put`` reads the
    state it shares with the writer (``_wake``) without an extra hop.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        retry_for: float,
        close_timeout: float,
        spill_path: Path | None,
        initial_wait: float,
        max_wait: float,
        on_event: Callable[[StorageEvent], None] | None,
    ) -> None:
        self.storage = storage
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
        #: set once storage failed for retry_for: batches are spilled, storage is tried
        #: again at this time (then every max_wait) until a write succeeds
        self._next_probe: float | None = None
        #: when aclose wants the writer done (anyio clock); inf until it is called
        self._deadline = math.inf
        #: the cancel scope of the write or backoff in progress, cut short by aclose
        self._patience: anyio.CancelScope | None = None
        #: whether the spill file may hold records to replay (see
        #: relaykit.spill_replay); the call log replays only where it can (CAN_REPLAY)
        self._replay_due = False
        #: failed write attempts, and records spilled to the file or lost (for tests, metrics)
        self.failed_writes = 0
        self.spilled = 0
        self.lost = 0

    def _forget_parent(self) -> None:
        """In a forked child: the child's storage starts afresh (see ``CallLog``)."""
        self._patience = None  # (the parent's scope, in the parent's event loop)
        self._deadline = math.inf
        self._failing_since = self._next_probe = None
        self._last_failure = -math.inf
        # A replay in progress is the parent's: its taken files and records stay its own.
        self._replay_due = False

    def _tell(self, event: StorageEvent) -> None:
        """Hand ``event`` to ``on_event``; a failing callback must not stop the writer."""
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("on_event failed for %r", event)

    @property
    def spill_path(self) -> Path:
        """The file batches are spilled to (and replayed from).

        Unless given: a file named by the storage's ``spill_target``, if it has one.
        """
        if self._spill_path is None:
            self._spill_path = default_spill_path(spill_target(self.storage))
        return self._spill_path

    def _top_up(self, batch: list[CallRecord]) -> None:
        """Add queued records to ``batch``: the queue's owner (``CallLog``) says how."""
        raise NotImplementedError

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
        """One ``write_batch``; a write cut short by aclose's deadline, or one that hangs
        past :meth:`_answer_by`, counts as unavailable."""
        began = anyio.current_time()
        answer_by = self._answer_by(began)
        with self._patient() as scope:
            scope.deadline = min(scope.deadline, answer_by)
            await self.storage.write_batch(batch)
        if scope.cancelled_caught:
            if anyio.current_time() >= self._deadline:
                raise StorageUnavailableError(
                    f"storage did not finish writing within close_timeout ({self._close_timeout} s)"
                )
            raise _Hung(
                f"storage did not answer a write within {answer_by - began:.3g} s", began=began
            )

    def _answer_by(self, now: float) -> float:
        """When a write starting ``now`` counts as failed if it has not returned.

        A storage that hangs (a network partition, a frozen host) fails nothing:
        without a bound its write would hold the writer until the kernel's TCP
        timeout (minutes), the queue would fill, and callers would wait for all
        that time. A write may take up to ``retry_for`` (so long as the writer
        retries before it spills), at least ``max_wait``; once it spills, a try of
        storage (a probe) gets ``max_wait``.
        """
        if self._next_probe is not None:
            return now + self._max_wait
        since = self._failing_since if self._failing_since is not None else now
        return max(since + self._retry_for, now + self._max_wait)

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
            # A write that hung has been failing since it began.
            self._failing_since = error.began if isinstance(error, _Hung) else self._last_failure
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
            self._replay_due = True  # what was spilled meanwhile can go in now
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
            self._replay_due = True  # replayed once storage works (see spill_replay)
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


class _Hung(StorageUnavailableError):
    """A write that did not return in time (see :meth:`OutageWriter._answer_by`)."""

    def __init__(self, message: str, *, began: float) -> None:
        super().__init__(message)
        #: when (anyio clock) the write began: storage has been failing since
        self.began = began
