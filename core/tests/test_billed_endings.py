"""Budgets count what the provider billed when a call ends early, and the records agree.

Over real loopback HTTP (OpenAI's wire format): a hedge's loser cut off mid-call,
a call its caller cancels, a call the total timeout cuts off, a stream left
early before the vendor's usage came, and a 5xx retried. Each time the budget
keeps what the vendor most likely billed (a prompt it received; the output it
streamed), and the call's records carry the same amounts, so the records' costs
(what ``relaykit logs`` totals) add up to what the budget spent.

Prices are set to USD 1 per million input tokens and 2 per million output
tokens; the limiter's clocks never move, so the budget's state is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from decimal import Decimal
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan

import relaykit
from relaykit.metrics import observe
from relaykit.protocols import CallRecord
from relaykit.request import ChatRequest
from relaykit.response import ChatResponse
from relaykit.testing import (
    FakePlugin,
    LimiterPlugin,
    MemoryStorage,
    OpenAIMock,
    RecordingExporter,
    Reply,
    TracingExporter,
    call_log_lines,
    cancel_in_flight,
    capture_call_log,
    frozen_limiter,
    mock_audio,
)
from relaykit.testing.fake_provider import FakeProvider

#: 4,000 characters: the client estimates a quarter of them, 1,000 prompt tokens
PROMPT = "word " * 800
#: what a prompt of 1,000 tokens costs at USD 1 per million
PROMPT_COST = Decimal("0.001")
PRICE = {"input": 1, "output": 2}


def make(
    primary: OpenAIMock,
    backup: OpenAIMock,
    storage: MemoryStorage,
    /,  # so that ``storage={...}`` is a config section
    *,
    plugins: Sequence[object] = (),
    **sections: Any,
) -> tuple[relaykit.Client, Any]:
    frozen = LimiterPlugin(frozen_limiter())
    config: dict[str, Any] = {
        "storage": {"backend": "memory"},
        "retry": {"attempts": 1},
        "limiter": {"backend": "frozen"},
        "limits": {"*": {"budget_usd": "10"}},
        "providers": {
            "openai": {"base_url": primary.base_url, "api_key": primary.api_key},
            "backup": {"type": "openai", "base_url": backup.base_url, "api_key": backup.api_key},
        },
        "prices": {"openai/gpt-4o-mini": PRICE, "backup/gpt-4o-mini": PRICE},
        "models": {
            "g": {"targets": ["openai/gpt-4o-mini", "backup/gpt-4o-mini"], "hedge_after": 0.05}
        },
        **sections,
    }
    return relaykit.Client(config, plugins=[frozen, storage.plugin(), *plugins]), frozen.limiter


async def ask(client: relaykit.Client, kind: str, **params: Any) -> None:
    """One call to the primary, of ``kind``: a chat of :data:`PROMPT`, or a stream
    read to its end (of a chat's, speech's or transcript's pieces)."""
    stream: Any
    if kind == "chat":
        await client.chat("openai/gpt-4o-mini", PROMPT, **params)
        return
    if kind == "stream":
        stream = client.stream("openai/gpt-4o-mini", PROMPT, **params)
    elif kind == "speech stream":
        stream = client.stream_speech("openai/tts-1", PROMPT, voice="alloy", **params)
    else:
        stream = client.stream_transcription("openai/whisper-1", mock_audio(PROMPT), **params)
    async with stream as pieces:
        async for _ in pieces:
            pass


def spent(limiter: Any) -> Decimal:
    return sum((b.spent for b in limiter._budgets.values()), Decimal(0))


def recorded(storage: MemoryStorage) -> Decimal:
    """What the records cost together: what ``relaykit logs`` totals."""
    return sum((r.cost or Decimal(0) for r in storage.records.values()), Decimal(0))


@pytest.mark.anyio
async def test_a_hedges_loser_cut_off_mid_call_is_charged_its_prompt(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply(text="slow", delay=5))
    storage = MemoryStorage()
    client, limiter = make(primary, backup, storage)
    async with client:
        with anyio.fail_after(3):
            response = await client.chat("g", PROMPT, max_tokens=100)
    assert response.provider == "backup" and response.cost
    assert len(primary.requests) == 1, "the loser reached its provider, which bills its prompt"
    loser = next(r for r in storage.records.values() if r.error_type == "HedgeCancelled")
    assert (loser.provider, loser.usage.input_tokens, loser.cost) == ("openai", 1000, PROMPT_COST)
    assert spent(limiter) == response.cost + PROMPT_COST
    assert recorded(storage) == spent(limiter)


class SlowToSettle:
    """The frozen memory limiter, deciding over the "network": coroutines only (so
    the client awaits them, as it does relaykit-redis), the first settle taking
    :attr:`delay` seconds, as a shared limiter under load may."""

    supports_budgets = True

    def __init__(self, delay: float) -> None:
        self.inner = frozen_limiter()
        self.delay: float | None = delay

    async def acquire(self, key: str, limit: Any, tokens: int, *, cost: Any = None) -> Any:
        return await self.inner.acquire(key, limit, tokens, cost=cost)

    async def reconcile(self, reservation: Any, actual_tokens: int, *, cost: Any = None) -> None:
        delay, self.delay = self.delay, None
        if delay is not None:
            await anyio.sleep(delay)
        await self.inner.reconcile(reservation, actual_tokens, cost=cost)

    async def release(self, reservation: Any) -> None:
        await self.inner.release(reservation)


class SlowToAcquire(SlowToSettle):
    """:class:`SlowToSettle`, but its first decision takes :attr:`delay` seconds."""

    async def acquire(self, key: str, limit: Any, tokens: int, *, cost: Any = None) -> Any:
        delay, self.delay = self.delay, None
        if delay is not None:
            await anyio.sleep(delay)
        return await self.inner.acquire(key, limit, tokens, cost=cost)


@pytest.mark.anyio
async def test_a_call_whose_deadline_passed_while_its_limiter_decided_is_not_charged(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    # The limiter (over the network, under load) answers after the call's total
    # timeout: the request never went out, so the budget keeps nothing of it.
    primary.script.push(Reply(text="never asked"))
    storage = MemoryStorage()
    limiter = SlowToAcquire(delay=0.3)
    client, _ = make(
        primary,
        backup,
        storage,
        plugins=[LimiterPlugin(limiter, name="slow")],
        limiter={"backend": "slow"},
    )
    async with client:
        with pytest.raises(relaykit.RequestTimeoutError):
            await client.chat("openai/gpt-4o-mini", PROMPT, max_tokens=100, timeout=0.1)
    assert not primary.requests
    (record,) = storage.records.values()
    assert (record.error_type, record.cost) == ("RequestTimeoutError", None)
    assert spent(limiter.inner) == 0 == recorded(storage)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["chat", "stream", "speech stream", "transcription stream"])
async def test_a_call_whose_deadline_passed_while_its_limiter_decided_gives_its_request_back(
    primary: OpenAIMock, backup: OpenAIMock, kind: str
) -> None:
    # Never sent, it keeps no place under the rate limit either (the limiter's
    # clock never moves: a request kept would be kept for good).
    primary.script.push(Reply(text="asked once"))
    limiter = SlowToAcquire(delay=0.3)
    client, _ = make(
        primary,
        backup,
        MemoryStorage(),
        plugins=[LimiterPlugin(limiter, name="slow")],
        limiter={"backend": "slow"},
        limits={"*": {"rpm": 1, "budget_usd": "10"}},
    )
    async with client:
        with pytest.raises(relaykit.RequestTimeoutError):
            await ask(client, kind, timeout=0.1)
        await ask(client, kind)
    assert len(primary.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("winner", ["primary", "backup"])
async def test_a_hedges_loser_the_total_timeout_cuts_off_as_the_winner_settles_is_recorded(
    primary: OpenAIMock, backup: OpenAIMock, winner: str
) -> None:
    # The winner has its answer before the total timeout, but settling its hold
    # (over the network) outlasts it: the loser's scope expires first, so the
    # loser ends by the timeout (charged its prompt), not cancelled by the
    # winner. It lost the race all the same: its prompt is in a record.
    fast, slow = (primary, backup) if winner == "primary" else (backup, primary)
    fast.script.push(Reply(text="won", input_tokens=10, output_tokens=5, delay=0.1))
    slow.script.push(Reply(text="too late", delay=5))
    storage = MemoryStorage()
    limiter = SlowToSettle(delay=0.6)
    plugins = [LimiterPlugin(limiter, name="slow")]
    client, _ = make(
        primary,
        backup,
        storage,
        plugins=plugins,
        limiter={"backend": "slow"},
        timeouts={"total": 0.5},
    )
    async with client:
        with anyio.fail_after(3):
            response = await client.chat("g", PROMPT, max_tokens=100)
    assert response.provider == ("openai" if winner == "primary" else "backup")
    assert response.cost is not None
    assert len(slow.requests) == 1, "the loser reached its provider, which bills its prompt"
    (loser,) = [r for r in storage.records.values() if r.error_type == "HedgeCancelled"]
    assert (loser.usage.input_tokens, loser.cost) == (1000, PROMPT_COST)
    assert spent(limiter.inner) == response.cost + PROMPT_COST == recorded(storage)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["chat", "stream"])
async def test_a_call_its_caller_cancels_keeps_its_prompt_in_budget_and_record(
    primary: OpenAIMock, backup: OpenAIMock, kind: str
) -> None:
    primary.script.push(Reply(text="too late", delay=5))
    storage = MemoryStorage()
    client, limiter = make(primary, backup, storage)

    async def call() -> None:
        await ask(client, kind, max_tokens=100)

    async with client:
        await cancel_in_flight(call, when=lambda: bool(primary.requests))
    (record,) = storage.records.values()
    assert record.error_type == "Cancelled"
    assert (record.usage.input_tokens, record.cost) == (1000, PROMPT_COST)
    assert spent(limiter) == PROMPT_COST == recorded(storage)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["chat", "stream"])
async def test_a_call_the_total_timeout_cuts_off_keeps_its_prompt(
    primary: OpenAIMock, backup: OpenAIMock, kind: str
) -> None:
    # A stream cut off before its first piece too: the vendor had its prompt.
    primary.script.push(Reply(text="too late", delay=5))
    storage = MemoryStorage()
    client, limiter = make(primary, backup, storage)
    async with client:
        with pytest.raises(relaykit.RequestTimeoutError):
            await ask(client, kind, max_tokens=100, timeout=0.2)
    (record,) = storage.records.values()
    assert (record.usage.input_tokens, record.cost) == (1000, PROMPT_COST)
    assert spent(limiter) == PROMPT_COST == recorded(storage)


@pytest.mark.anyio
@pytest.mark.parametrize("then", ["answers", "times out"])
async def test_a_stream_retried_after_its_first_token_timeout_records_the_prompt_it_was_billed(
    primary: OpenAIMock, backup: OpenAIMock, then: str
) -> None:
    # The timed-out attempt reached the vendor, which bills its prompt: the budget
    # keeps it, and a record of its own carries it, so the records add up to the
    # budget whether the next attempt answers or times out too.
    primary.script.push(Reply(text="late", delay=5))
    primary.script.push(
        Reply(text="ok", input_tokens=7, output_tokens=3)
        if then == "answers"
        else Reply(text="late", delay=5)
    )
    storage = MemoryStorage()
    client, limiter = make(
        primary,
        backup,
        storage,
        retry={"attempts": 2, "initial_wait": 0},
        timeouts={"first_token": 0.2},
    )
    async with client:
        if then == "answers":
            await ask(client, "stream", max_tokens=100)
        else:
            with pytest.raises(relaykit.RequestTimeoutError):
                await ask(client, "stream", max_tokens=100)
    timed_out = [r for r in storage.records.values() if r.id.endswith("-attempt-1")]
    assert [(r.usage.input_tokens, r.cost, r.usage_estimated) for r in timed_out] == [
        (1000, PROMPT_COST, True)
    ]
    assert len(storage.records) == 2 + (then == "times out")
    assert spent(limiter) == recorded(storage)
    # each timed-out prompt, and the answer's 7 + 3 tokens at USD 1 and 2 per million
    expected = 2 * PROMPT_COST if then == "times out" else PROMPT_COST + Decimal("0.000013")
    assert spent(limiter) == expected


@pytest.mark.anyio
async def test_a_stream_left_before_its_usage_came_is_charged_an_estimate(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    # OpenAI sends the usage in the stream's last chunk: a caller who breaks out
    # after the first text never sees it, but was billed the prompt and that text.
    text = "abcdefgh " * 20  # 180 characters
    primary.script.push(Reply(text=text))
    storage = MemoryStorage()
    client, limiter = make(primary, backup, storage)
    async with client:
        async with client.stream("openai/gpt-4o-mini", PROMPT, max_tokens=100) as s:
            async for event in s:
                if isinstance(event, relaykit.TextDelta):
                    break
        response = s.response
    assert response.usage.input_tokens == 1000  # the prompt, estimated
    assert 0 < response.usage.output_tokens <= len(text) // 4  # a token per 4 characters seen
    (record,) = storage.records.values()
    assert (record.usage, record.cost) == (response.usage, response.cost)
    assert response.cost is not None and response.cost > PROMPT_COST
    assert spent(limiter) == response.cost == recorded(storage)


@pytest.mark.anyio
async def test_a_stream_left_after_its_usage_came_keeps_the_vendors_count(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply(text="short answer", input_tokens=7, output_tokens=3))
    storage = MemoryStorage()
    client, limiter = make(primary, backup, storage)
    async with client, client.stream("openai/gpt-4o-mini", PROMPT, max_tokens=100) as s:
        async for event in s:
            if isinstance(event, relaykit.UsageUpdate):
                break
    assert (s.response.usage.input_tokens, s.response.usage.output_tokens) == (7, 3)
    assert spent(limiter) == s.response.cost == recorded(storage)


@pytest.mark.anyio
async def test_a_retried_5xx_is_not_charged(primary: OpenAIMock, backup: OpenAIMock) -> None:
    primary.script.push(Reply.failure(503), Reply(text="ok", input_tokens=10, output_tokens=5))
    storage = MemoryStorage()
    client, limiter = make(primary, backup, storage, retry={"attempts": 2, "initial_wait": 0})
    async with client:
        response = await client.chat("openai/gpt-4o-mini", PROMPT, max_tokens=100)
    assert response.attempts == 2 and len(primary.requests) == 2
    assert response.cost == Decimal("0.00002")  # 10 * $1/M + 5 * $2/M
    assert spent(limiter) == response.cost == recorded(storage)


def metric_costs(record: CallRecord) -> list[float]:
    return [o.value for o in observe(record) if o.instrument.name == "relaykit.cost"]


def metric_input_tokens(record: CallRecord) -> list[float]:
    """The input tokens an estimated record's metrics count: in relaykit's own
    counter, never in gen_ai.client.token.usage (the conventions forbid estimates
    there)."""
    observed = observe(record)
    assert not [o for o in observed if o.instrument.name == "gen_ai.client.token.usage"]
    return [
        o.value
        for o in observed
        if o.instrument.name == "relaykit.usage.estimated_tokens"
        and dict(o.attributes).get("gen_ai.token.type") == "input"
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["cancelled", "timeout"])
async def test_a_cut_off_calls_span_log_line_and_metrics_carry_its_records_estimate(
    primary: OpenAIMock, backup: OpenAIMock, ending: str
) -> None:
    primary.script.push(Reply(text="too late", delay=5))
    storage = MemoryStorage()
    telemetry = TracingExporter()
    client, limiter = make(primary, backup, storage, plugins=[telemetry])

    async def call() -> None:
        await client.chat("openai/gpt-4o-mini", PROMPT, max_tokens=100)

    with capture_call_log() as log:
        async with client:
            if ending == "cancelled":
                await cancel_in_flight(call, when=lambda: bool(primary.requests))
            else:
                with pytest.raises(relaykit.RequestTimeoutError):
                    await client.chat("openai/gpt-4o-mini", PROMPT, max_tokens=100, timeout=0.2)
    telemetry.tracer_provider.shutdown()
    (record,) = storage.records.values()
    assert (record.usage.input_tokens, record.cost) == (1000, PROMPT_COST)
    assert spent(limiter) == PROMPT_COST
    usd = float(PROMPT_COST)
    (span,) = telemetry.finished()
    a = dict(span.attributes or {})
    assert (a["error.type"], a["gen_ai.usage.input_tokens"]) == (record.error_type, 1000)
    assert (a["gen_ai.usage.output_tokens"], a["relaykit.cost_usd"]) == (0, usd)
    assert a["relaykit.usage.estimated"] is True  # the vendor never said: relaykit's estimate
    (line,) = call_log_lines(log)
    assert (line["error_type"], line["input_tokens"], line["cost_usd"]) == (
        record.error_type,
        1000,
        usd,
    )
    assert line["usage_estimated"] is True
    # the metrics follow the record (relaykit.metrics.observe), so they agree too
    (exported,) = telemetry.records
    assert metric_costs(exported) == [usd] and metric_input_tokens(exported) == [1000.0]


@pytest.mark.anyio
async def test_a_call_that_ends_well_is_not_marked_estimated(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply(text="ok", input_tokens=10, output_tokens=5))
    telemetry = TracingExporter()
    client, _ = make(primary, backup, MemoryStorage(), plugins=[telemetry])
    with capture_call_log() as log:
        async with client:
            await client.chat("openai/gpt-4o-mini", PROMPT, max_tokens=100)
    telemetry.tracer_provider.shutdown()
    (span,) = telemetry.finished()
    assert "relaykit.usage.estimated" not in dict(span.attributes or {})
    (line,) = call_log_lines(log)
    assert "usage_estimated" not in line


class GatedStorage(MemoryStorage):
    """Storage whose writes wait for :attr:`gate`: its writer holds one batch, so the
    call log's queue fills and a call's next record waits for room."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = anyio.Event()
        self.entered = anyio.Event()

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        self.entered.set()
        await self.gate.wait()
        await super().write_batch(records)


@pytest.mark.anyio
async def test_a_caller_cancelled_while_a_won_hedge_records_its_loser_is_not_charged_twice(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    # The race is won and the loser's record is on its way to storage when the caller
    # is cancelled (the call log's queue was full). The loser's record is kept (it
    # goes to the writer's overflow); the call's own record must then not carry the
    # loser's estimate again as a Cancelled call would, and the winner's answer,
    # billed and charged, must be recorded.
    primary.script.push(Reply(text="slow", delay=5))
    for _ in range(3):
        backup.script.push(Reply(text="fast", input_tokens=10, output_tokens=5))
    storage = GatedStorage()
    telemetry = RecordingExporter()
    client, limiter = make(
        primary,
        backup,
        storage,
        plugins=[telemetry],
        storage={"backend": "memory", "queue_size": 1},
    )

    def loser_recorded() -> bool:
        """The loser's record waits for room in the queue: cancel now, and let the
        writer go on (the cancelled call's own record waits for room too, shielded)."""
        if not any(r.error_type == "HedgeCancelled" for r in telemetry.records):
            return False
        storage.gate.set()
        return True

    async def hedged_call() -> None:
        await client.chat("g", PROMPT, max_tokens=100)

    async with client:
        try:
            with anyio.fail_after(3):
                await client.chat("backup/gpt-4o-mini", "one", max_tokens=100)
                await storage.entered.wait()  # the writer holds the first record
                await client.chat("backup/gpt-4o-mini", "two", max_tokens=100)  # queue full
                await cancel_in_flight(hedged_call, when=loser_recorded, give_up_after=2)
        finally:
            storage.gate.set()  # closing the client waits for the writer
    kinds = sorted(r.error_type or "ok" for r in storage.records.values())
    # the two calls before, and the winner: billed and charged, so recorded
    assert kinds == ["HedgeCancelled", "ok", "ok", "ok"]
    assert recorded(storage) == spent(limiter)


async def leave_stream(client: relaykit.Client, ending: str, *, after: type[object]) -> None:
    """Stream a chat and leave it at its first ``after`` event: by ``break``, by raising,
    or cancelled; ``"broken"``: read on until the connection drops."""
    with anyio.CancelScope() as scope:
        async with client.stream("openai/gpt-4o-mini", PROMPT, max_tokens=100) as s:
            async for event in s:
                if ending == "broken" or not isinstance(event, after):
                    continue
                if ending == "break":
                    break
                if ending == "raise":
                    raise LookupError("the caller's own bug")
                scope.cancel()
                await anyio.sleep(5)  # cancelled here
    assert scope.cancelled_caught == (ending == "cancel")


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["break", "raise", "cancel", "broken"])
async def test_a_stream_left_before_its_usage_came_is_marked_estimated_on_span_and_log(
    primary: OpenAIMock, backup: OpenAIMock, ending: str
) -> None:
    text = "abcdefgh " * 20
    primary.script.push(Reply(text=text, stream_fault="drop" if ending == "broken" else None))
    storage = MemoryStorage()
    telemetry = TracingExporter()
    client, limiter = make(primary, backup, storage, plugins=[telemetry])
    with capture_call_log() as log:
        async with client:
            if ending in ("raise", "broken"):
                error = LookupError if ending == "raise" else relaykit.StreamError
                with pytest.raises(error):
                    await leave_stream(client, ending, after=relaykit.TextDelta)
            else:
                await leave_stream(client, ending, after=relaykit.TextDelta)
    telemetry.tracer_provider.shutdown()
    (record,) = storage.records.values()
    assert record.usage.input_tokens == 1000 and record.usage.output_tokens > 0  # estimated
    assert record.cost is not None and spent(limiter) == record.cost
    (span,) = telemetry.finished()
    a = dict(span.attributes or {})
    assert a["relaykit.usage.estimated"] is True  # OpenAI's usage never came: relaykit's
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (
        1000,
        record.usage.output_tokens,
    )
    assert a["relaykit.cost_usd"] == float(record.cost)
    (line,) = call_log_lines(log)
    assert line["usage_estimated"] is True
    assert (line["input_tokens"], line["output_tokens"], line["cost_usd"]) == (
        1000,
        record.usage.output_tokens,
        float(record.cost),
    )


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["break", "raise", "cancel"])
async def test_a_stream_left_after_its_usage_came_is_not_marked_estimated(
    primary: OpenAIMock, backup: OpenAIMock, ending: str
) -> None:
    primary.script.push(Reply(text="short answer", input_tokens=7, output_tokens=3))
    telemetry = TracingExporter()
    client, _ = make(primary, backup, MemoryStorage(), plugins=[telemetry])
    with capture_call_log() as log:
        async with client:
            if ending == "raise":
                with pytest.raises(LookupError):
                    await leave_stream(client, ending, after=relaykit.UsageUpdate)
            else:
                await leave_stream(client, ending, after=relaykit.UsageUpdate)
    telemetry.tracer_provider.shutdown()
    (span,) = telemetry.finished()
    a = dict(span.attributes or {})
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (7, 3)
    assert "relaykit.usage.estimated" not in a  # the vendor's own counts
    (line,) = call_log_lines(log)
    assert (line["input_tokens"], line["output_tokens"]) == (7, 3)
    assert "usage_estimated" not in line


def hedge_losers(span: ReadableSpan) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == "relaykit.hedge_loser"]


@pytest.mark.anyio
async def test_a_hedges_loser_cut_off_mid_call_shows_on_the_winners_span_as_estimated(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply(text="slow", delay=5))
    backup.script.push(Reply(text="fast", input_tokens=10, output_tokens=5))
    storage = MemoryStorage()
    telemetry = TracingExporter()
    client, limiter = make(primary, backup, storage, plugins=[telemetry])
    async with client:
        with anyio.fail_after(3):
            response = await client.chat("g", PROMPT, max_tokens=100)
    telemetry.tracer_provider.shutdown()
    assert response.provider == "backup"
    (span,) = telemetry.finished()
    a = dict(span.attributes or {})
    assert a["relaykit.cost_usd"] == float(response.cost or 0)  # the winner's own answer
    assert "relaykit.usage.estimated" not in a
    (loser,) = hedge_losers(span)
    assert loser == {
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "error.type": "HedgeCancelled",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 0,
        "relaykit.cost_usd": float(PROMPT_COST),
        "relaykit.usage.estimated": True,
    }
    # the span's two costs add up to what the budget spent, as the records do
    assert a["relaykit.cost_usd"] + loser["relaykit.cost_usd"] == float(spent(limiter))


@pytest.mark.anyio
async def test_a_hedge_whose_first_target_answers_in_time_has_no_loser_event(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    primary.script.push(Reply(text="fast", input_tokens=10, output_tokens=5))
    telemetry = TracingExporter()
    # "in time": well before the hedge (the other tests' 50 ms is a loopback
    # answer's time only on a machine that is not loaded)
    routes = {"g": {"targets": ["openai/gpt-4o-mini", "backup/gpt-4o-mini"], "hedge_after": 5}}
    client, _ = make(primary, backup, MemoryStorage(), plugins=[telemetry], models=routes)
    async with client:
        await client.chat("g", PROMPT, max_tokens=100)
    telemetry.tracer_provider.shutdown()
    (span,) = telemetry.finished()
    assert hedge_losers(span) == [] and not backup.requests


class Uncancellable(FakeProvider):
    """Answers even when cancelled: an answer already on its way when the race was won."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        with anyio.CancelScope(shield=True):
            response = await super().chat(request)
        return response


@pytest.mark.anyio
async def test_a_hedges_late_answer_shows_on_the_winners_span_with_its_real_cost() -> None:
    # No loopback vendor answers once its request is cancelled: a fake one that does.
    first, second = FakePlugin("first", provider=Uncancellable), FakePlugin("second")
    # a second after the hedge: time enough for the second to win on a loaded machine
    first.script.push(Reply(text="first", delay=1.05, input_tokens=7, output_tokens=5))
    second.script.push(Reply(text="second", input_tokens=7, output_tokens=5))
    storage = MemoryStorage()
    telemetry = TracingExporter()
    config: dict[str, Any] = {
        "storage": {"backend": "memory"},
        "retry": {"attempts": 1},
        "models": {"g": {"targets": ["first/m", "second/m"], "hedge_after": 0.05}},
        "prices": {"first/m": {"input": 1, "output": 1}, "second/m": {"input": 1, "output": 1}},
    }
    plugins = [first, second, storage.plugin(), telemetry]
    async with relaykit.Client(config, plugins=plugins) as client:
        with anyio.fail_after(5):
            response = await client.chat("g", "race me")
    telemetry.tracer_provider.shutdown()
    assert response.text == "second"
    (late,) = [r for r in storage.records.values() if r.error_type == "HedgeCancelled"]
    (span,) = telemetry.finished()
    (loser,) = hedge_losers(span)
    assert (loser["gen_ai.provider.name"], loser["gen_ai.request.model"]) == ("first", "m")
    assert (loser["gen_ai.usage.input_tokens"], loser["gen_ai.usage.output_tokens"]) == (7, 5)
    assert late.cost is not None and loser["relaykit.cost_usd"] == float(late.cost)
    assert "relaykit.usage.estimated" not in loser  # billed as the vendor counted it
    assert not late.usage_estimated  # and its record says so


@pytest.mark.anyio
async def test_a_hedges_late_answer_without_usage_leaves_the_winner_unestimated() -> None:
    # The loser's late answer carried no usage: its own record and span event are
    # relaykit's estimate, while the winner's usage, the vendor's, is not marked so.
    first, second = FakePlugin("first", provider=Uncancellable), FakePlugin("second")
    first.script.push(Reply(text="first " * 40, delay=1.05, usage=False))
    second.script.push(Reply(text="second", input_tokens=7, output_tokens=5))
    storage = MemoryStorage()
    telemetry = TracingExporter()
    config: dict[str, Any] = {
        "storage": {"backend": "memory"},
        "retry": {"attempts": 1},
        "models": {"g": {"targets": ["first/m", "second/m"], "hedge_after": 0.05}},
        "prices": {"first/m": {"input": 1, "output": 1}, "second/m": {"input": 1, "output": 1}},
    }
    plugins = [first, second, storage.plugin(), telemetry]
    with capture_call_log() as lines:
        async with relaykit.Client(config, plugins=plugins) as client:
            with anyio.fail_after(5):
                response = await client.chat("g", PROMPT)
    telemetry.tracer_provider.shutdown()
    assert (response.text, response.usage_estimated) == ("second", False)
    (late,) = [r for r in storage.records.values() if r.error_type == "HedgeCancelled"]
    (won,) = [r for r in storage.records.values() if r.error_type is None]
    assert (late.usage.input_tokens, late.usage_estimated) == (1000, True)
    assert (won.usage.input_tokens, won.usage_estimated) == (7, False)
    (span,) = telemetry.finished()
    assert "relaykit.usage.estimated" not in dict(span.attributes or {})
    (loser,) = hedge_losers(span)
    assert loser["relaykit.usage.estimated"] is True
    (line,) = call_log_lines(lines)
    assert "usage_estimated" not in line


# -- records and responses say when their usage is an estimate -----------------------


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["cancelled", "cancelled stream", "timeout", "hedge"])
async def test_a_cut_off_calls_record_is_marked_estimated(
    primary: OpenAIMock, backup: OpenAIMock, ending: str
) -> None:
    primary.script.push(Reply(text="too late", delay=5))
    backup.script.push(Reply(text="fast", input_tokens=10, output_tokens=5))
    storage = MemoryStorage()
    telemetry = RecordingExporter()
    client, _ = make(primary, backup, storage, plugins=[telemetry])

    async def call() -> None:
        if ending == "cancelled stream":
            async with client.stream("openai/gpt-4o-mini", PROMPT, max_tokens=100) as s:
                async for _ in s:
                    pass
        else:
            await client.chat("openai/gpt-4o-mini", PROMPT, max_tokens=100)

    async with client:
        if ending == "timeout":
            with pytest.raises(relaykit.RequestTimeoutError):
                await client.chat("openai/gpt-4o-mini", PROMPT, max_tokens=100, timeout=0.2)
        elif ending == "hedge":
            with anyio.fail_after(3):
                response = await client.chat("g", PROMPT, max_tokens=100)
            assert not response.usage_estimated  # the winner's usage is the vendor's
        else:
            await cancel_in_flight(call, when=lambda: bool(primary.requests))
    cut = [r for r in storage.records.values() if r.provider == "openai"]
    assert [(r.usage.input_tokens, r.usage_estimated) for r in cut] == [(1000, True)]
    assert [r.usage_estimated for r in telemetry.records if r.provider == "openai"] == [True]
    others = [r for r in storage.records.values() if r.provider != "openai"]
    assert all(not r.usage_estimated for r in others)


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["break", "raise", "cancel", "broken"])
async def test_a_stream_left_before_its_usage_came_is_marked_estimated_in_record_and_response(
    primary: OpenAIMock, backup: OpenAIMock, ending: str
) -> None:
    primary.script.push(
        Reply(text="abcdefgh " * 20, stream_fault="drop" if ending == "broken" else None)
    )
    storage = MemoryStorage()
    client, _ = make(primary, backup, storage)
    async with client:
        s = client.stream("openai/gpt-4o-mini", PROMPT, max_tokens=100)
        if ending == "broken":
            with pytest.raises(relaykit.StreamError) as broken:
                async with s:
                    async for _ in s:
                        pass
            response = broken.value.partial  # what the caller holds of a broken stream
        else:
            with pytest.raises(LookupError) if ending == "raise" else nullcontext():
                await leave_stream_as(s, ending)
            response = s.response  # what the caller holds of a stream it left
    (record,) = storage.records.values()
    assert record.usage.input_tokens == 1000 and record.usage_estimated
    assert response is not None and response.usage_estimated
    assert response.usage == record.usage


async def leave_stream_as(s: Any, ending: str) -> None:
    """Leave the stream ``s`` at its first text: by ``break``, by raising, or cancelled."""
    with anyio.CancelScope() as scope:
        async with s:
            async for event in s:
                if not isinstance(event, relaykit.TextDelta):
                    continue
                if ending == "break":
                    break
                if ending == "raise":
                    raise LookupError("the caller's own bug")
                scope.cancel()
                await anyio.sleep(5)  # cancelled here


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["break", "raise", "cancel", "completed"])
async def test_a_stream_with_the_vendors_usage_is_not_marked_estimated(
    primary: OpenAIMock, backup: OpenAIMock, ending: str
) -> None:
    primary.script.push(Reply(text="short answer", input_tokens=7, output_tokens=3))
    storage = MemoryStorage()
    client, _ = make(primary, backup, storage)
    async with client:
        if ending == "completed":
            async with client.stream("openai/gpt-4o-mini", PROMPT, max_tokens=100) as s:
                async for _ in s:
                    pass
            assert not s.response.usage_estimated
        elif ending == "raise":
            with pytest.raises(LookupError):
                await leave_stream(client, ending, after=relaykit.UsageUpdate)
        else:
            await leave_stream(client, ending, after=relaykit.UsageUpdate)
    (record,) = storage.records.values()
    assert record.usage.input_tokens == 7 and not record.usage_estimated


@pytest.mark.anyio
async def test_a_whole_stream_that_brought_no_usage_is_charged_an_estimate(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """A server that sends no usage in a stream (``stream_usage = false``, or an
    OpenAI-compatible one that ignores ``stream_options``) billed the prompt and
    the answer all the same: the whole stream is not free, and says its counts are
    relaykit's estimate. The same answer asked whole has the vendor's usage."""
    text = "abcdefgh " * 20  # 180 characters
    primary.script.push(Reply(text=text, input_tokens=990, output_tokens=44))
    storage = MemoryStorage()
    providers = {
        "openai": {"base_url": primary.base_url, "api_key": primary.api_key, "stream_usage": False}
    }
    client, limiter = make(primary, backup, storage, providers=providers)
    async with client, client.stream("openai/gpt-4o-mini", PROMPT, max_tokens=100) as s:
        async for _ in s:
            pass
    response = s.response
    assert (response.text, response.finish_reason) == (text, "stop")
    assert response.usage.input_tokens == 1000  # the prompt, estimated
    assert response.usage.output_tokens == len(text) // 4  # a token per 4 characters
    assert response.usage_estimated
    (record,) = storage.records.values()
    assert record.usage_estimated and (record.usage, record.cost) == (
        response.usage,
        response.cost,
    )
    assert response.cost is not None and response.cost > PROMPT_COST
    assert spent(limiter) == response.cost == recorded(storage)


@pytest.mark.anyio
async def test_a_whole_answer_that_brought_no_usage_is_charged_an_estimate(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    """An answer without ``usage`` (an OpenAI-compatible server that omits it) billed
    the prompt and the answer all the same, as a stream without usage did: the
    budget, the record, the response and the metrics carry relaykit's estimate,
    marked so, never zero."""
    text = "abcdefgh " * 20  # 180 characters
    primary.script.push(Reply(text=text, usage=False))
    storage = MemoryStorage()
    client, limiter = make(primary, backup, storage)
    async with client:
        response = await client.chat("openai/gpt-4o-mini", PROMPT, max_tokens=100)
    assert response.text == text
    assert response.usage.input_tokens == 1000  # the prompt, estimated
    assert response.usage.output_tokens == len(text) // 4  # a token per 4 characters
    assert response.usage_estimated
    (record,) = storage.records.values()
    assert record.usage_estimated and (record.usage, record.cost) == (
        response.usage,
        response.cost,
    )
    assert metric_input_tokens(record) == [1000]
    assert response.cost is not None and response.cost > PROMPT_COST
    assert spent(limiter) == response.cost == recorded(storage)


@pytest.mark.anyio
async def test_a_whole_answer_whose_vendor_reported_zero_usage_keeps_it(
    primary: OpenAIMock, backup: OpenAIMock
) -> None:
    # A reported zero is the vendor's word (a free tier, a local server): kept.
    primary.script.push(Reply(text="free", input_tokens=0, output_tokens=0))
    storage = MemoryStorage()
    client, limiter = make(primary, backup, storage)
    async with client:
        response = await client.chat("openai/gpt-4o-mini", PROMPT, max_tokens=100)
    assert (response.usage.total_tokens, response.usage_estimated) == (0, False)
    (record,) = storage.records.values()
    assert (record.usage.total_tokens, record.usage_estimated) == (0, False)
    assert spent(limiter) == 0 == recorded(storage)
