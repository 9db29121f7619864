"""relaykit.image_files: an image's format and pixel size, read from its header;
relaykit.testing.mock_image: a real PNG that decodes."""

from __future__ import annotations

import struct
import zlib

import pytest

from relaykit.image_files import dimensions, size_text, sniff
from relaykit.testing import mock_image, mock_image_prompt, mock_pixel


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes(9)
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + bytes(3)
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def _webp(chunk: bytes, body: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBP" + chunk + bytes(4) + body


@pytest.mark.parametrize(
    ("data", "kind", "size"),
    [
        (mock_image("x", side=8), "image/png", (8, 8)),
        (_jpeg(1536, 1024), "image/jpeg", (1536, 1024)),
        (b"GIF89a" + struct.pack("<HH", 320, 200) + bytes(8), "image/gif", (320, 200)),
        # lossy: frame tag, start code, then 14-bit width and height
        (
            _webp(b"VP8 ", bytes(3) + b"\x9d\x01\x2a" + struct.pack("<HH", 1024, 768)),
            "image/webp",
            (1024, 768),
        ),
        # lossless: a signature byte, then 14-bit sizes minus one
        (
            _webp(b"VP8L", b"\x2f" + struct.pack("<I", (640 - 1) | (480 - 1) << 14)),
            "image/webp",
            (640, 480),
        ),
        # extended: flags, then 24-bit sizes minus one
        (
            _webp(b"VP8X", bytes(4) + (2047).to_bytes(3, "little") + (1151).to_bytes(3, "little")),
            "image/webp",
            (2048, 1152),
        ),
        # WebP headers cut short, or not what their chunk says: no size, not 1x1
        (_webp(b"VP8X", bytes(4))[:26], "image/webp", None),
        (_webp(b"VP8L", b"\x2f\x01")[:22], "image/webp", None),
        (_webp(b"VP8L", b"\x00" + struct.pack("<I", 0)), "image/webp", None),
        (_webp(b"VP8 ", bytes(3) + b"\x9d\x01"), "image/webp", None),
        (_webp(b"VP8 ", bytes(3) + b"\x00\x00\x00" + struct.pack("<HH", 8, 8)), "image/webp", None),
        (b"plain text, not an image", None, None),
        (b"\x89PNG\r\n\x1a\n", "image/png", None),  # a header cut short
    ],
)
def test_the_format_and_size_come_from_the_bytes(
    data: bytes, kind: str | None, size: tuple[int, int] | None
) -> None:
    assert sniff(data) == kind
    assert dimensions(data) == size
    assert size_text(size) == (None if size is None else f"{size[0]}x{size[1]}")


def test_a_mock_image_is_a_valid_png_of_one_colour_that_names_its_prompt() -> None:
    data = mock_image("un renard roux 🦊", 2, side=4)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks = []
    at = 8
    while at < len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        body = data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack_from(">I", data, at + 8 + length)
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        at += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"iTXt", b"IDAT", b"IEND"]
    rows = zlib.decompress(chunks[2][1])
    assert len(rows) == 4 * (1 + 3 * 4)  # four rows: a filter byte and four RGB pixels
    assert rows[1:4] * 4 == rows[1:13]  # one colour
    assert mock_pixel(data) == tuple(rows[1:4])
    assert mock_image_prompt(data) == "un renard roux 🦊"
    assert mock_pixel(mock_image("un renard roux 🦊", 3)) != mock_pixel(data)
    assert mock_image_prompt(b"GIF89a") is None
