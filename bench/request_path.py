"""relaykit's own client CPU per call, with no network: an in-memory HTTP client.

A plugin answers ``relaykit_http_client`` with a client that returns canned
OpenAI bodies (a chat completion; a stream of ``--words`` text chunks plus start,
finish and usage chunks, all in one read) without any I/O. What is left is
everything relaykit does per call: building and checking the request, routing,
breaker, timeouts, encoding, decoding, SSE, events, assembly, cost. The numbers
are steadier than a loopback run on a busy machine, so this is the quick check
while cutting the request path; ``client_overhead.py`` and ``compare.py`` say
what a real call costs.

    uv run python bench/request_path.py                  # chat and stream
    uv run python bench/request_path.py --profile        # and the top of cProfile

This is a benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import pstats
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from client_overhead import MAX_TOKENS, MESSAGES, MODEL

import relaykit
from relaykit import hookimpl
from relaykit.http import HttpOptions, claim_stream_read_timeout


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    body = {"id": "c", "object": "chat.completion.chunk", "model": MODEL, "choices": choices}
    return b"data: " + json.dumps(body | extra).encode() + b"\n\n"


def bodies(words: int) -> tuple[bytes, bytes]:
    """The chat completion body and the whole SSE body of a stream."""
    text = " ".join(f"word{i}" for i in range(words))
    usage = {"prompt_tokens": 30, "completion_tokens": words, "total_tokens": 30 + words}
    chat = {
        "id": "c",
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
        "usage": usage,
    }
    events = [_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}])]
    events += [_chunk([{"index": 0, "delta": {"content": f"word{i} "}}]) for i in range(words)]
    events += [
        _chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        _chunk([], usage=usage),
        b"data: [DONE]\n\n",
    ]
    return json.dumps(chat).encode(), b"".join(events)


class _Response:
    status_code = 200
    headers: Mapping[str, str] = {}

    def __init__(self, content: bytes) -> None:
        self.content = content

    async def aread(self) -> bytes:
        return self.content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        yield self.content

    def at_eof(self) -> bool:
        return True  # all in one read, as relaykit-aiohttp reports it


class _Streamed:
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aenter__(self) -> _Response:
        claim_stream_read_timeout()  # as a real client does: no scope per event
        return _Response(self._body)

    async def __aexit__(self, *exc: object) -> None:
        pass


class InMemoryClient:
    """A :class:`relaykit.http.HttpClient` answering every request from memory."""

    def __init__(self, chat: bytes, stream: bytes) -> None:
        self._chat, self._stream = chat, stream

    async def post(self, url: str, *, content: bytes | None = None, **_: Any) -> _Response:
        return _Response(self._chat)

    async def get(self, url: str, **_: Any) -> _Response:
        return _Response(b'{"data": []}')

    def stream(self, method: str, url: str, **_: Any) -> _Streamed:
        return _Streamed(self._stream)

    async def aclose(self) -> None:
        pass


class InMemoryPlugin:
    def __init__(self, words: int) -> None:
        self._bodies = bodies(words)

    @hookimpl
    def relaykit_http_client(self, options: HttpOptions) -> InMemoryClient:
        return InMemoryClient(*self._bodies)


async def measure(args: argparse.Namespace) -> None:
    config = {
        "storage": {"backend": "none"},
        "providers": {"openai": {"base_url": "http://in-memory/v1", "api_key": "sk-bench"}},
    }
    async with relaykit.Client(config, plugins=[InMemoryPlugin(args.words)]) as client:

        async def chat() -> str:
            r = await client.chat(f"openai/{MODEL}", MESSAGES, max_tokens=MAX_TOKENS)
            return r.text

        async def stream() -> str:
            async with client.stream(f"openai/{MODEL}", MESSAGES, max_tokens=MAX_TOKENS) as s:
                async for _ in s:
                    pass
            return s.response.text

        calls: dict[str, Callable[[], Awaitable[str]]] = {"chat": chat, "stream": stream}
        for mode in args.modes:
            call = calls[mode]
            for _ in range(args.calls // 10):  # warm-up
                await call()
            rounds = []
            for _ in range(args.rounds):
                gc.collect()
                start = time.process_time()
                for _ in range(args.calls):
                    await call()
                rounds.append((time.process_time() - start) / args.calls * 1e6)
            low, high = min(rounds), max(rounds)
            print(
                f"{mode}: {statistics.median(rounds):.1f} µs/call "
                f"(median of {args.rounds} rounds of {args.calls}; {low:.1f}-{high:.1f})"
            )
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(args.calls):
                    await call()
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modes", nargs="+", default=["chat", "stream"], choices=("chat", "stream"))
    p.add_argument("--calls", type=int, default=5000, help="calls per round")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--words", type=int, default=20, help="text chunks in a stream")
    p.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    asyncio.run(measure(p.parse_args()))


if __name__ == "__main__":
    main()
