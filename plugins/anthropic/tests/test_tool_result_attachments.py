"""A tool result's images and documents on Anthropic's wire."""

from __future__ import annotations

import base64

from relaykit import DocumentPart, ImagePart, Message, ToolCall
from relaykit.testing import PDF, PNG
from relaykit_anthropic import wire
from relaykit_anthropic.testing import validate_messages

CHART = ImagePart(data=PNG, media_type="image/png")
REPORT = DocumentPart(data=PDF, name="r.pdf")
PNG_B64 = base64.b64encode(PNG).decode()
PDF_B64 = base64.b64encode(PDF).decode()
CALLS = Message.assistant("", [ToolCall("c1", "chart"), ToolCall("c2", "report")])


def test_attachments_are_blocks_inside_the_tool_result() -> None:
    turns = (Message.user("go"), CALLS, Message.tool("c1", "", CHART, REPORT))
    _, _, results = wire.messages(turns)
    (block,) = results["content"]
    assert block["content"][0] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
    }
    assert block["content"][1]["type"] == "document"
    assert block["content"][1]["source"]["data"] == PDF_B64
    assert len(block["content"]) == 2  # no empty text block: Anthropic refuses one


def test_a_result_without_attachments_stays_a_string() -> None:
    _, _, results = wire.messages((Message.user("go"), CALLS, Message.tool("c1", "done")))
    assert results["content"][0]["content"] == "done"


def test_the_mock_refuses_what_anthropic_refuses_inside_a_tool_result() -> None:
    def body(*content: dict[str, object]) -> dict[str, object]:
        result = {"type": "tool_result", "tool_use_id": "c1", "content": list(content)}
        use = {"type": "tool_use", "id": "c1", "name": "f", "input": {}}
        turns = [{"role": "user", "content": "go"}, {"role": "assistant", "content": [use]}]
        return {"model": "claude-x", "messages": [*turns, {"role": "user", "content": [result]}]}

    assert validate_messages(body({"type": "text", "text": "ok"})) is None
    assert "non-empty" in str(validate_messages(body({"type": "text", "text": ""})))
    assert "'tool_use'" in str(validate_messages(body({"type": "tool_use"})))


def test_the_mock_refuses_tool_uses_left_unanswered_or_results_for_none() -> None:
    def body(*results: str) -> dict[str, object]:
        uses: list[dict[str, object]] = [
            {"type": "tool_use", "id": x, "name": "f", "input": {}} for x in ("c1", "c2")
        ]
        answers = [{"type": "tool_result", "tool_use_id": x, "content": "ok"} for x in results]
        turns = [{"role": "user", "content": "go"}, {"role": "assistant", "content": uses}]
        return {"model": "claude-x", "messages": [*turns, {"role": "user", "content": answers}]}

    assert validate_messages(body("c1", "c2")) is None
    # a result in a turn after none with tool_use (here the first) answers nothing
    lone = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c9"}]}
    assert str(validate_messages({"model": "claude-x", "messages": [lone]})).startswith(
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: c9."
    )
    assert validate_messages(body("c1")) == (
        "messages.2: `tool_use` ids were found without `tool_result` blocks immediately "
        "after: c2. Each `tool_use` block must have a corresponding `tool_result` block "
        "in the next message."
    )
    assert "unexpected `tool_use_id` found in `tool_result` blocks: c3" in str(
        validate_messages(body("c1", "c2", "c3"))
    )


def test_an_empty_result_is_sent_as_a_placeholder_its_error_flag_kept() -> None:
    # Anthropic refuses an error result with no content, and whitespace-only text;
    # a tool that printed nothing has still answered.
    empty = Message.tool("c1", "")
    blank_error = Message.tool("c2", " \n", is_error=True)
    _, _, results = wire.messages((Message.user("go"), CALLS, empty, blank_error))
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": wire.NO_OUTPUT},
        {"type": "tool_result", "tool_use_id": "c2", "content": wire.NO_OUTPUT, "is_error": True},
    ]


def test_whitespace_beside_attachments_is_left_out() -> None:
    turns = (Message.user("go"), CALLS, Message.tool("c1", "  ", CHART))
    _, _, results = wire.messages(turns)
    assert [b["type"] for b in results["content"][0]["content"]] == ["image"]


def test_the_mock_refuses_an_error_result_with_no_content() -> None:
    def body(**result: object) -> dict[str, object]:
        block = {"type": "tool_result", "tool_use_id": "c1", **result}
        use = {"type": "tool_use", "id": "c1", "name": "f", "input": {}}
        turns = [{"role": "user", "content": "go"}, {"role": "assistant", "content": [use]}]
        return {"model": "claude-x", "messages": [*turns, {"role": "user", "content": [block]}]}

    refusal = "messages.2.content.0.tool_result: content cannot be empty if `is_error` is true"
    assert validate_messages(body(is_error=True)) == refusal
    assert validate_messages(body(content="", is_error=True)) == refusal
    assert validate_messages(body(content=[], is_error=True)) == refusal
    assert validate_messages(body(content="failed", is_error=True)) is None
    blank = body(content=[{"type": "text", "text": " \n"}])
    assert "non-whitespace" in str(validate_messages(blank))
