"""Function calls at the edges Gemini's wire format allows, streamed and whole.

The exact ``GenerateContentResponse`` objects are served over loopback (one
body, or server-sent events of chunks); the streamed answer and the whole one
must give the same ToolCall list, and a tool run must send the function
responses back as Gemini pairs them: by name and order, with the id only where
Gemini gave one, and the turn's thought signature on its first function call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import relaykit
from relaykit import Message, ToolCall
from relaykit.testing import Response, ScriptedServer, one_try_config
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
MODEL = "gemini/gemini-2.5-flash"
USAGE = {"promptTokenCount": 5, "candidatesTokenCount": 7, "totalTokenCount": 12}


@contextmanager
def serving(*responses: Response) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with ScriptedServer(*responses) as server:
        yield server.url, server.bodies


def config(url: str) -> dict[str, Any]:
    return one_try_config({"gemini": {"base_url": url, "api_key": KEY}})


def answer(*parts: dict[str, Any], finish: str = "STOP") -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": list(parts)}, "finishReason": finish}
        ],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
    }


def chunks(*parts_per_chunk: list[dict[str, Any]]) -> Response:
    """A stream whose chunks hold ``parts_per_chunk``; the last one finishes."""
    events = []
    for i, parts in enumerate(parts_per_chunk):
        last = i == len(parts_per_chunk) - 1
        chunk: dict[str, Any] = {
            "candidates": [{"content": {"role": "model", "parts": parts}}],
            "modelVersion": "gemini-2.5-flash",
            "responseId": "resp-1",
        }
        if last:
            chunk["candidates"][0]["finishReason"] = "STOP"
            chunk["usageMetadata"] = USAGE
        events.append(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
    return Response(200, {"content-type": "text/event-stream"}, events)


SIG = "c2lnbmF0dXJlLW9mLXN0ZXAtMQ=="
STEP_1: list[dict[str, Any]] = [
    {"text": "Checking both. "},
    {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}, "thoughtSignature": SIG},
    {"functionCall": {"name": "weather", "args": {"city": "Lima"}}},
    {"functionCall": {"name": "now"}},  # args absent
]
STEP_2 = [{"functionCall": {"name": "now", "args": {}}}]
EXPECTED_1 = (
    ToolCall("gemini-call-0", "weather", {"city": "Oslo"}),
    ToolCall("gemini-call-1", "weather", {"city": "Lima"}),
    ToolCall("gemini-call-2", "now", {}),
)


@pytest.mark.anyio
async def test_calls_across_chunks_agree_with_the_whole_answer() -> None:
    stream = chunks(STEP_1[:1], STEP_1[1:2], STEP_1[2:])
    with serving(stream, Response.json(answer(*STEP_1))) as (url, _):
        async with relaykit.Client(config(url), env={}) as client:
            async with client.stream(MODEL, "hi") as s:
                async for _ in s:
                    pass
            whole = await client.chat(MODEL, "hi")
    assert s.response.tool_calls == whole.tool_calls == EXPECTED_1
    assert s.response.text == whole.text == "Checking both. "
    assert s.response.finish_reason == whole.finish_reason == "tool_calls"
    assert s.response.reasoning_signature == whole.reasoning_signature == SIG


def weather(city: str) -> str:
    """The weather."""
    return f"sunny in {city}"


def now() -> str:
    """The time."""
    raise RuntimeError("clock broken")


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [True, False])
async def test_a_tool_run_pairs_results_by_name_and_order(streamed: bool) -> None:
    if streamed:
        responses = [
            chunks(STEP_1[:2], STEP_1[2:]),
            chunks(STEP_2),
            chunks([{"text": "done"}]),
        ]
    else:
        responses = [
            Response.json(answer(*STEP_1)),
            Response.json(answer(*STEP_2)),
            Response.json(answer({"text": "done"})),
        ]
    with serving(*responses) as (url, bodies):
        async with relaykit.Client(config(url), env={}) as client:
            if streamed:
                async with client.stream_tools(MODEL, "hi", [weather, now]) as run:
                    async for _ in run:
                        pass
                result = run.run
            else:
                result = await client.run_tools(MODEL, "hi", [weather, now])
    assert result.response.text == "done"
    assert result.steps[0].tool_calls == EXPECTED_1
    second = bodies[1]["contents"]
    # the model's turn as it came: no made-up ids, the signature on the first call
    assert second[1]["parts"] == [
        {"text": "Checking both. "},
        {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}, "thoughtSignature": SIG},
        {"functionCall": {"name": "weather", "args": {"city": "Lima"}}},
        {"functionCall": {"name": "now", "args": {}}},
    ]
    assert second[2]["role"] == "user"
    assert second[2]["parts"] == [
        {"functionResponse": {"name": "weather", "response": {"output": "sunny in Oslo"}}},
        {"functionResponse": {"name": "weather", "response": {"output": "sunny in Lima"}}},
        {
            "functionResponse": {
                "name": "now",
                "response": {"error": "RuntimeError: clock broken"},
            }
        },
    ]
    third = bodies[2]["contents"]
    assert third[:3] == second
    assert third[3]["parts"] == [{"functionCall": {"name": "now", "args": {}}}]
    assert third[4]["parts"] == [
        {"functionResponse": {"name": "now", "response": {"error": "RuntimeError: clock broken"}}}
    ]


@pytest.mark.anyio
async def test_calls_gemini_did_not_make_carry_the_dummy_signature_in_the_current_turn(
    mock: GeminiMock,
) -> None:
    # Gemini 3 refuses a function call of the current turn without its thought
    # signature ("Function call is missing a thought_signature"): a tool run that
    # began on another provider (a fallback) or a call written by hand has none,
    # so it goes with the dummy Gemini's docs give for such calls. Calls of an
    # earlier turn, which Gemini does not check, go as they are.
    conversation = [
        Message.user("first"),
        Message.assistant("", [ToolCall("toolu_0", "now", {})]),
        Message.tool("toolu_0", "noon"),
        Message.assistant("It is noon."),
        Message.user("and the weather?"),
        Message.assistant("Looking.", [ToolCall("toolu_1", "weather", {"city": "Oslo"})]),
        Message.tool("toolu_1", "sunny"),
        Message.assistant(
            "", [ToolCall("call_2", "weather", {"city": "Lima"}), ToolCall("call_3", "now", {})]
        ),
        Message.tool("call_2", "rain"),
        Message.tool("call_3", "one"),
    ]
    async with relaykit.Client(
        one_try_config({"gemini": {"base_url": mock.base_url, "api_key": KEY}}), env={}
    ) as client:
        r = await client.chat("gemini/gemini-3-flash-preview", conversation)
    assert r.text
    contents = mock.requests[-1].json()["contents"]
    signed = [
        [p.get("thoughtSignature") for p in c["parts"] if "functionCall" in p]
        for c in contents
        if c["role"] == "model" and any("functionCall" in p for p in c["parts"])
    ]
    assert signed == [
        [None],
        ["skip_thought_signature_validator"],
        ["skip_thought_signature_validator", None],
    ]
