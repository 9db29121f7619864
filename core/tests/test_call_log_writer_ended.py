"""A call log whose writer ended before ``aclose`` (its task group cancelled, or it
raised) holds no records in memory: each is stored as it comes, or spilled.

Such records once waited in the log's overflow for ``aclose``: a long-running
process whose writer had died kept every later record in memory until it closed
the client, and lost them all if it crashed first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from relaykit.call_log import CallLog
from relaykit.protocols import CallRecord
from relaykit.record_spill import read_spilled
from relaykit.testing import MemoryStorage
from relaykit.testing.storage_contract import make_record

from .conftest import FailingStorage, quick_log


class GatedStorage(MemoryStorage):
    """Holds writes until :attr:`gate` is set (the writer keeps one batch meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = anyio.Event()
        #: set when a write reaches the gate
        self.held = anyio.Event()

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        self.held.set()
        await self.gate.wait()
        await super().write_batch(records)


async def end_writer(log: CallLog) -> None:
    """Start ``log``'s writer in a task group, then cancel that group (as a cancelled
    scope around ``async with Client()`` does) without closing the log."""
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_records_after_the_writer_ended_are_stored_as_they_come(tmp_path: Path) -> None:
    storage = GatedStorage()
    log = quick_log(storage, tmp_path, max_queue=5)
    held = [make_record(n, id=f"held-{n}") for n in range(4)]
    async with anyio.create_task_group() as tg:
        log.start(tg)
        for record in held:  # the writer takes the first, at the gate; the rest queue
            await log.put(record)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    storage.gate.set()
    later = [make_record(n, id=f"later-{n}") for n in range(3000)]
    with anyio.fail_after(10):
        for record in later:
            await log.put(record)
            assert not log._overflow  # nothing waits in memory for aclose
    # Stored before aclose, those the writer left behind first: a crash now loses none.
    assert sorted(storage.records) == sorted(r.id for r in [*held, *later])
    assert [*storage.records][: len(held)] == [r.id for r in held]
    await log.aclose()
    assert (log.spilled, log.lost) == (0, 0)
    assert storage.closed


@pytest.mark.anyio
async def test_records_after_the_writer_ended_are_spilled_while_storage_fails(
    tmp_path: Path,
) -> None:
    storage = FailingStorage(down=True)
    log = quick_log(storage, tmp_path)
    await end_writer(log)
    records = [make_record(n) for n in range(200)]
    with anyio.fail_after(10):
        for record in records:
            await log.put(record)
            assert not log._overflow
    # In the spill file, each once, before aclose: the next log replays them.
    assert list(read_spilled(tmp_path / "spill.jsonl")) == records
    assert (log.spilled, log.lost) == (200, 0)
    await log.aclose()
    storage.down = False
    after = quick_log(storage, tmp_path)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            after.start(tg)
            while after.replayed < len(records):  # noqa: ASYNC110  # a counter, no event
                await anyio.sleep(0.01)
            await after.aclose()
    assert sorted(storage.records) == sorted(r.id for r in records)


@pytest.mark.anyio
async def test_callers_waiting_for_room_when_the_writer_ends_store_their_records(
    tmp_path: Path,
) -> None:
    storage = GatedStorage()
    log = quick_log(storage, tmp_path, max_queue=1)
    records = [make_record(n, id=f"r{n}") for n in range(6)]
    writer = anyio.CancelScope()

    async def run_writer() -> None:
        with writer:  # its task group's scope, not the callers'
            async with anyio.create_task_group() as tg:
                log.start(tg)

    async with anyio.create_task_group() as callers:
        callers.start_soon(run_writer)
        await anyio.wait_all_tasks_blocked()
        await log.put(records[0])
        # the writer holds it at the gate (all tasks blocked is not enough: the
        # writer's start waits on a worker thread, which counts as blocked)
        with anyio.fail_after(5):
            await storage.held.wait()
        for record in records[1:]:  # one queued, four wait for room
            callers.start_soon(log.put, record)
        await anyio.wait_all_tasks_blocked()
        assert log._waiting == 4
        writer.cancel()
        await anyio.wait_all_tasks_blocked()
        storage.gate.set()
    assert not log._overflow
    assert sorted(storage.records) == [r.id for r in records]
    await log.aclose()
    assert (log.spilled, log.lost) == (0, 0)


@pytest.mark.anyio
async def test_aclose_waits_for_a_record_being_stored_after_the_writer_ended_within_its_bound(
    tmp_path: Path,
) -> None:
    class Hanging(MemoryStorage):
        async def write_batch(self, records: Sequence[CallRecord]) -> None:
            await anyio.sleep_forever()

    storage = Hanging()
    log = quick_log(storage, tmp_path, close_timeout=0.2)
    await end_writer(log)
    record = make_record(1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(log.put, record)  # its write hangs
            await anyio.wait_all_tasks_blocked()
            await log.aclose()  # not for ever, and not with storage closed under the write
    assert list(read_spilled(tmp_path / "spill.jsonl")) == [record]
    assert (log.spilled, log.lost) == (1, 0) and storage.closed


class WriterBug(BaseException):
    """What a writer lets out: not an Exception its writes catch (a bug's, say)."""


@pytest.mark.anyio
async def test_a_log_whose_writer_raised_loses_nothing_and_stores_what_comes(
    tmp_path: Path,
) -> None:
    class Broken(MemoryStorage):
        """Its first write raises :class:`WriterBug`: the writer ends, raising."""

        calls = 0

        async def write_batch(self, records: Sequence[CallRecord]) -> None:
            self.calls += 1
            if self.calls == 1:
                raise WriterBug
            await super().write_batch(records)

    storage = Broken()
    log = quick_log(storage, tmp_path)
    first = make_record(0, id="first")
    with pytest.raises(BaseExceptionGroup) as caught:
        async with anyio.create_task_group() as tg:
            log.start(tg)
            await log.put(first)
            await anyio.sleep_forever()
    assert caught.group_contains(WriterBug)
    later = [make_record(n, id=f"later-{n}") for n in range(50)]
    for record in later:
        await log.put(record)
        assert not log._overflow
    # the batch it was writing as it raised, too
    assert sorted(storage.records) == sorted(r.id for r in [first, *later])
    await log.aclose()
    assert (log.spilled, log.lost) == (0, 0)
