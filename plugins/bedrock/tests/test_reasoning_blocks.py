"""Converse reasoning blocks, one by one: redactedContent, several signed blocks, in a tool loop.

The mock checks each reasoningText's signature and that redactedContent is the
base64 it sent, as Claude on Bedrock does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import relaykit
from relaykit import ChatResponse, InvalidRequestError, Message, ReasoningPart
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_bedrock.testing import BedrockMock
from relaykit_bedrock.testing.frames import reasoning_signature

MODEL = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MakeClient = Callable[..., relaykit.Client]
#: redactedContent is a blob: base64 in the JSON of the API
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"


async def ask(client: relaykit.Client, messages: list[Message], streamed: bool) -> ChatResponse:
    if not streamed:
        return await client.chat(MODEL, messages, tools=[WEATHER_TOOL])
    async with client.stream(MODEL, messages, tools=[WEATHER_TOOL]) as s:
        async for _ in s:
            pass
    return s.response


async def tool_loop(
    mock: BedrockMock, make_client: MakeClient, streamed: bool, blocks: tuple[ReasoningPart, ...]
) -> tuple[ChatResponse, list[dict[str, Any]]]:
    """A call that reasons in ``blocks`` and calls a tool, then the turn answering it;
    the response and the assistant turn sent back."""
    mock.script.reply(reasoning_blocks=blocks, tool_calls=[("get_weather", {"city": "Oslo"})])
    mock.script.reply("Cold.")
    async with make_client() as client:
        question = Message.user("Weather in Oslo?")
        r = await ask(client, [question], streamed)
        result = Message.tool(r.tool_calls[0].id, "-3C")
        assert (await ask(client, [question, r.to_message(), result], streamed)).text == "Cold."
    sent = mock.requests[-1].json()["messages"][1]["content"]
    return r, sent


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_redacted_content_is_kept_and_sent_back_verbatim(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    r, sent = await tool_loop(mock, make_client, streamed, (ReasoningPart(redacted=REDACTED),))
    assert r.reasoning_parts == (ReasoningPart(redacted=REDACTED, origin="bedrock"),)
    assert sent[0] == {"reasoningContent": {"redactedContent": REDACTED}}


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_several_blocks_keep_their_own_signatures_in_order(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    blocks = (
        ReasoningPart("Oslo is in Norway."),
        ReasoningPart(redacted=REDACTED),
        ReasoningPart(" Ask the tool."),
    )
    r, sent = await tool_loop(mock, make_client, streamed, blocks)
    first, second = reasoning_signature(blocks[0].text), reasoning_signature(blocks[2].text)
    assert r.reasoning_parts == (
        ReasoningPart("Oslo is in Norway.", first, origin="bedrock"),
        ReasoningPart(redacted=REDACTED, origin="bedrock"),
        ReasoningPart(" Ask the tool.", second, origin="bedrock"),
    )
    assert (r.reasoning, r.reasoning_signature) == ("Oslo is in Norway. Ask the tool.", second)
    assert sent[:3] == [
        {"reasoningContent": {"reasoningText": {"text": blocks[0].text, "signature": first}}},
        {"reasoningContent": {"redactedContent": REDACTED}},
        {"reasoningContent": {"reasoningText": {"text": blocks[2].text, "signature": second}}},
    ]


@pytest.mark.anyio
async def test_anthropic_signed_reasoning_is_not_sent_to_bedrock(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # Claude on Bedrock and Claude at Anthropic both sign, but relaykit does not
    # count on their signatures being interchangeable: Anthropic's stay home.
    turn = Message(
        "assistant",
        (
            ReasoningPart("from elsewhere", "anthropic-sig", origin="anthropic"),
            ReasoningPart(redacted=REDACTED, origin="anthropic"),
            relaykit.TextPart("Hi."),
        ),
    )
    async with make_client() as client:
        await client.chat(MODEL, [Message.user("hi"), turn, Message.user("again")])
        # ... where the mock, like Claude, refuses a signature it did not make
        forged = Message("assistant", (ReasoningPart("x", "anthropic-sig"), turn.content[2]))
        with pytest.raises(InvalidRequestError, match="Invalid signature"):
            await client.chat(MODEL, [Message.user("hi"), forged, Message.user("again")])
    assert mock.requests[0].json()["messages"][1]["content"] == [{"text": "Hi."}]
