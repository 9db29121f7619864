"""Cache points on Chat Completions: left out for OpenAI, cache_control marks for OpenRouter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import relaykit
from relaykit import CachePoint, ImagePart, Message, TextPart, Tool, ToolCall, ToolResultPart
from relaykit.testing import OpenAIMock

KEY = "sk-test-0123456789abcdef0123"
EPHEMERAL = {"type": "ephemeral"}
PNG_URL = "https://example.com/cat.png"

MARKED: list[Any] = [
    Message("system", (TextPart("the manual"), CachePoint("1h"))),
    Message.user([TextPart("look"), ImagePart(url=PNG_URL), CachePoint(), TextPart("?")]),
    Message.assistant(tool_calls=[ToolCall("c1", "lookup", {})]),
    Message("tool", (ToolResultPart("c1", "42"), CachePoint())),
    Message.user([CachePoint(), TextPart("go on")]),
]


async def sent(mock: OpenAIMock, model: str, provider: dict[str, Any]) -> dict[str, Any]:
    name = model.split("/", 1)[0]
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {name: {"base_url": mock.base_url, "api_key": KEY, **provider}},
    }
    async with relaykit.Client(config) as client:
        await client.chat(model, MARKED, tools=[Tool("lookup"), CachePoint()])
    body: dict[str, Any] = mock.last_request.json()
    return body


@pytest.mark.anyio
async def test_openai_caches_by_itself_so_cache_points_are_left_out(mock: OpenAIMock) -> None:
    body = await sent(mock, "openai/gpt-4o-mini", {})
    assert "cache_control" not in str(body)
    assert [m["content"] for m in body["messages"]] == [
        "the manual",
        [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": PNG_URL}},
            {"type": "text", "text": "?"},
        ],
        None,
        "42",
        "go on",
    ]


@pytest.mark.anyio
async def test_openrouter_gets_cache_control_on_the_part_before_each_point(
    mock: OpenAIMock,
) -> None:
    body = await sent(mock, "openrouter/anthropic/claude-sonnet-4.5", {})
    system, user, _, tool, last = body["messages"]
    assert system["content"] == [
        {"type": "text", "text": "the manual", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    assert user["content"][1] == {
        "type": "image_url",
        "image_url": {"url": PNG_URL},
        "cache_control": EPHEMERAL,
    }
    assert "cache_control" not in user["content"][2]
    # A point opening a message, or after a tool result, marks the message before it.
    assert tool["content"] == [{"type": "text", "text": "42", "cache_control": EPHEMERAL}]
    assert last["content"] == [{"type": "text", "text": "go on"}]
    assert body["tools"][0]["cache_control"] == EPHEMERAL


@pytest.mark.anyio
async def test_any_compatible_service_can_be_told_it_reads_cache_control(
    mock: OpenAIMock,
) -> None:
    # e.g. a LiteLLM proxy or relaykit's own gateway, as an OpenAI-type provider
    body = await sent(mock, "proxy/claude", {"type": "openai", "cache_control": True})
    assert body["tools"][0]["cache_control"] == EPHEMERAL
    assert body["messages"][0]["content"][0]["cache_control"]["ttl"] == "1h"


@pytest.mark.anyio
async def test_auto_cache_places_points_for_openrouter_callers_that_bring_none(
    mock: OpenAIMock,
) -> None:
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {
            "openrouter": {"base_url": mock.base_url, "api_key": KEY, "auto_cache": True}
        },
    }
    messages = [Message.system("the manual"), Message.user("q1"), Message.assistant("a1")]
    messages.append(Message.user("q2"))
    async with relaykit.Client(config) as client:
        await client.chat("openrouter/anthropic/claude-sonnet-4.5", messages, tools=[Tool("t")])
    body = mock.last_request.json()
    assert body["tools"][0]["cache_control"] == EPHEMERAL
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "the manual", "cache_control": EPHEMERAL}
    ]
    assert body["messages"][1]["content"] == "q1"  # only the last message is marked
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": "q2", "cache_control": EPHEMERAL}
    ]


def test_auto_cache_without_cache_control_is_a_config_error(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    config = {"storage": {"backend": "none"}, "providers": {"openai": {"auto_cache": True}}}
    with pytest.raises(relaykit.ConfigError, match=r"providers.openai.auto_cache places cache"):
        closed_after(relaykit.Client(config, env={"OPENAI_API_KEY": KEY})).provider("openai")
