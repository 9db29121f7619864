"""What the contract suite cannot see: the exact JSON sent, and stream decoding in any chunking."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relaykit
from relaykit.events import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relaykit.testing import PDF, PNG, WEATHER_TOOL, Reply
from relaykit.testing.tool_histories import CROSS_PROVIDER_IDS, TOOL_NAMES, cross_provider_tool_run
from relaykit_cohere import provider
from relaykit_cohere.testing import CohereMock
from relaykit_cohere.testing import client_for as client
from relaykit_cohere.wire import StreamParser

KEY = "co-test-key-0123456789abcdef"  # conftest's mock expects it
MODEL = "cohere/command-a-03-2025"


# -- the request body ------------------------------------------------------------


@pytest.mark.anyio
async def test_request_body_and_headers(mock: CohereMock) -> None:
    call = relaykit.ToolCall("call_1", "get_weather", {"city": "Paris"})
    messages = [
        relaykit.Message.system("Be brief."),
        relaykit.Message.user(
            "What is this?", relaykit.ImagePart(data=PNG, media_type="image/png")
        ),
        relaykit.Message("assistant", (relaykit.ReasoningPart("I should look it up."), call)),
        relaykit.Message.tool("call_1", '{"sky": "sunny"}'),
        relaykit.Message.assistant("It is sunny."),
        relaykit.Message.user("Thanks"),
    ]
    async with client(mock) as c:
        await c.chat(
            MODEL,
            messages,
            max_tokens=64,
            temperature=0.3,
            top_p=0.9,
            stop=["END"],
            seed=7,
            tools=[WEATHER_TOOL],
            tool_choice="required",
            response_format={"type": "object", "properties": {"a": {"type": "integer"}}},
            metadata={"user": "u1"},
            extra={"safety_mode": "CONTEXTUAL"},
        )
    request = mock.last_request
    assert (request.method, request.path) == ("POST", "/v2/chat")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {
                            "url": relaykit.ImagePart(data=PNG, media_type="image/png").data_url()
                        },
                    },
                ],
            },
            {
                "role": "assistant",
                "tool_plan": "I should look it up.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'},
            {"role": "assistant", "content": "It is sunny."},
            {"role": "user", "content": "Thanks"},
        ],
        "max_tokens": 64,
        "temperature": 0.3,
        "p": 0.9,
        "stop_sequences": ["END"],
        "seed": 7,
        "tools": [{"type": "function", "function": WEATHER_TOOL}],
        "tool_choice": "REQUIRED",
        "response_format": {
            "type": "json_object",
            "json_schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
        },
        "stream": False,
        "safety_mode": "CONTEXTUAL",
    }


@pytest.mark.anyio
async def test_tool_choice_and_response_format_variants(mock: CohereMock) -> None:
    other = {**WEATHER_TOOL, "name": "get_time"}
    async with client(mock) as c:
        await c.chat(
            MODEL,
            "a",
            tools=[WEATHER_TOOL, other],
            tool_choice="auto",
            response_format={"type": "json_object"},
        )
        auto = mock.last_request.json()
        await c.chat(
            MODEL,
            "b",
            tools=[WEATHER_TOOL, other],
            tool_choice="none",
            response_format={"type": "text"},
        )
        none = mock.last_request.json()
        await c.chat(MODEL, "c", tools=[WEATHER_TOOL, other], tool_choice="get_time")
        named = mock.last_request.json()
        with pytest.raises(relaykit.InvalidRequestError):
            await c.chat(MODEL, "d", tools=[WEATHER_TOOL], tool_choice="get_time")
        async with c.stream(MODEL, "e") as s:
            async for _ in s:
                pass
        streamed = mock.last_request
    assert "tool_choice" not in auto
    assert len(auto["tools"]) == 2
    assert auto["response_format"] == {"type": "json_object"}
    assert none["tool_choice"] == "NONE"
    assert none["response_format"] == {"type": "text"}
    assert named["tool_choice"] == "REQUIRED"
    assert [t["function"]["name"] for t in named["tools"]] == ["get_time"]
    assert streamed.json()["stream"] is True
    assert streamed.headers["accept"] == "text/event-stream"


# -- responses -------------------------------------------------------------------


@pytest.mark.anyio
async def test_response_reasoning_usage_and_finish(mock: CohereMock) -> None:
    mock.script.push(
        Reply(text="4", reasoning="2 plus 2", input_tokens=9, output_tokens=3),
        Reply(reasoning="I will call the tool.", tool_calls=(("get_weather", {"city": "Oslo"}),)),
        Reply(text="cut", finish="length"),
    )
    async with client(mock) as c:
        thinking = await c.chat(MODEL, "2+2?")
        planned = await c.chat(MODEL, "Oslo?", tools=[WEATHER_TOOL])
        cut = await c.chat(MODEL, "long")
    # billed units, not the larger `tokens` that include Cohere's prompt template
    assert (thinking.text, thinking.reasoning) == ("4", "2 plus 2")
    assert (thinking.usage.input_tokens, thinking.usage.output_tokens) == (9, 3)
    assert planned.reasoning == "I will call the tool."
    assert planned.finish_reason == "tool_calls"
    assert planned.to_message().content[0] == relaykit.ReasoningPart("I will call the tool.")
    assert cut.finish_reason == "length"


# -- documents ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_text_documents_go_in_cohere_documents_streamed_or_not(mock: CohereMock) -> None:
    notes = relaykit.DocumentPart(data="Ship on Friday. ✓".encode(), media_type="text/plain")
    named = relaykit.DocumentPart(data=b"Budget: 10k", media_type="text/plain", name="budget")
    again = relaykit.DocumentPart(data=b"Budget: 12k", media_type="text/plain", name="budget")
    messages = [
        relaykit.Message.user([relaykit.TextPart("Read these"), notes, named]),
        relaykit.Message.assistant("Read."),
        relaykit.Message.user([again, relaykit.TextPart("When do we ship?")]),
    ]
    caller_own = {"data": {"snippet": "from the caller's extra"}}
    async with client(mock) as c:
        r = await c.chat(MODEL, messages, extra={"documents": [caller_own]})
        sent = mock.last_request.json()
        async with c.stream(MODEL, messages) as s:
            async for _ in s:
                pass
    assert (r.text, s.response.text) == ("echo: When do we ship?", "echo: When do we ship?")
    # The documents leave the turns, which keep their text; Cohere grounds its answer in them.
    assert sent["messages"] == [
        {"role": "user", "content": "Read these"},
        {"role": "assistant", "content": "Read."},
        {"role": "user", "content": "When do we ship?"},
    ]
    assert sent["documents"] == [
        {"data": {"title": "document.txt", "text": "Ship on Friday. ✓"}},
        {"id": "budget", "data": {"title": "budget", "text": "Budget: 10k"}},
        # a second "budget" gets no id of its own: Cohere makes one up rather than two clash
        {"data": {"title": "budget", "text": "Budget: 12k"}},
        caller_own,
    ]
    assert len(mock.last_request.json()["documents"]) == 3  # the stream had no extra


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("document", "words"),
    [
        (relaykit.DocumentPart(data=PDF, name="q3.pdf"), "a application/pdf document (q3.pdf)"),
        (relaykit.DocumentPart(url="https://example.com/q3.txt"), "given by URL"),
        (relaykit.DocumentPart(data=b"\xff\xfe", media_type="text/plain"), "is not UTF-8"),
    ],
)
async def test_a_document_cohere_cannot_read_is_refused_before_sending(
    mock: CohereMock, document: relaykit.DocumentPart, words: str
) -> None:
    message = relaykit.Message.user([relaykit.TextPart("summarise"), document])
    async with client(mock) as c:
        with pytest.raises(relaykit.InvalidRequestError, match="document") as refused:
            await c.chat(MODEL, [message])
    assert words in str(refused.value)
    assert refused.value.param == "messages[0].content[1]"
    assert not mock.requests


@pytest.mark.anyio
async def test_the_mock_refuses_documents_in_other_shapes(mock: CohereMock) -> None:
    documents: object
    async with client(mock) as c:
        for documents in ([{"text": "no data"}], [{"data": {"n": 1}}], {"data": {}}):
            with pytest.raises(relaykit.InvalidRequestError, match="documents"):
                await c.chat(MODEL, "hi", extra={"documents": documents})
        await c.chat(MODEL, "hi", extra={"documents": ["a plain string", {"data": {"a": "b"}}]})


@pytest.mark.anyio
async def test_a_retry_after_header_is_honoured_when_sent(mock: CohereMock) -> None:
    mock.script.push(Reply(status=429, error="slow down", headers={"retry-after": "3"}))
    async with client(mock) as c:
        with pytest.raises(relaykit.RateLimitError) as info:
            await c.chat(MODEL, "fast")
    assert info.value.retry_after == pytest.approx(3)


@pytest.mark.anyio
async def test_list_models_follows_pages_and_keeps_chat_models(
    mock: CohereMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provider, "_PAGE_SIZE", 2)
    async with client(mock) as c:
        models = await c.models("cohere")
    chat = [name for name, endpoints, _ in mock.models if "chat" in endpoints]
    assert [m.id for m in models] == chat
    gets = [r for r in mock.requests if r.method == "GET"]
    assert len(gets) == 3
    assert all(r.query["endpoint"] == "chat" for r in gets)
    by_id = {m.id: m for m in models}
    assert by_id["command-a-03-2025"].context_window == 256000
    assert by_id["command-a-03-2025"].price is not None


# -- stream decoding ---------------------------------------------------------------


def _sse(data: dict[str, Any], eol: str = "\n") -> str:
    return f"event: {data['type']}{eol}data: {json.dumps(data, ensure_ascii=False)}{eol}{eol}"


def _body(eol: str = "\n") -> bytes:
    events: list[dict[str, Any]] = [
        {
            "id": "msg-1",
            "type": "message-start",
            "delta": {
                "message": {
                    "role": "assistant",
                    "content": [],
                    "tool_plan": "",
                    "tool_calls": [],
                    "citations": [],
                }
            },
        },
        {
            "type": "content-start",
            "index": 0,
            "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}},
        },
        {
            "type": "content-delta",
            "index": 0,
            "delta": {"message": {"content": {"thinking": "Thinking é "}}},
        },
        {"type": "content-end", "index": 0},
        {
            "type": "tool-plan-delta",
            "delta": {"message": {"tool_plan": "I will look up São Paulo."}},
        },
        {
            "type": "content-start",
            "index": 1,
            "delta": {"message": {"content": {"type": "text", "text": ""}}},
        },
        {"type": "content-delta", "index": 1, "delta": {"message": {"content": {"text": "Olá, "}}}},
        {
            "type": "content-delta",
            "index": 1,
            "delta": {"message": {"content": {"text": "mundo 🌍"}}},
        },
        {"type": "content-end", "index": 1},
        {
            "type": "tool-call-start",
            "index": 0,
            "delta": {
                "message": {
                    "tool_calls": {
                        "id": "get_weather_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                }
            },
        },
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": '{"city": '}}}},
        },
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": '"São Paulo"}'}}}},
        },
        {"type": "tool-call-end", "index": 0},
        {
            "type": "tool-call-start",
            "index": 1,
            "delta": {
                "message": {
                    "tool_calls": {
                        "id": "get_weather_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city"'},
                    }
                }
            },
        },
        {
            "type": "tool-call-delta",
            "index": 1,
            "delta": {"message": {"tool_calls": {"function": {"arguments": ': "Oslo"}'}}}},
        },
        {"type": "tool-call-end", "index": 1},
        {
            "id": "msg-1",
            "type": "message-end",
            "delta": {
                "finish_reason": "TOOL_CALL",
                "usage": {
                    "billed_units": {"input_tokens": 12, "output_tokens": 30},
                    "tokens": {"input_tokens": 212, "output_tokens": 30},
                },
            },
        },
    ]
    return b": keep-alive comment\n\n" + "".join(_sse(e, eol) for e in events).encode()


EXPECTED: list[StreamEvent] = [
    StreamStart("msg-1", "command-a-03-2025"),
    ReasoningDelta("Thinking é "),
    ReasoningDelta("I will look up São Paulo."),
    TextDelta("Olá, "),
    TextDelta("mundo 🌍"),
    ToolCallDelta(0, id="get_weather_1", name="get_weather", arguments=""),
    ToolCallDelta(0, arguments='{"city": '),
    ToolCallDelta(0, arguments='"São Paulo"}'),
    ToolCallDelta(1, id="get_weather_2", name="get_weather", arguments='{"city"'),
    ToolCallDelta(1, arguments=': "Oslo"}'),
    UsageUpdate(relaykit.Usage(12, 30)),
    Finish("tool_calls", "TOOL_CALL"),
]


def parse(chunks: list[bytes]) -> list[StreamEvent]:
    parser = StreamParser(provider="cohere", model="command-a-03-2025")
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    return events + parser.close()


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_stream_decodes_split_at_every_byte_boundary(eol: str) -> None:
    body = _body(eol)
    assert parse([body]) == EXPECTED
    for i in range(len(body) + 1):
        assert parse([body[:i], body[i:]]) == EXPECTED, f"split at byte {i}"
    assert parse([body[i : i + 1] for i in range(len(body))]) == EXPECTED


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(_body())), max_size=30))
def test_stream_decodes_in_any_chunking(cuts: list[int]) -> None:
    body = _body()
    points = sorted({0, len(body), *cuts})
    assert parse([body[a:b] for a, b in itertools.pairwise(points)]) == EXPECTED


def test_a_final_event_without_its_blank_line_still_counts() -> None:
    body = _body().rstrip(b"\n")
    assert parse([body]) == EXPECTED


def test_a_body_that_ends_before_message_end_is_a_stream_error() -> None:
    body = _body()
    cut = body.index(b"event: message-end")
    with pytest.raises(relaykit.StreamError, match="message-end"):
        parse([body[:cut]])


def test_an_error_in_message_end_is_a_stream_error() -> None:
    end = _sse(
        {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "internal failure"}}
    )
    parser = StreamParser(provider="cohere", model="m")
    assert parser.feed(
        _sse({"type": "content-delta", "delta": {"message": {"content": {"text": "hi"}}}}).encode()
    ) == [TextDelta("hi")]
    with pytest.raises(relaykit.StreamError, match="internal failure"):
        parser.feed(end.encode())


@pytest.mark.parametrize("end", ["next chunk", "end of body"])
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (
            _sse({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "boom"}}),
            "boom",
        ),
        ("event: content-delta\ndata: {oops\n\n", "not JSON"),
    ],
)
def test_events_before_an_error_in_the_same_chunk_come_out_first(
    end: str, bad: str, match: str
) -> None:
    # One read can carry several events (aiohttp returns whatever is buffered).
    text = _sse({"type": "content-delta", "delta": {"message": {"content": {"text": "partial"}}}})
    parser = StreamParser(provider="cohere", model="m")
    assert parser.feed((text + bad).encode()) == [TextDelta("partial")]
    with pytest.raises(relaykit.StreamError, match=match):
        parser.feed(b"") if end == "next chunk" else parser.close()


@pytest.mark.anyio
async def test_provider_stream_reads_one_byte_at_a_time() -> None:
    """The provider's own loop, fed by an HTTP transport that sends a byte per chunk."""
    body = _body()

    async def one_byte_chunks() -> AsyncIterator[bytes]:
        for i in range(len(body)):
            yield body[i : i + 1]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v2/chat"
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=one_byte_chunks()
        )

    settings_ = relaykit.ProviderSettings(
        name="cohere", base_url="http://cohere.test", api_key=relaykit.Secret(KEY)
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        p = provider.CohereProvider(settings_, http)
        assert KEY not in repr(p)
        request = relaykit.ChatRequest(
            model="command-a-03-2025", messages=(relaykit.Message.user("hi"),)
        )
        events = [e async for e in p.stream(request)]
    assert events == EXPECTED


@pytest.mark.parametrize("path", ["/v2/chat", "/v2/embed", "/v2/rerank"])
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"\xff\xfe", "body is not valid JSON"),
        (b"[1]", "body must be a JSON object"),
        (b"null", "body must be a JSON object"),
        (b'"text"', "body must be a JSON object"),
    ],
)
def test_every_route_refuses_a_body_that_is_no_json_object(
    path: str, content: bytes, problem: str
) -> None:
    # Before, /v2/chat raised on JSON that is no object (a 500 kept in mock.failures),
    # where embed and rerank answered Cohere's 400.
    with CohereMock() as m:
        r = httpx.post(f"{m.base_url}{path}", content=content, timeout=10)
        assert not m.failures
    assert r.status_code == 400, r.text
    assert r.json()["message"] == f"invalid request: {problem}"


@pytest.mark.anyio
async def test_tool_call_ids_of_other_providers_are_sent_as_they_are(mock: CohereMock) -> None:
    # Cohere's v2 tool messages name their call by tool_call_id, a string of no
    # documented form (docs.cohere.com/reference/chat; OCI's CohereToolMessageV2),
    # and no refusal of an id an earlier answer used is reported: the ids go as
    # the history holds them, each result under its call's.
    tools = [{"name": n, "parameters": {"type": "object"}} for n in TOOL_NAMES]
    async with client(mock) as c:
        r = await c.chat(MODEL, cross_provider_tool_run(), tools=tools)
    assert r.text
    sent = mock.last_request.json()["messages"]
    calls = [call["id"] for m in sent for call in m.get("tool_calls") or ()]
    results = [m["tool_call_id"] for m in sent if m["role"] == "tool"]
    assert calls == list(CROSS_PROVIDER_IDS)
    assert results == calls
