"""The Messages route's stream reader on Anthropic's events, read as ConverseStream's.

What the mock never sends but Anthropic's format allows: a ``content_block_start``
that holds what its deltas usually bring (a tool's whole input, a thinking
block's signature). The anthropic SDK keeps what a start holds, and so does
relaykit-anthropic's decoder; this reader dropped both.
"""

from __future__ import annotations

from typing import Any

from relaykit.assembly import ResponseAssembler
from relaykit.response import ChatResponse
from relaykit_bedrock.messages_stream import MessagesStreamReader
from relaykit_bedrock.stream_events import ConverseStreamTranslator

START = ("message_start", {"message": {"id": "msg_1", "usage": {"input_tokens": 5}}})
END = [
    ("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}),
    ("message_stop", {}),
]


def read(events: list[tuple[str, dict[str, Any]]]) -> ChatResponse:
    reader = MessagesStreamReader()
    translator = ConverseStreamTranslator("global.anthropic.claude-opus-4-7", "msg_1")
    assembler = ResponseAssembler()
    for name, data in events:
        for converse_name, converse in reader.events(name, data):
            for event in translator.events(converse_name, converse):
                assembler.add(event)
    return assembler.response()


def block(index: int, start: dict[str, Any], *deltas: dict[str, Any]) -> list[Any]:
    return [
        ("content_block_start", {"index": index, "content_block": start}),
        *(("content_block_delta", {"index": index, "delta": d}) for d in deltas),
        ("content_block_stop", {"index": index}),
    ]


def test_a_tool_input_whole_in_its_start_is_kept() -> None:
    whole = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
    r = read([START, *block(0, whole), *END])
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [
        ("toolu_1", "get_weather", {"city": "Oslo"})
    ]
    assert r.finish_reason == "tool_calls"


def test_fragments_replace_the_input_a_start_holds() -> None:
    start = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"stale": True}}
    fragments = (
        {"type": "input_json_delta", "partial_json": ""},
        {"type": "input_json_delta", "partial_json": '{"city": '},
        {"type": "input_json_delta", "partial_json": '"Oslo"}'},
    )
    empty = {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {}}
    r = read([START, *block(0, start, *fragments), *block(1, empty), *END])
    assert [c.arguments for c in r.tool_calls] == [{"city": "Oslo"}, {}]


def test_a_signature_in_a_thinking_start_is_kept() -> None:
    thought = {"type": "thinking", "thinking": "Oslo is cold.", "signature": "sig-1"}
    late = {"type": "thinking", "thinking": ""}
    more = (
        {"type": "thinking_delta", "thinking": "Rain."},
        {"type": "signature_delta", "signature": "sig-2"},
    )
    r = read([START, *block(0, thought), *block(1, late, *more), *END])
    assert [(p.text, p.signature) for p in r.reasoning_parts] == [
        ("Oslo is cold.", "sig-1"),
        ("Rain.", "sig-2"),
    ]
