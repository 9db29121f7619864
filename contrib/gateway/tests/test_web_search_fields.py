"""Where citations go in each dialect's answer, case by case (no HTTP: the SDK tests in
test_web_search_sdk.py cover the wire)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from relaykit import (
    ChatResponse,
    Citation,
    Finish,
    InvalidRequestError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from relaykit_gateway.anthropic_dialect import AnthropicDialect
from relaykit_gateway.responses_dialect import ResponsesDialect
from relaykit_gateway.web_search_fields import cited_blocks, spans

TEXT = "Intro. Cited claim. Outro."
CLAIM = Citation(url="https://a.example/", start=7, end=19)  # "Cited claim."


def _events(data: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(line[len("data: ") :])
        for line in data.decode().splitlines()
        if line.startswith("data: ")
    ]


def _encode(encoder: Any, events: list[StreamEvent], response: ChatResponse) -> list[Any]:
    out = b"".join(encoder.event(e) for e in events) + encoder.end(response)
    return _events(out)


def test_a_cited_span_is_a_block_and_overlapping_citations_cover_their_pieces() -> None:
    wide = Citation(url="https://b.example/", start=0, end=19)  # "Intro. Cited claim."
    blocks = cited_blocks(TEXT, (CLAIM, wide))
    assert [(b["text"], [c["url"] for c in b.get("citations", [])]) for b in blocks] == [
        ("Intro. ", ["https://b.example/"]),
        ("Cited claim.", ["https://a.example/", "https://b.example/"]),
        (" Outro.", []),
    ]
    assert "".join(b["text"] for b in blocks) == TEXT


def test_a_point_citation_goes_on_the_block_that_ends_there() -> None:
    point = Citation(url="https://p.example/", start=6, end=6)
    first, second = cited_blocks(TEXT, (point,))
    assert (first["text"], [c["url"] for c in first["citations"]]) == ("Intro.", [point.url])
    assert "citations" not in second
    (only,) = cited_blocks("", (point,))  # no text: still one (empty) block carrying it
    assert only["text"] == "" and only["citations"][0]["url"] == point.url


def test_ranges_are_kept_inside_the_text_and_a_missing_one_is_all_of_it() -> None:
    beyond = Citation(url="https://x.example/", start=20, end=99)
    backwards = Citation(url="https://y.example/", start=5, end=2)
    whole = Citation(url="https://z.example/", start=3)  # no end: not a range
    assert [(s, e) for _, s, e in spans((beyond, backwards, whole), 26)] == [
        (20, 26),
        (5, 5),
        (0, 26),
    ]


def test_an_anthropic_stream_starts_a_block_for_a_citation_of_text_to_come() -> None:
    # Anthropic's order: a cited span's citations first, then its text
    dialect = AnthropicDialect()
    call = dialect.parse(
        {"model": "fake/m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}, ()
    )
    events: list[StreamEvent] = [
        TextDelta("Intro. "),
        CLAIM,
        TextDelta("Cited claim."),
        Citation(url="https://later.example/", start=0, end=7),  # cites text already sent
        Finish("stop"),
    ]
    out = _encode(dialect.encoder(call), events, ChatResponse(text=TEXT))
    blocks: dict[int, list[str]] = {}
    for e in out:
        if e["type"] == "content_block_start":
            blocks[e["index"]] = []
        elif e["type"] == "content_block_delta":
            delta = e["delta"]
            blocks[e["index"]].append(
                delta["text"] if delta["type"] == "text_delta" else delta["citation"]["url"]
            )
    assert blocks == {
        0: ["Intro. "],
        1: ["https://a.example/", "Cited claim.", "https://later.example/"],
    }


def test_a_responses_stream_keeps_citations_that_follow_a_tool_call() -> None:
    dialect = ResponsesDialect()
    encoder = dialect.encoder(dialect.parse({"model": "fake/m", "input": "hi"}, ()))
    events: list[StreamEvent] = [
        TextDelta("Intro. "),
        ToolCallDelta(0, "call_1", "get_weather", "{}"),
        TextDelta("Cited claim."),
        CLAIM,
        Finish("stop"),
    ]
    out = _encode(encoder, events, ChatResponse(text="Intro. Cited claim."))
    added = [e for e in out if e["type"] == "response.output_text.annotation.added"]
    (annotation,) = added
    # the second message begins at character 7 of the answer: its range is its own
    assert (annotation["annotation"]["start_index"], annotation["annotation"]["end_index"]) == (
        0,
        12,
    )
    final = out[-1]["response"]["output"]
    assert [item["type"] for item in final] == ["message", "function_call", "message"]
    assert final[2]["content"][0]["annotations"] == [annotation["annotation"]]
    assert final[0]["content"][0]["annotations"] == []


def test_a_citation_after_the_last_text_gets_a_message_of_its_own() -> None:
    dialect = ResponsesDialect()
    encoder = dialect.encoder(dialect.parse({"model": "fake/m", "input": "hi"}, ()))
    events: list[StreamEvent] = [
        TextDelta("Intro."),
        ToolCallDelta(0, "call_1", "get_weather", "{}"),
        Citation(url="https://late.example/"),
        Finish("tool_calls"),
    ]
    out = _encode(encoder, events, ChatResponse(text="Intro.", finish_reason="tool_calls"))
    final = out[-1]["response"]["output"]
    assert [item["type"] for item in final] == ["message", "function_call", "message"]
    (annotation,) = final[2]["content"][0]["annotations"]
    assert annotation["url"] == "https://late.example/"


@pytest.mark.parametrize(
    ("dialect", "body", "param"),
    [
        (
            AnthropicDialect(),
            {"tools": [{"type": "web_fetch_20250910", "name": "web_fetch"}]},
            "tools.0.type",
        ),
        (
            AnthropicDialect(),
            {"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 0}]},
            "tools.0",
        ),
        (
            ResponsesDialect(),
            {"tools": [{"type": "web_search", "user_location": {"street": "x"}}]},
            "tools.0",
        ),
        (ResponsesDialect(), {"tools": {"type": "web_search"}}, "tools"),
    ],
)
def test_a_bad_or_unknown_tool_is_refused_by_name(
    dialect: Any, body: dict[str, Any], param: str
) -> None:
    base = {"model": "fake/m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(InvalidRequestError) as caught:
        dialect.parse({**base, "input": "hi", **body}, ())
    assert caught.value.param == param
