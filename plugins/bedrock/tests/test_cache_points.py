"""CachePoint as Bedrock's cachePoint blocks: where they land in the body, over loopback.

Each loopback test runs through Converse and ConverseStream; the mock checks the
cache points as Bedrock does (shape, ttl, at most four, placement), so a body it
accepts is one Bedrock would take.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

import relaykit
from relaykit import (
    CachePoint,
    ChatRequest,
    InvalidRequestError,
    Message,
    ReasoningPart,
    TextPart,
    Tool,
    ToolCall,
)
from relaykit.messages import ToolResultPart
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_bedrock import wire
from relaykit_bedrock.cache_points import cache_point_block
from relaykit_bedrock.testing import BedrockMock, validate
from relaykit_bedrock.testing.frames import reasoning_signature

from .conftest import MakeClient

MODEL = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
POINT = {"cachePoint": {"type": "default"}}
HOUR = {"cachePoint": {"type": "default", "ttl": "1h"}}
WEATHER_SPEC = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "inputSchema": {"json": WEATHER_TOOL["parameters"]},
    }
}
streamed = pytest.mark.parametrize("streamed", [False, True], ids=["converse", "converse-stream"])


async def send(
    client: relaykit.Client, messages: Sequence[Message], streamed: bool, **options: Any
) -> None:
    """One call through Converse or ConverseStream, read to the end."""
    if not streamed:
        await client.chat(MODEL, list(messages), **options)
        return
    async with client.stream(MODEL, list(messages), **options) as s:
        async for _ in s:
            pass


async def body_sent(
    mock: BedrockMock,
    make_client: MakeClient,
    messages: Sequence[Message],
    streamed: bool,
    **options: Any,
) -> Any:
    """The JSON body the mock received for one call (which it accepted)."""
    async with make_client() as client:
        await send(client, messages, streamed, **options)
    request = mock.requests[-1]
    assert request.path.endswith("/converse-stream" if streamed else "/converse")
    return request.json()


# -- over loopback -------------------------------------------------------------------


@pytest.mark.anyio
@streamed
async def test_cache_points_land_where_they_stand_in_tools_system_and_turns(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    call = ToolCall("t1", "get_weather", {"city": "Oslo"})
    messages = [
        Message("system", (TextPart("the manual"), CachePoint("1h"))),
        Message.user("Weather in Oslo?"),
        Message("assistant", (TextPart("Checking."), CachePoint(), call)),
        Message("tool", (ToolResultPart("t1", "-3C"), CachePoint())),
        Message.user("And tomorrow?"),
    ]
    body = await body_sent(
        mock, make_client, messages, streamed, tools=[WEATHER_TOOL, CachePoint("1h")]
    )
    assert body["toolConfig"] == {"tools": [WEATHER_SPEC, HOUR]}
    assert body["system"] == [{"text": "the manual"}, HOUR]
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Oslo?"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Checking."},
                POINT,
                {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Oslo"}}},
            ],
        },
        # the tool result and the question merge into one user turn; the point stays between
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"text": "-3C"}]}},
                POINT,
                {"text": "And tomorrow?"},
            ],
        },
    ]


@pytest.mark.anyio
@streamed
async def test_a_cache_point_with_nothing_before_it_is_left_out(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    messages = [
        Message("system", (CachePoint("1h"), TextPart("Be terse."))),
        Message("user", (CachePoint(), TextPart("hi"))),
    ]
    body = await body_sent(mock, make_client, messages, streamed)
    # The second point ends the same prefix as a point after the system text would.
    assert body["system"] == [{"text": "Be terse."}, POINT]
    assert body["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]
    body = await body_sent(
        mock, make_client, [Message("user", (CachePoint(), TextPart("hi")))], streamed
    )
    assert "system" not in body
    assert body["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]


@pytest.mark.anyio
@streamed
async def test_merged_turns_keep_each_cache_point_after_what_preceded_it(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    messages = [
        Message("user", (TextPart("the long document"), CachePoint("1h"))),
        Message("user", (CachePoint(),)),  # a turn of nothing but a cache point
        Message.user("first question"),
        Message.assistant("first answer"),
        Message("user", (CachePoint(), TextPart("second question"))),
    ]
    body = await body_sent(mock, make_client, messages, streamed)
    assert body["messages"] == [
        # the lone point marks the prefix the 1h point marks already: one point, the 1h one
        {
            "role": "user",
            "content": [{"text": "the long document"}, HOUR, {"text": "first question"}],
        },
        # a point opening a turn ends the previous one
        {"role": "assistant", "content": [{"text": "first answer"}, POINT]},
        {"role": "user", "content": [{"text": "second question"}]},
    ]


@pytest.mark.anyio
@streamed
async def test_a_cache_point_after_reasoning_goes_before_it(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    thought = ReasoningPart("hmm", reasoning_signature("hmm"), origin="bedrock")
    messages = [
        Message.user("Think first."),
        Message("assistant", (thought,)),
        Message("user", (CachePoint(), TextPart("Go on."))),
    ]
    body = await body_sent(mock, make_client, messages, streamed)
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "Think first."}, POINT]},
        {
            "role": "assistant",
            "content": [
                {
                    "reasoningContent": {
                        "reasoningText": {"text": "hmm", "signature": thought.signature}
                    }
                }
            ],
        },
        {"role": "user", "content": [{"text": "Go on."}]},
    ]


def five_points() -> list[Message]:
    return [
        Message("system", (TextPart("one"), CachePoint(), TextPart("two"), CachePoint())),
        Message("user", (TextPart("three"), CachePoint(), TextPart("four"), CachePoint())),
        Message("user", (TextPart("five"), CachePoint())),
    ]


def hour_after_five_minutes() -> list[Message]:
    return [
        Message("system", (TextPart("the manual"), CachePoint("5m"))),
        Message("user", (TextPart("the document"), CachePoint("1h"))),
    ]


@pytest.mark.anyio
@streamed
@pytest.mark.parametrize(
    ("messages", "complaint"),
    [
        (five_points(), "A maximum of 4 cache points may be provided in a request; found 5"),
        (hour_after_five_minutes(), "ttl 1h cannot come after one with ttl 5m"),
    ],
    ids=["a-fifth-point", "1h-after-5m"],
)
async def test_the_mock_refuses_cache_points_bedrock_refuses_as_a_typed_error(
    mock: BedrockMock,
    make_client: MakeClient,
    streamed: bool,
    messages: list[Message],
    complaint: str,
) -> None:
    async with make_client(retry=3) as client:
        with pytest.raises(InvalidRequestError, match=complaint):
            await send(client, messages, streamed)
    assert len(mock.requests) == 1  # sent as given, refused by the (mock) service, not retried


# -- the wire functions ----------------------------------------------------------------


def test_the_ttl_is_sent_only_when_set() -> None:
    assert cache_point_block(CachePoint()) == POINT
    assert cache_point_block(CachePoint("5m")) == {"cachePoint": {"type": "default", "ttl": "5m"}}
    assert cache_point_block(CachePoint("1h")) == HOUR


def test_tool_cache_goes_right_after_its_tool() -> None:
    tools = (Tool("a", cache=CachePoint("1h")), Tool("b"), Tool("c", cache=CachePoint()))
    sent = wire.request_body(_request(tools=tools))["toolConfig"]["tools"]
    assert [next(iter(t)) for t in sent] == [
        "toolSpec",
        "cachePoint",
        "toolSpec",
        "toolSpec",
        "cachePoint",
    ]
    assert (sent[1], sent[4]) == (HOUR, POINT)


def test_a_leading_cache_point_ends_the_tool_definitions_when_tools_are_sent() -> None:
    system = Message("system", (CachePoint(), TextPart("s")))
    tools = (Tool("t"),)
    body = wire.request_body(_request((system, Message.user("q")), tools=tools))
    assert body["toolConfig"]["tools"][1:] == [POINT]
    assert body["system"] == [{"text": "s"}]
    # tool_choice="none" leaves the tools out, and with them the prefix the point had
    none = relaykit.ToolChoice("none")
    body = wire.request_body(_request((system, Message.user("q")), tools=tools, tool_choice=none))
    assert "toolConfig" not in body
    assert body["system"] == [{"text": "s"}]


def test_two_points_in_a_row_become_one_with_the_longer_ttl() -> None:
    for first, second in [(CachePoint(), CachePoint("1h")), (CachePoint("1h"), CachePoint("5m"))]:
        [turn] = wire.messages((Message("user", (TextPart("doc"), first, second)),))
        assert turn["content"] == [{"text": "doc"}, HOUR]


def test_system_text_is_cut_at_a_cache_point_and_joined_elsewhere() -> None:
    system = Message("system", (TextPart("a"), TextPart("b"), CachePoint(), TextPart("c")))
    assert wire.system_blocks((system, Message.system("d"))) == [
        {"text": "ab"},
        POINT,
        {"text": "c"},
        {"text": "d"},
    ]


def test_a_cache_point_after_reasoning_left_out_ends_the_turn_before() -> None:
    # Unsigned reasoning is not sent, so the assistant turn is empty and left out.
    history = (
        Message.user("q"),
        Message("assistant", (ReasoningPart("unsigned"), CachePoint())),
        Message.user("again"),
    )
    assert wire.messages(history) == [
        {"role": "user", "content": [{"text": "q"}, POINT, {"text": "again"}]}
    ]


# -- the mock's own checks ----------------------------------------------------------------


def _body(content: list[Any], **more: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **more}


TEXT = {"text": "x"}


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (
            _body([TEXT, {"cachePoint": {"type": "ephemeral"}}]),
            "Value 'ephemeral' at 'messages.0.member.content.1.member.cachePoint.type' failed to "
            "satisfy constraint: Member must satisfy enum value set: [default]",
        ),
        (
            _body([TEXT], system=[TEXT, {"cachePoint": {}}]),
            "Value null at 'system.1.member.cachePoint.type'",
        ),
        (
            _body([TEXT, {"cachePoint": {"type": "default", "ttl": "1d"}}]),
            "Value '1d' at 'messages.0.member.content.1.member.cachePoint.ttl'",
        ),
        (_body([POINT]), "messages.0 holds only cache points"),
        (
            _body([TEXT, {"reasoningContent": {"redactedContent": "AA=="}}, POINT]),
            "Cache point cannot be inserted after reasoning block",
        ),
        (
            _body([TEXT, POINT, TEXT, POINT, TEXT, POINT], system=[TEXT, POINT, TEXT, POINT]),
            "A maximum of 4 cache points may be provided in a request; found 5.",
        ),
        (
            _body([TEXT, HOUR], toolConfig={"tools": [WEATHER_SPEC, POINT]}),
            "ttl 1h cannot come after one with ttl 5m",
        ),
    ],
    ids=["type", "no-type", "ttl", "alone", "after-reasoning", "five", "1h-after-5m"],
)
def test_the_mock_checks_cache_points_itself(body: dict[str, Any], complaint: str) -> None:
    assert complaint in (validate(body) or "no complaint")


def test_the_mock_takes_four_well_formed_cache_points_in_any_of_the_three_places() -> None:
    one_hour_first = {"cachePoint": {"type": "default", "ttl": "1h"}}
    body = _body(
        [TEXT, {"cachePoint": {"type": "default", "ttl": "5m"}}, TEXT, POINT],
        system=[TEXT, HOUR],
        toolConfig={"tools": [WEATHER_SPEC, one_hour_first]},
    )
    assert validate(body) is None


def _request(messages: tuple[Message, ...] = (Message.user("hi"),), **kw: Any) -> ChatRequest:
    return ChatRequest(model="amazon.nova-pro-v1:0", messages=messages, **kw)


@pytest.mark.anyio
@streamed
async def test_auto_cache_marks_tools_system_and_the_last_turn(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    messages = [Message.system("the manual"), Message.user("q1"), Message.assistant("a1")]
    messages.append(Message.user("q2"))
    async with make_client(auto_cache="1h") as client:
        await send(client, messages, streamed, tools=[WEATHER_TOOL])
    body = mock.requests[-1].json()
    assert body["toolConfig"]["tools"] == [WEATHER_SPEC, HOUR]
    assert body["system"] == [{"text": "the manual"}, HOUR]
    assert body["messages"][-1] == {"role": "user", "content": [{"text": "q2"}, HOUR]}
    assert str(body).count("cachePoint") == 3


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["converse", "messages"])
async def test_a_cache_point_in_a_reordered_turn_keeps_what_it_held(
    mock: BedrockMock, make_client: MakeClient, api: str
) -> None:
    # The turn as another framework's history holds it: text, reasoning, then a tool
    # call. The reasoning goes first (Claude's rule); the point, which followed it,
    # goes after the text, so the text and that reasoning are still inside its prefix
    # (turn_order.thinking_first), on either route.
    thought = ReasoningPart("hmm", reasoning_signature("hmm"), origin="bedrock")
    call = ToolCall("t1", "get_weather", {"city": "Oslo"})
    turn = Message("assistant", (TextPart("Let me look."), thought, CachePoint("1h"), call))
    messages = [Message.user("Weather?"), turn, Message.tool("t1", "-3C")]
    async with make_client(claude_api=api) as client:
        await client.chat(MODEL, messages, tools=[WEATHER_TOOL])
    body = mock.last_request.json()
    sent = body["messages"][1]["content"]
    if api == "converse":
        kinds = [next(iter(b)) for b in sent]
        assert kinds == ["reasoningContent", "text", "cachePoint", "toolUse"]
        assert sent[2] == HOUR
    else:
        assert [b["type"] for b in sent] == ["thinking", "text", "tool_use"]
        assert sent[1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
        assert "cache_control" not in sent[0] and "cache_control" not in sent[2]
