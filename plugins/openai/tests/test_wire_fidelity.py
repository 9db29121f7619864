"""What real OpenAI and compatible servers send, read as the OpenAI SDK reads it.

Each test serves the exact bytes a vendor sends (OpenAIMock, or a loopback
handler for a compatible server's own shape) and checks that the answer,
usage, finish reason, tool calls or error come out as a user of the vendor's
SDK would get them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import relaykit
from relaykit import (
    ContextLengthError,
    InvalidRequestError,
    ProviderUnavailableError,
    StreamError,
    TextDelta,
    ToolCall,
    Usage,
)
from relaykit.testing import LoopbackServer, OpenAIMock, Reply, Request, Response, ScriptedServer
from relaykit_openai import wire

KEY = "sk-test-0123456789abcdef0123"


@contextmanager
def serving(*responses: Response) -> Iterator[ScriptedServer]:
    """A loopback server answering each request with the next of ``responses``."""
    with ScriptedServer(*responses) as server:
        yield server


def config(base_url: str, kind: str = "openai") -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {kind: {"base_url": base_url, "api_key": KEY}},
    }


def sse(*events: dict[str, Any] | str, end: bytes = b"data: [DONE]\n\n") -> Response:
    """An SSE response of ``events`` (dicts as JSON, strings as they are), then ``end``."""
    body = b"".join(
        b"data: " + (e if isinstance(e, str) else json.dumps(e)).encode() + b"\n\n" for e in events
    )
    return Response(200, {"content-type": "text/event-stream"}, [body + end])


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


async def streamed(base_url: str, kind: str = "openai") -> relaykit.ChatResponse:
    async with (
        relaykit.Client(config(base_url, kind)) as client,
        client.stream(f"{kind}/m", "hi") as s,
    ):
        async for _ in s:
            pass
    return s.response


# -- refusals ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_refusal_is_the_text_and_finishes_as_content_filter() -> None:
    # Structured outputs: content is null, the refusal has its own field, finish is
    # "stop". Dropping it left an empty answer that looked like a normal stop.
    refusal = "I'm sorry, I cannot assist with that request."
    with OpenAIMock(api_key=KEY) as mock:
        mock.script.push(Reply(refusal=refusal), Reply(refusal=refusal))
        async with relaykit.Client(config(mock.base_url)) as client:
            r = await client.chat("openai/gpt-4o-mini", "x")
            async with client.stream("openai/gpt-4o-mini", "x") as s:
                texts = [e.text async for e in s if isinstance(e, TextDelta)]
    assert (r.text, r.finish_reason) == (refusal, "content_filter")
    assert "".join(texts) == refusal
    assert (s.response.text, s.response.finish_reason) == (refusal, "content_filter")


# -- usage --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_deepseek_cache_hits_are_cached_input_tokens() -> None:
    # DeepSeek counts cache hits in its own fields, not prompt_tokens_details.
    body = {
        "id": "x",
        "object": "chat.completion",
        "model": "deepseek-chat",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 50,
            "total_tokens": 1250,
            "prompt_cache_hit_tokens": 1024,
            "prompt_cache_miss_tokens": 176,
            "completion_tokens_details": {"reasoning_tokens": 30},
        },
    }
    with serving(Response.json(body)) as server:
        async with relaykit.Client(config(server.url + "/v1", "deepseek")) as client:
            r = await client.chat("deepseek/deepseek-chat", "hi")
    assert r.usage == Usage(1200, 50, 1024, 30)


def test_openai_cached_tokens_win_over_the_deepseek_fields() -> None:
    both = {
        "prompt_tokens": 10,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": 8},
        "prompt_cache_hit_tokens": 4,
    }
    assert wire.usage(both).cached_input_tokens == 8


# -- finish reasons ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("model_length", "length"),  # Mistral: the context window, not max_tokens, ran out
        ("eos", "stop"),  # Together: end of sequence
    ],
)
def test_compatible_finish_reasons(raw: str, expected: str) -> None:
    body = {"choices": [{"message": {"content": "x"}, "finish_reason": raw}]}
    assert wire.response(body).finish_reason == expected
    state = wire.StreamState()
    events = wire.chunk_events(chunk({}, raw), state)
    assert events[-1] == relaykit.Finish(expected, raw)


# -- tool calls -------------------------------------------------------------------


def _call(name: str, args: str, id: str | None = None, **extra: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": args}}
    if id is not None:
        call["id"] = id
    return {**call, **extra}


@pytest.mark.anyio
async def test_tool_calls_without_index_stay_apart() -> None:
    # Gemini's OpenAI-compatible endpoint (and other servers) omit `index`: each
    # call has an id, its arguments may follow in id-less pieces.
    paris, oslo, rome = '{"city": "Paris"}', '{"city": "Oslo"}', '{"city": "Rome"}'
    events = [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [_call("weather", paris, "c1"), _call("weather", oslo, "c2")]}),
        chunk({"tool_calls": [_call("weather", "", "c3")]}),
        chunk({"tool_calls": [{"function": {"arguments": rome[:6]}}]}),
        chunk({"tool_calls": [{"function": {"arguments": rome[6:]}}]}),
        chunk({}, "tool_calls"),
    ]
    with serving(sse(*events)) as server:
        r = await streamed(server.url + "/v1")
    assert r.tool_calls == (
        ToolCall("c1", "weather", {"city": "Paris"}),
        ToolCall("c2", "weather", {"city": "Oslo"}),
        ToolCall("c3", "weather", {"city": "Rome"}),
    )
    assert r.finish_reason == "tool_calls"


@pytest.mark.anyio
async def test_parallel_tool_calls_with_index_are_assembled_apart() -> None:
    # OpenAI's own shape: index on every piece, id and name only on the first.
    events = [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [_call("a", "", "call_a", index=0)]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x"'}}]}),
        chunk({"tool_calls": [_call("b", "", "call_b", index=1)]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"y": 2}'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
        chunk({}, "tool_calls"),
    ]
    with serving(sse(*events)) as server:
        r = await streamed(server.url + "/v1")
    assert r.tool_calls == (ToolCall("call_a", "a", {"x": 1}), ToolCall("call_b", "b", {"y": 2}))


async def chatted(base_url: str, kind: str = "openai") -> relaykit.ChatResponse:
    async with relaykit.Client(config(base_url, kind)) as client:
        return await client.chat(f"{kind}/m", "hi")


def completion(*calls: dict[str, Any]) -> Response:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": list(calls)},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    return Response(200, {"content-type": "application/json"}, [json.dumps(body).encode()])


def streamed_calls(*calls: dict[str, Any]) -> Response:
    """A stream of ``calls``, each whole in a chunk of its own, numbered."""
    return sse(
        chunk({"role": "assistant", "content": None}),
        *[chunk({"tool_calls": [{**call, "index": i}]}) for i, call in enumerate(calls)],
        chunk({}, "tool_calls"),
    )


@pytest.mark.anyio
async def test_arguments_as_an_object_are_the_calls_arguments() -> None:
    # TGI, and llama.cpp's server for a while (ggml-org/llama.cpp#20198), send a call's
    # arguments as a JSON object where OpenAI sends JSON text; TGI's ids are "0", "1"
    calls = (
        {"id": "0", "type": "function", "function": {"name": "weather", "arguments": {"q": 1}}},
        {"id": "1", "type": "function", "function": {"name": "time", "arguments": {}}},
    )
    with serving(completion(*calls)) as server:
        r = await chatted(server.url + "/v1")
    assert r.tool_calls == (ToolCall("0", "weather", {"q": 1}), ToolCall("1", "time", {}))
    with serving(streamed_calls(*calls)) as server:
        r = await streamed(server.url + "/v1")
    assert r.tool_calls == (ToolCall("0", "weather", {"q": 1}), ToolCall("1", "time", {}))


@pytest.mark.anyio
async def test_calls_without_ids_get_ids_of_their_own() -> None:
    # A server that sends no id (or null) for its calls: each call gets one, so that
    # their results pair with them (relaykit's tool runs match results by id)
    calls = (
        {"type": "function", "function": {"name": "a", "arguments": "{}"}},
        {"id": None, "type": "function", "function": {"name": "b", "arguments": "{}"}},
    )
    with serving(completion(*calls)) as server:
        r = await chatted(server.url + "/v1")
    assert [(c.name, c.id) for c in r.tool_calls] == [("a", "call_0"), ("b", "call_1")]
    with serving(streamed_calls(*calls)) as server:
        r = await streamed(server.url + "/v1")
    assert [(c.name, c.id) for c in r.tool_calls] == [("a", "call_0"), ("b", "call_1")]


# -- the end of a stream ------------------------------------------------------------


@pytest.mark.anyio
async def test_done_without_its_blank_line_still_ends_the_stream() -> None:
    # The body's last line is `data: [DONE]` with no blank line after it.
    events = [chunk({"role": "assistant", "content": "hi"}), chunk({}, "stop")]
    with serving(sse(*events, end=b"data: [DONE]\n")) as server:
        r = await streamed(server.url + "/v1")
    assert (r.text, r.finish_reason) == ("hi", "stop")


@pytest.mark.anyio
async def test_stream_that_finished_but_sent_no_done_is_complete() -> None:
    # Some compatible servers (llama.cpp forks, proxies) end the body without
    # [DONE]; the OpenAI SDK ends the stream there. The finish reason and usage
    # arrived, so the answer is whole.
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    events = [
        chunk({"role": "assistant", "content": "hi"}),
        chunk({}, "stop"),
        {**chunk({}), "choices": [], "usage": usage},
    ]
    with serving(sse(*events, end=b"")) as server:
        r = await streamed(server.url + "/v1")
    assert (r.text, r.finish_reason, r.usage) == ("hi", "stop", Usage(3, 1))


@pytest.mark.anyio
async def test_stream_cut_before_its_finish_is_still_an_error() -> None:
    events = [chunk({"role": "assistant", "content": "half an ans"})]
    with serving(sse(*events, end=b"")) as server, pytest.raises(StreamError) as info:
        await streamed(server.url + "/v1")
    assert "[DONE]" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("before", [[], [chunk({"role": "assistant", "content": "half an ans"})]])
async def test_stream_cut_inside_its_last_event_is_a_stream_cut_short(
    before: list[dict[str, Any]],
) -> None:
    # The body stops part way through an event's JSON (a proxy cut it cleanly):
    # the stream was cut short, as when it stops between events, not "malformed".
    cut = b'data: {"id": "chatcmpl-1", "object": "chat.completion.chu'
    with serving(sse(*before, end=cut)) as server, pytest.raises(StreamError) as info:
        await streamed(server.url + "/v1")
    assert "[DONE]" in str(info.value)
    assert "malformed" not in str(info.value)


@pytest.mark.anyio
async def test_openrouter_error_chunk_mid_stream_is_a_stream_error() -> None:
    # OpenRouter: status 200, then a chunk with `error` and finish_reason "error".
    error = {"code": "server_error", "message": "Provider disconnected unexpectedly"}
    broken = chunk({"content": ""}, "error", error=error)
    events = [chunk({"role": "assistant", "content": "partial"}), broken]
    with serving(sse(*events)) as server, pytest.raises(StreamError) as info:
        await streamed(server.url + "/v1", "openrouter")
    assert "Provider disconnected unexpectedly" in str(info.value)
    assert info.value.partial is not None and info.value.partial.text == "partial"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        # OpenAI's own, after the stream started: a server error is worth another try.
        (
            {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "param": None,
                "code": None,
            },
            True,
        ),
        # OpenRouter's: the upstream's HTTP status in `code`.
        ({"code": 429, "message": "Rate limit exceeded upstream"}, True),
        ({"code": 400, "message": "Invalid tool schema"}, False),
    ],
)
async def test_error_chunk_mid_stream_says_whether_to_try_again(
    error: dict[str, Any], retryable: bool
) -> None:
    events = [chunk({"role": "assistant", "content": "partial"}), {"error": error}]
    with serving(sse(*events)) as server, pytest.raises(StreamError) as info:
        await streamed(server.url + "/v1")
    assert info.value.provider_message == error["message"]
    assert info.value.retryable is retryable


# -- errors -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_error_body_with_status_200_is_an_error_not_an_empty_answer() -> None:
    # OpenRouter: "any error occurred while the LLM is producing the output will be
    # emitted in the response body" with status 200; error.code is the HTTP status.
    body = {"error": {"code": 502, "message": "Provider returned error"}, "user_id": "u"}
    with serving(Response.json(body)) as server:
        async with relaykit.Client(config(server.url + "/v1", "openrouter")) as client:
            with pytest.raises(ProviderUnavailableError) as info:
                await client.chat("openrouter/m", "hi")
    assert "Provider returned error" in str(info.value)
    assert info.value.status == 502


@pytest.mark.anyio
async def test_invalid_request_keeps_the_param_openai_names() -> None:
    body = {
        "error": {
            "message": "Invalid value for 'temperature': expected a number <= 2.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_value",
        }
    }
    with serving(Response.json(body, 400)) as server:
        async with relaykit.Client(config(server.url + "/v1")) as client:
            with pytest.raises(InvalidRequestError) as info:
                await client.chat("openai/gpt-4o-mini", "hi", temperature=1.5)
    assert info.value.param == "temperature"


@pytest.mark.anyio
async def test_context_length_exceeded_is_a_context_length_error() -> None:
    body = {
        "error": {
            "message": "This model's maximum context length is 128000 tokens. However, "
            "your messages resulted in 130512 tokens. Please reduce the length of the "
            "messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    with serving(Response.json(body, 400)) as server:
        async with relaykit.Client(config(server.url + "/v1")) as client:
            with pytest.raises(ContextLengthError) as info:
                await client.chat("openai/gpt-4o-mini", "hi")
    assert (info.value.status, info.value.param) == (400, "messages")


@pytest.mark.anyio
async def test_gemini_compatible_endpoint_overflow_is_a_context_length_error() -> None:
    # Gemini's OpenAI-compatible endpoint answers an over-long prompt in Google's
    # own words, wrapped in a list.
    message = (
        "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."
    )
    body = [{"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}]
    with serving(Response.json(body, 400)) as server:
        async with relaykit.Client(config(server.url + "/v1")) as client:
            with pytest.raises(ContextLengthError) as info:
                await client.chat("openai/gemini-2.5-pro", "hi")
    assert info.value.provider_message == message


@pytest.mark.anyio
@pytest.mark.parametrize(
    "error",
    [
        {
            "message": "You exceeded your current quota, please check your plan and billing"
            " details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        },
        # A newer wording: the type says quota, the code says which.
        {
            "message": "You have no credits remaining.",
            "type": "insufficient_quota",
            "code": "credit_balance_exhausted",
        },
    ],
)
async def test_quota_used_up_is_not_retried_on_the_same_deployment(error: dict[str, Any]) -> None:
    # A 429, but no wait ends it: retrying only delays the error (the SDKs and
    # Codex stopped retrying it). Another deployment may still serve the call.
    seen: list[Request] = []

    async def handler(request: Request) -> Response:
        seen.append(request)
        return Response.json({"error": error}, 429)

    with LoopbackServer(handler) as server:
        cfg = config(server.url + "/v1")
        cfg["retry"] = {"attempts": 3, "initial_wait": 0.01}
        async with relaykit.Client(cfg) as client:
            with pytest.raises(relaykit.RateLimitError) as info:
                await client.chat("openai/gpt-4o-mini", "hi")
    assert len(seen) == 1
    assert info.value.should_retry is False
    assert info.value.retryable  # a fallback to another provider is still worth it
    assert info.value.hint is not None and "billing" in info.value.hint
    # what a gateway tells apart from a rate limit: its operator's billing, not its caller's
    assert info.value.quota_used_up


@pytest.mark.anyio
async def test_server_error_carries_its_retry_after() -> None:
    # The OpenAI SDK waits Retry-After before retrying any status it retries
    # (408, 409, 429, 5xx), not only 429.
    with OpenAIMock(api_key=KEY) as mock:
        mock.script.fail(503, "overloaded", retry_after=3)
        async with relaykit.Client(config(mock.base_url)) as client:
            with pytest.raises(ProviderUnavailableError) as info:
                await client.chat("openai/gpt-4o-mini", "hi")
    assert info.value.retry_after == pytest.approx(3)


# -- content as a list of chunks (Mistral's reasoning models) -----------------------


def _thinking(text: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": [{"type": "text", "text": text}]}


@pytest.mark.anyio
async def test_mistral_content_chunks_split_into_reasoning_and_text() -> None:
    # Magistral / Mistral Medium with reasoning: `content` is a list of chunks,
    # whole and in stream deltas; the thinking ones are reasoning.
    whole = {
        "id": "x",
        "object": "chat.completion",
        "model": "magistral-medium-2509",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": [_thinking("2+2 is 4."), {"type": "text", "text": "4"}],
                },
                "finish_reason": "stop",
            }
        ],
    }
    events = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": [_thinking("2+2")]}),
        chunk({"content": [_thinking(" is 4.")]}),
        chunk({"content": "4"}),
        chunk({"content": [{"type": "text", "text": "!"}]}),
        chunk({}, "stop"),
    ]
    with serving(Response.json(whole), sse(*events)) as server:
        async with relaykit.Client(config(server.url + "/v1", "mistral")) as client:
            r = await client.chat("mistral/magistral-medium-2509", "2+2?")
            async with client.stream("mistral/magistral-medium-2509", "2+2?") as s:
                async for _ in s:
                    pass
    assert (r.reasoning, r.text) == ("2+2 is 4.", "4")
    assert (s.response.reasoning, s.response.text) == ("2+2 is 4.", "4!")


# -- the Responses API's error event ------------------------------------------------


def named_sse(*events: dict[str, Any]) -> Response:
    """A Responses API stream: each event named by its ``type``, as OpenAI sends them."""
    body = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    return Response(200, {"content-type": "text/event-stream"}, [body])


_CREATED = {
    "type": "response.created",
    "sequence_number": 0,
    "response": {"id": "resp_1", "object": "response", "model": "o4-mini", "status": "in_progress"},
}
_TEXT = {
    "type": "response.output_text.delta",
    "sequence_number": 1,
    "item_id": "msg_1",
    "output_index": 0,
    "content_index": 0,
    "delta": "partial",
}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "error",
    [
        # What the API reference documents: the fields on the event itself.
        {"code": "too_many_requests", "message": "Too Many Requests", "param": None},
        # What OpenAI sends for a rate limit mid-stream (openai-dotnet#881): nested.
        {
            "error": {
                "type": "too_many_requests",
                "code": "too_many_requests",
                "message": "Too Many Requests",
                "param": None,
            }
        },
    ],
)
async def test_responses_error_event_keeps_its_message_in_either_shape(
    error: dict[str, Any],
) -> None:
    failed = {"type": "error", "sequence_number": 2, **error}
    with serving(named_sse(_CREATED, _TEXT, failed)) as server:
        cfg = config(server.url + "/v1")
        cfg["providers"]["openai"]["api"] = "responses"
        async with relaykit.Client(cfg) as client:
            with pytest.raises(StreamError) as info:
                async with client.stream("openai/o4-mini", "hi") as s:
                    async for _ in s:
                        pass
    assert info.value.provider_message == "Too Many Requests"
    assert info.value.partial is not None and info.value.partial.text == "partial"
    # A rate limit: the caller may try again (as Anthropic's and Gemini's say).
    assert info.value.retryable
