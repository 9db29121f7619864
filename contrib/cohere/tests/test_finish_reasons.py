"""Every ``finish_reason`` of Cohere's v2 Chat API over loopback, streamed and not: the
answer's ``finish_reason`` and the stream's ``Finish``, with Cohere's word."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import StreamError
from relaykit.events import Finish
from relaykit.testing import Reply, one_try_config
from relaykit_cohere.testing import CohereMock

KEY = "co-test-key-0123456789abcdef"
MODEL = "cohere/command-a-03-2025"

#: Cohere's ``finish_reason`` values (its API reference's), and relaykit's word for
#: each; one added after this was written is "other"
FINISH_REASONS = [
    ("COMPLETE", "stop"),
    ("STOP_SEQUENCE", "stop"),
    ("MAX_TOKENS", "length"),
    ("TIMEOUT", "other"),
    ("A_REASON_FROM_THE_FUTURE", "other"),
]


def client(mock: CohereMock) -> relaykit.Client:
    return relaykit.Client(one_try_config({"cohere": {"base_url": mock.base_url, "api_key": KEY}}))


async def both(c: relaykit.Client) -> tuple[Any, list[Finish], Any]:
    """The answer to one call, then the ``Finish`` events and response of a stream."""
    r = await c.chat(MODEL, "Go on")
    async with c.stream(MODEL, "Go on") as s:
        finishes = [e async for e in s if isinstance(e, Finish)]
    return r, finishes, s.response


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), FINISH_REASONS)
async def test_each_finish_reason(mock: CohereMock, said: str, reason: str) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with client(mock) as c:
        r, finishes, s = await both(c)
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert r.text == s.text == "Partial answer"
    assert finishes == [Finish(reason, said)]


@pytest.mark.anyio
async def test_tool_call_is_tool_calls(mock: CohereMock) -> None:
    call = Reply(tool_calls=(("lookup", {"q": "x"}),))
    mock.script.push(call, call)
    async with client(mock) as c:
        r, finishes, s = await both(c)
    assert (r.finish_reason, s.finish_reason) == ("tool_calls", "tool_calls")
    assert finishes == [Finish("tool_calls", "TOOL_CALL")]


@pytest.mark.anyio
async def test_error_ends_a_stream_with_a_stream_error(mock: CohereMock) -> None:
    mock.script.push(Reply(text="Half", stream_fault="error", error="internal failure"))
    async with client(mock) as c:
        with pytest.raises(StreamError, match="internal failure"):
            async with c.stream(MODEL, "Go on") as s:
                async for _ in s:
                    pass
