"""The SSE decoder on raw bytes: every event kind, odd orders, and arbitrary chunking."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaykit import StreamError
from relaykit.assembly import ResponseAssembler
from relaykit.events import (
    Finish,
    ReasoningDelta,
    SearchQuery,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relaykit.response import ChatResponse, Usage
from relaykit.testing import Reply
from relaykit_anthropic.stream_decoding import MessageStreamDecoder
from relaykit_anthropic.testing import render_stream, sse, thinking_signature

USAGE = {
    "input_tokens": 6,
    "cache_creation_input_tokens": 2,
    "cache_read_input_tokens": 4,
    "output_tokens": 9,
}
REPLY = Reply(
    text="Grüße — ünïcödé text, split everywhere.",
    reasoning="thinking about it",
    tool_calls=(("get_weather", {"city": "São Paulo"}), ("get_weather", {"city": "Oslo"})),
)


def body(reply: Reply = REPLY) -> bytes:
    return b"".join(
        x
        for x in render_stream(reply, message_id="msg_1", model="claude-x", usage=USAGE)
        if isinstance(x, bytes)
    )


def decode(chunks: list[bytes], json_tool: str | None = None) -> tuple[list[StreamEvent], bool]:
    decoder = MessageStreamDecoder(provider="anthropic", model="claude-x", json_tool=json_tool)
    events = [e for c in chunks for e in decoder.feed(c)]
    return events, decoder.finished


def assemble(events: list[StreamEvent]) -> ChatResponse:
    a = ResponseAssembler()
    for e in events:
        a.add(e)
    return a.response()


def test_a_full_stream() -> None:
    events, finished = decode([body()])
    assert finished
    assert events[0] == StreamStart("msg_1", "claude-x")
    r = assemble(events)
    assert r.text == REPLY.text
    assert r.reasoning == "thinking about it"
    assert r.reasoning_signature == thinking_signature("thinking about it")
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [
        ("toolu_mock000100", "get_weather", {"city": "São Paulo"}),
        ("toolu_mock000101", "get_weather", {"city": "Oslo"}),
    ]
    assert r.finish_reason == "tool_calls"
    assert r.usage == Usage(12, 9, cached_input_tokens=4, cache_write_input_tokens=2)
    assert events[-1] == Finish("tool_calls", "tool_use")
    # thinking never leaks into text, nor text into thinking
    assert not any(isinstance(e, TextDelta) and "thinking" in e.text for e in events)
    assert all(isinstance(e, ReasoningDelta) for e in events if getattr(e, "signature", None))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_chunking_gives_the_same_events(data: st.DataObject) -> None:
    raw = body()
    cuts = sorted(data.draw(st.sets(st.integers(1, len(raw) - 1), max_size=40)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert decode(chunks) == decode([raw])


def test_byte_by_byte_and_crlf() -> None:
    raw = body()
    whole = decode([raw])
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == whole
    crlf = raw.replace(b"\n", b"\r\n")
    assert decode([crlf[i : i + 1] for i in range(len(crlf))]) == whole


def event(name: str, **data: Any) -> bytes:
    return sse(name, {"type": name, **data})


START = event(
    "message_start",
    message={
        "id": "msg_2",
        "model": "m",
        "content": [],
        "usage": {"input_tokens": 10, "output_tokens": 1},
    },
)
STOP = event("message_stop")


def test_usage_merges_cumulative_message_delta() -> None:
    # Newer API versions repeat the input counts in message_delta; older ones send only output.
    events, _ = decode(
        [
            START,
            event(
                "message_delta",
                delta={"stop_reason": "end_turn"},
                usage={"input_tokens": 10, "cache_read_input_tokens": 30, "output_tokens": 7},
            ),
            event("message_delta", delta={}, usage={"output_tokens": 8}),
            STOP,
        ]
    )
    updates = [e.usage for e in events if isinstance(e, UsageUpdate)]
    assert updates == [Usage(10, 1), Usage(40, 7, 30), Usage(40, 8, 30)]
    assert assemble(events).usage == Usage(40, 8, 30)


def test_pings_unknown_events_and_blocks_are_ignored() -> None:
    events, finished = decode(
        [
            START,
            event("ping"),
            event(
                "content_block_start",
                index=0,
                content_block={"type": "redacted_thinking", "data": "xyz"},
            ),
            event("content_block_stop", index=0),
            event("content_block_start", index=1, content_block={"type": "text", "text": ""}),
            event(
                "content_block_delta", index=1, delta={"type": "citations_delta", "citation": {}}
            ),
            event("content_block_delta", index=1, delta={"type": "text_delta", "text": "ok"}),
            event("brand_new_event", anything=1),
            event("message_delta", delta={"stop_reason": "pause_turn"}, usage={"output_tokens": 3}),
            STOP,
            event(
                "content_block_delta",
                index=1,
                delta={"type": "text_delta", "text": "after the end"},
            ),
        ]
    )
    assert finished
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("ok")]
    assert assemble(events).finish_reason == "other"


def test_a_web_searchs_query_is_read_whole_and_other_server_tools_are_not() -> None:
    def block(index: int, content: dict[str, Any], *deltas: str) -> list[bytes]:
        parts = [
            event(
                "content_block_delta",
                index=index,
                delta={"type": "input_json_delta", "partial_json": d},
            )
            for d in deltas
        ]
        return [
            event("content_block_start", index=index, content_block=content),
            *parts,
            event("content_block_stop", index=index),
        ]

    search = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    events, _ = decode(
        [
            START,
            # the query's JSON cut inside an escape, as the API's fragments may be
            *block(0, search, '{"query": "caf\\u00', 'e9 \\"Paris\\', '" 2026"}'),
            # a start that holds its input already (nothing promises one never does)
            *block(1, {**search, "id": "srvtoolu_2", "input": {"query": "menu"}}),
            *block(2, {**search, "id": "srvtoolu_3", "name": "web_fetch"}, '{"url": "x"}'),
            *block(3, {**search, "id": "srvtoolu_4"}, '{"query": '),  # never whole
            *block(4, {**search, "id": "srvtoolu_5"}, '{"query": "  "}'),  # nothing asked
            event("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 3}),
            STOP,
        ]
    )
    # each as soon as its input is whole (at its block's stop, or its start): before
    # what follows it, and not repeated on the finish
    searched = [e for e in events if isinstance(e, SearchQuery)]
    assert searched == [SearchQuery('café "Paris" 2026'), SearchQuery("menu")]
    (finish,) = [e for e in events if isinstance(e, Finish)]
    assert finish.search_queries == ()
    assert assemble(events).search_queries == ('café "Paris" 2026', "menu")
    assert not any(isinstance(e, ToolCallDelta | TextDelta) for e in events)


def test_error_event_raises_stream_error() -> None:
    decoder = MessageStreamDecoder(provider="anthropic", model="m")
    decoder.feed(START)
    with pytest.raises(StreamError) as info:
        decoder.feed(
            b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
            b'"message": "Overloaded"}}\n\n'
        )
    assert info.value.provider_message == "Overloaded"
    assert info.value.retryable
    with pytest.raises(StreamError) as info:
        decoder.feed(event("error", error={"type": "invalid_request_error", "message": "bad"}))
    assert not info.value.retryable


def test_unreadable_data_raises_stream_error() -> None:
    with pytest.raises(StreamError, match="unreadable"):
        decode([b"event: message_start\ndata: {not json\n\n"])


def test_a_stream_without_message_stop_is_unfinished() -> None:
    raw = body()
    _, finished = decode([raw[: raw.index(b"event: message_stop")]])
    assert not finished


def test_emulated_structured_output_streams_as_text() -> None:
    answer = {"answer": 42}
    reply = Reply(tool_calls=(("response", answer),))
    events, _ = decode([body(reply)], json_tool="response")
    assert not any(isinstance(e, ToolCallDelta) for e in events)
    r = assemble(events)
    assert (json.loads(r.text), r.finish_reason, r.tool_calls) == (answer, "stop", ())


def test_emulated_structured_output_whole_in_its_start_streams_as_text() -> None:
    start = {"type": "tool_use", "id": "toolu_1", "name": "response", "input": {"answer": 42}}
    events, _ = decode(
        [
            START,
            event("content_block_start", index=0, content_block=start),
            event("content_block_stop", index=0),
            event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 3}),
            STOP,
        ],
        json_tool="response",
    )
    r = assemble(events)
    assert (json.loads(r.text), r.finish_reason, r.tool_calls) == ({"answer": 42}, "stop", ())


def test_a_final_event_without_its_blank_line_still_counts() -> None:
    decoder = MessageStreamDecoder(provider="anthropic", model="m")
    decoder.feed(START + b'event: message_stop\ndata: {"type": "message_stop"}')
    assert not decoder.finished
    decoder.flush()
    assert decoder.finished


@pytest.mark.parametrize("end", ["next chunk", "end of body"])
def test_events_before_an_error_in_the_same_chunk_come_out_first(end: str) -> None:
    # One read can carry several events (aiohttp returns whatever is buffered).
    decoder = MessageStreamDecoder(provider="anthropic", model="m")
    text = event("content_block_delta", index=0, delta={"type": "text_delta", "text": "partial"})
    error = event("error", error={"type": "overloaded_error", "message": "Overloaded"})
    events = decoder.feed(START + text + error)
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("partial")]
    with pytest.raises(StreamError, match="Overloaded"):
        decoder.feed(b"") if end == "next chunk" else decoder.flush()


@pytest.mark.parametrize(
    ("kind", "status", "retryable"),
    [
        ("overloaded_error", 529, True),
        ("api_error", 500, True),
        ("rate_limit_error", 429, True),
        # Anthropic's errors page: 504 timeout_error, "the request timed out while
        # processing": another attempt may finish (it was taken as not retryable)
        ("timeout_error", 504, True),
        ("billing_error", 402, False),
        ("invalid_request_error", 400, False),
    ],
)
def test_an_error_events_type_gives_its_status_and_whether_to_retry(
    kind: str, status: int, retryable: bool
) -> None:
    decoder = MessageStreamDecoder(provider="anthropic", model="m")
    decoder.feed(START)
    with pytest.raises(StreamError) as info:
        decoder.feed(event("error", error={"type": kind, "message": "it failed"}))
    assert (info.value.status, info.value.retryable) == (status, retryable)
    assert info.value.provider_message == "it failed"
