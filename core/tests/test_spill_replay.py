"""Spilled call records go back to storage by themselves, and no line is lost on the way.

The call log replays its spill file (relaykit.record_spill) once storage works
again, and when it starts and finds one; processes appending to the file
while another replays it lose nothing, thanks to the lock and take-by-rename.
A real SQLite outage: plugins/sqlite/tests/test_outages.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import stat
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import call_log as call_log_module
from relaykit.call_log import CallLog
from relaykit.cli import logs
from relaykit.gauge_events import RecordsReplayed
from relaykit.protocols import CallRecord, LogQuery
from relaykit.record_spill import (
    default_spill_path,
    read_spilled,
    refused_path,
    spill,
    spilled_lines,
    storage_target,
    take,
)
from relaykit.testing import FakePlugin, MemoryStorage
from relaykit.testing.forking import forked_children, in_forked_child, needs_fork
from relaykit.testing.storage_contract import make_record

from .conftest import FailingStorage, quick_log


class CountingStorage(FailingStorage):
    """Counts each record id every successful ``write_batch`` was handed."""

    def __init__(self, *, down: bool = False) -> None:
        super().__init__(down=down)
        self.written: Counter[str] = Counter()

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        await super().write_batch(records)
        self.written.update(r.id for r in records)


class DownAfterOne(CountingStorage):
    """Stores one batch, then is down: a replay stores its probe (the file's first
    record), takes the file, and fails its first batch."""

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        await super().write_batch(records)
        self.down = True


async def replay_cut_short(tmp_path: Path) -> None:
    """Replay ``tmp_path/spill.jsonl`` into a storage that fails once it took the file,
    and close the log while the replay waits: it gives the file back."""
    log = quick_log(DownAfterOne(), tmp_path, retry_for=10, close_timeout=0.1)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await until(lambda: log.failed_writes == 1)
        assert log._pending and not (tmp_path / "spill.jsonl").exists()  # taken, paused
        await log.aclose()  # still failing: the lines go back to the file


def leftovers(path: Path) -> list[str]:
    """The files beside ``path`` but its lock file (the spill file, taken or refused ones)."""
    return sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock"))


async def until(condition: Callable[[], object]) -> None:
    """Wait (at most 5 s) until ``condition()`` holds: the log's counters, no event to wait on."""
    with anyio.fail_after(5):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.005)


def spill_records(path: Path, count: int) -> list[CallRecord]:
    """Spill ``count`` new records to ``path``, as an outage does; return them."""
    records = [make_record(n) for n in range(count)]
    spill(path, records, "storage unavailable")
    return records


async def replay(
    tmp_path: Path,
    done: Callable[[CallLog], object],
    storage: CountingStorage | None = None,
) -> CountingStorage:
    """Start a call log over ``storage`` (a new one that works by default) that finds
    ``tmp_path/spill.jsonl`` and replays it; close it once ``done(log)``; return the
    storage."""
    storage = CountingStorage() if storage is None else storage
    log = quick_log(storage, tmp_path)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await until(lambda: done(log))
        await log.aclose()
    return storage


@pytest.mark.anyio
async def test_records_spilled_in_an_outage_are_stored_once_storage_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "relaykit.call_log")
    storage = CountingStorage(down=True)
    events: list[object] = []
    log = quick_log(storage, tmp_path, retry_for=0.02, on_event=events.append)
    records = [make_record(n) for n in range(30)]
    path = tmp_path / "spill.jsonl"
    async with anyio.create_task_group() as tg:
        log.start(tg)
        for record in records[:25]:
            await log.put(record)
        await until(lambda: log.spilled == 25)
        assert len(list(read_spilled(path))) == 25
        storage.down = False
        for record in records[25:]:  # spilled too, or stored: the first stored starts the replay
            await log.put(record)
        n = 100
        while log.replayed < log.spilled:  # (more records, should the last ones be spilled)
            await log.put(make_record(n))
            n += 1
            await anyio.sleep(0.01)
        await log.aclose()
    assert {r.id for r in records} <= set(storage.records)
    assert set(storage.written.values()) == {1}  # each record stored once
    replayed = sum(e.count for e in events if isinstance(e, RecordsReplayed))
    assert replayed == log.replayed == log.spilled >= 25
    assert leftovers(path) == []  # the spill file is gone, nothing taken is left
    assert f"call records spilled to {path} while storage was failing" in caplog.text
    assert f"call records spilled to {path}; no need to import them" in caplog.text


@pytest.mark.anyio
async def test_a_starting_log_replays_the_file_and_keeps_refused_lines_apart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spill.jsonl"
    records = [make_record(n) for n in range(6)]
    spill(path, records[:4], "storage unavailable")
    spill(path, records[4:5], "refused: ValueError: bad")  # storage refused it: not replayed
    with path.open("a") as f:
        f.write('{"record": {"id": "torn')  # a line a crash cut short
    spill(path, records[5:], "storage unavailable")  # (on a line of its own, after the torn one)
    spill(path, records[:1], "storage unavailable")  # and one record twice
    storage = CountingStorage()
    late = make_record(9)
    # 6 lines (one record twice); then the record spilled since, and not the refused again
    for expected in (6, 1):
        await replay(tmp_path, lambda log: log.replayed == expected, storage)  # noqa: B023
        spill(path, [late], "storage unavailable")
    assert sorted(storage.records) == sorted(r.id for r in [*records[:4], records[5], late])
    assert leftovers(path) == ["spill.jsonl", "spill.jsonl.refused"]
    kept = refused_path(path).read_text().splitlines()
    assert len(kept) == 2 and '"reason": "refused: ValueError: bad"' in kept[0]
    assert kept[1] == '{"record": {"id": "torn'  # kept as written
    assert caplog.text.count("are not replayed") == 1
    assert f"`relaykit logs import {refused_path(path)}`" in caplog.text


#: spills two records, then is killed (SIGKILL) halfway through writing a third: the
#: write stops inside a character, as the kernel's short write of a killed process may
TORN_SPILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    from relaykit.record_spill import spill
    from relaykit.testing.storage_contract import make_record

    path = Path(sys.argv[1])
    for n in (0, 1):
        record = make_record(n, text="réponse à 5 €")
        spill(path, [record], "storage unavailable")
        print(record.id, flush=True)
    write = os.write

    def torn_write(fd, data):
        data = bytes(data)
        write(fd, data[: data.index("€".encode()) + 1])
        os.kill(os.getpid(), signal.SIGKILL)

    os.write = torn_write
    spill(path, [make_record(2, text="réponse à 5 €")], "storage unavailable")
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.anyio
async def test_a_spiller_killed_mid_line_costs_only_that_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spill.jsonl"
    killed = await anyio.run_process([sys.executable, "-c", TORN_SPILLER, str(path)], check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    written = killed.stdout.decode().split()
    assert len(written) == 2 and not path.read_bytes().endswith(b"\n")  # torn
    later = [make_record(n, text="réponse à 5 €") for n in range(3, 6)]
    spill(path, later, "storage unavailable")  # another process, after the crash
    storage = await replay(tmp_path, lambda log: log.replayed == 5)
    # The lines before the torn one and after it are stored, once each.
    assert sorted(storage.written) == sorted([*written, *(r.id for r in later)])
    assert set(storage.written.values()) == {1}
    (torn,) = refused_path(path).read_bytes().splitlines()  # kept, byte for byte
    assert torn.startswith(b'{"spilled_at"') and torn.endswith(b"\xe2")
    assert leftovers(path) == ["spill.jsonl.refused"]
    assert "1 spilled call records are not replayed" in caplog.text


@pytest.mark.anyio
async def test_a_replay_that_breaks_stops_itself_not_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spill.jsonl"
    spill_records(path, 3)
    with path.open("a") as f:
        f.write("not a record\n")
    lines = path.read_text().splitlines()

    def broken(file: Path) -> tuple[list[CallRecord], list[str]]:
        raise RuntimeError("a bug in reading the file")  # whatever the replay did not foresee

    monkeypatch.setattr("relaykit.spill_replay.spilled_lines", broken)
    storage = CountingStorage()
    log = quick_log(storage, tmp_path)
    live = make_record(9)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            log.start(tg)
            await until(lambda: "could not replay" in caplog.text)  # it tried, and gave up
            await log.put(live)  # the writer goes on with live records
            await log.aclose()
    assert live.id in storage.records
    assert f"`relaykit logs import {path}`" in caplog.text
    # The file's lines are back, every one (the one stored already: ignored when
    # loaded again), the one that is not a record too.
    assert sorted(path.read_text().splitlines()) == sorted(lines)
    assert leftovers(path) == ["spill.jsonl"]


@pytest.mark.anyio
async def test_a_replay_storage_fails_pauses_and_gives_the_file_back_on_close(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spill.jsonl"
    records = spill_records(path, 50)
    await replay_cut_short(tmp_path)
    assert leftovers(path) == ["spill.jsonl"]
    assert sorted(r.id for r in read_spilled(path)) == sorted(r.id for r in records)


class Gated(CountingStorage):
    """Holds the write of a batch holding an id in ``gates`` until that gate's
    ``release`` is set; its ``entered`` says the write has begun."""

    def __init__(self, *ids: str) -> None:
        super().__init__()
        self.entered = {i: anyio.Event() for i in ids}
        self.release = {i: anyio.Event() for i in ids}

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        for record in records:
            if record.id in self.entered:
                self.entered[record.id].set()
                await self.release[record.id].wait()
        await super().write_batch(records)


@pytest.mark.anyio
async def test_a_log_closed_once_the_replay_stored_every_record_leaves_no_file(
    tmp_path: Path,
) -> None:
    # The replay's last batch is stored, then a live batch is written before the
    # replay's next step would remove the taken file: a close then must not put
    # the file back (the next log would replay every record again).
    path = tmp_path / "spill.jsonl"
    records = spill_records(path, 3)  # one stored in place, then a batch of two
    live = make_record(100)
    storage = Gated(records[1].id, live.id)
    log = quick_log(storage, tmp_path)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            log.start(tg)
            await storage.entered[records[1].id].wait()  # the replay's last batch
            await log.put(live)  # queued: written right after that batch
            storage.release[records[1].id].set()
            await storage.entered[live.id].wait()
            assert log.replayed == 3
            tg.start_soon(log.aclose)
            await until(lambda: log._closed)
            storage.release[live.id].set()
    assert sorted(storage.records) == sorted(r.id for r in [*records, live])
    assert leftovers(path) == []  # every record stored: nothing given back


@pytest.mark.anyio
async def test_lines_kept_apart_are_kept_once_however_often_a_replay_stops(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spill.jsonl"
    records = spill_records(path, 30)
    with path.open("a") as f:
        f.write('{"note": "JSON, but not a record"}\n')

    for _ in range(2):  # two replays cut short, then one to the end
        await replay_cut_short(tmp_path)
        assert "not a record" not in path.read_text()  # given back: the records only
    # Done once every record is stored and the taken file removed: the file gone and
    # nothing taken also holds for a moment while the log takes the file (renamed in a
    # worker thread, _taken not yet told), and closing then gave 9 records back.
    storage = await replay(tmp_path, lambda log: log.replayed == len(records) and not log._taken)
    assert sorted(storage.records) == sorted(r.id for r in records)
    assert refused_path(path).read_text() == '{"note": "JSON, but not a record"}\n'


def _claim_and_die(path: Path) -> None:
    """A replaying process that dies after taking the file (it exits, storing nothing)."""
    assert take(path)
    os._exit(0)


@needs_fork
@pytest.mark.anyio
async def test_a_file_taken_by_a_process_that_died_is_replayed_by_the_next(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spill.jsonl"
    records = [make_record(n) for n in range(5)]
    spill(path, records[:3], "storage unavailable")
    in_forked_child(lambda: _claim_and_die(path))
    (taken,) = leftovers(path)
    assert taken.endswith(".taken") and not path.exists()
    spill(path, records[3:], "storage unavailable")  # spilled after: a new file
    storage = await replay(tmp_path, lambda log: log.replayed == 5)
    assert sorted(storage.records) == sorted(r.id for r in records)
    assert leftovers(path) == []


#: takes the spill file for a replay, then is killed (SIGKILL) before storing a record
KILLED_REPLAYER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    from relaykit.record_spill import take

    assert take(Path(sys.argv[1]))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.anyio
async def test_a_file_a_killed_replay_left_is_replayed_by_a_process_with_its_pid(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spill.jsonl"
    records = spill_records(path, 4)
    killed = await anyio.run_process(
        [sys.executable, "-c", KILLED_REPLAYER, str(path)], check=False
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    (taken,) = leftovers(path)
    # Restarted after the crash, a container's main process has the pid it had:
    # the file it left behind bears this process's pid.
    pid, _, rest = taken.removeprefix("spill.jsonl.").partition(".")
    assert pid.isdigit() and rest.endswith(".taken")
    (tmp_path / taken).rename(tmp_path / f"spill.jsonl.{os.getpid()}.{rest}")
    storage = await replay(tmp_path, lambda log: log.replayed == 4)
    assert sorted(storage.written) == sorted(r.id for r in records)
    assert set(storage.written.values()) == {1}
    assert leftovers(path) == []


@needs_fork
def test_logs_import_picks_up_a_file_a_dead_replay_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spill.jsonl"
    records = spill_records(path, 3)
    in_forked_child(lambda: _claim_and_die(path))
    storage = MemoryStorage()
    parser = argparse.ArgumentParser(prog="relaykit")
    logs.register(parser.add_subparsers(), [])
    args = parser.parse_args(["logs", "import", str(path)])
    args.config = {"storage": {"backend": "memory"}}
    args.plugins = [storage.plugin()]
    assert args.func(args) == 0
    assert "stored 3 call records" in capsys.readouterr().out
    assert sorted(storage.records) == sorted(r.id for r in records)
    assert leftovers(path) == []


#: records each spilling process appends, a few at a time
PER_CHILD = 150


def _spill_many(path: Path, first: int) -> None:
    """A child that spills, slowly: a while passes between opening the file and writing it
    (as when the machine is busy), a while a replay taking the file must not fall into."""
    real_open = os.open

    def slow_open(*args: Any, **kwargs: Any) -> int:
        fd = real_open(*args, **kwargs)
        time.sleep(0.001)
        return fd

    os.open = slow_open  # (in the child only, which then exits)
    for n in range(first, first + PER_CHILD, 3):
        spill(path, [make_record(n), make_record(n + 1), make_record(n + 2)], "unavailable")


@needs_fork
def test_processes_spilling_while_one_replays_lose_and_repeat_no_line(tmp_path: Path) -> None:
    path = tmp_path / "spill.jsonl"
    spill(path, [make_record(n) for n in range(-3, 0)], "unavailable")
    replayed: Counter[str] = Counter()

    def replay_once() -> None:  # what the call log does, less the storage
        for file in take(path):
            records, refused = spilled_lines(file)
            assert not refused
            replayed.update(r.id for r in records)
            file.unlink()

    spillers = (lambda: _spill_many(path, 0), lambda: _spill_many(path, PER_CHILD))
    with forked_children(*spillers) as children:  # (a hung child fails the test)
        while children.running():
            replay_once()
    replay_once()
    assert len(replayed) == 2 * PER_CHILD + 3  # none lost
    assert set(replayed.values()) == {1}  # none twice


@pytest.mark.anyio
async def test_without_file_locks_nothing_is_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_log_module, "CAN_REPLAY", False)
    path = tmp_path / "spill.jsonl"
    spill(path, [make_record(1)], "storage unavailable")
    storage = CountingStorage()
    log = quick_log(storage, tmp_path)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await log.put(live := make_record(2))
        await log.aclose()
    assert list(storage.records) == [live.id]
    assert path.exists()  # for `relaykit logs import`


def test_each_storage_gets_a_spill_file_of_its_own() -> None:
    a = storage_target("sqlite", "/data/a.db", None)
    b = storage_target("sqlite", "/data/b.db", None)
    assert default_spill_path(a) != default_spill_path(b) != default_spill_path(None)
    pg = storage_target("postgres", None, "postgresql://app:s3cretpw@db:5432/logs?sslmode=require")
    assert "s3cretpw" not in pg and "app@db:5432/logs" in pg
    rotated = storage_target(
        "postgres", None, "postgresql://app:newpw@db:5432/logs?sslmode=require"
    )
    assert default_spill_path(pg) == default_spill_path(rotated)
    kv = storage_target("postgres", None, "host=db dbname=logs password=s3cretpw")
    assert "s3cretpw" not in kv and "dbname=logs" in kv
    assert default_spill_path(a).name.startswith("spilled-records-")


@pytest.mark.anyio
async def test_a_client_spills_to_its_storages_file_unless_told(tmp_path: Path) -> None:
    storage = MemoryStorage()

    async def spill_path(**cfg: object) -> Path:
        config = {"storage": {"backend": "memory", **cfg}}
        async with relaykit.Client(config, plugins=[FakePlugin(), storage.plugin()]) as client:
            assert client._call_log is not None
            return client._call_log.spill_path

    a, b = [await spill_path(path=str(tmp_path / name)) for name in ("a.db", "b.db")]
    assert a != b
    assert await spill_path(spill_path=str(tmp_path / "s.jsonl")) == tmp_path / "s.jsonl"


@pytest.mark.anyio
async def test_an_idle_log_replays_once_storage_is_back_without_new_calls(
    tmp_path: Path,
) -> None:
    storage = CountingStorage(down=True)
    max_wait = 0.05
    log = quick_log(storage, tmp_path, retry_for=0.02, max_wait=max_wait)
    records = [make_record(n) for n in range(25)]
    async with anyio.create_task_group() as tg:
        log.start(tg)
        for record in records:
            await log.put(record)
        await until(lambda: log.spilled == 25)
        # Idle and still down: storage is tried now and then, not in a loop.
        attempts = storage.attempts
        await anyio.sleep(6 * max_wait)
        assert 1 <= storage.attempts - attempts <= 8
        assert leftovers(tmp_path / "spill.jsonl") == ["spill.jsonl"]  # not taken meanwhile
        storage.down = False  # back, and no call comes to find out
        back = anyio.current_time()
        await until(lambda: log.replayed == 25)
        assert anyio.current_time() - back < 2 * max_wait + 0.25  # (slack for a busy machine)
        # Nothing left to replay, storage works: an idle log tries nothing more.
        attempts = storage.attempts
        await anyio.sleep(3 * max_wait)
        assert storage.attempts == attempts
        await log.aclose()
    assert sorted(storage.records) == sorted(r.id for r in records)
    assert set(storage.written.values()) == {1}
    assert leftovers(tmp_path / "spill.jsonl") == []


@pytest.mark.anyio
async def test_an_idle_log_with_nothing_to_replay_does_not_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_log_module, "CAN_REPLAY", False)  # spilled, but never replayed
    storage = CountingStorage(down=True)
    log = quick_log(storage, tmp_path, retry_for=0.02)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await log.put(make_record(1))
        await until(lambda: log.spilled == 1)
        attempts = storage.attempts
        await anyio.sleep(0.1)  # 5 x max_wait
        assert storage.attempts == attempts
        await log.aclose()


@pytest.mark.anyio
async def test_closing_an_idle_log_that_probes_a_failing_storage_is_prompt(
    tmp_path: Path,
) -> None:
    storage = CountingStorage(down=True)
    log = quick_log(storage, tmp_path, retry_for=0.02, max_wait=10, close_timeout=10)
    records = [make_record(n) for n in range(3)]
    async with anyio.create_task_group() as tg:
        log.start(tg)
        for record in records:
            await log.put(record)
        await until(lambda: log.spilled == 3)
        await anyio.sleep(0.02)  # the writer waits for its next probe (in 10 s)
        with anyio.fail_after(1):
            await log.aclose()
        late = make_record(9)
        await log.put(late)  # after close: spilled too (not lost), not waited for
    assert (log.lost, log.spilled) == (0, 4)
    assert sorted(r.id for r in read_spilled(tmp_path / "spill.jsonl")) == sorted(
        r.id for r in [*records, late]
    )


class NamedStorage(MemoryStorage):
    """A storage that names itself for the spill file, as the SQLite and PostgreSQL ones do."""

    def __init__(self, spill_target: object) -> None:
        super().__init__()
        self.spill_target = spill_target


def test_a_client_spills_to_the_file_its_storage_names(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    # Built in code or from $RELAYKIT_POSTGRES_DSN: [storage] does not tell them apart.
    def spill_path(storage: MemoryStorage) -> Path:
        config = {"storage": {"backend": "memory"}}
        client = closed_after(relaykit.Client(config, plugins=[FakePlugin(), storage.plugin()]))
        assert client._call_log is not None
        return client._call_log.spill_path

    a, b = spill_path(NamedStorage("db a")), spill_path(NamedStorage("db b"))
    assert a == default_spill_path("db a") and b == default_spill_path("db b")
    config_named = default_spill_path(storage_target("memory", None, None))
    for unnamed in (MemoryStorage(), NamedStorage(""), NamedStorage(None), NamedStorage(3)):
        assert spill_path(unnamed) == config_named  # none (or no str): the config's name
    # A call log built without a spill path names its file after the storage too.
    assert call_log_module.CallLog(NamedStorage("db a")).spill_path == a


@pytest.mark.anyio
async def test_an_idle_probe_leaves_the_spill_file_in_place_while_storage_is_down(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spill.jsonl"
    records = spill_records(path, 5)  # left by an earlier outage
    storage = CountingStorage(down=True)
    log = quick_log(storage, tmp_path, max_wait=0.02)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await until(lambda: log.failed_writes >= 3)  # probed, idle, a few times over
        # Still down: the file keeps its name (a later run, `relaykit logs import`
        # and the records spilled meanwhile find it where it was).
        assert leftovers(path) == ["spill.jsonl"]
        assert not log._taken and not storage.records
        storage.down = False
        await until(lambda: log.replayed == 5)
        await log.aclose()
    assert sorted(storage.records) == sorted(r.id for r in records)
    assert leftovers(path) == []


def test_a_spilled_record_keeps_its_estimate_mark_and_an_older_line_reads_unmarked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spill.jsonl"
    estimated = make_record(0, usage_estimated=True)
    spill(path, [estimated], "storage unavailable")
    older = make_record(1)
    line = json.loads(path.read_text())
    line["record"] = {k: v for k, v in line["record"].items() if k != "usage_estimated"}
    line["record"]["id"] = older.id
    line["record"]["started_at"] = older.started_at  # a line spilled before the mark existed
    with path.open("a") as f:
        f.write(json.dumps(line) + "\n")
    (first, second) = read_spilled(path)
    assert first == estimated and first.usage_estimated
    assert second.id == older.id and not second.usage_estimated


def test_a_new_spill_file_is_made_durable_with_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A power cut after a spill must not lose the file the records went to: its
    # data is fsynced, and so is its name in the directory, once, when created.
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "spill.jsonl"
    spill(path, [make_record(0)], "storage unavailable")
    assert synced == ["file", "directory"]
    spill(path, [make_record(1)], "storage unavailable")
    assert synced == ["file", "directory", "file"]  # the name is there already


def test_a_record_holding_a_lone_surrogate_is_spilled_with_the_others(tmp_path: Path) -> None:
    """Text Python decoded with surrogateescape (an argument or a file name in another
    encoding than UTF-8) holds lone surrogates, which a SQL storage refuses. Spilled,
    the batch's ``.encode()`` raised UnicodeEncodeError out of the storage writer: the
    client's close raised it, and every record of the batch was lost."""
    from relaykit import Message

    odd = make_record(0, messages=(Message.user("caf\udce9"),))
    path = tmp_path / "spill.jsonl"
    assert spill(path, [odd, make_record(1)], "storage refused it") == []
    first, second = read_spilled(path)
    assert first.messages == odd.messages and second.id.startswith("000001")


@pytest.mark.anyio
async def test_a_prompt_with_a_lone_surrogate_is_stored_and_found(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakePlugin()
    config = {"storage": {"backend": "sqlite", "path": str(tmp_path / "calls.db")}}
    with anyio.fail_after(10):
        async with relaykit.Client(config, plugins=[fake]) as client:
            await client.chat("fake/m", "fine")
            await client.chat("fake/m", "half a character: \ud800")
    # SQLite refused the odd record (logged, and spilled: kept, never searched);
    # stored escaped (relaykit.storable_text), it reads back and is found
    assert "storage refuses call record" not in caplog.text
    async with relaykit.Client(config) as reader:
        assert reader.storage is not None
        assert [r.text for r in await reader.storage.query_logs(LogQuery())] == [
            "echo: half a character: \ud800",
            "echo: fine",
        ]
        [found] = await reader.storage.query_logs(LogQuery(text="character"))
        assert found.messages[-1].text == "half a character: \ud800"
