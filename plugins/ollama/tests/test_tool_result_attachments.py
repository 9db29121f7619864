"""A tool result's images and documents on Ollama's wire."""

from __future__ import annotations

import base64

import pytest

from relaykit import DocumentPart, ImagePart, InvalidRequestError, Message, ToolCall
from relaykit.testing import PDF, PNG
from relaykit_ollama import wire

CHART = ImagePart(data=PNG, media_type="image/png")
REPORT = DocumentPart(data=PDF, name="r.pdf")
PNG_B64 = base64.b64encode(PNG).decode()
PDF_B64 = base64.b64encode(PDF).decode()
CALLS = Message.assistant("", [ToolCall("c1", "chart"), ToolCall("c2", "report")])


def test_images_go_in_a_user_message_after_the_results() -> None:
    turns = (
        Message.user("go"),
        CALLS,
        Message.tool("c1", "the chart", CHART, CHART),
        Message.tool("c2", "no chart"),
        Message.user("and?"),
    )
    sent = wire.messages(turns)
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user", "user"]
    attached = sent[4]
    assert attached["images"] == [PNG_B64, PNG_B64]
    assert attached["content"] == "The result of tool call c1 came with 2 images, attached here."
    assert "images" not in sent[2]


def test_a_document_attachment_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="reads no documents"):
        wire.messages((Message.user("go"), CALLS, Message.tool("c1", "x", REPORT)))
