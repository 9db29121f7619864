"""Tool calls at the edges Ollama's /api/chat allows, streamed and whole.

The exact NDJSON lines are served over loopback; the streamed answer and the
whole one must give the same ToolCall list, and a tool run must send each result
back as a ``tool`` message naming its tool.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import relaykit
from relaykit import ToolCall
from relaykit.testing import Response, ScriptedServer

MODEL = "ollama/qwen3:8b"


@contextmanager
def serving(*responses: Response) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with ScriptedServer(*responses) as server:
        yield server.url, server.bodies


def config(url: str) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"ollama": {"base_url": url}},
    }


DONE = {"done": True, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 7}


def lines(*messages: dict[str, Any], cut: int | None = None) -> Response:
    """A stream of ``messages`` (done: false), then the final object; ``cut`` splits
    the body into pieces of that many bytes."""
    objs = [
        {"model": "qwen3:8b", "message": {"role": "assistant", **m}, "done": False}
        for m in messages
    ]
    objs.append({"model": "qwen3:8b", "message": {"role": "assistant", "content": ""}, **DONE})
    body = b"".join(json.dumps(o, ensure_ascii=False).encode() + b"\n" for o in objs)
    pieces = [body] if cut is None else [body[i : i + cut] for i in range(0, len(body), cut)]
    return Response(200, {"content-type": "application/x-ndjson"}, pieces)


def whole(message: dict[str, Any]) -> Response:
    return Response.json({"model": "qwen3:8b", "message": {"role": "assistant", **message}, **DONE})


def fn(
    name: str, arguments: Any, index: int | None = None, id: str | None = None
) -> dict[str, Any]:
    call: dict[str, Any] = {"function": {"name": name, "arguments": arguments}}
    if index is not None:
        call["function"]["index"] = index
    if id is not None:
        call["id"] = id
    return call


@pytest.mark.anyio
async def test_calls_in_not_done_chunks_agree_with_the_whole_answer() -> None:
    # Ollama sends each call whole, arguments as an object, in done:false lines;
    # several in one line or one per line, text before them.
    calls = [
        fn("weather", {"city": "São Paulo"}, 0),
        fn("weather", {"city": "Oslo"}, 1),
        fn("now", {}, 2),
        fn("echo", '{"x": 1}', 3),  # a proxy passing the arguments on as JSON text
    ]
    stream = lines(
        {"content": "Checking. "},
        {"content": "", "tool_calls": calls[:2]},
        {"content": "", "tool_calls": calls[2:3]},
        {"content": "", "tool_calls": calls[3:]},
        cut=5,
    )
    expected = (
        ToolCall("call_0", "weather", {"city": "São Paulo"}),
        ToolCall("call_1", "weather", {"city": "Oslo"}),
        ToolCall("call_2", "now", {}),
        ToolCall("call_3", "echo", {"x": 1}),
    )
    with serving(stream, whole({"content": "Checking. ", "tool_calls": calls})) as (url, _):
        async with relaykit.Client(config(url), env={}) as client:
            async with client.stream(MODEL, "hi") as s:
                async for _ in s:
                    pass
            r = await client.chat(MODEL, "hi")
    assert s.response.tool_calls == r.tool_calls == expected
    assert s.response.text == r.text == "Checking. "
    assert s.response.finish_reason == r.finish_reason == "tool_calls"


@pytest.mark.anyio
async def test_ids_ollama_sends_are_kept() -> None:
    calls = [fn("now", {}, 0, id="call_abc"), fn("now", {}, 1, id="call_def")]
    with serving(lines({"content": "", "tool_calls": calls}), whole({"tool_calls": calls})) as (
        url,
        _,
    ):
        async with relaykit.Client(config(url), env={}) as client:
            async with client.stream(MODEL, "hi") as s:
                async for _ in s:
                    pass
            r = await client.chat(MODEL, "hi")
    assert [c.id for c in s.response.tool_calls] == [c.id for c in r.tool_calls]
    assert [c.id for c in r.tool_calls] == ["call_abc", "call_def"]


def weather(city: str) -> str:
    """The weather."""
    return f"sunny in {city}"


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [True, False])
async def test_a_tool_run_sends_each_result_as_a_tool_message(streamed: bool) -> None:
    calls = [fn("weather", {"city": "Oslo"}, 0), fn("nope", {}, 1), fn("weather", [1, 2], 2)]
    if streamed:
        responses = [lines({"content": "", "tool_calls": calls}), lines({"content": "done"})]
    else:
        responses = [whole({"content": "", "tool_calls": calls}), whole({"content": "done"})]
    with serving(*responses) as (url, bodies):
        async with relaykit.Client(config(url), env={}) as client:
            if streamed:
                async with client.stream_tools(MODEL, "hi", [weather]) as run:
                    async for _ in run:
                        pass
                result = run.run
            else:
                result = await client.run_tools(MODEL, "hi", [weather])
    assert result.response.text == "done"
    sent = bodies[1]["messages"]
    assert sent[1]["tool_calls"] == [
        {
            "id": "call_0",
            "function": {"index": 0, "name": "weather", "arguments": {"city": "Oslo"}},
        },
        {"id": "call_1", "function": {"index": 1, "name": "nope", "arguments": {}}},
        {
            "id": "call_2",
            "function": {"index": 2, "name": "weather", "arguments": {"raw_arguments": "[1, 2]"}},
        },
    ]
    tools = sent[2:]
    assert [(m["role"], m["tool_call_id"], m["tool_name"]) for m in tools] == [
        ("tool", "call_0", "weather"),
        ("tool", "call_1", "nope"),
        ("tool", "call_2", "weather"),
    ]
    assert tools[0]["content"] == "sunny in Oslo"
    assert "no tool named 'nope'" in tools[1]["content"]
    assert "not a JSON object" in tools[2]["content"]
