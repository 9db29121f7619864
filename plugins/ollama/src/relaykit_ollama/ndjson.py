"""An incremental decoder for newline-delimited JSON (Ollama's streaming format)."""

from __future__ import annotations

from typing import Any

from relaykit import json_decode


class NDJSONDecoder:
    """:meth:`feed` bytes in chunks of any size; get back the JSON values of completed lines.

    Lines are split on ``\\n`` before decoding, so a chunk that ends inside a
    line (or inside a multi-byte UTF-8 character) just waits for the rest.
    Blank lines are skipped; ``\\r\\n`` line ends work too. A line that is not
    JSON raises :class:`ValueError`; when lines before it came in the same
    chunk, their values are returned first and the error is raised by the next
    :meth:`feed` or :meth:`flush`.
    """

    __slots__ = ("_buf", "_error")

    def __init__(self) -> None:
        self._buf = b""
        self._error: ValueError | None = None  # held back behind the values before it

    def feed(self, data: bytes) -> list[Any]:
        """Decode ``data``; return the values of the lines it completes."""
        self._raise_pending()
        if b"\n" not in data:
            self._buf += data
            return []
        lines = (self._buf + data).split(b"\n")
        self._buf = lines.pop()
        values: list[Any] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                values.append(json_decode.loads(line))
            except ValueError as e:
                if not values:
                    raise
                self._error = e
                break
        return values

    def flush(self) -> list[Any]:
        """End of input: a last line without its newline still counts."""
        self._raise_pending()
        line, self._buf = self._buf, b""
        return [json_decode.loads(line)] if line.strip() else []

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
