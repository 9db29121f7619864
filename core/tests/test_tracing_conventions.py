"""Spans against the GenAI semantic conventions' registry (the last release of the
conventions in the semantic-conventions repository): the attributes it names for
what relaykit used its own names for, and the message JSON schemas."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from opentelemetry.trace import SpanKind, StatusCode

import relaykit
from relaykit import hookimpl
from relaykit.testing import FakePlugin, Reply, TracingExporter

SECRET = "sk-proj-" + "Qq7" * 8


@pytest.fixture
def tracing() -> TracingExporter:
    return TracingExporter()


def client(plugins: list[Any], **config: Any) -> relaykit.Client:
    base: dict[str, Any] = {"storage": {"backend": "none"}, "retry": {"initial_wait": 0}}
    return relaykit.Client({**base, **config}, plugins=plugins)


def attributes(tracing: TracingExporter) -> dict[str, Any]:
    (span,) = tracing.finished()
    return dict(span.attributes or {})


@pytest.mark.anyio
async def test_a_stream_has_the_conventions_stream_and_first_chunk_attributes(
    tracing: TracingExporter,
) -> None:
    fake = FakePlugin()
    fake.script.reply("streamed words here")
    async with client([fake, tracing]) as c, c.stream("fake/m", "hi") as s:
        async for _ in s:
            pass
    a = attributes(tracing)
    # gen_ai.request.stream and gen_ai.response.time_to_first_chunk are the
    # registry's: relaykit's own names for them are gone, not doubled.
    assert a["gen_ai.request.stream"] is True
    assert isinstance(a["gen_ai.response.time_to_first_chunk"], float)
    assert a["gen_ai.response.time_to_first_chunk"] >= 0
    assert "relaykit.streamed" not in a
    assert "relaykit.time_to_first_chunk" not in a


@pytest.mark.anyio
async def test_a_call_not_streamed_has_no_stream_attributes(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    async with client([fake, tracing]) as c:
        await c.chat("fake/m", "hi")
    a = attributes(tracing)
    assert "gen_ai.request.stream" not in a
    assert "gen_ai.response.time_to_first_chunk" not in a


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("response_format", "output_type"),
    [
        ({"type": "json_object"}, "json"),
        ({"type": "json_schema", "schema": {"type": "object", "properties": {}}}, "json"),
        ({"type": "text"}, "text"),
    ],
)
async def test_a_requested_output_format_is_gen_ai_output_type(
    tracing: TracingExporter, response_format: dict[str, Any], output_type: str
) -> None:
    # Conditionally required "when applicable and if the request includes an output format".
    fake = FakePlugin()
    fake.script.reply("{}")
    async with client([fake, tracing]) as c:
        await c.chat("fake/m", "hi", response_format=response_format)
    assert attributes(tracing)["gen_ai.output.type"] == output_type


@pytest.mark.anyio
async def test_no_output_format_no_output_type(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    async with client([fake, tracing]) as c:
        await c.chat("fake/m", "hi")
    assert "gen_ai.output.type" not in attributes(tracing)


@pytest.mark.anyio
async def test_sampling_settings_passed_in_extra_are_request_attributes(
    tracing: TracingExporter,
) -> None:
    fake = FakePlugin()
    extra = {"top_k": 40, "frequency_penalty": 0.5, "presence_penalty": -0.25, "other": 1}
    async with client([fake, tracing]) as c:
        await c.chat("fake/m", "hi", extra=extra)
    a = attributes(tracing)
    assert a["gen_ai.request.top_k"] == 40
    assert a["gen_ai.request.frequency_penalty"] == 0.5
    assert a["gen_ai.request.presence_penalty"] == -0.25
    assert not [k for k in a if "other" in k]


@pytest.mark.anyio
async def test_extra_values_that_are_not_numbers_are_left_out(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    extra = {"top_k": SECRET, "frequency_penalty": True, "presence_penalty": None}
    async with client([fake, tracing]) as c:
        await c.chat("fake/m", "hi", extra=extra)
    a = attributes(tracing)
    assert not {"gen_ai.request.top_k", "gen_ai.request.frequency_penalty"} & a.keys()
    assert "gen_ai.request.presence_penalty" not in a
    assert SECRET not in json.dumps({k: str(v) for k, v in a.items()})


class _NameRedactor:
    """Masks "jane"."""

    def redact(self, text: str) -> str:
        return text.replace("jane", "[NAME]")

    @hookimpl
    def relaykit_redactors(self, config: Any) -> list[Any]:
        return [self]


@pytest.mark.anyio
async def test_captured_tool_calls_follow_the_message_schemas(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    fake.script.reply(
        "",
        tool_calls=[("lookup", {"who": "jane", "n": 2, "tags": ["a"]})],
        finish="tool_calls",
    )
    tool_result = {"type": "tool_result", "tool_call_id": "c1", "content": "ok"}
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "find jane"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"who": "jane"}}
            ],
        },
        {"role": "tool", "content": [tool_result]},
    ]
    config = {"telemetry": {"capture_content": True}}
    async with client([fake, tracing, _NameRedactor()], **config) as c:
        await c.chat("fake/m", history)
    a = attributes(tracing)
    inputs = json.loads(a["gen_ai.input.messages"])
    outputs = json.loads(a["gen_ai.output.messages"])
    # The schemas' ToolCallRequestPart.arguments: the arguments themselves (an
    # object, as the conventions' examples show), not a JSON string of them.
    assert inputs[1]["parts"] == [
        {"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"who": "[NAME]"}}
    ]
    assert inputs[2]["parts"] == [{"type": "tool_call_response", "id": "c1", "response": "ok"}]
    (message,) = outputs
    assert message["parts"] == [
        {
            "type": "tool_call",
            "id": "call_0",
            "name": "lookup",
            "arguments": {"who": "[NAME]", "n": 2, "tags": ["a"]},
        }
    ]
    # The output schema's FinishReason: "tool_call" is its well-known value; the
    # span's gen_ai.response.finish_reasons keeps relaykit's (and OpenAI's) word.
    assert message["finish_reason"] == "tool_call"
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)


@pytest.mark.anyio
async def test_arguments_a_redactor_breaks_stay_a_redacted_string(
    tracing: TracingExporter,
) -> None:
    class QuoteRedactor:
        """Replaces "jane" with text that is not valid inside a JSON string."""

        def redact(self, text: str) -> str:
            return text.replace("jane", '"<name>')

        @hookimpl
        def relaykit_redactors(self, config: Any) -> list[Any]:
            return [self]

    fake = FakePlugin()
    fake.script.reply("", tool_calls=[("lookup", {"who": "jane"})], finish="tool_calls")
    config = {"telemetry": {"capture_content": True}}
    async with client([fake, tracing, QuoteRedactor()], **config) as c:
        await c.chat("fake/m", "hi")
    outputs = json.loads(attributes(tracing)["gen_ai.output.messages"])
    arguments = outputs[0]["parts"][0]["arguments"]
    assert arguments == '{"who": ""<name>"}'
    assert "jane" not in arguments


def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"{city}: sunny, ask jane"


def broken(city: str) -> str:
    """Always fails."""
    raise LookupError(f"no station in {city}")


def tool_spans(tracing: TracingExporter) -> list[Any]:
    return [s for s in tracing.finished() if s.name.startswith("execute_tool")]


@pytest.mark.anyio
async def test_each_tool_run_is_an_execute_tool_span(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    fake.script.push(
        Reply(tool_calls=(("get_weather", {"city": "Paris"}),)), Reply(text="Sunny in Paris.")
    )
    async with client([fake, tracing]) as c:
        await c.run_tools("fake/m", "weather?", [get_weather])
    names = [s.name for s in tracing.finished()]
    assert names == ["chat m", "execute_tool get_weather", "chat m"]
    (span,) = tool_spans(tracing)
    # The conventions' execute tool span: INTERNAL (the tool runs in this process).
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_0",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Current weather in a city.",
    }
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.anyio
async def test_a_tool_that_raises_is_a_failed_execute_tool_span(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    fake.script.push(
        Reply(tool_calls=(("broken", {"city": "Paris"}), ("missing", {}))), Reply(text="Sorry.")
    )
    async with client([fake, tracing]) as c:
        await c.run_tools("fake/m", "weather?", [broken])
    failed, unknown = sorted(tool_spans(tracing), key=lambda s: s.name)
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "LookupError"
    # a call of no such tool: sent back to the model as an error, and the span says so
    assert unknown.name == "execute_tool missing"
    assert unknown.status.status_code is StatusCode.ERROR
    assert (unknown.attributes or {})["error.type"] == "ToolNotFound"


@pytest.mark.anyio
async def test_tool_arguments_and_results_are_captured_redacted_only_when_enabled(
    tracing: TracingExporter,
) -> None:
    fake = FakePlugin()
    steps = [Reply(tool_calls=(("get_weather", {"city": "jane"}),)), Reply(text="ok")]
    fake.script.push(*steps, *steps)
    async with client([fake, tracing, _NameRedactor()]) as c:
        await c.run_tools("fake/m", "weather?", [get_weather])
    config = {"telemetry": {"capture_content": True}}
    capturing = TracingExporter()
    async with client([fake, capturing, _NameRedactor()], **config) as c:
        await c.run_tools("fake/m", "weather?", [get_weather])
    (plain,) = (dict(s.attributes or {}) for s in tool_spans(tracing))
    (captured,) = (dict(s.attributes or {}) for s in tool_spans(capturing))
    assert "gen_ai.tool.call.arguments" not in plain
    assert "gen_ai.tool.call.result" not in plain
    assert json.loads(captured["gen_ai.tool.call.arguments"]) == {"city": "[NAME]"}
    assert captured["gen_ai.tool.call.result"] == "[NAME]: sunny, ask [NAME]"


@pytest.mark.anyio
async def test_a_streamed_tool_run_has_execute_tool_spans_too(tracing: TracingExporter) -> None:
    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("get_weather", {"city": "Oslo"}),)), Reply(text="ok"))
    async with client([fake, tracing]) as c, c.stream_tools("fake/m", "hi", [get_weather]) as s:
        async for _ in s:
            pass
    (span,) = tool_spans(tracing)
    assert (span.attributes or {})["gen_ai.tool.call.id"] == "call_0"


@pytest.mark.anyio
async def test_a_tool_error_raised_to_the_caller_fails_its_span_scrubbed(
    tracing: TracingExporter,
) -> None:
    def leaky(city: str) -> str:
        """Fails, naming a key."""
        raise LookupError(f"key {SECRET} refused for {city}")

    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("leaky", {"city": "Paris"}),)))
    async with client([fake, tracing]) as c:
        with pytest.raises(LookupError):
            await c.run_tools("fake/m", "weather?", [leaky], tool_errors="raise")
    (span,) = tool_spans(tracing)
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "LookupError"
    assert "Paris" in (span.status.description or "")
    assert SECRET not in (span.status.description or "")


@pytest.mark.anyio
async def test_a_tool_another_tools_raised_error_stops_is_a_cancelled_span(
    tracing: TracingExporter,
) -> None:
    async def slow(city: str) -> str:
        """Takes its time."""
        await anyio.sleep(30)
        return city

    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("slow", {"city": "Oslo"}), ("broken", {"city": "x"}))))
    async with client([fake, tracing]) as c:
        with pytest.raises(LookupError):
            await c.run_tools("fake/m", "hi", [slow, broken], tool_errors="raise")
    spans = {s.name: s for s in tool_spans(tracing)}
    assert (spans["execute_tool slow"].attributes or {})["error.type"] == "Cancelled"
    assert spans["execute_tool slow"].status.status_code is StatusCode.ERROR
    assert (spans["execute_tool broken"].attributes or {})["error.type"] == "LookupError"
