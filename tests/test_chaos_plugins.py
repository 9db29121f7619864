"""Chaos across plugins: core/tests/test_chaos.py's workload and invariants, widened.

Each scenario runs concurrent calls against loopback servers that answer
from a seeded mix of faults (relaykit.testing.chaos), then checks what must
hold once the client has closed (``check_invariants``: one record per call
matching what its caller saw, budget == the records' cost, nothing in flight,
metrics == records) and what the scenario adds:

1. an OpenAI and an Anthropic server behind one alias (cross-vendor
   fallbacks and hedges, Anthropic's usage in ``message_start`` settled from
   broken streams, tool-call answers streamed and whole);
2. relaykit-pii's outbound redaction (the servers never see the PII, callers
   never see a placeholder, records are masked);
3. tracing, in every scenario: one span per call, ended, its status the record's.

relaykit-redis's limiter and cache against the real Redis (clients and processes
sharing them, Redis itself dropping and stalling connections) are covered in
plugins/redis/tests/test_chaos.py; the tool loop under faults and cancellations
in core/tests/test_chaos_tool_loop.py.

Run more seeds locally with ``RELAYKIT_CHAOS_SEEDS=1-40``.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

import relaykit
from relaykit.protocols import CallRecord, LogQuery
from relaykit.testing import WEATHER_TOOL, OpenAIMock, TracingExporter
from relaykit.testing.chaos import (
    ChaosScript,
    Seen,
    chaos_call,
    chaos_sections,
    chaos_seeds,
    check_invariants,
    count_in_flight,
    memory_budget_spent,
    wait_for_closed_connections,
)
from relaykit.testing.vendor_mock import VendorMock
from relaykit_anthropic.testing import AnthropicMock

OPENAI_KEY = "sk-chaos-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-chaos-0123456789abcdef"
GPT, CLAUDE = "gpt-4o-mini", "claude-haiku-4-5"
ALIAS = "chaos"
#: USD per million tokens: round numbers, so the sums are exact
PRICE = {"input": 1, "output": 2}
CALLS = 80
#: a placeholder of relaykit-pii's outbound redaction (``<EMAIL_abcdefgh>``)
PLACEHOLDER = re.compile(r"<[A-Z0-9]+_[a-z]{8}>")


class _OpenSpans(SpanProcessor):
    """Counts spans started and not ended: an exporter only ever sees ended ones."""

    def __init__(self) -> None:
        self.open: dict[int, str] = {}

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        self.open[span.context.span_id] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        self.open.pop(span.context.span_id, None)


class ChaosTracing(TracingExporter):
    """Traces into memory, and keeps the spans that started and never ended."""

    def __init__(self) -> None:
        super().__init__()
        self.unended = _OpenSpans()
        self.tracer_provider.add_span_processor(self.unended)


@contextlib.contextmanager
def _two_vendors() -> Iterator[tuple[OpenAIMock, AnthropicMock]]:
    """An OpenAI and an Anthropic server on loopback, taking the test's keys."""
    with OpenAIMock(api_key=OPENAI_KEY) as openai, AnthropicMock(api_key=ANTHROPIC_KEY) as claude:
        yield openai, claude


@pytest.fixture
def servers() -> Iterator[tuple[OpenAIMock, AnthropicMock]]:
    with _two_vendors() as both:
        yield both


def _config(servers: tuple[OpenAIMock, AnthropicMock], db: Path, **more: Any) -> dict[str, Any]:
    openai, claude = servers
    config: dict[str, Any] = {
        **chaos_sections(db),
        "providers": {
            "openai": {"base_url": openai.base_url, "api_key": OPENAI_KEY},
            "anthropic": {"base_url": claude.base_url, "api_key": ANTHROPIC_KEY},
        },
        "models": {
            ALIAS: {"targets": [f"openai/{GPT}", f"anthropic/{CLAUDE}"], "hedge_after": 0.15}
        },
        "limits": {"*": {"rpm": 100_000, "tpm": 50_000_000, "budget_usd": 100}},
        "prices": {f"openai/{GPT}": PRICE, f"anthropic/{CLAUDE}": PRICE},
    }
    return {**config, **more}


def _weather_calls(rng: random.Random) -> tuple[tuple[str, dict[str, Any]], ...]:
    """A fifth of the successes ask for the weather instead of answering."""
    if rng.random() < 0.2:
        return (("get_weather", {"city": rng.choice(("Paris", "Oslo", "Lima"))}),)
    return ()


def _arm(servers: Sequence[VendorMock], seed: int, **kw: Any) -> None:
    for n, mock in enumerate(servers):
        mock.script = ChaosScript(random.Random(seed * 100 + n), **kw)


@attrs.define
class Run:
    """One chaos run's results, read once the client has closed."""

    client: relaykit.Client
    seen: list[Seen]
    stored: list[CallRecord]
    exporter: ChaosTracing
    balance: Counter[str]


async def _run(
    config: dict[str, Any],
    servers: Sequence[VendorMock],
    seed: int,
    db: Path,
    caller: Callable[[relaykit.Client, random.Random, Seen], Any],
) -> Run:
    """Start :data:`CALLS` callers a few ms apart, then close the client and read the log."""
    exporter = ChaosTracing()
    client = relaykit.Client(config, plugins=[exporter])
    balance = count_in_flight(client)
    rng = random.Random(seed)
    seen = [Seen(i, streamed=rng.random() < 0.5) for i in range(CALLS)]
    with anyio.fail_after(20):
        async with client, anyio.create_task_group() as tg:
            for s in seen:
                tg.start_soon(caller, client, random.Random(rng.random()), s)
                await anyio.sleep(rng.uniform(0, 0.004))
    async with relaykit.Client({"storage": {"backend": "sqlite", "path": str(db)}}) as reader:
        assert reader.storage is not None
        stored = await reader.storage.query_logs(LogQuery(limit=100_000))
    await wait_for_closed_connections(servers)
    return Run(client, seen, stored, exporter, balance)


def _check_common(
    where: str,
    run: Run,
    servers: Sequence[VendorMock],
    caplog: pytest.LogCaptureFixture,
    spent: Decimal | None,
) -> dict[str, CallRecord]:
    errors_logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors_logged, f"{where}: {errors_logged}"
    for key in (OPENAI_KEY, ANTHROPIC_KEY):
        assert key not in caplog.text
    finals = check_invariants(
        where,
        run.client,
        run.seen,
        run.stored,
        run.exporter,
        servers,
        secrets=[OPENAI_KEY, ANTHROPIC_KEY],
        spent=spent,
    )
    assert not +run.balance and not -run.balance, f"{where}: router in flight {run.balance}"
    _check_spans(where, run.exporter, list(finals.values()))
    return finals


def _check_spans(where: str, exporter: ChaosTracing, finals: Sequence[CallRecord]) -> None:
    """One span per call, every one ended, its status and error type the record's."""
    assert not exporter.unended.open, f"{where}: spans never ended: {exporter.unended.open}"
    spans = exporter.finished()
    assert len(spans) == len(finals), f"{where}: {len(spans)} spans, {len(finals)} calls"
    failed = Counter(r.error_type for r in finals if r.error_type is not None)
    span_failed = Counter(
        str((s.attributes or {}).get("error.type"))
        for s in spans
        if s.status.status_code is StatusCode.ERROR
    )
    assert span_failed == failed, f"{where}: spans failed {span_failed}, records {failed}"
    # a success's span names the answer it got (a cache hit's too)
    answered = Counter(r.response_id for r in finals if r.error_type is None)
    span_answered = Counter(
        (s.attributes or {}).get("gen_ai.response.id")
        for s in spans
        if s.status.status_code is not StatusCode.ERROR
    )
    assert span_answered == answered, f"{where}: span answers != record answers"


# -- 1 and 3: two vendors behind one alias, tool calls, tracing -------------------


async def _two_vendors_run(
    servers: tuple[OpenAIMock, AnthropicMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    seed: int,
) -> Run:
    """Scenario 1 once on ``servers``, its invariants checked: the run, to see who answered."""
    _arm(servers, seed, tool_calls=_weather_calls)

    async def caller(client: relaykit.Client, rng: random.Random, s: Seen) -> None:
        params: dict[str, Any] = {"tools": [WEATHER_TOOL], "max_tokens": 200}
        if rng.random() < 0.3:  # a few prompts asked again and again at temperature 0
            prompt, params["temperature"] = f"repeat {rng.randint(0, 4)}", 0
        else:
            prompt = f"question {s.index}"
        await chaos_call(client, ALIAS, rng, s, prompt, params)

    db = tmp_path / "calls.db"
    run = await _run(_config(servers, db), servers, seed, db, caller)
    where = f"seed {seed}"
    finals = _check_common(where, run, servers, caplog, memory_budget_spent(run.client))
    for s in run.seen:
        record = finals[s.correlation_id]
        if s.outcome == "ok" and s.complete:
            assert record.tool_calls == s.response.tool_calls, f"{where}: call {s.index}"
            if s.response.finish_reason == "tool_calls":
                (call,) = s.response.tool_calls
                assert call.name == "get_weather" and set(call.arguments) == {"city"}, where
    return run


def _answered(run: Run) -> set[str]:
    """The providers that answered some attempt of the run."""
    return {r.provider for r in run.stored if r.ok}


@pytest.mark.anyio
@pytest.mark.parametrize("seed", chaos_seeds())
async def test_two_vendors_behind_one_alias(
    servers: tuple[OpenAIMock, AnthropicMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    seed: int,
) -> None:
    caplog.set_level(logging.WARNING)
    run = await _two_vendors_run(servers, tmp_path, caplog, seed)
    if _answered(run) != {"openai", "anthropic"}:
        # Anthropic answers only what OpenAI failed or was slow at (a fallback, a
        # hedge it won), and which requests those are is timing's, not the seed's:
        # seed 70 (whose OpenAI script fails few requests before their first event,
        # so Anthropic mostly gets hedges, won only if it answers within 0.05 s of a
        # slow OpenAI reply) left 1 to 19 Anthropic answers run alone, and none in
        # about one run of six at load 5 to 7. The seed again, on fresh mocks, its
        # invariants checked again, must cross vendors.
        caplog.clear()
        again = tmp_path / "again"
        again.mkdir()
        with _two_vendors() as fresh:
            run = await _two_vendors_run(fresh, again, caplog, seed)
    # both vendors answered (fallbacks and hedges cross from one to the other)
    assert _answered(run) == {"openai", "anthropic"}, f"seed {seed}: {_answered(run)}"


# -- 2: relaykit-pii's outbound redaction --------------------------------------------

CARD = "4111 1111 1111 1111"


def _email(n: int) -> str:
    return f"user{n}@example.com"


@pytest.mark.anyio
@pytest.mark.parametrize("seed", chaos_seeds())
async def test_outbound_pii_never_reaches_a_server_and_placeholders_never_a_caller(
    servers: tuple[OpenAIMock, AnthropicMock],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    seed: int,
) -> None:
    """The servers echo the prompt they got (placeholders and all): a caller's whole
    answer is its own prompt echoed back, the PII restored, whatever faults came."""
    caplog.set_level(logging.WARNING)
    _arm(servers, seed)
    prompts: dict[int, str] = {}

    async def caller(client: relaykit.Client, rng: random.Random, s: Seen) -> None:
        params: dict[str, Any] = {"max_tokens": 200}
        if rng.random() < 0.3:  # asked again and again: cache hits, restored too
            n = rng.randint(0, 4)
            prompt, params["temperature"] = f"repeat {n} mail {_email(n)} card {CARD}", 0
        else:
            prompt = f"question {s.index} mail {_email(s.index)} card {CARD}"
        prompts[s.index] = prompt
        await chaos_call(client, ALIAS, rng, s, prompt, params)

    db = tmp_path / "calls.db"
    pii = {"redactors": {"pii": {"enabled": True, "outbound": True}}}
    run = await _run(_config(servers, db, **pii), servers, seed, db, caller)
    where = f"seed {seed}"
    finals = _check_common(where, run, servers, caplog, memory_budget_spent(run.client))

    values = [CARD, *(_email(n) for n in range(CALLS))]
    for mock in servers:  # the servers never saw the PII
        for request in mock.requests:
            body = request.body.decode()
            assert not [v for v in values if v in body], f"{where}: PII sent: {body}"
    for s in run.seen:
        texts = [s.response.text] if s.response is not None else []
        partial = getattr(s.error, "partial", None)
        if partial is not None:
            texts.append(partial.text)
        for text in texts:  # no caller saw a placeholder, whole or partial answer
            assert not PLACEHOLDER.search(text), f"{where}: call {s.index} saw {text!r}"
        if s.outcome == "ok" and s.complete:  # the whole echo, restored
            assert s.response.text == f"echo: {prompts[s.index]}", (
                where,
                s,
                finals[s.correlation_id],
            )
    stored = repr(run.stored) + "".join(str(r.attributes) for r in run.exporter.finished())
    assert not [v for v in values if v in stored], f"{where}: PII in records or spans"
