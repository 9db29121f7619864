"""Tool calls at the edges Bedrock's wire formats allow, streamed and whole.

ConverseStream's binary event frames and the Messages route's server-sent events
are served as they are over loopback; the streamed answer and the whole one must
give the same ToolCall list, and a tool run must send results back as Bedrock
reads them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import relaykit
from relaykit import Message, ToolCall
from relaykit.testing import Reply, Request, Response, ScriptedServer
from relaykit.testing.tool_histories import CROSS_PROVIDER_IDS, TOOL_NAMES, cross_provider_tool_run
from relaykit_bedrock.testing import BedrockMock, event_frame

from .conftest import MakeClient

CLAUDE = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"
STREAM = {"content-type": "application/vnd.amazon.eventstream"}


@contextmanager
def serving(*responses: Response) -> Iterator[tuple[str, list[Request]]]:
    """A bare loopback server answering each request with the next of ``responses``
    (no SigV4 check: the decoding is what is tested); yields its URL and the requests."""
    with ScriptedServer(*responses) as server:
        yield server.url, server.requests


def client(url: str, **provider: Any) -> relaykit.Client:
    providers = {"bedrock": {"base_url": url, "region": "us-east-1", **provider}}
    return relaykit.Client(
        {"storage": {"backend": "none"}, "retry": {"attempts": 1}, "providers": providers}
    )


async def both(
    stream: Response, whole: Response, model: str = CLAUDE, **provider: Any
) -> tuple[relaykit.ChatResponse, relaykit.ChatResponse]:
    with serving(stream, whole) as (url, _):
        async with client(url, **provider) as c:
            async with c.stream(model, "hi") as s:
                async for _ in s:
                    pass
            r = await c.chat(model, "hi")
    return s.response, r


# -- ConverseStream ---------------------------------------------------------------


def frames(*events: tuple[str, dict[str, Any]]) -> Response:
    body = [event_frame(name, data) for name, data in events]
    # cut each frame in two, so a read ends inside one
    pieces = [p for f in body for p in (f[: len(f) // 2], f[len(f) // 2 :])]
    return Response(200, STREAM, pieces)


def tool_start(block: int, id: str, name: str) -> tuple[str, dict[str, Any]]:
    start = {"toolUse": {"toolUseId": id, "name": name}}
    return ("contentBlockStart", {"contentBlockIndex": block, "start": start})


def tool_input(block: int, fragment: str) -> tuple[str, dict[str, Any]]:
    return (
        "contentBlockDelta",
        {"contentBlockIndex": block, "delta": {"toolUse": {"input": fragment}}},
    )


@pytest.mark.anyio
async def test_converse_stream_tools_interleaved_by_block_index() -> None:
    a = json.dumps({"city": "São Paulo"}, ensure_ascii=False)
    b = json.dumps({"tz": "UTC"})
    events: list[tuple[str, dict[str, Any]]] = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking. "}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        tool_start(1, "tooluse_a", "weather"),
        tool_start(2, "tooluse_b", "time"),
        tool_input(1, a[:7]),
        tool_input(2, b[:4]),
        tool_input(1, ""),
        tool_input(1, a[7:]),
        tool_input(2, b[4:]),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        ("contentBlockStop", {"contentBlockIndex": 2}),
        tool_start(3, "tooluse_c", "now"),  # no input deltas at all
        ("contentBlockStop", {"contentBlockIndex": 3}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12}}),
    ]
    whole = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"text": "Checking. "},
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_a",
                            "name": "weather",
                            "input": json.loads(a),
                        }
                    },
                    {"toolUse": {"toolUseId": "tooluse_b", "name": "time", "input": json.loads(b)}},
                    {"toolUse": {"toolUseId": "tooluse_c", "name": "now", "input": {}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12},
    }
    streamed, r = await both(frames(*events), Response.json(whole))
    expected = (
        ToolCall("tooluse_a", "weather", {"city": "São Paulo"}),
        ToolCall("tooluse_b", "time", {"tz": "UTC"}),
        ToolCall("tooluse_c", "now", {}),
    )
    assert streamed.tool_calls == r.tool_calls == expected
    assert streamed.text == r.text == "Checking. "
    assert streamed.finish_reason == r.finish_reason == "tool_calls"


# -- the Messages route (server-sent events) ----------------------------------------


def sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


def messages_stream(*blocks: list[tuple[str, dict[str, Any]]]) -> Response:
    usage = {"input_tokens": 5, "output_tokens": 1}
    message = {"id": "msg_1", "role": "assistant", "content": [], "usage": usage}
    events = [sse("message_start", {"message": message})]
    for index, block in enumerate(blocks):
        events += [sse(name, {"index": index, **data}) for name, data in block]
        events.append(sse("content_block_stop", {"index": index}))
    events += [
        sse("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}),
        sse("message_stop", {}),
    ]
    return Response(200, {"content-type": "text/event-stream"}, events)


def block_start(block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("content_block_start", {"content_block": block})


def input_json(fragment: str) -> tuple[str, dict[str, Any]]:
    return (
        "content_block_delta",
        {"delta": {"type": "input_json_delta", "partial_json": fragment}},
    )


@pytest.mark.anyio
async def test_messages_route_server_tool_input_is_no_call() -> None:
    # A server tool's block (Anthropic's code execution, its web fetch) streams
    # its input as input_json_deltas too; it is not a call to make: the whole
    # answer leaves it out, and the stream must as well (it gave a call with no
    # id and no name, which a tool run answered with "there is no tool named ''").
    server_use = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_fetch", "input": {}}
    stream = messages_stream(
        [block_start(server_use), input_json('{"url": "https://example.com"}')],
        [
            block_start(
                {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_1", "content": {}}
            )
        ],
        [
            block_start({"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}),
            input_json(""),
            input_json('{"city": '),
            input_json('"Oslo"}'),
        ],
        [block_start({"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}})],
    )
    whole = Response.json(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [
                {**server_use, "input": {"url": "https://example.com"}},
                {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_1", "content": {}},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
                {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 5, "output_tokens": 7},
        }
    )
    streamed, r = await both(stream, whole, claude_api="messages")
    expected = (ToolCall("toolu_1", "weather", {"city": "Oslo"}), ToolCall("toolu_2", "now", {}))
    assert streamed.tool_calls == r.tool_calls == expected
    assert streamed.finish_reason == r.finish_reason == "tool_calls"


# -- sending the ids back -------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("claude_api", ["converse", "messages"])
async def test_ids_from_other_providers_go_out_valid_and_once_each(
    mock: BedrockMock, make_client: MakeClient, claude_api: str
) -> None:
    # As on Anthropic's API: Kimi K2's ids (functions.now:0) break toolUseId's
    # pattern, and relaykit's made-up ids of providers that send none (call_0)
    # repeat from one answer to the next, which Claude refuses.
    conversation = [
        Message.user("hi"),
        Message.assistant("", [ToolCall("call_0", "a", {}), ToolCall("call_1", "b", {})]),
        Message.tool("call_0", "A"),
        Message.tool("call_1", "B"),
        Message.assistant("", [ToolCall("call_0", "c", {})]),
        Message.tool("call_0", "C", is_error=True),
        Message.assistant("", [ToolCall("functions.now:0" + "x" * 70, "now", {})]),
        Message.tool("functions.now:0" + "x" * 70, "noon"),
    ]
    tools = [{"name": n, "parameters": {"type": "object"}} for n in "abc"]
    tools.append({"name": "now", "parameters": {"type": "object"}})
    async with make_client(region=mock.region, claude_api=claude_api) as c:
        r = await c.chat(CLAUDE, conversation, tools=tools)
    assert r.text
    body = mock.requests[-1].json()
    if claude_api == "converse":
        blocks = [b for m in body["messages"] for b in m["content"]]
        uses = [b["toolUse"]["toolUseId"] for b in blocks if "toolUse" in b]
        results = [b["toolResult"] for b in blocks if "toolResult" in b]
        assert [x["toolUseId"] for x in results] == uses
        assert [x.get("status") for x in results] == [None, None, "error", None]
    else:
        blocks = [b for m in body["messages"] for b in m["content"] if isinstance(b, dict)]
        uses = [b["id"] for b in blocks if b["type"] == "tool_use"]
        results = [b for b in blocks if b["type"] == "tool_result"]
        assert [x["tool_use_id"] for x in results] == uses
        assert [x.get("is_error", False) for x in results] == [False, False, True, False]
    assert uses[:3] == ["call_0", "call_1", "call_0_2"]
    assert uses[3] == ("functions_now_0" + "x" * 70)[:64]


def broken(city: str) -> str:
    """A tool that fails."""
    raise RuntimeError(f"no weather for {city}")


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [True, False])
async def test_a_failing_tool_goes_back_with_status_error(
    mock: BedrockMock, make_client: MakeClient, streamed: bool
) -> None:
    mock.script.push(
        Reply(tool_calls=(("broken", {"city": "Oslo"}), ("broken", {"city": "Lima"}))),
        Reply(text="sorry"),
    )
    async with make_client(region=mock.region, claude_api="converse") as c:
        if streamed:
            async with c.stream_tools(CLAUDE, "weather?", [broken]) as run:
                async for _ in run:
                    pass
            result = run.run
        else:
            result = await c.run_tools(CLAUDE, "weather?", [broken])
    assert result.response.text == "sorry"
    body = mock.requests[-1].json()
    uses = [b["toolUse"] for b in body["messages"][1]["content"] if "toolUse" in b]
    results = [b["toolResult"] for b in body["messages"][2]["content"] if "toolResult" in b]
    assert [r["toolUseId"] for r in results] == [u["toolUseId"] for u in uses]
    assert [r.get("status") for r in results] == ["error", "error"]
    assert "no weather for Oslo" in results[0]["content"][0]["text"]


@pytest.mark.anyio
async def test_a_cross_provider_history_goes_to_nova_valid_and_once_each(
    mock: BedrockMock, make_client: MakeClient
) -> None:
    # Converse's toolUseId rule (1 to 64 of [a-zA-Z0-9_-]) and its refusal of one id
    # twice in a turn ("The toolUse blocks at messages.N.content contain duplicate
    # Ids", Cyber-AutoAgent-ng#27) are the API's, whatever the model: Nova gets
    # the renamed ids Claude gets.
    tools = [{"name": n, "parameters": {"type": "object"}} for n in TOOL_NAMES]
    async with make_client(region=mock.region) as c:
        r = await c.chat("bedrock/amazon.nova-pro-v1:0", cross_provider_tool_run(), tools=tools)
    assert r.text
    blocks = [b for m in mock.requests[-1].json()["messages"] for b in m["content"]]
    uses = [b["toolUse"]["toolUseId"] for b in blocks if "toolUse" in b]
    results = [
        (b["toolResult"]["toolUseId"], b["toolResult"]["content"][0]["text"])
        for b in blocks
        if "toolResult" in b
    ]
    assert len(set(uses)) == len(CROSS_PROVIDER_IDS)
    assert all(len(u) <= 64 and u.replace("_", "").replace("-", "").isalnum() for u in uses)
    assert uses[:5] == [
        "gemini-call-0",
        "gemini-call-0_2",
        "edit_22",
        "edit_22_2",
        "functions_now_0",
    ]
    assert results == list(zip(uses, "ABCDEFG", strict=True))
