"""Converse's ``citationsContent`` blocks as relaykit's text and citations.

An answer that cites its sources (a document sent with ``citations`` enabled, a
grounded answer of Nova's web grounding) comes, where it cites, as a
``citationsContent`` block rather than a ``text`` block: ``content``, the
generated text (a list of ``{"text": ...}``), and ``citations``, each with a
``title``, the quoted ``sourceContent`` and a ``location``. ConverseStream
sends the block's text as ``text`` deltas and each citation whole as a
``citation`` delta of the same content block.

The text is the answer's, in place. A citation whose location is ``web`` (a
page's ``url``) is a :class:`relaykit.Citation` over the block's stretch of the
answer's text; one into a document sent with the prompt (``documentChar``,
``documentPage``, ``documentChunk``) names no page and is left out, as
relaykit-anthropic leaves a document's ``char_location`` out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from relaykit import Citation

__all__ = ["block_text", "web_citations"]


def block_text(block: dict[str, Any]) -> str:
    """The generated text of a ``citationsContent`` block's ``content``."""
    return "".join(str(part.get("text") or "") for part in block.get("content") or ())


def web_citations(raw: Iterable[Any], start: int, end: int) -> list[Citation]:
    """The web sources among a block's ``citations``, each over ``text[start:end]``."""
    out: list[Citation] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        web = (item.get("location") or {}).get("web")
        url = web.get("url") if isinstance(web, dict) else None
        if not isinstance(url, str) or not url:
            continue
        quoted = "".join(str(p.get("text") or "") for p in item.get("sourceContent") or ())
        title = str(item.get("title") or "")
        out.append(Citation(url=url, title=title, cited_text=quoted, start=start, end=end))
    return out
