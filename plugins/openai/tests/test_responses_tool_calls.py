"""Function calls at the edges the Responses API's wire format allows, streamed and whole.

The exact server-sent events are served over loopback; the streamed answer and
the whole one must give the same ToolCall list, and a tool run must send each
result back as a ``function_call_output`` under its call's ``call_id``.
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

KEY = "sk-test-0123456789abcdef0123"
MODEL = "openai/gpt-4.1-mini"
USAGE = {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}


@contextmanager
def serving(*responses: Response) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with ScriptedServer(*responses) as server:
        yield server.url + "/v1", server.bodies


def config(url: str) -> dict[str, Any]:
    openai = {"base_url": url, "api_key": KEY, "api": "responses"}
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"openai": openai},
    }


def response_object(output: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "status": status,
        "model": "gpt-4.1-mini",
        "output": output,
        "usage": USAGE,
    }


def events(*items: tuple[str, dict[str, Any]], output: list[dict[str, Any]]) -> Response:
    """An SSE stream: created, ``items``, completed (with ``output``)."""
    all_events = [
        ("response.created", {"response": {**response_object([], "in_progress"), "usage": None}}),
        *items,
        ("response.completed", {"response": response_object(output)}),
    ]
    frames = []
    for n, (name, data) in enumerate(all_events):
        payload = json.dumps({"type": name, "sequence_number": n, **data})
        frames.append(f"event: {name}\ndata: {payload}\n\n".encode())
    body = b"".join(frames)
    return Response(
        200,
        {"content-type": "text/event-stream"},
        [body[i : i + 9] for i in range(0, len(body), 9)],
    )


def call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def added(index: int, item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("response.output_item.added", {"output_index": index, "item": item})


def done(index: int, item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("response.output_item.done", {"output_index": index, "item": item})


def delta(index: int, item_id: str, fragment: str) -> tuple[str, dict[str, Any]]:
    return (
        "response.function_call_arguments.delta",
        {"output_index": index, "item_id": item_id, "delta": fragment},
    )


def args_done(index: int, item_id: str, arguments: str) -> tuple[str, dict[str, Any]]:
    return (
        "response.function_call_arguments.done",
        {"output_index": index, "item_id": item_id, "arguments": arguments},
    )


TEXT = {
    "type": "message",
    "id": "msg_1",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "Checking. ", "annotations": []}],
}
A = json.dumps({"city": "São Paulo"}, ensure_ascii=False)
B = json.dumps({"tz": "UTC"})
OUTPUT = [
    TEXT,
    call_item("fc_a", "call_a", "weather", A),
    call_item("fc_b", "call_b", "time", B),
    call_item("fc_c", "call_c", "now", ""),
    call_item("fc_d", "call_d", "echo", '{"x": 1}'),
]
EXPECTED = (
    ToolCall("call_a", "weather", {"city": "São Paulo"}),
    ToolCall("call_b", "time", {"tz": "UTC"}),
    ToolCall("call_c", "now", {}),
    ToolCall("call_d", "echo", {"x": 1}),
)


def stream() -> Response:
    text_events = [
        added(0, {**TEXT, "content": [], "status": "in_progress"}),
        (
            "response.content_part.added",
            {
                "output_index": 0,
                "item_id": "msg_1",
                "content_index": 0,
                "part": {"type": "output_text", "text": ""},
            },
        ),
        (
            "response.output_text.delta",
            {"output_index": 0, "item_id": "msg_1", "content_index": 0, "delta": "Checking. "},
        ),
        done(0, TEXT),
    ]
    return events(
        *text_events,
        added(1, call_item("fc_a", "call_a", "weather", "", "in_progress")),
        added(2, call_item("fc_b", "call_b", "time", "", "in_progress")),
        delta(1, "fc_a", A[:5]),
        delta(2, "fc_b", B[:3]),
        delta(1, "fc_a", ""),
        delta(1, "fc_a", A[5:]),
        delta(2, "fc_b", B[3:]),
        args_done(1, "fc_a", A),
        done(1, OUTPUT[1]),
        args_done(2, "fc_b", B),
        done(2, OUTPUT[2]),
        # no deltas at all: arguments "" ({}), then one whose arguments come only whole
        added(3, call_item("fc_c", "call_c", "now", "", "in_progress")),
        args_done(3, "fc_c", ""),
        done(3, OUTPUT[3]),
        added(4, call_item("fc_d", "call_d", "echo", "", "in_progress")),
        args_done(4, "fc_d", '{"x": 1}'),
        done(4, OUTPUT[4]),
        output=OUTPUT,
    )


@pytest.mark.anyio
async def test_several_calls_streamed_agree_with_the_whole_answer() -> None:
    with serving(stream(), Response.json(response_object(OUTPUT))) as (url, _):
        async with relaykit.Client(config(url)) as client:
            async with client.stream(MODEL, "hi") as s:
                async for _ in s:
                    pass
            r = await client.chat(MODEL, "hi")
    assert s.response.tool_calls == r.tool_calls == EXPECTED
    assert s.response.text == r.text == "Checking. "
    assert s.response.finish_reason == r.finish_reason == "tool_calls"


def weather(city: str) -> str:
    """The weather."""
    return f"sunny in {city}"


def time(tz: str) -> str:
    """The time."""
    raise RuntimeError("no clock")


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [True, False])
async def test_a_tool_run_sends_each_output_under_its_call_id(streamed: bool) -> None:
    answer = [{**TEXT, "content": [{"type": "output_text", "text": "done", "annotations": []}]}]
    if streamed:
        final = events(
            (
                "response.output_text.delta",
                {"output_index": 0, "item_id": "msg_1", "content_index": 0, "delta": "done"},
            ),
            output=answer,
        )
        responses = [stream(), final]
    else:
        responses = [Response.json(response_object(OUTPUT)), Response.json(response_object(answer))]
    with serving(*responses) as (url, bodies):
        async with relaykit.Client(config(url)) as client:
            if streamed:
                async with client.stream_tools(MODEL, "hi", [weather, time]) as run:
                    async for _ in run:
                        pass
                result = run.run
            else:
                result = await client.run_tools(MODEL, "hi", [weather, time])
    assert result.response.text == "done"
    sent = bodies[1]["input"]
    calls = [i for i in sent if i.get("type") == "function_call"]
    outputs = [i for i in sent if i.get("type") == "function_call_output"]
    assert [(c["call_id"], c["name"], json.loads(c["arguments"] or "{}")) for c in calls] == [
        (c.id, c.name, c.arguments) for c in EXPECTED
    ]
    assert [o["call_id"] for o in outputs] == ["call_a", "call_b", "call_c", "call_d"]
    assert outputs[0]["output"] == "sunny in São Paulo"
    assert "RuntimeError: no clock" in outputs[1]["output"]
    assert "no tool named 'now'" in outputs[2]["output"]
