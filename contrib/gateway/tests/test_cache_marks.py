"""Prompt-cache marks (``cache_control``) sent through the gateway with the real SDKs,
over loopback HTTP, arrive at the provider as CachePoints where the caller put them."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from relaykit import CachePoint, ImagePart, Message, TextPart, ToolCall, ToolResultPart
from relaykit.testing import FakePlugin

from .conftest import anthropic_sdk, gateway_over, openai_sdk

pytestmark = pytest.mark.anyio

EPHEMERAL = {"type": "ephemeral"}
ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}


def roles_and_parts(messages: tuple[Message, ...]) -> list[tuple[str, tuple[Any, ...]]]:
    return [(m.role, m.content) for m in messages]


# -- Anthropic's Messages API ----------------------------------------------------------


async def test_a_mark_on_a_system_block_stays_between_the_blocks(fake: FakePlugin) -> None:
    system: Any = [
        {"type": "text", "text": "A long manual.", "cache_control": ONE_HOUR},
        {"type": "text", "text": "Today is Tuesday.", "cache_control": EPHEMERAL},
        {"type": "text", "text": "Be brief."},
    ]
    question: Any = [{"role": "user", "content": "q"}]
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        await client.messages.create(
            model="fake/m", max_tokens=10, system=system, messages=question
        )
        # A system string has nowhere to put a mark: it goes as it is.
        await client.messages.create(
            model="fake/m", max_tokens=10, system="Plain.", messages=question
        )
    blocks, string = fake.calls
    assert blocks.messages[0] == Message(
        "system",
        (
            TextPart("A long manual."),
            CachePoint("1h"),
            TextPart("Today is Tuesday."),
            CachePoint(),
            TextPart("Be brief."),
        ),
    )
    assert string.messages[0] == Message.system("Plain.")


async def test_marks_on_message_blocks_and_tool_results_keep_their_places(
    fake: FakePlugin,
) -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    messages: Any = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "The document.", "cache_control": EPHEMERAL},
                {**image, "cache_control": ONE_HOUR},
                {"type": "text", "text": "Weather?"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "t1",
                    "name": "weather",
                    "input": {"city": "Paris"},
                    "cache_control": EPHEMERAL,
                },
                {"type": "tool_use", "id": "t2", "name": "weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Here."},
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": "sunny",
                    "cache_control": ONE_HOUR,
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "t2",
                    "content": [
                        {"type": "text", "text": "snow, ", "cache_control": EPHEMERAL},
                        {"type": "text", "text": "-3C"},
                    ],
                },
                {"type": "text", "text": "And tomorrow?", "cache_control": EPHEMERAL},
            ],
        },
    ]
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        await client.messages.create(model="fake/m", max_tokens=10, messages=messages)
    (request,) = fake.calls
    assert roles_and_parts(request.messages) == [
        (
            "user",
            (
                TextPart("The document."),
                CachePoint(),
                ImagePart(url="https://example.com/a.png"),
                CachePoint("1h"),
                TextPart("Weather?"),
            ),
        ),
        (
            "assistant",
            (
                ToolCall("t1", "weather", {"city": "Paris"}),
                CachePoint(),
                ToolCall("t2", "weather", {"city": "Oslo"}),
            ),
        ),
        ("user", (TextPart("Here."),)),
        # each tool_result is a tool message of its own, its mark with it
        ("tool", (ToolResultPart("t1", "sunny"), CachePoint("1h"))),
        # relaykit's result is one text: a mark inside it ends up after all of it
        ("tool", (ToolResultPart("t2", "snow, -3C"), CachePoint())),
        ("user", (TextPart("And tomorrow?"), CachePoint())),
    ]


async def test_a_marked_tool_caches_the_definitions_in_a_stream_too(fake: FakePlugin) -> None:
    tools: Any = [
        {"name": "weather", "description": "Weather in a city", "input_schema": WEATHER},
        {"name": "time", "input_schema": {"type": "object"}, "cache_control": ONE_HOUR},
    ]
    async with (
        gateway_over(fake) as url,
        anthropic_sdk(url) as client,
        client.messages.stream(
            model="fake/m",
            max_tokens=10,
            tools=tools,
            messages=[{"role": "user", "content": "go"}],
            extra_body={"cache_control": EPHEMERAL},  # automatic caching, request-wide
        ) as stream,
    ):
        await stream.get_final_message()
    (request,) = fake.calls
    assert [(t.name, t.cache) for t in request.tools] == [
        ("weather", None),
        ("time", CachePoint("1h")),
    ]
    assert request.tools[0].parameters == WEATHER
    assert request.extra == {"cache_control": EPHEMERAL}


@pytest.mark.parametrize(
    ("where", "body", "complaint"),
    [
        (
            "system",
            {"system": [{"type": "text", "text": "x", "cache_control": {"type": "forever"}}]},
            "system.0.cache_control is {'type': 'forever'}",
        ),
        (
            "a block",
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "x", "cache_control": "ephemeral"}],
                    }
                ]
            },
            "messages.0.content.0.cache_control is 'ephemeral'",
        ),
        (
            "inside a tool_result",
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t1",
                                "content": [
                                    {
                                        "type": "text",
                                        "text": "x",
                                        "cache_control": {"type": "ephemeral", "ttl": "1d"},
                                    }
                                ],
                            }
                        ],
                    }
                ]
            },
            "messages.0.content.0.content.0.cache_control.ttl is '1d'",
        ),
        (
            "a tool",
            {"tools": [{"name": "t", "input_schema": {}, "cache_control": {"ttl": "2h"}}]},
            "tools.0.cache_control.ttl is '2h'",
        ),
    ],
)
async def test_a_malformed_mark_is_a_400_that_names_it(
    fake: FakePlugin, where: str, body: dict[str, Any], complaint: str
) -> None:
    request: dict[str, Any] = {
        "model": "fake/m",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "q"}],
        **body,
    }
    async with gateway_over(fake) as url, anthropic_sdk(url) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.create(**request)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert complaint in caught.value.body["error"]["message"]
    assert fake.calls == []


# -- OpenAI's Chat Completions, as LiteLLM and OpenRouter callers mark it --------------


async def test_marks_on_parts_messages_and_tools_reach_the_provider(fake: FakePlugin) -> None:
    messages: Any = [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "A long manual.", "cache_control": ONE_HOUR},
                {"type": "text", "text": "Today is Tuesday."},
            ],
        },
        {"role": "user", "content": "The document.", "cache_control": EPHEMERAL},
        {"role": "user", "content": "Weather?"},
    ]

    def function(name: str, **more: Any) -> dict[str, Any]:
        return {"name": name, "parameters": WEATHER, **more}

    tools: Any = [
        {"type": "function", "function": function("weather")},
        # OpenRouter's and LiteLLM's place for the mark: on the tool
        {"type": "function", "function": function("time"), "cache_control": EPHEMERAL},
        # and LiteLLM's other one: inside the function
        {"type": "function", "function": function("news", cache_control=ONE_HOUR)},
    ]
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        await client.chat.completions.create(model="fake/m", messages=messages, tools=tools)
    (request,) = fake.calls
    assert roles_and_parts(request.messages) == [
        ("system", (TextPart("A long manual."), CachePoint("1h"), TextPart("Today is Tuesday."))),
        ("user", (TextPart("The document."), CachePoint())),
        ("user", (TextPart("Weather?"),)),
    ]
    assert [(t.name, t.cache) for t in request.tools] == [
        ("weather", None),
        ("time", CachePoint()),
        ("news", CachePoint("1h")),
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "x", "cache_control": {"ttl": "9m"}}],
                    }
                ]
            },
            "messages[0].content[0].cache_control.ttl",
        ),
        (
            {"messages": [{"role": "user", "content": "x", "cache_control": True}]},
            "messages[0].cache_control",
        ),
        (
            {
                "tools": [
                    {"type": "function", "function": {"name": "t", "cache_control": "on"}},
                ]
            },
            "tools[0].function.cache_control",
        ),
    ],
)
async def test_a_malformed_openai_mark_is_a_400_that_names_it(
    fake: FakePlugin, body: dict[str, Any], param: str
) -> None:
    request: dict[str, Any] = {
        "model": "fake/m",
        "messages": [{"role": "user", "content": "q"}],
        **body,
    }
    async with gateway_over(fake) as url, openai_sdk(url) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(**request)
    assert caught.value.param == param
    assert param in caught.value.message
    assert fake.calls == []
