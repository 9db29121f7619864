"""Conversations Converse refuses for what is in them: the mock refuses them as Bedrock
does, and the wire never sends them (left out, stripped, or refused before sending)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relaykit import InvalidRequestError, Message, TextPart, ToolCall
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_bedrock.testing import BedrockMock

from .conftest import MakeClient

CLAUDE = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA = "bedrock/us.amazon.nova-lite-v1:0"


def sent(mock: BedrockMock) -> Any:
    return mock.requests[-1].json()


# -- the mock refuses what Converse refuses ----------------------------------------------


@pytest.mark.parametrize("operation", ["converse", "converse-stream", "count-tokens"])
def test_the_mock_refuses_a_body_that_is_no_json_with_a_validation_exception(
    operation: str,
) -> None:
    # Before, Converse's route raised on it: a 500, where Bedrock answers a 400.
    key = "ABSKbm90LWpzb24ta2V5"
    with BedrockMock(bearer_token=key) as mock:
        r = httpx.post(
            f"{mock.base_url}/model/anthropic.claude-haiku-4-5-20251001-v1:0/{operation}",
            content=b"{not json",
            headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert not mock.failures
    assert r.status_code == 400
    assert r.headers["x-amzn-errortype"].startswith("ValidationException")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"system": [{"text": "rules"}, {"text": ""}]},
            "1 validation error detected: Value at 'system.2.member.text' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1",
        ),
        (
            {"system": [{"text": " \n"}]},
            "The model returned the following errors: system: text content blocks must "
            "contain non-whitespace text",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "hi"}, {"text": "\t"}]}]},
            "The text field in the ContentBlock object at messages.0.content is blank.",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"text": "Name a colour."}]},
                    {"role": "assistant", "content": [{"text": "The colour is "}]},
                ]
            },
            "The model returned the following errors: messages: final assistant content "
            "cannot end with trailing whitespace",
        ),
    ],
)
async def test_mock_refuses_blank_text_and_a_claude_prefill_ending_in_whitespace(
    make_client: MakeClient, extra: dict[str, Any], message: str
) -> None:
    # extra replaces what the wire built: the body the mock sees is the one above.
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat(CLAUDE, "hi", extra=extra)
    assert info.value.status == 400
    assert message in str(info.value)


@pytest.mark.anyio
async def test_mock_takes_a_prefill_ending_in_whitespace_from_a_model_that_is_not_claude(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    prefill = [
        {"role": "user", "content": [{"text": "Name a colour."}]},
        {"role": "assistant", "content": [{"text": "The colour is "}]},
    ]
    async with make_client() as client:
        await client.chat(NOVA, "hi", extra={"messages": prefill})
    assert sent(mock)["messages"] == prefill


# -- the wire sends what Converse takes --------------------------------------------------


@pytest.mark.anyio
async def test_whitespace_only_text_is_left_out(mock: BedrockMock, make_client: MakeClient) -> None:
    history = [
        Message.system(" \n"),
        Message.user("What is the weather in Rome?"),
        Message.assistant("\n\n", [ToolCall("t1", "get_weather", {"city": "Rome"})]),
        Message.tool("t1", "sunny"),
        Message.user([TextPart(" "), TextPart("And tomorrow?")]),
        Message.assistant("  "),
        Message.user("Thanks."),
    ]
    async with make_client() as client:
        await client.chat(CLAUDE, history, tools=[WEATHER_TOOL])
    body = sent(mock)
    assert "system" not in body
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "What is the weather in Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Rome"}}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}},
                {"text": "And tomorrow?"},
                {"text": "Thanks."},
            ],
        },
    ]


@pytest.mark.anyio
async def test_a_prefill_is_sent_without_its_trailing_whitespace(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        await client.chat(
            CLAUDE, [Message.user("Name a colour."), Message.assistant("The colour is \n")]
        )
        assert sent(mock)["messages"][-1] == {
            "role": "assistant",
            "content": [{"text": "The colour is"}],
        }
        # Only the final turn: an earlier assistant turn keeps its whitespace.
        await client.chat(CLAUDE, [Message.user("a"), Message.assistant("b \n"), Message.user("c")])
        assert sent(mock)["messages"][1] == {"role": "assistant", "content": [{"text": "b \n"}]}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([Message.user(" ")], "every user and assistant message is empty"),
        ([Message.system("Be brief.")], "every user and assistant message is empty"),
        (
            [
                Message.system("Be brief."),
                Message.assistant("Hi, how can I help?"),
                Message.user("Hi"),
            ],
            "start with a user message",
        ),
        ([Message.user(""), Message.assistant("Hello."), Message.user("Hi")], "start with a user"),
    ],
)
async def test_how_a_conversation_opens_is_checked_before_sending(
    mock: BedrockMock, make_client: MakeClient, messages: list[Message], match: str
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match=match) as info:
            await client.chat(CLAUDE, messages)
    assert info.value.hint and "user message" in info.value.hint
    assert mock.requests == []
