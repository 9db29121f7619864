"""Messages in Anthropic's shape, as an Anthropic SDK user's history holds them: read
into relaykit's parts, and sent on to any provider."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import relaykit
from relaykit import ImagePart, InvalidRequestError, Message, ReasoningPart, TextPart, ToolCall
from relaykit.messages import CachePoint, ToolResultPart, coerce_messages
from relaykit.testing import PNG, OpenAIMock, Reply

PNG_B64 = base64.b64encode(PNG).decode()
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}, IMAGE]},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "I should look it up.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
    },
    {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": [{"type": "text", "text": '{"sky": "sunny"}'}, IMAGE],
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "text", "text": "And tomorrow?"},
        ],
    },
]
CHART = ImagePart(data=PNG, media_type="image/png")


def test_an_anthropic_conversation_reads_as_relaykit_messages() -> None:
    assert coerce_messages(CONVERSATION) == (
        Message.user([TextPart("Weather in Paris?"), CHART]),
        Message(
            "assistant",
            (
                ReasoningPart("I should look it up.", "sig-1", origin="anthropic"),
                ReasoningPart(redacted="opaque", origin="anthropic"),
                TextPart("Checking."),
                ToolCall("toolu_1", "get_weather", {"city": "Paris"}),
            ),
        ),
        # the result is a tool message of its own, its cache mark with it...
        Message(
            "tool",
            (ToolResultPart("toolu_1", '{"sky": "sunny"}', attachments=(CHART,)), CachePoint()),
        ),
        # ...and the rest of the turn the user's
        Message.user("And tomorrow?"),
    )


def test_a_result_without_content_and_an_error_flag() -> None:
    turn = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t", "is_error": True}],
    }
    assert coerce_messages([turn]) == (Message.tool("t", "", is_error=True),)


def test_a_user_message_holding_tool_results_becomes_tool_messages_then_the_rest() -> None:
    """As the dict of Anthropic's shape does: a Message built the same way was sent to
    Chat Completions and Responses with its results as text, the calls unanswered."""
    first, second = ToolResultPart("c1", "one"), ToolResultPart("c2", "two", is_error=True)
    turn = Message("user", (first, CachePoint(), second, TextPart("next?"), CachePoint("1h")))
    assert coerce_messages([turn]) == (
        Message("tool", (first, CachePoint())),
        Message("tool", (second,)),
        Message("user", (TextPart("next?"), CachePoint("1h"))),
    )
    # Only tool results: no empty user turn after them.
    assert coerce_messages([Message("user", (first,))]) == (Message("tool", (first,)),)


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "image", "source": {"type": "file", "file_id": "f"}}, "source type 'file'"),
        ({"type": "tool_use", "name": "f"}, "missing 'id'"),
        ({"type": "thinking", "signature": "s"}, "missing 'thinking'"),
        ({"type": "server_tool_use"}, "use one of .*tool_use, thinking"),
    ],
)
def test_malformed_anthropic_blocks_are_typed_errors(part: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        coerce_messages([{"role": "user", "content": [part]}])


@pytest.mark.anyio
async def test_an_anthropic_history_goes_to_an_openai_model() -> None:
    key = "sk-test-0123456789abcdef0123"
    with OpenAIMock(api_key=key) as mock:
        mock.script.push(Reply(text="Rain tomorrow."))
        config = {
            "storage": {"backend": "none"},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": key}},
        }
        async with relaykit.Client(config) as client:
            r = await client.chat("openai/gpt-4o-mini", CONVERSATION)
        sent = json.loads(mock.last_request.body)
    assert r.text == "Rain tomorrow."
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["user", "assistant", "tool", "user", "user"]
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": "toolu_1",
        "content": '{"sky": "sunny"}',
    }
    assert sent["messages"][3]["content"][1]["type"] == "image_url"  # the result's image
    assert sent["messages"][1]["tool_calls"][0]["id"] == "toolu_1"
    assert "sig-1" not in mock.last_request.body.decode()  # Anthropic's signature stays home
