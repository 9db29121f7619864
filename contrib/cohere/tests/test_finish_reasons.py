"""Every ``finish_reason`` of Cohere's v2 Chat API over loopback, streamed and not: the
answer's ``finish_reason`` and the stream's ``Finish``, with Cohere's word."""

from __future__ import annotations

import pytest

import relaykit
from relaykit import StreamError
from relaykit.events import Finish
from relaykit.response import FinishReason
from relaykit.testing import Reply, answer_and_stream, one_try_config
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


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), FINISH_REASONS)
async def test_each_finish_reason(mock: CohereMock, said: str, reason: FinishReason) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with client(mock) as c:
        r, finishes, s = await answer_and_stream(c, MODEL, events=Finish)
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert r.text == s.text == "Partial answer"
    assert finishes == [Finish(reason, said)]


@pytest.mark.anyio
async def test_tool_call_is_tool_calls(mock: CohereMock) -> None:
    call = Reply(tool_calls=(("lookup", {"q": "x"}),))
    mock.script.push(call, call)
    async with client(mock) as c:
        r, finishes, s = await answer_and_stream(c, MODEL, events=Finish)
    assert (r.finish_reason, s.finish_reason) == ("tool_calls", "tool_calls")
    assert finishes == [Finish("tool_calls", "TOOL_CALL")]


@pytest.mark.anyio
async def test_error_ends_a_stream_with_a_stream_error(mock: CohereMock) -> None:
    mock.script.push(Reply(text="Half", stream_fault="error", error="internal failure"))
    async with client(mock) as c:
        with pytest.raises(StreamError, match="internal failure") as caught:
            async with c.stream(MODEL, "Go on") as s:
                async for _ in s:
                    pass
    assert (caught.value.status, caught.value.retryable) == (502, True)
    assert caught.value.partial is not None and caught.value.partial.text == "Half"


def retrying(mock: CohereMock) -> relaykit.Client:
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0}
    provider = {"base_url": mock.base_url, "api_key": KEY}
    return relaykit.Client(one_try_config({"cohere": provider}, retry=retry))


@pytest.mark.anyio
async def test_an_answer_that_ended_in_error_is_an_error_not_an_answer(mock: CohereMock) -> None:
    """``finish_reason: "ERROR"`` with status 200: the generation failed, as a stream
    that ends so says; it was a ChatResponse finishing ``other``."""
    failed = Reply(text="Half", vendor_finish="ERROR")
    mock.script.push(failed, failed)
    async with retrying(mock) as c:
        with pytest.raises(relaykit.ProviderUnavailableError, match="ERROR") as caught:
            await c.chat(MODEL, "Go on")
    assert (caught.value.status, caught.value.retryable) == (502, True)
    assert len(mock.requests) == 2  # tried again, as a 5xx is


@pytest.mark.anyio
async def test_a_stream_that_ends_in_error_before_any_text_is_the_same_error(
    mock: CohereMock,
) -> None:
    mock.script.push(*[Reply(stream_fault="error", error="internal failure")] * 2)
    async with retrying(mock) as c:
        with pytest.raises(relaykit.ProviderUnavailableError, match="internal failure"):
            async with c.stream(MODEL, "Go on") as s:
                async for _ in s:
                    pass
    assert len(mock.requests) == 2
