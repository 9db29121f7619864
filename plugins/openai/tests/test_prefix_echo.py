"""Mistral's answer to a prefill repeats the prefix: relaykit takes it off, streamed or not,
so that ``response.text`` is the continuation only, as from Anthropic and Bedrock. Over
loopback HTTP to OpenAIMock (which answers a prefix first, as Mistral does), and the
stream's hold-back rule on scripted events."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import pytest

import relaykit
from relaykit import Message
from relaykit.events import Finish, ReasoningDelta, StreamEvent, TextDelta, UsageUpdate
from relaykit.testing import OpenAIMock
from relaykit_openai.prefix_echo import strip_answer, strip_stream

KEY = "sk-test-0123456789abcdef0123"
MISTRAL = "mistral/mistral-small-latest"
# Longer than the mock's 8-character deltas: the prefix arrives in four of them.
PREFIX = "Here is the JSON you asked for: "


def mistral(mock: OpenAIMock) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"mistral": {"base_url": mock.base_url, "api_key": KEY}},
    }


@pytest.mark.anyio
@pytest.mark.parametrize("prefix", ["{", PREFIX], ids=["in one delta", "across deltas"])
async def test_a_streamed_answer_is_the_continuation_only(mock: OpenAIMock, prefix: str) -> None:
    mock.script.reply('{"colour": "red"}')
    messages = [Message.user("A colour as JSON."), Message.assistant(prefix)]
    async with (
        relaykit.Client(mistral(mock), env={}) as c,
        c.stream(MISTRAL, messages) as s,
    ):
        deltas = [e.text async for e in s if isinstance(e, TextDelta)]
    assert "".join(deltas) == '{"colour": "red"}'
    assert s.response.text == '{"colour": "red"}'
    assert mock.last_request.json()["messages"][-1]["prefix"] is True


@pytest.mark.anyio
@pytest.mark.parametrize("prefix", ["{", PREFIX])
async def test_an_answer_is_the_continuation_only(mock: OpenAIMock, prefix: str) -> None:
    mock.script.reply('"colour": "red"}')
    messages = [Message.user("A colour as JSON."), Message.assistant(prefix)]
    async with relaykit.Client(mistral(mock), env={}) as c:
        r = await c.chat(MISTRAL, messages)
    assert r.text == '"colour": "red"}'


@pytest.mark.anyio
async def test_a_conversation_ending_with_a_user_turn_keeps_its_answer(mock: OpenAIMock) -> None:
    # No prefill: an answer that happens to start like the last assistant turn is kept.
    mock.script.reply("Hello. Hello again.")
    messages = [Message.user("Hi"), Message.assistant("Hello."), Message.user("Again?")]
    async with relaykit.Client(mistral(mock), env={}) as c:
        r = await c.chat(MISTRAL, messages)
    assert r.text == "Hello. Hello again."


# -- the rule, on scripted answers ----------------------------------------------------------


async def events(*items: StreamEvent) -> AsyncGenerator[StreamEvent, None]:
    for item in items:
        yield item


async def stripped(prefix: str, *items: StreamEvent) -> list[StreamEvent]:
    return [e async for e in strip_stream(events(*items), prefix)]


def text(out: list[StreamEvent]) -> str:
    return "".join(e.text for e in out if isinstance(e, TextDelta))


@pytest.mark.anyio
async def test_the_prefix_is_held_back_only_while_it_may_still_be_the_prefix() -> None:
    out = await stripped(
        "abcdef", TextDelta("ab"), TextDelta("cd"), TextDelta("efgh"), Finish("stop")
    )
    assert out == [TextDelta("gh"), Finish("stop")]
    # Diverging at the second delta: everything goes on unchanged, from there.
    out = await stripped("abcdef", TextDelta("ab"), TextDelta("xy"), TextDelta("z"))
    assert out == [TextDelta("abxy"), TextDelta("z")]


@pytest.mark.anyio
async def test_an_answer_that_does_not_start_with_the_prefix_passes_unchanged() -> None:
    assert await stripped("abc", TextDelta("xyz")) == [TextDelta("xyz")]
    # It ends part way through the prefix: what arrived is the answer.
    out = await stripped("abcdef", TextDelta("abc"), Finish("length"))
    assert out == [TextDelta("abc"), Finish("length")]
    assert await stripped("abcdef", TextDelta("ab")) == [TextDelta("ab")]


@pytest.mark.anyio
async def test_other_events_pass_and_end_the_hold_back() -> None:
    # Reasoning before the text passes at once; the text is still checked after it.
    out = await stripped("ab", ReasoningDelta("think"), TextDelta("abc"))
    assert out == [ReasoningDelta("think"), TextDelta("c")]
    # Another event while text is held: the held text first, unchanged, in order.
    usage = UsageUpdate(relaykit.Usage(input_tokens=1))
    out = await stripped("abcdef", TextDelta("ab"), usage, TextDelta("cdef"))
    assert out == [TextDelta("ab"), usage, TextDelta("cdef")]
    # The whole answer is the prefix: nothing left of it.
    assert text(await stripped("ab", TextDelta("a"), TextDelta("b"), Finish("stop"))) == ""


def test_a_non_streamed_answer_loses_the_prefix_only_when_it_starts_with_it() -> None:
    data: dict[str, Any] = {"choices": [{"message": {"content": '{"a": 1}'}}]}
    strip_answer(data, "{")
    assert data["choices"][0]["message"]["content"] == '"a": 1}'
    strip_answer(data, "{")  # no longer starts with it: unchanged
    assert data["choices"][0]["message"]["content"] == '"a": 1}'
    # A reasoning model's content is a list of chunks: its first text chunk.
    chunks: dict[str, Any] = {
        "choices": [
            {
                "message": {
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "{"}]},
                        {"type": "text", "text": '{"a": 1}'},
                    ]
                }
            }
        ]
    }
    strip_answer(chunks, "{")
    assert chunks["choices"][0]["message"]["content"][1]["text"] == '"a": 1}'
