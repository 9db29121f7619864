"""A failing storage loses no call records: retried, taken apart, or spilled to a file.

The call log (relaykit.call_log) against a storage that fails on purpose: a few
times, for one record only, or for good. Real SQLite and PostgreSQL outages
are in plugins/sqlite/tests/test_outages.py and plugins/postgres/tests/test_outages.py.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

import relaykit
from relaykit import metrics
from relaykit.cli import logs
from relaykit.gauge_events import (
    RecordsSpilled,
    StorageEvent,
    StorageFailing,
    StorageWriteFailed,
)
from relaykit.protocols import CallRecord
from relaykit.record_spill import read_spilled, spill
from relaykit.testing import FakePlugin, MemoryStorage, RecordingExporter
from relaykit.testing.storage_contract import make_record

from .conftest import SECRET, FailingStorage, quick_log


@pytest.mark.anyio
async def test_a_storage_that_fails_a_while_gets_every_record_once(tmp_path: Path) -> None:
    storage = FailingStorage(failures=5)
    log = quick_log(storage, tmp_path, max_queue=10)
    records = [make_record(n) for n in range(60)]
    async with anyio.create_task_group() as tg:
        log.start(tg)
        for record in records:  # more than the queue holds: callers wait, then go on
            await log.put(record)
        await log.aclose()
    assert sorted(storage.records) == sorted(r.id for r in records)
    assert (log.failed_writes, log.spilled, log.lost) == (5, 0, 0)
    assert not (tmp_path / "spill.jsonl").exists()


@pytest.mark.anyio
async def test_unknown_errors_are_retried_too(tmp_path: Path) -> None:
    storage = FailingStorage(failures=2, error=OSError("flaky disk"))
    log = quick_log(storage, tmp_path)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await log.put(make_record(1))
        await log.aclose()
    assert len(storage.records) == 1 and log.spilled == 0


@pytest.mark.anyio
async def test_a_poison_record_is_spilled_and_the_rest_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = FailingStorage()
    records = [make_record(n) for n in range(20)]
    storage.poison = {records[13].id}
    log = quick_log(storage, tmp_path)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        for record in records:
            log._send.send_nowait(record)  # type: ignore[union-attr]  # one batch of 20
        await log.aclose()
    assert set(storage.records) == {r.id for r in records} - {records[13].id}
    (line,) = (tmp_path / "spill.jsonl").read_text().splitlines()
    spilled = json.loads(line)
    assert spilled["record"]["id"] == records[13].id
    assert spilled["reason"].startswith("refused: ValueError: cannot serialise a record")
    assert list(read_spilled(tmp_path / "spill.jsonl")) == [records[13]]
    # Bisecting 20 records for one: a handful of writes, not one per record.
    assert storage.attempts <= 3 + 2 * 5
    assert f"storage refuses call record {records[13].id}" in caplog.text
    assert SECRET not in caplog.text + line


@pytest.mark.anyio
async def test_a_storage_that_never_recovers_spills_and_closes_in_bounded_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = FailingStorage(down=True)
    log = quick_log(storage, tmp_path, retry_for=0.1, close_timeout=0.2, max_queue=5)
    records = [make_record(n) for n in range(40)]
    with anyio.fail_after(5):  # callers wait at most about retry_for, then records spill
        async with anyio.create_task_group() as tg:
            log.start(tg)
            for record in records:
                await log.put(record)
            await log.aclose()
    assert not storage.records
    assert (log.spilled, log.lost) == (40, 0)
    path = tmp_path / "spill.jsonl"
    assert sorted(r.id for r in read_spilled(path)) == sorted(r.id for r in records)
    assert path.stat().st_mode & 0o777 == 0o600
    assert f"load them with `relaykit logs import {path}`" in caplog.text
    assert "retrying for up to 0.1 s" in caplog.text
    # Once it failed for retry_for, storage is only tried now and then, not per batch.
    assert storage.attempts < 30


@pytest.mark.anyio
async def test_aclose_does_not_wait_for_a_storage_that_hangs(tmp_path: Path) -> None:
    class Hanging(MemoryStorage):
        async def write_batch(self, records: Sequence[CallRecord]) -> None:
            await anyio.sleep_forever()

    storage = Hanging()
    log = quick_log(storage, tmp_path, close_timeout=0.2)
    first, second = make_record(1), make_record(2)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            log.start(tg)
            await log.put(first)
            await anyio.sleep(0.05)  # the writer is in write_batch now
            await log.put(second)
            await log.aclose()
    assert list(read_spilled(tmp_path / "spill.jsonl")) == [first, second]
    assert storage.closed


@pytest.mark.anyio
async def test_a_storage_that_hangs_is_given_up_on_and_callers_do_not_wait_for_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Hanging(MemoryStorage):
        """Never answers a write while ``hung`` (a partition: no error, ever)."""

        hung = True

        async def write_batch(self, records: Sequence[CallRecord]) -> None:
            if self.hung:
                await anyio.sleep_forever()
            await super().write_batch(records)

    storage = Hanging()
    log = quick_log(storage, tmp_path, max_queue=5, retry_for=0.2, max_wait=0.05)
    records = [make_record(n) for n in range(40)]
    async with anyio.create_task_group() as tg:
        log.start(tg)
        with anyio.fail_after(5):  # (without a bound: for ever, once the queue is full)
            for record in records:
                await log.put(record)
            assert log.spilled > 0  # given up on, as on a storage that fails
            storage.hung = False
            while log.replayed < log.spilled:  # noqa: ASYNC110  # a counter, no event
                await anyio.sleep(0.01)
        await log.aclose()
    assert sorted(storage.records) == sorted(r.id for r in records)
    assert log.lost == 0
    assert "storage did not answer a write within 0.2 s" in caplog.text


@pytest.mark.anyio
async def test_storage_back_after_the_spilling_began_gets_the_later_records(
    tmp_path: Path,
) -> None:
    storage = FailingStorage(down=True)
    log = quick_log(storage, tmp_path, retry_for=0.05)
    first, second = make_record(1), make_record(2)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await log.put(first)
        while not log.spilled:  # noqa: ASYNC110  # a counter of the log's, no event to wait on
            await anyio.sleep(0.01)
        storage.down = False
        await anyio.sleep(0.05)  # past the next try of storage
        await log.put(second)
        await log.aclose()
    # (the spilled one is replayed meanwhile: test_spill_replay.py)
    assert sorted(storage.records) == sorted([first.id, second.id])
    assert not (tmp_path / "spill.jsonl").exists()


@pytest.mark.anyio
async def test_a_client_spills_where_the_config_says(tmp_path: Path) -> None:
    storage = FailingStorage(down=True)
    spill_path = tmp_path / "deep" / "spilled.jsonl"
    config = {
        "storage": {
            "backend": "memory",
            "retry_for": 0,
            "close_timeout": 1,
            "spill_path": str(spill_path),
        }
    }
    with anyio.fail_after(5):
        async with relaykit.Client(config, plugins=[FakePlugin(), storage.plugin()]) as client:
            answer = await client.chat("fake/m", f"hi {SECRET}")
    assert answer.text.startswith("echo: hi")
    (record,) = read_spilled(spill_path)
    assert record.model == "m" and record.text.startswith("echo: hi")
    assert SECRET not in spill_path.read_text()  # records are redacted before they queue


def test_storage_settings_are_checked() -> None:
    with pytest.raises(relaykit.ConfigError, match=r"storage\.retry_for"):
        relaykit.load_config({"storage": {"retry_for": -1}})
    config = relaykit.load_config({"storage": {"close_timeout": 3, "spill_path": "/x/s.jsonl"}})
    assert (config.storage.retry_for, config.storage.close_timeout) == (60.0, 3.0)


def test_logs_import_stores_a_spill_file_once_and_removes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = MemoryStorage()
    path = tmp_path / "spill.jsonl"
    records = [make_record(n) for n in range(5)]
    spill(path, records[:3], "storage unavailable")
    spill(path, records[2:], "storage unavailable")  # one record spilled twice
    anyio.run(storage.write_batch, records[:1])  # and one that did get stored after all

    def cli(*argv: str) -> int:
        parser = argparse.ArgumentParser(prog="relaykit")
        logs.register(parser.add_subparsers(), [])
        args = parser.parse_args(["logs", "import", *argv])
        args.config = {"storage": {"backend": "memory"}}
        args.plugins = [storage.plugin()]
        return int(args.func(args))

    assert cli(str(path), "--keep") == 0
    assert path.exists()
    assert cli(str(path)) == 0
    assert "stored 6 call records from" in capsys.readouterr().out
    assert not path.exists() and [p.name for p in tmp_path.iterdir()] == ["spill.jsonl.lock"]
    assert sorted(storage.records) == sorted(r.id for r in records)

    path.write_text('{"record": {"id": "x"}}\n')
    assert cli(str(path)) == 1
    assert f"{path}:1: not a call record" in capsys.readouterr().err
    assert path.exists()  # put back where it was


def test_a_record_that_cannot_be_written_as_json_is_left_out(tmp_path: Path) -> None:
    bad = make_record(1, params={"x": object()})
    assert spill(tmp_path / "s.jsonl", [make_record(0), bad], "why") == [bad]
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 1


# -- what exporters learn (relaykit.gauge_events, as metrics)


def storage_counts(events: Sequence[object]) -> dict[str, float]:
    """The storage metrics ``events`` add up to: each counter's total, the gauge's last value."""
    counts: dict[str, float] = {}
    for event in events:
        for obs in metrics.observe(event):
            name = obs.instrument.name
            if obs.instrument.kind == "gauge":
                counts[name] = obs.value
            else:
                counts[name] = counts.get(name, 0.0) + obs.value
    return counts


@pytest.mark.anyio
async def test_a_storage_outage_moves_the_metrics_and_they_add_up_to_the_counters(
    tmp_path: Path,
) -> None:
    storage = FailingStorage(failures=3)
    events: list[object] = []
    log = quick_log(storage, tmp_path, on_event=events.append)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await log.put(make_record(1))
        await log.aclose()
    assert events == [
        StorageFailing(False),  # at start: the gauge has a value before any trouble
        StorageWriteFailed("StorageUnavailableError"),
        StorageFailing(True),
        StorageWriteFailed("StorageUnavailableError"),
        StorageWriteFailed("StorageUnavailableError"),
        StorageFailing(False),  # stored on the fourth try
    ]
    assert storage_counts(events) == {
        "relaykit.storage.write_failures": 3.0,
        "relaykit.storage.failing": 0.0,
    }
    assert (log.failed_writes, log.spilled, log.lost) == (3, 0, 0)


@pytest.mark.anyio
async def test_spilled_refused_and_lost_records_are_counted_apart(tmp_path: Path) -> None:
    storage = FailingStorage()
    records = [make_record(n) for n in range(8)]
    storage.poison = {records[5].id}
    events: list[object] = []
    log = quick_log(storage, tmp_path, on_event=events.append, retry_for=0.05, close_timeout=0.2)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        for record in records:
            log._send.send_nowait(record)  # type: ignore[union-attr]  # one batch of 8
        with anyio.fail_after(5):
            # the seven good records stored (the bisection may still be writing
            # those after the poisoned one when it is spilled) and the bad one spilled
            while len(storage.records) < 7 or not log.spilled:  # noqa: ASYNC110  # counters
                await anyio.sleep(0.01)
        storage.down = True
        log._spill_path = tmp_path / "a-file" / "spill.jsonl"  # cannot be created: lost
        (tmp_path / "a-file").write_text("")
        await log.put(make_record(9))
        await log.aclose()
    await log.put(make_record(10))  # after aclose: lost, and said so
    counts = storage_counts(events)
    assert (log.spilled, log.lost) == (1, 2)
    assert [e for e in events if isinstance(e, RecordsSpilled)] == [RecordsSpilled(1, "refused")]
    assert counts["relaykit.storage.records_lost"] == 2 == log.lost
    assert counts["relaykit.storage.write_failures"] == log.failed_writes
    assert counts["relaykit.storage.failing"] == 1.0  # still failing when it closed
    assert {e.error_type for e in events if isinstance(e, StorageWriteFailed)} == {
        "ValueError",
        "StorageUnavailableError",
    }


@pytest.mark.anyio
async def test_a_client_tells_its_exporters_and_a_healthy_storage_tells_only_its_state(
    tmp_path: Path,
) -> None:
    exporter = RecordingExporter()
    storage = FailingStorage(down=True)
    config = {
        "storage": {
            "backend": "memory",
            "retry_for": 0,
            "close_timeout": 1,
            "spill_path": str(tmp_path / "spill.jsonl"),
        }
    }
    with anyio.fail_after(5):
        async with relaykit.Client(
            config, plugins=[FakePlugin(), storage.plugin(), exporter]
        ) as client:
            await client.chat("fake/m", "hi")
    counts = storage_counts(exporter.events)
    assert counts["relaykit.storage.records_spilled"] == 1
    assert counts["relaykit.storage.failing"] == 1
    assert counts["relaykit.storage.write_failures"] >= 1

    healthy = RecordingExporter()
    plugins = [FakePlugin(), MemoryStorage().plugin(), healthy]
    async with relaykit.Client({"storage": {"backend": "memory"}}, plugins=plugins) as client:
        await client.chat("fake/m", "hi")
    # only the gauge's first value, once
    assert [e for e in healthy.events if isinstance(e, StorageEvent)] == [StorageFailing(False)]


@pytest.mark.anyio
async def test_a_refused_record_after_an_outage_clears_the_failing_gauge(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = FailingStorage(down=True)
    events: list[object] = []
    log = quick_log(storage, tmp_path, on_event=events.append, retry_for=10)
    poison = make_record(1)
    storage.poison = {poison.id}
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await log.put(make_record(0))
        with anyio.fail_after(5):
            while not log.failed_writes:  # noqa: ASYNC110  # a counter, no event to wait on
                await anyio.sleep(0.005)
        assert storage_counts(events)["relaykit.storage.failing"] == 1.0
        storage.down = False
        with anyio.fail_after(5):
            while storage.records == {}:  # noqa: ASYNC110
                await anyio.sleep(0.005)
        await log.put(poison)  # storage answers: it refuses this one record for good
        with anyio.fail_after(5):
            while not log.spilled:  # noqa: ASYNC110
                await anyio.sleep(0.005)
        # The refusal proves storage answers: not failing, before any other write.
        assert storage_counts(events)["relaykit.storage.failing"] == 0.0
        assert log._failing_since is None
        await log.aclose()
    assert log.spilled == 1 and len(storage.records) == 1
