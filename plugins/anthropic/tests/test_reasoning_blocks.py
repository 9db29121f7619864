"""Thinking blocks, one by one: redacted ones, several with their own signatures, in a tool loop.

The mock checks what the API checks: each thinking block comes back with the
signature it was given, and with thinking on, an assistant turn that called
tools starts with its thinking (a redacted block counts).
"""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import ChatResponse, InvalidRequestError, Message, ReasoningPart
from relaykit.testing.provider_contract import WEATHER_TOOL, weather_tool_loop
from relaykit_anthropic.testing import AnthropicMock, thinking_signature, validate_messages

from .conftest import client

MODEL = "anthropic/claude-sonnet-4-5"
THINKING = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
#: what the API sends in a redacted_thinking block: opaque, base64-like
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"


async def ask(
    c: relaykit.Client, messages: list[Message], streamed: bool, **kw: Any
) -> ChatResponse:
    if not streamed:
        return await c.chat(MODEL, messages, tools=[WEATHER_TOOL], extra=THINKING, **kw)
    async with c.stream(MODEL, messages, tools=[WEATHER_TOOL], extra=THINKING, **kw) as s:
        async for _ in s:
            pass
    return s.response


def sent_assistant_turn(mock: AnthropicMock) -> list[dict[str, Any]]:
    body = mock.last_request.json()
    turns = [m for m in body["messages"] if m["role"] == "assistant"]
    content: list[dict[str, Any]] = turns[-1]["content"]
    return content


async def tool_loop(
    mock: AnthropicMock, streamed: bool, blocks: tuple[ReasoningPart, ...]
) -> ChatResponse:
    """One call that thinks in ``blocks`` and calls a tool, then the turn that answers it."""
    async with client(mock) as c:
        mock.script.reply(reasoning_blocks=blocks, tool_calls=[("get_weather", {"city": "Oslo"})])
        question = Message.user("Weather in Oslo?")
        r = await ask(c, [question], streamed)
        call = r.tool_calls[0]
        mock.script.reply("Cold.")
        answer = await ask(c, [question, r.to_message(), Message.tool(call.id, "-3C")], streamed)
        assert answer.text == "Cold."
    return r


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_redacted_block_is_kept_and_sent_back_verbatim(
    mock: AnthropicMock, streamed: bool
) -> None:
    r = await tool_loop(mock, streamed, (ReasoningPart(redacted=REDACTED),))
    assert r.reasoning_parts == (ReasoningPart(redacted=REDACTED, origin="anthropic"),)
    assert (r.reasoning, r.reasoning_signature) == ("", None)  # nothing to show
    assert sent_assistant_turn(mock)[0] == {"type": "redacted_thinking", "data": REDACTED}


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_several_blocks_keep_their_own_signatures_in_order(
    mock: AnthropicMock, streamed: bool
) -> None:
    blocks = (
        ReasoningPart("Oslo is in Norway."),
        ReasoningPart(redacted=REDACTED),
        ReasoningPart(" Ask the weather tool."),
    )
    r = await tool_loop(mock, streamed, blocks)
    first, second = thinking_signature(blocks[0].text), thinking_signature(blocks[2].text)
    assert r.reasoning_parts == (
        ReasoningPart("Oslo is in Norway.", first, origin="anthropic"),
        ReasoningPart(redacted=REDACTED, origin="anthropic"),
        ReasoningPart(" Ask the weather tool.", second, origin="anthropic"),
    )
    assert r.reasoning == "Oslo is in Norway. Ask the weather tool."
    assert r.reasoning_signature == second
    assert [b["type"] for b in sent_assistant_turn(mock)] == [
        "thinking",
        "redacted_thinking",
        "thinking",
        "tool_use",
    ]
    assert sent_assistant_turn(mock)[:3] == [
        {"type": "thinking", "thinking": "Oslo is in Norway.", "signature": first},
        {"type": "redacted_thinking", "data": REDACTED},
        {"type": "thinking", "thinking": " Ask the weather tool.", "signature": second},
    ]


@pytest.mark.anyio
async def test_the_mock_rejects_a_tool_loop_turn_without_its_thinking(
    mock: AnthropicMock,
) -> None:
    # What the API answered when the redacted block was dropped: the check the
    # tests above rely on can fail.
    async with client(mock) as c:
        question = Message.user("Weather in Oslo?")
        turn = Message.assistant("", [relaykit.ToolCall("toolu_1", "get_weather", {})])
        with pytest.raises(InvalidRequestError, match="Expected `thinking` or `redacted_thinking`"):
            await ask(c, [question, turn, Message.tool("toolu_1", "-3C")], False)
        forged = Message(
            "assistant", (ReasoningPart("edited", thinking_signature("x")), *turn.content)
        )
        with pytest.raises(InvalidRequestError, match="Invalid `signature`"):
            await ask(c, [question, forged, Message.tool("toolu_1", "-3C")], False)


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_refused_turn_of_thinking_names_the_fix(
    mock: AnthropicMock, streamed: bool
) -> None:
    # A tool loop begun on Bedrock: its signed reasoning is left out here, and Claude
    # refuses the tool-calling turn without it. The 400 came with no hint at all.
    thought = ReasoningPart("Ask the tool.", "c2lnbmVk", origin="bedrock")
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="Expected `thinking`") as refused:
            await ask(c, weather_tool_loop(thought), streamed)
    hint = str(refused.value.hint)
    assert "thinking blocks first and unmodified, with their signatures" in hint
    assert "to_message()" in hint and "reasoning='none'" in hint


@pytest.mark.anyio
@pytest.mark.parametrize("split", [False, True], ids=["one-message", "two-messages"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_thinking_goes_first_in_an_assistant_turn_built_in_another_order(
    mock: AnthropicMock, streamed: bool, split: bool
) -> None:
    # The mock refuses a turn holding thinking that does not open it, as the API does
    # (with thinking on or off); the plugin sends the thinking first. ``split``: the
    # text in an assistant message of its own before the one with the reasoning,
    # which the plugin merges into one turn (as some frameworks' histories hold it).
    thought = ReasoningPart("Oslo: ask.", thinking_signature("Oslo: ask."), origin="anthropic")
    call = relaykit.ToolCall("toolu_1", "get_weather", {"city": "Oslo"})
    text = relaykit.TextPart("Let me look.")
    turns = (
        [Message("assistant", (text,)), Message("assistant", (call, thought))]
        if split
        else [Message("assistant", (text, call, thought))]
    )
    mock.script.reply("Cold.")
    async with client(mock) as c:
        question = Message.user("Weather in Oslo?")
        r = await ask(c, [question, *turns, Message.tool(call.id, "-3C")], streamed)
    assert r.text == "Cold."
    assert [b["type"] for b in sent_assistant_turn(mock)] == ["thinking", "text", "tool_use"]


def test_the_mock_refuses_thinking_after_another_block_in_any_assistant_turn() -> None:
    signed = {"type": "thinking", "thinking": "t", "signature": thinking_signature("t")}
    text = {"type": "text", "text": "Hi."}

    def body(*blocks: dict[str, str]) -> dict[str, Any]:
        user = {"role": "user", "content": "hi"}
        turn = {"role": "assistant", "content": list(blocks)}
        return {"model": "claude-sonnet-4-5", "messages": [user, turn, user]}

    assert validate_messages(body(text, signed)) == (
        "messages.1.content.0: If an assistant message contains any thinking blocks, the"
        " first block must be `thinking` or `redacted_thinking`. Found `text`."
    )
    assert validate_messages(body(signed, text)) is None


@pytest.mark.anyio
async def test_a_batch_item_whose_turn_of_thinking_is_refused_names_the_fix(
    mock: AnthropicMock,
) -> None:
    # The same refusal, as a batch's errored result: it came with no hint either.
    params = {"tools": [WEATHER_TOOL], "extra": THINKING}
    item = relaykit.BatchItem("oslo", weather_tool_loop(), params)
    async with client(mock) as c:
        batch = await c.submit_batch(MODEL, [item])
        batch = await c.batch(batch.id)
        (result,) = [x async for x in c.batch_results(batch.id)]
    assert isinstance(result.error, InvalidRequestError)
    assert "Expected `thinking`" in str(result.error)
    assert "thinking blocks first and unmodified" in str(result.error.hint)
