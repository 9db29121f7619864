"""Speech for tests: what the mocks "say", readable back in a test.

:func:`mock_speech` is the audio a mock answers a text to speech with: for
``wav``, :func:`~relaykit.testing.mock_audio` of the text (so that speaking
then transcribing it gives the text back); for the other formats, a few
bytes that start as that format does (ID3 for mp3, OggS for opus, fLaC for
flac, an ADTS header for aac) and carry the text, which
:func:`mock_speech_text` reads back. None of it plays as speech.
"""

from __future__ import annotations

import struct

from .audio_samples import _comment, mock_audio

__all__ = ["CHARACTERS_PER_SECOND", "mock_speech", "mock_speech_seconds", "mock_speech_text"]

#: the characters a mock speaks a second (about 900 a minute, as people read aloud)
CHARACTERS_PER_SECOND = 15
_MARK = b"relaykit-mock-speech:"
_HEADS = {
    "mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "opus": b"OggS\x00\x02" + bytes(20),
    "aac": b"\xff\xf1\x50\x80\x00\x1f\xfc",  # ADTS: MPEG-4 AAC LC, 24 kHz, mono
}


def mock_speech_seconds(text: str, speed: float = 1.0) -> float:
    """How long a mock takes ``text`` to say at ``speed``: :data:`CHARACTERS_PER_SECOND`."""
    return round(max(len(text), 1) / CHARACTERS_PER_SECOND / speed, 3)


def mock_speech(text: str, fmt: str = "mp3", *, speed: float = 1.0) -> bytes:
    """The audio a mock answers for ``text`` in ``fmt`` (see the module docstring)."""
    seconds = mock_speech_seconds(text, speed)
    said = _MARK + text.encode() + b"\x00"
    if fmt == "wav":
        return mock_audio(text, seconds)
    if fmt == "flac":
        return _flac_head(seconds) + said
    if fmt == "pcm":
        # Raw 16-bit samples at 24 kHz: the text, then silence to the length.
        size = round(seconds * 24_000) * 2
        body = said + bytes(max(size - len(said), 0))
        return body + (b"\x00" if len(body) % 2 else b"")
    return _HEADS.get(fmt, b"") + said


def mock_speech_text(audio: bytes) -> str | None:
    """The text :func:`mock_speech` (or :func:`~relaykit.testing.mock_audio`) put in
    ``audio``, or ``None`` when it holds none."""
    said = _comment(audio)
    if said is not None:
        return said
    at = audio.find(_MARK)
    if at < 0:
        return None
    start = at + len(_MARK)
    end = audio.find(b"\x00", start)
    return audio[start : end if end >= 0 else len(audio)].decode("utf-8", "replace")


def _flac_head(seconds: float, rate: int = 24_000) -> bytes:
    """``fLaC`` and a STREAMINFO block saying ``seconds`` of 16-bit mono at ``rate``."""
    samples = round(seconds * rate)
    packed = (rate << 44) | (0 << 41) | (15 << 36) | samples  # mono, 16 bits
    info = struct.pack(">HH", 4096, 4096) + bytes(6) + struct.pack(">Q", packed) + bytes(16)
    return b"fLaC" + bytes([0x80]) + len(info).to_bytes(3, "big") + info
