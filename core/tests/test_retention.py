"""[storage] retention_days: prune when a client starts, then at most daily."""

from __future__ import annotations

import time

import anyio
import pytest

import relaykit
from relaykit.call_log import CallLog
from relaykit.retention import DAY, RetentionPolicy
from relaykit.testing import FakePlugin, MemoryStorage
from relaykit.testing.storage_contract import make_record


@pytest.mark.anyio
async def test_client_start_prunes_records_older_than_retention_days() -> None:
    storage = MemoryStorage()
    now = time.time()
    await storage.write_batch(
        [make_record(0, started_at=now - 3 * DAY), make_record(1, started_at=now - 0.5 * DAY)]
    )
    config = {"storage": {"backend": "memory", "retention_days": 1}}
    async with relaykit.Client(config, plugins=[FakePlugin(), storage.plugin()]) as client:
        await client.chat("fake/m", "hi")
    assert sorted(r.started_at for r in storage.records.values())[0] == now - 0.5 * DAY
    assert len(storage.records) == 2  # the recent old record and the new call


@pytest.mark.anyio
async def test_no_retention_keeps_everything() -> None:
    storage = MemoryStorage()
    await storage.write_batch([make_record(0, started_at=0.0)])
    async with relaykit.Client({"storage": {"backend": "memory"}}, plugins=[storage.plugin()]):
        pass
    assert len(storage.records) == 1


@pytest.mark.anyio
async def test_the_writer_prunes_again_only_after_a_day() -> None:
    clock = [1_000_000.0]
    pruned: list[float] = []

    class Counting(MemoryStorage):
        async def prune(self, older_than: object) -> int:
            pruned.append(clock[0])
            return 0

    policy = RetentionPolicy(7, clock=lambda: clock[0])
    storage = Counting()
    log = CallLog(storage, max_batch=1, retention=policy)

    async def write(n: int) -> None:
        await log.put(make_record(n))
        with anyio.fail_after(5):
            while len(storage.records) <= n:  # noqa: ASYNC110 (the writer task has not run yet)
                await anyio.sleep(0.001)

    async with anyio.create_task_group() as tg:
        log.start(tg)
        await write(0)
        clock[0] += DAY - 1
        await write(1)
        clock[0] += 1
        await write(2)
        await write(3)
        await log.aclose()
    assert pruned == [1_000_000.0, 1_000_000.0 + DAY]


@pytest.mark.anyio
async def test_a_failing_prune_does_not_stop_logging(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryStorage):
        async def prune(self, older_than: object) -> int:
            raise OSError("read-only file system")

    storage = Broken()
    config = {"storage": {"backend": "memory", "retention_days": 30}}
    async with relaykit.Client(config, plugins=[FakePlugin(), storage.plugin()]) as client:
        await client.chat("fake/m", "hi")
    assert len(storage.records) == 1
    assert "could not prune call records older than 30 days" in caplog.text


@pytest.mark.anyio
@pytest.mark.parametrize("days", [800_000, 1e9, 1e300])
async def test_retention_longer_than_the_calendar_keeps_everything_and_logs(days: float) -> None:
    """retention_days past the year 1 (a finite number the config takes) made the
    cutoff overflow: OverflowError out of the writer, where it ended the client."""
    storage = MemoryStorage()
    await storage.write_batch([make_record(0, started_at=0.0)])
    config = {"storage": {"backend": "memory", "retention_days": days}}
    async with relaykit.Client(config, plugins=[FakePlugin(), storage.plugin()]) as client:
        await client.chat("fake/m", "hi")
    assert len(storage.records) == 2  # nothing pruned, the new call logged
    assert await RetentionPolicy(days).apply(storage) == 0
