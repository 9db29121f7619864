"""Two-step tool conversations through each dialect to each vendor, as SDK users write them.

Each test calls the gateway with OpenAI's or Anthropic's SDK, the gateway calls a
vendor's loopback mock through relaykit's plugin for it, and the mock checks what it
gets as the vendor would (a tool result for an id it never issued is its 400). So a
tool call's id has to survive: vendor -> relaykit -> dialect -> SDK -> dialect ->
relaykit -> vendor, streamed or not.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

import relaykit
from relaykit.testing import OpenAIMock, Reply
from relaykit.testing.vendor_mock import VendorMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_bedrock.testing import BedrockMock
from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running
from relaykit_gemini.testing import GeminiMock

pytestmark = pytest.mark.anyio

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
TIME_SCHEMA = {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}
CALLS = (("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"}))


@dataclass(frozen=True)
class Vendor:
    """One upstream: its mock, its ``[providers]`` table and a model of it."""

    mock: Callable[[], VendorMock]
    table: Callable[[str], dict[str, Any]]
    model: str


def _keyed(name: str) -> Callable[[str], dict[str, Any]]:
    return lambda url: {name: {"base_url": url, "api_key": UPSTREAM_KEY}}


VENDORS = {
    "openai": Vendor(
        lambda: OpenAIMock(api_key=UPSTREAM_KEY), _keyed("openai"), "openai/gpt-4o-mini"
    ),
    "anthropic": Vendor(
        lambda: AnthropicMock(api_key=UPSTREAM_KEY),
        _keyed("anthropic"),
        "anthropic/claude-made-up-1",
    ),
    "gemini": Vendor(
        lambda: GeminiMock(api_key=UPSTREAM_KEY), _keyed("gemini"), "gemini/gemini-2.5-flash"
    ),
    "gemini-ids": Vendor(
        lambda: GeminiMock(api_key=UPSTREAM_KEY, call_ids=True),
        _keyed("gemini"),
        "gemini/gemini-2.5-flash",
    ),
    "bedrock": Vendor(
        lambda: BedrockMock(bearer_token=UPSTREAM_KEY),
        lambda url: {
            "bedrock": {"base_url": url, "control_plane_url": url, "api_key": UPSTREAM_KEY}
        },
        "bedrock/amazon.nova-pro-v1:0",
    ),
    "bedrock-claude": Vendor(
        lambda: BedrockMock(bearer_token=UPSTREAM_KEY),
        lambda url: {
            "bedrock": {"base_url": url, "control_plane_url": url, "api_key": UPSTREAM_KEY}
        },
        "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0",
    ),
}


@dataclass(frozen=True)
class Upstream:
    mock: VendorMock
    url: str
    model: str


@asynccontextmanager
async def upstream_of(name: str) -> AsyncIterator[Upstream]:
    vendor = VENDORS[name]
    async with AsyncExitStack() as stack:
        mock = stack.enter_context(vendor.mock())
        config: dict[str, Any] = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": vendor.table(mock.base_url),
        }
        client = await stack.enter_async_context(relaykit.Client(config))
        url = await stack.enter_async_context(running(client))
        yield Upstream(mock, url, vendor.model)


@pytest.fixture(params=list(VENDORS))
async def upstream(request: pytest.FixtureRequest) -> AsyncIterator[Upstream]:
    async with upstream_of(request.param) as up:
        yield up


def _sdk(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


def _claude(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)


# -- OpenAI Chat Completions -------------------------------------------------------

CHAT_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA},
    },
    {"type": "function", "function": {"name": "get_time", "parameters": TIME_SCHEMA}},
]


async def _chat(sdk: openai.AsyncOpenAI, streamed: bool, **kw: Any) -> Any:
    """The completion's message: created, or accumulated by the SDK's stream parser."""
    if not streamed:
        return (await sdk.chat.completions.create(**kw)).choices[0]
    # the SDK's own accumulator (its stream() helper takes strict tools only)
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    async for chunk in await sdk.chat.completions.create(stream=True, **kw):
        state.handle_chunk(chunk)
    return state.get_final_completion().choices[0]


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_chat_completions_tool_round_trip(upstream: Upstream, streamed: bool) -> None:
    upstream.mock.script.push(Reply(tool_calls=CALLS), Reply(text="Sunny, 14:00."))
    messages: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
    async with _sdk(upstream.url) as sdk:
        first = await _chat(
            sdk, streamed, model=upstream.model, messages=messages, tools=CHAT_TOOLS
        )
        assert first.finish_reason == "tool_calls"
        calls = first.message.tool_calls or []
        assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
            (n, a) for n, a in CALLS
        ]
        ids = [c.id for c in calls]
        assert all(ids) and len(set(ids)) == 2
        messages.append(first.message.model_dump(exclude_none=True, exclude={"parsed"}))
        for c, out in zip(calls, ('{"sky": "clear"}', "14:00"), strict=True):
            messages.append({"role": "tool", "tool_call_id": c.id, "content": out})
        second = await _chat(
            sdk, streamed, model=upstream.model, messages=messages, tools=CHAT_TOOLS
        )
    assert second.message.content == "Sunny, 14:00."
    assert second.finish_reason == "stop"


# -- OpenAI Responses ----------------------------------------------------------------

RESPONSES_TOOLS: list[Any] = [
    {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False},
    {"type": "function", "name": "get_time", "parameters": TIME_SCHEMA, "strict": False},
]


async def _respond(sdk: openai.AsyncOpenAI, streamed: bool, **kw: Any) -> Any:
    if not streamed:
        return await sdk.responses.create(**kw)
    async with sdk.responses.stream(**kw) as stream:
        async for _ in stream:
            pass
        return await stream.get_final_response()


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_responses_tool_round_trip(upstream: Upstream, streamed: bool) -> None:
    upstream.mock.script.push(Reply(tool_calls=CALLS), Reply(text="Sunny, 14:00."))
    items: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
    async with _sdk(upstream.url) as sdk:
        first = await _respond(
            sdk, streamed, model=upstream.model, input=items, tools=RESPONSES_TOOLS
        )
        calls = [item for item in first.output if item.type == "function_call"]
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [(n, a) for n, a in CALLS]
        ids = [c.call_id for c in calls]
        assert all(ids) and len(set(ids)) == 2
        items += [item.model_dump(exclude_none=True, exclude={"parsed"}) for item in first.output]
        for c, out in zip(calls, ('{"sky": "clear"}', "14:00"), strict=True):
            items.append({"type": "function_call_output", "call_id": c.call_id, "output": out})
        second = await _respond(
            sdk, streamed, model=upstream.model, input=items, tools=RESPONSES_TOOLS
        )
    assert second.output_text == "Sunny, 14:00."
    assert second.status == "completed"


# -- Anthropic Messages --------------------------------------------------------------

MESSAGES_TOOLS: list[Any] = [
    {"name": "get_weather", "input_schema": WEATHER_SCHEMA},
    {"name": "get_time", "input_schema": TIME_SCHEMA},
]


async def _message(sdk: anthropic.AsyncAnthropic, streamed: bool, **kw: Any) -> Any:
    if not streamed:
        return await sdk.messages.create(max_tokens=256, **kw)
    async with sdk.messages.stream(max_tokens=256, **kw) as stream:
        async for _ in stream:
            pass
        return await stream.get_final_message()


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_messages_tool_round_trip(upstream: Upstream, streamed: bool) -> None:
    upstream.mock.script.push(Reply(tool_calls=CALLS), Reply(text="Sunny, 14:00."))
    messages: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
    async with _claude(upstream.url) as sdk:
        first = await _message(
            sdk, streamed, model=upstream.model, messages=messages, tools=MESSAGES_TOOLS
        )
        assert first.stop_reason == "tool_use"
        calls = [b for b in first.content if b.type == "tool_use"]
        assert [(c.name, c.input) for c in calls] == [(n, a) for n, a in CALLS]
        ids = [c.id for c in calls]
        assert all(ids) and len(set(ids)) == 2
        messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": ids[0], "content": '{"sky": "clear"}'},
                    {
                        "type": "tool_result",
                        "tool_use_id": ids[1],
                        "content": [{"type": "text", "text": "14:00"}],
                        "is_error": False,
                    },
                ],
            }
        )
        second = await _message(
            sdk, streamed, model=upstream.model, messages=messages, tools=MESSAGES_TOOLS
        )
    assert [b.text for b in second.content if b.type == "text"] == ["Sunny, 14:00."]
    assert second.stop_reason == "end_turn"
