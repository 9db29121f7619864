"""Requests the Messages API refuses for what is in them: the mock refuses them as the
API does, in its words, and the wire never sends them (left out, stripped, or refused
before sending with the fix)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relaykit import InvalidRequestError, Message, TextPart, ToolCall
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_anthropic.testing import AnthropicMock

from .conftest import client

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-sonnet-4-5"


def sent_messages(mock: AnthropicMock) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = mock.last_request.json()["messages"]
    return messages


def text(t: str) -> dict[str, str]:
    return {"type": "text", "text": t}


# -- the mock refuses what the API refuses -------------------------------------------


def post(mock: AnthropicMock, **body: Any) -> httpx.Response:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    payload = {"model": "claude-sonnet-4-5", "max_tokens": 10, **body}
    return httpx.post(f"{mock.base_url}/v1/messages", json=payload, headers=headers)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"messages": [{"role": "user", "content": [text(" \n")]}]},
            "messages: text content blocks must contain non-whitespace text",
        ),
        (
            {"messages": [{"role": "user", "content": [text("hi"), text("\t")]}]},
            "messages: text content blocks must contain non-whitespace text",
        ),
        (
            {"messages": [{"role": "user", "content": "  "}]},
            "messages.0: text content blocks must contain non-whitespace text",
        ),
        (
            {"system": "  ", "messages": [{"role": "user", "content": "hi"}]},
            "system: text content blocks must contain non-whitespace text",
        ),
        (
            {
                "system": [text("rules"), text("\n\n")],
                "messages": [{"role": "user", "content": "hi"}],
            },
            "system: text content blocks must contain non-whitespace text",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": []},
                    {"role": "assistant", "content": "ok"},
                ]
            },
            "messages.0: all messages must have non-empty content except for the "
            "optional final assistant message",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "Name a colour."},
                    {"role": "assistant", "content": [text("The colour is ")]},
                ]
            },
            "messages: final assistant content cannot end with trailing whitespace",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "Name a colour."},
                    {"role": "assistant", "content": "The colour is\n"},
                ]
            },
            "messages: final assistant content cannot end with trailing whitespace",
        ),
    ],
)
def test_mock_refuses_blank_text_and_a_prefill_ending_in_whitespace(
    mock: AnthropicMock, body: dict[str, Any], message: str
) -> None:
    answer = post(mock, **body)
    assert answer.status_code == 400
    assert answer.json()["error"] == {"type": "invalid_request_error", "message": message}


def test_mock_takes_an_empty_final_assistant_turn_and_whitespace_inside_text(
    mock: AnthropicMock,
) -> None:
    # What the API allows: an empty prefill, and whitespace that is not all of a block
    # or the end of a prefill (a turn before the last may end in it).
    answer = post(
        mock,
        messages=[
            {"role": "user", "content": [text("  indented\n")]},
            {"role": "assistant", "content": "ok \n"},
            {"role": "user", "content": "go on"},
            {"role": "assistant", "content": []},
        ],
    )
    assert answer.status_code == 200, answer.text


# -- the wire sends what the API takes -------------------------------------------------


@pytest.mark.anyio
async def test_whitespace_only_text_is_left_out(mock: AnthropicMock) -> None:
    history = [
        Message.user("What is the weather in Rome?"),
        Message.assistant("\n\n", [ToolCall("toolu_1", "get_weather", {"city": "Rome"})]),
        Message.tool("toolu_1", "sunny"),
        Message.user([TextPart(" "), TextPart("And tomorrow?")]),
    ]
    async with client(mock) as c:
        await c.chat(MODEL, history, tools=[WEATHER_TOOL])
    assert sent_messages(mock) == [
        {"role": "user", "content": [text("What is the weather in Rome?")]},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                text("And tomorrow?"),
            ],
        },
    ]


@pytest.mark.anyio
async def test_a_blank_message_is_left_out_and_its_neighbours_merged(
    mock: AnthropicMock,
) -> None:
    history = [
        Message.user("Hi"),
        Message.assistant("Hello."),
        Message.user("   "),
        Message.assistant("Anything else?"),
        Message.user("No."),
    ]
    async with client(mock) as c:
        await c.chat(MODEL, history)
    assert sent_messages(mock) == [
        {"role": "user", "content": [text("Hi")]},
        {"role": "assistant", "content": [text("Hello."), text("Anything else?")]},
        {"role": "user", "content": [text("No.")]},
    ]


@pytest.mark.anyio
async def test_a_prefill_is_sent_without_its_trailing_whitespace(mock: AnthropicMock) -> None:
    history = [
        Message.user("Name a colour."),
        Message.assistant([TextPart("The colour is"), TextPart(" \n")]),
    ]
    async with client(mock) as c:
        await c.chat(MODEL, [Message.user("Name a colour."), Message.assistant("The colour is ")])
        assert sent_messages(mock)[-1] == {"role": "assistant", "content": [text("The colour is")]}
        await c.chat(MODEL, history)
        assert sent_messages(mock)[-1] == {"role": "assistant", "content": [text("The colour is")]}
        # Only the final turn: an earlier assistant turn keeps its whitespace.
        await c.chat(MODEL, [Message.user("a"), Message.assistant("b \n"), Message.user("c")])
        assert sent_messages(mock)[1] == {"role": "assistant", "content": [text("b \n")]}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "messages",
    [
        [Message.user("")],
        [Message.system("Be brief."), Message.user(" \n ")],
        [Message.system("Be brief.")],
    ],
)
async def test_nothing_left_to_send_is_refused_before_sending(
    mock: AnthropicMock, messages: list[Message]
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="every user and assistant message") as info:
            await c.chat(MODEL, messages)
    assert "at least one user message" in str(info.value.hint)
    assert mock.requests == []
