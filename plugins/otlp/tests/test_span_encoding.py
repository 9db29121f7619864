"""The lean provider encodes OTLP itself: the SDK encoder's bytes, sent as the SDK's exporter sends.

The parity test ends a varied set of lean spans (every field the SDK's path
fills, odd values, the span limits at their defaults and small) and encodes
them twice: with :class:`~relaykit_otlp.span_encoding.SpanEncoder`, and the
SDK's way (``ReadableSpan`` objects through the SDK's ``encode_spans``). The
bytes must be the same, and so must what each logged.
"""

from __future__ import annotations

import enum
import gzip
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import trace_exporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from relaykit.testing import LoopbackServer, LoopbackTLS, loopback_tls
from relaykit.testing import Request as HttpRequest
from relaykit.testing import Response as HttpResponse
from relaykit_otlp import OtlpExporter
from relaykit_otlp.lean_spans import LeanSpan, LeanTracerProvider, sampler_from_env
from relaykit_otlp.span_queue import SpanQueue, sdk_sender
from relaykit_otlp.testing import Collector, attrs_of

SMALL_LIMITS = {
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "3",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "4",
    "OTEL_SPAN_EVENT_COUNT_LIMIT": "2",
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": "1",
    "OTEL_SPAN_LINK_COUNT_LIMIT": "1",
    "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT": "1",
}


class Level(enum.IntEnum):
    """An int subclass: the SDK keeps it, its encoder writes an int."""

    HIGH = 7


class Name(str):
    """A str subclass."""


class Shown:
    """No attribute type, with its own ``__str__`` (the SDK keeps the text)."""

    def __str__(self) -> str:
        return "shown"


ODD_VALUES: dict[str, Any] = {
    "text": "héllo ✓ 𝄞",
    "empty": "",
    "long": "x" * 300,
    "zero": 0,
    "negative": -1,
    "int64 max": 2**63 - 1,
    "int64 min": -(2**63),
    "too big": 2**63,  # both encoders log it and leave it out
    # (Not a lone surrogate: the SDK's encoder leaves such a str out, ours writes
    # its escape; test_otlp's tests of text that is not valid UTF-8 hold that.)
    "float": 2.5,
    "negative zero": -0.0,
    "infinite": float("inf"),
    "tiny": 1e-300,
    "true": True,
    "false": False,
    "bytes": b"\x00\xff",
    "no bytes": b"",
    "none": None,
    "empty tuple": (),
    "strings": ("a", "b"),
    "mixed plain": (1, True, None, 2.5, b"x", "s"),
    "list": ["copied"],
    "big in a list": [1, 2**64],  # the whole value is left out
    "int enum": Level.HIGH,
    "str subclass": Name("named"),
    "mapping": {"k": "v", "seq": [1, 2], "inner": {"x": None}},
    "object": object(),
    "shown": Shown(),
}


def varied(provider: LeanTracerProvider) -> None:
    """Spans using every field the SDK's path fills, from three scopes, interleaved."""
    relaykit = provider.get_tracer("relaykit", "1.0")
    app = provider.get_tracer("app", None, "https://scope-schema", {"team": "x", "n": 3})
    nameless = provider.get_tracer("")
    remote = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("k", "v"), ("b", "2")]))
    local = SpanContext(0x123, 0x456, False)

    odd = relaykit.start_span(
        "odd ✓",
        kind=SpanKind.CLIENT,
        attributes={"first": 1},
        links=[Link(remote, {"why": "batch", "n": 1}), Link(local), Link(INVALID_SPAN_CONTEXT)],
    )
    odd.set_attributes(ODD_VALUES)
    for key, value in list(ODD_VALUES.items())[:5]:
        odd.set_attribute(f"again {key}", value)
    odd.add_event("plain", {"k": "v", "seq": ["s"], "n": 2**63})
    odd.add_event("mixed", {"k": Shown(), "long": "y" * 50})  # type: ignore[dict-item]  # on purpose
    odd.add_event("", timestamp=0)
    odd.add_event("bare")
    odd.add_link(INVALID_SPAN_CONTEXT, {"only": "attributes"})
    odd.set_status(Status(StatusCode.ERROR, "bad ✗"))

    under_remote = app.start_span(
        "under a remote parent",
        context=trace.set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.SERVER,
    )
    with trace.use_span(odd, end_on_exit=True):
        child = relaykit.start_span("child", kind=SpanKind.PRODUCER)
        child.record_exception(ValueError("boom"), {"extra": 1})
        child.set_status(StatusCode.OK)
        child.end()
    under_remote.end()
    for kind in SpanKind:
        nameless.start_span(f"kind {kind.name}", kind=kind).end()
    crowded = app.start_span("crowded", kind=SpanKind.CONSUMER)
    crowded.set_attributes({f"k{i}": i for i in range(200)})  # past the default 128
    for i in range(130):
        crowded.add_event(f"e{i}", {"i": i})
        crowded.add_link(SpanContext(i + 1, i + 1, False), {"i": i})
    crowded.set_status(StatusCode.ERROR)
    crowded.end()
    relaykit.start_span("at the epoch", start_time=0).end(0)
    # Values a cache keyed on equality alone could confuse with the odd span's.
    again: dict[str, bool | int | float | str]
    again = {"negative zero": 0.0, "zero": False, "true": 1, "float": 2, "text": "héllo"}
    same = relaykit.start_span("equal, not the same", attributes=again)
    same.set_attributes({"list": ("copied",), "strings": ("a",), "mixed plain": (1,)})
    same.add_event("the same pairs in an event", {"text": "héllo", "list": ["copied"]})
    same.add_link(local, {"text": "héllo"})
    same.end()
    relaykit.start_span("", kind=SpanKind.INTERNAL).end()
    # Keys the SDK refuses beside keys the encoder has seen (and keeps encoded):
    # set in one call, they stay as they are until the export bounds them.
    refused: dict[Any, Any] = {"": "empty", "text": "héllo ✓ 𝄞", 7: "not a str", "first": 1}
    with_refused = relaykit.start_span("refused keys", attributes={"first": 1})
    with_refused.set_attributes(refused)
    with_refused.end()


@pytest.mark.parametrize("limits", [{}, SMALL_LIMITS], ids=["default limits", "small limits"])
def test_the_encoder_writes_the_bytes_the_sdks_encoder_writes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, limits: dict[str, str]
) -> None:
    for name, value in limits.items():
        monkeypatch.setenv(name, value)
    resource = Resource({"service.name": "parity", "seq": (1, 2)}, "https://resource-schema")
    queue = SpanQueue(InMemorySpanExporter(), resource, schedule_delay_millis=3_600_000)
    ended: list[LeanSpan] = []
    monkeypatch.setattr(queue, "put", ended.append)
    sampler = sampler_from_env()
    assert sampler is not None
    varied(LeanTracerProvider(queue, sampler))
    queue.shutdown()

    logged: dict[str, list[tuple[str, str]]] = {}
    encoded: dict[str, bytes] = {}
    encoders: dict[str, Callable[[], bytes]] = {
        "sdk": lambda: encode_spans([queue.readable(s) for s in ended]).SerializeToString(),
        "ours": lambda: queue.encoder.encode(ended),
    }
    for way, encode in encoders.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            encoded[way] = encode()
        logged[way] = sorted((r.name, r.getMessage()) for r in caplog.records)

    ours = ExportTraceServiceRequest.FromString(encoded["ours"])
    assert ours == ExportTraceServiceRequest.FromString(encoded["sdk"])
    assert encoded["ours"] == encoded["sdk"]
    assert logged["ours"] == logged["sdk"]
    refused = sum("Failed to encode key" in m for _, m in logged["ours"])
    assert refused == (0 if limits else 3)  # small limits push the odd values out first

    # Not vacuous: the features are there.
    (resource_spans,) = ours.resource_spans
    assert resource_spans.schema_url == "https://resource-schema"
    assert attrs_of(resource_spans.resource.attributes)["service.name"] == "parity"
    scopes = [(s.scope.name, s.scope.version, s.schema_url) for s in resource_spans.scope_spans]
    assert scopes == [("relaykit", "1.0", ""), ("app", "", "https://scope-schema"), ("", "", "")]
    assert len(resource_spans.scope_spans[1].scope.attributes) == 2
    spans = {s.name: s for ss in resource_spans.scope_spans for s in ss.spans}
    assert len(spans) == 13
    odd, child, remote = spans["odd ✓"], spans["child"], spans["under a remote parent"]
    assert child.parent_span_id == odd.span_id and child.trace_id == odd.trace_id
    assert remote.parent_span_id.hex() == "0000000000000def" and remote.trace_state == "k=v,b=2"
    assert (odd.flags, remote.flags) == (0x100, 0x300)
    assert odd.status.code == 2 and odd.status.message == "bad ✗"
    assert child.events[0].name == "exception" and child.status.code == 1
    assert odd.events and odd.links
    crowded = spans["crowded"]
    if limits:
        assert attrs_of(odd.attributes)["again long"] == "xxxx"
        assert crowded.dropped_events_count == 128 and crowded.dropped_links_count == 129
        assert crowded.dropped_attributes_count == 197
        assert odd.events[-1].dropped_attributes_count == 0
    else:
        assert len(attrs_of(odd.attributes)) > 20
        assert crowded.dropped_events_count == 2 and crowded.dropped_links_count == 2
        assert crowded.dropped_attributes_count == 72


@pytest.mark.anyio
async def test_the_lean_path_sends_without_the_sdks_spans_or_encoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(*args: Any) -> Any:
        raise AssertionError("the SDK's span conversion or encoder was used")

    monkeypatch.setattr(SpanQueue, "readable", refused)
    monkeypatch.setattr(trace_exporter, "encode_spans", refused)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,team=core")
    with Collector() as collector:
        exporter = OtlpExporter(endpoint=collector.url, metrics_enabled=False)
        provider = exporter.tracer_provider
        assert isinstance(provider, LeanTracerProvider)
        provider.get_tracer("relaykit").start_span("sent").end()
        await exporter.aclose()
        ((request,),) = [collector.traces]
    (resource_spans,) = request.resource_spans
    assert [s.name for s in resource_spans.scope_spans[0].spans] == ["sent"]
    resource = attrs_of(resource_spans.resource.attributes)
    assert resource["service.name"] == "relaykit" and resource["team"] == "core"


def test_another_exporter_gets_the_sdks_readable_spans() -> None:
    spans = InMemorySpanExporter()
    assert sdk_sender(spans) is None
    sampler = sampler_from_env()
    assert sampler is not None
    provider = LeanTracerProvider(SpanQueue(spans, Resource.create({})), sampler)
    provider.get_tracer("relaykit").start_span("kept").end()
    provider.shutdown()
    (span,) = spans.get_finished_spans()
    assert isinstance(span, ReadableSpan) and span.name == "kept"


@pytest.fixture(scope="module")
def certs() -> LoopbackTLS:
    return loopback_tls()


@pytest.mark.anyio
@pytest.mark.parametrize("tracer", ["sdk", "lean"])
async def test_spans_are_sent_with_the_sdk_exporters_settings_and_retries(
    monkeypatch: pytest.MonkeyPatch, certs: LoopbackTLS, tmp_path: Path, tracer: str
) -> None:
    """Headers from the config; compression and the CA file from OTEL_EXPORTER_OTLP_TRACES_*;
    503 and 429 answers retried after their Retry-After, as the SDK's exporter does."""
    answers = [503, 429, 200]
    received: list[tuple[dict[str, str], ExportTraceServiceRequest]] = []

    async def handle(request: HttpRequest) -> HttpResponse:
        body = ExportTraceServiceRequest.FromString(gzip.decompress(request.body))
        received.append((request.headers, body))
        return HttpResponse(answers.pop(0), {"retry-after": "0"})

    # requests lets these override the session's CA file (the SDK's exporter sets that).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", str(certs.write_ca(tmp_path / "ca.pem"))
    )
    with LoopbackServer(handle, tls=certs.server_context) as server:
        assert server.url.startswith("https://")
        exporter = OtlpExporter(
            endpoint=server.url,
            headers={"x-collector-token": "t0k3n"},
            metrics_enabled=False,
            tracer=tracer,
        )
        assert exporter.tracer_provider is not None
        exporter.tracer_provider.get_tracer("relaykit").start_span("retried").end()
        await exporter.aclose()
    assert answers == []
    assert len(received) == 3
    for headers, body in received:
        assert headers["x-collector-token"] == "t0k3n"
        assert headers["content-encoding"] == "gzip"
        assert headers["content-type"] == "application/x-protobuf"
        assert body == received[0][1]
    spans = [s for rs in received[0][1].resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert [s.name for s in spans] == ["retried"]


def test_spans_of_two_tracers_of_one_scope_are_encoded_as_the_sdk_encodes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The encoder groups spans by the tracer that started them; two tracers of one
    scope (two providers over one queue) take its other way, by scope, in the spans'
    own order: the SDK's bytes either way."""
    queue = SpanQueue(InMemorySpanExporter(), Resource({}), schedule_delay_millis=3_600_000)
    ended: list[LeanSpan] = []
    monkeypatch.setattr(queue, "put", ended.append)
    sampler = sampler_from_env()
    assert sampler is not None
    first, second = (LeanTracerProvider(queue, sampler).get_tracer("app") for _ in range(2))
    assert first is not second
    for i, tracer in enumerate([first, second, first, second]):
        tracer.start_span(f"span {i}", attributes={"i": i}).end()
    queue.shutdown()

    ours = queue.encoder.encode(ended)
    assert ours == encode_spans([queue.readable(s) for s in ended]).SerializeToString()
    (resource_spans,) = ExportTraceServiceRequest.FromString(ours).resource_spans
    (scope_spans,) = resource_spans.scope_spans
    assert [s.name for s in scope_spans.spans] == [f"span {i}" for i in range(4)]
