"""Ollama specifics the provider contract cannot see: the bytes on the wire."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relaykit
from relaykit import (
    AuthenticationError,
    ConfigError,
    DocumentPart,
    ImagePart,
    InvalidRequestError,
    Message,
    NotFoundError,
    RateLimitError,
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
from relaykit.response import NO_USAGE
from relaykit.testing import Reply
from relaykit.testing.provider_contract import PDF, PNG, WEATHER_TOOL
from relaykit_ollama import NDJSONDecoder, base_url_from_host, wire
from relaykit_ollama.stream_decoder import OllamaStreamDecoder
from relaykit_ollama.testing import OllamaMock
from relaykit_ollama.testing import client_for as client

# -- where Ollama is -------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("localhost", "http://localhost:11434"),
        ("gpu-box:8080", "http://gpu-box:8080"),
        ("0.0.0.0", "http://0.0.0.0:11434"),
        (":11434", "http://127.0.0.1:11434"),
        ("[::1]:9000", "http://[::1]:9000"),
        ("[::1]", "http://[::1]:11434"),
        ("::1", "http://[::1]:11434"),
        ("example.com/ollama/", "http://example.com:11434/ollama"),
        ("http://localhost:11434/", "http://localhost:11434"),
        ("https://ollama.com", "https://ollama.com"),
    ],
)
def test_ollama_host_forms(host: str, url: str) -> None:
    assert base_url_from_host(host) == url


@pytest.mark.anyio
async def test_ollama_host_without_scheme_from_the_environment(mock: OllamaMock) -> None:
    env = {"OLLAMA_HOST": f"127.0.0.1:{mock.server.port}"}
    async with relaykit.Client({"storage": {"backend": "none"}}, env=env) as c:
        r = await c.chat("ollama/llama3.2", "env")
    assert r.text == "echo: env"
    assert "authorization" not in mock.last_request.headers


@pytest.mark.anyio
async def test_key_is_sent_as_bearer_and_kept_out_of_repr() -> None:
    key = "ollama-key-0123456789abcdef"
    with OllamaMock(api_key=key) as mock:
        async with relaykit.Client(
            {"storage": {"backend": "none"}},
            env={"OLLAMA_HOST": mock.base_url, "OLLAMA_API_KEY": key},
        ) as c:
            await c.chat("ollama/llama3.2", "hi")
            assert key not in repr(c.provider("ollama"))
        assert mock.last_request.headers["authorization"] == f"Bearer {key}"


# -- the request -----------------------------------------------------------------


@pytest.mark.anyio
async def test_request_body(mock: OllamaMock) -> None:
    messages = [
        Message.system("Be brief."),
        Message.user("hi", ImagePart(data=PNG, media_type="image/png")),
    ]
    async with client(mock, num_ctx=8192, think="low", keep_alive="10m") as c:
        await c.chat(
            "ollama/gpt-oss:20b",  # a think level is for gpt-oss models
            messages,
            max_tokens=64,
            temperature=0.3,
            top_p=0.8,
            stop=["END"],
            seed=11,
            extra={"options": {"top_k": 20}},
        )
    req = mock.last_request
    assert req.path == "/api/chat"
    body = req.json()
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1]["content"] == "hi"
    assert body["messages"][1]["images"] == [
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
    ]
    assert body["stream"] is False
    assert body["options"] == {
        "num_ctx": 8192,
        "num_predict": 64,
        "temperature": 0.3,
        "top_p": 0.8,
        "stop": ["END"],
        "seed": 11,
        "top_k": 20,
    }
    assert (body["think"], body["keep_alive"]) == ("low", "10m")


@pytest.mark.anyio
async def test_stream_is_requested_explicitly(mock: OllamaMock) -> None:
    async with client(mock) as c, c.stream("ollama/llama3.2", "hi") as s:
        async for _ in s:
            pass
    assert mock.last_request.json()["stream"] is True


@pytest.mark.anyio
async def test_structured_output_format(mock: OllamaMock) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    async with client(mock) as c:
        await c.chat("ollama/llama3.2", "json", response_format=schema)
        assert mock.last_request.json()["format"] == schema
        await c.chat("ollama/llama3.2", "json", response_format={"type": "json_object"})
        assert mock.last_request.json()["format"] == "json"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("choice", "offered"),
    [
        ("auto", ["get_weather", "get_time"]),
        ("none", []),  # honoured by offering none ("required" and names: test_schemas.py)
    ],
)
async def test_tool_choice_by_what_is_offered(
    mock: OllamaMock, choice: str, offered: list[str]
) -> None:
    clock = {
        "name": "get_time",
        "description": "",
        "parameters": {"type": "object", "properties": {}},
    }
    async with client(mock) as c:
        await c.chat("ollama/llama3.2", "x", tools=[WEATHER_TOOL, clock], tool_choice=choice)
    tools = mock.last_request.json().get("tools", [])
    assert [t["function"]["name"] for t in tools] == offered
    assert all(t["type"] == "function" for t in tools)
    if choice == "auto":
        assert tools[0]["function"] == WEATHER_TOOL


@pytest.mark.anyio
async def test_tool_round_trip_names_the_tool_and_sends_object_arguments(mock: OllamaMock) -> None:
    mock.script.reply("", reasoning="look it up", tool_calls=(("get_weather", {"city": "Paris"}),))
    async with client(mock) as c:
        r = await c.chat("ollama/llama3.2", "Paris?", tools=[WEATHER_TOOL])
        assert [call.id for call in r.tool_calls] == ["call_0"]
        assert r.finish_reason == "tool_calls"
        await c.chat(
            "ollama/llama3.2",
            [Message.user("Paris?"), r.to_message(), Message.tool("call_0", '{"sky": "clear"}')],
            tools=[WEATHER_TOOL],
        )
    sent = mock.last_request.json()["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "thinking": "look it up",
        "tool_calls": [
            {
                "id": "call_0",
                "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
            }
        ],
    }
    assert sent[2] == {
        "role": "tool",
        "content": '{"sky": "clear"}',
        "tool_call_id": "call_0",
        "tool_name": "get_weather",
    }


@pytest.mark.anyio
async def test_image_url_is_refused_before_sending(mock: OllamaMock) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="Ollama takes images as bytes"):
            await c.chat(
                "ollama/llava:7b", [Message.user("x", ImagePart(url="https://example.com/a.png"))]
            )
    assert not mock.requests


@pytest.mark.anyio
async def test_a_document_is_refused_before_sending_streamed_or_not(mock: OllamaMock) -> None:
    history = [
        Message.user("hello"),
        Message.assistant("hi"),
        Message.user([TextPart("read this"), DocumentPart(data=PDF, name="q3.pdf")]),
    ]
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError, match="reads no documents") as refused:
            await c.chat("ollama/llama3.2", history)
        with pytest.raises(InvalidRequestError, match=r"q3\.pdf"):
            async with c.stream("ollama/llama3.2", history) as s:
                async for _ in s:
                    pass
    assert refused.value.param == "messages[2].content[1]"
    assert "TextPart" in str(refused.value)  # the fix is in the message
    assert not mock.requests


@pytest.mark.anyio
async def test_bad_option_is_a_config_error(mock: OllamaMock) -> None:
    async with client(mock, think="very") as c:
        with pytest.raises(ConfigError, match="think"):
            await c.chat("ollama/llama3.2", "x")


# -- the response ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "calls", "expected"),
    [
        ("stop", False, "stop"),
        ("stop", True, "tool_calls"),
        (None, False, "stop"),
        ("length", False, "length"),
        ("length", True, "length"),
        ("load", False, "other"),
        ("unload", False, "other"),
    ],
)
def test_finish_reasons(raw: str | None, calls: bool, expected: str) -> None:
    message: dict[str, Any] = {"role": "assistant", "content": "x"}
    if calls:
        message["tool_calls"] = [{"function": {"name": "f", "arguments": {}}}]
    data: dict[str, Any] = {"model": "m", "message": message, "done": True}
    if raw:
        data["done_reason"] = raw
    assert wire.response(data).finish_reason == expected
    decoder = OllamaStreamDecoder(provider="ollama", model="m")
    events = decoder.feed(json.dumps(data).encode() + b"\n") + decoder.close()
    assert events[-1] == Finish(expected, raw)


def test_usage_and_odd_arguments() -> None:
    assert wire.usage({"prompt_eval_count": 26, "eval_count": 282}) == Usage(26, 282)
    assert wire.usage({}) is NO_USAGE  # none reported: the client estimates
    zero = wire.usage({"prompt_eval_count": 0, "eval_count": 0})
    assert zero == Usage() and zero is not NO_USAGE  # reported zero: kept
    text_args = {"function": {"name": "f", "arguments": '{"a": 1}'}}
    assert wire.tool_call(text_args, 2) == ToolCall("call_2", "f", {"a": 1})
    assert wire.tool_call(
        {"id": "abc", "function": {"name": "f", "arguments": [1]}}, 0
    ) == ToolCall("abc", "f", raw_arguments="[1]")


@pytest.mark.anyio
async def test_local_models_cost_nothing(mock: OllamaMock) -> None:
    mock.script.reply("free", input_tokens=1000, output_tokens=1000)
    async with client(mock) as c:
        r = await c.chat("ollama/llama3.2", "price")
        models = await c.models("ollama")
    assert r.cost == Decimal(0)
    assert r.usage == Usage(1000, 1000)
    assert [m.id for m in models] == [
        "llama3.2:latest",
        "qwen3:8b",
        "gpt-oss:20b",
        "llava:7b",
        "nomic-embed-text:latest",
    ]
    assert all(m.price is not None and m.price.output == 0 for m in models)
    assert mock.requests[-1].path == "/api/tags"


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_an_answer_without_eval_counts_is_estimated(mock: OllamaMock, streamed: bool) -> None:
    # A server that leaves prompt_eval_count and eval_count out still ran the
    # prompt and the answer: what token limits count is relaykit's estimate,
    # marked so, not zero. Counts of zero are the server's, and kept.
    text = "abcd" * 10
    mock.script.push(
        Reply(text=text, usage=False), Reply(text=text, input_tokens=0, output_tokens=0)
    )
    prompt = "word " * 40  # 200 characters: 50 tokens, as limits estimate them
    async with client(mock) as c:
        for estimated in (True, False):
            if streamed:
                async with c.stream("ollama/llama3.2", prompt) as s:
                    async for _ in s:
                        pass
                r = s.response
            else:
                r = await c.chat("ollama/llama3.2", prompt)
            expected = Usage(50, 10) if estimated else Usage(0, 0)
            assert (r.text, r.usage, r.usage_estimated) == (text, expected, estimated)


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_prompt_served_from_the_kv_cache_is_counted_not_free(
    mock: OllamaMock, streamed: bool
) -> None:
    # Ollama left prompt_eval_count out when the whole prompt came from its KV cache
    # (ollama#2068, #3427) while still counting the answer: reading that as 0 input
    # tokens undercounted limits, metrics and records. The prompt is relaykit's
    # estimate (a quarter of its characters, as limits estimate it), read from the
    # cache, and marked estimated; the answer's count stays Ollama's.
    prompt = "word " * 40  # 200 characters: 50 tokens, as limits estimate them
    mock.script.push(Reply(text="abcd", input_tokens=50, cached_input_tokens=50, output_tokens=9))
    async with client(mock) as c:
        if streamed:
            async with c.stream("ollama/llama3.2", prompt) as s:
                async for _ in s:
                    pass
            r = s.response
        else:
            r = await c.chat("ollama/llama3.2", prompt)
    assert r.usage == Usage(50, 9, cached_input_tokens=50)
    assert r.usage_estimated


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_prompt_partly_from_the_kv_cache_counts_its_cached_tokens(
    mock: OllamaMock, streamed: bool
) -> None:
    # Newer Ollama counts the whole prompt in prompt_eval_count and the part its
    # prefix cache served in prompt_eval_cached_count: that part is the usage's
    # cached input (a subset of input_tokens, as OpenAI's cached_tokens), not lost.
    mock.script.push(Reply(text="abcd", input_tokens=38, cached_input_tokens=37, output_tokens=9))
    async with client(mock) as c:
        if streamed:
            async with c.stream("ollama/llama3.2", "hello") as s:
                async for _ in s:
                    pass
            r = s.response
        else:
            r = await c.chat("ollama/llama3.2", "hello")
    assert r.usage == Usage(38, 9, cached_input_tokens=37)
    assert not r.usage_estimated


def test_a_cached_count_over_the_prompt_is_capped_and_a_bad_one_refused() -> None:
    # cached input is part of the prompt: a count over it is read as the whole prompt
    done = {"prompt_eval_count": 5, "prompt_eval_cached_count": 9, "eval_count": 1}
    assert wire.usage(done) == Usage(5, 1, cached_input_tokens=5)
    with pytest.raises(ValueError, match="prompt_eval_cached_count"):
        wire.usage({**done, "prompt_eval_cached_count": "many"})


def test_a_prompt_count_left_out_beside_an_answer_count_is_the_estimate() -> None:
    # every line of an answer has its message: the last one's content is ""
    message = {"role": "assistant", "content": ""}
    done = {"message": message, "done": True, "done_reason": "stop", "eval_count": 7}
    assert wire.usage(done, prompt_tokens=12) == Usage(12, 7, cached_input_tokens=12)
    assert wire.prompt_unreported(done)
    assert not wire.prompt_unreported({**done, "prompt_eval_count": 3})
    decoder = OllamaStreamDecoder(provider="ollama", model="m", prompt_tokens=12)
    events = decoder.feed(json.dumps(done).encode() + b"\n")
    (update,) = [e for e in events if isinstance(e, UsageUpdate)]
    assert update == UsageUpdate(Usage(12, 7, cached_input_tokens=12), estimated=True)


# -- streaming -------------------------------------------------------------------


def test_ndjson_decoder_lines() -> None:
    d = NDJSONDecoder()
    assert d.feed(b'{"a":1}\r\n\n{"b"') == [{"a": 1}]
    assert d.feed(b":2}\n") == [{"b": 2}]
    assert d.feed(b'{"c":3}') == []
    assert d.flush() == [{"c": 3}]
    assert d.flush() == []
    with pytest.raises(ValueError):
        d.feed(b"not json\n")


STREAM = b"".join(
    json.dumps(obj, ensure_ascii=False).encode() + b"\n"
    for obj in [
        {
            "model": "qwen3:8b",
            "created_at": "2025-06-01T00:00:00Z",
            "message": {"role": "assistant", "content": "", "thinking": "hmm… "},
            "done": False,
        },
        {
            "model": "qwen3:8b",
            "created_at": "2025-06-01T00:00:00Z",
            "message": {"role": "assistant", "content": "Olá, "},
            "done": False,
        },
        {
            "model": "qwen3:8b",
            "created_at": "2025-06-01T00:00:00Z",
            "message": {"role": "assistant", "content": "São Paulo ☀"},
            "done": False,
        },
        {
            "model": "qwen3:8b",
            "created_at": "2025-06-01T00:00:00Z",
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "function": {
                            "index": 0,
                            "name": "get_weather",
                            "arguments": {"city": "São Paulo"},
                        }
                    },
                    {
                        "function": {
                            "index": 1,
                            "name": "get_weather",
                            "arguments": {"city": "Oslo"},
                        }
                    },
                ],
            },
            "done": False,
        },
        {
            "model": "qwen3:8b",
            "created_at": "2025-06-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1,
            "prompt_eval_count": 26,
            "eval_count": 40,
        },
    ]
)
EXPECTED = [
    StreamStart(None, "qwen3:8b"),
    ReasoningDelta("hmm… "),
    TextDelta("Olá, "),
    TextDelta("São Paulo ☀"),
    ToolCallDelta(0, "call_0", "get_weather", '{"city": "S\\u00e3o Paulo"}'),
    ToolCallDelta(1, "call_1", "get_weather", '{"city": "Oslo"}'),
    UsageUpdate(Usage(26, 40)),
    Finish("tool_calls", "stop"),
]


def decode(pieces: list[bytes]) -> list[Any]:
    decoder = OllamaStreamDecoder(provider="ollama", model="qwen3:8b")
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


def test_last_line_without_newline_still_counts() -> None:
    assert decode([STREAM.rstrip(b"\n")]) == EXPECTED


@pytest.mark.parametrize("end", ["next chunk", "end of body"])
@pytest.mark.parametrize(
    ("bad", "match"), [(b'{"error": "model runner crashed"}', "runner crashed"), (b"{oops", "JSON")]
)
def test_events_before_an_error_in_the_same_chunk_come_out_first(
    end: str, bad: bytes, match: str
) -> None:
    # One read can carry several lines (aiohttp returns whatever is buffered).
    text = {"model": "m", "message": {"role": "assistant", "content": "partial"}, "done": False}
    decoder = OllamaStreamDecoder(provider="ollama", model="m")
    events = decoder.feed(json.dumps(text).encode() + b"\n" + bad + b"\n")
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("partial")]
    with pytest.raises(StreamError, match=match):
        decoder.feed(b"") if end == "next chunk" else decoder.close()


def test_ndjson_values_before_a_bad_line_come_out_first() -> None:
    d = NDJSONDecoder()
    assert d.feed(b'{"a":1}\nnot json\n{"b":2}\n') == [{"a": 1}]
    with pytest.raises(ValueError):
        d.flush()
    assert d.flush() == []


def test_stream_cut_before_done_is_a_stream_error() -> None:
    cut = STREAM[: STREAM.rindex(b'{"model"')]
    with pytest.raises(StreamError, match="before Ollama sent its final"):
        decode([cut])


def test_error_line_is_a_stream_error() -> None:
    first = STREAM[: STREAM.index(b"\n") + 1]
    with pytest.raises(StreamError, match="out of memory"):
        decode([first, b'{"error":"llama runner: out of memory"}\n'])


def test_garbage_line_is_a_stream_error() -> None:
    with pytest.raises(StreamError, match="not JSON"):
        decode([b"<html>502 Bad Gateway</html>\n"])


@pytest.mark.parametrize("end", [b"\n", b""])
def test_a_line_that_is_not_json_is_quoted(end: bytes) -> None:
    # It said "Expecting value: line 1 column 1 (char 0)", not what came (a proxy's page).
    with pytest.raises(StreamError) as info:
        decode([b"<html><body>Sign in to the proxy</body></html>" + end])
    assert "'<html><body>Sign in to the proxy" in str(info.value)


def test_an_empty_body_says_so() -> None:
    with pytest.raises(StreamError, match="Ollama answered the stream with an empty body"):
        decode([b""])


@pytest.mark.anyio
async def test_mock_streams_ndjson(mock: OllamaMock) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{mock.base_url}/api/chat",
            json={"model": "llama3.2", "messages": [{"role": "user", "content": "hello there"}]},
        )
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = r.content.decode().splitlines()
    objects = [json.loads(line) for line in lines]
    assert "".join(o["message"]["content"] for o in objects) == "echo: hello there"
    assert [o["done"] for o in objects][-2:] == [False, True]
    assert objects[-1]["done_reason"] == "stop"


# -- errors ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_unknown_model_is_not_found(mock: OllamaMock) -> None:
    async with client(mock) as c:
        with pytest.raises(NotFoundError, match="model 'mistral' not found"):
            await c.chat("ollama/mistral", "x")


@pytest.mark.anyio
async def test_rate_limit_has_no_retry_after(mock: OllamaMock) -> None:
    mock.script.fail(429, "too many requests", retry_after=5)
    async with client(mock) as c:
        with pytest.raises(RateLimitError) as info:
            await c.chat("ollama/llama3.2", "x")
    assert info.value.retry_after is None


@pytest.mark.anyio
async def test_missing_key_behind_a_proxy_is_an_authentication_error() -> None:
    with OllamaMock(api_key="ollama-key-0123456789abcdef") as mock:
        async with client(mock) as c:
            with pytest.raises(AuthenticationError, match="unauthorized"):
                await c.chat("ollama/llama3.2", "x")


@pytest.mark.anyio
async def test_mock_rejects_string_arguments(mock: OllamaMock) -> None:
    import httpx

    body = {
        "model": "llama3.2",
        "stream": False,
        "messages": [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}],
            }
        ],
    }
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{mock.base_url}/api/chat", json=body)
    assert r.status_code == 400
    assert "cannot unmarshal string" in r.json()["error"]
