"""Spans against the GenAI semantic conventions' registry (the last release of the
conventions in the semantic-conventions repository): the attributes it names for
what relaykit used its own names for, and the message JSON schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest

import relaykit
from relaykit import hookimpl
from relaykit.testing import FakePlugin, TracingExporter

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
