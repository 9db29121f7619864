"""What sealing a kept conversation costs the gateway, per put and per get.

A Responses API conversation of about ``--kib`` KiB (several turns of text) is
kept the way :class:`relaykit_gateway.kept_responses.KeptResponses` writes it to
the shared store: encoded to JSON, then sealed (AES-256-GCM, base64); and read
back: opened, then decoded. We report the fastest round's microseconds per
operation (the CPU cost itself: slower rounds measure other processes on a
shared machine), for the JSON alone and with the seal, so the difference is what
encryption adds next to a Redis round trip (some 50-200 µs over loopback, more
across a network).

Examples::

    uv run python bench/kept_sealing.py
    uv run python bench/kept_sealing.py --kib 64 --rounds 9

This is a benchmark, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from relaykit import Message
from relaykit.secrets import Secret
from relaykit.serialization import from_json, to_json
from relaykit_gateway.kept_responses import _Entry
from relaykit_gateway.sealed_entries import FORMAT, Seal


def conversation(kib: int) -> tuple[Message, ...]:
    """Turns of prose adding up to about ``kib`` KiB of text."""
    turn = "The quarterly figures show a steady rise in returning customers. " * 8  # ~0.5 KiB
    turns = max(1, kib * 2)
    return tuple(
        Message.user(f"{i}: {turn}") if i % 2 == 0 else Message.assistant(f"{i}: {turn}")
        for i in range(turns)
    )


def per_op_us(work: Callable[[], object], number: int, rounds: int) -> float:
    """The fastest of ``rounds`` rounds' microseconds per call of ``work``."""
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            work()
        timings.append((time.perf_counter() - start) / number * 1e6)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kib", type=int, default=8, help="conversation size (KiB of text)")
    parser.add_argument("--number", type=int, default=2000, help="operations per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (the fastest is reported)")
    args = parser.parse_args()

    seal = Seal.of(Secret("gw-bench-0123456789abcdef"))
    entry = _Entry(FORMAT, "alice", "resp_bench", conversation(args.kib), {"id": "resp_bench"})
    plain = to_json(entry).encode()
    sealed = seal.seal(plain, "kept", "alice", "resp_bench")
    assert seal.open(sealed, "kept", "alice", "resp_bench") == plain

    def put_json() -> object:
        return to_json(entry).encode()

    def put_sealed() -> object:
        return seal.seal(to_json(entry).encode(), "kept", "alice", "resp_bench")

    def get_json() -> object:
        return from_json(plain.decode(), _Entry)

    def get_sealed() -> object:
        opened = seal.open(sealed, "kept", "alice", "resp_bench")
        assert opened is not None
        return from_json(opened.decode(), _Entry)

    def seal_only() -> object:
        return seal.seal(plain, "kept", "alice", "resp_bench")

    def open_only() -> object:
        return seal.open(sealed, "kept", "alice", "resp_bench")

    print(f"entry: {len(plain)} bytes of JSON, {len(sealed)} characters sealed")
    for name, work in (
        ("put, JSON only", put_json),
        ("put, JSON + seal", put_sealed),
        ("seal alone", seal_only),
        ("get, JSON only", get_json),
        ("get, open + JSON", get_sealed),
        ("open alone", open_only),
    ):
        print(f"{name:>18}: {per_op_us(work, args.number, args.rounds):8.1f} µs")


if __name__ == "__main__":
    main()
