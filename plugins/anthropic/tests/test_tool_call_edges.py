"""Tool calls at the edges the Messages API's wire format allows, streamed and whole.

Each test serves the exact events over loopback and checks that the streamed
answer and the whole one give the same ToolCall list, and that a tool run sends
the results back in the shape Anthropic reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import relaykit
from relaykit import Message, ToolCall
from relaykit.testing import LoopbackServer, Request, Response, one_try_config
from relaykit_anthropic.testing import sse, validate_messages

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "claude-haiku-4-5"
USAGE = {"input_tokens": 5, "output_tokens": 7}


@contextmanager
def serving(*responses: Response) -> Iterator[list[dict[str, Any]]]:
    """A loopback Messages API answering each request with the next of ``responses``;
    yields the request bodies, each checked as Anthropic checks a conversation."""
    queue = list(responses)
    bodies: list[dict[str, Any]] = []

    async def handler(request: Request) -> Response:
        body = request.json()
        bodies.append(body)
        problem = validate_messages(body)
        if problem is not None:
            error = {"type": "invalid_request_error", "message": problem}
            return Response.json({"type": "error", "error": error}, 400)
        return queue.pop(0)

    with LoopbackServer(handler) as server:
        bodies.append({"base_url": server.url})
        yield bodies


def base_url(bodies: list[dict[str, Any]]) -> str:
    return str(bodies.pop(0)["base_url"])


def config(url: str) -> dict[str, Any]:
    return one_try_config({"anthropic": {"base_url": url, "api_key": KEY}})


def stream_of(blocks: list[list[tuple[str, dict[str, Any]]]], stop: str = "tool_use") -> Response:
    """A Messages stream: ``blocks`` are each block's events after its index is added."""
    events = [
        sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 5, "output_tokens": 1},
                },
            },
        ),
        sse("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(blocks):
        for name, data in block:
            events.append(sse(name, {"type": name, "index": index, **data}))
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    events += [
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop},
                "usage": {"output_tokens": 7},
            },
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]
    return Response(200, {"content-type": "text/event-stream"}, events)


def message(content: list[dict[str, Any]], stop: str = "tool_use") -> Response:
    return Response.json(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": content,
            "stop_reason": stop,
            "usage": USAGE,
        }
    )


def tool_use(id: str, name: str, fragments: list[str], start: Any = None) -> list[Any]:
    block = {"type": "tool_use", "id": id, "name": name, "input": {} if start is None else start}
    out: list[Any] = [("content_block_start", {"content_block": block})]
    for f in fragments:
        out.append(
            ("content_block_delta", {"delta": {"type": "input_json_delta", "partial_json": f}})
        )
    return out


def text(said: str) -> list[Any]:
    return [
        ("content_block_start", {"content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"delta": {"type": "text_delta", "text": said}}),
    ]


async def both(stream: Response, whole: Response) -> tuple[relaykit.ChatResponse, ...]:
    with serving(stream, whole) as bodies:
        url = base_url(bodies)
        async with relaykit.Client(config(url)) as client:
            async with client.stream(f"anthropic/{MODEL}", "hi") as s:
                async for _ in s:
                    pass
            r = await client.chat(f"anthropic/{MODEL}", "hi")
    return s.response, r


@pytest.mark.anyio
async def test_several_tool_uses_with_thinking_text_and_a_server_tool() -> None:
    weather = json.dumps({"city": "São Paulo"}, ensure_ascii=False)
    blocks = [
        [
            ("content_block_start", {"content_block": {"type": "thinking", "thinking": ""}}),
            ("content_block_delta", {"delta": {"type": "thinking_delta", "thinking": "hmm"}}),
            ("content_block_delta", {"delta": {"type": "signature_delta", "signature": "sig"}}),
        ],
        text("Looking. "),
        # a server tool of Anthropic's own (code execution): not a call to make
        [
            (
                "content_block_start",
                {
                    "content_block": {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "code_execution",
                        "input": {},
                    }
                },
            ),
            (
                "content_block_delta",
                {"delta": {"type": "input_json_delta", "partial_json": '{"code": "1+1"}'}},
            ),
        ],
        [
            (
                "content_block_start",
                {
                    "content_block": {
                        "type": "code_execution_tool_result",
                        "tool_use_id": "srvtoolu_1",
                        "content": {"type": "code_execution_result", "stdout": "2"},
                    }
                },
            )
        ],
        # an empty first fragment, then the input in pieces cut inside a character
        tool_use("toolu_1", "weather", ["", weather[:12], weather[12:], ""]),
        tool_use("toolu_2", "now", []),  # input {} and no deltas
        tool_use("toolu_3", "echo", [], start={"x": 1}),  # input whole in its start
    ]
    content: list[dict[str, Any]] = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "Looking. "},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_1",
            "name": "code_execution",
            "input": {"code": "1+1"},
        },
        {
            "type": "code_execution_tool_result",
            "tool_use_id": "srvtoolu_1",
            "content": {"type": "code_execution_result", "stdout": "2"},
        },
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "São Paulo"}},
        {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
        {"type": "tool_use", "id": "toolu_3", "name": "echo", "input": {"x": 1}},
    ]
    streamed, whole = await both(stream_of(blocks), message(content))
    expected = (
        ToolCall("toolu_1", "weather", {"city": "São Paulo"}),
        ToolCall("toolu_2", "now", {}),
        ToolCall("toolu_3", "echo", {"x": 1}),
    )
    assert streamed.tool_calls == whole.tool_calls == expected
    assert streamed.text == whole.text == "Looking. "
    assert streamed.reasoning == whole.reasoning == "hmm"
    assert streamed.finish_reason == whole.finish_reason == "tool_calls"


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [True, False])
async def test_a_tool_run_sends_arguments_that_are_not_json_back_as_an_object(
    streamed: bool,
) -> None:
    # Fine-grained tool streaming sends input without checking it is JSON, and one
    # cut at max_tokens ends mid-value. The tool loop answers the call with an
    # error; the call itself goes back with what the model said, wrapped in an
    # object (the docs' advice), not as an empty input the model never wrote.
    broken = '{"city": "Par'
    calls_blocks = [tool_use("toolu_1", "weather", [broken]), tool_use("toolu_2", "now", [])]
    answer = stream_of([text("done")], stop="end_turn")
    first = stream_of(calls_blocks)
    if not streamed:
        first = message(
            [
                # A whole answer cannot hold broken JSON: its input is not an object
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": broken},
                {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
            ]
        )
        answer = message([{"type": "text", "text": "done"}], stop="end_turn")

    def weather(city: str) -> str:
        """The weather."""
        return "sunny"

    def now() -> str:
        """The time."""
        return "noon"

    with serving(first, answer) as bodies:
        url = base_url(bodies)
        async with relaykit.Client(config(url)) as client:
            if streamed:
                async with client.stream_tools(f"anthropic/{MODEL}", "hi", [weather, now]) as run:
                    async for _ in run:
                        pass
                result = run.run
            else:
                result = await client.run_tools(f"anthropic/{MODEL}", "hi", [weather, now])
    assert result.response.text == "done"
    sent = bodies[1]["messages"]
    assert sent[1]["content"] == [
        {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "weather",
            "input": {"raw_arguments": broken},
        },
        {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
    ]
    results = sent[2]["content"]
    assert [(b["tool_use_id"], b.get("is_error", False)) for b in results] == [
        ("toolu_1", True),
        ("toolu_2", False),
    ]
    assert "not a JSON object" in results[0]["content"]


@pytest.mark.anyio
async def test_ids_from_other_providers_go_out_valid_and_once_each() -> None:
    # A tool run on Gemini or Ollama (whose calls come without ids: relaykit makes
    # up gemini-call-0, call_0, ... afresh in each answer) and a Kimi K2 call
    # (functions.now:0) continued on Claude: Anthropic refused the repeated id
    # ("`tool_use` ids must be unique") and Kimi's ("String should match pattern").
    # They go out renamed, each result under the id its call went out with.
    conversation = [
        Message.user("hi"),
        Message.assistant("", [ToolCall("call_0", "a", {}), ToolCall("call_1", "b", {})]),
        Message.tool("call_0", "A"),
        Message.tool("call_1", "B"),
        Message.assistant("", [ToolCall("call_0", "c", {})]),
        Message.tool("call_0", "C"),
        Message.assistant("", [ToolCall("functions.now:0", "now", {})]),
        Message.tool("functions.now:0", "noon"),
    ]
    with serving(message([{"type": "text", "text": "ok"}], stop="end_turn")) as bodies:
        url = base_url(bodies)
        async with relaykit.Client(config(url)) as client:
            r = await client.chat(f"anthropic/{MODEL}", conversation)
    assert r.text == "ok"
    sent = bodies[0]["messages"]
    uses = [b["id"] for m in sent for b in m["content"] if b["type"] == "tool_use"]
    results = [b["tool_use_id"] for m in sent for b in m["content"] if b["type"] == "tool_result"]
    assert uses == ["call_0", "call_1", "call_0_2", "functions_now_0"]
    assert results == uses


def _without_id(block: list[Any]) -> list[Any]:
    start = block[0][1]["content_block"]
    del start["id"]
    return block


@pytest.mark.anyio
async def test_tool_uses_without_ids_get_stable_unique_ids_streamed_and_whole() -> None:
    # An Anthropic-compatible server that leaves out a tool_use's id gave calls
    # with an empty id: the tool loop and the gateway could not match results.
    # Each gets an id made from the message id and its position, the same streamed
    # and whole, unique in the answer and across answers with other message ids.
    blocks = [
        _without_id(tool_use("", "weather", ['{"city": "Paris"}'])),
        _without_id(tool_use("", "now", [])),
        tool_use("toolu_given", "echo", [], start={"x": 1}),
    ]
    content: list[dict[str, Any]] = [
        {"type": "tool_use", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "", "name": "now", "input": {}},
        {"type": "tool_use", "id": "toolu_given", "name": "echo", "input": {"x": 1}},
    ]
    streamed, whole = await both(stream_of(blocks), message(content))
    assert streamed.tool_calls == whole.tool_calls
    ids = [c.id for c in whole.tool_calls]
    assert ids == ["toolu_msg_1_0", "toolu_msg_1_1", "toolu_given"]


@pytest.mark.anyio
async def test_a_tool_run_answers_calls_that_came_without_ids() -> None:
    calls = message(
        [
            {"type": "tool_use", "name": "now", "input": {}},
            {"type": "tool_use", "name": "now", "input": {}},
        ]
    )
    answer = message([{"type": "text", "text": "done"}], stop="end_turn")

    def now() -> str:
        """The time."""
        return "noon"

    with serving(calls, answer) as bodies:
        url = base_url(bodies)
        async with relaykit.Client(config(url)) as client:
            result = await client.run_tools(f"anthropic/{MODEL}", "hi", [now])
    assert result.response.text == "done"
    sent = bodies[1]["messages"]
    uses = [b["id"] for b in sent[1]["content"]]
    assert uses == ["toolu_msg_1_0", "toolu_msg_1_1"]
    assert [b["tool_use_id"] for b in sent[2]["content"]] == uses
