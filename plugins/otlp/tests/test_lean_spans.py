"""The lean tracer provider exports what the SDK's would, for the same calls.

Each comparison runs the same calls once through ``[exporters.otlp] tracer =
"sdk"`` and once through the default lean provider, each against its own
in-process collector, and compares the decoded protobuf spans: everything but
ids and times, which are random or read from the clock (their relations, a
span's parent and trace, are compared).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest
from opentelemetry import context, propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    TraceState,
)

import relaykit
from relaykit.testing import FakePlugin, OpenAIMock, Reply
from relaykit_otlp import OtlpExporter
from relaykit_otlp.lean_spans import LeanSpan, LeanTracerProvider
from relaykit_otlp.testing import Collector, attrs_of

KEY = "sk-test-0123456789abcdef0123"
TRACERS = ("sdk", "lean")
#: attributes that differ from run to run (the clock; OpenAIMock's counter of
#: responses): compared by type only
VARYING = {"gen_ai.response.time_to_first_chunk", "gen_ai.response.id"}


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as c:
        yield c


def decoded(collector: Collector) -> dict[str, Any]:
    """The collector's spans as comparable values: ids become positions (of the span
    among those exported, or "remote"), times only their order."""
    spans = sorted(collector.spans(), key=lambda s: (s.start_time_unix_nano, s.name))
    ids = {s.span_id: i for i, s in enumerate(spans)}
    traces = {t: i for i, t in enumerate(dict.fromkeys(s.trace_id for s in spans))}
    out = []
    for s in spans:
        assert 0 < s.start_time_unix_nano <= s.end_time_unix_nano
        assert len(s.trace_id) == 16 and len(s.span_id) == 8
        attributes = attrs_of(s.attributes)
        for key in VARYING & attributes.keys():
            attributes[key] = type(attributes[key]).__name__
        out.append(
            {
                "name": s.name,
                "kind": s.kind,
                "trace": traces[s.trace_id],
                "parent": ids.get(s.parent_span_id, s.parent_span_id.hex() or None),
                "trace_state": s.trace_state,
                "flags": s.flags,
                "attributes": list(attributes.items()),  # in order
                "dropped_attributes": s.dropped_attributes_count,
                "events": [
                    (e.name, list(attrs_of(e.attributes).items()), e.dropped_attributes_count)
                    for e in s.events
                ],
                "dropped_events": s.dropped_events_count,
                "links": [
                    (ln.trace_id.hex(), ln.span_id.hex(), attrs_of(ln.attributes), ln.flags)
                    for ln in s.links
                ],
                "status": (s.status.code, s.status.message),
            }
        )
    resources = {
        tuple(sorted(attrs_of(rs.resource.attributes).items()))
        for r in collector.traces
        for rs in r.resource_spans
    }
    scopes = {
        (ss.scope.name, ss.scope.version, ss.schema_url, len(ss.scope.attributes))
        for r in collector.traces
        for rs in r.resource_spans
        for ss in rs.scope_spans
    }
    return {"spans": out, "resources": resources, "scopes": scopes}


async def through_both(
    calls: Callable[[OtlpExporter], Awaitable[None]],
) -> dict[str, dict[str, Any]]:
    """Run ``calls`` with an exporter of each tracer; the decoded spans of each."""
    out = {}
    for tracer in TRACERS:
        with Collector() as collector:
            exporter = OtlpExporter(endpoint=collector.url, metrics_enabled=False, tracer=tracer)
            await calls(exporter)
            await exporter.aclose()  # exports everything still queued
            out[tracer] = decoded(collector)
    return out


def same(both: dict[str, dict[str, Any]]) -> None:
    """Both providers' exports are equal (span by span, for a readable difference)."""
    lean, sdk = both["lean"], both["sdk"]
    assert len(lean["spans"]) == len(sdk["spans"])
    for mine, theirs in zip(lean["spans"], sdk["spans"], strict=True):
        assert mine == theirs, repr((mine, theirs))
    assert lean == sdk


class Leave(Exception):
    """The caller's own exception, raised inside a stream's block."""


@pytest.mark.anyio
async def test_the_same_calls_export_the_same_spans_through_both_providers() -> None:
    async def calls(exporter: OtlpExporter) -> None:
        fake = FakePlugin()
        fake.script.push(
            Reply(text="ok", input_tokens=10, output_tokens=2, cached_input_tokens=4),
            Reply.failure(503, "busy"),  # retried
            Reply(text="second", reasoning_tokens=3),
            Reply.failure(404, "no such model"),  # not retried: fails
            Reply.failure(503, "busy"),  # fast: a fails twice, then b answers
            Reply.failure(503, "busy"),
            Reply(text="from b"),
            Reply(text="a whole stream"),
            Reply(text="left early", chunk_delay=0),
            Reply(text="slow stream", chunk_delay=5),  # cancelled while waiting
            Reply.failure(429, "later", retry_after=0),  # inside the app's span
            Reply(text="nested"),
        )
        config = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 2, "initial_wait": 0, "max_wait": 0},
            "models": {"fast": {"targets": ["fake/a", "fake/b"], "strategy": "fallback"}},
            "telemetry": {"capture_content": True},
        }
        assert exporter.tracer_provider is not None
        app = exporter.tracer_provider.get_tracer("app")
        async with relaykit.Client(config, plugins=[fake, _Exporting(exporter)]) as client:
            await client.chat("fake/m", "one", max_tokens=64, temperature=0.5, stop=["x", "y"])
            await client.chat("fake/m", "two", seed=7, metadata={"conversation_id": "c1"})
            with pytest.raises(relaykit.NotFoundError):
                await client.chat("fake/m", "three")
            await client.chat("fast", "four")
            async with client.stream("fake/m", "five") as s:
                async for _ in s:
                    pass
            with pytest.raises(Leave):
                async with client.stream("fake/m", "six") as s:
                    async for _ in s:
                        raise Leave
            with anyio.move_on_after(0.05):
                async with client.stream("fake/m", "seven") as s:
                    async for _ in s:
                        pass
            with app.start_as_current_span("request", kind=SpanKind.SERVER):
                await client.chat("fake/m", "eight", top_p=0.9)

    both = await through_both(calls)
    same(both)
    spans = both["lean"]["spans"]
    assert [s["name"] for s in spans] == ["chat m"] * 3 + ["chat a"] + ["chat m"] * 3 + [
        "request",
        "chat m",
    ]
    assert [s["status"][0] for s in spans] == [0, 0, 2, 0, 0, 2, 2, 0, 0]
    assert [e[0] for e in spans[3]["events"]] == ["relaykit.retry", "relaykit.fallback"]
    assert spans[8]["parent"] == 7 and spans[8]["trace"] == spans[7]["trace"]
    assert [e[0] for e in spans[8]["events"]] == ["relaykit.retry"]
    assert both["lean"]["scopes"] == {("relaykit", relaykit.__version__, "", 0), ("app", "", "", 0)}
    (resource,) = both["lean"]["resources"]
    assert dict(resource)["service.name"] == "relaykit"


@pytest.mark.anyio
async def test_a_tool_runs_execute_tool_spans_export_the_same_through_both_providers() -> None:
    async def calls(exporter: OtlpExporter) -> None:
        fake = FakePlugin()
        client: relaykit.Client

        async def ask(question: str) -> str:
            """Asks the model (a call inside a tool: the tool span's child)."""
            return (await client.chat("fake/inner", question)).text

        def broken(city: str) -> str:
            """Always fails."""
            raise LookupError(city)

        fake.script.push(  # one tool a step: spans in an order both runs share
            Reply(tool_calls=(("ask", {"question": "why"}),)),
            Reply(text="inner answer"),
            Reply(tool_calls=(("broken", {"city": "Oslo"}),)),
            Reply(text="done"),
        )
        config = {"storage": {"backend": "none"}, "telemetry": {"capture_content": True}}
        async with relaykit.Client(config, plugins=[fake, _Exporting(exporter)]) as client:
            await client.run_tools(
                "fake/m", "go", [ask, broken], metadata={"conversation_id": "run-1"}
            )

    both = await through_both(calls)
    same(both)
    spans = both["lean"]["spans"]
    assert [s["name"] for s in spans] == [
        "chat m",
        "execute_tool ask",
        "chat inner",
        "chat m",
        "execute_tool broken",
        "chat m",
    ]
    assert spans[1]["kind"] == SpanKind.INTERNAL.value + 1  # OTLP counts from 1
    assert spans[2]["parent"] == 1  # the call the tool made
    assert spans[4]["status"] == (2, "LookupError: Oslo")


class _Exporting:
    """Hands the client an exporter built outside it (its tracer provider traces the calls)."""

    def __init__(self, exporter: OtlpExporter) -> None:
        self.exporter = exporter

    @relaykit.hookimpl
    def relaykit_exporters(self, config: Any) -> list[Any]:
        return [self.exporter]


class Shown:
    """A value of no attribute type, with its own ``__str__`` (the SDK keeps the text)."""

    def __str__(self) -> str:
        return "shown"


def exercise(tracer: Tracer) -> None:
    """Every method of the API's span, with explicit times where the API takes them."""
    remote = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("k", "v")]))
    with tracer.start_as_current_span(
        "outer",
        kind=SpanKind.SERVER,
        # values of no attribute type, on purpose: both tracers must treat them alike
        attributes={"a": 1, "list": [1, 2], "shown": Shown(), "none": object(), "": "empty"},  # type: ignore[dict-item]
        links=[Link(remote, {"why": "batch"}), Link(INVALID_SPAN_CONTEXT)],
        start_time=1_000,
    ) as outer:
        outer.set_attribute("b", 2.5)
        outer.set_attribute("a", "moved to the end")
        outer.set_attribute("", "dropped")
        outer.set_attribute(3, "dropped")  # type: ignore[arg-type]
        outer.set_attribute("tuple", ("x", "y"))
        outer.set_attribute("mixed", ["x", 1, object()])  # type: ignore[list-item]
        outer.set_attributes({"c": (True, False), "d": b"bytes", "b": 3, "map": {"k": "v"}})
        outer.add_event("plain", {"k": "v", "seq": ["s"]}, timestamp=2_000)
        outer.add_event("odd", {"k": Shown()}, timestamp=2_100)  # type: ignore[dict-item]
        outer.add_event("bare", timestamp=2_200)
        outer.add_link(SpanContext(0x123, 0x456, False), {"late": True})
        outer.add_link(INVALID_SPAN_CONTEXT)  # nothing to link: ignored
        outer.update_name("renamed")
        outer.set_status(Status(StatusCode.ERROR, "bad"), "ignored description")
        child = tracer.start_span("child", start_time=3_000)
        child.record_exception(ValueError("boom"), {"extra": 1}, timestamp=3_500)
        child.set_status(StatusCode.OK)
        child.set_status(StatusCode.ERROR, "too late: OK is final")
        child.end(4_000)
        child.end()
        child.set_attribute("late", 1)
        child.set_attributes({"late": 1})
        child.add_event("late")
        child.add_link(remote)
        child.update_name("late")
        child.set_status(StatusCode.ERROR)
        assert not child.is_recording() and outer.is_recording()
        with (
            pytest.raises(KeyError),
            tracer.start_span("as a context manager", start_time=5_000),
        ):
            raise KeyError("inside")
        unset = tracer.start_span("unset", start_time=6_000)
        unset.set_status(Status(StatusCode.UNSET))
        unset.set_status(StatusCode.UNSET, "ignored")
        unset.end(7_000)


@pytest.mark.anyio
async def test_every_span_method_exports_and_warns_as_the_sdks_span(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warnings: dict[str, list[tuple[str, str]]] = {}

    async def calls(exporter: OtlpExporter) -> None:
        assert exporter.tracer_provider is not None
        tracer = exporter.tracer_provider.get_tracer("api", "1.2", "https://schema")
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            exercise(tracer)
            await exporter.flush()  # attributes are cleaned when exported: its warnings too
        warnings[type(exporter.tracer_provider).__name__] = [
            (r.name, r.getMessage()) for r in caplog.records if r.name.startswith("opentelemetry")
        ]

    both = await through_both(calls)
    same(both)
    assert sorted(warnings["LeanTracerProvider"]) == sorted(warnings["TracerProvider"])
    outer, child, managed, unset = both["lean"]["spans"]
    assert outer["name"] == "renamed" and outer["status"] == (2, "bad")
    assert [k for k, _ in outer["attributes"]][-3:] == ["d", "b", "map"]
    assert dict(outer["attributes"])["shown"] == "shown"
    assert outer["dropped_attributes"] == 3  # two empty keys and a number
    assert [ln[0][-3:] for ln in outer["links"]] == ["abc", "123"]
    assert child["status"] == (1, "") and child["events"][0][0] == "exception"
    assert managed["status"] == (2, "KeyError: 'inside'")
    assert unset["status"] == (0, "")
    assert len(warnings["LeanTracerProvider"]) >= 9


@pytest.mark.anyio
async def test_span_limits_from_the_environment_apply_as_in_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "3",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "4",
        "OTEL_SPAN_EVENT_COUNT_LIMIT": "2",
        "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": "1",
        "OTEL_SPAN_LINK_COUNT_LIMIT": "1",
    }.items():
        monkeypatch.setenv(name, value)

    async def calls(exporter: OtlpExporter) -> None:
        assert exporter.tracer_provider is not None
        tracer = exporter.tracer_provider.get_tracer("limits")
        exercise(tracer)
        span = tracer.start_span("many", start_time=8_000)
        for i in range(10):
            span.set_attribute(f"k{i % 4}", f"value {i}")  # keys pushed out, then set again
        span.set_attributes({f"bulk{i}": i for i in range(5)})
        for i in range(4):
            span.add_event(f"e{i}", {"b": 1, "a": "long text"}, timestamp=9_000 + i)
        span.end(10_000)

    both = await through_both(calls)
    same(both)
    outer, _, _, _, many = both["lean"]["spans"]
    assert [k for k, _ in outer["attributes"]] == ["d", "b", "map"]
    assert dict(outer["attributes"])["d"] == b"bytes"  # only strings are cut
    assert many["attributes"] == [("bulk2", 2), ("bulk3", 3), ("bulk4", 4)]
    assert many["dropped_attributes"] == 12 and many["dropped_events"] == 2
    assert many["events"] == [("e2", [("a", "long")], 1), ("e3", [("a", "long")], 1)]
    assert len(outer["links"]) == 1


@pytest.mark.anyio
async def test_attributes_with_sequences_keep_the_sdks_order_and_values() -> None:
    """``set_attributes`` with lists and tuples among plain values (a call's finish:
    ``gen_ai.response.finish_reasons``), keys set again, and under a count limit."""

    async def calls(exporter: OtlpExporter) -> None:
        assert exporter.tracer_provider is not None
        tracer = exporter.tracer_provider.get_tracer("sequences")
        span = tracer.start_span("s", attributes={"a": 1, "b": "two", "c": [1, 2]})
        span.set_attributes({"d": ["stop"], "a": 1.5, "e": ("x", "y"), "f": None})
        span.set_attributes({"b": [True, False], "g": "plain", "c": "no longer a list"})
        span.set_attributes({"h": [], "i": [b"raw"], "j": [1, "mixed"], "k": 2})
        span.end()

    both = await through_both(calls)
    same(both)
    (span,) = both["lean"]["spans"]
    assert [k for k, _ in span["attributes"]] == [
        "d", "a", "e", "f", "b", "g", "c", "h", "i", "j", "k"
    ]  # fmt: skip
    assert dict(span["attributes"])["d"] == ["stop"]


@pytest.mark.anyio
async def test_new_keys_with_odd_values_and_refused_keys_set_as_the_sdk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``set_attributes`` on keys not set yet, with values the SDK must clean and
    keys it refuses beside lists and plain values (all set in one update, the odd
    values replaced in place): the same order, values, drops and warnings."""
    warnings: dict[str, list[str]] = {}

    async def calls(exporter: OtlpExporter) -> None:
        assert exporter.tracer_provider is not None
        tracer = exporter.tracer_provider.get_tracer("odd")
        odd: dict[Any, Any] = {
            "a": ["x"],
            "": [object()],
            "shown": Shown(),
            5: ["y"],
            "mixed": [1, "two"],
            "c": 1,
            "none": [None],
        }
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            span = tracer.start_span("s", attributes={"first": 0, "": ["refused"]})
            span.set_attributes(odd)
            span.end()
            await exporter.flush()
        warnings[type(exporter.tracer_provider).__name__] = sorted(
            r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")
        )

    both = await through_both(calls)
    same(both)
    assert warnings["LeanTracerProvider"] == warnings["TracerProvider"]
    (span,) = both["lean"]["spans"]
    assert [k for k, _ in span["attributes"]][:3] == ["first", "a", "shown"]


@pytest.mark.anyio
async def test_attributes_with_sequences_over_the_count_limit_drop_as_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "4")

    async def calls(exporter: OtlpExporter) -> None:
        assert exporter.tracer_provider is not None
        span = exporter.tracer_provider.get_tracer("limit").start_span("s", attributes={"a": 1})
        span.set_attributes({"b": [1], "c": 2, "d": ("x",), "e": 3, "f": ["y", "z"]})
        span.end()

    both = await through_both(calls)
    same(both)
    (span,) = both["lean"]["spans"]
    assert [k for k, _ in span["attributes"]] == ["c", "d", "e", "f"]
    assert span["dropped_attributes"] == 2


def test_the_default_tracer_is_the_lean_one_and_the_sdks_stays_reachable() -> None:
    lean = OtlpExporter(metrics_enabled=False)
    sdk = OtlpExporter(metrics_enabled=False, tracer="sdk")
    try:
        assert isinstance(lean.tracer_provider, LeanTracerProvider)
        assert isinstance(sdk.tracer_provider, TracerProvider)
    finally:
        for exporter in (lean, sdk):
            assert exporter.tracer_provider is not None
            exporter.tracer_provider.shutdown()
    with pytest.raises(relaykit.ConfigError, match="tracer") as info:
        relaykit.Client({"storage": {"backend": "none"}, "exporters": {"otlp": {"tracer": "fast"}}})
    assert "'lean', 'sdk'" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("tracer", TRACERS)
async def test_the_provider_request_carries_the_exported_spans_trace_context(
    collector: Collector, tracer: str
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        config = {
            "storage": {"backend": "none"},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
            "exporters": {"otlp": {"endpoint": collector.url, "metrics": False, "tracer": tracer}},
        }
        async with relaykit.Client(config) as client:
            await client.chat("openai/gpt-4o-mini", "hi")
        traceparent = mock.last_request.headers["traceparent"]
    (span,) = collector.spans()
    # 03: sampled, and a random trace id (W3C level 2), as the SDK's default ids
    assert traceparent == f"00-{span.trace_id.hex()}-{span.span_id.hex()}-03"


async def traced_call(
    exporter: OtlpExporter, mock: OpenAIMock, parent: str | None, headers: list[str]
) -> None:
    """One call under a remote parent (a ``traceparent``), keeping the header it sent."""
    token = context.attach(propagate.extract({"traceparent": parent} if parent else {}))
    try:
        config = {
            "storage": {"backend": "none"},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        }
        async with relaykit.Client(config, plugins=[_Exporting(exporter)]) as client:
            await client.chat("openai/gpt-4o-mini", "hi")
        headers.append(mock.last_request.headers["traceparent"])
    finally:
        context.detach(token)


PARENT_TRACE, PARENT_SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("parent", "sampler", "exported", "flags"),
    [
        (f"00-{PARENT_TRACE}-{PARENT_SPAN}-01", None, 1, "01"),  # sampled parent
        (f"00-{PARENT_TRACE}-{PARENT_SPAN}-00", None, 0, "00"),  # unsampled: not recorded
        (None, "always_off", 0, "02"),
        (None, "traceidratio", 0, "02"),  # OTEL_TRACES_SAMPLER_ARG=0
        (f"00-{PARENT_TRACE}-{PARENT_SPAN}-00", "always_on", 1, "01"),  # ignores the parent
    ],
)
async def test_sampling_follows_the_parent_and_otel_traces_sampler_as_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
    parent: str | None,
    sampler: str | None,
    exported: int,
    flags: str,
) -> None:
    if sampler is not None:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    headers: list[str] = []

    async def calls(exporter: OtlpExporter) -> None:
        assert isinstance(exporter.tracer_provider, (LeanTracerProvider, TracerProvider))
        await traced_call(exporter, mock, parent, headers)

    with OpenAIMock(api_key=KEY) as mock:
        both = await through_both(calls)
    same(both)
    assert len(both["lean"]["spans"]) == exported
    for header in headers:  # an unsampled span still propagates a valid context
        _, trace_id, span_id, sent_flags = header.split("-")
        assert sent_flags == flags and span_id != "0" * 16 and span_id != PARENT_SPAN
        if parent is not None:
            assert trace_id == PARENT_TRACE
    if exported:
        assert both["lean"]["spans"][0]["parent"] == (PARENT_SPAN if parent else None)


def test_otel_sdk_disabled_makes_no_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    exporter = OtlpExporter(metrics_enabled=False)
    assert exporter.tracer_provider is not None
    span = exporter.tracer_provider.get_tracer("relaykit").start_span("x")
    assert not span.is_recording() and not span.get_span_context().is_valid
    exporter.tracer_provider.shutdown()


def spans_of(provider: LeanTracerProvider, names: list[str]) -> None:
    tracer = provider.get_tracer("relaykit")
    for name in names:
        tracer.start_span(name).end()


@pytest.mark.anyio
async def test_flush_and_aclose_export_everything_queued(
    collector: Collector, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")  # only flush and aclose export
    exporter = OtlpExporter(endpoint=collector.url, metrics_enabled=False)
    provider = exporter.tracer_provider
    assert isinstance(provider, LeanTracerProvider)
    spans_of(provider, ["a", "b", "c"])
    await exporter.flush()
    assert [s.name for s in collector.spans()] == ["a", "b", "c"]
    spans_of(provider, ["d", "e"])
    await exporter.aclose()
    assert [s.name for s in collector.spans()] == ["a", "b", "c", "d", "e"]
    assert provider.dropped_spans == 0
    with caplog.at_level(logging.WARNING):
        spans_of(provider, ["too late"])
    assert provider.dropped_spans == 1
    assert "after the exporter was closed" in caplog.text


@pytest.mark.anyio
async def test_a_full_queue_drops_the_oldest_spans_and_counts_and_logs_them(
    collector: Collector, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
    exporter = OtlpExporter(endpoint=collector.url, metrics_enabled=False)
    provider = exporter.tracer_provider
    assert isinstance(provider, LeanTracerProvider)
    collector.hold()
    # A whole batch wakes the queue's thread, which takes both and waits on the collector.
    spans_of(provider, ["first", "second"])
    assert await anyio.to_thread.run_sync(collector.holding.wait, 10)
    with caplog.at_level(logging.WARNING):
        spans_of(provider, [f"s{i}" for i in range(10)])
    assert provider.dropped_spans == 6  # four fit; the six oldest were pushed out
    (warning,) = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert "1 dropped so far" in warning.getMessage()  # then quiet for a while
    collector.release()
    await exporter.aclose()
    assert [s.name for s in collector.spans()] == ["first", "second", "s6", "s7", "s8", "s9"]
    assert "6 spans were dropped" in caplog.text


@pytest.mark.anyio
async def test_spans_the_collector_refused_are_counted_and_told_at_shutdown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A collector that refuses a batch (400: not retried) or stays down past the
    # export timeout loses the batch's spans; only the SDK's log line said so,
    # while dropped_spans, the count the README points to, stayed 0.
    from relaykit.testing import LoopbackServer
    from relaykit.testing import Response as HttpResponse

    async def refuse(request: object) -> HttpResponse:
        return HttpResponse(400, {"content-type": "application/x-protobuf"}, b"")

    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
    server = LoopbackServer(refuse)
    server.start()
    try:
        exporter = OtlpExporter(endpoint=server.url, metrics_enabled=False)
        provider = exporter.tracer_provider
        assert isinstance(provider, LeanTracerProvider)
        spans_of(provider, ["a", "b", "c"])
        await exporter.flush()
        assert (provider.failed_spans, provider.dropped_spans) == (3, 0)
        with caplog.at_level(logging.WARNING):
            await exporter.aclose()
    finally:
        server.stop()
    assert "3 spans were not exported: the collector refused them" in caplog.text


def test_a_batch_that_fills_as_an_export_ends_wakes_the_thread_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Spans the event loop ends between an export's last look at the queue and the
    # thread going back to sleep: their batch must wake it, not wait a whole delay.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from relaykit_otlp.lean_spans import sampler_from_env
    from relaykit_otlp.span_queue import SpanQueue

    exported = InMemorySpanExporter()
    queue = SpanQueue(
        exported, Resource.create({}), schedule_delay_millis=3_600_000, max_export_batch_size=2
    )
    sampler = sampler_from_env()
    assert sampler is not None
    provider = LeanTracerProvider(queue, sampler)
    export = queue._export
    late: list[str] = []

    def export_then_two_more_end(**how: bool) -> None:
        export(**how)
        if not late:  # once: the export has looked at the queue for the last time
            late[:] = ["c", "d"]
            spans_of(provider, late)

    monkeypatch.setattr(queue, "_export", export_then_two_more_end)
    spans_of(provider, ["a", "b"])  # a whole batch wakes the thread
    deadline = time.monotonic() + 10
    while len(exported.get_finished_spans()) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert [s.name for s in exported.get_finished_spans()] == ["a", "b", "c", "d"]
    finally:
        queue.shutdown()


def test_a_lean_span_costs_no_lock_and_keeps_plain_values_as_given(
    collector: Collector,
) -> None:
    # A collector to export to: with no endpoint, shutting down retries the default
    # one (nothing listens there) for seconds.
    exporter = OtlpExporter(endpoint=collector.url, metrics_enabled=False)
    assert exporter.tracer_provider is not None
    span = exporter.tracer_provider.get_tracer("relaykit").start_span("x", attributes={"a": 1})
    assert isinstance(span, LeanSpan)
    values = ["stop"]
    span.set_attributes({"b": values, "c": "text"})
    values.append("changed later")  # the span kept a copy, as the SDK's does
    assert span.parts()[0] == {"a": 1, "b": ("stop",), "c": "text"}
    span.end()
    exporter.tracer_provider.shutdown()
    assert [s.name for s in collector.spans()] == ["x"]


@pytest.mark.anyio
async def test_a_span_ended_in_a_thread_and_one_in_the_loop_both_arrive(
    collector: Collector,
) -> None:
    exporter = OtlpExporter(endpoint=collector.url, metrics_enabled=False)
    provider = exporter.tracer_provider
    assert isinstance(provider, LeanTracerProvider)
    await anyio.to_thread.run_sync(spans_of, provider, ["in a thread"])
    spans_of(provider, ["in the loop"])
    await anyio.lowlevel.checkpoint()
    await exporter.aclose()
    assert sorted(s.name for s in collector.spans()) == ["in a thread", "in the loop"]


def test_span_contexts_are_the_apis_own_built_without_its_constructor(
    collector: Collector,
) -> None:
    from relaykit_otlp import lean_spans

    # this API's SpanContext is the tuple the fast path builds (else it falls back)
    assert lean_spans._new_context is tuple.__new__
    exporter = OtlpExporter(endpoint=collector.url, metrics_enabled=False)
    assert exporter.tracer_provider is not None
    tracer = exporter.tracer_provider.get_tracer("relaykit")
    root = tracer.start_span("root")
    state = TraceState([("vendor", "v")])
    remote = SpanContext(0x1F, 0x2E, True, TraceFlags(TraceFlags.SAMPLED), state)
    child = tracer.start_span("child", context=_in_context(remote))
    for span, state_of in ((root, INVALID_SPAN_CONTEXT.trace_state), (child, state)):
        made = span.get_span_context()
        rebuilt = SpanContext(made.trace_id, made.span_id, False, made.trace_flags, state_of)
        assert made == rebuilt and type(made) is SpanContext
        assert made.is_valid and not made.is_remote and made.trace_state is state_of
    assert child.get_span_context().trace_id == 0x1F
    root.end()
    child.end()
    exporter.tracer_provider.shutdown()


def _in_context(span_context: SpanContext) -> Any:
    from opentelemetry import trace

    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))
