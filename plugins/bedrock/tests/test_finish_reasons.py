"""Every stop reason of Converse / ConverseStream and of the Messages API (InvokeModel,
Claude from Opus 4.7 on) over loopback, streamed and not: the answer's ``finish_reason``
and the stream's ``Finish``, with the vendor's word."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

import relaykit
from relaykit.events import Finish
from relaykit.response import FinishReason
from relaykit.testing import Reply, answer_and_stream
from relaykit_bedrock import wire
from relaykit_bedrock.testing import BedrockMock
from relaykit_bedrock.testing import messages as messages_api

NOVA = "bedrock/amazon.nova-pro-v1:0"
OPUS_4_7 = "bedrock/global.anthropic.claude-opus-4-7"  # the Messages API's

#: Converse's ``stopReason`` values (the API reference's), and relaykit's word for each;
#: one added after this was written is "other"
CONVERSE_REASONS = [
    ("end_turn", "stop"),
    ("stop_sequence", "stop"),
    ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"),
    ("guardrail_intervened", "content_filter"),
    ("content_filtered", "content_filter"),
    ("malformed_model_output", "other"),
    ("malformed_tool_use", "other"),
    ("a_reason_from_the_future", "other"),
]

#: the Messages API's ``stop_reason`` values, relaykit's word for each, and the raw
#: reason the stream's ``Finish`` keeps: Converse's word, as the route reads the answer
#: as Converse would give it (``refusal`` is ``content_filtered``: see messages_wire)
MESSAGES_REASONS = [
    ("end_turn", "stop", "end_turn"),
    ("stop_sequence", "stop", "stop_sequence"),
    ("max_tokens", "length", "max_tokens"),
    ("model_context_window_exceeded", "length", "model_context_window_exceeded"),
    ("refusal", "content_filter", "content_filtered"),
    ("pause_turn", "other", "pause_turn"),
    ("a_reason_from_the_future", "other", "a_reason_from_the_future"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason"), CONVERSE_REASONS)
async def test_each_converse_stop_reason(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client], said: str, reason: FinishReason
) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with make_client(region=mock.region) as c:
        r, finishes, s = await answer_and_stream(c, NOVA, events=Finish, max_tokens=100)
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert r.text == s.text == "Partial answer"
    assert finishes == [Finish(reason, said)]


@pytest.mark.anyio
@pytest.mark.parametrize(("said", "reason", "raw"), MESSAGES_REASONS)
async def test_each_messages_api_stop_reason(
    mock: BedrockMock,
    make_client: Callable[..., relaykit.Client],
    said: str,
    reason: FinishReason,
    raw: str,
) -> None:
    mock.script.push(*[Reply(text="Partial answer", vendor_finish=said)] * 2)
    async with make_client(region=mock.region) as c:
        r, finishes, s = await answer_and_stream(c, OPUS_4_7, events=Finish, max_tokens=100)
    assert (r.finish_reason, s.finish_reason) == (reason, reason)
    assert r.text == s.text == "Partial answer"
    assert finishes == [Finish(reason, raw)]


@pytest.mark.anyio
@pytest.mark.parametrize("model", [NOVA, OPUS_4_7])
async def test_tool_use_is_tool_calls(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client], model: str
) -> None:
    call = Reply(tool_calls=(("lookup", {"q": "x"}),))
    mock.script.push(call, call)
    async with make_client(region=mock.region) as c:
        r, finishes, s = await answer_and_stream(c, model, events=Finish, max_tokens=100)
    assert (r.finish_reason, s.finish_reason) == ("tool_calls", "tool_calls")
    assert finishes == [Finish("tool_calls", "tool_use")]
    assert r.tool_calls[0].arguments == s.tool_calls[0].arguments == {"q": "x"}


@pytest.mark.anyio
async def test_a_messages_stream_cut_after_its_stop_reason_is_whole(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client]
) -> None:
    """``message_delta`` carries the stop reason and the final usage; the stream is
    whole without ``message_stop``, as relaykit-anthropic reads Claude's own."""
    mock.script.push(Reply(text="A whole answer.", output_tokens=7, stream_fault="truncate"))
    async with (
        make_client(region=mock.region) as c,
        c.stream(OPUS_4_7, "Go on", max_tokens=100) as s,
    ):
        finishes = [e async for e in s if isinstance(e, Finish)]
    assert finishes == [Finish("stop", "end_turn")]
    r = s.response
    assert (r.text, r.finish_reason, r.usage.output_tokens) == ("A whole answer.", "stop", 7)


#: an answer scripted to stop on a stop sequence
STOPPED = Reply(text="One two", stop_sequence=" three")


@pytest.mark.anyio
async def test_claudes_messages_api_names_the_stop_sequence_met(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client]
) -> None:
    """Claude's body says which sequence it stopped on; the answer and the stream's
    ``Finish`` keep it (Converse's word for the reason, as above)."""
    mock.script.push(STOPPED, STOPPED)
    async with make_client(region=mock.region) as c:
        r = await c.chat(OPUS_4_7, "Count", max_tokens=100, stop=[" three"])
        async with c.stream(OPUS_4_7, "Count", max_tokens=100, stop=[" three"]) as s:
            finishes = [e async for e in s if isinstance(e, Finish)]
    assert (r.finish_reason, r.stop_sequence) == ("stop", " three")
    assert finishes == [Finish("stop", "stop_sequence", stop_sequence=" three")]
    assert (s.response.text, s.response.stop_sequence) == ("One two", " three")


@pytest.mark.anyio
async def test_converse_says_a_stop_sequence_stopped_it_but_not_which(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client]
) -> None:
    """Converse names the sequence only in ``additionalModelResponseFields``, when the
    request asks for it: a plain answer has none."""
    mock.script.push(STOPPED, STOPPED)
    async with make_client(region=mock.region) as c:
        r, finishes, s = await answer_and_stream(c, NOVA, events=Finish, max_tokens=100)
    assert (r.finish_reason, r.stop_sequence, s.stop_sequence) == ("stop", None, None)
    assert finishes == [Finish("stop", "stop_sequence")]


@pytest.mark.anyio
async def test_converse_names_it_when_the_call_asks(
    mock: BedrockMock, make_client: Callable[..., relaykit.Client]
) -> None:
    mock.script.push(STOPPED, STOPPED)
    asked = {"additionalModelResponseFieldPaths": ["/stop_sequence"]}
    async with make_client(region=mock.region) as c:
        r = await c.chat(NOVA, "Count", max_tokens=100, stop=[" three"], extra=asked)
        async with c.stream(NOVA, "Count", max_tokens=100, extra=asked) as s:
            finishes = [e async for e in s if isinstance(e, Finish)]
    assert mock.last_request.json()["additionalModelResponseFieldPaths"] == ["/stop_sequence"]
    assert (r.finish_reason, r.stop_sequence) == ("stop", " three")
    assert finishes == [Finish("stop", "stop_sequence", stop_sequence=" three")]
    assert s.response.stop_sequence == " three"


def test_the_mocks_claude_body_has_it_where_the_api_puts_it() -> None:
    use = {"input_tokens": 3, "output_tokens": 2}
    whole = messages_api.message(
        STOPPED, "m", "msg_1", "tool_", use, messages_api.met_stop_sequence(STOPPED, {})
    )
    assert (whole["stop_reason"], whole["stop_sequence"]) == ("stop_sequence", " three")
    body = b"".join(
        e
        for e in messages_api.sse_events(STOPPED, "m", "msg_1", "tool_", use, " three")
        if isinstance(e, bytes)
    )
    deltas = [
        json.loads(line[len(b"data: ") :])
        for line in body.splitlines()
        if line.startswith(b"data: ") and b'"message_delta"' in line
    ]
    assert [d["delta"] for d in deltas] == [
        {"stop_reason": "stop_sequence", "stop_sequence": " three"}
    ]


def test_converses_additional_fields_name_it_when_asked_for() -> None:
    """With ``additionalModelResponseFieldPaths: ["/stop_sequence"]`` Converse answers
    Claude's ``stop_sequence`` in ``additionalModelResponseFields``."""
    data = {
        "output": {"message": {"role": "assistant", "content": [{"text": "One two"}]}},
        "stopReason": "stop_sequence",
        "additionalModelResponseFields": {"stop_sequence": " three"},
        "usage": {"inputTokens": 3, "outputTokens": 2},
    }
    assert wire.response(data, "m").stop_sequence == " three"
    data["additionalModelResponseFields"] = {"stop_sequence": None}
    assert wire.response(data, "m").stop_sequence is None
