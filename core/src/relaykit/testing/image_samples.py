"""Images for tests, and what the mocks "drew": deterministic, readable in a test.

:func:`mock_image` builds a real PNG (a small square of one colour, derived
from the prompt) whose ``iTXt`` chunk holds the prompt it was drawn from;
every mock that generates images answers :func:`mock_image` of the prompt it
received, so a test says what it expects without an image model, and
:func:`mock_image_prompt` reads the prompt back from the bytes.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

__all__ = ["mock_image", "mock_image_prompt", "mock_mask", "mock_pixel"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_KEYWORD = b"Description\x00"


def mock_image(prompt: str, index: int = 0, *, side: int = 8) -> bytes:
    """A ``side`` x ``side`` PNG of one colour, the first three bytes of the SHA-256 of
    ``prompt`` and ``index`` (so each of ``n`` images differs), its ``iTXt``
    ``Description`` the prompt (what :func:`mock_image_prompt` reads back)."""
    red, green, blue = hashlib.sha256(f"{index}:{prompt}".encode()).digest()[:3]
    row = b"\x00" + bytes((red, green, blue)) * side  # filter type 0, then RGB pixels
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    # iTXt: keyword, NUL, no compression (two zero bytes), no language or translated
    # keyword (two NULs), then the UTF-8 text
    text = _KEYWORD + b"\x00\x00\x00\x00" + prompt.encode()
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"iTXt", text)
        + _chunk(b"IDAT", zlib.compress(row * side))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def mock_image_prompt(data: bytes) -> str | None:
    """The prompt a :func:`mock_image` was drawn from (its ``iTXt`` ``Description``),
    or ``None`` for bytes that are no PNG or hold no such text."""
    if data[:8] != _SIGNATURE:
        return None
    at = 8
    while at + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        body = data[at + 8 : at + 8 + length]
        if kind == b"iTXt" and body.startswith(_KEYWORD):
            return body[len(_KEYWORD) + 4 :].decode("utf-8", "replace")
        at += 12 + length
    return None


def mock_pixel(data: bytes) -> tuple[int, int, int]:
    """The colour of a :func:`mock_image`'s first pixel, decoded from its ``IDAT``
    (a check that the PNG really decodes, and which image it is)."""
    at = 8
    while at + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        if kind == b"IDAT":
            pixels = zlib.decompress(data[at + 8 : at + 8 + length])
            return pixels[1], pixels[2], pixels[3]
        at += 12 + length
    raise ValueError("no IDAT chunk: not a PNG from mock_image")


def mock_mask(side: int = 8) -> bytes:
    """A ``side`` x ``side`` RGBA PNG mask, as OpenAI's edits take one: its top half
    transparent (edit there), its bottom half opaque white (keep)."""
    clear = b"\x00\x00\x00\x00" * side
    white = b"\xff\xff\xff\xff" * side
    rows = b"".join(b"\x00" + (clear if y < side // 2 else white) for y in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )
