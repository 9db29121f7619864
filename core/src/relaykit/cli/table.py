"""Plain-text tables for terminal output: aligned columns, no borders, no dependencies;
and lines written whatever characters they hold (:func:`write_text`).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import io
import select
import sys
from collections.abc import Collection, Iterable, Sequence
from typing import TextIO

__all__ = ["format_table", "write_text"]


def write_text(text: str, out: TextIO | None = None) -> None:
    """Write ``text`` to ``out`` (standard output by default); what the stream's
    encoding cannot hold is written as its backslash escape instead of failing.

    Stored text may hold a lone surrogate (half an emoji a vendor escaped alone),
    which UTF-8 cannot encode. Inside a JSON string its escape (``\\ud83d``) is
    the JSON escape of that character, so a JSON line written so still parses back.

    Every byte is written, or the system's reason is raised: Python's buffered
    stdout (unbuffered: ``PYTHONUNBUFFERED=1``, as container images set it) answers
    a big write the system took only part of (a pipe whose reader left, ``relaykit
    logs | head -1``; a disk that filled up) with the short count, which the text
    layer drops: the rest was lost, with exit 0.
    """
    out = sys.stdout if out is None else out
    binary = getattr(out, "buffer", None)  # raw FileIO under PYTHONUNBUFFERED=1
    if not isinstance(binary, (io.BufferedIOBase, io.RawIOBase)):  # a StringIO
        try:
            out.write(text)
        except UnicodeEncodeError:  # raised before anything is written
            out.write(_escaped(text, out))
        return
    encoding = out.encoding or "utf-8"
    try:
        data = text.encode(encoding, out.errors or "strict")
    except UnicodeEncodeError:
        data = _escaped(text, out).encode(encoding)
    out.flush()  # what the text layer holds goes first
    rest = memoryview(data)
    while rest:
        written = binary.write(rest)
        if written is None:  # a non-blocking output, full for now: wait for room
            select.select([], [binary], [])
            continue
        rest = rest[written:]


def _escaped(text: str, out: TextIO) -> str:
    encoding = getattr(out, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


def format_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    right: Collection[int] = (),
    indent: str = "",
) -> str:
    """``rows`` under ``headers`` in aligned columns; columns listed in ``right`` align right.

    Returns the lines joined with newlines, without a trailing newline.
    """
    table = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = []
    for row in table:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines)
