"""Aligned plain-text columns for terminal output.

(The CLI package being built alongside has the same helper as
``relaykit.cli.table.format_table``; once both are merged this module can
re-export it.)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence


def format_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: Collection[int] = ()
) -> str:
    """``rows`` under ``headers`` in aligned columns; columns in ``right`` align right."""
    table = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    )
