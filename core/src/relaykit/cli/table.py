"""Plain-text tables for terminal output: aligned columns, no borders, no dependencies;
and lines written whatever characters they hold (:func:`write_text`).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

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

    Every byte reaches the output: :func:`relaykit.cli.main` rebuilds stdout over
    whole writes (:mod:`relaykit.cli.whole_writes`), for this and every ``print``.
    """
    out = sys.stdout if out is None else out
    try:
        out.write(text)
    except UnicodeEncodeError:  # raised before anything is written
        encoding = getattr(out, "encoding", None) or "utf-8"
        out.write(text.encode(encoding, "backslashreplace").decode(encoding))


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
