"""Gemini specifics the provider contract cannot see: the bytes on the wire."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relaykit
from relaykit import (
    AuthenticationError,
    ConfigError,
    ContextLengthError,
    ImagePart,
    InvalidRequestError,
    Message,
    NotFoundError,
    RateLimitError,
    ReasoningPart,
    StreamError,
    TextPart,
    ToolCall,
    Usage,
)
from relaykit.events import (
    Finish,
    ReasoningDelta,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relaykit.testing import ScriptedServer, one_try_config
from relaykit.testing.loopback import Request, Response
from relaykit.testing.provider_contract import PNG, WEATHER_TOOL
from relaykit_gemini import wire
from relaykit_gemini.stream_decoder import GeminiStreamDecoder
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"


def config(mock: GeminiMock, **provider: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {"gemini": {"base_url": mock.base_url, "api_key": KEY, **provider}},
    }


@asynccontextmanager
async def client(mock: GeminiMock, **provider: Any) -> AsyncIterator[relaykit.Client]:
    async with relaykit.Client(config(mock, **provider), env={}) as c:
        yield c


# -- the request -----------------------------------------------------------------


@pytest.mark.anyio
async def test_request_body_headers_and_url(mock: GeminiMock) -> None:
    messages = [
        Message.system("Be brief."),
        Message.user("first"),
        Message.assistant("answer"),
        Message.user("second"),
    ]
    async with client(mock) as c:
        await c.chat(
            "gemini/gemini-2.5-flash",
            messages,
            max_tokens=64,
            temperature=0.3,
            top_p=0.8,
            stop=["END"],
            seed=11,
        )
    req = mock.last_request
    assert req.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert req.headers["x-goog-api-key"] == KEY
    assert "authorization" not in req.headers
    assert "key" not in req.query
    assert req.json() == {
        "contents": [
            {"role": "user", "parts": [{"text": "first"}]},
            {"role": "model", "parts": [{"text": "answer"}]},
            {"role": "user", "parts": [{"text": "second"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "maxOutputTokens": 64,
            "temperature": 0.3,
            "topP": 0.8,
            "stopSequences": ["END"],
            "seed": 11,
        },
    }


@pytest.mark.anyio
async def test_stream_uses_sse_endpoint(mock: GeminiMock) -> None:
    async with client(mock) as c, c.stream("gemini/gemini-2.5-flash", "hi") as s:
        async for _ in s:
            pass
    assert mock.last_request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert mock.last_request.query == {"alt": "sse"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("get_weather", {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
async def test_tools_and_tool_choice(
    mock: GeminiMock, choice: str, expected: dict[str, Any]
) -> None:
    async with client(mock) as c:
        await c.chat(
            "gemini/gemini-2.5-flash", "weather?", tools=[WEATHER_TOOL], tool_choice=choice
        )
    body = mock.last_request.json()
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather in a city",
                    "parametersJsonSchema": WEATHER_TOOL["parameters"],
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": expected}


@pytest.mark.anyio
async def test_json_schema_and_json_object_output(mock: GeminiMock) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "additionalProperties": False,
    }
    async with client(mock) as c:
        await c.chat("gemini/gemini-2.5-flash", "json", response_format=schema)
        with_schema = mock.last_request.json()["generationConfig"]
        await c.chat("gemini/gemini-2.5-flash", "json", response_format={"type": "json_object"})
        any_json = mock.last_request.json()["generationConfig"]
    assert with_schema == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    assert any_json == {"responseMimeType": "application/json"}


@pytest.mark.anyio
async def test_images_inline_by_data_url_and_by_uri(mock: GeminiMock) -> None:
    message = Message.user(
        "look",
        ImagePart(data=PNG, media_type="image/png"),
        ImagePart(url="data:image/jpeg;base64,AAAA"),
        ImagePart(url="https://example.com/cat.webp"),
    )
    async with client(mock) as c:
        await c.chat("gemini/gemini-2.5-flash", [message])
    parts = mock.last_request.json()["contents"][0]["parts"]
    assert parts[1]["inlineData"]["mimeType"] == "image/png"
    assert parts[2] == {"inlineData": {"mimeType": "image/jpeg", "data": "AAAA"}}
    assert parts[3] == {
        "fileData": {"fileUri": "https://example.com/cat.webp", "mimeType": "image/webp"}
    }


@pytest.mark.anyio
async def test_extra_merges_into_nested_objects(mock: GeminiMock) -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    async with client(mock) as c:
        await c.chat(
            "gemini/gemini-2.5-flash",
            "x",
            max_tokens=5,
            extra={"generationConfig": {"topK": 3}, "safetySettings": safety},
        )
    body = mock.last_request.json()
    assert body["generationConfig"] == {"maxOutputTokens": 5, "topK": 3}
    assert body["safetySettings"] == safety


@pytest.mark.anyio
async def test_extra_tools_add_to_the_search_asked_for(mock: GeminiMock) -> None:
    # Gemini takes a list of tools, one kind each; Google's URL context docs pair
    # {"urlContext": {}} with {"googleSearch": {}}. Given in extra, it used to replace
    # the search web_search= asked for, which went unsaid.
    async with client(mock) as c:
        await c.chat(
            "gemini/gemini-2.5-flash", "x", web_search=True, extra={"tools": [{"urlContext": {}}]}
        )
    tools = mock.last_request.json()["tools"]
    assert [next(iter(t)) for t in tools] == ["googleSearch", "urlContext"]


@pytest.mark.anyio
async def test_extra_tools_add_to_the_functions_given(mock: GeminiMock) -> None:
    async with client(mock) as c:
        await c.chat(
            "gemini/gemini-3-flash-preview",
            "x",
            tools=[WEATHER_TOOL],
            extra={"tools": [{"codeExecution": {}}]},
        )
    tools = mock.last_request.json()["tools"]
    assert [next(iter(t)) for t in tools] == ["functionDeclarations", "codeExecution"]
    assert tools[0]["functionDeclarations"][0]["name"] == "get_weather"


@pytest.mark.anyio
async def test_thinking_options(mock: GeminiMock) -> None:
    async with client(mock, include_thoughts=True, thinking_budget=512) as c:
        await c.chat("gemini/gemini-2.5-flash", "think")
    assert mock.last_request.json()["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 512}
    }


@pytest.mark.anyio
async def test_bad_option_is_a_config_error(mock: GeminiMock) -> None:
    async with client(mock, thinking_budget="lots") as c:
        with pytest.raises(ConfigError, match="thinking_budget"):
            await c.chat("gemini/gemini-2.5-flash", "x")


@pytest.mark.anyio
async def test_key_and_base_url_from_the_environment(mock: GeminiMock) -> None:
    env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": mock.base_url}
    async with relaykit.Client({"storage": {"backend": "none"}}, env=env) as c:
        r = await c.chat("gemini/gemini-2.5-flash", "env")
        assert r.text == "echo: env"
        assert KEY not in repr(c.provider("gemini"))


# -- tool calls and their results ------------------------------------------------


@pytest.mark.anyio
async def test_tool_results_are_named_from_the_call_and_synthetic_ids_stay_home(
    mock: GeminiMock,
) -> None:
    mock.script.reply(
        "", tool_calls=(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"}))
    )
    async with client(mock) as c:
        r = await c.chat("gemini/gemini-2.5-flash", "two cities", tools=[WEATHER_TOOL])
        assert [call.id for call in r.tool_calls] == ["gemini-call-0", "gemini-call-1"]
        follow_up = [
            Message.user("two cities"),
            r.to_message(),
            Message.tool("gemini-call-0", '{"sky": "sunny"}'),
            Message.tool("gemini-call-1", "rain", is_error=True),
        ]
        await c.chat("gemini/gemini-2.5-flash", follow_up, tools=[WEATHER_TOOL])
    contents = mock.last_request.json()["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
        ],
    }
    # Both results in one turn, each named after its call, no made-up ids.
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"sky": "sunny"}}},
            {"functionResponse": {"name": "get_weather", "response": {"error": "rain"}}},
        ],
    }


@pytest.mark.anyio
async def test_gemini_call_ids_round_trip() -> None:
    with GeminiMock(api_key=KEY, call_ids=True) as mock:
        mock.script.reply("", tool_calls=(("get_weather", {"city": "Rome"}),))
        async with client(mock) as c:
            r = await c.chat("gemini/gemini-2.5-flash", "Rome", tools=[WEATHER_TOOL])
            call = r.tool_calls[0]
            assert call.id == "fc-1-0"
            await c.chat(
                "gemini/gemini-2.5-flash",
                [Message.user("Rome"), r.to_message(), Message.tool(call.id, "warm")],
            )
        contents = mock.last_request.json()["contents"]
    assert contents[1]["parts"][0]["functionCall"]["id"] == "fc-1-0"
    assert contents[2]["parts"][0]["functionResponse"] == {
        "name": "get_weather",
        "response": {"output": "warm"},
        "id": "fc-1-0",
    }


@pytest.mark.anyio
async def test_tool_result_without_its_call_is_a_clear_error(mock: GeminiMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="answers no earlier tool call"):
            await c.chat(
                "gemini/gemini-2.5-flash", [Message.user("x"), Message.tool("call_zzz", "42")]
            )
    assert not mock.requests


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_thought_signature_round_trips_on_the_call(mock: GeminiMock, streamed: bool) -> None:
    mock.script.reply(
        "", reasoning="need the weather", tool_calls=(("get_weather", {"city": "Lima"}),)
    )
    async with client(mock) as c:
        if streamed:
            async with c.stream("gemini/gemini-2.5-flash", "Lima", tools=[WEATHER_TOOL]) as s:
                async for _ in s:
                    pass
            r = s.response
        else:
            r = await c.chat("gemini/gemini-2.5-flash", "Lima", tools=[WEATHER_TOOL])
        assert r.reasoning == "need the weather"
        assert r.reasoning_signature
        assert r.finish_reason == "tool_calls"
        follow_up = [Message.user("Lima"), r.to_message(), Message.tool(r.tool_calls[0].id, "hot")]
        await c.chat("gemini/gemini-2.5-flash", follow_up, tools=[WEATHER_TOOL])
    model_turn = mock.last_request.json()["contents"][1]
    # Thought text stays home; the signature goes back on the call it came with.
    assert model_turn["parts"] == [
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Lima"}},
            "thoughtSignature": r.reasoning_signature,
        }
    ]


def test_signature_without_calls_goes_on_the_last_text_part() -> None:
    message = Message("assistant", (ReasoningPart("hmm", "c2ln"), TextPart("a"), TextPart("b")))
    assert wire.contents([message]) == [
        {"role": "model", "parts": [{"text": "a"}, {"text": "b", "thoughtSignature": "c2ln"}]}
    ]


# -- the response ----------------------------------------------------------------


def test_usage_counts_thoughts_as_output_and_cached_within_input() -> None:
    meta = {
        "promptTokenCount": 100,
        "cachedContentTokenCount": 60,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "toolUsePromptTokenCount": 5,
        "totalTokenCount": 155,
    }
    assert wire.usage(meta) == Usage(105, 50, 60, 30)
    assert wire.usage({"promptTokenCount": 3}) == Usage(3, 0, 0, 0)
    assert wire.usage(None) == Usage()


@pytest.mark.parametrize(
    ("raw", "calls", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", False, "length"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("IMAGE_SAFETY", False, "content_filter"),
        ("IMAGE_PROHIBITED_CONTENT", False, "content_filter"),
        ("IMAGE_RECITATION", False, "content_filter"),
        ("UNEXPECTED_TOOL_CALL", False, "other"),
        ("MALFORMED_FUNCTION_CALL", False, "other"),
        ("LANGUAGE", False, "other"),
        ("OTHER", False, "other"),
    ],
)
def test_finish_reasons(raw: str, calls: bool, expected: str) -> None:
    parts: list[dict[str, Any]] = [{"text": "x"}]
    if calls:
        parts.append({"functionCall": {"name": "f", "args": {}}})
    data = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": raw}]}
    assert wire.response(data).finish_reason == expected
    decoder = GeminiStreamDecoder(provider="gemini", model="m")
    events = decoder.feed(b"data: " + json.dumps(data).encode() + b"\r\n\r\n") + decoder.close()
    assert [e for e in events if isinstance(e, Finish)] == [Finish(expected, raw)]


def test_blocked_prompt_is_a_content_filter_finish() -> None:
    data = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 8},
    }
    r = wire.response(data)
    assert (r.text, r.finish_reason, r.usage.input_tokens) == ("", "content_filter", 8)
    decoder = GeminiStreamDecoder(provider="gemini", model="m")
    events = decoder.feed(b"data: " + json.dumps(data).encode() + b"\r\n\r\n") + decoder.close()
    assert events[-1] == Finish("content_filter", "PROHIBITED_CONTENT")


@pytest.mark.anyio
async def test_cost_from_the_price_table(mock: GeminiMock) -> None:
    mock.script.reply(
        "priced", input_tokens=1_000_000, output_tokens=1_000_000, cached_input_tokens=400_000
    )
    async with client(mock) as c:
        r = await c.chat("gemini/gemini-2.5-flash", "price")
    # 600k fresh input at 0.30, 400k cached at 0.03, 1M output at 2.50
    assert r.cost == Decimal("0.18") + Decimal("0.012") + Decimal("2.50")


# -- streaming -------------------------------------------------------------------


@pytest.mark.anyio
async def test_mock_frames_events_with_crlf_as_google_does(mock: GeminiMock) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{mock.base_url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json={"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]},
            headers={"x-goog-api-key": KEY},
        )
    assert r.headers["content-type"] == "text/event-stream"
    frames = r.content.split(b"\r\n\r\n")
    assert frames[-1] == b""
    assert all(f.startswith(b"data: {") for f in frames[:-1])
    assert json.loads(frames[-2][len(b"data: ") :])["candidates"][0]["finishReason"] == "STOP"


STREAM = b"".join(
    b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\r\n\r\n"
    for chunk in [
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "pondering", "thought": True}]}}
            ],
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
        },
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "São Paulo é "}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "ensolarada ☀"}]}}]},
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {
                                "functionCall": {
                                    "name": "get_weather",
                                    "args": {"city": "São Paulo"},
                                },
                                "thoughtSignature": "c2lnbmF0dXJl",
                            },
                            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                        ],
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 9,
                "candidatesTokenCount": 12,
                "thoughtsTokenCount": 4,
                "totalTokenCount": 25,
            },
        },
    ]
)
EXPECTED = [
    StreamStart("r1", "gemini-2.5-flash"),
    ReasoningDelta("pondering", origin="gemini"),
    UsageUpdate(Usage(9, 0)),
    TextDelta("São Paulo é "),
    TextDelta("ensolarada ☀"),
    ReasoningDelta(signature="c2lnbmF0dXJl", origin="gemini"),
    ToolCallDelta(0, "gemini-call-0", "get_weather", '{"city": "S\\u00e3o Paulo"}'),
    ToolCallDelta(1, "gemini-call-1", "get_weather", '{"city": "Oslo"}'),
    UsageUpdate(Usage(9, 16, 0, 4)),
    Finish("tool_calls", "STOP"),
]


def decode(pieces: list[bytes]) -> list[Any]:
    decoder = GeminiStreamDecoder(provider="gemini", model="gemini-2.5-flash")
    events: list[Any] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    return events + decoder.close()


def test_stream_decoder_events() -> None:
    assert decode([STREAM]) == EXPECTED


def test_stream_decoder_is_indifferent_to_every_single_split() -> None:
    for i in range(len(STREAM) + 1):
        assert decode([STREAM[:i], STREAM[i:]]) == EXPECTED, f"split at byte {i}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_stream_decoder_is_indifferent_to_any_chunking(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    assert decode([STREAM[a:b] for a, b in itertools.pairwise(bounds)]) == EXPECTED


def test_stream_cut_before_the_finish_reason_is_a_stream_error() -> None:
    cut = STREAM[: STREAM.rindex(b"data: ")]
    with pytest.raises(StreamError, match="before Gemini sent a finish reason"):
        decode([cut])


def test_error_chunk_is_a_stream_error_with_googles_status() -> None:
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    body = b"data: " + json.dumps(error).encode() + b"\r\n\r\n"
    with pytest.raises(StreamError, match="overloaded") as info:
        decode([STREAM[: STREAM.index(b"data: ", 10)], body])
    assert info.value.status == 503


@pytest.mark.parametrize("end", ["next chunk", "end of body"])
def test_events_before_an_error_in_the_same_chunk_come_out_first(end: str) -> None:
    # One read can carry several events (aiohttp returns whatever is buffered).
    text = {"candidates": [{"content": {"role": "model", "parts": [{"text": "partial"}]}}]}
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    decoder = GeminiStreamDecoder(provider="gemini", model="m")
    body = b"".join(b"data: " + json.dumps(d).encode() + b"\r\n\r\n" for d in (text, error))
    events = decoder.feed(body)
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("partial")]
    with pytest.raises(StreamError, match="overloaded") as info:
        decoder.feed(b"") if end == "next chunk" else decoder.close()
    assert info.value.status == 503


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        ("UNAVAILABLE", 503, True),
        ("RESOURCE_EXHAUSTED", 429, True),
        ("INTERNAL", 500, True),
        ("INVALID_ARGUMENT", 400, False),
    ],
)
@pytest.mark.anyio
async def test_an_error_after_content_says_whether_retrying_could_help(
    mock: GeminiMock, status: str, code: int, retryable: bool
) -> None:
    # After content the core never retries a stream itself, but the caller may.
    mock.script.reply("partial answer", stream_fault="error", error_code=status, error="Oops")
    async with client(mock) as c:

        async def consume() -> None:
            async with c.stream("gemini/gemini-2.5-flash", "go") as s:
                async for _ in s:
                    pass

        with pytest.raises(StreamError) as info:
            await consume()
    err = info.value
    assert (err.status, err.provider_message, err.retryable) == (code, "Oops", retryable)
    assert err.partial is not None
    assert err.partial.text == "partial answer"


@pytest.mark.anyio
async def test_a_quota_error_opening_the_stream_keeps_its_retry_info(mock: GeminiMock) -> None:
    # Google can answer 200 and then send the error as the stream's first chunk; its
    # RetryInfo ("30s") is the wait, as it is for the same 429 over HTTP.
    mock.script.reply(
        "", stream_fault="error", error_code="RESOURCE_EXHAUSTED", error="Quota", retry_after=30
    )
    async with client(mock) as c:
        with pytest.raises(RateLimitError) as info:
            async with c.stream("gemini/gemini-2.5-flash", "go") as s:
                async for _ in s:
                    pass
    assert (info.value.status, info.value.retry_after) == (429, 30)
    assert info.value.provider_message == "Quota"


@pytest.mark.anyio
async def test_a_quota_error_opening_the_stream_is_retried_after_its_retry_info(
    mock: GeminiMock,
) -> None:
    mock.script.reply(
        "", stream_fault="error", error_code="RESOURCE_EXHAUSTED", error="Quota", retry_after=0.2
    )
    mock.script.reply("Hello")
    cfg = config(mock)
    # the backoff alone would wait 5 s: the 0.2 s Google asked for is what is waited
    cfg["retry"] = {"attempts": 2, "initial_wait": 5, "max_wait": 5, "max_retry_after": 60}
    async with relaykit.Client(cfg, env={}) as c:
        with anyio.fail_after(3):
            async with c.stream("gemini/gemini-2.5-flash", "go") as s:
                text = "".join([e.text async for e in s if isinstance(e, TextDelta)])
    assert text == "Hello"
    assert len(mock.requests) == 2


@pytest.mark.parametrize(
    ("body", "said"),
    [
        # a proxy's sign-in page answered with 200
        (
            [b"<html><body>Sign in", b" to the proxy</body></html>"],
            "not server-sent events: '<html><body>Sign in to the proxy",
        ),
        # ?alt=sse lost on the way: Google answers a JSON array of the chunks
        ([b'[{"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}]'], """'[{"candidates"""),
        ([], "an empty body"),
    ],
)
def test_a_body_that_is_no_event_stream_says_what_came(body: list[bytes], said: str) -> None:
    # It said "the stream ended before Gemini sent a finish reason", as for a cut stream.
    with pytest.raises(StreamError) as info:
        decode(body)
    assert said in str(info.value)


@pytest.mark.anyio
async def test_a_quota_error_after_content_carries_its_retry_info(mock: GeminiMock) -> None:
    # The core retries no stream that has started; the caller may, after the wait
    # Google's RetryInfo asks for.
    mock.script.reply(
        "partial",
        stream_fault="error",
        error_code="RESOURCE_EXHAUSTED",
        error="Quota",
        retry_after=30,
    )
    async with client(mock) as c:
        with pytest.raises(StreamError) as info:
            async with c.stream("gemini/gemini-2.5-flash", "go") as s:
                async for _ in s:
                    pass
    assert (info.value.status, info.value.retryable, info.value.retry_after) == (429, True, 30)
    assert info.value.partial is not None and info.value.partial.text == "partial"


@pytest.mark.anyio
async def test_a_quota_error_after_a_chunk_without_content_keeps_its_retry_info() -> None:
    # A first chunk of no content (its usage so far only), then the error: nothing of
    # the answer reached the caller, so it is the 429 it would be over HTTP, wait kept.
    usage_only = {"usageMetadata": {"promptTokenCount": 4}, "modelVersion": "gemini-2.5-flash"}
    error = {
        "error": {
            "code": 429,
            "message": "Quota",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}],
        }
    }
    body = [b"data: " + json.dumps(d).encode() + b"\r\n\r\n" for d in (usage_only, error)]
    with ScriptedServer(Response(200, {"content-type": "text/event-stream"}, body)) as server:
        cfg = one_try_config({"gemini": {"base_url": server.url, "api_key": KEY}})
        async with relaykit.Client(cfg, env={}) as c:
            with pytest.raises(RateLimitError) as info:
                async with c.stream("gemini/gemini-2.5-flash", "go") as s:
                    async for _ in s:
                        pass
    assert (info.value.status, info.value.retry_after) == (429, 30)


def test_undecodable_chunk_is_a_stream_error() -> None:
    with pytest.raises(StreamError, match="not JSON"):
        decode([b"data: {oops\r\n\r\n"])


# -- errors ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_wrong_key_is_an_authentication_error_although_google_says_400(
    mock: GeminiMock,
) -> None:
    cfg = config(mock)
    cfg["providers"]["gemini"]["api_key"] = "AIzaSyB-wrong-key-0123456789abcdefghijk"
    async with relaykit.Client(cfg, env={}) as c:
        with pytest.raises(AuthenticationError) as info:
            await c.chat("gemini/gemini-2.5-flash", "x")
    assert info.value.status == 400
    assert "API key not valid" in str(info.value)
    assert "wrong-key" not in f"{info.value!r} {info.value.provider_message}"


@pytest.mark.anyio
async def test_rate_limit_reads_retry_info(mock: GeminiMock) -> None:
    mock.script.fail(429, "Resource has been exhausted (e.g. check quota).", retry_after=7)
    async with client(mock) as c:
        with pytest.raises(RateLimitError) as info:
            await c.chat("gemini/gemini-2.5-flash", "x")
    assert info.value.retry_after == 7
    body = mock.requests[-1]
    assert body.path.endswith(":generateContent")


@pytest.mark.anyio
async def test_a_per_day_quota_used_up_is_not_retried(mock: GeminiMock) -> None:
    # Google sends a RetryInfo wait (seconds) with a per-day quota's 429 too; the
    # quota comes back at midnight Pacific time, so retrying after it only fails again.
    mock.script.fail(
        429,
        "You exceeded your current quota",
        retry_after=5,
        code="GenerateRequestsPerDayPerProjectPerModel-FreeTier",
    )
    mock.script.reply("too late")
    cfg = config(mock)
    cfg["retry"] = {"attempts": 3, "initial_wait": 0, "max_retry_after": 0}
    async with relaykit.Client(cfg, env={}) as c:
        with pytest.raises(RateLimitError) as info:
            await c.chat("gemini/gemini-2.5-flash", "x")
    assert len(mock.requests) == 1
    assert info.value.should_retry is False
    assert info.value.hint is not None
    assert "GenerateRequestsPerDayPerProjectPerModel-FreeTier" in info.value.hint
    assert "midnight Pacific time" in info.value.hint


@pytest.mark.anyio
async def test_a_per_minute_quota_is_retried_after_its_wait(mock: GeminiMock) -> None:
    mock.script.fail(429, "You exceeded your current quota", retry_after=5)
    mock.script.reply("Hello")
    cfg = config(mock)
    cfg["retry"] = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0}
    async with relaykit.Client(cfg, env={}) as c:
        answer = await c.chat("gemini/gemini-2.5-flash", "x")
    assert answer.text and len(mock.requests) == 2


@pytest.mark.anyio
async def test_context_overflow_is_a_context_length_error(mock: GeminiMock) -> None:
    mock.script.fail(
        400,
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    )
    async with client(mock) as c:
        with pytest.raises(ContextLengthError):
            await c.chat("gemini/gemini-2.5-flash", "x")


@pytest.mark.anyio
async def test_unknown_model_is_not_found(mock: GeminiMock) -> None:
    async with client(mock) as c:
        with pytest.raises(NotFoundError, match="is not found for API version v1beta"):
            await c.chat("gemini/gemini-9-ultra", "x")


@pytest.mark.anyio
async def test_mock_rejects_unpaired_function_responses(mock: GeminiMock) -> None:
    import httpx

    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "q"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}] * 2},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
        ]
    }
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{mock.base_url}/v1beta/models/gemini-2.5-flash:generateContent",
            json=body,
            headers={"x-goog-api-key": KEY},
        )
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


# -- models ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_model_listing_follows_pages_and_keeps_chat_models() -> None:
    with GeminiMock(api_key=KEY, page_size=2) as mock:
        async with client(mock) as c:
            models = await c.models("gemini")
        listed = [r for r in mock.requests if r.method == "GET"]
    assert len(listed) == 7  # 14 models, 2 a page
    assert listed[1].query["pageToken"]
    # embedding models are left out; image and TTS models answer generateContent too
    assert [m.id for m in models] == [
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "gemini-2.5-flash-lite",
        "gemini-2.0-flash",
        "gemini-3-pro-preview",
        "gemini-3-flash-preview",
        "gemini-2.5-flash-image",
        "gemini-3-pro-image",
        "gemini-3.1-flash-image",
        "gemini-2.5-flash-preview-tts",
        "gemini-2.5-pro-preview-tts",
        "gemini-3.1-flash-tts-preview",
    ]
    flash = models[0]
    assert (flash.context_window, flash.max_output_tokens) == (1_048_576, 65_536)
    assert flash.price is not None
    assert flash.price.output == Decimal("2.50")
    assert models[2].price is not None
    assert models[2].price.input == Decimal("0.10")


@pytest.mark.anyio
async def test_a_model_listing_that_names_an_earlier_page_token_ends() -> None:
    # The third page names the second as the next one: following it would read the
    # second and third pages for ever (the listing has no limit).
    second = base64.urlsafe_b64encode(b"2").decode()
    third = base64.urlsafe_b64encode(b"4").decode()

    async def back_to_the_second(request: Request, response: Response) -> Response:
        if request.query.get("pageToken") != third:
            return response
        assert isinstance(response.body, bytes)
        page = {**json.loads(response.body), "nextPageToken": second}
        return attrs.evolve(response, body=json.dumps(page).encode())

    with GeminiMock(api_key=KEY, page_size=2) as mock:
        mock.rewrite = back_to_the_second
        async with client(mock) as c:
            with anyio.fail_after(10):
                models = await c.models("gemini")
        listed = [r for r in mock.requests if r.method == "GET"]
    assert len(listed) == 3
    assert [m.id for m in models] == [name for name, *_ in mock.models[:6]]


def test_prices_match_the_longest_prefix() -> None:
    from relaykit_gemini import GeminiProvider
    from relaykit_gemini.prices import known_model

    assert (
        known_model("gemini-2.5-flash-lite-preview-09-2025")[1]
        == known_model("gemini-2.5-flash-lite")[1]
    )
    assert known_model("gemini-2.5-flash-preview-05-20")[1] == known_model("gemini-2.5-flash")[1]
    # a TTS model is priced as itself (audio out), not as the chat model it starts like
    window, tts = known_model("gemini-2.5-flash-preview-tts")
    assert window == 8_192 and tts is not None
    assert (tts.input, tts.output, tts.audio_input) == (Decimal("0.50"), Decimal("10.00"), None)
    assert known_model("gemma-3-27b-it") == (None, None)
    assert GeminiProvider.price(None, "models/gemini-2.5-pro") == known_model("gemini-2.5-pro")[1]  # type: ignore[arg-type]


def test_call_with_odd_arguments_keeps_them() -> None:
    call = wire.tool_call({"name": "f", "args": [1, 2]}, 3)
    assert call == ToolCall("gemini-call-3", "f", raw_arguments="[1, 2]")
