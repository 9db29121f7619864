"""A tool result's images and documents on Gemini's wire."""

from __future__ import annotations

import base64

from relaykit import DocumentPart, ImagePart, Message, ToolCall
from relaykit.testing import PDF, PNG
from relaykit_gemini import wire

CHART = ImagePart(data=PNG, media_type="image/png")
REPORT = DocumentPart(data=PDF, name="r.pdf")
PNG_B64 = base64.b64encode(PNG).decode()
PDF_B64 = base64.b64encode(PDF).decode()
CALLS = Message.assistant("", [ToolCall("c1", "chart"), ToolCall("c2", "report")])


def test_attachments_follow_the_turns_function_responses() -> None:
    turns = (
        Message.user("go"),
        CALLS,
        Message.tool("c1", "the chart", CHART),
        Message.tool("c2", "the report", REPORT),
        Message.user("and?"),
    )
    _, _, results = wire.contents(turns)
    kinds = [next(iter(p)) for p in results["parts"]]
    # The responses first, as many as the calls, and the user's words merged into
    # the same turn; the attachments close the turn (none goes in the model's).
    assert kinds == ["functionResponse", "functionResponse", "text", "inlineData", "inlineData"]
    assert results["parts"][3] == {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}
    assert results["parts"][4]["inlineData"]["data"] == PDF_B64
