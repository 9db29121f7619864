"""relaykit.metrics: records and gauge events become the same observations for every exporter."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

import relaykit
from relaykit import hookimpl, metrics
from relaykit.config import Config
from relaykit.gauge_events import BreakerState, QueueDepth
from relaykit.protocols import CallRecord
from relaykit.response import Usage
from relaykit.testing import FakePlugin, RecordingExporter, Reply


def record(**kw: Any) -> CallRecord:
    base: dict[str, Any] = {
        "id": "r",
        "started_at": 0.0,
        "operation": "chat",
        "provider": "openai",
        "model_requested": "openai/gpt-4o-mini",
        "model": "gpt-4o-mini",
        "streamed": False,
    }
    return CallRecord(**{**base, **kw})


def by_name(observations: list[metrics.Observation]) -> dict[str, list[metrics.Observation]]:
    out: dict[str, list[metrics.Observation]] = {}
    for o in observations:
        out.setdefault(o.instrument.name, []).append(o)
    return out


def test_bucket_boundaries_follow_the_genai_semantic_conventions() -> None:
    assert metrics.OPERATION_DURATION.buckets[0] == 0.01
    assert metrics.OPERATION_DURATION.buckets[-1] == 81.92
    assert len(metrics.OPERATION_DURATION.buckets) == 14
    assert metrics.TOKEN_USAGE.buckets == (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144,
                                            1048576, 4194304, 16777216, 67108864)  # fmt: skip


def test_a_successful_call() -> None:
    obs = by_name(
        metrics.observe(
            record(
                usage=Usage(120, 30),
                latency=0.5,
                cost=Decimal("0.0012"),
                attempts=3,
                fallbacks=1,
                streamed=True,
                time_to_first_token=0.1,
            )
        )
    )
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    assert dict(obs["relaykit.requests"][0].attributes) == base
    assert obs["gen_ai.client.operation.duration"][0].value == 0.5
    tokens = {
        dict(o.attributes)["gen_ai.token.type"]: o.value for o in obs["gen_ai.client.token.usage"]
    }
    assert tokens == {"input": 120, "output": 30}
    assert obs["gen_ai.client.operation.time_to_first_chunk"][0].value == 0.1
    assert obs["relaykit.retries"][0].value == 2
    assert obs["relaykit.fallbacks"][0].value == 1
    assert obs["relaykit.cost"][0].value == pytest.approx(0.0012)
    assert "relaykit.errors" not in obs


def test_a_failed_call_counts_an_error_by_type() -> None:
    obs = by_name(
        metrics.observe(record(error_type="RateLimitError", latency=0.2, provider="gemini"))
    )
    (error,) = obs["relaykit.errors"]
    assert dict(error.attributes)["error.type"] == "RateLimitError"
    assert dict(error.attributes)["gen_ai.provider.name"] == "gcp.gemini"
    assert (
        dict(obs["gen_ai.client.operation.duration"][0].attributes)["error.type"]
        == "RateLimitError"
    )
    assert "gen_ai.client.token.usage" not in obs


def test_gauges_and_unknown_events() -> None:
    (depth,) = metrics.observe(QueueDepth(7))
    assert (depth.instrument, depth.value) == (metrics.QUEUE_DEPTH, 7)
    (state,) = metrics.observe(BreakerState("openai", "gpt-4o", "open"))
    assert state.value == 2
    assert metrics.observe(object()) == []


class ListStorage:
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        self.records.extend(records)

    async def query_logs(self, *, limit: int = 50) -> list[CallRecord]:
        return self.records

    async def aclose(self) -> None:
        pass

    @hookimpl
    def relaykit_storage(self, name: str, config: Config) -> Any:
        return self


@pytest.mark.anyio
async def test_the_client_sends_records_with_fallbacks_and_queue_depth() -> None:
    fake, exporter = FakePlugin(), RecordingExporter()
    fake.script.push(Reply.failure(503), Reply(text="ok"))
    config = {
        "storage": {"backend": "list"},
        "retry": {"attempts": 1},
        "models": {"fast": {"targets": ["fake/a", "fake/b"]}},
    }
    async with relaykit.Client(config, plugins=[fake, exporter, ListStorage()]) as client:
        await client.chat("fast", "hi")
    breakers = [e for e in exporter.events if isinstance(e, BreakerState)]
    assert {(b.model, b.state) for b in breakers} == {("a", "closed"), ("b", "closed")}
    call, depth = [e for e in exporter.events if not isinstance(e, BreakerState)]
    assert isinstance(call, CallRecord)
    assert (call.fallbacks, call.attempts, call.model) == (
        1,
        2,
        "b",
    )
    assert isinstance(depth, QueueDepth)
