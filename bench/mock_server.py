"""A cheap loopback server speaking OpenAI's and Anthropic's wire formats, for benchmarks.

It runs as its own process so that a benchmark measuring the *client's* CPU time
does not also count the server's. Every response is precomputed bytes: a fixed
``chat.completion`` body, or a fixed SSE stream of ``chat.completion.chunk``
events (role chunk, content chunks, finish chunk, the ``include_usage`` chunk
with empty ``choices``, then ``data: [DONE]``) sent with chunked
transfer-encoding, as OpenAI sends it. ``POST /v1/messages`` answers in
Anthropic's Messages format: a ``message`` object, or the named SSE events
``message_start``, ``content_block_start``, ``ping``, one ``content_block_delta``
(``text_delta``) per word, ``content_block_stop``, ``message_delta`` (stop
reason, output tokens) and ``message_stop``. Both say the same words, so every
client's answer can be checked against one string. Parsing is the least that HTTP/1.1
keep-alive needs: read the head up to CRLFCRLF, then ``Content-Length`` bytes of
body, and look for ``"stream":true`` in the body with a bytes search.

This is not :class:`relaykit.testing.OpenAIMock` (which scripts replies, checks
keys and injects faults, in a thread of the test process); it is a fixed-cost
peer so client-side numbers are comparable between runs.

Run it alone::

    python bench/mock_server.py --port 8089
    # -> listening on http://127.0.0.1:8089/v1

``POST /v1/embeddings`` answers a fixed batch of vectors (``EMBEDDING_INPUTS`` of
``EMBEDDING_DIMENSIONS`` numbers), base64-encoded when the body asks for it.
``POST /v1/rerank`` answers a fixed ranking of ``RERANK_DOCUMENTS`` documents, in
the shape vLLM's and Together's rerank endpoints use.

``POST /v1/audio/transcriptions`` answers a fixed transcript with token usage,
as OpenAI's ``gpt-4o-mini-transcribe`` does, whatever audio the form carries.

``GET /__stats`` returns the server's request and connection counts and its own
CPU seconds, so a benchmark can check the server is not the bottleneck.

``--first-event-delay SECONDS`` makes streams realistic for time-to-first-token
measurements: the response head goes out at once, the events up to and including
the first text after the delay, and the rest one millisecond later (so a client
that decodes a whole read before yielding its first event is not flattered).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import json
import os
import sys
from typing import Any

CREATED = 1_700_000_000
MODEL = "gpt-4o-mini-2024-07-18"
FINGERPRINT = "fp_bench"
#: The answer, one content chunk per word when streamed.
WORDS = tuple(f" word{i}" for i in range(20))
USAGE = {
    "prompt_tokens": 24,
    "completion_tokens": len(WORDS),
    "total_tokens": 24 + len(WORDS),
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def _json(value: Any) -> bytes:
    # OpenAI sends compact JSON.
    return json.dumps(value, separators=(",", ":")).encode()


def completion_body(words: tuple[str, ...] = WORDS) -> bytes:
    """The non-streamed ``chat.completion`` JSON body."""
    return _json(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": CREATED,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(words).lstrip(),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
    )


def stream_events(words: tuple[str, ...] = WORDS) -> list[bytes]:
    """The SSE events of a streamed answer, each ``data: ...\\n\\n``, ending in ``[DONE]``."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            # With stream_options.include_usage every chunk carries "usage": null ...
            "usage": None,
        }

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": w.lstrip() if i == 0 else w}) for i, w in enumerate(words)]
    chunks.append(chunk({}, "stop"))
    # ... and one last chunk has no choices and the whole call's usage.
    chunks.append({**chunk({}), "choices": [], "usage": USAGE})
    return [b"data: " + _json(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


#: ``POST /v1/embeddings`` answers this many vectors of this many numbers, whatever
#: was sent: a benchmark sends this many texts (a typical indexing batch)
EMBEDDING_INPUTS = 100
EMBEDDING_DIMENSIONS = 1536
EMBEDDING_MODEL = "text-embedding-3-small"


def embedding_vector(index: int) -> list[float]:
    """The ``index``-th vector the server answers: float32 values, fixed."""
    import array

    return array.array(
        "f",
        [((index * 7919 + i * 104729) % 2001 - 1000) / 1000 for i in range(EMBEDDING_DIMENSIONS)],
    ).tolist()


def embeddings_body(encoding: str) -> bytes:
    """OpenAI's embeddings answer, its vectors as ``base64`` (float32) or ``float`` arrays."""
    import array
    import base64

    data = []
    for i in range(EMBEDDING_INPUTS):
        vector = embedding_vector(i)
        if encoding == "base64":
            packed = array.array("f", vector)
            if packed.itemsize != 4 or sys.byteorder != "little":
                raise SystemExit("the bench server assumes little-endian float32")
            value: Any = base64.b64encode(packed.tobytes()).decode()
        else:
            value = vector
        data.append({"object": "embedding", "index": i, "embedding": value})
    tokens = 12 * EMBEDDING_INPUTS
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return _json({"object": "list", "data": data, "model": EMBEDDING_MODEL, "usage": usage})


#: ``POST /v1/rerank`` ranks this many documents, whatever was sent: a benchmark
#: sends this many candidates (what a vector search hands a reranker)
RERANK_DOCUMENTS = 50
RERANK_MODEL = "BAAI/bge-reranker-v2-m3"


def rerank_scores() -> list[tuple[int, float]]:
    """The ranking the server answers: every document, best first, fixed."""
    scores = [(i, ((i * 7919) % 1000) / 1000) for i in range(RERANK_DOCUMENTS)]
    return sorted(scores, key=lambda pair: -pair[1])


def rerank_body() -> bytes:
    """vLLM's rerank answer: the results best first (without their texts), and usage."""
    results = [
        {"index": i, "document": {"text": None}, "relevance_score": score}
        for i, score in rerank_scores()
    ]
    usage = {"prompt_tokens": 20 * RERANK_DOCUMENTS, "total_tokens": 20 * RERANK_DOCUMENTS}
    return _json({"id": "rerank-bench", "model": RERANK_MODEL, "results": results, "usage": usage})


TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
TRANSCRIPT = "Hello from the benchmark: this is what the audio said, word for word."


def transcription_body() -> bytes:
    """OpenAI's ``json`` transcription answer for a gpt-4o transcribe model: the
    text and its token usage (audio tokens in, text tokens out)."""
    usage = {
        "type": "tokens",
        "input_tokens": 500,
        "input_token_details": {"text_tokens": 0, "audio_tokens": 500},
        "output_tokens": 17,
        "total_tokens": 517,
    }
    return _json({"text": TRANSCRIPT, "usage": usage})


ANTHROPIC_MODEL = "claude-haiku-4-5-20251001"
ANTHROPIC_USAGE = {
    "input_tokens": 24,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": len(WORDS),
    "service_tier": "standard",
}


def message_body(words: tuple[str, ...] = WORDS) -> bytes:
    """The non-streamed Anthropic ``message`` JSON body."""
    return _json(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": ANTHROPIC_MODEL,
            "content": [{"type": "text", "text": "".join(words).lstrip()}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": ANTHROPIC_USAGE,
        }
    )


def message_events(words: tuple[str, ...] = WORDS) -> list[bytes]:
    """The named SSE events of a streamed Anthropic answer, each ``event: ...\ndata: ...\n\n``."""

    def event(data: dict[str, Any]) -> bytes:
        return b"event: %s\ndata: %s\n\n" % (data["type"].encode(), _json(data))

    message: dict[str, Any] = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        # The real API reports a placeholder output count here and the total in message_delta.
        "usage": {**ANTHROPIC_USAGE, "output_tokens": 1},
    }
    text = [w.lstrip() if i == 0 else w for i, w in enumerate(words)]
    return [
        event({"type": "message_start", "message": message}),
        event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        ),
        event({"type": "ping"}),
        *(
            event(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": t},
                }
            )
            for t in text
        ),
        event({"type": "content_block_stop", "index": 0}),
        event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(words)},
            }
        ),
        event({"type": "message_stop"}),
    ]


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


# Roughly what api.openai.com sends; the exact set does not matter to a client.
COMMON_HEADERS = {
    "date": "Tue, 14 Nov 2023 22:13:20 GMT",
    "connection": "keep-alive",
    "openai-processing-ms": "1",
    "x-request-id": "req_bench",
}


def _head(status: str, content_type: str, **headers: str) -> bytes:
    fields = {"content-type": content_type, **headers, **COMMON_HEADERS}
    lines = [f"HTTP/1.1 {status}", *(f"{k.replace('_', '-')}: {v}" for k, v in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _json_response(status: str, body: bytes) -> bytes:
    return _head(status, "application/json", content_length=str(len(body))) + body


def _stream_writes(events: list[bytes], first_text: int, *, event_writes: bool) -> list[bytes]:
    """The writes of one streamed response: head and events in HTTP chunks, then the terminator.

    In one write by default; with ``event_writes`` one per event; otherwise, when the
    server delays the first event, the caller splits at ``first_text`` (see ``Connection``).
    """
    head = _head(
        "200 OK",
        "text/event-stream; charset=utf-8",
        transfer_encoding="chunked",
        cache_control="no-cache",
    )
    # One HTTP chunk per SSE event, as a streaming server flushes them, then the
    # zero-length terminator.
    parts = [_http_chunk(e) for e in events]
    parts[-1] += b"0\r\n\r\n"
    if event_writes:
        return [head, *parts]
    return [head, b"".join(parts[: first_text + 1]), b"".join(parts[first_text + 1 :])]


class Responses:
    """Every response the server can send, as ready-to-write bytes."""

    def __init__(self, *, event_writes: bool = False) -> None:
        self.chat = _json_response("200 OK", completion_body())
        self.message = _json_response("200 OK", message_body())
        self.embeddings_base64 = _json_response("200 OK", embeddings_body("base64"))
        self.embeddings_float = _json_response("200 OK", embeddings_body("float"))
        self.rerank = _json_response("200 OK", rerank_body())
        self.transcription = _json_response("200 OK", transcription_body())
        # Index 1: the first event with text (after OpenAI's role chunk; after
        # Anthropic's message_start, content_block_start and ping it is index 3).
        self.stream_parts = _stream_writes(stream_events(), 1, event_writes=event_writes)
        self.message_stream_parts = _stream_writes(message_events(), 3, event_writes=event_writes)
        self.event_writes = event_writes
        error = {"message": "Unknown request URL.", "type": "invalid_request_error"}
        self.not_found = _json_response(
            "404 Not Found", _json({"error": {**error, "param": None, "code": "unknown_url"}})
        )
        error = {"message": "send the body with a Content-Length", "type": "invalid_request_error"}
        self.bad_request = _json_response("400 Bad Request", _json({"error": error}))


class Stats:
    """What the server has done so far (read through ``GET /__stats``)."""

    requests = 0
    connections = 0

    @classmethod
    def response(cls) -> bytes:
        """The stats as a JSON response; ``cpu_seconds`` is this process's user+system time."""
        t = os.times()
        stats = {"requests": cls.requests, "connections": cls.connections}
        return _json_response("200 OK", _json({**stats, "cpu_seconds": t.user + t.system}))


class Connection(asyncio.Protocol):
    """One keep-alive connection: answers each complete request in its buffer, in order."""

    def __init__(self, responses: Responses, first_event_delay: float = 0.0) -> None:
        self._responses = responses
        self._first_event_delay = first_event_delay
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        Stats.connections += 1

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        # A loop, not an if: a client may pipeline several requests in one read.
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            length = _content_length(head)
            if length is None:
                self._reply(self._responses.bad_request, close=True)
                return
            if len(buf) < end + 4 + length:
                return  # the body has not fully arrived yet
            body = bytes(buf[end + 4 : end + 4 + length])
            del buf[: end + 4 + length]
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        Stats.requests += 1
        close = b"\r\nconnection: close" in head
        streamed = b'"stream":true' in body or b'"stream": true' in body
        if head.startswith(b"post /v1/chat/completions "):
            if streamed:
                self._stream(self._responses.stream_parts, close=close)
            else:
                self._reply(self._responses.chat, close=close)
        elif head.startswith(b"post /v1/messages "):
            if streamed:
                self._stream(self._responses.message_stream_parts, close=close)
            else:
                self._reply(self._responses.message, close=close)
        elif head.startswith(b"post /v1/embeddings "):
            base64 = b'"encoding_format":"base64"' in body or b'"encoding_format": "base64"' in body
            answer = (
                self._responses.embeddings_base64 if base64 else self._responses.embeddings_float
            )
            self._reply(answer, close=close)
        elif head.startswith(b"post /v1/rerank "):
            self._reply(self._responses.rerank, close=close)
        elif head.startswith(b"post /v1/audio/transcriptions "):
            self._reply(self._responses.transcription, close=close)
        elif head.startswith(b"get /__stats "):
            self._reply(Stats.response(), close=close)
        else:
            self._reply(self._responses.not_found, close=close)

    def _stream(self, parts: list[bytes], *, close: bool) -> None:
        delay = self._first_event_delay
        if not delay or self._responses.event_writes:
            self._reply(*parts, close=close)
            return
        # The head now, the events to the first text after the delay, the rest 1 ms
        # later. Later requests on this connection wait their turn: a client sends
        # the next one only after reading this response to its end.
        head, first, rest = parts
        self._reply(head, close=False)
        loop = asyncio.get_running_loop()
        loop.call_later(delay, functools.partial(self._reply, first, close=False))
        loop.call_later(delay + 0.001, functools.partial(self._reply, rest, close=close))

    def _reply(self, *parts: bytes, close: bool) -> None:
        assert self._transport is not None
        if self._transport.is_closing():
            return  # the client went away while a delayed write waited
        for data in parts:
            self._transport.write(data)
        if close:
            self._transport.close()


def _content_length(head: bytes) -> int | None:
    """The request's body length from its lower-cased head; ``None`` if we cannot tell."""
    i = head.find(b"\r\ncontent-length:")
    if i < 0:
        # No body (GET) unless it is chunked, which this server does not take.
        return None if b"\r\ntransfer-encoding:" in head else 0
    j = head.find(b"\r\n", i + 2)
    value = head[i + 17 : j if j >= 0 else None].strip()
    return int(value) if value.isdigit() else None


async def serve(
    host: str, port: int, *, event_writes: bool = False, first_event_delay: float = 0.0
) -> None:
    """Serve until cancelled; print the base URL on stdout once listening."""
    responses = Responses(event_writes=event_writes)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(responses, first_event_delay), host, port, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on http://{host}:{bound}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve (with uvloop if it is installed and not disabled)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--event-writes", action="store_true", help="one write per SSE event")
    parser.add_argument(
        "--first-event-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="hold each stream's events this long after its head (for time to first token)",
    )
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    loop_factory = None
    if not args.no_uvloop:
        # Optional: not a dependency of the workspace (imported by name so type
        # checkers do not need its stubs).
        with contextlib.suppress(ImportError):
            loop_factory = importlib.import_module("uvloop").new_event_loop
    with (
        asyncio.Runner(loop_factory=loop_factory) as runner,
        contextlib.suppress(KeyboardInterrupt),
    ):
        runner.run(
            serve(
                args.host,
                args.port,
                event_writes=args.event_writes,
                first_event_delay=args.first_event_delay,
            )
        )


if __name__ == "__main__":
    main()
