"""Every stop reason of the Messages API over loopback, streamed and not: the answer's
``finish_reason``, the stream's ``Finish`` (with the vendor's word), and the mock's wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import relaykit
from relaykit.events import Finish
from relaykit.response import FinishReason
from relaykit.testing import Reply, one_try_config
from relaykit_anthropic.testing import AnthropicMock

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-sonnet-4-5"

#: Anthropic's stop reasons (its "Handling stop reasons" page), and relaykit's word for
#: each; a reason added after this was written is "other"
STOP_REASONS = [
    ("end_turn", "stop"),
    ("stop_sequence", "stop"),
    ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"),
    ("refusal", "content_filter"),
    ("a_reason_from_the_future", "other"),
]


@asynccontextmanager
async def client(mock: AnthropicMock) -> AsyncIterator[relaykit.Client]:
    config = one_try_config({"anthropic": {"base_url": mock.base_url, "api_key": KEY}})
    async with relaykit.Client(config) as c:
        yield c


async def streamed(c: relaykit.Client, **params: Any) -> tuple[list[Finish], Any]:
    async with c.stream(MODEL, "Go on", **params) as s:
        finishes = [e async for e in s if isinstance(e, Finish)]
    return finishes, s.response


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), STOP_REASONS)
async def test_each_stop_reason_has_its_finish_reason(
    mock: AnthropicMock, said: str, reason: FinishReason
) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with client(mock) as c:
        r = await c.chat(MODEL, "Go on")
        finishes, s = await streamed(c)
    assert r.finish_reason == reason
    assert r.text == "Partial answer"
    assert finishes == [Finish(reason, said)]
    assert s.finish_reason == reason


@pytest.mark.anyio
async def test_tool_use_is_tool_calls(mock: AnthropicMock) -> None:
    call = Reply(tool_calls=(("lookup", {"q": "x"}),), vendor_finish="tool_use")
    mock.script.push(call, call)
    async with client(mock) as c:
        r = await c.chat(MODEL, "Go on")
        finishes, s = await streamed(c)
    assert (r.finish_reason, s.finish_reason) == ("tool_calls", "tool_calls")
    assert finishes == [Finish("tool_calls", "tool_use")]
    assert r.tool_calls[0].arguments == s.tool_calls[0].arguments == {"q": "x"}


async def raw_message(mock: AnthropicMock, **fields: Any) -> httpx.Response:
    """The mock's answer to a Messages body with ``fields``, as it comes."""
    body = {"model": MODEL.split("/")[1], "max_tokens": 100, **fields}
    body["messages"] = [{"role": "user", "content": "Count"}]
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient() as http:
        return await http.post(f"{mock.base_url}/v1/messages", json=body, headers=headers)


@pytest.mark.anyio
async def test_a_stop_sequence_is_named_on_the_wire(mock: AnthropicMock) -> None:
    """The API names the stop sequence it met beside ``stop_reason``; relaykit
    says ``stop`` and keeps the vendor's reason on the stream's ``Finish``."""
    mock.script.push(*[Reply(text="One two", vendor_finish="stop_sequence")] * 4)
    whole = (await raw_message(mock, stop_sequences=["THREE", "FOUR"])).json()
    assert (whole["stop_reason"], whole["stop_sequence"]) == ("stop_sequence", "THREE")
    streamed_body = (await raw_message(mock, stop_sequences=["THREE"], stream=True)).text
    assert '"stop_reason": "stop_sequence", "stop_sequence": "THREE"' in streamed_body
    async with client(mock) as c:
        r = await c.chat(MODEL, "Count", stop=["THREE", "FOUR"])
        finishes, _ = await streamed(c, stop=["THREE"])
    assert r.finish_reason == "stop"
    assert finishes == [Finish("stop", "stop_sequence")]
