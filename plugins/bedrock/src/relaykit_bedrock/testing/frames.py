"""Writing AWS event-stream frames: the encoder the mock streams ConverseStream with.

The inverse of :class:`relaykit_bedrock.eventstream.EventStreamDecoder`, written
from the format description (not from the decoder), with both CRC32s computed.
"""

from __future__ import annotations

import itertools
import json
import struct
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from relaykit import Citation
from relaykit.testing.loopback import Drop, Pause, Reset
from relaykit.testing.script import Reply

from ..eventstream import TYPE_BYTES, TYPE_STRING, HeaderValue

#: Converse ``stopReason`` for each scripted finish reason.
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "content_filtered",
}


def stop_word(reply: Reply, words: Mapping[str, str]) -> str:
    """The stop reason to send for ``reply`` in ``words`` (Converse's or the Messages
    API's): ``"stop_sequence"``, both APIs' word, for an answer scripted to stop on
    one (``Reply.stop_sequence``), unless ``Reply.vendor_finish`` says otherwise."""
    if reply.stop_sequence is not None and reply.vendor_finish is None:
        return "stop_sequence"
    return reply.finish_word(words)


_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def encode_headers(headers: Mapping[str, HeaderValue]) -> bytes:
    """Header bytes: str as string (7), bytes as byte array (6), bool, int32/int64, UUID."""
    out = bytearray()
    for name, value in headers.items():
        raw = name.encode()
        out += bytes([len(raw)]) + raw
        if isinstance(value, bool):
            out.append(0 if value else 1)
        elif isinstance(value, int):
            if -(2**31) <= value < 2**31:
                out += b"\x04" + struct.pack(">i", value)
            else:
                out += b"\x05" + struct.pack(">q", value)
        elif isinstance(value, bytes):
            out += bytes([TYPE_BYTES]) + struct.pack(">H", len(value)) + value
        elif isinstance(value, uuid.UUID):
            out += b"\x09" + value.bytes
        else:
            data = str(value).encode()
            out += bytes([TYPE_STRING]) + struct.pack(">H", len(data)) + data
    return bytes(out)


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One event-stream message with both CRCs computed."""
    head = encode_headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_frame(event_type: str, data: Mapping[str, Any]) -> bytes:
    """A ConverseStream event, e.g. ``event_frame("messageStop", {"stopReason": "end_turn"})``."""
    # AWS pads every event with a "p" field so payload sizes do not reveal content lengths.
    padding = _PAD[: 1 + len(json.dumps(data)) % len(_PAD)]
    payload = json.dumps({**data, "p": padding}).encode()
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, payload)


def exception_frame(exception_type: str, message: str, **extra: Any) -> bytes:
    """A ConverseStream exception, e.g. ``exception_frame("throttlingException", "slow down")``."""
    payload = json.dumps({"message": message, **extra}).encode()
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, payload)


def reasoning_signature(reasoning: str) -> str:
    """The mock's stand-in for the signature a model puts on its reasoning."""
    return "sig-" + format(zlib.crc32(reasoning.encode()), "08x")


def _delta(index: int, delta: Mapping[str, Any]) -> bytes:
    return event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": delta})


def text_blocks(reply: Reply) -> list[dict[str, Any]]:
    """``reply.text`` as Converse content blocks: a ``text`` block, or, for a reply
    with ``citations``, the text cut where they start and end, each cited stretch a
    ``citationsContent`` block (its ``content`` the generated text, its
    ``citations`` web locations with the quoted ``sourceContent``), as grounded
    answers come."""
    text = reply.text
    if not text:
        return []
    if not reply.citations:
        return [{"text": text}]
    spans = [
        (c.start if c.start is not None else 0, c.end if c.end is not None else len(text), c)
        for c in reply.citations
    ]
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    blocks: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(cuts):
        cited = [web_citation(c) for s, e, c in spans if s <= a and b <= e]
        if not cited:
            blocks.append({"text": text[a:b]})
        else:
            content = [{"text": text[a:b]}]
            blocks.append({"citationsContent": {"content": content, "citations": cited}})
    return blocks


def web_citation(c: Citation) -> dict[str, Any]:
    """A Converse ``Citation`` of a web page (``location.web``)."""
    domain = c.url.split("/")[2] if c.url.count("/") >= 2 else c.url
    out: dict[str, Any] = {
        "title": c.title,
        "location": {"web": {"url": c.url, "domain": domain}},
    }
    if c.cited_text:
        out["sourceContent"] = [{"text": c.cited_text}]
    return out


def converse_frames(
    reply: Reply,
    usage: Mapping[str, Any],
    tool_id: str = "tooluse_mock_",
    additional: Mapping[str, Any] | None = None,
) -> Iterator[bytes | Pause | Drop | Reset]:
    """The frames of one ConverseStream answer to ``reply``, faults included
    (``additional``: ``messageStop``'s ``additionalModelResponseFields``, if any).

    The documented order: ``messageStart``; per content block (reasoning, text,
    then each tool call) an optional ``contentBlockStart`` (tool calls only),
    deltas and ``contentBlockStop``; ``messageStop``; ``metadata``.
    """
    yield event_frame("messageStart", {"role": "assistant"})
    index = 0
    if reply.future_events:  # an event, and a block with its delta, of kinds to come
        yield event_frame("futureEvent", {"detail": {"kind": "mock"}})
        start = {"futureBlock": {"detail": "a block of a kind added later"}}
        yield event_frame("contentBlockStart", {"contentBlockIndex": index, "start": start})
        yield _delta(index, {"futureDelta": {"detail": "more"}})
        yield event_frame("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    for thought in reply.thoughts():
        if thought.redacted is not None:
            yield _delta(index, {"reasoningContent": {"redactedContent": thought.redacted}})
        else:
            text = thought.text
            for i in range(0, len(text), 8):
                yield _delta(index, {"reasoningContent": {"text": text[i : i + 8]}})
            yield _delta(index, {"reasoningContent": {"signature": reasoning_signature(text)}})
        yield event_frame("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    if reply.text and not reply.citations:
        for piece in reply.chunks():
            if reply.chunk_delay:
                yield Pause(reply.chunk_delay)
            yield _delta(index, {"text": piece})
        yield event_frame("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    for block in text_blocks(reply) if reply.citations else ():
        # a cited stretch streams its text, then each citation as a delta of its own
        cited = block.get("citationsContent")
        piece = cited["content"][0]["text"] if cited else block["text"]
        for i in range(0, len(piece), 8):
            yield _delta(index, {"text": piece[i : i + 8]})
        for citation in cited["citations"] if cited else ():
            yield _delta(index, {"citation": citation})
        yield event_frame("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    for n, (name, args) in enumerate(reply.tool_calls):
        start = {"toolUse": {"toolUseId": f"{tool_id}{n}", "name": name}}
        yield event_frame("contentBlockStart", {"contentBlockIndex": index, "start": start})
        text = json.dumps(args)
        for j in range(0, len(text), 5):
            yield _delta(index, {"toolUse": {"input": text[j : j + 5]}})
        yield event_frame("contentBlockStop", {"contentBlockIndex": index})
        index += 1
    if reply.stream_fault == "error":
        kind = reply.error_code or "modelStreamErrorException"
        yield exception_frame(
            kind, reply.error or "A streaming error occurred. Retry your request."
        )
        return
    if reply.stream_fault == "drop":
        yield Drop()
        return
    if reply.stream_fault == "reset":
        yield Reset()
        return
    if reply.stream_fault == "garbage":  # not an event-stream frame: its CRCs do not add up
        yield b"\x00\x00\x00\x20this is not an event-stream frame!"
        return
    if reply.stream_fault == "truncate":  # the body ends before messageStop
        return
    stop: dict[str, Any] = {"stopReason": stop_word(reply, STOP_REASONS)}
    if additional is not None:
        stop["additionalModelResponseFields"] = dict(additional)
    yield event_frame("messageStop", stop)
    yield event_frame("metadata", {"usage": dict(usage), "metrics": {"latencyMs": 321}})


def rechunk(
    items: Iterable[bytes | Pause | Drop | Reset], size: int
) -> Iterator[bytes | Pause | Drop | Reset]:
    """The same bytes cut into ``size``-byte pieces regardless of frame boundaries."""
    pending = b""
    for item in items:
        if isinstance(item, bytes):
            pending += item
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
        else:
            if pending:
                yield pending
                pending = b""
            yield item
    if pending:
        yield pending


def additional_response_fields(reply: Reply, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """Converse's ``additionalModelResponseFields`` for an answer to ``reply``: Claude's
    ``stop_sequence`` (the scripted one, else the first of ``stopSequences`` when the
    answer stopped on one, else null) when ``body`` asks for ``/stop_sequence`` in
    ``additionalModelResponseFieldPaths``; ``None`` when it asks for nothing."""
    paths = body.get("additionalModelResponseFieldPaths")
    if not (isinstance(paths, list) and "/stop_sequence" in paths):
        return None
    met = None
    if stop_word(reply, STOP_REASONS) == "stop_sequence":
        sent = (body.get("inferenceConfig") or {}).get("stopSequences") or [None]
        met = reply.stop_sequence if reply.stop_sequence is not None else sent[0]
    return {"stop_sequence": met}
