"""relaykit-otlp against an in-process OTLP/HTTP receiver that decodes the protobuf payloads
(:class:`relaykit_otlp.testing.Collector`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

import relaykit
from relaykit import hookimpl, metrics
from relaykit.gauge_events import BreakerState, QueueDepth
from relaykit.testing import FakePlugin, MemoryStorage, Reply, bare_record
from relaykit_otlp import OtlpExporter
from relaykit_otlp.lean_spans import LeanTracerProvider
from relaykit_otlp.testing import Collector, attrs_of


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as c:
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
async def test_a_model_name_that_is_not_valid_utf8_costs_no_other_spans(
    collector: Collector,
) -> None:
    # A lone surrogate in a caller's model id is in the span's name, which the
    # encoder wrote with a strict str.encode(): the whole batch (up to 512 spans,
    # every other call's) failed to encode and was never sent. Its metrics lost
    # the model attribute (the SDK's encoder leaves out what it cannot encode).
    # A vendor's error message (the span's status) may hold one too.
    fake = FakePlugin()
    fake.script.push(Reply(text="ok"), Reply(text="ok"), Reply.failure(400, "bad \ud83d"))
    config = {
        "storage": {"backend": "none"},
        "exporters": {"otlp": {"endpoint": collector.url}},
    }
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat("fake/half-\ud83d", "hi")
        await client.chat("fake/m", "hi")
        with pytest.raises(relaykit.InvalidRequestError):
            await client.chat("fake/m", "hi")
    spans = sorted(collector.spans(), key=lambda s: s.start_time_unix_nano)
    assert [s.name for s in spans] == ["chat half-\\ud83d", "chat m", "chat m"]
    assert spans[2].status.message.endswith("bad \\ud83d")
    requests = collector.metric("relaykit.requests").sum.data_points
    assert sorted(attrs_of(p.attributes)["gen_ai.request.model"] for p in requests) == [
        "half-\\ud83d",
        "m",
    ]
    assert sorted(p.as_double for p in requests) == [1, 2]


@pytest.mark.anyio
async def test_a_long_model_name_is_cut_in_the_span_name(collector: Collector) -> None:
    # A gateway passes on the model its clients name: a 1 MB name made a 1 MB
    # span name on every span of that model (metric labels were cut at 256).
    config = {"storage": {"backend": "none"}, "exporters": {"otlp": {"endpoint": collector.url}}}
    long = "x" * 1_000_000
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat(f"fake/{long}", "hi")
        await client.embed(f"fake/{long}", ["hi"])
    names = sorted(s.name for s in collector.spans())
    assert names == ["chat " + "x" * 255 + "…", "embeddings " + "x" * 255 + "…"]


@pytest.mark.anyio
async def test_estimated_usage_is_exported_apart_from_the_token_usage_histogram(
    collector: Collector,
) -> None:
    # gen_ai.client.token.usage holds the vendor's counts only (the conventions
    # forbid estimates there); relaykit's estimates go to relaykit.usage.estimated_tokens.
    exporter = OtlpExporter(endpoint=collector.url, traces=False, export_interval=3600)
    exporter.record(bare_record(usage=relaykit.Usage(100, 20)))
    exporter.record(bare_record(usage=relaykit.Usage(1000, 200), usage_estimated=True))
    await exporter.aclose()
    tokens = collector.metric("gen_ai.client.token.usage").histogram.data_points
    by_type = {attrs_of(p.attributes)["gen_ai.token.type"]: (p.count, p.sum) for p in tokens}
    assert by_type == {"input": (1, 100), "output": (1, 20)}
    estimated = collector.metric("relaykit.usage.estimated_tokens").sum.data_points
    counted = {attrs_of(p.attributes)["gen_ai.token.type"]: p.as_double for p in estimated}
    assert counted == {"input": 1000, "output": 200}


@pytest.mark.anyio
async def test_the_provider_name_is_the_conventions_and_a_named_table_says_its_name(
    collector: Collector,
) -> None:
    # [providers.work] type = "anthropic" reported gen_ai.provider.name "work": the
    # conventions want the vendor's well-known name. The table's name stays on the
    # span and the metrics as relaykit.provider, so two tables can be told apart.
    config = {
        "storage": {"backend": "none"},
        "providers": {"work": {"type": "fake"}},
        "exporters": {"otlp": {"endpoint": collector.url}},
    }
    plugin = FakePlugin(genai_provider_name="anthropic")
    async with relaykit.Client(config, plugins=[plugin]) as client:
        await client.chat("work/m", "hi")
        await client.chat("fake/m", "hi")
    spans = sorted(collector.spans(), key=lambda s: s.start_time_unix_nano)
    named, plain = (attrs_of(s.attributes) for s in spans)
    assert (named["gen_ai.provider.name"], named["relaykit.provider"]) == ("anthropic", "work")
    assert plain["gen_ai.provider.name"] == "anthropic" and "relaykit.provider" not in plain
    requests = collector.metric("relaykit.requests").sum.data_points
    providers = sorted(
        (a["gen_ai.provider.name"], a.get("relaykit.provider", ""))
        for a in (attrs_of(p.attributes) for p in requests)
    )
    assert providers == [("anthropic", ""), ("anthropic", "work")]


@pytest.mark.anyio
async def test_captured_content_with_a_lone_surrogate_stays_on_the_span(
    collector: Collector,
) -> None:
    # Half an emoji in a prompt (text cut at a UTF-16 boundary): the SDK's encoder
    # cannot write the captured messages as UTF-8, and left the whole attribute out.
    # Written with the surrogate's \\u escape, the JSON still decodes to the prompt.
    config = {
        "storage": {"backend": "none"},
        "telemetry": {"capture_content": True},
        "exporters": {"otlp": {"endpoint": collector.url, "metrics": False}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat("fake/m", "cut \ud83d here ✓")
    (span,) = collector.spans()
    captured = attrs_of(span.attributes)["gen_ai.input.messages"]
    import json

    assert json.loads(captured)[0]["parts"][0]["content"] == "cut \ud83d here ✓"


@pytest.mark.anyio
async def test_a_key_in_the_endpoints_query_stays_out_of_the_sdks_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The SDK's exporter logs each failed attempt with its HTTP client's error,
    # which quotes the URL with its query: a collector's key sent as ?api_key=
    # reached the application's logs on every export while the collector was down.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connections are refused
    key = "ck-" + "Zq7" * 8
    exporter = OtlpExporter(
        endpoint=f"http://127.0.0.1:{port}/?api_key={key}",
        metrics_enabled=False,
        timeout=2.5,  # time for one retry (after ~1 s), which logs the error
    )
    assert exporter.tracer_provider is not None
    exporter.tracer_provider.get_tracer("t").start_span("s").end()
    with caplog.at_level(logging.WARNING):
        await exporter.flush()
        await exporter.aclose()
    said = [r.getMessage() for r in caplog.records]
    assert any("/v1/traces?api_key=[REDACTED]" in line for line in said), said
    assert not [line for line in said if key in line]


@pytest.mark.anyio
async def test_the_standard_otel_variables_apply_where_the_config_says_nothing(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A platform sets OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME for every
    # process. The plugin passed its own defaults (127.0.0.1:4318, "relaykit") as if
    # configured: spans went to a port where nothing listened, and every app was
    # named "relaykit".
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    config: dict[str, Any] = {"storage": {"backend": "none"}, "exporters": {"otlp": {}}}
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat("fake/m", "hi")
    assert [s.name for s in collector.spans()] == ["chat m"]
    resource = attrs_of(collector.traces[0].resource_spans[0].resource.attributes)
    assert resource["service.name"] == "checkout"
    assert collector.metric("relaykit.requests")
    # What the config says wins over the variables.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    config["exporters"]["otlp"] = {"endpoint": collector.url, "service_name": "shop"}
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        await client.chat("fake/m", "hi")
    resource = attrs_of(collector.traces[-1].resource_spans[0].resource.attributes)
    assert (len(collector.spans()), resource["service.name"]) == (2, "shop")


def test_without_config_or_variables_the_defaults_are_relaykits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    exporter = OtlpExporter(metrics_enabled=False)
    try:
        assert exporter._senders[0]._endpoint == "http://127.0.0.1:4318/v1/traces"
        assert exporter.resource.attributes["service.name"] == "relaykit"
    finally:
        import anyio

        anyio.run(exporter.aclose)


@pytest.mark.anyio
async def test_traces_alone_take_no_call_records(collector: Collector) -> None:
    # With metrics off the exporter reads no record: the client builds none for it.
    config = {
        "storage": {"backend": "none"},
        "exporters": {"otlp": {"endpoint": collector.server.url, "metrics": False}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin()]) as client:
        (exporter,) = client.exporters
        assert isinstance(exporter, OtlpExporter) and exporter.needs_records is False
        assert not client._outcomes.recording  # private: no record is built per call
        await client.chat("fake/m", "hi")
    assert [s.name for s in collector.spans()] == ["chat m"]
    with_metrics = OtlpExporter(endpoint=collector.server.url, traces=False)
    assert with_metrics.needs_records is True
    await with_metrics.aclose()


@pytest.mark.anyio
async def test_flush_exports_without_closing(collector: Collector) -> None:
    exporter = OtlpExporter(endpoint=collector.server.url, traces=False, export_interval=3600)
    exporter.record(bare_record())
    await exporter.flush()
    assert collector.metric("relaykit.requests").sum.data_points[0].as_double == 1
    await exporter.aclose()


def test_unknown_keys_are_config_errors() -> None:
    with pytest.raises(relaykit.ConfigError, match=r"exporters\.otlp"):
        relaykit.Client({"storage": {"backend": "none"}, "exporters": {"otlp": {"endpiont": "x"}}})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("timeout", "soon"),
        ("timeout", None),
        ("timeout", 0),
        ("export_interval", 0),
        ("export_interval", -1),
        ("export_interval", float("inf")),
    ],
)
def test_seconds_of_the_wrong_kind_are_a_config_error_naming_the_key(
    key: str, value: object
) -> None:
    """timeout = "soon" raised ValueError from float(); export_interval = 0 the SDK's
    ValueError, and inf an OverflowError in the SDK's export thread."""
    with pytest.raises(relaykit.ConfigError) as info:
        relaykit.Client({"storage": {"backend": "none"}, "exporters": {"otlp": {key: value}}})
    assert f"exporters.otlp.{key} must be a number of seconds > 0" in str(info.value)


# What each exported metric holds, decoded: (kind, unit, description, temporality,
# monotonic) and its points by attributes. A histogram point is (count, sum,
# bucket counts, min, max, exemplars); a sum or gauge point is its value.
def exported(request: ExportMetricsServiceRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rm in request.resource_metrics:
        assert len(rm.scope_metrics) == 1  # the SDK's gauges and the call metrics together
        for sm in rm.scope_metrics:
            assert (sm.scope.name, sm.scope.version) == ("relaykit", relaykit.__version__)
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind)
                points: dict[frozenset[tuple[str, Any]], Any] = {}
                for p in data.data_points:
                    key = frozenset(attrs_of(p.attributes).items())
                    assert key not in points
                    if kind == "histogram":
                        assert p.time_unix_nano > p.start_time_unix_nano > 0
                        assert p.count == sum(p.bucket_counts)
                        points[key] = (
                            p.count,
                            p.sum,
                            list(p.bucket_counts),
                            p.min,
                            p.max,
                            len(p.exemplars),
                        )
                    else:
                        assert p.WhichOneof("value") == "as_double"
                        points[key] = p.as_double
                temporality = getattr(data, "aggregation_temporality", None)
                monotonic = getattr(data, "is_monotonic", None)
                assert m.name not in out
                out[m.name] = ((kind, m.unit, m.description, temporality, monotonic), points)
    return out


def a(**attributes: Any) -> frozenset[tuple[str, Any]]:
    return frozenset(attributes.items())


def call(**fields: Any) -> relaykit.CallRecord:
    defaults: dict[str, Any] = {
        "id": "r",
        "started_at": 0.0,
        "operation": "chat",
        "provider": "openai",
        "model_requested": "openai/gpt-4o-mini",
        "model": "gpt-4o-mini",
        "streamed": False,
    }
    return relaykit.CallRecord(**(defaults | fields))


CUMULATIVE, DELTA = 2, 1
OPENAI = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
}
GEMINI = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "gcp.gemini",
    "gen_ai.request.model": "gemini-2.5-flash",
}


def buckets(n: int, **at: int) -> list[int]:
    counts = [0] * n
    for index, count in at.items():
        counts[int(index[1:])] = count
    return counts


def describe(instrument: metrics.Instrument, temporality: int | None) -> tuple[Any, ...]:
    kind = {"counter": "sum"}.get(instrument.kind, instrument.kind)
    monotonic = True if kind == "sum" else None
    if kind == "gauge":
        temporality = None
    return (kind, instrument.unit, instrument.description, temporality, monotonic)


MIX = [
    # a success on a bucket boundary (0.32 s, 4 and 1 tokens: "le" buckets)
    call(latency=0.32, usage=relaykit.Usage(4, 1), cost=Decimal("0.25")),
    # a stream with its time to first chunk
    call(
        streamed=True,
        latency=1.5,
        time_to_first_token=0.0625,
        usage=relaykit.Usage(100, 20),
        cost=Decimal("0.5"),
    ),
    # a cache hit, no cost, no tokens
    call(latency=0.001, cache_hit=True),
    # a failure after retries, then one without a latency
    call(latency=0.5, attempts=3, error_type="RateLimitError"),
    call(error_type="ConfigError"),
    # another provider's model through a fallback, slower than the last bound
    call(
        provider="gemini",
        model="gemini-2.5-flash",
        model_requested="fast",
        latency=100.0,
        attempts=2,
        fallbacks=1,
        usage=relaykit.Usage(70_000_000, 5),
        cost=Decimal("0.125"),
    ),
]


def expected_for_mix(temporality: int) -> dict[str, Any]:
    d, t = len(metrics.DURATION_BUCKETS) + 1, len(metrics.TOKEN_BUCKETS) + 1
    limited = OPENAI | {"error.type": "RateLimitError"}
    return {
        "gen_ai.client.operation.duration": (
            describe(metrics.OPERATION_DURATION, temporality),
            {
                a(**OPENAI): (3, 0.32 + 1.5 + 0.001, buckets(d, b0=1, b5=1, b8=1), 0.001, 1.5, 0),
                a(**limited): (1, 0.5, buckets(d, b6=1), 0.5, 0.5, 0),
                a(**GEMINI): (1, 100.0, buckets(d, b14=1), 100.0, 100.0, 0),
            },
        ),
        "gen_ai.client.token.usage": (
            describe(metrics.TOKEN_USAGE, temporality),
            {
                a(**OPENAI, **{"gen_ai.token.type": "input"}): (
                    2,
                    104.0,
                    buckets(t, b1=1, b4=1),
                    4.0,
                    100.0,
                    0,
                ),
                a(**OPENAI, **{"gen_ai.token.type": "output"}): (
                    2,
                    21.0,
                    buckets(t, b0=1, b3=1),
                    1.0,
                    20.0,
                    0,
                ),
                a(**GEMINI, **{"gen_ai.token.type": "input"}): (
                    1,
                    70_000_000.0,
                    buckets(t, b14=1),
                    70_000_000.0,
                    70_000_000.0,
                    0,
                ),
                a(**GEMINI, **{"gen_ai.token.type": "output"}): (
                    1,
                    5.0,
                    buckets(t, b2=1),
                    5.0,
                    5.0,
                    0,
                ),
            },
        ),
        "gen_ai.client.operation.time_to_first_chunk": (
            describe(metrics.TIME_TO_FIRST_CHUNK, temporality),
            {a(**OPENAI): (1, 0.0625, buckets(d, b3=1), 0.0625, 0.0625, 0)},
        ),
        "relaykit.requests": (
            describe(metrics.REQUESTS, temporality),
            {a(**OPENAI): 5.0, a(**GEMINI): 1.0},
        ),
        "relaykit.errors": (
            describe(metrics.ERRORS, temporality),
            {a(**limited): 1.0, a(**OPENAI, **{"error.type": "ConfigError"}): 1.0},
        ),
        "relaykit.retries": (
            describe(metrics.RETRIES, temporality),
            {a(**OPENAI): 2.0, a(**GEMINI): 1.0},
        ),
        "relaykit.fallbacks": (describe(metrics.FALLBACKS, temporality), {a(**GEMINI): 1.0}),
        "relaykit.cache.hits": (describe(metrics.CACHE_HITS, temporality), {a(**OPENAI): 1.0}),
        "relaykit.cost": (
            describe(metrics.COST, temporality),
            {a(**OPENAI): 0.75, a(**GEMINI): 0.125},
        ),
        "relaykit.storage.queue_depth": (describe(metrics.QUEUE_DEPTH, None), {a(): 3.0}),
        "relaykit.breaker.state": (
            describe(metrics.BREAKER_STATE, None),
            {a(**{"gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": "g"}): 2.0},
        ),
    }


@pytest.mark.anyio
async def test_every_exported_value_of_a_mix_of_calls(collector: Collector) -> None:
    exporter = OtlpExporter(endpoint=collector.server.url, traces=False, export_interval=3600)
    for record in MIX:
        exporter.record(record)
    exporter.record(QueueDepth(3))
    exporter.record(BreakerState("gemini", "g", "open"))
    await exporter.flush()
    (first,) = collector.metrics
    assert exported(first) == expected_for_mix(CUMULATIVE)
    # cumulative: the next export holds everything since the start, from the same start
    exporter.record(call(latency=0.001, cache_hit=True))
    await exporter.flush()
    second = exported(collector.metrics[-1])
    assert second["relaykit.requests"][1][a(**OPENAI)] == 6.0
    assert second["relaykit.cache.hits"][1][a(**OPENAI)] == 2.0
    assert second["gen_ai.client.operation.duration"][1][a(**OPENAI)][:3] == (
        4,
        0.32 + 1.5 + 0.001 + 0.001,
        buckets(len(metrics.DURATION_BUCKETS) + 1, b0=2, b5=1, b8=1),
    )
    assert second["relaykit.fallbacks"] == first_of(first)["relaykit.fallbacks"]
    for name in ("gen_ai.client.operation.duration", "relaykit.requests"):
        starts = [
            {p.start_time_unix_nano for p in points(request, name)} for request in collector.metrics
        ]
        assert starts[0] == starts[1]
    await exporter.aclose()


def first_of(request: ExportMetricsServiceRequest) -> dict[str, Any]:
    return exported(request)


def points(request: ExportMetricsServiceRequest, name: str) -> list[Any]:
    return [
        p
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in getattr(m, m.WhichOneof("data")).data_points
    ]


@pytest.mark.anyio
async def test_delta_temporality_exports_what_changed_since_the_last_export(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    exporter = OtlpExporter(endpoint=collector.server.url, traces=False, export_interval=3600)
    for record in MIX:
        exporter.record(record)
    exporter.record(QueueDepth(3))
    exporter.record(BreakerState("gemini", "g", "open"))
    await exporter.flush()
    assert exported(collector.metrics[0]) == expected_for_mix(DELTA)
    exporter.record(call(latency=0.001, usage=relaykit.Usage(2, 3)))
    await exporter.flush()
    second = exported(collector.metrics[-1])
    d, t = len(metrics.DURATION_BUCKETS) + 1, len(metrics.TOKEN_BUCKETS) + 1
    assert {name: points for name, (_, points) in second.items()} == {
        "gen_ai.client.operation.duration": {
            a(**OPENAI): (1, 0.001, buckets(d, b0=1), 0.001, 0.001, 0)
        },
        "gen_ai.client.token.usage": {
            a(**OPENAI, **{"gen_ai.token.type": "input"}): (1, 2.0, buckets(t, b1=1), 2.0, 2.0, 0),
            a(**OPENAI, **{"gen_ai.token.type": "output"}): (1, 3.0, buckets(t, b1=1), 3.0, 3.0, 0),
        },
        "relaykit.requests": {a(**OPENAI): 1.0},
        # gauges keep their last value
        "relaykit.storage.queue_depth": {a(): 3.0},
        "relaykit.breaker.state": {
            a(**{"gen_ai.provider.name": "gcp.gemini", "gen_ai.request.model": "g"}): 2.0
        },
    }
    starts = {p.start_time_unix_nano for p in points(collector.metrics[-1], "relaykit.requests")}
    ends = {p.time_unix_nano for p in points(collector.metrics[0], "relaykit.requests")}
    assert starts == ends
    await exporter.aclose()


@pytest.mark.anyio
async def test_a_clients_calls_are_counted_exactly(collector: Collector) -> None:
    fake = FakePlugin()
    fake.script.push(
        Reply(text="ok", input_tokens=100, output_tokens=20),
        Reply.failure(503, "busy"),
        Reply(text="ok", input_tokens=5, output_tokens=1),
        Reply.failure(404, "no such model"),
        Reply(text="streamed", input_tokens=30, output_tokens=70),
        Reply(text="cached", input_tokens=8, output_tokens=2),
    )
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 2, "initial_wait": 0},
        "cache": {"enabled": True},
        "providers": {"fake": {"base_url": "http://llm.internal:8443/v1"}},
        "exporters": {"otlp": {"endpoint": collector.server.url, "export_interval": 3600}},
    }
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat("fake/m", "one")
        await client.chat("fake/m", "two")  # 503, then retried
        with pytest.raises(relaykit.NotFoundError):
            await client.chat("fake/m", "three")
        async with client.stream("fake/m", "four") as s:
            async for _ in s:
                pass
        await client.chat("fake/m", "five", temperature=0)
        await client.chat("fake/m", "five", temperature=0)  # from the cache
    got = exported(collector.metrics[-1])
    fake_ = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "fake"}
    base = a(**fake_, **{"gen_ai.request.model": "m"})
    failed = a(**fake_, **{"gen_ai.request.model": "m", "error.type": "NotFoundError"})
    t = len(metrics.TOKEN_BUCKETS) + 1
    assert got["relaykit.requests"][1] == {base: 6.0}
    assert got["relaykit.errors"][1] == {failed: 1.0}
    assert got["relaykit.retries"][1] == {base: 1.0}
    assert got["relaykit.cache.hits"][1] == {base: 1.0}
    assert "relaykit.fallbacks" not in got
    # The gen_ai.client.* histograms add what the conventions recommend on them:
    # the model the provider answered with (none on the call that failed) and the
    # server, its port an int as the conventions type it.
    server = {"server.address": "llm.internal", "server.port": 8443}
    answered = {**fake_, **server, "gen_ai.request.model": "m", "gen_ai.response.model": "m"}
    durations = got["gen_ai.client.operation.duration"][1]
    assert {k: v[0] for k, v in durations.items()} == {
        a(**answered): 5,
        a(**fake_, **server, **{"gen_ai.request.model": "m", "error.type": "NotFoundError"}): 1,
    }
    assert got["gen_ai.client.operation.time_to_first_chunk"][1][a(**answered)][0] == 1
    tokens = got["gen_ai.client.token.usage"][1]
    input_ = a(**answered, **{"gen_ai.token.type": "input"})
    output = a(**answered, **{"gen_ai.token.type": "output"})
    # The cache hit adds none of the tokens the cached answer had used: the
    # provider processed none for it. Each bucket keeps the last value measured
    # inside a sampled span as its exemplar.
    assert tokens == {
        input_: (4, 143.0, buckets(t, b2=2, b3=1, b4=1), 5.0, 100.0, 2),
        output: (4, 93.0, buckets(t, b0=1, b1=1, b3=1, b4=1), 1.0, 70.0, 3),
    }


@pytest.mark.anyio
@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
async def test_attribute_sets_past_the_sdks_limit_go_to_its_overflow_series(
    collector: Collector, monkeypatch: pytest.MonkeyPatch, temporality: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", temporality)
    exporter = OtlpExporter(endpoint=collector.server.url, traces=False, export_interval=3600)
    for i in range(2003):
        exporter.record(call(model=f"m{i}", latency=0.1))
    await exporter.flush()
    overflow = a(**{"otel.metric.overflow": True})
    requests = exported(collector.metrics[-1])["relaykit.requests"][1]
    assert len(requests) == 2001
    assert requests[a(**OPENAI | {"gen_ai.request.model": "m1999"})] == 1.0
    assert requests[overflow] == 3.0
    durations = exported(collector.metrics[-1])["gen_ai.client.operation.duration"][1]
    assert durations[overflow][:3] == (3, pytest.approx(0.3), buckets(15, b4=1 + 2))
    # delta starts counting attribute sets again after each export; cumulative does not
    exporter.record(call(model="new", latency=0.1))
    await exporter.flush()
    requests = exported(collector.metrics[-1])["relaykit.requests"][1]
    if temporality == "delta":
        assert requests == {a(**OPENAI | {"gen_ai.request.model": "new"}): 1.0}
    else:
        assert len(requests) == 2001
        assert requests[overflow] == 4.0
    await exporter.aclose()


@pytest.mark.anyio
async def test_a_delta_series_first_seen_after_an_export_starts_at_that_export(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    exporter = OtlpExporter(endpoint=collector.server.url, traces=False, export_interval=3600)
    exporter.record(call(latency=0.1))
    await exporter.flush()
    exporter.record(call(model="other", latency=0.1))
    await exporter.flush()
    first, second = collector.metrics
    for name in ("relaykit.requests", "gen_ai.client.operation.duration"):
        (before,) = points(first, name)
        (after,) = points(second, name)
        assert attrs_of(after.attributes)["gen_ai.request.model"] == "other"
        assert after.start_time_unix_nano == before.time_unix_nano
    await exporter.aclose()


@pytest.mark.anyio
async def test_an_endpoint_with_a_trailing_slash_and_a_query_keeps_its_query_after_each_path(
    collector: Collector,
) -> None:
    # A collector behind a gateway may take its tenant in the query.
    exporter = OtlpExporter(endpoint=f"{collector.server.url}/?tenant=t1", export_interval=3600)
    assert exporter.tracer_provider is not None
    with exporter.tracer_provider.get_tracer("test").start_as_current_span("call"):
        exporter.record(call(latency=0.1))
    await exporter.aclose()
    assert [s.name for s in collector.spans()] == ["call"] and collector.metrics
    assert collector.queries and all(q == {"tenant": "t1"} for q in collector.queries)


@pytest.mark.anyio
async def test_measurements_inside_a_sampled_span_are_exemplars_until_the_next_export(
    collector: Collector,
) -> None:
    exporter = OtlpExporter(endpoint=collector.server.url, export_interval=3600)
    assert exporter.tracer_provider is not None
    tracer = exporter.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("call") as span:
        exporter.record(call(latency=0.1, cost=Decimal("0.5")))
        exporter.record(call(latency=0.3, cost=Decimal("0.5")))
    exporter.record(call(latency=0.2))  # outside the span: no exemplar
    await exporter.flush()
    ids = (span.get_span_context().trace_id, span.get_span_context().span_id)
    (duration,) = points(collector.metrics[-1], "gen_ai.client.operation.duration")
    # the last sampled value of each bucket: 0.1 in (0.08, 0.16], 0.3 in (0.16, 0.32]
    assert [
        (e.as_double, int.from_bytes(e.trace_id, "big"), int.from_bytes(e.span_id, "big"))
        for e in duration.exemplars
    ] == [(0.1, *ids), (0.3, *ids)]
    assert all(e.time_unix_nano > 0 and not e.filtered_attributes for e in duration.exemplars)
    for name in ("relaykit.requests", "relaykit.cost"):
        (point,) = points(collector.metrics[-1], name)
        (exemplar,) = point.exemplars
        assert exemplar.as_double in {1.0, 0.5}
        assert int.from_bytes(exemplar.trace_id, "big") == ids[0]
    exporter.record(call(latency=0.2))
    await exporter.flush()
    for name in ("gen_ai.client.operation.duration", "relaykit.requests", "relaykit.cost"):
        (point,) = points(collector.metrics[-1], name)
        assert list(point.exemplars) == []
    await exporter.aclose()


@pytest.mark.anyio
async def test_an_sdk_without_the_collect_hook_gets_the_same_values_through_its_instruments(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The summed path wraps the reader's protected collect hook; a future SDK
    # may drop it, and then every measurement goes through the SDK's instruments.
    from relaykit_otlp import exporter as exporter_module

    monkeypatch.setattr(exporter_module, "_can_extend", lambda reader: False)
    exporter = OtlpExporter(endpoint=collector.server.url, traces=False, export_interval=3600)
    assert exporter._calls is None
    for record in MIX:
        exporter.record(record)
    exporter.record(QueueDepth(3))
    exporter.record(BreakerState("gemini", "g", "open"))
    await exporter.flush()
    (first,) = collector.metrics
    assert exported(first) == expected_for_mix(CUMULATIVE)
    await exporter.aclose()


class BrokenStore:
    """``[cache] backend = "broken"``: a cache store whose every lookup and write raises."""

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        raise ConnectionError("the store is down")

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        raise ConnectionError("the store is down")

    @hookimpl
    def relaykit_response_cache(self, name: str, config: Any) -> Any:
        return self if name == "broken" else None


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["broken", "memory"])
async def test_cache_store_errors_are_exported_by_operation(
    collector: Collector, backend: str
) -> None:
    config = {
        "storage": {"backend": "none"},
        "cache": {"enabled": True, "backend": backend},
        "exporters": {"otlp": {"endpoint": collector.server.url, "traces": False}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin(), BrokenStore()]) as client:
        for i in range(2):
            await client.chat("fake/m", f"q{i}", temperature=0)
    # closing the client shut the SDK down, which exported everything
    (request,) = collector.metrics
    found = exported(request)
    if backend == "memory":
        assert "relaykit.cache.errors" not in found
        fake = {"gen_ai.provider.name": "fake", "gen_ai.request.model": "m"}
        assert found["relaykit.requests"][1] == {a(**{**OPENAI, **fake}): 2.0}
        return
    assert found["relaykit.cache.errors"] == (
        describe(metrics.CACHE_ERRORS, CUMULATIVE),
        {
            a(**{"relaykit.cache.operation": "get"}): 2.0,
            a(**{"relaykit.cache.operation": "put"}): 2.0,
        },
    )


class DownStorage(MemoryStorage):
    """A storage whose every write fails as a refused connection does."""

    async def write_batch(self, records: Sequence[relaykit.CallRecord]) -> None:
        raise relaykit.StorageUnavailableError("connection refused")


@pytest.mark.anyio
async def test_a_storage_outage_is_exported(collector: Collector, tmp_path: Path) -> None:
    config = {
        "storage": {
            "backend": "memory",
            "retry_for": 0,  # spill at the first failure
            "close_timeout": 1,
            "spill_path": str(tmp_path / "spill.jsonl"),
        },
        "exporters": {"otlp": {"endpoint": collector.server.url, "traces": False}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin(), DownStorage().plugin()]) as client:
        await client.chat("fake/m", "hi")
    # closing the client spilled the record, then shut the SDK down, which exported everything
    (request,) = collector.metrics
    found = exported(request)
    assert found["relaykit.storage.write_failures"] == (
        describe(metrics.STORAGE_WRITE_FAILURES, CUMULATIVE),
        {a(**{"error.type": "StorageUnavailableError"}): 1.0},
    )
    assert found["relaykit.storage.records_spilled"] == (
        describe(metrics.RECORDS_SPILLED, CUMULATIVE),
        {a(**{"relaykit.storage.reason": "unavailable"}): 1.0},
    )
    assert found["relaykit.storage.failing"] == (
        describe(metrics.STORAGE_FAILING, None),
        {a(): 1.0},
    )
    assert "relaykit.storage.records_lost" not in found


@pytest.mark.anyio
async def test_a_healthy_storage_exports_the_failing_gauge_at_0(
    collector: Collector, tmp_path: Path
) -> None:
    """The gauge has a value from the start (an alert on ``failing == 1`` sees a series,
    not "no data"); a healthy storage moves none of the failure counters."""
    config = {
        "storage": {"backend": "memory"},
        "exporters": {"otlp": {"endpoint": collector.server.url, "traces": False}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin(), MemoryStorage().plugin()]):
        pass
    (request,) = collector.metrics
    found = exported(request)
    assert found["relaykit.storage.failing"] == (
        describe(metrics.STORAGE_FAILING, None),
        {a(): 0.0},
    )
    for counter in ("write_failures", "records_spilled", "records_lost"):
        assert f"relaykit.storage.{counter}" not in found


@pytest.mark.anyio
@pytest.mark.parametrize("tracer", ["lean", "sdk"])
async def test_what_the_collector_rejects_in_a_partial_success_is_counted_and_said_once(
    collector: Collector, caplog: pytest.LogCaptureFixture, tracer: str
) -> None:
    # A collector that takes an export but rejects some of it answers 200 with a
    # partial_success: the SDK's exporter reads only the status, so rejected spans
    # and data points passed for exported and the collector's reason went unseen.
    key = "ck-" + "Wp4" * 8
    collector.reject(
        spans=1, data_points=2, message=f"span too old (request ?api_key={key}) " + "x" * 900
    )
    exporter = OtlpExporter(
        endpoint=f"{collector.url}/?api_key={key}", export_interval=3600, tracer=tracer
    )
    provider = exporter.tracer_provider
    assert provider is not None
    with caplog.at_level(logging.WARNING):
        for round_ in range(2):
            provider.get_tracer("t").start_span(f"s{round_}").end()
            exporter.record(bare_record())
            await exporter.flush()
        await exporter.aclose()
    assert len(collector.spans()) == 2  # sent: it was the collector that dropped some
    # two each metric export (the flushes', and shutdown's)
    assert (exporter.rejected_spans, exporter.rejected_data_points) == (
        2,
        2 * len(collector.metrics),
    )
    if isinstance(provider, LeanTracerProvider):
        assert provider.failed_spans == 2  # told at shutdown with the refused ones
    said = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    first = [line for line in said if "span too old" in line]
    assert len(first) == 2, said  # once per signal, not once per export
    assert all("api_key=[REDACTED]" in line and key not in line for line in first)
    assert all(len(line) < 800 for line in first)  # the receiver's text, cut
    assert any("2 spans were" in r.getMessage() for r in caplog.records), said
    assert any(f"{2 * len(collector.metrics)} data points were rejected" in line for line in said)


@pytest.mark.anyio
async def test_an_empty_or_full_success_answer_counts_nothing(collector: Collector) -> None:
    collector.reject()  # a partial_success with nothing rejected and no message
    exporter = OtlpExporter(endpoint=collector.url, export_interval=3600)
    assert exporter.tracer_provider is not None
    exporter.tracer_provider.get_tracer("t").start_span("s").end()
    exporter.record(bare_record())
    await exporter.aclose()
    assert (exporter.rejected_spans, exporter.rejected_data_points) == (0, 0)
    assert len(collector.spans()) == 1


@pytest.mark.anyio
async def test_a_streams_time_per_output_chunk_is_exported(collector: Collector) -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="a" * 32, chunk_delay=0.05))  # four pieces: three after the first
    config = {
        "storage": {"backend": "none"},
        "exporters": {"otlp": {"endpoint": collector.server.url, "export_interval": 3600}},
    }
    async with (
        relaykit.Client(config, plugins=[fake]) as client,
        client.stream("fake/m", "hi") as s,
    ):
        async for _ in s:
            pass
    name = "gen_ai.client.operation.time_per_output_chunk"
    (kind, unit, description, *_), points = exported(collector.metrics[-1])[name]
    assert (kind, unit) == ("histogram", "s")
    assert description == metrics.TIME_PER_OUTPUT_CHUNK.description
    attributes = a(
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "fake",
            "gen_ai.request.model": "m",
            "gen_ai.response.model": "m",
        }
    )
    count, total, bucket_counts, low, _, _ = points[attributes]
    assert count == 3 and low >= 0.05 and total >= 0.15  # each after the fake's delay
    assert sum(bucket_counts[:3]) == 0  # none in the buckets up to 0.04 s
    (point,) = [
        p
        for rm in collector.metrics[-1].resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.histogram.data_points
    ]
    assert list(point.explicit_bounds) == list(metrics.DURATION_BUCKETS)
