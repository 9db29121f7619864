"""A tool result in a user turn (Anthropic's shape) reaches every vendor as its tool result.

Anthropic's Messages API puts tool results in the user turn after the assistant's
calls; every other API has a tool message (or a function output item) for them.
A history built that way, as dicts or as :class:`relaykit.Message` values, must be
sent as the same request as the one built with ``Message.tool``: as Message
values, a result left in a user turn went to Chat Completions and Responses as
user text, the model's call never answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import relaykit
from relaykit import Message, TextPart
from relaykit.messages import ToolCall, ToolResultPart
from relaykit.testing.vendor_mock import VendorMock

CALL = ToolCall("call_weather_1", "weather", {"city": "Oslo"})
RESULT = '{"sky": "ZQX-sunny"}'
#: the tool the call is to (Bedrock, as its service does, wants tools with a tool loop)
WEATHER = {
    "name": "weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _openai(body: dict[str, Any]) -> list[Any]:
    return [(m["tool_call_id"], m["content"]) for m in body["messages"] if m.get("role") == "tool"]


def _responses(body: dict[str, Any]) -> list[Any]:
    return [
        (item["call_id"], item["output"])
        for item in body["input"]
        if item.get("type") == "function_call_output"
    ]


def _anthropic(body: dict[str, Any]) -> list[Any]:
    return [
        (block["tool_use_id"], block["content"])
        for m in body["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for block in m["content"]
        if block.get("type") == "tool_result"
    ]


def _bedrock(body: dict[str, Any]) -> list[Any]:
    return [
        (block["toolResult"]["toolUseId"], block["toolResult"]["content"])
        for m in body["messages"]
        if m["role"] == "user"
        for block in m["content"]
        if "toolResult" in block
    ]


def _gemini(body: dict[str, Any]) -> list[Any]:
    return [
        (part["functionResponse"]["name"], part["functionResponse"]["response"])
        for c in body["contents"]
        for part in c["parts"]
        if "functionResponse" in part
    ]


#: API -> the tool results its request body carries, as (the call they answer, content)
TOOL_RESULTS: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "openai": _openai,
    "openai-responses": _responses,
    "anthropic": _anthropic,
    "bedrock": _bedrock,
    "bedrock-messages": _anthropic,
    "gemini": _gemini,
    "ollama": lambda body: [
        (m.get("tool_name"), m["content"]) for m in body["messages"] if m["role"] == "tool"
    ],
    "cohere": _openai,
}


def history(last: list[Message | dict[str, Any]]) -> list[Message | dict[str, Any]]:
    """A tool loop's history: the question, the model's call, then ``last``."""
    return [Message.user("Weather in Oslo?"), Message.assistant("", [CALL]), *last]


#: the tool result and a follow-up question, each way a caller may write them
HISTORIES: dict[str, list[Message | dict[str, Any]]] = {
    "tool-message": history([Message.tool(CALL.id, RESULT), Message.user("And tomorrow?")]),
    "message-user-turn": history(
        [Message("user", (ToolResultPart(CALL.id, RESULT), TextPart("And tomorrow?")))]
    ),
    "dict-user-turn": history(
        [
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": CALL.id, "content": RESULT},
                    {"type": "text", "text": "And tomorrow?"},
                ],
            }
        ]
    ),
}


async def _sent_body(
    vendor: tuple[VendorMock, dict[str, Any], str],
    messages: list[Message | dict[str, Any]],
    streamed: bool,
) -> dict[str, Any]:
    mock, providers, model = vendor
    config = {"storage": {"backend": "none"}, "retry": {"attempts": 1}, "providers": providers}
    async with relaykit.Client(config) as client:
        if streamed:
            async with client.stream(model, messages, max_tokens=16, tools=[WEATHER]) as s:
                async for _ in s:
                    pass
        else:
            await client.chat(model, messages, max_tokens=16, tools=[WEATHER])
    body: dict[str, Any] = mock.last_request.json()
    return body


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_tool_result_in_a_user_turn_is_sent_as_the_vendors_tool_result(
    vendor: tuple[VendorMock, dict[str, Any], str],
    request: pytest.FixtureRequest,
    streamed: bool,
) -> None:
    results = TOOL_RESULTS[request.node.callspec.params["vendor"]]
    bodies = {
        name: await _sent_body(vendor, messages, streamed) for name, messages in HISTORIES.items()
    }
    (found,) = results(bodies["tool-message"])
    assert "ZQX-sunny" in str(found[1])
    # The same request, byte for byte once parsed, however the history was written.
    assert bodies["message-user-turn"] == bodies["tool-message"]
    assert bodies["dict-user-turn"] == bodies["tool-message"]
