"""Cited web pages, as ``relaykit prompt``, ``chat`` and ``logs --full`` list them, and
the web searches ``prompt`` and ``chat`` show as they run."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..web_search import Citation


def source_lines(citations: Sequence[Citation]) -> list[str]:
    """``[1] title - url`` per page cited, numbered in the order first cited.

    A vendor cites a page once per claim it supports (Anthropic once per text
    block): each page is listed once, with the first title given for it.
    """
    titles: dict[str, str] = {}
    for c in citations:
        if not titles.get(c.url):
            titles[c.url] = " ".join(c.title.split())
    return [
        f"[{n}] {title} - {url}" if title else f"[{n}] {url}"
        for n, (url, title) in enumerate(titles.items(), 1)
    ]


def search_line(query: str) -> str:
    """``searched the web for "QUERY"``: the query quoted as JSON, so a line break
    or a quote in it cannot pass for the end of the line or of the query."""
    return f"searched the web for {json.dumps(query, ensure_ascii=False)}"


def print_search(query: str, file: TextIO | None = None) -> None:
    """Say on stderr, as it runs, that the model searched the web (``--web-search``):
    the answer written so far is flushed first, so the line lands after it."""
    sys.stdout.flush()
    out = file if file is not None else sys.stderr
    out.write(search_line(query) + "\n")
    out.flush()


def print_sources(citations: Sequence[Citation], file: TextIO | None = None) -> None:
    """Print the sources after an answer, on stderr: the answer alone goes to stdout, so
    piping it (``relaykit prompt --web-search ... > answer.md``) keeps it clean."""
    if not citations:
        return
    out = file if file is not None else sys.stderr
    out.write("\n".join(source_lines(citations)) + "\n")
    out.flush()
