"""How a stream ends, told truthfully: to the router, in records, metrics and spans.

Real HTTP over loopback (relaykit.testing's OpenAI mock), both backends.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import StreamError, hookimpl
from relaykit.config import Config, load_config
from relaykit.metrics import ERRORS, observe
from relaykit.routing import Router, Target
from relaykit.testing import (
    Drop,
    LoopbackServer,
    MemoryStorage,
    OpenAIMock,
    RecordingExporter,
    Reply,
    Request,
    Response,
)

KEY = "sk-endings-0123456789abcdef"
MODEL = "openai/gpt-4o-mini"
TARGET = Target("openai", "gpt-4o-mini")


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=KEY) as m:
        yield m


def client(base_url: str, *plugins: object, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {"openai": {"base_url": base_url, "api_key": KEY}},
        **sections,
    }
    return relaykit.Client(config, plugins=plugins)


# -- 1. what the router learns from a stream ---------------------------------------


@pytest.mark.anyio
async def test_a_stream_feeds_time_to_first_token_and_stays_in_flight_until_it_ends(
    mock: OpenAIMock,
) -> None:
    mock.script.push(
        Reply(text="x" * 48, first_token_delay=0.05, chunk_delay=0.05),  # ~0.3 s in all
        Reply(text="a chat"),
    )
    async with client(mock.base_url) as c:
        router = c._router
        first_text_after: float | None = None  # seconds from opening the stream
        started = time.monotonic()
        async with c.stream(MODEL, "hi") as s:
            async for event in s:
                if first_text_after is None and isinstance(event, relaykit.TextDelta):
                    first_text_after = time.monotonic() - started
                assert router.in_flight(TARGET) == 1, "a stream is in flight until it ends"
        assert router.in_flight(TARGET) == 0
        health = router._state(TARGET)
        # No later than this test saw the first text (a fixed 0.2 s bound was
        # overrun on a loaded machine), and so not the whole stream's ~0.3 s.
        assert first_text_after is not None
        assert health.ttft is not None and 0.05 <= health.ttft <= first_text_after
        # The stream's whole duration, or its first token, is no chat latency:
        # it must not feed the average chats are ranked by, or the p95 hedges wait.
        assert health.latency is None and not health.recent
        await c.chat(MODEL, "hi")
        assert health.latency is not None and len(health.recent) == 1


def test_latency_routing_ranks_chats_by_latency_and_streams_by_time_to_first_token() -> None:
    route = {"targets": ["a/1", "b/2"], "strategy": "latency"}
    router = Router(load_config({"models": {"g": route}}))
    a, b = Target("a", "1"), Target("b", "2")
    for target, latency, ttft in ((a, 0.2, 0.9), (b, 3.0, 0.1)):
        router.started(target)
        router.finished(target, ok=True, latency=latency)
        router.started(target)
        router.finished(target, ok=True, ttft=ttft)
    assert router.plan("g") == (a, b)
    assert router.plan("g", streamed=True) == (b, a)


# -- 2. leaving a stream early --------------------------------------------------------


async def leave(c: relaykit.Client, how: str) -> relaykit.ChatResponse:
    """Read a stream to its first text, then leave it by ``how``; return ``s.response``."""

    class CallersBug(Exception):
        pass

    s = c.stream(MODEL, "hi")
    with anyio.CancelScope() as scope:
        try:
            async with s:
                async for event in s:
                    if not isinstance(event, relaykit.TextDelta):
                        continue
                    if how == "break":
                        break
                    if how == "raise":
                        raise CallersBug("the caller's own bug")
                    scope.cancel()
                    await anyio.sleep(1)
        except CallersBug:
            pass
    return s.response


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("how", "error_type"), [("break", None), ("raise", "CallerError"), ("cancel", "Cancelled")]
)
async def test_leaving_a_stream_early_is_recorded_for_what_it_was(
    mock: OpenAIMock, how: str, error_type: str | None
) -> None:
    mock.script.push(Reply(text="first chunk, then much more", chunk_delay=0.05))
    exported, storage = RecordingExporter(), MemoryStorage()
    c = client(mock.base_url, exported, storage.plugin(), storage={"backend": "memory"})
    async with c:
        response = await leave(c, how)
    [record] = exported.records
    assert list(storage.records.values()) == [record]
    assert record.error_type == error_type
    assert record.text == response.text == "first ch", "what the caller had, no more"
    assert record.finish_reason == "other", "the model did not finish"
    assert record.latency is not None and record.time_to_first_token is not None
    errors = [o for o in observe(record) if o.instrument is ERRORS]
    assert len(errors) == (0 if error_type is None else 1)
    if error_type is not None:
        assert (
            record.error_message is not None and "the caller's own bug" not in record.error_message
        )
    assert c._router.in_flight(TARGET) == 0


# -- 3. placeholders held back in a stream that fails ---------------------------------


class Comparisons:
    """A reversible redactor whose placeholders look like ``<V0>``."""

    def redact(self, text: str) -> str:
        return text

    def restore(self, text: str) -> str:
        return text.replace("<V0>", "42")

    def holdback(self, text: str) -> int:
        match = re.search(r"<(V\d*)?$", text)
        return len(text) - match.start() if match else 0

    @hookimpl
    def relaykit_redactors(self, config: Config) -> Sequence[Any]:
        return [self]


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["drop", "truncate"])
async def test_reasoning_held_back_for_a_placeholder_reaches_the_partial_response(
    mock: OpenAIMock, fault: str
) -> None:
    # The reasoning ends in what could be the start of a placeholder, so it is held
    # back; then the stream breaks, or ends without its finish event.
    mock.script.push(Reply(reasoning="is x <", text="then text", stream_fault=fault))  # type: ignore[arg-type]
    exported = RecordingExporter()
    async with client(mock.base_url, Comparisons(), exported) as c:
        with pytest.raises(StreamError) as info:
            async with c.stream(MODEL, "hi") as s:
                async for _ in s:
                    pass
    assert info.value.partial is not None
    assert info.value.partial.reasoning == "is x <"
    assert info.value.partial.text == "then text"
    [record] = exported.records
    assert (record.error_type, record.reasoning, record.text) == (
        "StreamError",
        "is x <",
        "then text",
    )


def sse(delta: dict[str, Any]) -> bytes:
    chunk: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


async def cut_in_a_tool_call(request: Request) -> Response:
    """A stream that breaks in the middle of a tool call's arguments, after ``<V``."""
    start = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f"}}
    return Response(
        200,
        {"content-type": "text/event-stream"},
        [
            sse({"role": "assistant", "content": "calling"}),
            sse({"tool_calls": [{**start, "function": {"name": "f", "arguments": ""}}]}),
            sse({"tool_calls": [{"index": 0, "function": {"arguments": '{"n": "<V0> or <V'}}]}),
            Drop(),
        ],
    )


@pytest.mark.anyio
async def test_tool_arguments_held_back_for_a_placeholder_reach_the_partial_response() -> None:
    with LoopbackServer(cut_in_a_tool_call) as server:
        async with client(server.url, Comparisons()) as c:
            with pytest.raises(StreamError) as info:
                async with c.stream(MODEL, "hi") as s:
                    async for _ in s:
                        pass
    partial = info.value.partial
    assert partial is not None
    # The arguments never closed: the call keeps them as raw text, all of it, restored.
    assert partial.tool_calls[0].raw_arguments == '{"n": "42 or <V'
