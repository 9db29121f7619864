"""Every finish reason of Chat Completions and the Responses API over loopback, streamed
and not: the answer's ``finish_reason`` and the stream's ``Finish``, with the vendor's word."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit.events import Finish
from relaykit.testing import OpenAIMock, Reply, one_try_config

KEY = "sk-test-0123456789abcdef0123"

#: Chat Completions' ``finish_reason`` values (OpenAI's and compatible services'), and
#: relaykit's word for each; one added after this was written is "other"
CHAT_REASONS = [
    ("stop", "stop"),
    ("length", "length"),
    ("content_filter", "content_filter"),
    ("model_length", "length"),  # Mistral: the context window ran out
    ("eos", "stop"),  # Together
    ("a_reason_from_the_future", "other"),
]

#: the Responses API's ``incomplete_details.reason`` values, and relaykit's word for each
INCOMPLETE_REASONS = [
    ("max_output_tokens", "length"),
    ("content_filter", "content_filter"),
    ("a_reason_from_the_future", "other"),
]


def client(mock: OpenAIMock, **options: Any) -> relaykit.Client:
    provider = {"base_url": mock.base_url, "api_key": KEY, **options}
    return relaykit.Client(one_try_config({"openai": provider}))


async def both(c: relaykit.Client, model: str) -> tuple[Any, list[Finish], Any]:
    """The answer to one call, then the ``Finish`` events and response of a stream."""
    r = await c.chat(model, "Go on")
    async with c.stream(model, "Go on") as s:
        finishes = [e async for e in s if isinstance(e, Finish)]
    return r, finishes, s.response


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), CHAT_REASONS)
async def test_each_chat_completions_finish_reason(
    mock: OpenAIMock, said: str, reason: str
) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with client(mock) as c:
        r, finishes, s = await both(c, "openai/gpt-4o-mini")
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert r.text == s.text == "Partial answer"
    assert finishes == [Finish(reason, said)]


@pytest.mark.anyio
async def test_a_tool_call_finish(mock: OpenAIMock) -> None:
    call = Reply(tool_calls=(("lookup", {"q": "x"}),))
    mock.script.push(call, call)
    async with client(mock) as c:
        r, finishes, s = await both(c, "openai/gpt-4o-mini")
    assert (r.finish_reason, s.finish_reason) == ("tool_calls", "tool_calls")
    assert finishes == [Finish("tool_calls", "tool_calls")]
    assert r.tool_calls[0].arguments == s.tool_calls[0].arguments == {"q": "x"}


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), INCOMPLETE_REASONS)
async def test_each_reason_a_response_is_incomplete(
    mock: OpenAIMock, said: str, reason: str
) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with client(mock, api="responses") as c:
        r, finishes, s = await both(c, "openai/gpt-4o-mini")
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert r.text == s.text == "Partial answer"
    assert finishes == [Finish(reason, said)]
