"""A tool result's images and documents on Bedrock Converse's wire."""

from __future__ import annotations

import base64

from relaykit import DocumentPart, ImagePart, Message, ToolCall
from relaykit.testing import PDF, PNG
from relaykit_bedrock import wire

CHART = ImagePart(data=PNG, media_type="image/png")
REPORT = DocumentPart(data=PDF, name="r.pdf")
PNG_B64 = base64.b64encode(PNG).decode()
PDF_B64 = base64.b64encode(PDF).decode()
CALLS = Message.assistant("", [ToolCall("c1", "chart"), ToolCall("c2", "report")])


def test_attachments_are_content_blocks_of_the_tool_result() -> None:
    turns = (Message.user("go"), CALLS, Message.tool("c1", "see", CHART, REPORT))
    _, _, results = wire.messages(turns)
    (block,) = results["content"]
    text, image, document = block["toolResult"]["content"]
    assert text == {"text": "see"}
    assert image == {"image": {"format": "png", "source": {"bytes": PNG_B64}}}
    assert document["document"]["format"] == "pdf"


def test_an_empty_text_is_left_out_beside_attachments() -> None:
    turns = (Message.user("go"), CALLS, Message.tool("c1", "", CHART))
    _, _, results = wire.messages(turns)
    assert [list(b) for b in results["content"][0]["toolResult"]["content"]] == [["image"]]
