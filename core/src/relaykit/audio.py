"""Audio to transcribe: :class:`AudioFile`, what format it is, and how long it lasts.

:meth:`relaykit.Client.transcribe` takes bytes, a path or an :class:`AudioFile`;
:func:`read_audio` turns any of them into an :class:`AudioFile` whose media
type and file name are known. Vendors tell formats apart by the file name's
suffix (OpenAI refuses a name it does not know), so the format is worked out
here, from the bytes first (their magic numbers), then the name's suffix.

WAV and FLAC say how long they last in their headers (:func:`header_seconds`):
a budget can hold the price of those minutes before the call is sent.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import PurePath

import anyio
import attrs

from .errors import InvalidRequestError
from .file_problems import read_fix, read_problem

__all__ = ["FORMATS", "AudioFile", "audio_format", "media_type"]

#: the formats relaykit sends, by the extension vendors know them by: the media
#: type that names them and the other suffixes OpenAI takes for the same format
FORMATS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "flac": ("audio/flac", ()),
    "m4a": ("audio/mp4", ()),
    "mp3": ("audio/mpeg", ("mpga", "mpeg")),
    "mp4": ("video/mp4", ()),
    "ogg": ("audio/ogg", ("oga",)),
    "wav": ("audio/wav", ()),
    "webm": ("audio/webm", ()),
}
#: the suffixes OpenAI's error lists, which every vendor here takes (named in errors)
ACCEPTED = "flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav, webm"

#: the suffixes a name may be sent with, by format
_SENT = {suffix: name for name, (_, others) in FORMATS.items() for suffix in (name, *others)}
#: the suffixes a format is guessed from (some are renamed before sending)
_SUFFIXES = _SENT | {"opus": "ogg", "wave": "wav"}
_MEDIA_TYPES = {media_type: name for name, (media_type, _) in FORMATS.items()} | {
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/x-flac": "flac",
    "audio/mp3": "mp3",
    "audio/mpga": "mp3",
    "audio/x-m4a": "m4a",
    "audio/m4a": "m4a",
    "audio/opus": "ogg",
    "video/webm": "webm",
}


def _data_repr(data: bytes) -> str:
    # Audio is content: a repr (in a log, an error, a test's failure) says how much.
    return f"<{len(data):,} bytes>"


@attrs.frozen
class AudioFile:
    """Audio for :meth:`relaykit.Client.transcribe`: its bytes, and what they are.

    ``media_type`` (``audio/wav``, ``audio/mpeg``, ...) and ``filename`` may be
    left out: relaykit reads the format from the bytes, or else from the
    name's suffix. Its repr shows the size, never the bytes.
    """

    data: bytes = attrs.field(repr=_data_repr)
    media_type: str | None = None
    filename: str | None = None

    @property
    def format(self) -> str:
        """The format's usual extension (``"wav"``, ``"mp3"``, ...): see :func:`audio_format`."""
        return audio_format(self)

    @property
    def upload_name(self) -> str:
        """The file name to send: the caller's (without its directories) when its
        suffix names the format, else ``audio.{format}``."""
        fmt = self.format
        name = PurePath(self.filename or "audio").name or "audio"
        if _SENT.get(PurePath(name).suffix.lstrip(".").lower()) == fmt:
            return name
        return f"{PurePath(name).stem or 'audio'}.{fmt}"


def sniff(data: bytes) -> str | None:
    """The format the bytes' magic number says (``"wav"``, ...), or ``None``."""
    head = data[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM (a Matroska profile)
        return "webm"
    if head[4:8] == b"ftyp":  # ISO base media: M4A audio, else MP4
        return "m4a" if head[8:11] == b"M4A" else "mp4"
    if head[:3] == b"ID3":
        return "mp3"
    # An MPEG audio frame's sync word (11 bits), its layer not 00 (which would be
    # AAC's ADTS, not MP3).
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "mp3"
    return None


def audio_format(audio: AudioFile) -> str:
    """The format of ``audio``: its ``media_type`` when given, else the bytes' magic
    number, else the file name's suffix. A typed error naming the formats
    relaykit sends when none of them says."""
    if audio.media_type:
        media_type = audio.media_type.split(";", 1)[0].strip().lower()
        found = _MEDIA_TYPES.get(media_type)
        if found is None:
            raise InvalidRequestError(
                f"audio media type {media_type!r} is not one relaykit sends",
                param="audio",
                hint=f"send one of {ACCEPTED} (convert it with ffmpeg -i IN OUT.mp3)",
            )
        return found
    found = sniff(audio.data)
    if found is None and audio.filename:
        found = _SUFFIXES.get(PurePath(audio.filename).suffix.lstrip(".").lower())
    if found is None:
        raise InvalidRequestError(
            "the audio's format is unknown: its bytes are none that relaykit knows"
            + (
                f" and its name {PurePath(audio.filename).name!r} says none"
                if audio.filename
                else ""
            ),
            param="audio",
            hint=f"send one of {ACCEPTED}, or pass AudioFile(data, media_type=...)",
        )
    return found


def media_type(audio: AudioFile) -> str:
    """The media type to send ``audio`` as (its own when given)."""
    if audio.media_type:
        return audio.media_type.split(";", 1)[0].strip().lower()
    return FORMATS[audio_format(audio)][0]


async def read_audio(audio: object) -> AudioFile:
    """``audio`` (bytes, a path, or an :class:`AudioFile`) as an :class:`AudioFile`
    with at least one byte; a path's file is read without blocking the event loop.

    Raises :class:`~relaykit.InvalidRequestError` for a path that names no file,
    empty audio, or anything else; and for audio whose format is unknown.
    """
    if isinstance(audio, AudioFile):
        found = audio
    elif isinstance(audio, bytes | bytearray | memoryview):
        found = AudioFile(bytes(audio))
    elif isinstance(audio, str | os.PathLike):
        path = os.fspath(audio)
        if not isinstance(path, str):
            path = os.fsdecode(path)
        found = AudioFile(await _read(path), filename=path)
    else:
        raise InvalidRequestError(
            f"audio must be bytes, a path or a relaykit.AudioFile, not {type(audio).__name__}",
            param="audio",
        )
    if not isinstance(found.data, bytes):
        raise InvalidRequestError(
            f"AudioFile.data must be bytes, not {type(found.data).__name__}", param="audio"
        )
    if not found.data:
        named = f" {found.filename!r}" if found.filename else ""
        raise InvalidRequestError(
            f"the audio{named} is empty (0 bytes)",
            param="audio",
            hint="give a recording with sound in it",
        )
    audio_format(found)  # refused now, not after a route's every deployment refused it
    return found


async def _read(path: str) -> bytes:
    """The file at ``path``; a typed error naming it when it cannot be read."""
    try:
        return await anyio.Path(path).read_bytes()
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        problem, fix = read_problem(e), read_fix(e)
    raise InvalidRequestError(
        f"cannot read audio file {path!r}: {problem}", param="audio", hint=fix
    )


# -- how long it lasts ----------------------------------------------------------


def header_seconds(audio: AudioFile) -> float | None:
    """How many seconds ``audio`` lasts, as its header says (WAV and FLAC), else ``None``.

    Read before sending, so that a budget can hold minutes billed by the
    minute; other formats need their frames walked, and are settled after.
    """
    try:
        fmt = audio.format
    except InvalidRequestError:
        return None
    if fmt == "wav":
        return wav_seconds(audio.data)
    if fmt == "flac":
        return flac_seconds(audio.data)
    return None


def wav_seconds(data: bytes) -> float | None:
    """A RIFF WAVE file's length: its ``data`` chunk's bytes over the ``fmt `` chunk's
    byte rate (``None`` when either is missing or makes no sense)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    byte_rate = 0
    at = 12
    while at + 8 <= len(data):
        chunk = data[at : at + 4]
        size: int = struct.unpack_from("<I", data, at + 4)[0]
        body = at + 8
        if chunk == b"fmt " and size >= 16 and body + 16 <= len(data):
            byte_rate = int(struct.unpack_from("<I", data, body + 8)[0])
        elif chunk == b"data":
            if not byte_rate:
                return None
            # A recorder that never went back to write the size leaves 0 or
            # 0xFFFFFFFF; a cut file holds less than it says: count what is there.
            held = len(data) - body
            size = held if size in (0, 0xFFFFFFFF) else min(size, held)
            return size / byte_rate
        at = body + size + (size & 1)  # chunks are padded to an even length
    return None


def flac_seconds(data: bytes) -> float | None:
    """A FLAC stream's length from its STREAMINFO block: total samples over the
    sample rate (``None`` when the encoder did not count the samples)."""
    # "fLaC", a 4-byte block header (type 0: STREAMINFO), then 34 bytes; the 64
    # bits at offset 10 of the block hold the sample rate (20 bits), channels
    # (3), bits per sample (5) and the total samples (36).
    if data[:4] != b"fLaC" or len(data) < 8 + 18 or data[4] & 0x7F != 0:
        return None
    packed: int = struct.unpack_from(">Q", data, 8 + 10)[0]
    rate = packed >> 44
    samples = packed & ((1 << 36) - 1)
    if not rate or not samples:
        return None
    return samples / rate
