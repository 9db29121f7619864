"""What the contract cannot see: the exact requests sent, headers, usage, errors, tokens, models."""

from __future__ import annotations

import base64
import json
import socket
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    ChatRequest,
    ConfigError,
    ContextLengthError,
    ImagePart,
    InvalidRequestError,
    Message,
    ProviderUnavailableError,
    RateLimitError,
    ReasoningPart,
    StreamError,
    ToolCall,
    Usage,
)
from relaykit.messages import coerce_messages
from relaykit.testing import LoopbackServer, Request, Response
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit_anthropic import AnthropicProvider, wire
from relaykit_anthropic.prices import known_model
from relaykit_anthropic.testing import AnthropicMock, thinking_signature

from .conftest import client

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-sonnet-4-5"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def sent(mock: AnthropicMock) -> dict[str, Any]:
    body: dict[str, Any] = mock.last_request.json()
    return body


# -- request shape ------------------------------------------------------------


@pytest.mark.anyio
async def test_request_body_and_headers(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        await c.chat(
            "anthropic/claude-sonnet-4-20250514",  # Sonnet 4.5 takes temperature or top_p only
            [Message.system("Be terse."), Message.system("Answer in French."), Message.user("hi")],
            temperature=0.3,
            top_p=0.8,
            stop=["END", "STOP"],
            metadata={"trace": "abc"},
            extra={"top_k": 5},
        )
    request = mock.last_request
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert "anthropic-beta" not in request.headers
    assert request.json() == {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 4096,  # required by the API, defaulted
        "system": "Be terse.\n\nAnswer in French.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 0.3,
        "top_p": 0.8,
        "stop_sequences": ["END", "STOP"],
        "top_k": 5,  # extra, merged; metadata is not sent
    }


@pytest.mark.anyio
async def test_bearer_auth_version_and_beta_options(mock: AnthropicMock) -> None:
    async with client(
        mock,
        auth="bearer",
        anthropic_version="2024-01-01",
        anthropic_beta=["a-2025-01-01", "b-2025-02-02"],
    ) as c:
        await c.chat(MODEL, "hi")
    headers = mock.last_request.headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in headers
    assert headers["anthropic-version"] == "2024-01-01"
    assert headers["anthropic-beta"] == "a-2025-01-01,b-2025-02-02"
    async with client(mock, anthropic_beta="one-beta") as c:
        await c.chat(MODEL, "hi")
    assert mock.last_request.headers["anthropic-beta"] == "one-beta"


@pytest.mark.anyio
@pytest.mark.parametrize("beta", [True, 5, {"a-2025-01-01": 1}, ["ok-2025-01-01", 7]])
async def test_betas_that_are_no_names_are_a_config_error_before_sending(
    mock: AnthropicMock, beta: Any
) -> None:
    """anthropic_beta = true raised TypeError ('bool' object is not iterable); a table
    was sent as its keys, a number in a list as its digits."""
    async with client(mock, anthropic_beta=beta) as c:
        with pytest.raises(relaykit.ConfigError) as info:
            await c.chat(MODEL, "hi")
    assert "providers.anthropic.anthropic_beta must be a beta's name or a list of them" in str(
        info.value
    )
    assert mock.requests == []


@pytest.mark.anyio
async def test_environment_variables_configure_the_provider(
    mock: AnthropicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
    async with relaykit.Client({"storage": {"backend": "none"}}) as c:
        r = await c.chat(MODEL, "from the environment")
    assert r.text == "echo: from the environment"


@pytest.mark.anyio
async def test_a_base_url_with_v1_still_works(mock: AnthropicMock) -> None:
    async with client(mock, base_url=mock.base_url + "/v1") as c:
        await c.chat(MODEL, "hi")
    assert mock.last_request.path == "/v1/messages"


@pytest.mark.anyio
async def test_wrong_key_is_an_authentication_error(mock: AnthropicMock) -> None:
    async with client(mock, api_key="sk-ant-wrong-0000000000000000") as c:
        with pytest.raises(AuthenticationError) as info:
            await c.chat(MODEL, "hi")
    assert "invalid x-api-key" in str(info.value)
    assert "sk-ant-wrong" not in repr(info.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"auth": "basic"}, "auth"),
        ({"default_max_tokens": 0}, "default_max_tokens"),
        ({"structured_output": "magic"}, "structured_output"),
    ],
)
def test_invalid_options_are_config_errors(options: dict[str, Any], match: str) -> None:
    settings = relaykit.ProviderSettings(name="anthropic", base_url="http://x", options=options)
    with pytest.raises(ConfigError, match=match):
        AnthropicProvider(settings, None)  # type: ignore[arg-type]


def test_provider_repr_hides_the_key() -> None:
    settings = relaykit.ProviderSettings(
        name="anthropic", base_url="http://x", api_key=relaykit.Secret(KEY)
    )
    assert KEY not in repr(AnthropicProvider(settings, None))  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_max_tokens_given_default_configured_and_raised_for_thinking(
    mock: AnthropicMock,
) -> None:
    async with client(mock, default_max_tokens=1000) as c:
        await c.chat(MODEL, "a", max_tokens=64)
        assert sent(mock)["max_tokens"] == 64
        await c.chat(MODEL, "b")
        assert sent(mock)["max_tokens"] == 1000
        await c.chat(MODEL, "c", extra={"thinking": {"type": "enabled", "budget_tokens": 2048}})
        assert sent(mock)["max_tokens"] == 3048
        assert sent(mock)["thinking"] == {"type": "enabled", "budget_tokens": 2048}


@pytest.mark.anyio
async def test_images_as_base64_and_url(mock: AnthropicMock) -> None:
    message = Message.user(
        "two images",
        ImagePart(data=PNG, media_type="image/png"),
        ImagePart(url="https://example.com/cat.jpg"),
        ImagePart(url="data:image/gif;base64,R0lGODlh"),
    )
    async with client(mock) as c:
        await c.chat(MODEL, [message])
    blocks = sent(mock)["messages"][0]["content"]
    assert blocks[1:] == [
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": base64.b64encode(PNG).decode(),
            },
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGODlh"},
        },
    ]


@pytest.mark.anyio
async def test_tools_tool_choice_and_results(mock: AnthropicMock) -> None:
    history = [
        Message.user("Weather in Paris and Oslo?"),
        Message.assistant(
            [
                ReasoningPart("two cities, two calls", thinking_signature("two cities, two calls")),
                relaykit.TextPart("Checking."),
            ],
            tool_calls=[
                ToolCall("toolu_1", "get_weather", {"city": "Paris"}),
                ToolCall("toolu_2", "get_weather", {"city": "Oslo"}),
            ],
        ),
        Message.tool("toolu_1", '{"sky": "sunny"}'),
        Message.tool("toolu_2", "station offline", is_error=True),
        Message.user("And tomorrow?"),
    ]
    async with client(mock) as c:
        await c.chat(MODEL, history, tools=[WEATHER_TOOL], tool_choice="auto")
        body = sent(mock)
        assert body["tools"] == [
            {
                "name": "get_weather",
                "description": "Current weather in a city",
                "input_schema": WEATHER_TOOL["parameters"],
            }
        ]
        assert body["tool_choice"] == {"type": "auto"}
        assert body["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Oslo?"}]},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "two cities, two calls",
                        "signature": thinking_signature("two cities, two calls"),
                    },
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_2",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    },
                ],
            },
            # parallel results and the next question share one user turn, results first
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": '{"sky": "sunny"}',
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": "station offline",
                        "is_error": True,
                    },
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ]
        for choice, expected in [
            ("none", {"type": "none"}),
            ("required", {"type": "any"}),
            ("any", {"type": "any"}),
            ("get_weather", {"type": "tool", "name": "get_weather"}),
        ]:
            await c.chat(MODEL, "w", tools=[WEATHER_TOOL], tool_choice=choice)
            assert sent(mock)["tool_choice"] == expected


@pytest.mark.anyio
async def test_a_tool_that_failed_silently_is_answered(mock: AnthropicMock) -> None:
    # The mock refuses an error result with no content, as the API does.
    history = [
        Message.user("Clear the cache"),
        Message.assistant(tool_calls=[ToolCall("toolu_1", "clear", {})]),
        Message.tool("toolu_1", "", is_error=True),
    ]
    async with client(mock) as c:
        await c.chat(MODEL, history, tools=[WEATHER_TOOL])
    (result,) = sent(mock)["messages"][2]["content"]
    assert result == {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": "(no output)",
        "is_error": True,
    }


def test_unsigned_reasoning_and_empty_text_are_not_sent() -> None:
    msgs = coerce_messages(
        [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "reasoning", "text": "from another vendor"},
                    {"type": "text", "text": "a"},
                ],
            },
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "q2"},
        ]
    )
    assert wire.messages(msgs) == [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}]},
        {"role": "user", "content": [{"type": "text", "text": "q2"}]},
    ]


# -- structured output ------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.mark.anyio
async def test_json_schema_uses_output_config_natively(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        await c.chat(MODEL, "answer", response_format=SCHEMA)
    body = sent(mock)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert "tools" not in body
    assert "anthropic-beta" not in mock.last_request.headers


@pytest.mark.anyio
async def test_json_schema_emulated_with_a_forced_tool(mock: AnthropicMock) -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "answer_record", "schema": SCHEMA}}
    async with client(mock, structured_output="tool") as c:
        mock.script.reply("", tool_calls=(("answer_record", {"answer": 42}),))
        r = await c.chat(MODEL, "answer", response_format=rf, tools=[WEATHER_TOOL])
        body = sent(mock)
        assert "output_config" not in body
        assert [t["name"] for t in body["tools"]] == ["get_weather", "answer_record"]
        assert body["tools"][1]["input_schema"] == SCHEMA
        assert body["tool_choice"] == {"type": "tool", "name": "answer_record"}
        assert (r.text, r.tool_calls, r.finish_reason) == ('{"answer": 42}', (), "stop")

        mock.script.reply("", tool_calls=(("answer_record", {"answer": 42}),))
        async with c.stream(MODEL, "answer", response_format=rf) as s:
            async for _ in s:
                pass
        assert (s.response.text, s.response.tool_calls, s.response.finish_reason) == (
            '{"answer": 42}',
            (),
            "stop",
        )


@pytest.mark.anyio
async def test_json_object_is_always_emulated(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        mock.script.reply("", tool_calls=(("response", {"any": ["thing"]}),))
        r = await c.chat(MODEL, "json please", response_format={"type": "json_object"})
    body = sent(mock)
    assert body["tools"][0]["input_schema"] == {"type": "object"}
    assert body["tool_choice"] == {"type": "tool", "name": "response"}
    assert r.text == '{"any": ["thing"]}'


def test_emulating_a_non_object_schema_is_refused() -> None:
    request = ChatRequest(
        model="claude-3-5-haiku",
        messages=(Message.user("list"),),
        response_format=relaykit.ResponseFormat("json_schema", {"type": "array"}),
    )
    with pytest.raises(InvalidRequestError, match="object"):
        wire.request_body(request, stream=False, structured_output="tool")


def test_a_part_this_plugin_does_not_know_is_a_typed_refusal() -> None:
    # The client refuses non-parts before any plugin sees them; a Provider called
    # directly, or a part type from a newer relaykit, still meets this plugin's own check.
    odd = Message("user", (relaykit.TextPart("look:"), {"type": "text"}))  # type: ignore[arg-type]
    request = ChatRequest(model="claude-3-5-haiku", messages=(odd,))
    with pytest.raises(InvalidRequestError) as caught:
        wire.request_body(request, stream=False)
    e = caught.value
    assert "dict" in e.message and "Anthropic" in e.message and e.status is None
    assert e.param == "messages.content" and e.hint is not None and "relaykit-anthropic" in e.hint


# -- responses --------------------------------------------------------------------


def test_usage_normalisation() -> None:
    raw = {
        "input_tokens": 6,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
        "output_tokens": 50,
    }
    assert wire.usage(raw) == Usage(126, 50, 100, cache_write_input_tokens=20)
    assert wire.usage(
        {"input_tokens": 3, "output_tokens": 1, "cache_read_input_tokens": None}
    ) == Usage(3, 1)
    assert wire.usage(None) == Usage()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "other"),
        ("something_new", "other"),
        (None, "other"),
    ],
)
def test_finish_reasons(raw: str | None, expected: str) -> None:
    assert wire.finish_reason(raw) == expected


@pytest.mark.anyio
async def test_refusal_is_content_filter_streamed_or_not(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        mock.script.reply("I can't help with that.", finish="content_filter")
        r = await c.chat(MODEL, "bad")
        mock.script.reply("I can't help with that.", finish="content_filter")
        async with c.stream(MODEL, "bad") as s:
            async for _ in s:
                pass
    assert r.finish_reason == s.response.finish_reason == "content_filter"


@pytest.mark.anyio
async def test_thinking_comes_back_as_reasoning_with_signature(mock: AnthropicMock) -> None:
    async with client(mock) as c:
        mock.script.reply("4", reasoning="2 plus 2")
        r = await c.chat(MODEL, "2+2?")
        mock.script.reply("4", reasoning="2 plus 2")
        async with c.stream(MODEL, "2+2?") as s:
            async for _ in s:
                pass
        signature = thinking_signature("2 plus 2")
        assert (r.text, r.reasoning, r.reasoning_signature) == ("4", "2 plus 2", signature)
        assert (s.response.reasoning, s.response.reasoning_signature) == ("2 plus 2", signature)
        # ... and goes back, signed, on the next turn
        await c.chat(MODEL, [Message.user("2+2?"), r.to_message(), Message.user("and 3+3?")])
    assert sent(mock)["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "2 plus 2",
        "signature": thinking_signature("2 plus 2"),
    }


@pytest.mark.anyio
async def test_cached_tokens_and_cost(mock: AnthropicMock) -> None:
    mock.script.reply(
        "cheap", input_tokens=1_000_000, output_tokens=1_000_000, cached_input_tokens=500_000
    )
    async with client(mock) as c:
        r = await c.chat(MODEL, "count")
    assert r.usage == Usage(1_000_000, 1_000_000, 500_000)
    # Sonnet 4.5: $3 in, $15 out, $0.30 cache reads, per million
    assert r.cost == Decimal("1.5") + Decimal("0.15") + Decimal("15")


def test_price_table_lookup() -> None:
    assert known_model("claude-sonnet-4-5-20250929") == known_model("claude-sonnet-4-5")
    assert known_model("claude-opus-4-0") == known_model("claude-opus-4-20250514")
    assert known_model("claude-3-5-haiku-latest") is not None
    opus41 = known_model("claude-opus-4-1")
    assert opus41 is not None
    assert opus41.price.input == Decimal("15")
    # claude-opus-4-6 is not a snapshot of claude-opus-4: it has a row of its own
    opus46 = known_model("claude-opus-4-6")
    assert opus46 is not None
    assert opus46.price.input == Decimal("5")
    assert known_model("claude-opus-4-9") is None  # nor is an unknown minor version
    assert known_model("gpt-4o") is None


# -- errors -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_overloaded_529(mock: AnthropicMock) -> None:
    mock.script.fail(529, "Overloaded")
    async with client(mock) as c:
        with pytest.raises(ProviderUnavailableError) as info:
            await c.chat(MODEL, "busy?")
    assert info.value.retryable
    assert info.value.status == 529


@pytest.mark.anyio
async def test_rate_limit_retry_after_header(mock: AnthropicMock) -> None:
    mock.script.fail(
        429, "Number of request tokens has exceeded your per-minute rate limit", retry_after=12
    )
    async with client(mock) as c:
        with pytest.raises(RateLimitError) as info:
            await c.chat(MODEL, "fast")
    assert info.value.retry_after == 12


@pytest.mark.parametrize(
    "message",
    [
        "prompt is too long: 215000 tokens > 200000 maximum",
        # The other form: the prompt fits, but not with max_tokens on top.
        "input length and `max_tokens` exceed context limit: 178902 + 32000 > 200000, "
        "decrease input length or `max_tokens` and try again",
    ],
)
@pytest.mark.anyio
async def test_prompt_too_long_is_a_context_length_error(mock: AnthropicMock, message: str) -> None:
    mock.script.fail(400, message)
    async with client(mock) as c:
        with pytest.raises(ContextLengthError):
            await c.chat(MODEL, "long")


@pytest.mark.anyio
async def test_request_too_large_413(mock: AnthropicMock) -> None:
    mock.script.fail(413, "Request exceeds the maximum allowed number of bytes.")
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as info:
            await c.chat(MODEL, "huge")
    assert info.value.status == 413


@pytest.mark.anyio
async def test_overloaded_error_event_mid_stream(mock: AnthropicMock) -> None:
    mock.script.reply("partial", stream_fault="error", error="Overloaded")
    async with client(mock) as c:

        async def consume() -> None:
            async with c.stream(MODEL, "go") as s:
                async for _ in s:
                    pass

        with pytest.raises(StreamError) as info:
            await consume()
    err = info.value
    assert err.provider_message == "Overloaded"
    assert err.retryable
    assert err.partial is not None
    assert err.partial.text == "partial"


# -- count_tokens and models ------------------------------------------------------------


@pytest.mark.anyio
async def test_count_tokens(mock: AnthropicMock) -> None:
    request = ChatRequest(
        model="claude-haiku-4-5",
        messages=(Message.system("one two"), Message.user("three four five")),
        max_tokens=100,
        temperature=0.5,
        tools=(relaykit.Tool.coerce(WEATHER_TOOL),),
    )
    async with client(mock) as c:
        provider = c.provider("anthropic")
        assert isinstance(provider, AnthropicProvider)
        assert await provider.count_tokens(request) == 5
    r = mock.last_request
    assert (r.method, r.path, r.headers["x-api-key"]) == ("POST", "/v1/messages/count_tokens", KEY)
    assert set(r.json()) == {"model", "messages", "system", "tools"}


@pytest.mark.anyio
async def test_count_tokens_errors_are_typed(mock: AnthropicMock) -> None:
    request = ChatRequest(
        model="claude-haiku-4-5", messages=(Message.user("x"),), extra={"stream": True}
    )
    async with client(mock) as c:
        provider = c.provider("anthropic")
        assert isinstance(provider, AnthropicProvider)
        # extra fields the endpoint rejects are filtered; a bad key is not
        assert await provider.count_tokens(request) == 1
    async with client(mock, api_key="sk-ant-nope-000000000000000000") as c:
        provider = c.provider("anthropic")
        assert isinstance(provider, AnthropicProvider)
        with pytest.raises(AuthenticationError):
            await provider.count_tokens(request)


@pytest.mark.anyio
async def test_count_tokens_connection_failure_is_typed() -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = {
        "storage": {"backend": "none"},
        "providers": {"anthropic": {"base_url": url, "api_key": KEY}},
    }
    async with relaykit.Client(config) as c:
        provider = c.provider("anthropic")
        assert isinstance(provider, AnthropicProvider)
        with pytest.raises(ProviderUnavailableError):
            await provider.count_tokens(
                ChatRequest(model="claude-haiku-4-5", messages=(Message.user("x"),))
            )


@pytest.mark.anyio
async def test_model_listing_follows_pages() -> None:
    with AnthropicMock(api_key=KEY, page_size=3) as mock:
        async with client(mock) as c:
            models = await c.models("anthropic")
        pages = [r for r in mock.requests if r.method == "GET"]
    assert [m.id for m in models] == [row[0] for row in mock.models]
    assert len(pages) == 3
    assert pages[0].query == {"limit": "1000"}
    assert pages[1].query == {"limit": "1000", "after_id": mock.models[2][0]}
    sonnet = next(m for m in models if m.id == "claude-sonnet-4-5-20250929")
    assert (sonnet.context_window, sonnet.max_output_tokens) == (200_000, 64_000)
    assert sonnet.price is not None
    assert sonnet.price.cached_input == Decimal("0.30")
    assert sonnet.created == 1_759_104_000  # 2025-09-29T00:00:00Z


@pytest.mark.anyio
async def test_a_model_listing_whose_page_points_back_ends() -> None:
    # The third page names the first page's last id as its own: following it would
    # read the second and third pages for ever (the listing has no limit).
    async def back_to_the_first(request: Request, response: Response) -> Response:
        if request.query.get("after_id") != mock.models[5][0]:
            return response
        assert isinstance(response.body, bytes)
        page = {**json.loads(response.body), "has_more": True, "last_id": mock.models[2][0]}
        return Response.json(page)

    with AnthropicMock(api_key=KEY, page_size=3) as mock:
        mock.rewrite = back_to_the_first
        async with client(mock) as c:
            with anyio.fail_after(10):
                models = await c.models("anthropic")
        pages = [r for r in mock.requests if r.method == "GET"]
    assert len(pages) == 3
    assert [m.id for m in models] == [row[0] for row in mock.models[:9]]


def test_the_mock_checks_key_and_version_headers(mock: AnthropicMock) -> None:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "x"}],
    }
    url = f"{mock.base_url}/v1/messages"
    no_key = httpx.post(url, json=body, headers={"anthropic-version": "2023-06-01"})
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    no_version = httpx.post(url, json=body, headers={"x-api-key": KEY})
    assert no_version.status_code == 400
    assert no_version.json()["error"]["message"] == "anthropic-version: header is required"
    ok = httpx.post(url, json=body, headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"})
    assert ok.json()["content"] == [{"type": "text", "text": "echo: x"}]
    no_max = httpx.post(
        url,
        json={**body, "max_tokens": None},
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    assert no_max.status_code == 400


def _stream_of(*blocks: tuple[dict[str, Any], list[str]]) -> bytes:
    """A whole Messages API stream, in Anthropic's framing: each block's start, then
    its ``input_json_delta`` fragments, then its stop; a tool_use finish."""
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 5, "output_tokens": 1},
                },
            },
        )
    ]
    for index, (start, fragments) in enumerate(blocks):
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        events += [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": fragment},
                },
            )
            for fragment in fragments
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 9},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)


@pytest.mark.anyio
async def test_a_tool_use_whose_start_holds_its_input_keeps_it() -> None:
    # The SDK's accumulator keeps content_block_start's input and replaces it with
    # the input_json_delta text only once a non-empty fragment has come.
    def use(i: int, given: dict[str, Any]) -> dict[str, Any]:
        return {"type": "tool_use", "id": f"toolu_{i}", "name": "get_weather", "input": given}

    body = _stream_of(
        (use(0, {"city": "Paris"}), []),  # the input whole in the start, no deltas
        (use(1, {"city": "Rome"}), [""]),  # an empty fragment builds nothing
        (use(2, {}), ["", '{"city": ', '"Oslo"}']),  # the usual: deltas build it
        (use(3, {"city": "stale"}), ['{"city": "Lima"}']),  # deltas replace the start's
        (use(4, {}), []),  # no input at all
    )

    async def handler(request: Request) -> Response:
        return Response(200, {"content-type": "text/event-stream"}, [body])

    config = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}
    with LoopbackServer(handler) as server:
        config["providers"] = {"anthropic": {"base_url": server.url, "api_key": KEY}}
        async with (
            relaykit.Client(config) as c,
            c.stream(MODEL, "weather?", tools=[WEATHER_TOOL]) as s,
        ):
            async for _ in s:
                pass
    assert [(t.id, t.arguments) for t in s.response.tool_calls] == [
        ("toolu_0", {"city": "Paris"}),
        ("toolu_1", {"city": "Rome"}),
        ("toolu_2", {"city": "Oslo"}),
        ("toolu_3", {"city": "Lima"}),
        ("toolu_4", {}),
    ]
    assert s.response.finish_reason == "tool_calls"
