"""Audio for tests, and what the mocks "hear" in it: deterministic, readable in a test.

:func:`mock_audio` builds a real WAV file (silence, 8 kHz, 8-bit mono) that
carries a text in its ``LIST``/``INFO`` comment; every mock that transcribes
answers :func:`mock_transcript` of the bytes it received: that text, so a
test says what it expects without a speech model. Audio without one (an MP3
header, random bytes) is "heard" as ``audio`` and a digest of its bytes.
"""

from __future__ import annotations

import hashlib
import struct

from ..audio import AudioFile, header_seconds

__all__ = ["BYTES_PER_SECOND", "mock_audio", "mock_seconds", "mock_transcript"]

#: the bytes a second of audio that says nothing of its length is taken to hold
#: (MP3 at 128 kbit/s)
BYTES_PER_SECOND = 16_000


def mock_audio(text: str = "", seconds: float = 1.0, *, rate: int = 8000) -> bytes:
    """A WAV file: ``seconds`` of silence at ``rate`` samples a second (8-bit mono),
    whose comment (``ICMT``) holds ``text``, what the mocks hear said in it."""
    samples = round(seconds * rate)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)  # PCM, mono, 8-bit
    comment = text.encode() + b"\x00"
    if len(comment) % 2:
        comment += b"\x00"
    info = b"INFO" + b"ICMT" + struct.pack("<I", len(comment)) + comment
    chunks = _chunk(b"fmt ", fmt) + _chunk(b"LIST", info) + _chunk(b"data", b"\x80" * samples)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _chunk(name: bytes, body: bytes) -> bytes:
    return name + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def mock_transcript(audio: bytes) -> str:
    """What a mock hears in ``audio``: the text :func:`mock_audio` put in it, else
    ``"audio "`` and the first 8 hex digits of its SHA-256."""
    said = _comment(audio)
    if said is not None:
        return said
    return "audio " + hashlib.sha256(audio).hexdigest()[:8]


def mock_seconds(audio: bytes) -> float:
    """How long a mock takes ``audio`` to last: its header's length (WAV, FLAC), else
    its size at :data:`BYTES_PER_SECOND`."""
    seconds = header_seconds(AudioFile(audio))
    return seconds if seconds is not None else len(audio) / BYTES_PER_SECOND


def _comment(data: bytes) -> str | None:
    """The ``ICMT`` text of a WAV file's ``LIST``/``INFO`` chunk, if it has one."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    at = 12
    while at + 8 <= len(data):
        name, size = data[at : at + 4], struct.unpack_from("<I", data, at + 4)[0]
        body = data[at + 8 : at + 8 + size]
        if name == b"LIST" and body[:4] == b"INFO":
            inner = 4
            while inner + 8 <= len(body):
                key, length = body[inner : inner + 4], struct.unpack_from("<I", body, inner + 4)[0]
                if key == b"ICMT":
                    text = body[inner + 8 : inner + 8 + length]
                    return text.split(b"\x00", 1)[0].decode("utf-8", "replace")
                inner += 8 + length + (length & 1)
        at += 8 + size + (size & 1)
    return None
