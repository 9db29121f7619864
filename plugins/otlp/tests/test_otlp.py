"""relaykit-otlp against an in-process OTLP/HTTP receiver that decodes the protobuf payloads."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

import relaykit
from relaykit import metrics
from relaykit.testing import FakePlugin, LoopbackServer, OpenAIMock, Reply
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse
from relaykit_otlp import OtlpExporter


class Collector:
    """Receives OTLP/HTTP exports the way a collector does, and keeps the decoded requests."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        self._lock = threading.Lock()
        self.server = LoopbackServer(self.handle)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        assert request.headers["content-type"] == "application/x-protobuf"
        with self._lock:
            if request.path == "/v1/traces":
                self.traces.append(ExportTraceServiceRequest.FromString(body))
            elif request.path == "/v1/metrics":
                self.metrics.append(ExportMetricsServiceRequest.FromString(body))
            else:
                return HttpResponse(404)
        return HttpResponse(200, {"content-type": "application/x-protobuf"}, b"")

    def spans(self) -> list[Any]:
        return [
            s
            for r in self.traces
            for rs in r.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]

    def metric(self, name: str) -> Any:
        found = [
            m
            for r in self.metrics
            for rm in r.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == name
        ]
        assert found, f"no {name} among the exported metrics"
        return found[-1]


def attrs_of(items: Any) -> dict[str, Any]:
    out = {}
    for kv in items:
        assert isinstance(kv, KeyValue)
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    with c.server:
        yield c


@pytest.mark.anyio
async def test_spans_and_metrics_reach_the_collector(collector: Collector) -> None:
    fake = FakePlugin()
    fake.script.push(
        Reply(text="ok", input_tokens=100, output_tokens=20), Reply.failure(429, "later")
    )
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "exporters": {"otlp": {"endpoint": collector.server.url, "service_name": "relaykit-test"}},
    }
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat("fake/m", "hi", max_tokens=64)
        with pytest.raises(relaykit.RateLimitError):
            await client.chat("fake/m", "hi")
    # closing the client shut the SDK down, which exported everything
    ok, failed = sorted(collector.spans(), key=lambda s: s.start_time_unix_nano)
    assert ok.name == "chat m"
    assert ok.kind == ok.SPAN_KIND_CLIENT
    a = attrs_of(ok.attributes)
    assert (
        a["gen_ai.provider.name"],
        a["gen_ai.request.max_tokens"],
        a["gen_ai.usage.input_tokens"],
    ) == (
        "fake",
        64,
        100,
    )
    assert attrs_of(failed.attributes)["error.type"] == "RateLimitError"
    resource = attrs_of(collector.traces[0].resource_spans[0].resource.attributes)
    assert resource["service.name"] == "relaykit-test"

    duration = collector.metric("gen_ai.client.operation.duration")
    assert duration.unit == "s"
    points = duration.histogram.data_points
    assert list(points[0].explicit_bounds) == list(metrics.DURATION_BUCKETS)
    assert sum(p.count for p in points) == 2
    tokens = collector.metric("gen_ai.client.token.usage").histogram.data_points
    by_type = {attrs_of(p.attributes)["gen_ai.token.type"]: p.sum for p in tokens}
    assert by_type == {"input": 100, "output": 20}
    assert list(tokens[0].explicit_bounds) == list(metrics.TOKEN_BUCKETS)
    errors = collector.metric("relaykit.errors").sum.data_points
    assert [(attrs_of(p.attributes)["error.type"], p.as_double or p.as_int) for p in errors] == [
        ("RateLimitError", 1)
    ]


@pytest.mark.anyio
async def test_the_provider_request_carries_the_exported_spans_trace_context(
    collector: Collector,
) -> None:
    key = "sk-test-0123456789abcdef0123"
    with OpenAIMock(api_key=key) as mock:
        config = {
            "storage": {"backend": "none"},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": key}},
            "exporters": {"otlp": {"endpoint": collector.server.url, "metrics": False}},
        }
        async with relaykit.Client(config) as client:
            await client.chat("openai/gpt-4o-mini", "hi")
        traceparent = mock.last_request.headers["traceparent"]
    (span,) = collector.spans()
    assert traceparent.split("-")[1:3] == [span.trace_id.hex(), span.span_id.hex()]
    assert collector.metrics == []


@pytest.mark.anyio
async def test_flush_exports_without_closing(collector: Collector) -> None:
    exporter = OtlpExporter(endpoint=collector.server.url, traces=False, export_interval=3600)
    exporter.record(
        relaykit.CallRecord(
            id="r",
            started_at=0,
            operation="chat",
            provider="p",
            model_requested="p/m",
            model="m",
            streamed=False,
        )
    )
    await exporter.flush()
    assert collector.metric("relaykit.requests").sum.data_points[0].as_double == 1
    await exporter.aclose()


def test_unknown_keys_are_config_errors() -> None:
    with pytest.raises(relaykit.ConfigError, match=r"exporters\.otlp"):
        relaykit.Client({"storage": {"backend": "none"}, "exporters": {"otlp": {"endpiont": "x"}}})
