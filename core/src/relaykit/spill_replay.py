"""Put spilled call records back into storage once it works, a batch at a time.

The replay half of :class:`~relaykit.call_log.CallLog`, apart from the writes
of live batches (:mod:`relaykit.storage_outage`) because it has its own state
(the files it took, the records not yet stored) and its own schedule: between
live batches, never before one waiting.

When a write succeeds after storage had failed, and when the writer starts
and the spill file (or a taken file a dead process left) exists, the writer
replays the spill file into storage: it stores the file's first record in
place, and only once storage took it (storage still down leaves the file where
it is) takes the file (see :func:`relaykit.record_spill.take`), then stores its
records ``max_batch`` at a time, one batch after each live batch, and removes
the file once every record is stored (or spilled again). Lines storage refused
go to ``FILE.refused`` instead, said once, never replayed. A replay storage
fails pauses until a write succeeds again; one still going when the log
closes puts the file's lines back. While storage fails and spilled records
wait, an idle writer (no batch arrives) tries the replay's next step every
``max_wait`` seconds, so storage that comes back while no calls are made gets
its records without new traffic. Without ``fcntl`` (Windows) there is no replay: ``relaykit logs
import`` loads the file.

Each replayed batch is told to ``on_event`` as
:class:`~relaykit.gauge_events.RecordsReplayed`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path

import anyio

from .errors import StorageUnavailableError
from .gauge_events import RecordsReplayed, StorageEvent
from .protocols import CallRecord, Storage
from .record_spill import first_spilled, give_back, keep_refused, spilled_lines, take
from .storage_outage import OutageWriter, log


class SpillReplay(OutageWriter):
    """Replays the spill file through the writes of :class:`OutageWriter`; a base
    of :class:`~relaykit.call_log.CallLog` (not used on its own)."""

    def __init__(
        self,
        storage: Storage,
        *,
        max_batch: int,
        retry_for: float,
        close_timeout: float,
        spill_path: Path | None,
        initial_wait: float,
        max_wait: float,
        on_event: Callable[[StorageEvent], None] | None,
    ) -> None:
        super().__init__(
            storage,
            retry_for=retry_for,
            close_timeout=close_timeout,
            spill_path=spill_path,
            initial_wait=initial_wait,
            max_wait=max_wait,
            on_event=on_event,
        )
        self._max_batch = max_batch
        #: set by put (and aclose) while the writer waits idle for an idle probe's time
        self._wake: anyio.Event | None = None
        #: the files a replay has taken, and their records not yet stored
        self._taken: list[Path] = []
        self._pending: deque[CallRecord] = deque()
        #: records the replay in progress has stored (for its closing log line)
        self._replay_stored = 0
        #: records replayed from the spill file into storage (for tests, metrics)
        self.replayed = 0

    def _forget_parent(self) -> None:
        """In a forked child: a replay in progress is the parent's (see ``CallLog``)."""
        super()._forget_parent()
        self._wake = None
        self._taken = []
        self._pending = deque()

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
        await self._replay_step_safely()
        if self.failed_writes > failures and self._next_probe is not None:
            # still failing: live batches are spilled without a try for another while
            self._next_probe = anyio.current_time() + self._max_wait

    async def _replay_step_safely(self) -> None:
        """:meth:`_replay_step`; an error it did not expect stops the replay, not the writer.

        The writer runs in the client's task group: an exception out of it would
        end the client, calls and all, and a spill file that trips the replay
        would do so at every start. Its lines go back to the file instead, none
        left out (``relaykit logs import`` loads them, or says what is wrong).
        """
        try:
            await self._replay_step()
        except Exception:
            log.exception(
                "could not replay the call records spilled to %s; they stay there: load"
                " them with `relaykit logs import %s`",
                self.spill_path,
                self.spill_path,
            )
            self._replay_due = False
            await self._give_back(skip_refused=False)

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
                    await self._finish_replay()  # (now: see below)
                    return
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
        if not self._pending:
            # Every record is stored (or spilled again): the taken files go now, not
            # at the next step. A live batch comes first, and a close during it
            # (no more steps then) would give every line back to the spill file,
            # for the next log to replay all over again.
            await self._finish_replay()

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

    async def _give_back(self, *, skip_refused: bool = True) -> None:
        """Put the lines of a replay not finished back into the spill file (but
        those :meth:`_take` put in ``FILE.refused``, unless ``skip_refused`` is false)."""
        taken, self._taken = self._taken, []
        self._pending.clear()
        if not taken:
            return
        try:
            await anyio.to_thread.run_sync(
                partial(give_back, taken, self.spill_path, skip_refused=skip_refused)
            )
        except OSError as e:
            log.error(
                "could not put spilled call records back in %s: %s; they are in %s",
                self.spill_path,
                e,
                ", ".join(str(file) for file in taken),
            )
