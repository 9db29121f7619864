"""Vertex AI's streamed function call arguments (``streamFunctionCallArguments``).

Gemini 3 on Vertex AI streams one call's arguments over many chunks when
``toolConfig.functionCallingConfig.streamFunctionCallArguments`` is true: a part
``{"functionCall": {"name": ..., "willContinue": true}}`` opens the call, parts
of ``partialArgs`` (a JSON path and a typed value each; a string in pieces, its
``willContinue`` true until its last) carry the arguments, and a part without
``willContinue`` (often ``{"functionCall": {}}``) ends it. The Gemini API has no
such setting (its ``FunctionCallingConfig`` is ``mode`` and
``allowedFunctionNames``) and refuses it as an unknown field. relaykit passes
the setting on through ``extra`` and streams each call as the other vendors'
streamed calls come: its id and name first, then pieces of its arguments' JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError, Tool, ToolCall
from relaykit.events import ToolCallDelta
from relaykit.testing import Reply, Response, ScriptedServer, one_try_config
from relaykit_gemini.mock_vertex import VertexMock
from relaykit_gemini.testing import GeminiMock
from relaykit_google_auth.testing import vertex_client

from .conftest import KEY

#: how a caller turns it on: Vertex's setting, through ``extra``
STREAM_ARGS = {"toolConfig": {"functionCallingConfig": {"streamFunctionCallArguments": True}}}
TOOLS = [Tool("plan"), Tool("weather")]
PLAN = {
    "title": 'Zürich "day" trip',
    "stops": [{"name": "Lake", "minutes": 90}, {"name": "Old town", "minutes": 45.5}],
    "budget": {"limit": 120, "flexible": True, "note": None},
    "tags": ["walk", "food"],
}
CALLS = (("plan", PLAN), ("weather", {"city": "Zürich"}))


def vertex(mock: VertexMock, sa_file: Path) -> Any:
    return vertex_client("vertex", mock.base_url, {}, sa_file, location="us-central1")


@pytest.mark.anyio
async def test_vertex_streams_each_calls_arguments_in_pieces_into_one_call(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    vertex_mock.script.push(Reply(tool_calls=CALLS), Reply(tool_calls=CALLS))
    async with vertex(vertex_mock, sa_file) as c:
        async with c.stream(
            "vertex/gemini-3-pro-preview", "Plan it", tools=TOOLS, tool_choice="required",
            extra=STREAM_ARGS,
        ) as s:  # fmt: skip
            deltas = [e async for e in s if isinstance(e, ToolCallDelta)]
        whole = await c.chat("vertex/gemini-3-pro-preview", "Plan it", tools=TOOLS)
    expected = (
        ToolCall("gemini-call-0", "plan", PLAN),
        ToolCall("gemini-call-1", "weather", {"city": "Zürich"}),
    )
    assert s.response.tool_calls == expected
    assert s.response.finish_reason == "tool_calls"
    assert whole.tool_calls == expected  # the same calls, sent whole
    # each call: its id and name first, then its arguments in many pieces
    for index, (name, args) in enumerate(CALLS):
        mine = [d for d in deltas if d.index == index]
        assert (mine[0].id, mine[0].name, mine[0].arguments) == (f"gemini-call-{index}", name, "")
        assert len(mine) > 3 and all(d.name is None for d in mine[1:])
        assert json.loads("".join(d.arguments for d in mine)) == args
    # the setting went out with the mode tool_choice asked for, neither lost
    sent = vertex_mock.model_requests("streamGenerateContent")[0].json()
    assert sent["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "streamFunctionCallArguments": True}
    }


@pytest.mark.anyio
async def test_the_gemini_api_refuses_the_setting_as_an_unknown_field(mock: GeminiMock) -> None:
    config = one_try_config({"gemini": {"base_url": mock.base_url, "api_key": KEY}})
    async with relaykit.Client(config, env={}) as c:
        with pytest.raises(InvalidRequestError, match='Unknown name "streamFunctionCallArguments"'):
            await c.chat("gemini/gemini-2.5-flash", "hi", tools=TOOLS, extra=STREAM_ARGS)


# -- Vertex's exact chunks ---------------------------------------------------------------


def sse(*parts_per_chunk: list[dict[str, Any]], last: list[dict[str, Any]]) -> Response:
    """Chunks holding ``parts_per_chunk``, then one of ``last`` with the finish."""
    events = []
    for parts in (*parts_per_chunk, last):
        chunk: dict[str, Any] = {
            "candidates": [{"content": {"role": "model", "parts": parts}}],
            "usageMetadata": {"trafficType": "ON_DEMAND"},
            "modelVersion": "gemini-3.1-pro-preview",
            "responseId": "tjXVaYaxFISTq8YP",
        }
        if parts is last:
            chunk["candidates"][0]["finishReason"] = "STOP"
            chunk["usageMetadata"] = {
                "promptTokenCount": 26,
                "candidatesTokenCount": 23,
                "totalTokenCount": 49,
            }
        events.append(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
    return Response(200, {"content-type": "text/event-stream"}, events)


SIG = "c2ln"


def fc(**fields: Any) -> list[dict[str, Any]]:
    return [{"functionCall": fields}]


def arg(path: str, will_continue: bool = False, **value: Any) -> dict[str, Any]:
    return {"jsonPath": path, **value, **({"willContinue": True} if will_continue else {})}


def piece(path: str, will_continue: bool = False, **value: Any) -> list[dict[str, Any]]:
    """A part of one value of a call more of which is to come."""
    return fc(partialArgs=[arg(path, will_continue, **value)], willContinue=True)


async def streamed(response: Response) -> relaykit.ChatResponse:
    with ScriptedServer(response) as server:
        config = one_try_config({"gemini": {"base_url": server.url, "api_key": KEY}})
        async with (
            relaykit.Client(config, env={}) as c,
            c.stream("gemini/gemini-3-pro-preview", "hi") as s,
        ):
            async for _ in s:
                pass
    return s.response


@pytest.mark.anyio
async def test_two_calls_each_ended_by_an_empty_function_call() -> None:
    # As Vertex sends them (vercel/ai's recorded stream, google-stream-tool-call-
    # arguments): a string in two pieces, closed by an empty piece, then {}; the
    # second call's end rides on the chunk with the finish.
    response = sse(
        [{"functionCall": {"name": "getWeather", "willContinue": True}, "thoughtSignature": SIG}],
        piece("$.location", True, stringValue="Bos"),
        piece("$.location", True, stringValue="ton"),
        piece("$.location", stringValue=""),
        fc(),
        fc(name="getWeather", willContinue=True),
        piece("$.location", True, stringValue="San Francisco"),
        piece("$.location", stringValue=""),
        last=fc(),
    )
    r = await streamed(response)
    assert r.tool_calls == (
        ToolCall("gemini-call-0", "getWeather", {"location": "Boston"}),
        ToolCall("gemini-call-1", "getWeather", {"location": "San Francisco"}),
    )
    assert (r.finish_reason, r.reasoning_signature) == ("tool_calls", SIG)


@pytest.mark.anyio
async def test_an_array_call_ended_by_its_last_piece_and_spacer_parts() -> None:
    # vercel/ai#14358: for array arguments the last piece comes without
    # willContinue (no empty functionCall after it) and the finish comes with an
    # empty text part; between array elements a bare {"willContinue": true} part.
    response = sse(
        fc(name="writeItems", willContinue=True),
        piece("$.operations[0].action", True, stringValue="add"),
        piece("$.operations[0].action", stringValue=""),
        piece("$.operations[0].price", numberValue=0.5),
        fc(willContinue=True),
        piece("$.operations[1].action", True, stringValue="drop"),
        piece("$.operations[1].action", stringValue=""),
        piece("$.operations[1]['in stock']", boolValue=False),
        piece("$.operations[1].note", nullValue="NULL_VALUE"),
        fc(partialArgs=[arg("$.operations[1].price", numberValue=3)]),
        last=[{"text": ""}],
    )
    r = await streamed(response)
    operations = [
        {"action": "add", "price": 0.5},
        {"action": "drop", "in stock": False, "note": None, "price": 3},
    ]
    assert r.tool_calls == (ToolCall("gemini-call-0", "writeItems", {"operations": operations}),)
    assert r.finish_reason == "tool_calls"


@pytest.mark.anyio
async def test_a_call_still_open_at_the_finish_is_closed_there() -> None:
    response = sse(
        fc(name="f", willContinue=True),
        piece("$.a.b", True, stringValue="x"),
        last=piece("$.a.b", True, stringValue="y"),
    )
    r = await streamed(response)
    assert r.tool_calls == (ToolCall("gemini-call-0", "f", {"a": {"b": "xy"}}),)


@pytest.mark.anyio
async def test_a_piece_out_of_the_order_of_the_json_is_a_stream_error() -> None:
    # Pieces come in the order of the arguments' JSON; one for a place already left
    # cannot be streamed (its text is out): the stream fails naming the path.
    response = sse(
        fc(name="f", willContinue=True),
        piece("$.a.x", numberValue=1),
        piece("$.b", numberValue=2),
        piece("$.a.y", numberValue=3),
        last=fc(),
    )
    with pytest.raises(relaykit.StreamError, match=r"\$\.a\.y"):
        await streamed(response)
