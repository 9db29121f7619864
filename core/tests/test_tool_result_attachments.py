"""Images and documents a tool returns: ToolResultPart.attachments, from every shape
callers have, through the cache key, the size check, the record and JSON."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import relaykit
from relaykit import (
    DocumentPart,
    ImagePart,
    InvalidRequestError,
    Message,
    TextPart,
    ToolCall,
    ToolResultPart,
)
from relaykit.messages import coerce_messages
from relaykit.request import build_request, request_size
from relaykit.response_cache import cache_key
from relaykit.serialization import from_json, to_json
from relaykit.testing import PDF, PNG, FakePlugin, RecordingExporter

PNG_B64 = base64.b64encode(PNG).decode()
CHART = ImagePart(data=PNG, media_type="image/png")
REPORT = DocumentPart(data=PDF, name="r.pdf")


def test_message_tool_takes_attachments_after_the_text() -> None:
    (result,) = Message.tool("c1", "the chart", CHART, REPORT, is_error=True).content
    assert result == ToolResultPart("c1", "the chart", True, attachments=(CHART, REPORT))


def test_attachments_are_images_and_documents_only() -> None:
    with pytest.raises(InvalidRequestError, match="not TextPart") as caught:
        Message.tool("c1", "x", TextPart("more"))  # type: ignore[arg-type]
    assert caught.value.hint == "put the result's text in its content"


@pytest.mark.parametrize(
    "message",
    [
        # OpenAI's tool message with a list of parts (its API takes text only there;
        # callers coming from Anthropic's shape send more)
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": [
                {"type": "text", "text": "the "},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                {"type": "text", "text": "chart"},
            ],
        },
        # relaykit's own: content as a list of parts
        {
            "role": "tool",
            "content": [
                {
                    "type": "tool_result",
                    "tool_call_id": "c1",
                    "content": [
                        {"type": "text", "text": "the chart"},
                        {"type": "image", "data": PNG_B64, "media_type": "image/png"},
                    ],
                }
            ],
        },
        # ...and as to_json writes it
        {
            "role": "tool",
            "content": [
                {
                    "type": "tool_result",
                    "tool_call_id": "c1",
                    "content": "the chart",
                    "attachments": [{"type": "image", "data": PNG_B64, "media_type": "image/png"}],
                }
            ],
        },
    ],
)
def test_attachments_come_from_every_dict_shape(message: dict[str, Any]) -> None:
    (coerced,) = coerce_messages([message])
    assert coerced == Message.tool("c1", "the chart", CHART)


def test_a_tool_results_parts_that_are_not_content_are_refused() -> None:
    message = {
        "role": "tool",
        "tool_call_id": "c1",
        "content": [{"type": "tool_call", "id": "x", "name": "f", "arguments": {}}],
    }
    with pytest.raises(InvalidRequestError, match="tool_call part") as caught:
        coerce_messages([message])
    assert caught.value.param == "messages[0].content[0].type"


def test_a_json_object_as_content_is_refused_with_the_fix() -> None:
    part = {"type": "tool_result", "tool_call_id": "c1", "content": {"sky": "sunny"}}
    with pytest.raises(InvalidRequestError, match="string or a list of parts") as caught:
        coerce_messages([{"role": "tool", "content": [part]}])
    assert caught.value.hint is not None and "json.dumps" in caught.value.hint


def test_json_round_trip_and_records_written_before_attachments() -> None:
    message = Message.tool("c1", "the chart", CHART, REPORT)
    assert from_json(to_json(message), Message) == message
    older = '{"role":"tool","content":[{"type":"tool_result","tool_call_id":"c1","content":"x"}]}'
    assert from_json(older, Message) == Message.tool("c1", "x")


def test_attachments_are_in_the_cache_key_and_text_documents_count_toward_the_size() -> None:
    call = Message.assistant("", [ToolCall("c1", "f")])

    def request(*attachments: ImagePart | DocumentPart) -> relaykit.ChatRequest:
        turns = (Message.user("chart?"), call, Message.tool("c1", "done", *attachments))
        return build_request("m", turns, {})

    given: list[tuple[ImagePart | DocumentPart, ...]] = [(), (CHART,), (REPORT,), (CHART, REPORT)]
    keys = {cache_key("p", request(*a)) for a in given}
    assert len(keys) == 4
    notes = DocumentPart(data=b"0123456789", media_type="text/plain")
    assert request_size(request(notes)) == request_size(request()) + 10


@pytest.mark.anyio
async def test_a_text_attachments_secrets_are_redacted_in_the_record() -> None:
    secret = "sk-proj-" + "Zq9" * 10
    exporter = RecordingExporter()
    notes = DocumentPart(data=f"the key is {secret}".encode(), media_type="text/plain")
    turns = [
        Message.user("read the logs"),
        Message.assistant("", [ToolCall("c1", "read_logs")]),
        Message.tool("c1", f"found {secret}", notes, CHART),
    ]
    async with relaykit.Client(
        {"storage": {"backend": "none"}}, plugins=[FakePlugin(), exporter]
    ) as client:
        await client.chat("fake/m", turns)
    (record,) = exporter.records
    (stored,) = record.messages[-1].content
    assert isinstance(stored, ToolResultPart)
    stored_notes, stored_chart = stored.attachments
    assert isinstance(stored_notes, DocumentPart) and stored_notes.data is not None
    assert secret not in stored.content and secret.encode() not in stored_notes.data
    assert b"the key is" in stored_notes.data
    assert stored_chart == CHART
