"""``GeminiProvider.count_tokens``: ``models/{model}:countTokens`` against the mock."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    ChatRequest,
    ImagePart,
    InvalidRequestError,
    Message,
    NotFoundError,
    ProviderUnavailableError,
    TokenCount,
    ToolCall,
)
from relaykit.testing.provider_contract import PNG, WEATHER_TOOL
from relaykit_gemini import GeminiProvider
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
WRONG_KEY = "AIzaSyB-wrong-key-0123456789abcdefghijk"


@asynccontextmanager
async def gemini(base_url: str, api_key: str = KEY) -> AsyncIterator[GeminiProvider]:
    config = {
        "storage": {"backend": "none"},
        "providers": {"gemini": {"base_url": base_url, "api_key": api_key}},
    }
    async with relaykit.Client(config, env={}) as c:
        provider = c.provider("gemini")
        assert isinstance(provider, GeminiProvider)
        yield provider


def request(model: str = "gemini-2.5-flash", **params: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message.user("one two three"),), **params)


@pytest.mark.anyio
async def test_count_tokens_sends_the_whole_generate_content_request(mock: GeminiMock) -> None:
    conversation = ChatRequest(
        model="gemini-2.5-flash",
        messages=(
            Message.system("Answer in one word."),
            Message.user("Weather in Paris?"),
            Message.assistant(
                "Checking.", tool_calls=[ToolCall("c1", "get_weather", {"city": "Paris"})]
            ),
            Message.tool("c1", '{"sky": "sunny"}'),
            Message.assistant("Sunny."),
            Message.user("And in Oslo tomorrow?"),
        ),
        tools=(relaykit.Tool.coerce(WEATHER_TOOL),),
        max_tokens=20,
        temperature=0.5,
    )
    async with gemini(mock.base_url) as provider:
        # One token per word of the system instruction (4) and the text parts (3+1+1+4).
        assert await provider.count_tokens(conversation) == 13
    r = mock.last_request
    assert (r.method, r.path, r.query) == (
        "POST",
        "/v1beta/models/gemini-2.5-flash:countTokens",
        {},
    )
    assert r.headers["x-goog-api-key"] == KEY
    assert r.json() == {
        "generateContentRequest": {
            "model": "models/gemini-2.5-flash",
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
                {
                    "role": "model",
                    "parts": [
                        {"text": "Checking."},
                        {
                            "functionCall": {
                                "name": "get_weather",
                                "args": {"city": "Paris"},
                                "id": "c1",
                            }
                        },
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {
                            "functionResponse": {
                                "name": "get_weather",
                                "response": {"sky": "sunny"},
                                "id": "c1",
                            }
                        }
                    ],
                },
                {"role": "model", "parts": [{"text": "Sunny."}]},
                {"role": "user", "parts": [{"text": "And in Oslo tomorrow?"}]},
            ],
            "systemInstruction": {"parts": [{"text": "Answer in one word."}]},
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "get_weather",
                            "description": "Current weather in a city",
                            "parametersJsonSchema": WEATHER_TOOL["parameters"],
                        }
                    ]
                }
            ],
            "generationConfig": {"maxOutputTokens": 20, "temperature": 0.5},
        }
    }


@pytest.mark.anyio
async def test_client_count_tokens_is_gemini_s_exact_count(mock: GeminiMock) -> None:
    config = {
        "storage": {"backend": "none"},
        "providers": {"gemini": {"base_url": mock.base_url, "api_key": KEY}},
    }
    prompt = [Message.system("Be brief."), Message.user("one two three")]
    async with relaykit.Client(config, env={}) as c:
        count = await c.count_tokens("gemini/gemini-2.5-flash", prompt, tools=[WEATHER_TOOL])
        sent = mock.last_request.json()["generateContentRequest"]
        answer = await c.chat("gemini/gemini-2.5-flash", prompt, tools=[WEATHER_TOOL])
    assert count == TokenCount(5, exact=True)
    # what the call is then billed for: the system instruction counts in both
    assert answer.usage.input_tokens == count.input_tokens
    assert set(sent) == {"model", "contents", "systemInstruction", "tools"}
    assert mock.requests[-2].path == "/v1beta/models/gemini-2.5-flash:countTokens"


@pytest.mark.anyio
async def test_a_count_google_leaves_out_is_zero(mock: GeminiMock) -> None:
    # Google's JSON omits a field at its default, so an all-image prompt answers {}.
    image_only = ChatRequest(
        model="gemini-2.5-flash",
        messages=(Message.user([ImagePart(data=PNG, media_type="image/png")]),),
    )
    async with gemini(mock.base_url) as provider:
        assert await provider.count_tokens(image_only) == 0


def test_the_mock_checks_the_count_tokens_body() -> None:
    from relaykit_gemini.testing import validate_count_tokens

    contents = [{"role": "user", "parts": [{"text": "hi"}]}]
    whole = {"model": "models/gemini-2.5-flash", "contents": contents}
    check = validate_count_tokens
    assert check({"contents": contents}, "gemini-2.5-flash") is None
    assert check({"generateContentRequest": whole}, "gemini-2.5-flash") is None
    assert "mutually exclusive" in str(
        check({"contents": contents, "generateContentRequest": whole}, "gemini-2.5-flash")
    )
    assert "unexpected model name format" in str(
        check(
            {"generateContentRequest": {**whole, "model": "gemini-2.5-flash"}}, "gemini-2.5-flash"
        )
    )
    assert "not the model" in str(check({"generateContentRequest": whole}, "gemini-2.5-pro"))
    assert 'Unknown name "prompt"' in str(check({"prompt": "hi"}, "gemini-2.5-flash"))
    assert "contents is not specified" in str(check({}, "gemini-2.5-flash"))


@pytest.mark.anyio
async def test_count_tokens_errors_are_typed_and_keep_the_key_out(mock: GeminiMock) -> None:
    async with gemini(mock.base_url) as provider:
        # A field Gemini does not know, passed through extra: Google's 400.
        with pytest.raises(InvalidRequestError, match='Unknown name "bogus"') as bad:
            await provider.count_tokens(request(extra={"bogus": 1}))
        assert bad.value.status == 400
        with pytest.raises(NotFoundError, match="not supported for countTokens"):
            await provider.count_tokens(request("text-embedding-004"))
    async with gemini(mock.base_url, api_key=WRONG_KEY) as provider:
        # Google says 400 API_KEY_INVALID; relaykit says what it means.
        with pytest.raises(AuthenticationError) as denied:
            await provider.count_tokens(request())
    err = denied.value
    assert err.status == 400
    assert "wrong-key" not in f"{err} {err!r} {err.provider_message} {err.hint}"


@pytest.mark.anyio
async def test_count_tokens_connection_failure_is_typed() -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with gemini(url) as provider:
        with pytest.raises(ProviderUnavailableError) as info:
            await provider.count_tokens(request())
    assert "test-key" not in f"{info.value} {info.value!r}"
