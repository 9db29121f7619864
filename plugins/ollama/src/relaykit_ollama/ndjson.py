"""An incremental decoder for newline-delimited JSON (Ollama's streaming format)."""

from __future__ import annotations

import json
from typing import Any


class NDJSONDecoder:
    """:meth:`feed` bytes in chunks of any size; get back the JSON values of completed lines.

    Lines are split on ``\\n`` before decoding, so a chunk that ends inside a
    line (or inside a multi-byte UTF-8 character) just waits for the rest.
    Blank lines are skipped; ``\\r\\n`` line ends work too. A line that is not
    JSON raises :class:`ValueError`.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[Any]:
        """Decode ``data``; return the values of the lines it completes."""
        if b"\n" not in data:
            self._buf += data
            return []
        lines = (self._buf + data).split(b"\n")
        self._buf = lines.pop()
        return [json.loads(line) for line in lines if line.strip()]

    def flush(self) -> list[Any]:
        """End of input: a last line without its newline still counts."""
        line, self._buf = self._buf, b""
        return [json.loads(line)] if line.strip() else []
