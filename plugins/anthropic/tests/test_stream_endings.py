"""How a Messages API stream ends, over loopback: whole at ``message_stop``, whole once
``message_delta`` gave its stop reason (a connection cut before ``message_stop``
loses nothing), broken before that (a reset or bytes that are not events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import relaykit
from relaykit import StreamError, TextDelta
from relaykit.events import Finish
from relaykit.testing import Reply, one_try_config
from relaykit_anthropic.testing import AnthropicMock

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-sonnet-4-5"


@asynccontextmanager
async def client(mock: AnthropicMock) -> AsyncIterator[relaykit.Client]:
    config = one_try_config({"anthropic": {"base_url": mock.base_url, "api_key": KEY}})
    async with relaykit.Client(config) as c:
        yield c


async def read(c: relaykit.Client) -> tuple[list[Any], Any]:
    async with c.stream(MODEL, "Go on") as s:
        events = [e async for e in s]
    return events, s.response


@pytest.mark.anyio
@pytest.mark.parametrize("tools", [False, True])
async def test_a_stream_cut_after_its_stop_reason_is_whole(
    mock: AnthropicMock, tools: bool
) -> None:
    """``message_delta`` carries the stop reason and the final usage; only the empty
    ``message_stop`` is missing. OpenAI's streams are whole once their finish reason
    came, [DONE] or not, and ConverseStream's at ``messageStop`` (its stop reason)."""
    calls = (("lookup", {"q": "x"}),) if tools else ()
    mock.script.push(
        Reply(text="A whole answer.", tool_calls=calls, output_tokens=7, stream_fault="truncate")
    )
    async with client(mock) as c:
        events, r = await read(c)
    reason = "tool_calls" if tools else "stop"
    finish = Finish("tool_calls", "tool_use") if tools else Finish("stop", "end_turn")
    assert [e for e in events if isinstance(e, Finish)] == [finish]
    assert (r.text, r.finish_reason, r.usage.output_tokens) == ("A whole answer.", reason, 7)
    assert [(c.name, c.arguments) for c in r.tool_calls] == list(calls)


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["reset", "garbage"])
async def test_a_stream_broken_before_its_stop_reason_is_a_stream_error(
    mock: AnthropicMock, fault: Any
) -> None:
    mock.script.push(Reply(text="Half an answer", stream_fault=fault))
    texts: list[str] = []
    async with client(mock) as c:
        with pytest.raises(StreamError) as caught:
            async with c.stream(MODEL, "Go on") as s:
                async for event in s:
                    if isinstance(event, TextDelta):
                        texts.append(event.text)
    assert "".join(texts) == "Half an answer"
    assert caught.value.partial is not None and caught.value.partial.text == "Half an answer"
