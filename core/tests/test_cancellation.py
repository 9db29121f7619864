"""A caller cancelling a call at each stage: what it held is handed back, nothing keeps running."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import relaykit
from relaykit.call_log import CallLog
from relaykit.metrics import ERRORS, observe
from relaykit.protocols import CallRecord
from relaykit.routing import Target
from relaykit.testing import (
    FakePlugin,
    MemoryStorage,
    RecordingExporter,
    Reply,
    cancel_in_flight,
)
from relaykit.testing.storage_contract import make_record

from .conftest import WaitingLimiterPlugin

INSTANT = {"attempts": 1, "initial_wait": 0, "max_retry_after": 0}


def make(*plugins: object, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {"storage": {"backend": "none"}, "retry": INSTANT, **sections}
    return relaykit.Client(config, plugins=plugins)


LIMITED = {"limiter": {"backend": "waiting"}, "limits": {"*": {"tpm": 100_000}}}


@pytest.mark.anyio
async def test_a_chat_cancelled_mid_request_hands_back_its_reservation() -> None:
    fake, limiter = FakePlugin(), WaitingLimiterPlugin()
    fake.script.push(Reply(text="too late", delay=5))
    async with make(fake, limiter, **LIMITED) as client:
        # cancelled while the provider answers (cancel_in_flight checks it comes through)
        await cancel_in_flight(lambda: client.chat("fake/m", "hi"), when=lambda: bool(fake.calls))
        assert limiter.limiter.held == 0


@pytest.mark.anyio
async def test_a_stream_cancelled_before_its_first_event_hands_back_its_reservation() -> None:
    fake, limiter = FakePlugin(), WaitingLimiterPlugin()
    fake.script.push(Reply(text="too late", first_token_delay=5))
    async with make(fake, limiter, **LIMITED) as client:

        async def stream() -> None:
            async with client.stream("fake/m", "hi") as s:
                async for _ in s:
                    pass

        await cancel_in_flight(stream, when=lambda: bool(fake.calls))
        assert limiter.limiter.held == 0
        assert client._router.in_flight(Target("fake", "m")) == 0


@pytest.mark.anyio
async def test_cancelling_a_hedged_call_that_waits_for_its_backup_stops_the_backup() -> None:
    first, second = FakePlugin("first"), FakePlugin("second")
    routes = {"g": {"targets": ["first/m", "second/m"], "hedge_after": 0.02}}
    async with make(first, second, models=routes) as client:
        # Build both providers first: the first call of each imports its HTTP stack.
        await client.chat("first/m", "warm up")
        await client.chat("second/m", "warm up")
        # The first target fails after the hedge started; the caller then waits
        # for the backup, and gives up.
        first.script.push(Reply(status=503, error="down", delay=0.05))
        second.script.push(Reply(text="backup", delay=5))
        # The caller gives up once the backup has started (a fixed 0.15 s could
        # pass before it did on a slow machine), and after the first target failed.
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def give_up_once_the_backup_runs() -> None:
                    while len(second.calls) < 2:  # noqa: ASYNC110 (the call runs in another task)
                        await anyio.sleep(0.001)
                    await anyio.sleep(0.1)  # the first target has failed meanwhile
                    scope.cancel()

                tg.start_soon(give_up_once_the_backup_runs)
                with anyio.fail_after(10):  # a safety net only
                    await client.chat("g", "hi")
        assert scope.cancelled_caught
        assert len(second.calls) == 2, "the backup had started"
        # Nothing of the call runs on once the caller has seen the cancellation.
        assert client._router.in_flight(Target("second", "m")) == 0


class GatedStorage(MemoryStorage):
    """Writes only once the test opens the gate, so the call log's queue fills up."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = anyio.Event()

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        await self.gate.wait()
        await super().write_batch(records)


@pytest.mark.anyio
async def test_a_record_waiting_for_room_in_a_full_call_log_survives_its_callers_cancellation() -> (
    None
):
    storage = GatedStorage()
    log = CallLog(storage, max_queue=1)
    records = [make_record(i, id=f"r{i}") for i in range(4)]
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await log.put(records[0])
        await anyio.wait_all_tasks_blocked()  # the writer holds r0, waiting for the gate
        await log.put(records[1])  # the queue is full now
        await cancel_in_flight(lambda: log.put(records[2]))  # waits for room; its caller gives up
        storage.gate.set()
        await log.put(records[3])
        await log.aclose()
    assert sorted(storage.records) == ["r0", "r1", "r2", "r3"]


@pytest.mark.anyio
async def test_records_waiting_for_room_when_the_call_log_closes_are_written_not_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = GatedStorage()
    log = CallLog(storage, max_queue=1)
    records = [make_record(i, id=f"r{i}") for i in range(5)]
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await log.put(records[0])
        await anyio.wait_all_tasks_blocked()  # the writer holds r0, waiting for the gate
        await log.put(records[1])  # the queue is full now
        for record in records[2:]:
            tg.start_soon(log.put, record)  # each waits for room (backpressure)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(log.aclose)  # the close begins while they wait...
        await anyio.wait_all_tasks_blocked()
        storage.gate.set()  # ...and storage takes everything after it
    assert sorted(storage.records) == ["r0", "r1", "r2", "r3", "r4"]
    assert (log.lost, log.spilled) == (0, 0)
    assert "not stored" not in caplog.text
    assert storage.closed


@pytest.mark.anyio
async def test_cancel_in_flight_fails_a_call_that_ended_first_or_raised_instead() -> None:
    async def quick() -> None:
        await anyio.lowlevel.checkpoint()

    with pytest.raises(AssertionError, match="ended before it could be cancelled"):
        await cancel_in_flight(quick)

    async def swallows() -> None:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.01)  # a call that hides its cancellation...

    with pytest.raises(AssertionError):
        await cancel_in_flight(swallows)  # ...and ends normally: not cancelled in flight
    started = anyio.Event()

    async def waits() -> None:
        started.set()
        await anyio.sleep_forever()

    await cancel_in_flight(waits, when=started.is_set)


@pytest.mark.anyio
async def test_a_chat_its_caller_cancels_is_logged_recorded_and_counted_as_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A caller's own timeout (or a gateway's caller hanging up) ends a call as a
    # cancelled stream ends: a failed call with a record, a log line and a metric.
    fake, exported, storage = FakePlugin(), RecordingExporter(), MemoryStorage()
    fake.script.push(Reply(text="too late", delay=5))
    plugins = [fake, exported, storage.plugin()]
    caplog.set_level(logging.INFO, "relaykit.calls")
    async with relaykit.Client({"storage": {"backend": "memory"}}, plugins=plugins) as client:
        await cancel_in_flight(lambda: client.chat("fake/m", "hi"), when=lambda: bool(fake.calls))
        [record] = exported.records
        assert (record.error_type, record.error_message) == (
            "Cancelled",
            "cancelled before the answer arrived",
        )
        assert (record.provider, record.model, record.attempts) == ("fake", "m", 1)
        # the prompt's estimate, which its budget would keep: "hi" is under a token
        assert record.cost == 0 and record.usage.input_tokens == 0
        assert [o.instrument for o in observe(record)].count(ERRORS) == 1
        # Recorded once, and the next call apart: the cancelled one left nothing behind.
        assert (await client.chat("fake/m", "again")).text == "echo: again"
    assert [r.ok for r in exported.records] == [False, True]
    assert [*storage.records.values()][:1] == [record]
    [line, _] = [r for r in caplog.records if r.name == "relaykit.calls"]
    assert (line.getMessage(), getattr(line, "error_type", None)) == (
        "fake/m failed: Cancelled",
        "Cancelled",
    )


@pytest.mark.anyio
async def test_cancelling_the_scope_around_a_client_loses_none_of_its_records() -> None:
    # `with anyio.move_on_after(...)` around `async with Client()` cancels the
    # client's task group too, and so its call log's writer: the record being
    # written, those queued behind it and the cancelled call's own must all
    # still be stored (the client's exit drains the log, as aclose promises).
    storage, fake = GatedStorage(), FakePlugin()
    fake.script.push(Reply(text="first"), Reply(text="second"), Reply(text="late", delay=5))
    config = {"storage": {"backend": "memory"}}
    outer = anyio.CancelScope()
    failures: list[BaseException] = []

    async def use_client() -> None:
        try:
            with outer:
                async with relaykit.Client(config, plugins=[fake, storage.plugin()]) as client:
                    await client.chat("fake/m", "one")
                    await anyio.wait_all_tasks_blocked()  # the writer holds it, at the gate
                    await client.chat("fake/m", "two")  # queued behind it
                    await client.chat("fake/m", "three")  # in flight when the scope is cancelled
        except BaseException as e:  # (anything but the cancellation is the bug)
            failures.append(e)
            raise

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(use_client)
            await anyio.wait_all_tasks_blocked()  # "three" waits for its reply
            outer.cancel()
            await anyio.wait_all_tasks_blocked()
            storage.gate.set()
    assert failures == [] and outer.cancelled_caught
    assert sorted(r.text for r in storage.records.values()) == ["", "first", "second"]
    assert storage.closed


@pytest.mark.anyio
async def test_a_record_put_after_the_writer_ended_unclosed_is_written_not_raised() -> None:
    # The writer ends before aclose when its task group is cancelled (or it
    # raised): a record handed over after that is stored by put itself (see
    # test_call_log_writer_ended.py), and is never raised into the call it describes.
    storage = MemoryStorage()
    log = CallLog(storage, max_queue=1)
    async with anyio.create_task_group() as tg:
        log.start(tg)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    await log.put(make_record(0, id="after"))
    await log.aclose()
    assert sorted(storage.records) == ["after"] and log.lost == 0
