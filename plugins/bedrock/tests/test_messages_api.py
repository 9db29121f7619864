"""Claude 4.7 on through Anthropic's Messages API on bedrock-runtime (/anthropic/v1/messages, SSE).

The provider contract runs once over that route (Claude Sonnet 4.6 forced onto it with
claude_api = "messages", since every Claude from Opus 4.7 on refuses the contract's
sampling parameters; Opus 4.7, routed there by default, is its reasoning model); the
rest checks what the route adds: the choice of API by model id, thinking and tool
round trips with signatures, cache marks and usage, prices, errors, the API key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    CachePoint,
    ConfigError,
    InvalidRequestError,
    Message,
    ProviderUnavailableError,
    RateLimitError,
    StreamError,
    TextPart,
)
from relaykit.messages import ReasoningPart
from relaykit.testing import Harness, ProviderContract, weather_tool_loop
from relaykit_bedrock.claude_api import uses_messages_api
from relaykit_bedrock.prices import lookup
from relaykit_bedrock.testing import BedrockMock

OPUS_4_7 = "bedrock/global.anthropic.claude-opus-4-7"
TOOL = {"name": "get_weather", "parameters": {"type": "object"}}
API_KEY = "ABSKQmVkcm9ja0FQSUtleS1tZXNzYWdlcw=="


class TestBedrockMessagesApi(ProviderContract):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with BedrockMock() as mock:
            yield Harness(
                mock=mock,
                model="bedrock/global.anthropic.claude-sonnet-4-6",
                # Claude Sonnet 4 takes temperature and top_p together (4.6 one only).
                sampling_model="bedrock/global.anthropic.claude-sonnet-4-20250514-v1:0",
                reasoning_model=OPUS_4_7,
                embedding_model="bedrock/amazon.titan-embed-text-v2:0",
                embedding_dimensions=256,
                rerank_model="bedrock/cohere.rerank-v3-5:0",
                image_model="bedrock/amazon.nova-canvas-v1:0",
                image_edit_model="bedrock/amazon.nova-canvas-v1:0",
                image_edit_mask=True,
                supports_seed=False,
                providers={
                    "bedrock": {
                        "base_url": mock.base_url,
                        "control_plane_url": mock.base_url,
                        "region": mock.region,
                        "claude_api": "messages",
                    }
                },
                supports_retry_after=False,  # Bedrock sends no Retry-After
                supports_reasoning_tokens=False,  # reasoning is inside outputTokens
                statuses={
                    400: InvalidRequestError,
                    403: AuthenticationError,
                    429: RateLimitError,
                    500: ProviderUnavailableError,
                },
            )


@pytest.mark.parametrize(
    ("model", "messages"),
    [
        ("global.anthropic.claude-opus-4-7", True),
        ("us.anthropic.claude-opus-4-8", True),
        ("eu.anthropic.claude-sonnet-5-5", True),
        ("anthropic.claude-mythos-preview", True),
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-fable-5-1", True),
        ("global.anthropic.claude-opus-4-6-v1", False),
        ("us.anthropic.claude-sonnet-4-6", False),
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", False),
        ("amazon.nova-pro-v1:0", False),
    ],
)
def test_claude_4_7_on_fable_and_mythos_go_to_the_messages_api(model: str, messages: bool) -> None:
    assert uses_messages_api(model) is messages
    # the override moves Claude only
    assert uses_messages_api(model, "messages") is ("claude" in model)
    assert uses_messages_api(model, "converse") is False


@pytest.mark.anyio
async def test_opus_4_7_is_sent_to_the_messages_route_signed_and_streamed(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client]
) -> None:
    mock.script.reply("Bonjour.", input_tokens=12, output_tokens=3)
    async with make_client(region=mock.region) as client:
        r = await client.chat(OPUS_4_7, "Say hello", max_tokens=100)
        sent = mock.last_request
        async with client.stream(OPUS_4_7, "Stream it") as s:
            texts = [e.text async for e in s if isinstance(e, relaykit.TextDelta)]
        streamed = mock.last_request
        await client.chat("bedrock/global.anthropic.claude-opus-4-6-v1", "older")
    assert (r.text, r.finish_reason, r.id) == ("Bonjour.", "stop", "msg_bdrk_0001")
    assert r.usage == relaykit.Usage(12, 3)
    assert sent.path == "/anthropic/v1/messages"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert "anthropic-version" in sent.headers["authorization"]  # signed with the rest
    body = sent.json()
    assert body["model"] == "global.anthropic.claude-opus-4-7"
    assert (body["anthropic_version"], body["max_tokens"]) == ("bedrock-2023-05-31", 100)
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Say hello"}]}
    ]
    assert "stream" not in body
    assert "".join(texts) == "echo: Stream it" == s.response.text
    assert streamed.json()["stream"] is True and s.response.id == "msg_bdrk_0002"
    assert mock.last_request.path == "/model/global.anthropic.claude-opus-4-6-v1/converse"


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_thinking_and_tool_calls_round_trip_with_their_signatures(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client], streamed: bool
) -> None:
    thoughts = (ReasoningPart("Paris is in France."), ReasoningPart(redacted="cmVkYWN0ZWQ="))
    mock.script.reply(
        "", reasoning_blocks=thoughts, tool_calls=(("get_weather", {"city": "Paris"}),)
    )
    mock.script.reply("Sunny.")
    async with make_client(region=mock.region) as client:
        if streamed:
            async with client.stream(OPUS_4_7, "Weather?", tools=[TOOL], reasoning="high") as s:
                async for _ in s:
                    pass
            r = s.response
        else:
            r = await client.chat(OPUS_4_7, "Weather?", tools=[TOOL], reasoning="high")
        first = mock.last_request.json()
        follow_up = [
            Message.user("Weather?"),
            r.to_message(),
            Message.tool(r.tool_calls[0].id, "sunny"),
        ]
        final = await client.chat(OPUS_4_7, follow_up, tools=[TOOL], reasoning="high")
    assert first["thinking"] == {"type": "adaptive"}
    assert first["output_config"] == {"effort": "high"}
    assert first["tools"] == [{"name": "get_weather", "input_schema": {"type": "object"}}]
    assert r.finish_reason == "tool_calls" and r.tool_calls[0].arguments == {"city": "Paris"}
    assert [p.origin for p in r.reasoning_parts] == ["bedrock", "bedrock"]
    assert final.text == "Sunny."  # the mock refuses a thinking block it did not sign
    assistant = mock.last_request.json()["messages"][1]["content"]
    assert [b["type"] for b in assistant] == ["thinking", "redacted_thinking", "tool_use"]
    assert assistant[0]["signature"] == r.reasoning_parts[0].signature
    tool_result = mock.last_request.json()["messages"][2]["content"][0]
    assert tool_result["tool_use_id"] == r.tool_calls[0].id


@pytest.mark.anyio
async def test_cache_points_become_cache_control_and_usage_counts_reads_and_writes(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client]
) -> None:
    mock.script.reply(
        "ok",
        input_tokens=1000,
        output_tokens=10,
        cached_input_tokens=600,
        cache_write_input_tokens=300,
        cache_write_1h_input_tokens=200,
    )
    messages = [
        Message("system", (TextPart("manual"), CachePoint("1h"))),
        Message.user([TextPart("question"), CachePoint()]),
    ]
    async with make_client(region=mock.region) as client:
        r = await client.chat(OPUS_4_7, messages, tools=[TOOL, CachePoint("1h")])
    body = mock.last_request.json()
    assert body["tools"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["system"] == [
        {"type": "text", "text": "manual", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert r.usage.input_tokens == 1000
    assert (r.usage.cached_input_tokens, r.usage.cache_write_input_tokens) == (600, 300)
    assert r.usage.cache_write_1h_input_tokens == 200
    assert r.cost is not None  # priced: Opus 4.7 at its global rate
    price = lookup("global.anthropic.claude-opus-4-7")[1]
    assert price is not None
    assert price.cached_input is not None and price.cache_write_input is not None
    # the 1h writes and output are priced on top
    expected = 100 * price.input + 600 * price.cached_input + 100 * price.cache_write_input
    assert r.cost > expected / Decimal(1_000_000)


def test_prices_are_anthropic_list_prices_globally_and_ten_percent_more_in_region() -> None:
    window, global_price = lookup("global.anthropic.claude-opus-4-7")
    _, regional = lookup("us.anthropic.claude-opus-4-7")
    assert window == 1_000_000
    assert global_price is not None and regional is not None
    assert (global_price.input, global_price.output) == (Decimal("5.00"), Decimal("25.00"))
    assert (regional.input, regional.output) == (Decimal("5.5"), Decimal("27.5"))
    assert lookup("global.anthropic.claude-fable-5-1")[1].cached_input == Decimal("0.25")  # type: ignore[union-attr]
    assert lookup("global.anthropic.claude-opus-5-5")[1].input == Decimal("4")  # type: ignore[union-attr]
    # a later model than any row is not given an earlier one's price
    assert lookup("global.anthropic.claude-fable-5-2") == (None, None)
    assert lookup("global.anthropic.claude-mythos-5-2") == (None, None)


@pytest.mark.anyio
async def test_errors_are_typed_and_name_the_fix(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client]
) -> None:
    async with make_client(region=mock.region) as client:
        # Sampling parameters are refused before sending: nothing reaches Bedrock.
        with pytest.raises(InvalidRequestError, match="temperature") as refused:
            await client.chat(OPUS_4_7, "hot", temperature=0.3)
        assert not mock.requests and refused.value.hint
        mock.script.fail(400, "thinking.type.enabled is not supported for this model.")
        with pytest.raises(InvalidRequestError) as bad:
            await client.chat(OPUS_4_7, "x")
        assert "inference profile" in str(bad.value.hint)
        mock.script.fail(429, "Too many tokens, please wait before trying again.")
        with pytest.raises(RateLimitError):
            await client.chat(OPUS_4_7, "x")
        mock.script.reply("half", stream_fault="error")
        with pytest.raises(StreamError, match="overloaded_error"):
            async with client.stream(OPUS_4_7, "x") as s:
                async for _ in s:
                    pass


@pytest.mark.anyio
async def test_an_api_key_goes_in_x_api_key_and_never_into_errors() -> None:
    with BedrockMock(bearer_token=API_KEY) as mock:
        config = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1, "initial_wait": 0},
            "providers": {"bedrock": {"base_url": mock.base_url, "api_key": API_KEY}},
        }
        async with relaykit.Client(config) as client:
            r = await client.chat(OPUS_4_7, "hi")
            assert mock.last_request.headers["x-api-key"] == API_KEY
            assert "authorization" not in mock.last_request.headers
            mock.script.fail(403, "The security token included in the request is invalid.")
            with pytest.raises(AuthenticationError) as denied:
                await client.chat(OPUS_4_7, "hi")
            assert API_KEY not in str(denied.value) and API_KEY not in repr(denied.value)
            assert API_KEY not in repr(client)
    assert r.text == "echo: hi"


@pytest.mark.anyio
async def test_claude_api_option_is_checked_and_can_keep_converse(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client]
) -> None:
    with pytest.raises(ConfigError, match="claude_api"):
        async with make_client(region=mock.region, claude_api="invoke") as client:
            await client.chat(OPUS_4_7, "x")
    async with make_client(region=mock.region, claude_api="converse") as client:
        await client.chat(OPUS_4_7, "x")
    assert mock.last_request.path == "/model/global.anthropic.claude-opus-4-7/converse"
    assert json.loads(mock.last_request.body)["messages"][0]["content"] == [{"text": "x"}]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (
            {"outputConfig": {"textFormat": {"type": "json_schema", "structure": {}}}},
            "outputConfig",
        ),
        (
            {
                "outputConfig": {
                    "textFormat": {
                        "type": "json_schema",
                        "structure": {"jsonSchema": {"schema": "{"}},
                    }
                }
            },
            "outputConfig",
        ),
        ({"toolConfig": {"tools": [{"name": "f"}]}}, "toolConfig"),
        ({"toolConfig": {"tools": [], "toolChoice": {"tool": {}}}}, "toolConfig"),
        # a string's "any" read as Converse's {"any": {}}: a forced tool sent unchecked
        ({"toolConfig": {"tools": [], "toolChoice": "any"}}, "toolConfig"),
        ({"inferenceConfig": "fast"}, "inferenceConfig"),
        ({"additionalModelRequestFields": ["top_k", 5]}, "additionalModelRequestFields"),
        ({"messages": [{"role": "user"}]}, "messages"),
        ({"system": [{"toolUse": {"name": "f"}}]}, "system"),
    ],
)
async def test_extra_not_in_converses_shape_is_refused_unsent_not_retried_as_an_answer(
    mock: BedrockMock,
    make_client: Callable[..., relaykit.Client],
    extra: dict[str, object],
    field: str,
) -> None:
    # The Messages route translates the Converse body, extra included: a KeyError there
    # was "malformed response from the provider", retried, and never sent anyway.
    async with make_client(region=mock.region, retry=3) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat(OPUS_4_7, "hi", extra=extra)
    e = caught.value
    assert not mock.requests and e.status is None and not e.retryable
    assert relaykit.http.never_sent(e)
    assert f"extra's {field}" in e.message and e.param == f"extra.{field}"
    assert e.hint is not None and "Converse" in e.hint


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "status", "retryable", "error"),
    [
        ("overloaded_error", 529, True, ProviderUnavailableError),
        # Anthropic's errors page: 504 timeout_error and 402 billing_error were taken
        # as 500s, the latter retried though another attempt meets the same bill
        ("timeout_error", 504, True, ProviderUnavailableError),
        ("billing_error", 402, False, relaykit.RelayError),  # no typed error stands for it
        ("rate_limit_error", 429, True, RateLimitError),
    ],
)
async def test_an_error_event_is_typed_by_its_status_before_and_after_the_first_event(
    mock: BedrockMock,
    make_client: Callable[..., relaykit.Client],
    kind: str,
    status: int,
    retryable: bool,
    error: type[relaykit.RelayError],
) -> None:
    mock.script.reply("", stream_fault="error", error_code=kind, error="it failed")
    mock.script.reply("half", stream_fault="error", error_code=kind, error="it failed")
    async with make_client(region=mock.region) as client:
        with pytest.raises(relaykit.RelayError) as before:
            async with client.stream(OPUS_4_7, "x") as s:
                async for _ in s:
                    pass
        with pytest.raises(StreamError) as after:
            async with client.stream(OPUS_4_7, "x") as s:
                async for _ in s:
                    pass
    assert type(before.value) is error, repr(before.value)  # not a StreamError: nothing had come
    assert (before.value.status, before.value.retryable) == (status, retryable)
    assert (after.value.status, after.value.retryable) == (status, retryable)
    assert kind in str(after.value) and "it failed" in str(after.value)


#: what Bedrock says when an account's daily token quota is used up
PER_DAY = "Too many tokens per day, please wait before trying again."


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["ThrottlingException", "rate_limit_error"])
async def test_a_daily_quota_in_the_stream_is_not_retried_before_or_after_the_first_event(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client], kind: str
) -> None:
    # As on ConverseStream: a daily quota is no throttle a backoff waits out. A started
    # stream's error took its retryable from the kind alone, so it said "retry" there.
    mock.script.reply("", stream_fault="error", error_code=kind, error=PER_DAY)
    mock.script.reply("half", stream_fault="error", error_code=kind, error=PER_DAY)
    mock.script.reply("too late")
    async with make_client(region=mock.region, retry=3) as client:
        with pytest.raises(RateLimitError) as before:
            async with client.stream(OPUS_4_7, "x") as s:
                async for _ in s:
                    pass
        assert len(mock.requests) == 1  # not retried
        with pytest.raises(StreamError) as after:
            async with client.stream(OPUS_4_7, "x") as s:
                async for _ in s:
                    pass
    assert (before.value.status, before.value.should_retry) == (429, False)
    assert (after.value.status, after.value.retryable) == (429, False)
    for error in (before.value, after.value):
        assert error.hint is not None and "tokens per day" in error.hint, error.hint
    assert kind in str(after.value) and PER_DAY in str(after.value)


@pytest.mark.anyio
@pytest.mark.parametrize("code", ["ThrottlingException", None])
async def test_a_daily_quota_answered_over_http_is_not_retried(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client], code: str | None
) -> None:
    # Named by x-amzn-errortype or not at all: the 429 and its message say it.
    mock.script.fail(429, PER_DAY, code=code)
    mock.script.reply("too late")
    async with make_client(region=mock.region, retry=3) as client:
        with pytest.raises(RateLimitError) as info:
            await client.chat(OPUS_4_7, "x")
    assert len(mock.requests) == 1
    assert info.value.should_retry is False


@pytest.mark.anyio
async def test_a_per_minute_throttle_in_a_started_stream_stays_retryable(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client]
) -> None:
    said = "Too many tokens, please wait before trying again."
    mock.script.reply("half", stream_fault="error", error_code="ThrottlingException", error=said)
    async with make_client(region=mock.region) as client:
        with pytest.raises(StreamError) as after:
            async with client.stream(OPUS_4_7, "x") as s:
                async for _ in s:
                    pass
    assert (after.value.status, after.value.retryable) == (429, True)


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_tool_choice_none_with_tool_history_is_sent_as_none(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client], streamed: bool
) -> None:
    # Converse has no "none": it drops the tools, or sends them without a toolChoice
    # when the conversation holds tool blocks (Bedrock then wants a toolConfig). The
    # Messages API has tool_choice {"type": "none"}: sent without it, the model was
    # free to call a tool the caller had forbidden.
    history = weather_tool_loop()
    async with make_client(region=mock.region) as client:
        if streamed:
            async with client.stream(OPUS_4_7, history, tools=[TOOL], tool_choice="none") as s:
                async for _ in s:
                    pass
        else:
            await client.chat(OPUS_4_7, history, tools=[TOOL], tool_choice="none")
        with_history = mock.last_request.json()
        await client.chat(OPUS_4_7, "Weather?", tools=[TOOL], tool_choice="none")
        without = mock.last_request.json()
        await client.chat(OPUS_4_7, history, tools=[TOOL], tool_choice="auto")
        auto = mock.last_request.json()
    assert with_history["tools"] == [{"name": "get_weather", "input_schema": {"type": "object"}}]
    assert with_history["tool_choice"] == {"type": "none"}
    assert "tools" not in without and "tool_choice" not in without  # as on Converse
    assert auto["tool_choice"] == {"type": "auto"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "kwargs", "max_tokens"),
    [
        # no thinking: the route's default answer share, as before
        (OPUS_4_7, {}, 8192),
        (OPUS_4_7, {"reasoning": "none"}, 8192),
        # max_tokens caps thinking and answer together (Anthropic's thinking and effort
        # pages): the thinking's room goes on top, as relaykit-anthropic sends it
        (OPUS_4_7, {"reasoning": "low"}, 8192 + 1024),
        (OPUS_4_7, {"reasoning": "high"}, 8192 + 24576),
        # Claude 5 thinks unasked, at its default effort (high on Opus 5)
        ("bedrock/global.anthropic.claude-opus-5", {}, 8192 + 24576),
        ("bedrock/us.anthropic.claude-opus-5-5", {}, 8192 + 8192),  # medium by default
        # a budget given in extra's own thinking field is room too (Sonnet 4.5 takes one)
        (
            "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            {"extra": {"thinking": {"type": "enabled", "budget_tokens": 2000}}},
            8192 + 2000,
        ),
        (OPUS_4_7, {"reasoning": "high", "max_tokens": 500}, 500),
    ],
)
async def test_the_default_max_tokens_leaves_room_for_thinking(
    mock: BedrockMock,
    make_client: Callable[..., relaykit.Client],
    model: str,
    kwargs: dict[str, object],
    max_tokens: int,
) -> None:
    # It was 8192 whatever the thinking: a Claude 5 model thinking at high effort
    # could spend it all and stop at "length" before answering.
    async with make_client(region=mock.region, claude_api="messages") as client:
        await client.chat(model, "hi", **kwargs)
    assert mock.last_request.path == "/anthropic/v1/messages"
    assert mock.last_request.json()["max_tokens"] == max_tokens


@pytest.mark.anyio
@pytest.mark.parametrize("answer", ["error answer", "error event"])
async def test_a_stream_refused_before_it_starts_gets_the_hint_a_chat_gets(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client], answer: str
) -> None:
    # A 400 answered to the stream's request, or sent as its first event (before any
    # content): the same refusal a chat gets, with the route's hint.
    said = "top_k: Extra inputs are not permitted"
    async with make_client(region=mock.region) as client:
        mock.script.fail(400, said)
        with pytest.raises(InvalidRequestError) as chat:
            await client.chat(OPUS_4_7, "x")
        if answer == "error answer":
            mock.script.fail(400, said)
        else:
            mock.script.reply(
                "", stream_fault="error", error_code="invalid_request_error", error=said
            )
        with pytest.raises(InvalidRequestError) as streamed:
            async with client.stream(OPUS_4_7, "x") as s:
                async for _ in s:
                    pass
    assert mock.last_request.path == "/anthropic/v1/messages"
    assert said in str(streamed.value) and streamed.value.status == 400
    assert "inference profile" in str(chat.value.hint)
    assert streamed.value.hint == chat.value.hint
