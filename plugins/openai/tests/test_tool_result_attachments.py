"""A tool result's images and documents on OpenAI's wire."""

from __future__ import annotations

import base64

import pytest

from relaykit import DocumentPart, ImagePart, InvalidRequestError, Message, ToolCall, ToolResultPart
from relaykit.request import build_request
from relaykit.testing import PDF, PNG
from relaykit_openai import responses_wire, wire

CHART = ImagePart(data=PNG, media_type="image/png")
REPORT = DocumentPart(data=PDF, name="r.pdf")
PNG_B64 = base64.b64encode(PNG).decode()
PDF_B64 = base64.b64encode(PDF).decode()
CALLS = Message.assistant("", [ToolCall("c1", "chart"), ToolCall("c2", "report")])


TURNS = (
    Message.user("go"),
    CALLS,
    Message.tool("c1", "the chart", CHART),
    Message.tool("c2", "the report", REPORT),
    Message.user("and?"),
)


def test_chat_completions_sends_attachments_in_a_user_message_after_the_results() -> None:
    body = wire.request_body(
        build_request("gpt-4o", TURNS, {}),
        max_tokens_param="max_completion_tokens",
        stream=False,
        stream_usage=False,
    )
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "tool", "tool", "user", "user"]
    assert body["messages"][2]["content"] == "the chart"  # tool messages stay text
    intro1, image, intro2, file = body["messages"][4]["content"]
    assert intro1 == {"type": "text", "text": "Attached to the result of tool call c1:"}
    assert image == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
    assert intro2["text"] == "Attached to the result of tool call c2:"
    assert file["type"] == "file" and PDF_B64 in file["file"]["file_data"]


def test_the_responses_api_reads_attachments_inside_the_function_call_output() -> None:
    body = responses_wire.request_body(build_request("gpt-4o", TURNS, {}), stream=False)
    outputs = [i["output"] for i in body["input"] if i.get("type") == "function_call_output"]
    chart, report = outputs
    assert chart[0] == {"type": "input_text", "text": "the chart"}
    assert chart[1]["type"] == "input_image"
    assert chart[1]["image_url"] == f"data:image/png;base64,{PNG_B64}"
    assert report[1]["type"] == "input_file"


def test_attachments_outside_a_tool_message_are_refused() -> None:
    stray = Message("user", (ToolResultPart("c1", "x", attachments=(CHART,)),))
    request = build_request("gpt-4o", (Message.user("go"), CALLS, stray), {})
    with pytest.raises(InvalidRequestError, match="outside a tool message"):
        wire.request_body(request, max_tokens_param="max_tokens", stream=False, stream_usage=False)
    with pytest.raises(InvalidRequestError, match="outside a tool message"):
        responses_wire.request_body(request, stream=False)
