"""The server-sent events of OpenAI's Audio API as the mock streams them: speech's
``speech.audio.delta`` (:mod:`.openai_speech`) and transcriptions'
``transcript.text.delta`` (:mod:`.openai_transcriptions`) events, each stream
ended by its ``*.done`` event, or broken by the script's ``stream_fault``.

Both endpoints send ``data: {json}`` lines without an ``event:`` name, and an
``{"type": "error", "error": {...}}`` event when the server fails mid-stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .loopback import Drop, Pause, Reset
from .script import Reply


def sse_event(data: dict[str, Any]) -> bytes:
    """One server-sent event carrying ``data``."""
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def sse_stream(
    reply: Reply, deltas: Iterable[dict[str, Any]], done: Callable[[], dict[str, Any]]
) -> Iterator[bytes | Pause | Drop | Reset]:
    """``deltas`` as events, after ``reply.first_token_delay`` and ``reply.chunk_delay``
    apart, then ``done()``'s event; ``reply.stream_fault`` breaks the stream after
    the first delta instead: ``"error"`` with the error event, ``"reset"`` with a
    reset connection, any other by dropping it."""
    if reply.first_token_delay:
        yield Pause(reply.first_token_delay)
    for i, delta in enumerate(deltas):
        if reply.chunk_delay and i:
            yield Pause(reply.chunk_delay)
        yield sse_event(delta)
        if reply.stream_fault == "error":
            error = {
                "message": reply.error or "The server had an error while processing your request.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
            yield sse_event({"type": "error", "error": error})
            return
        if reply.stream_fault == "reset":
            yield Reset()
            return
        if reply.stream_fault is not None:
            yield Drop()
            return
    yield sse_event(done())
