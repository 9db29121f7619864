"""Tool calls at the edges Chat Completions' wire format (and its compatible servers) allow.

Each test serves the exact bytes over loopback, streamed and whole where the
server has both, and checks that both come out as the same ToolCall list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import relaykit
from relaykit import ToolCall
from relaykit.testing import LoopbackServer, Request, Response, ScriptedServer
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
        "providers": {kind: {"base_url": base_url, "api_key": KEY, **_TYPES.get(kind, {})}},
    }


#: the servers relaykit has no preset for, configured as OpenAI-compatible ones
_TYPES: dict[str, dict[str, str]] = {"localai": {"type": "openai"}}


def sse(*events: dict[str, Any], split: int | None = None) -> Response:
    """An SSE response of ``events`` then ``[DONE]``; ``split`` cuts the body into
    pieces of that many bytes (so a piece may end inside a UTF-8 character)."""
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    body += b"data: [DONE]\n\n"
    pieces = [body] if split is None else [body[i : i + split] for i in range(0, len(body), split)]
    return Response(200, {"content-type": "text/event-stream"}, pieces)


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def completion(message: dict[str, Any], finish: str = "tool_calls") -> Response:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    return Response.json(body)


async def streamed(base_url: str, kind: str = "openai") -> relaykit.ChatResponse:
    async with (
        relaykit.Client(config(base_url, kind)) as client,
        client.stream(f"{kind}/m", "hi") as s,
    ):
        async for _ in s:
            pass
    return s.response


async def chatted(base_url: str, kind: str = "openai") -> relaykit.ChatResponse:
    async with relaykit.Client(config(base_url, kind)) as client:
        return await client.chat(f"{kind}/m", "hi")


def call(
    index: int | None, id: str | None, name: str | None, arguments: str | None
) -> dict[str, Any]:
    """One tool call fragment as OpenAI sends it (fields left out where None)."""
    out: dict[str, Any] = {}
    if index is not None:
        out["index"] = index
    if id is not None:
        out["id"] = id
        out["type"] = "function"
    fn: dict[str, Any] = {}
    if name is not None:
        fn["name"] = name
    if arguments is not None:
        fn["arguments"] = arguments
    out["function"] = fn
    return out


# -- OpenAI's own stream ------------------------------------------------------------


@pytest.mark.anyio
async def test_interleaved_parallel_calls_with_text_and_split_escapes() -> None:
    # Two calls whose fragments interleave by index, id and name on each call's
    # first fragment only, arguments cut inside a \\u escape and inside a string,
    # text before the calls, and an empty-arguments third call.
    weather = '{"city": "Z\\u00fcrich", "note": "a \\"quoted\\" word"}'
    time = '{"tz": "Europe/Z\\u00fcrich"}'
    events = [
        chunk({"role": "assistant", "content": "Let me look. "}),
        chunk({"tool_calls": [call(0, "call_w", "weather", "")]}),
        chunk({"tool_calls": [call(0, None, None, weather[:14])]}),  # ends in '\\u00'
        chunk({"tool_calls": [call(1, "call_t", "time", time[:9])]}),
        chunk({"tool_calls": [call(0, None, None, weather[14:30])]}),
        chunk({"tool_calls": [call(1, None, None, time[9:])]}),
        chunk({"tool_calls": [call(0, None, None, weather[30:])]}),
        chunk({"tool_calls": [call(2, "call_n", "now", "")]}),
        chunk({}, "tool_calls"),
    ]
    expected = (
        ToolCall("call_w", "weather", {"city": "Zürich", "note": 'a "quoted" word'}),
        ToolCall("call_t", "time", {"tz": "Europe/Zürich"}),
        ToolCall("call_n", "now", {}),
    )
    with serving(sse(*events, split=7)) as server:
        r = await streamed(server.url + "/v1")
    assert r.tool_calls == expected
    assert (r.text, r.finish_reason) == ("Let me look. ", "tool_calls")
    message = {
        "content": "Let me look. ",
        "tool_calls": [
            {
                "id": "call_w",
                "type": "function",
                "function": {"name": "weather", "arguments": weather},
            },
            {"id": "call_t", "type": "function", "function": {"name": "time", "arguments": time}},
            {"id": "call_n", "type": "function", "function": {"name": "now", "arguments": ""}},
        ],
    }
    with serving(completion(message)) as server:
        whole = await chatted(server.url + "/v1")
    assert whole.tool_calls == expected
    assert (whole.text, whole.finish_reason) == ("Let me look. ", "tool_calls")


@pytest.mark.anyio
async def test_raw_utf8_split_across_reads_in_arguments() -> None:
    # Arguments with raw (unescaped) non-ASCII characters, the body cut into
    # pieces that end inside a character's UTF-8 bytes.
    args = json.dumps({"city": "東京 — Zürich"}, ensure_ascii=False)
    events = [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [call(0, "call_1", "weather", args[:5])]}),
        chunk({"tool_calls": [call(0, None, None, args[5:])]}),
        chunk({}, "tool_calls"),
    ]
    body = b"".join(
        b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\n\n" for e in events
    )
    body += b"data: [DONE]\n\n"
    pieces = [body[i : i + 3] for i in range(0, len(body), 3)]
    with serving(Response(200, {"content-type": "text/event-stream"}, pieces)) as server:
        r = await streamed(server.url + "/v1")
    assert r.tool_calls == (ToolCall("call_1", "weather", {"city": "東京 — Zürich"}),)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["openai", "vllm", "groq", "mistral"])
async def test_calls_with_a_stop_finish_are_tool_calls(kind: str) -> None:
    # Some compatible servers end a turn of calls with "stop"
    events = [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [call(0, "call_1", "a", "{}")]}),
        chunk({}, "stop"),
    ]
    with serving(sse(*events)) as server:
        r = await streamed(server.url + "/v1", kind)
    assert (r.tool_calls, r.finish_reason) == ((ToolCall("call_1", "a", {}),), "tool_calls")
    with serving(
        completion(
            {"content": None, "tool_calls": [events[1]["choices"][0]["delta"]["tool_calls"][0]]},
            "stop",
        )
    ) as server:
        whole = await chatted(server.url + "/v1", kind)
    assert (whole.tool_calls, whole.finish_reason) == (r.tool_calls, "tool_calls")


# -- compatible servers -------------------------------------------------------------


@pytest.mark.anyio
async def test_parallel_calls_all_numbered_zero_stay_apart() -> None:
    # vLLM (ai-dynamo/dynamo#4723) and Ollama's /v1 (ollama#15457; through LiteLLM,
    # huggingface/smolagents#1958) send each of several calls whole, every one
    # with index 0 and an id of its own: merged by index, the calls became one
    # call whose arguments were '{"q": 1}{"q": 2}'.
    events = [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [call(0, "call-aaa", "add", '{"b": 2, "a": 2}')]}),
        chunk({"content": "\n"}),
        chunk({"tool_calls": [call(0, "call-bbb", "weather", '{"city": "Tokyo"}')]}),
        chunk({}, "tool_calls"),
    ]
    expected = (
        ToolCall("call-aaa", "add", {"b": 2, "a": 2}),
        ToolCall("call-bbb", "weather", {"city": "Tokyo"}),
    )
    with serving(sse(*events)) as server:
        r = await streamed(server.url + "/v1", "vllm")
    assert r.tool_calls == expected


@pytest.mark.anyio
async def test_a_call_numbered_zero_again_keeps_streaming_into_its_own_slot() -> None:
    # Fragments after a repeated index 0 with a new id belong to the new call.
    events = [
        chunk({"tool_calls": [call(0, "call-a", "a", '{"x":')]}),
        chunk({"tool_calls": [call(0, None, None, " 1}")]}),
        chunk({"tool_calls": [call(0, "call-b", "b", '{"y":')]}),
        chunk({"tool_calls": [call(0, None, None, " 2}")]}),
        chunk({"tool_calls": [call(0, "call-b", None, "")]}),  # the id repeated: the same call
        chunk({}, "tool_calls"),
    ]
    with serving(sse(*events)) as server:
        r = await streamed(server.url + "/v1", "vllm")
    assert r.tool_calls == (ToolCall("call-a", "a", {"x": 1}), ToolCall("call-b", "b", {"y": 2}))


@pytest.mark.anyio
async def test_one_call_under_several_indexes_with_one_id_is_one_call() -> None:
    # LocalAI (mudler/LocalAI#9722) sends one call's fragments under several
    # ``index`` values, each with the call's id: its name under one index, its
    # arguments under the next; and it may send the whole call again under another.
    # Merged by index, one call became two (a nameless one holding the arguments).
    events = [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [call(0, "LipwoT0puK4t", "exec", "")]}),
        chunk({"tool_calls": [call(1, "LipwoT0puK4t", None, '{"cmd": ')]}),
        chunk({"tool_calls": [call(2, "LipwoT0puK4t", None, '"ls"}')]}),
        chunk({"tool_calls": [call(3, "LipwoT0puK4t", "exec", '{"cmd": "ls"}')]}),
        # a second call after it keeps a slot of its own, its fragments too
        chunk({"tool_calls": [call(4, "Qz81", "exec", "")]}),
        chunk({"tool_calls": [call(5, "Qz81", "", '{"cmd": "pwd"}')]}),
        chunk({}, "tool_calls"),
    ]
    with serving(sse(*events)) as server:
        r = await streamed(server.url + "/v1", "localai")
    assert r.tool_calls == (
        ToolCall("LipwoT0puK4t", "exec", {"cmd": "ls"}),
        ToolCall("Qz81", "exec", {"cmd": "pwd"}),
    )
    assert r.finish_reason == "tool_calls"


@pytest.mark.anyio
async def test_whole_calls_in_one_delta_without_index_or_type() -> None:
    # Ollama's /v1 and Mistral send each call whole; some leave out index and type.
    # Mistral's ids are nine characters.
    calls = [
        {"id": "D681PevKs", "function": {"name": "a", "arguments": '{"n": 1}'}},
        {"id": "kXqZ7wP2m", "function": {"name": "b", "arguments": '{"n": 2}'}},
    ]
    events = [
        chunk({"role": "assistant", "content": "", "tool_calls": calls}),
        chunk({}, "tool_calls"),
    ]
    expected = (ToolCall("D681PevKs", "a", {"n": 1}), ToolCall("kXqZ7wP2m", "b", {"n": 2}))
    with serving(sse(*events)) as server:
        r = await streamed(server.url + "/v1", "mistral")
    assert r.tool_calls == expected
    with serving(completion({"content": "", "tool_calls": calls})) as server:
        whole = await chatted(server.url + "/v1", "mistral")
    assert whole.tool_calls == expected


@pytest.mark.anyio
async def test_malformed_arguments_agree_streamed_and_whole() -> None:
    for args in ('{"a": ', "[1, 2]", '"text"', "null"):
        message = {"content": None, "tool_calls": [call(None, "c1", "f", args)]}
        events = [chunk({"tool_calls": [call(0, "c1", "f", args)]}), chunk({}, "tool_calls")]
        with serving(completion(message), sse(*events)) as server:
            whole = await chatted(server.url + "/v1")
            r = await streamed(server.url + "/v1")
        assert whole.tool_calls == r.tool_calls, args


def test_calls_keep_the_servers_order_when_their_indexes_come_out_of_order() -> None:
    state = wire.StreamState()
    assert state.call_index(call(1, "b", "b", "")) == 1
    assert state.call_index(call(0, "a", "a", "")) == 0
    assert state.call_index(call(1, None, None, "{}")) == 1
    assert state.call_index(call(0, "c", "c", "")) == 2  # a new call under index 0
    # a fragment with another id but no name continues its call (a server that
    # makes up an id for every fragment)
    assert state.call_index(call(0, "d", None, "{}")) == 2


# -- a tool run's round trip --------------------------------------------------------


def weather(city: str) -> str:
    """The weather."""
    return f"sunny in {city}"


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [True, False])
async def test_a_tool_run_answers_every_call_under_its_id(streamed: bool) -> None:
    # Each call answered by a tool message under its id, in the calls' order: one
    # run, one whose arguments are not JSON, one naming no tool. The broken call
    # goes back as the model wrote it.
    calls = [
        call(0, "call_a", "weather", '{"city": "Oslo"}'),
        call(1, "call_b", "weather", '{"city": '),
        call(2, "call_c", "nope", "{}"),
    ]
    bodies: list[dict[str, Any]] = []
    if streamed:
        first = sse(
            chunk({"role": "assistant", "content": None}),
            chunk({"tool_calls": calls}),
            chunk({}, "tool_calls"),
        )
        answer = sse(chunk({"role": "assistant", "content": "done"}), chunk({}, "stop"))
    else:
        first = completion(
            {
                "content": None,
                "tool_calls": [{k: v for k, v in c.items() if k != "index"} for c in calls],
            }
        )
        answer = completion({"content": "done"}, "stop")
    queue = [first, answer]

    async def handler(request: Request) -> Response:
        bodies.append(request.json())
        return queue.pop(0)

    with LoopbackServer(handler) as server:
        async with relaykit.Client(config(server.url + "/v1")) as client:
            if streamed:
                async with client.stream_tools("openai/m", "hi", [weather]) as run:
                    async for _ in run:
                        pass
                result = run.run
            else:
                result = await client.run_tools("openai/m", "hi", [weather])
    assert result.response.text == "done"
    sent = bodies[1]["messages"]
    assert [c["function"]["arguments"] for c in sent[1]["tool_calls"]] == [
        '{"city": "Oslo"}',
        '{"city": ',
        "{}",
    ]
    tools = sent[2:]
    assert [m["tool_call_id"] for m in tools] == ["call_a", "call_b", "call_c"]
    assert tools[0]["content"] == "sunny in Oslo"
    assert "not a JSON object" in tools[1]["content"]
    assert "no tool named 'nope'" in tools[2]["content"]


@pytest.mark.anyio
async def test_groq_null_arguments_are_no_arguments() -> None:
    # Groq sends arguments "null" for a call to a function without parameters
    # (langchain#33896); the tool loop answered it with "the arguments are not a
    # JSON object" although the call was right.
    events = [chunk({"tool_calls": [call(0, "call_n", "now", "null")]}), chunk({}, "tool_calls")]
    message = {"content": None, "tool_calls": [call(None, "call_n", "now", "null")]}
    with serving(sse(*events), completion(message)) as server:
        r = await streamed(server.url + "/openai/v1", "groq")
        whole = await chatted(server.url + "/openai/v1", "groq")
    assert r.tool_calls == whole.tool_calls == (ToolCall("call_n", "now", {}),)
