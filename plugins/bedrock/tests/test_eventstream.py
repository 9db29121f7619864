"""The AWS event-stream decoder: framing, header types, CRCs, and bytes cut anywhere."""

from __future__ import annotations

import json
import struct
import uuid
import zlib
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaykit.events import StreamEvent, TextDelta
from relaykit.testing import Reply
from relaykit_bedrock import EventStreamDecoder, EventStreamError, EventStreamMessage
from relaykit_bedrock.stream_events import ConverseStreamTranslator
from relaykit_bedrock.testing import converse_frames, encode_message, event_frame, exception_frame

USAGE = {"inputTokens": 6, "outputTokens": 9, "totalTokens": 19, "cacheReadInputTokens": 4}
REPLY = Reply(
    text="Bonjour, ça va? A streamed answer long enough for several deltas.",
    reasoning="thinking in a few pieces",
    tool_calls=(("get_weather", {"city": "São Paulo", "days": 3}), ("get_time", {"tz": "UTC"})),
)
STREAM = b"".join(f for f in converse_frames(REPLY, USAGE) if isinstance(f, bytes))


def decode_all(pieces: list[bytes]) -> list[EventStreamMessage]:
    decoder = EventStreamDecoder()
    out = [m for piece in pieces for m in decoder.feed(piece)]
    assert decoder.pending == 0
    return out


def translate(messages: list[EventStreamMessage]) -> list[StreamEvent]:
    translator = ConverseStreamTranslator("model")
    return [e for m in messages for e in translator.events(m.event_type, json.loads(m.payload))]


WHOLE = decode_all([STREAM])


def test_a_real_stream_decodes_into_its_events() -> None:
    kinds = [m.event_type for m in WHOLE]
    assert kinds[0] == "messageStart"
    assert kinds[-2:] == ["messageStop", "metadata"]
    assert {m.message_type for m in WHOLE} == {"event"}
    assert all(m.header(":content-type") == "application/json" for m in WHOLE)
    events = translate(WHOLE)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == REPLY.text


def test_split_at_every_byte_boundary_gives_the_same_messages() -> None:
    for cut in range(len(STREAM) + 1):
        assert decode_all([STREAM[:cut], STREAM[cut:]]) == WHOLE


def test_one_byte_at_a_time_gives_the_same_messages() -> None:
    assert decode_all([STREAM[i : i + 1] for i in range(len(STREAM))]) == WHOLE


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_cutting_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    pieces = [STREAM[a:b] for a, b in pairwise(bounds)]
    messages = decode_all(pieces)
    assert messages == WHOLE
    assert translate(messages) == translate(WHOLE)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(STREAM) - 1), st.integers(min_value=1, max_value=255))
def test_any_corrupted_byte_is_caught(index: int, flip: int) -> None:
    corrupted = bytearray(STREAM)
    corrupted[index] ^= flip
    decoder = EventStreamDecoder()

    def decode() -> list[EventStreamMessage]:
        good = decoder.feed(bytes(corrupted))  # the messages before the bad one come first
        assert good == WHOLE[: len(good)]
        decoder.close()
        return good

    with pytest.raises(EventStreamError):
        decode()


def test_a_bad_message_crc_is_named() -> None:
    frame = bytearray(event_frame("messageStop", {"stopReason": "end_turn"}))
    frame[-1] ^= 0xFF
    with pytest.raises(EventStreamError, match="message CRC"):
        EventStreamDecoder().feed(bytes(frame))


@pytest.mark.parametrize("end", ["next feed", "close"])
def test_messages_before_a_corrupt_one_in_the_same_chunk_come_out_first(end: str) -> None:
    # One read can carry several messages (aiohttp returns whatever is buffered).
    first = event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hi"}})
    bad = bytearray(event_frame("messageStop", {"stopReason": "end_turn"}))
    bad[-1] ^= 0xFF
    decoder = EventStreamDecoder()
    [message] = decoder.feed(first + bytes(bad))
    assert message.event_type == "contentBlockDelta"
    assert translate([message])[-1] == TextDelta("hi")
    with pytest.raises(EventStreamError, match="message CRC"):
        decoder.feed(b"") if end == "next feed" else decoder.close()
    decoder.close()  # raised once


def test_a_bad_prelude_crc_is_caught_before_waiting_for_the_body() -> None:
    frame = bytearray(event_frame("messageStop", {"stopReason": "end_turn"}))
    frame[3] ^= 0x01  # the total length: we must not wait for bytes that never come
    with pytest.raises(EventStreamError, match="prelude CRC"):
        EventStreamDecoder().feed(bytes(frame[:12]))


def test_an_impossible_length_with_a_valid_prelude_crc_is_rejected() -> None:
    prelude = struct.pack(">II", 8, 0)
    with pytest.raises(EventStreamError, match="impossible"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_an_incomplete_message_is_held_back() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(STREAM[:20]) == []
    assert decoder.pending == 20


def test_every_header_value_type() -> None:
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    raw = b"".join(
        [
            b"\x01t\x00",  # bool true
            b"\x01f\x01",  # bool false
            b"\x01b\x02\xff",  # byte -1
            b"\x01s\x03" + struct.pack(">h", -300),
            b"\x01i\x04" + struct.pack(">i", 70000),
            b"\x01l\x05" + struct.pack(">q", 2**40),
            b"\x01y\x06\x00\x03abc",
            b"\x01w\x07\x00\x06h\xc3\xa9llo",
            b"\x01d\x08" + struct.pack(">q", 1_700_000_000_000),
            b"\x01u\x09" + uid.bytes,
        ]
    )
    total = 12 + len(raw) + 4
    prelude = struct.pack(">II", total, len(raw))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw
    message = bytes(body + struct.pack(">I", zlib.crc32(body)))
    [decoded] = EventStreamDecoder().feed(message)
    assert dict(decoded.headers) == {
        "t": True,
        "f": False,
        "b": -1,
        "s": -300,
        "i": 70000,
        "l": 2**40,
        "y": b"abc",
        "w": "héllo",
        "d": 1_700_000_000_000,
        "u": uid,
    }
    assert decoded.payload == b""


def test_the_encoder_round_trips_through_the_decoder() -> None:
    headers: dict[str, bool | int | bytes | str]
    headers = {":message-type": "event", "flag": True, "n": 5, "big": 2**40, "raw": b"\x00\x01"}
    [decoded] = EventStreamDecoder().feed(encode_message(headers, b"payload"))
    assert dict(decoded.headers) == headers
    assert decoded.payload == b"payload"


def test_an_unknown_header_type_is_rejected() -> None:
    raw = b"\x01x\x0a"
    prelude = struct.pack(">II", 12 + len(raw) + 4, len(raw))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw
    with pytest.raises(EventStreamError, match="unknown type"):
        EventStreamDecoder().feed(body + struct.pack(">I", zlib.crc32(body)))


def test_exception_messages_expose_their_type() -> None:
    [m] = EventStreamDecoder().feed(exception_frame("throttlingException", "slow down"))
    assert (m.message_type, m.exception_type, m.event_type) == (
        "exception",
        "throttlingException",
        None,
    )
    assert json.loads(m.payload) == {"message": "slow down"}
