"""Converse reasoning blocks, one by one: redactedContent, several signed blocks, in a tool loop.

The mock checks each reasoningText's signature and that redactedContent is the
base64 it sent, as Claude on Bedrock does, and that an assistant turn holding
reasoning opens with it (on Converse and on the Messages API).
"""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import ChatResponse, InvalidRequestError, Message, ReasoningPart, TextPart, ToolCall
from relaykit.testing.provider_contract import WEATHER_TOOL, weather_tool_loop
from relaykit_bedrock.testing import BedrockMock
from relaykit_bedrock.testing.frames import reasoning_signature
from relaykit_bedrock.testing.messages import VERSION, validate_messages
from relaykit_bedrock.testing.mock import claude_problem

from .conftest import MakeClient

MODEL = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
#: a Claude that Bedrock serves on its Messages API, not Converse
OPUS_4_7 = "bedrock/global.anthropic.claude-opus-4-7"
#: redactedContent is a blob: base64 in the JSON of the API
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"


async def ask(
    client: relaykit.Client,
    messages: list[Message],
    streamed: bool,
    model: str = MODEL,
    **kw: Any,
) -> ChatResponse:
    if not streamed:
        return await client.chat(model, messages, tools=[WEATHER_TOOL], **kw)
    async with client.stream(model, messages, tools=[WEATHER_TOOL], **kw) as s:
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


# -- thinking first ---------------------------------------------------------------------

THOUGHT = "Oslo is in Norway."
SIGNED = ReasoningPart(THOUGHT, reasoning_signature(THOUGHT), origin="bedrock")


@pytest.mark.anyio
@pytest.mark.parametrize("split", [False, True], ids=["one-message", "two-messages"])
@pytest.mark.parametrize("model", [MODEL, OPUS_4_7], ids=["converse", "messages-api"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_reasoning_goes_first_in_an_assistant_turn_built_in_another_order(
    mock: BedrockMock, make_client: MakeClient, model: str, streamed: bool, split: bool
) -> None:
    # As another framework's history may hold it: text, the call, then the reasoning
    # (``split``: the text in an assistant message of its own, merged into one turn).
    # Claude refuses the turn unless its thinking opens it; Anthropic's plugin sends
    # it first already (the rule is relaykit_claude_models.turn_order's).
    call = ToolCall("tooluse_1", "get_weather", {"city": "Oslo"})
    text = TextPart("Let me look.")
    turns = (
        [Message("assistant", (text,)), Message("assistant", (call, SIGNED))]
        if split
        else [Message("assistant", (text, call, SIGNED))]
    )
    mock.script.reply("Cold.")
    question = Message.user("Weather in Oslo?")
    async with make_client() as client:
        r = await ask(client, [question, *turns, Message.tool(call.id, "-3C")], streamed, model)
    assert r.text == "Cold."
    sent = mock.last_request.json()["messages"][1]["content"]
    if model == MODEL:
        assert [next(iter(b)) for b in sent] == ["reasoningContent", "text", "toolUse"]
    else:
        assert [b["type"] for b in sent] == ["thinking", "text", "tool_use"]


def converse_body(*assistant: dict[str, Any]) -> dict[str, Any]:
    turns = [{"role": "user", "content": [{"text": "hi"}]}]
    return {"messages": [*turns, {"role": "assistant", "content": list(assistant)}, *turns]}


def test_the_converse_mock_refuses_claude_reasoning_after_another_block() -> None:
    signed = {"reasoningText": {"text": THOUGHT, "signature": reasoning_signature(THOUGHT)}}
    thinking, text = {"reasoningContent": signed}, {"text": "Hi."}
    tool = {"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}
    claude = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert claude_problem(claude, converse_body(thinking, text, tool)) is None
    assert claude_problem(claude, converse_body(text, tool)) is None  # no reasoning at all
    said = claude_problem(claude, converse_body(tool, thinking, text))
    assert said == (
        "If an assistant message contains any thinking blocks, the first block must be "
        "thinking. Found tool_use"
    )
    assert "Found text" in str(claude_problem(claude, converse_body(text, thinking)))
    # a rule of Claude's, which Converse passes on: not the mock's for other models
    assert claude_problem("amazon.nova-pro-v1:0", converse_body(text, thinking)) is None


def test_the_messages_api_mock_refuses_thinking_after_another_block() -> None:
    def body(*assistant: dict[str, Any]) -> dict[str, Any]:
        user = {"role": "user", "content": [{"type": "text", "text": "hi"}]}
        turn = {"role": "assistant", "content": list(assistant)}
        return {
            "anthropic_version": VERSION,
            "model": "global.anthropic.claude-opus-4-7",
            "max_tokens": 9,
            "messages": [user, turn, user],
        }

    sig = reasoning_signature(THOUGHT)
    thinking = {"type": "thinking", "thinking": THOUGHT, "signature": sig}
    text = {"type": "text", "text": "Hi."}
    assert validate_messages(body(thinking, text)) is None
    assert validate_messages(body(text, thinking)) == (
        "messages.1.content.0: If an assistant message contains any thinking blocks, the"
        " first block must be `thinking` or `redacted_thinking`. Found `text`."
    )


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_claudes_refusal_of_a_turns_reasoning_relayed_by_converse_names_the_fix(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    # Converse passes Claude's refusal on as a ValidationException, worded as
    # strands-agents/harness-sdk#1848 reports it: it came with no hint at all.
    mock.script.fail(
        400,
        "The model returned the following errors: If an assistant message contains any"
        " thinking blocks, the first block must be thinking. Found text",
    )
    async with make_client(region=mock.region) as client:
        with pytest.raises(InvalidRequestError) as refused:
            await ask(client, [Message.user("Weather?")], streamed)
    assert "/converse" in mock.last_request.path
    assert "thinking blocks first and unmodified" in str(refused.value.hint)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "path"),
    [(MODEL, "/converse"), (OPUS_4_7, "/anthropic/v1/messages")],
    ids=["converse", "messages"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_tool_loop_begun_elsewhere_is_refused_with_the_thinking_fix(
    mock: BedrockMock, make_client: MakeClient, model: str, path: str, streamed: bool
) -> None:
    # Anthropic's signed thinking means nothing here and is left out, so with thinking
    # on Claude refuses the turn that calls the tool (the mock as each route passes it
    # on). The Messages route's hint was its generic one (drop a sampling parameter, use
    # an inference profile id), which fixes nothing here.
    thought = ReasoningPart("Ask the tool.", "c2lnbmVk", origin="anthropic")
    async with make_client(region=mock.region) as client:
        with pytest.raises(InvalidRequestError) as refused:
            await ask(client, weather_tool_loop(thought), streamed, model, reasoning="high")
    assert path in mock.last_request.path
    assert "Expected `thinking` or `redacted_thinking`, but found `tool_use`" in str(refused.value)
    hint = str(refused.value.hint)
    assert "thinking blocks first and unmodified, with their signatures" in hint
    assert "to_message()" in hint and "inference profile" not in hint
