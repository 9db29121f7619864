"""One cost everywhere: a call with prompt-cache reads and writes costs the same USD in
``response.cost``, its span, its metrics, its JSON log line, ``relaykit logs`` and
``relaykit logs --totals``.

Cross-package: Anthropic's wire format (its mock over loopback) and SQLite storage.
The CLI runs its own event loop, so each test drives the client with ``anyio.run``
on both backends rather than as an anyio test.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit.cli import main
from relaykit.metrics import observe
from relaykit.testing import Reply, TracingExporter, call_log_lines, capture_call_log
from relaykit_anthropic.testing import AnthropicMock

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-sonnet-4-5"
MILLION = 1_000_000
#: 1M prompt tokens: 300k read from the cache, 200k written (50k of them for an hour)
CACHED = Reply(
    text="ok",
    input_tokens=MILLION,
    output_tokens=100_000,
    cached_input_tokens=300_000,
    cache_write_input_tokens=200_000,
    cache_write_1h_input_tokens=50_000,
)
# Sonnet 4.5 per million: $3 input (500k), $0.30 reads, $3.75 five-minute writes
# (150k), $6 one-hour writes (50k), $15 output (100k)
EXPECTED = Decimal("1.5") + Decimal("0.09") + Decimal("0.5625") + Decimal("0.3") + Decimal("1.5")


class Telemetry(TracingExporter):
    """Records and spans, and the cost metric each record makes."""

    def metric_costs(self) -> list[float]:
        return [
            o.value
            for record in self.records
            for o in observe(record)
            if o.instrument.name == "relaykit.cost"
        ]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The JSON lines relaykit.calls writes during the test."""
    with capture_call_log() as out:
        yield out


def settings(mock: AnthropicMock, db: Path) -> dict[str, Any]:
    return {
        "storage": {"backend": "sqlite", "path": str(db)},
        "retry": {"attempts": 1, "initial_wait": 0},
        "providers": {"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
    }


def cli_json(config: Path, backend: str, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main(["--config", str(config), "--backend", backend, "logs", "--json", *argv]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_cached_call_costs_the_same_everywhere(
    tmp_path: Path, backend: str, json_log: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "logs.db"
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{db}"\n')
    telemetry = Telemetry()
    responses: list[relaykit.ChatResponse] = []

    async def calls() -> None:
        async with relaykit.Client(settings(mock, db), plugins=[telemetry]) as client:
            responses.append(await client.chat(MODEL, "the long shared prompt", max_tokens=10))
            async with client.stream(MODEL, "the long shared prompt", max_tokens=10) as s:
                async for _ in s:
                    pass
            responses.append(s.response)

    with AnthropicMock(api_key=KEY) as mock:
        mock.script.push(CACHED, CACHED)
        anyio.run(calls, backend=backend)
    telemetry.tracer_provider.shutdown()

    assert [r.cost for r in responses] == [EXPECTED, EXPECTED]
    usd = float(EXPECTED)
    spans = telemetry.finished()
    assert [s.attributes["relaykit.cost_usd"] for s in spans if s.attributes] == [usd, usd]
    assert telemetry.metric_costs() == [usd, usd]
    assert [line["cost_usd"] for line in call_log_lines(json_log)] == [usd, usd]
    # What was stored: the exact decimal, and the usage that explains it.
    stored = cli_json(config, backend, capsys)
    assert [Decimal(r["cost"]) for r in stored] == [EXPECTED, EXPECTED]
    assert {r["usage"]["cache_write_1h_input_tokens"] for r in stored} == {50_000}
    (total,) = cli_json(config, backend, capsys, "--totals")
    assert Decimal(total["cost"]) == 2 * EXPECTED
    assert total["usage"]["cache_write_input_tokens"] == 400_000


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_broken_stream_costs_what_had_arrived_everywhere(
    tmp_path: Path, backend: str, json_log: io.StringIO
) -> None:
    # Anthropic reports the prompt's tokens, cache writes included, in message_start:
    # a stream cut after some text has already cost them.
    telemetry = Telemetry()
    failures: list[relaykit.StreamError] = []

    async def call() -> None:
        async with relaykit.Client(settings(mock, tmp_path / "logs.db"), plugins=[telemetry]) as c:
            with pytest.raises(relaykit.StreamError) as info:
                async with c.stream(MODEL, "the long shared prompt", max_tokens=10) as s:
                    async for _ in s:
                        pass
            failures.append(info.value)

    with AnthropicMock(api_key=KEY) as mock:
        mock.script.push(
            Reply(
                text="cut short",
                input_tokens=MILLION,
                cache_write_input_tokens=MILLION,
                stream_fault="drop",
            )
        )
        anyio.run(call, backend=backend)
    telemetry.tracer_provider.shutdown()

    (record,) = telemetry.records
    assert not record.ok
    assert record.usage.cache_write_input_tokens == MILLION
    # 1M five-minute writes at $3.75; the output estimated at a token per four characters
    # that arrived (billed_usage.so_far: "cut short" is 3 tokens, not message_start's
    # placeholder 1), at $15 per million
    assert record.cost == Decimal("3.75") + Decimal("0.000045")
    usd = float(record.cost)
    (span,) = telemetry.finished()
    a = dict(span.attributes or {})
    assert (a["error.type"], a["relaykit.cost_usd"]) == ("StreamError", usd)
    assert a["gen_ai.usage.cache_creation.input_tokens"] == MILLION
    (line,) = call_log_lines(json_log)
    assert (line["stage"], line["error_type"], line["cost_usd"]) == ("failed", "StreamError", usd)
    assert line["cache_write_input_tokens"] == MILLION
    assert failures[0].partial is not None


class CallersBug(Exception):
    pass


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_stream_the_caller_left_costs_what_had_arrived_everywhere(
    tmp_path: Path, backend: str, json_log: io.StringIO
) -> None:
    telemetry = Telemetry()

    async def call() -> None:
        async with relaykit.Client(settings(mock, tmp_path / "logs.db"), plugins=[telemetry]) as c:
            with pytest.raises(CallersBug):
                async with c.stream(MODEL, "the long shared prompt", max_tokens=10) as s:
                    async for event in s:
                        if isinstance(event, relaykit.TextDelta):
                            raise CallersBug

    with AnthropicMock(api_key=KEY) as mock:
        mock.script.push(
            Reply(
                text="first chunk, then much more",
                input_tokens=MILLION,
                cache_write_input_tokens=MILLION,
                chunk_delay=0.05,
            )
        )
        anyio.run(call, backend=backend)
    telemetry.tracer_provider.shutdown()

    (record,) = telemetry.records
    assert record.error_type == "CallerError"
    assert record.cost is not None and record.cost > Decimal("3.75")  # the writes and more
    usd = float(record.cost)
    (span,) = telemetry.finished()
    a = dict(span.attributes or {})
    assert (a["error.type"], a["relaykit.cost_usd"]) == ("CallerError", usd)
    assert a["gen_ai.usage.cache_creation.input_tokens"] == MILLION
    (line,) = call_log_lines(json_log)
    assert (line["error_type"], line["cost_usd"]) == ("CallerError", usd)
