"""What relaykit-bedrock sends and how it reads Converse answers: the vendor specifics."""

from __future__ import annotations

import base64
import json
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest

import relaykit
from relaykit import (
    ChatRequest,
    ImagePart,
    InvalidRequestError,
    Message,
    ReasoningPart,
    ToolCall,
    Usage,
)
from relaykit.testing import Reply
from relaykit.testing.provider_contract import PNG, WEATHER_TOOL
from relaykit_bedrock import wire
from relaykit_bedrock.prices import lookup
from relaykit_bedrock.testing import BedrockMock
from relaykit_bedrock.testing.frames import reasoning_signature
from relaykit_bedrock.testing.mock import validate

from .conftest import MakeClient

MODEL = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"


def sent(mock: BedrockMock) -> Any:
    return mock.requests[-1].json()


# -- the request body ------------------------------------------------------------


@pytest.mark.anyio
async def test_system_turns_and_inference_config(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    messages = [
        Message.system("Be terse."),
        Message.user("first"),
        Message.assistant("answer"),
        Message.system("Use French."),
        Message.user("second"),
    ]
    # Claude Sonnet 4 takes temperature and top_p together (Haiku 4.5 one of them)
    sonnet_4 = "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0"
    async with make_client() as client:
        await client.chat(
            sonnet_4, messages, max_tokens=50, temperature=0.2, top_p=0.9, stop=["END"]
        )
    body = sent(mock)
    assert body["system"] == [{"text": "Be terse."}, {"text": "Use French."}]
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "first"}]},
        {"role": "assistant", "content": [{"text": "answer"}]},
        {"role": "user", "content": [{"text": "second"}]},
    ]
    assert body["inferenceConfig"] == {
        "maxTokens": 50,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
    }


@pytest.mark.anyio
async def test_the_model_id_is_one_escaped_path_segment(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    profile = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{profile}"
    async with make_client() as client:
        r = await client.chat(f"bedrock/{arn}", "hi")
    # The mock recomputed the SigV4 signature over this exact path, so it was signed as sent.
    assert mock.requests[-1].path == f"/model/{quote(arn, safe='')}/converse"
    assert r.text == "echo: hi"


@pytest.mark.anyio
async def test_tool_round_trip_shapes(mock: BedrockMock, make_client: MakeClient) -> None:
    history = [
        Message.user("Weather in Paris and Oslo?"),
        Message.assistant(
            [
                ReasoningPart("two cities", reasoning_signature("two cities")),
                relaykit.TextPart("Checking."),
            ],
            tool_calls=[
                ToolCall("t1", "get_weather", {"city": "Paris"}),
                ToolCall("t2", "get_weather", {"city": "Oslo"}),
            ],
        ),
        Message.tool("t1", '{"sky": "sunny"}'),
        Message.tool("t2", "service down", is_error=True),
        Message.user("And tomorrow?"),
    ]
    async with make_client() as client:
        await client.chat(MODEL, history, tools=[WEATHER_TOOL], tool_choice="required")
    body = sent(mock)
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Current weather in a city",
                    "inputSchema": {"json": WEATHER_TOOL["parameters"]},
                }
            }
        ],
        "toolChoice": {"any": {}},
    }
    assistant, results = body["messages"][1:]
    assert assistant == {
        "role": "assistant",
        "content": [
            {
                "reasoningContent": {
                    "reasoningText": {
                        "text": "two cities",
                        "signature": reasoning_signature("two cities"),
                    }
                }
            },
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "t2", "name": "get_weather", "input": {"city": "Oslo"}}},
        ],
    }
    # Both results and the next question share one user turn: Converse wants turns to alternate.
    assert results == {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": "t1", "content": [{"text": '{"sky": "sunny"}'}]}},
            {
                "toolResult": {
                    "toolUseId": "t2",
                    "content": [{"text": "service down"}],
                    "status": "error",
                }
            },
            {"text": "And tomorrow?"},
        ],
    }


@pytest.mark.anyio
async def test_a_call_with_broken_arguments_can_be_sent_back(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # A streamed call cut off by max_tokens keeps its text as raw_arguments; Converse
    # refuses a toolUse.input that is not an object, so the history could not go on.
    broken = ToolCall.from_json_arguments("t1", "get_weather", '{"city": "Par')
    history = [
        Message.user("Weather in Paris?"),
        Message.assistant(tool_calls=[broken]),
        Message.tool("t1", "could not read the arguments", is_error=True),
    ]
    async with make_client() as client:
        await client.chat(MODEL, history, tools=[WEATHER_TOOL])
    use = sent(mock)["messages"][1]["content"][0]["toolUse"]
    assert use["input"] == {"raw_arguments": '{"city": "Par'}


@pytest.mark.anyio
async def test_an_empty_tool_result_is_sent_as_a_placeholder(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # Converse refuses a blank text block, an empty content list and (Claude) an
    # error result with nothing in it; a tool that printed nothing is still an answer.
    history = [
        Message.user("Clear the caches"),
        Message.assistant(
            tool_calls=[ToolCall("t1", "clear", {}), ToolCall("t2", "clear", {"all": True})]
        ),
        Message.tool("t1", ""),
        Message.tool("t2", " \n", is_error=True),
    ]
    async with make_client() as client:
        await client.chat(MODEL, history, tools=[WEATHER_TOOL])
    ok, failed = sent(mock)["messages"][2]["content"]
    assert ok == {"toolResult": {"toolUseId": "t1", "content": [{"text": wire.NO_OUTPUT}]}}
    assert failed == {
        "toolResult": {"toolUseId": "t2", "content": [{"text": wire.NO_OUTPUT}], "status": "error"}
    }


@pytest.mark.parametrize(
    ("content", "status", "problem"),
    [
        ([{"text": ""}], None, "toolResult.content.0 is blank"),
        ([{"text": " "}], "error", "toolResult.content.0 is blank"),
        ([], None, "toolResult is empty"),
        ([], "error", "cannot be empty when status value is error"),
    ],
)
def test_the_mock_refuses_empty_tool_results(
    content: list[Any], status: str | None, problem: str
) -> None:
    result: dict[str, Any] = {"toolUseId": "t1", "content": content}
    if status:
        result["status"] = status
    body = {
        "messages": [
            {"role": "user", "content": [{"text": "go"}]},
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "t1", "name": "x", "input": {}}}],
            },
            {"role": "user", "content": [{"toolResult": result}]},
        ],
        "toolConfig": {"tools": []},
    }
    assert problem in (validate(body) or "")


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ("get_weather", {"tool": {"name": "get_weather"}}),
    ],
)
def test_tool_choice(choice: str, expected: dict[str, Any]) -> None:
    request = _request(
        tools=(relaykit.Tool.coerce(WEATHER_TOOL),), tool_choice=relaykit.ToolChoice.coerce(choice)
    )
    assert wire.request_body(request)["toolConfig"]["toolChoice"] == expected


def test_tool_choice_none_drops_the_tools_unless_the_history_needs_them() -> None:
    tools = (relaykit.Tool.coerce(WEATHER_TOOL),)
    none = relaykit.ToolChoice("none")
    assert "toolConfig" not in wire.request_body(_request(tools=tools, tool_choice=none))
    history = (
        Message.user("hi"),
        Message.assistant(tool_calls=[ToolCall("t1", "get_weather", {"city": "Rome"})]),
        Message.tool("t1", "sunny"),
    )
    config = wire.request_body(_request(history, tools=tools, tool_choice=none))["toolConfig"]
    assert [t["toolSpec"]["name"] for t in config["tools"]] == ["get_weather"]
    assert "toolChoice" not in config


def test_strict_tools_and_empty_descriptions() -> None:
    tool = relaykit.Tool("lookup", "", {"type": "object", "properties": {}}, strict=True)
    [spec] = wire.request_body(_request(tools=(tool,)))["toolConfig"]["tools"]
    assert spec == {
        "toolSpec": {"name": "lookup", "inputSchema": {"json": tool.parameters}, "strict": True}
    }


@pytest.mark.anyio
async def test_images_travel_as_base64_bytes(mock: BedrockMock, make_client: MakeClient) -> None:
    message = Message.user("what is this?", ImagePart(data=PNG, media_type="image/png"))
    async with make_client() as client:
        await client.chat(MODEL, [message])
    [text, image] = sent(mock)["messages"][0]["content"]
    assert text == {"text": "what is this?"}
    assert image == {
        "image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}
    }


@pytest.mark.anyio
async def test_an_image_url_is_refused_before_sending(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    message = Message.user("look", ImagePart(url="https://example.com/cat.png"))
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat(MODEL, [message])
    assert "pass its bytes" in str(info.value)
    assert mock.requests == []


def test_images_from_s3_and_data_urls() -> None:
    s3 = wire.messages((Message.user("a", ImagePart(url="s3://bucket/cats/cat.JPG")),))
    assert s3[0]["content"][1] == {
        "image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cats/cat.JPG"}}}
    }
    data_url = ImagePart(url="data:image/webp;base64,UklGRg==")
    assert wire.messages((Message.user("b", data_url),))[0]["content"][1]["image"] == {
        "format": "webp",
        "source": {"bytes": "UklGRg=="},
    }
    with pytest.raises(InvalidRequestError, match="image/bmp"):
        wire.messages((Message.user("c", ImagePart(data=b"BM", media_type="image/bmp")),))


def test_unsigned_reasoning_and_blank_text_are_not_sent() -> None:
    history = (
        Message.user("q"),
        Message("assistant", (ReasoningPart("from another provider"),)),
        Message.user(""),
        Message.user("again"),
    )
    assert wire.messages(history) == [
        {"role": "user", "content": [{"text": "q"}, {"text": "again"}]}
    ]


@pytest.mark.anyio
async def test_json_schema_becomes_output_config(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    mock.script.reply('{"answer": 42}')
    async with make_client() as client:
        r = await client.chat(
            MODEL,
            "answer",
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema},
            },
        )
    text_format = sent(mock)["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema"
    assert text_format["structure"]["jsonSchema"]["name"] == "answer"
    # a JSON string; closed, as Claude's structured outputs want (test_schemas.py)
    closed = {**schema, "additionalProperties": False}
    assert json.loads(text_format["structure"]["jsonSchema"]["schema"]) == closed
    assert r.text == '{"answer": 42}'


@pytest.mark.anyio
async def test_a_schema_json_cannot_hold_is_refused_unsent(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    """The schema goes as a JSON string inside the body: encoded apart with json.dumps,
    a value JSON cannot hold raised its TypeError, where the body's own encoder
    refuses the same value as an InvalidRequestError."""
    schema = {"type": "object", "properties": {"a": {"type": "string", "default": b"x"}}}
    async with make_client() as client:
        with pytest.raises(relaykit.InvalidRequestError, match="a value JSON cannot encode"):
            await client.chat(MODEL, "answer", response_format=schema)
    assert mock.requests == []


def test_json_object_is_emulated_not_sent_as_a_format() -> None:
    """Converse has no JSON mode: a forced tool carries it (test_json_object.py)."""
    request = _request(response_format=relaykit.ResponseFormat("json_object"))
    body = wire.request_body(request)
    assert "outputConfig" not in body
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "response"}}


@pytest.mark.anyio
async def test_extra_merges_into_the_body(mock: BedrockMock, make_client: MakeClient) -> None:
    extra = {
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        "inferenceConfig": {"maxTokens": 2048},
        "performanceConfig": {"latency": "optimized"},
    }
    async with make_client() as client:
        await client.chat(MODEL, "think", temperature=1.0, max_tokens=10, extra=extra)
    body = sent(mock)
    assert body["additionalModelRequestFields"] == extra["additionalModelRequestFields"]
    assert body["inferenceConfig"] == {"maxTokens": 2048, "temperature": 1.0}
    assert body["performanceConfig"] == {"latency": "optimized"}


# -- reading answers --------------------------------------------------------------


def test_usage_counts_cache_reads_and_writes_as_input() -> None:
    data = {
        "inputTokens": 10,
        "outputTokens": 7,
        "totalTokens": 137,
        "cacheReadInputTokens": 100,
        "cacheWriteInputTokens": 20,
    }
    assert wire.usage(data) == Usage(130, 7, 100, cache_write_input_tokens=20)
    assert wire.usage({"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}) == Usage(3, 1)
    assert wire.usage(None) == Usage()


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_tool_use", "other"),
        ("something_new", "other"),
    ],
)
def test_stop_reasons(stop_reason: str, finish: str) -> None:
    data = {
        "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
        "stopReason": stop_reason,
    }
    assert wire.response(data, "m").finish_reason == finish


def test_a_full_response() -> None:
    data = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                    {"text": "Hello "},
                    {"text": "there"},
                    {"toolUse": {"toolUseId": "tooluse_1", "name": "f", "input": {"a": 1}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 5, "outputTokens": 6, "totalTokens": 11},
        "metrics": {"latencyMs": 250},
    }
    r = wire.response(data, "amazon.nova-pro-v1:0")
    assert (r.text, r.reasoning, r.reasoning_signature) == ("Hello there", "hmm", "sig")
    assert r.tool_calls == (ToolCall("tooluse_1", "f", {"a": 1}),)
    assert (r.finish_reason, r.model, r.usage) == (
        "tool_calls",
        "amazon.nova-pro-v1:0",
        Usage(5, 6),
    )


@pytest.mark.anyio
async def test_reasoning_and_cached_usage_through_the_mock(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    mock.script.push(
        Reply(text="4", reasoning="2+2", input_tokens=30, output_tokens=8, cached_input_tokens=20)
    )
    async with make_client() as client:
        r = await client.chat(MODEL, "2+2?")
    assert (r.text, r.reasoning, r.reasoning_signature) == ("4", "2+2", reasoning_signature("2+2"))
    assert r.usage == Usage(30, 8, 20, 0)
    assert r.id is not None
    uuid.UUID(r.id)  # AWS's request id stands in for the response id
    # Haiku 4.5 through a "us." profile: global price plus 10%, cached input at the cache rate.
    assert (
        r.cost
        == (
            Decimal(10) * Decimal("1.1")
            + Decimal(20) * Decimal("0.11")
            + Decimal(8) * Decimal("5.5")
        )
        / 10**6
    )


# -- prices and models -----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "window", "input_price"),
    [
        ("amazon.nova-pro-v1:0", 300_000, "0.80"),
        ("us.amazon.nova-lite-v1:0", 300_000, "0.06"),
        ("eu.amazon.nova-micro-v1:0", 128_000, "0.035"),
        ("meta.llama3-3-70b-instruct-v1:0", 128_000, "0.72"),
        ("us.meta.llama3-3-70b-instruct-v1:0", 128_000, "0.72"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", 200_000, "3.00"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 200_000, "3.300"),
        ("apac.anthropic.claude-haiku-4-5-20251001-v1:0", 200_000, "1.100"),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", 200_000, "1.100"),
        # ARNs end in the id: a foundation model's, an inference profile's
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0", 300_000, "0.80"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            200_000,
            "3.300",
        ),
    ],
)
def test_prices_with_and_without_profile_prefixes(
    model: str, window: int, input_price: str
) -> None:
    found_window, price = lookup(model)
    assert found_window == window
    assert price is not None
    assert price.input == Decimal(input_price)


def test_unknown_models_have_no_price() -> None:
    assert lookup("cohere.command-r-v1:0") == (None, None)


@pytest.mark.anyio
async def test_list_models_keeps_text_models_with_prices(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    async with make_client() as client:
        models = {m.id: m for m in await client.models("bedrock")}
    assert mock.requests[-2].query == {"byOutputModality": "TEXT"}
    assert "amazon.titan-embed-text-v2:0" not in models
    # callable through Provisioned Throughput alone (its ARN), never by this id
    assert "amazon.nova-pro-v1:0:300k" not in models
    # called through an inference profile (us.anthropic...), listed by its model id
    assert "anthropic.claude-sonnet-4-5-20250929-v1:0" in models
    nova = models["amazon.nova-pro-v1:0"]
    assert (nova.owned_by, nova.context_window) == ("Amazon", 300_000)
    assert nova.price is not None
    assert nova.price.output == Decimal("3.20")


def _request(messages: tuple[Message, ...] = (Message.user("hi"),), **kw: Any) -> ChatRequest:
    return ChatRequest(model="amazon.nova-pro-v1:0", messages=messages, **kw)
