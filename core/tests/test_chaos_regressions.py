"""Focused regressions for what the chaos test (test_chaos.py) found, one bug each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry.trace import StatusCode

import relaykit
from relaykit import StreamError, Usage
from relaykit.cancellation import is_cancellation
from relaykit.events import StreamEvent, StreamStart, TextDelta, UsageUpdate
from relaykit.protocols import CallRecord, LogQuery
from relaykit.request import ChatRequest
from relaykit.response import ChatResponse
from relaykit.testing import FakePlugin, MemoryStorage, Reply, TracingExporter, cancel_in_flight
from relaykit.testing.fake_provider import FakeProvider

INSTANT = {"attempts": 1, "initial_wait": 0, "max_retry_after": 0}


def make(*plugins: object, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {"storage": {"backend": "none"}, "retry": INSTANT, **sections}
    return relaykit.Client(config, plugins=plugins)


async def stored(db: Path) -> list[CallRecord]:
    async with relaykit.Client({"storage": {"backend": "sqlite", "path": str(db)}}) as reader:
        assert reader.storage is not None
        return await reader.storage.query_logs(LogQuery(limit=100))


@pytest.mark.anyio
async def test_a_hedged_calls_winner_is_stored_beside_its_loser(tmp_path: Path) -> None:
    """The loser's record once took the call's id and was written first, so SQLite's
    INSERT OR IGNORE dropped the winner's: the log showed a success as HedgeCancelled."""
    slow, fast = FakePlugin("slow"), FakePlugin("fast")
    slow.script.push(Reply(text="slow", delay=5))
    fast.script.push(Reply(text="fast"))
    db = tmp_path / "log.db"
    routes = {"g": {"targets": ["slow/m", "fast/m"], "hedge_after": 0.05}}
    storage = {"backend": "sqlite", "path": str(db)}
    async with make(slow, fast, models=routes, storage=storage) as client:
        with anyio.fail_after(5):
            r = await client.chat("g", "race me")

    by_provider = {record.provider: record for record in await stored(db)}
    assert by_provider["fast"].ok and by_provider["fast"].text == r.text == "fast"
    loser = by_provider["slow"]
    assert loser.error_type == "HedgeCancelled"
    assert loser.id == f"{by_provider['fast'].id}-hedge-slow/m"


class _Uncancellable(FakeProvider):
    """Answers even when cancelled: an answer already on its way when the race was won."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        with anyio.CancelScope(shield=True):
            response = await super().chat(request)
        return response


@pytest.mark.anyio
async def test_an_answer_that_lost_the_race_is_recorded_with_its_cost() -> None:
    """The first target's answer comes after the hedge won: it was billed (and a budget
    charged it), so its record carries its usage and cost rather than vanishing."""
    first, second = FakePlugin("first", provider=_Uncancellable), FakePlugin("second")
    # the first answers a second after the hedge: time enough for the second to win
    # on a loaded machine (at 0.3 s the first won now and then there)
    first.script.push(Reply(text="first", delay=1.05, input_tokens=7, output_tokens=5))
    second.script.push(Reply(text="second", input_tokens=7, output_tokens=5))
    memory = MemoryStorage()
    routes = {"g": {"targets": ["first/m", "second/m"], "hedge_after": 0.05}}
    prices = {"first/m": {"input": 1, "output": 1}, "second/m": {"input": 1, "output": 1}}
    plugins = (first, second, memory.plugin())
    async with make(
        *plugins, models=routes, prices=prices, storage={"backend": "memory"}
    ) as client:
        with anyio.fail_after(5):
            r = await client.chat("g", "race me")

    assert r.text == "second"
    (winner,) = [rec for rec in memory.records.values() if rec.ok]
    (loser,) = [rec for rec in memory.records.values() if rec.error_type == "HedgeCancelled"]
    assert (winner.provider, loser.provider) == ("second", "first")
    assert (loser.usage.input_tokens, loser.usage.output_tokens) == (7, 5)
    assert loser.cost == winner.cost and loser.cost is not None and loser.cost > 0


@pytest.mark.anyio
async def test_a_stream_cancelled_before_its_first_event_is_recorded() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="never seen", first_token_delay=5))
    memory = MemoryStorage()
    async with make(fake, memory.plugin(), storage={"backend": "memory"}) as client:

        async def open_stream() -> None:
            async with client.stream("fake/m", "hi") as s:
                async for _ in s:
                    pass

        await cancel_in_flight(open_stream, when=lambda: bool(fake.calls))

    (record,) = memory.records.values()
    assert record.error_type == "Cancelled" and not record.ok


@pytest.mark.anyio
async def test_a_group_of_cancellations_is_a_cancellation() -> None:
    """trio's open_tcp_stream (httpx connects with it) raises Cancelled grouped."""
    caught: list[BaseException] = []
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.sleep(1)
        except anyio.get_cancelled_exc_class() as exc:
            caught.append(exc)
            raise
    assert scope.cancelled_caught
    (e,) = caught
    assert is_cancellation(e)
    assert is_cancellation(BaseExceptionGroup("connect", [e, e]))
    assert not is_cancellation(BaseExceptionGroup("mixed", [e, ValueError()]))
    assert not is_cancellation(ValueError())


class _BreaksAfterItsPrompt(FakeProvider):
    """Reports the prompt's tokens as the stream starts (as Anthropic's message_start
    does), sends a word, then breaks."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        yield StreamStart("broken-1", request.model)
        yield UsageUpdate(Usage(input_tokens=1000))
        yield TextDelta("Half")
        raise StreamError("the connection dropped", provider="fake", model=request.model)


@pytest.mark.anyio
async def test_a_broken_streams_billed_tokens_are_charged_to_the_budget() -> None:
    """The record priced the partial usage; the budget was settled with nothing."""
    fake = FakePlugin(provider=_BreaksAfterItsPrompt)
    memory = MemoryStorage()
    sections: dict[str, Any] = {
        "storage": {"backend": "memory"},
        "prices": {"fake/m": {"input": 1, "output": 1}},
        "limits": {"*": {"budget_usd": 100}},
    }
    async with make(fake, memory.plugin(), **sections) as client:
        with pytest.raises(StreamError):
            async with client.stream("fake/m", "hi") as s:
                async for _ in s:
                    pass
        limiter: Any = client._limiter
        spent = sum((b.spent for b in limiter._budgets.values()), Decimal(0))

    (record,) = memory.records.values()
    # the prompt the stream reported, and the output it sent ("Half": a token, estimated)
    assert (record.usage.input_tokens, record.usage.output_tokens) == (1000, 1)
    assert record.cost == Decimal("0.001001")
    assert spent == record.cost


@pytest.mark.anyio
async def test_a_stream_cancelled_before_its_first_event_ends_its_span_as_its_record() -> None:
    """The span ended on leaving the block that made it current, before the call was
    recorded: named after the library's class (asyncio's "CancelledError") with no
    description, beside a record saying "Cancelled"."""
    fake, tracing = FakePlugin(), TracingExporter()
    fake.script.push(Reply(text="never seen", first_token_delay=5))
    async with make(fake, tracing) as client:

        async def open_stream() -> None:
            async with client.stream("fake/m", "hi") as s:
                async for _ in s:
                    pass

        await cancel_in_flight(open_stream, when=lambda: bool(fake.calls))

    (record,) = tracing.records
    (span,) = tracing.finished()
    assert record.error_type == (span.attributes or {})["error.type"] == "Cancelled"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == record.error_message == "cancelled before the stream started"


@pytest.mark.anyio
async def test_a_backup_answer_billed_as_its_caller_cancels_is_recorded_with_its_cost() -> None:
    """Found by the gateway's chaos test (a caller hanging up on a hedged call): the
    backup's answer arrived as the caller was cancelled; the budget charged it, but
    only the call's ``Cancelled`` record (no cost) was written."""
    first, second = FakePlugin("first"), FakePlugin("second", provider=_Uncancellable)
    first.script.push(Reply(text="first", delay=5))
    second.script.push(Reply(text="second", delay=0.2, input_tokens=7, output_tokens=5))
    memory = MemoryStorage()
    sections: dict[str, Any] = {
        "storage": {"backend": "memory"},
        "models": {"g": {"targets": ["first/m", "second/m"], "hedge_after": 0.05}},
        "prices": {"first/m": {"input": 1, "output": 1}, "second/m": {"input": 1, "output": 1}},
        "limits": {"*": {"budget_usd": 100}},
    }
    async with make(first, second, memory.plugin(), **sections) as client:
        # cancelled once the backup is in flight, before its (shielded) answer comes
        await cancel_in_flight(lambda: client.chat("g", "race me"), when=lambda: bool(second.calls))
        limiter: Any = client._limiter
        spent = sum((b.spent for b in limiter._budgets.values()), Decimal(0))

    by_type = {record.error_type: record for record in memory.records.values()}
    assert set(by_type) == {"Cancelled", "HedgeCancelled"}
    billed = by_type["HedgeCancelled"]
    assert (billed.provider, billed.usage.input_tokens, billed.usage.output_tokens) == (
        "second",
        7,
        5,
    )
    assert billed.id == f"{by_type['Cancelled'].id}-hedge-second/m"
    assert billed.cost == Decimal("0.000012")
    # the first target, cut off as its caller cancelled, was billed its prompt ("race
    # me": a token, estimated): the call's own record carries it, as the budget does
    cancelled = by_type["Cancelled"]
    assert (cancelled.usage.input_tokens, cancelled.cost) == (1, Decimal("0.000001"))
    assert billed.cost is not None and cancelled.cost is not None
    assert spent == billed.cost + cancelled.cost
