"""What image bytes are: their format (from the magic number) and their pixel size.

Image APIs answer PNG, JPEG or WebP (GIF from a few), and say so unreliably:
OpenAI's GPT image models send bare base64 whatever ``output_format`` was,
xAI sends a ``data:`` URI. The bytes themselves say, so relaykit reads them:
records, logs and ``relaykit logs`` show ``1024x1024`` without keeping the
image, and a saved file gets the suffix its bytes deserve.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import struct

__all__ = ["dimensions", "sniff"]

#: media type -> the file suffix images of it are saved with
SUFFIXES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
}
#: the formats a caller may ask for (``output_format``), and their media types
OUTPUT_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def sniff(data: bytes) -> str | None:
    """The media type ``data``'s magic number says (``image/png``, ``image/jpeg``,
    ``image/webp``, ``image/gif``), or ``None`` for none of those."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` in pixels from the image's header, or ``None`` when the
    bytes are no PNG, JPEG, WebP or GIF (or too short to say)."""
    try:
        kind = sniff(data)
        if kind == "image/png":
            width, height = struct.unpack_from(">II", data, 16)  # IHDR, first chunk
        elif kind == "image/gif":
            width, height = struct.unpack_from("<HH", data, 6)
        elif kind == "image/webp":
            return _webp(data)
        elif kind == "image/jpeg":
            return _jpeg(data)
        else:
            return None
    except struct.error:
        return None
    return (width, height) if width and height else None


def _webp(data: bytes) -> tuple[int, int] | None:
    # Each header is checked whole: a cut one would read as 0 + 1 = a 1x1 image.
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:  # extended: 24-bit sizes minus one
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        # lossless: a signature byte, then 14-bit sizes minus one
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        # lossy: after the frame tag and start code
        w, h = struct.unpack_from("<HH", data, 26)
        return (w & 0x3FFF, h & 0x3FFF) if w & 0x3FFF and h & 0x3FFF else None
    return None


#: JPEG start-of-frame markers (every SOFn but DHT, JPG and DAC), which hold the size
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        length = struct.unpack_from(">H", data, at + 2)[0]
        if marker in _SOF:
            h, w = struct.unpack_from(">HH", data, at + 5)
            return (w, h) if w and h else None
        at += 2 + length
    return None


def size_text(size: tuple[int, int] | None) -> str | None:
    """``(1024, 768)`` as ``"1024x768"`` (``None`` stays ``None``)."""
    return None if size is None else f"{size[0]}x{size[1]}"
