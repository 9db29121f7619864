"""What :class:`relaykit.sse.SSEDecoder` costs per event, for each vendor's chunk shape.

An LLM stream arrives nearly always one event per HTTP chunk: OpenAI's
``data: {...}`` lines, and Anthropic's named events (``event: NAME`` then
``data: {...}``). The decoder takes such a chunk whole, without splitting it
into lines; other shapes (several events in a chunk, an event split across
chunks, CR line ends) go the general way, measured here too so a change to
one path shows what it does to the others. We report the fastest round's
nanoseconds per ``feed`` call (the CPU cost itself: slower rounds measure other
processes on a shared machine).

Examples::

    uv run python bench/sse_decode.py
    uv run python bench/sse_decode.py --calls 500000 --rounds 9

To compare two revisions, put each one's ``core/src`` first on ``PYTHONPATH``.
This is a benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from relaykit.sse import SSEDecoder

DELTA = (
    b'{"id":"chatcmpl-1","object":"chat.completion.chunk",'
    b'"choices":[{"index":0,"delta":{"content":" word"}}]}'
)
ANTHROPIC = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" word"}}'

#: name -> the chunks one round feeds, in order (each list is fed again and again)
SHAPES: dict[str, list[bytes]] = {
    "openai: one data line per chunk": [b"data: " + DELTA + b"\n\n"],
    "anthropic: one named event per chunk": [
        b"event: content_block_delta\ndata: " + ANTHROPIC + b"\n\n"
    ],
    "general: two events in one chunk": [b"data: " + DELTA + b"\n\ndata: " + DELTA + b"\n\n"],
    "general: an event split across two chunks": [
        b"data: " + DELTA[:40],
        DELTA[40:] + b"\n\n",
    ],
    "general: CRLF line ends": [b"data: " + DELTA + b"\r\n\r\n"],
}


def per_event_ns(chunks: list[bytes], calls: int) -> float:
    """Nanoseconds per decoded event over ``calls`` feeds of ``chunks`` (cycled)."""
    decoder = SSEDecoder()
    feed: Callable[[bytes], list[object]] = decoder.feed  # type: ignore[assignment]
    rounds = max(1, calls // len(chunks))
    events = 0
    started = time.perf_counter_ns()
    for _ in range(rounds):
        for chunk in chunks:
            events += len(feed(chunk))
    elapsed = time.perf_counter_ns() - started
    return elapsed / max(events, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="feed calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per shape (fastest kept)")
    args = parser.parse_args()
    print("| chunk shape | ns per event (fastest round) |")
    print("|---|---:|")
    for name, chunks in SHAPES.items():
        best = min(per_event_ns(chunks, args.calls) for _ in range(args.rounds))
        print(f"| {name} | {best:,.0f} |")


if __name__ == "__main__":
    main()
