"""Tracing: one CLIENT span per call with GenAI attributes, events, propagation, content."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

import relaykit
from relaykit import hookimpl
from relaykit.testing import (
    FakePlugin,
    OpenAIMock,
    Reply,
    TracingExporter,
    cancel_in_flight,
    mock_audio,
)

KEY = "sk-test-0123456789abcdef0123"
SECRET = "sk-proj-" + "Qq7" * 8


@pytest.fixture
def tracing() -> TracingExporter:
    return TracingExporter()


def client(plugins: list[Any], **config: Any) -> relaykit.Client:
    base: dict[str, Any] = {"storage": {"backend": "none"}, "retry": {"initial_wait": 0}}
    return relaykit.Client({**base, **config}, plugins=plugins)


@pytest.mark.anyio
async def test_a_call_is_one_client_span_with_genai_attributes(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    fake.script.reply("hello there", input_tokens=11, output_tokens=4)
    async with client([fake, tracing]) as c:
        await c.chat("fake/m-1", "hi", max_tokens=50, temperature=0.2, top_p=0.9)
    (span,) = tracing.finished()
    assert span.name == "chat m-1"
    assert span.kind is SpanKind.CLIENT
    a = dict(span.attributes or {})
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "fake"
    assert a["gen_ai.request.model"] == "m-1"
    assert (
        a["gen_ai.request.max_tokens"],
        a["gen_ai.request.temperature"],
        a["gen_ai.request.top_p"],
    ) == (
        50,
        0.2,
        0.9,
    )
    assert a["gen_ai.response.model"] == "m-1"
    assert a["gen_ai.response.id"] == "fake-1"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 4)
    assert "gen_ai.input.messages" not in a  # content is opt-in
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.anyio
async def test_prompt_cache_and_reasoning_tokens_are_span_attributes(
    tracing: TracingExporter,
) -> None:
    fake = FakePlugin()
    fake.script.reply(
        "cached",
        input_tokens=1000,
        output_tokens=40,
        cached_input_tokens=600,
        cache_write_input_tokens=300,
        cache_write_1h_input_tokens=100,
        reasoning_tokens=25,
    )
    fake.script.reply("plain", input_tokens=10, output_tokens=2)
    async with client([fake, tracing]) as c:
        await c.chat("fake/m", "hi")
        await c.chat("fake/m", "hi")
    cached, plain = (dict(s.attributes or {}) for s in tracing.finished())
    # Each is part of the input (or output) total, as the conventions say.
    assert (cached["gen_ai.usage.input_tokens"], cached["gen_ai.usage.output_tokens"]) == (
        1000,
        40,
    )
    assert cached["gen_ai.usage.cache_read.input_tokens"] == 600
    assert cached["gen_ai.usage.cache_creation.input_tokens"] == 300
    assert cached["gen_ai.usage.reasoning.output_tokens"] == 25
    # No convention for the share of those writes that went to a one-hour cache.
    assert cached["relaykit.usage.cache_creation_1h.input_tokens"] == 100
    # Zero counts are left out: most providers report no cache or reasoning at all.
    assert not {k for k in plain if ".usage." in k} - {
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
    }


@pytest.mark.anyio
async def test_retries_and_fallbacks_are_span_events(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(503, "busy"), Reply.failure(503, "busy"), Reply(text="ok"))
    config = {
        "models": {"fast": {"targets": ["fake/a", "fake/b"]}},
        "retry": {"attempts": 2, "initial_wait": 0},
    }
    async with client([fake, tracing], **config) as c:
        r = await c.chat("fast", "hi")
    assert r.attempts == 3
    (span,) = tracing.finished()
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    assert [name for name, _ in events] == ["relaykit.retry", "relaykit.fallback"]
    assert events[0][1]["error.type"] == "ProviderUnavailableError"
    assert events[1][1]["relaykit.fallback.from"] == "fake/a"
    assert events[1][1]["gen_ai.request.model"] == "b"
    assert span.attributes is not None
    assert span.attributes["relaykit.attempts"] == 3


@pytest.mark.anyio
async def test_a_failed_call_sets_error_type_and_a_scrubbed_status(
    tracing: TracingExporter,
) -> None:
    fake = FakePlugin()
    fake.script.fail(400, f"your key {SECRET} is malformed")
    async with client([fake, tracing]) as c:
        with pytest.raises(relaykit.InvalidRequestError):
            await c.chat("fake/m", "hi")
    (span,) = tracing.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "InvalidRequestError"
    assert span.attributes["http.response.status_code"] == 400
    assert span.attributes["relaykit.attempts"] == 1
    assert SECRET not in (span.status.description or "")
    assert SECRET not in json.dumps(dict(span.attributes))


@pytest.mark.anyio
async def test_content_is_captured_only_when_enabled_and_then_redacted(
    tracing: TracingExporter,
) -> None:
    fake = FakePlugin()
    async with client([fake, tracing], telemetry={"capture_content": True}) as c:
        await c.chat("fake/m", f"my key is {SECRET}")
    (span,) = tracing.finished()
    assert span.attributes is not None
    inputs = json.loads(str(span.attributes["gen_ai.input.messages"]))
    outputs = json.loads(str(span.attributes["gen_ai.output.messages"]))
    assert inputs == [
        {"role": "user", "parts": [{"type": "text", "content": "my key is [REDACTED]"}]}
    ]
    assert outputs[0]["parts"][0]["content"] == "echo: my key is [REDACTED]"
    assert outputs[0]["finish_reason"] == "stop"


@pytest.mark.anyio
async def test_captured_content_is_redacted_once_for_the_span_and_the_record(
    tracing: TracingExporter,
) -> None:
    class CountingRedactor:
        """Masks "jane" and counts the texts it is given."""

        def __init__(self) -> None:
            self.texts: list[str] = []

        def redact(self, text: str) -> str:
            self.texts.append(text)
            return text.replace("jane", "[NAME]")

        @hookimpl
        def relaykit_redactors(self, config: Any) -> list[Any]:
            return [self]

    redactor = CountingRedactor()
    fake = FakePlugin()
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "I am jane"},
    ]
    async with client([fake, tracing, redactor], telemetry={"capture_content": True}) as c:
        await c.chat("fake/m", messages)
        await c.chat("fake/m", messages)  # a new call: redacted again, not remembered
    for span in tracing.finished():
        assert span.attributes is not None
        assert "jane" not in str(span.attributes["gen_ai.input.messages"])
        assert "echo: I am [NAME]" in str(span.attributes["gen_ai.output.messages"])
    for record in tracing.records:  # TracingExporter reads content
        assert [m.text for m in record.messages] == ["be brief", "I am [NAME]"]
        assert record.text == "echo: I am [NAME]"
    texts = ["be brief", "I am jane", "echo: I am jane"]
    assert sorted(redactor.texts) == sorted(texts * 2)


@pytest.mark.anyio
async def test_a_stream_is_one_span_with_time_to_first_chunk(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    fake.script.reply("streamed words here")
    async with client([fake, tracing]) as c, c.stream("fake/m", "hi") as s:
        async for _ in s:
            pass
    (span,) = tracing.finished()
    assert span.attributes is not None
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.usage.output_tokens"] == 3
    assert float(str(span.attributes["gen_ai.response.time_to_first_chunk"])) >= 0


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_traceparent_reaches_the_provider_over_http(
    tracing: TracingExporter, streamed: bool
) -> None:
    with OpenAIMock(api_key=KEY) as mock:
        providers = {"openai": {"base_url": mock.base_url, "api_key": KEY}}
        async with client([tracing], providers=providers) as c:
            if streamed:
                async with c.stream("openai/gpt-4o-mini", "hi") as s:
                    async for _ in s:
                        pass
            else:
                await c.chat("openai/gpt-4o-mini", "hi")
        headers = mock.last_request.headers
    (span,) = tracing.finished()
    ctx = span.get_span_context()
    assert ctx is not None
    version, trace_id, parent_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    assert span.attributes is not None
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.attributes["server.port"] == int(mock.base_url.split(":")[2].split("/")[0])


@pytest.mark.anyio
async def test_no_tracer_provider_means_no_tracer_and_no_header() -> None:
    with OpenAIMock(api_key=KEY) as mock:
        providers = {"openai": {"base_url": mock.base_url, "api_key": KEY}}
        async with client([], providers=providers) as c:
            assert c._tracer is None
            await c.chat("openai/gpt-4o-mini", "hi")
        assert "traceparent" not in mock.last_request.headers


def test_a_global_sdk_tracer_provider_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import trace

    from relaykit.tracing import configured_tracer_provider

    assert configured_tracer_provider([]) is None  # only the API's proxy so far
    provider = TracerProvider()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    assert configured_tracer_provider([]) is provider


def test_a_tracer_provider_the_environment_names_but_cannot_load_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, closed_after: Callable[[relaykit.Client], relaykit.Client]
) -> None:
    # OTEL_PYTHON_TRACER_PROVIDER=sdk set for the whole platform, in an app without
    # opentelemetry-sdk: the API logs "Failed to load configured provider" and
    # re-raises its StopIteration, which building a client inside a coroutine
    # turned into "RuntimeError: coroutine raised StopIteration".
    from opentelemetry import trace

    monkeypatch.setenv("OTEL_PYTHON_TRACER_PROVIDER", "no-such-provider")
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    with pytest.raises(relaykit.ConfigError) as info:
        closed_after(relaykit.Client({"storage": {"backend": "none"}}, plugins=[FakePlugin()]))
    assert "OTEL_PYTHON_TRACER_PROVIDER='no-such-provider'" in str(info.value)
    assert "tracing = false" in str(info.value)
    # with tracing off the variable is never read
    closed_after(
        relaykit.Client(
            {"storage": {"backend": "none"}, "telemetry": {"tracing": False}},
            plugins=[FakePlugin()],
        )
    )


@pytest.mark.anyio
async def test_tracing_can_be_turned_off(tracing: TracingExporter) -> None:
    async with client([FakePlugin(), tracing], telemetry={"tracing": False}) as c:
        await c.chat("fake/m", "hi")
    assert tracing.finished() == []


@pytest.mark.anyio
async def test_a_cancelled_call_still_ends_its_span(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="slow", delay=5))
    async with client([fake, tracing]) as c:
        # cancelled while the provider is answering, not after a fixed delay
        await cancel_in_flight(lambda: c.chat("fake/m", "hi"), when=lambda: len(fake.calls) == 1)
    (span,) = tracing.finished()
    assert span.status.status_code is StatusCode.ERROR
    # the same name under asyncio and trio, as a cancelled stream's span has
    assert span.status.description == "cancelled before the answer arrived"
    assert (span.attributes or {})["error.type"] == "Cancelled"
    [record] = tracing.records
    assert record.error_type == "Cancelled"


@pytest.mark.anyio
async def test_a_call_to_an_unknown_provider_still_ends_its_span(tracing: TracingExporter) -> None:
    async with client([FakePlugin(), tracing]) as c:
        with pytest.raises(relaykit.ConfigError):
            await c.chat("nosuchprovider/m", "hi")
    (span,) = tracing.finished()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ConfigError"


@pytest.mark.anyio
async def test_a_retried_stream_is_still_one_span(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(503), Reply(text="second time lucky"))
    async with client([fake, tracing]) as c, c.stream("fake/m", "hi") as s:
        text = "".join([e.text async for e in s if isinstance(e, relaykit.TextDelta)])
    assert text == "second time lucky"
    (span,) = tracing.finished()
    assert [e.name for e in span.events] == ["relaykit.retry"]
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.anyio
async def test_a_stream_to_an_unknown_provider_ends_its_span(tracing: TracingExporter) -> None:
    async with client([FakePlugin(), tracing]) as c:
        with pytest.raises(relaykit.ConfigError):
            async with c.stream("nosuchprovider/m", "hi"):
                pass
    (span,) = tracing.finished()
    assert span.status.status_code is StatusCode.ERROR


@pytest.mark.anyio
async def test_the_calls_span_is_current_while_it_runs_and_the_callers_after(
    tracing: TracingExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call's span is current inside the call (the provider sees it) and the
    caller's own span again after, for a chat and a stream."""
    from opentelemetry import trace

    seen: list[trace.Span] = []
    fake = FakePlugin()
    scripted = fake.script.next

    def next_reply(default: Reply) -> Reply:
        seen.append(trace.get_current_span())
        return scripted(default)

    monkeypatch.setattr(fake.script, "next", next_reply)
    app = tracing.tracer_provider.get_tracer("app")
    async with client([fake, tracing]) as c:
        with app.start_as_current_span("outer") as outer:
            await c.chat("fake/m", "hi")
            async with c.stream("fake/m", "hi") as s:
                async for _ in s:
                    pass
            assert trace.get_current_span() is outer
        assert trace.get_current_span() is trace.INVALID_SPAN
    calls = [s for s in tracing.finished() if s.name == "chat m"]
    assert len(calls) == 2
    outer_context = outer.get_span_context()
    for span in calls:
        assert span.parent is not None and span.parent.span_id == outer_context.span_id
    assert [s.get_span_context() for s in seen] == [s.get_span_context() for s in calls]


@pytest.mark.anyio
async def test_a_rerank_call_is_one_span_without_content(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    async with client([fake, tracing], telemetry={"capture_content": True}) as c:
        await c.rerank("fake/rerank-1", "secret query", ["doc one", "doc two"], top_n=1)
    (span,) = tracing.finished()
    assert span.name == "rerank rerank-1" and span.kind is SpanKind.CLIENT
    a = dict(span.attributes or {})
    assert a["gen_ai.operation.name"] == "rerank"
    assert (a["relaykit.rerank.documents"], a["relaykit.rerank.top_n"]) == (2, 1)
    assert (a["relaykit.rerank.search_units"], a["relaykit.cost_usd"]) == (1, 0.002)
    assert a["gen_ai.response.id"] == "rerank-fake"
    assert not any("secret query" in str(value) for value in a.values())


@pytest.mark.anyio
async def test_a_transcription_is_one_span_without_content(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    audio = mock_audio("secret words", seconds=30)
    async with client([fake, tracing], telemetry={"capture_content": True}) as c:
        await c.transcribe("fake/whisper-1", audio, language="en", prompt="secret prompt")
        await c.transcribe("fake/gpt-transcribe", mock_audio("four words said here"))
    minutes, tokens = tracing.finished()
    assert minutes.name == "transcribe whisper-1" and minutes.kind is SpanKind.CLIENT
    a = dict(minutes.attributes or {})
    assert a["gen_ai.operation.name"] == "transcribe"
    assert (a["relaykit.audio.bytes"], a["relaykit.audio.media_type"]) == (len(audio), "audio/wav")
    assert (a["relaykit.audio.seconds"], a["relaykit.transcription.language"]) == (30.0, "en")
    assert (a["gen_ai.usage.input_tokens"], a["relaykit.cost_usd"]) == (0, 0.003)
    assert "gen_ai.usage.output_tokens" not in a
    assert not any("secret" in str(value) for value in a.values())
    t = dict(tokens.attributes or {})
    assert (t["gen_ai.usage.input_tokens"], t["gen_ai.usage.output_tokens"]) == (17, 4)
    assert t["gen_ai.response.id"] == "transcribe-fake"


@pytest.mark.anyio
async def test_an_image_generation_is_one_span_without_content(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    async with client([fake, tracing], telemetry={"capture_content": True}) as c:
        await c.generate_image("fake/dall-e-3", "a secret fox", size="1792x1024", quality="hd")
        await c.generate_image("fake/gpt-image-1", "two secret owls", n=2, quality="low")
    per_image, tokens = tracing.finished()
    assert per_image.name == "generate_image dall-e-3" and per_image.kind is SpanKind.CLIENT
    a = dict(per_image.attributes or {})
    assert (a["gen_ai.operation.name"], a["gen_ai.output.type"]) == ("generate_image", "image")
    assert (a["gen_ai.request.choice.count"], a["relaykit.image.count"]) == (1, 1)
    assert (a["relaykit.image.size"], a["relaykit.image.quality"]) == ("1792x1024", "hd")
    assert (a["gen_ai.usage.input_tokens"], a["relaykit.cost_usd"]) == (0, 0.12)
    assert "gen_ai.usage.output_tokens" not in a
    assert not any("secret" in str(value) for value in a.values())
    t = dict(tokens.attributes or {})
    assert (t["gen_ai.usage.input_tokens"], t["gen_ai.usage.output_tokens"]) == (3, 200)
    assert (t["relaykit.image.count"], t["gen_ai.response.id"]) == (2, "image-fake")


@pytest.mark.anyio
async def test_a_speech_is_one_span_without_content(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    async with client([fake, tracing], telemetry={"capture_content": True}) as c:
        r = await c.speak("fake/tts-1", "a secret said aloud", voice="alloy", format="wav")
    (span,) = tracing.finished()
    assert span.name == "speak tts-1" and span.kind is SpanKind.CLIENT
    a = dict(span.attributes or {})
    assert (a["gen_ai.operation.name"], a["gen_ai.output.type"]) == ("speak", "speech")
    assert (a["relaykit.speech.voice"], a["relaykit.speech.format"]) == ("alloy", "wav")
    assert (a["relaykit.speech.characters"], a["relaykit.audio.bytes"]) == (19, len(r.audio))
    assert a["relaykit.audio.seconds"] == pytest.approx(19 / 15, abs=0.01)
    assert (a["relaykit.cost_usd"], a["gen_ai.response.id"]) == (0.000285, "speech-fake")
    assert not any("secret" in str(value) for value in a.values())


@pytest.mark.anyio
async def test_an_embeddings_call_is_one_span_without_content(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    async with client([fake, tracing], telemetry={"capture_content": True}) as c:
        await c.embed("fake/emb-1", ["secret text", "more"], dimensions=4)
        fake.script.fail(400, "too long")
        with pytest.raises(relaykit.InvalidRequestError):
            await c.embed("fake/emb-1", "x")
    ok, failed = tracing.finished()
    assert ok.name == "embeddings emb-1" and ok.kind is SpanKind.CLIENT
    a = dict(ok.attributes or {})
    assert a["gen_ai.operation.name"] == "embeddings"
    assert (a["gen_ai.request.model"], a["gen_ai.response.model"]) == ("emb-1", "emb-1")
    assert a["gen_ai.embeddings.dimension.count"] == 4
    assert (a["gen_ai.usage.input_tokens"], a["relaykit.embeddings.inputs"]) == (3, 2)
    assert "gen_ai.usage.output_tokens" not in a
    assert not any("secret text" in str(value) for value in a.values())
    assert dict(failed.attributes or {})["error.type"] == "InvalidRequestError"
    assert failed.status.status_code is StatusCode.ERROR


@pytest.mark.anyio
async def test_a_moderation_call_is_one_span_without_content(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    async with client([fake, tracing], telemetry={"capture_content": True}) as c:
        await c.moderate("fake/omni-moderation-latest", ["a secret text", "I will kill you"])
    (span,) = tracing.finished()
    assert span.name == "moderate omni-moderation-latest" and span.kind is SpanKind.CLIENT
    a = dict(span.attributes or {})
    assert a["gen_ai.operation.name"] == "moderate"
    assert (a["relaykit.moderation.inputs"], a["relaykit.moderation.flagged"]) == (2, 1)
    assert a["relaykit.moderation.flagged_categories"] == (
        "harassment",
        "harassment/threatening",
        "violence",
    )
    assert (a["relaykit.cost_usd"], a["gen_ai.response.id"]) == (0.0, "modr-fake")
    assert not any("secret" in str(value) for value in a.values())


def _span_context(flags: int = 1, state: Any = None) -> Any:
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    return NonRecordingSpan(
        SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False,
                    TraceFlags(flags), state)
    )  # fmt: skip


@pytest.mark.anyio
@pytest.mark.parametrize(
    "case", ["no span", "sampled", "unsampled", "trace state", "baggage", "both", "odd ids"]
)
async def test_injected_headers_are_the_global_propagators(
    tracing: TracingExporter, case: str
) -> None:
    """inject_headers' own path for the default propagator writes what propagate.inject does."""
    from opentelemetry import baggage, context, propagate, trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceState

    ctx = context.get_current()
    if case in ("sampled", "both"):
        ctx = trace.set_span_in_context(_span_context(), ctx)
    elif case == "unsampled":
        ctx = trace.set_span_in_context(_span_context(0), ctx)
    elif case == "trace state":
        state = TraceState([("vendor", "a=b"), ("other", "c")])
        ctx = trace.set_span_in_context(_span_context(state=state), ctx)
    elif case == "odd ids":  # out of the W3C ranges: spelled as the propagator spells them
        odd = SpanContext(2**130 + 5, 7, False, trace.TraceFlags(1))
        ctx = trace.set_span_in_context(NonRecordingSpan(odd), ctx)
    if case in ("baggage", "both"):
        ctx = baggage.set_baggage("user", "jane doe", ctx)
    async with client([FakePlugin(), tracing]) as c:
        tracer = c._tracer
        assert tracer is not None and tracer._w3c is propagate.get_global_textmap()
        token = context.attach(ctx)
        try:
            ours: dict[str, str] = {}
            tracer.inject_headers(ours)
            theirs: dict[str, str] = {}
            propagate.inject(theirs)
        finally:
            context.detach(token)
    assert ours == theirs
    assert ("traceparent" in ours) is (case not in ("no span", "baggage"))


@pytest.mark.anyio
async def test_another_global_propagator_is_asked_for_the_headers(
    tracing: TracingExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry import propagate
    from opentelemetry.propagators.textmap import TextMapPropagator, default_setter

    class Custom(TextMapPropagator):
        def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
            return context

        def inject(self, carrier: Any, context: Any = None, setter: Any = default_setter) -> None:
            setter.set(carrier, "x-custom-trace", "1")

        @property
        def fields(self) -> set[str]:
            return {"x-custom-trace"}

    async with client([FakePlugin(), tracing]) as c:
        tracer = c._tracer
        assert tracer is not None
        monkeypatch.setattr(propagate, "_HTTP_TEXT_FORMAT", Custom())  # set after the client
        headers: dict[str, str] = {}
        tracer.inject_headers(headers)
    assert headers == {"x-custom-trace": "1"}


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_stop_sequences_on_the_span_are_redacted_as_in_the_record(
    tracing: TracingExporter, streamed: bool
) -> None:
    """A stop sequence is the caller's text: a key in one (of a known shape, or one
    the client holds) is masked on the span, content captured or not."""
    held = "vendor-7f3a9c2e5b8d1f4a"
    config = {"providers": {"local": {"type": "fake", "api_key": held}}}
    async with client([FakePlugin(), tracing], **config) as c:
        stop = [held, f"after {SECRET}", "END"]
        if streamed:
            async with c.stream("local/m", "hi", stop=stop) as s:
                async for _ in s:
                    pass
        else:
            await c.chat("local/m", "hi", stop=stop)
    (span,) = tracing.finished()
    assert dict(span.attributes or {})["gen_ai.request.stop_sequences"] == (
        "[REDACTED]",
        "after [REDACTED]",
        "END",
    )


@pytest.mark.anyio
async def test_after_a_fallback_the_span_names_the_deployment_that_answered_as_metrics_do(
    tracing: TracingExporter,
) -> None:
    # The span kept the first target's gen_ai.provider.name and request model while
    # server.address was the fallback's and the call's metrics (its record) named
    # the fallback: one call, two providers, depending where one looked.
    KEY2 = "sk-test-fedcba9876543210fedc"
    with OpenAIMock(api_key=KEY) as first, OpenAIMock(api_key=KEY2) as second:
        first.script.push(Reply.failure(503, "busy"))
        providers = {
            "openai": {"base_url": first.base_url, "api_key": KEY},
            "work": {"type": "openai", "base_url": second.base_url, "api_key": KEY2},
        }
        config = {
            "providers": providers,
            "models": {"g": {"targets": ["openai/gpt-4o-mini", "work/gpt-4o"]}},
            "retry": {"attempts": 1, "initial_wait": 0},
        }
        async with client([tracing], **config) as c:
            r = await c.chat("g", "hi")
    assert (r.provider, r.model) == ("work", "gpt-4o")
    (span,) = tracing.finished()
    a = dict(span.attributes or {})
    (record,) = tracing.records
    assert (record.provider, record.model) == ("work", "gpt-4o")
    assert a["gen_ai.provider.name"] == "openai"  # work's type, as metrics name it
    assert a["relaykit.provider"] == "work"
    assert a["gen_ai.request.model"] == "gpt-4o"  # the request that was answered
    assert a["server.port"] == int(second.base_url.split(":")[2].split("/")[0])
    # the first target is the fallback event's, and the span name (set at start)
    (event,) = [e for e in span.events if e.name == "relaykit.fallback"]
    assert dict(event.attributes or {})["relaykit.fallback.from"] == "openai/gpt-4o-mini"
    assert span.name == "chat gpt-4o-mini"


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_fallback_to_a_deployment_with_no_server_leaves_no_stale_server(
    tracing: TracingExporter, streamed: bool
) -> None:
    # The fallback has no base URL (a plugin that calls no server): the first
    # target's server.address and server.port stayed on a span naming the fallback.
    # Attributes cannot be taken off a span: they are overwritten with "" and 0.
    with OpenAIMock(api_key=KEY) as first:
        first.script.push(Reply.failure(503, "busy"))
        config = {
            "providers": {"openai": {"base_url": first.base_url, "api_key": KEY}},
            "models": {"g": {"targets": ["openai/gpt-4o-mini", "fake/m-1"]}},
            "retry": {"attempts": 1, "initial_wait": 0},
        }
        async with client([FakePlugin(), tracing], **config) as c:
            if streamed:
                async with c.stream("g", "hi") as s:
                    async for _ in s:
                        pass
            else:
                await c.chat("g", "hi")
    assert len(first.requests) == 1
    (span,) = tracing.finished()
    a = dict(span.attributes or {})
    assert (a["gen_ai.provider.name"], a["gen_ai.request.model"]) == ("fake", "m-1")
    assert (a["server.address"], a["server.port"]) == ("", 0)


@pytest.mark.anyio
async def test_a_span_of_a_deployment_with_no_server_has_no_server_attributes(
    tracing: TracingExporter,
) -> None:
    async with client([FakePlugin(), tracing]) as c:
        await c.chat("fake/m-1", "hi")
    (span,) = tracing.finished()
    a = dict(span.attributes or {})
    assert "server.address" not in a and "server.port" not in a


@pytest.mark.anyio
async def test_a_hedged_call_won_by_its_first_target_names_that_target(
    tracing: TracingExporter,
) -> None:
    # The hedge (the second target, asked while the first was slow) moved the span
    # onto the second; the first answered first: the span must name it, as the
    # record does.
    import anyio

    first, second = FakePlugin("first"), FakePlugin("second")
    first.script.push(Reply(text="first", delay=0.2))
    second.script.push(Reply(text="second", delay=3))
    config = {
        "retry": {"attempts": 1},
        "models": {"g": {"targets": ["first/m1", "second/m2"], "hedge_after": 0.05}},
    }
    async with client([first, second, tracing], **config) as c:
        with anyio.fail_after(5):
            r = await c.chat("g", "race")
    assert r.provider == "first"
    (span,) = tracing.finished()
    a = dict(span.attributes or {})
    (record,) = [rec for rec in tracing.records if rec.error_type is None]
    assert (a["gen_ai.provider.name"], a["gen_ai.request.model"]) == (record.provider, record.model)
    assert (record.provider, record.model) == ("first", "m1")
