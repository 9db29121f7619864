"""How :class:`~relaykit_anthropic.testing.AnthropicMock` checks and counts ``document`` blocks.

Checked as the Messages API checks them (its public reference and the errors it
is seen to give), and worded in its style: the ``source`` is one of

- ``base64``: ``media_type`` ``application/pdf`` and ``data`` that is base64 of
  a PDF (it must start with ``%PDF-``);
- ``text``: ``media_type`` ``text/plain`` and non-empty ``data``;
- ``url``: an ``http(s)`` ``url`` (the mock fetches nothing);

a ``title``, if any, is a string, and documents go in user turns only. The
Files API's ``file`` source and the ``content`` source are not served.

Tokens are the mock's own estimate, as plausible as it is cheap: a PDF costs
:data:`PDF_PAGE_TOKENS` a page (the API's guide puts a page at 1,500 to 3,000
tokens), counting pages by their ``/Type /Page`` objects, at least one; a PDF
by URL counts as one page, unread; plain text one token a word, as the mock
counts all text.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

from relaykit.testing.script import count_tokens

#: input tokens the mock counts for each page of a PDF
PDF_PAGE_TOKENS = 1500

_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_SOURCE_TAGS = "'base64', 'text', 'url'"


def document_problem(block: dict[str, Any], where: str, role: str) -> str | None:
    """What the API would say about the ``document`` block at ``where``, or ``None``."""
    if role != "user":
        return f"{where}: 'document' blocks are not permitted within {role} turns"
    title = block.get("title")
    if title is not None and not isinstance(title, str):
        return f"{where}.document.title: Input should be a valid string"
    source = block.get("source")
    if not isinstance(source, dict):
        return f"{where}.document.source: Field required"
    kind = source.get("type")
    at = f"{where}.document.source.{kind}"
    if kind == "base64":
        return _pdf_problem(source, at)
    if kind == "text":
        if source.get("media_type") != "text/plain":
            return f"{at}.media_type: Input should be 'text/plain'"
        if not isinstance(source.get("data"), str):
            return f"{at}.data: Field required"
        return None if source["data"] else f"{at}.data: text content must be non-empty"
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url:
            return f"{at}.url: Field required"
        return None if url.startswith(("https://", "http://")) else f"{at}.url: Invalid URL"
    return (
        f"{where}.document.source: Input tag {kind!r} found using 'type' does not match "
        f"any of the expected tags: {_SOURCE_TAGS}"
    )


def _pdf_problem(source: dict[str, Any], at: str) -> str | None:
    if source.get("media_type") != "application/pdf":
        return f"{at}.media_type: Input should be 'application/pdf'"
    pdf = _decoded(source.get("data"))
    if pdf is None:
        return f"{at}.data: Input should be a valid base64 string"
    return None if pdf.startswith(b"%PDF-") else f"{at}.data: The PDF specified was not valid."


def _decoded(data: Any) -> bytes | None:
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        return None


def document_tokens(block: dict[str, Any]) -> int:
    """The input tokens the mock counts for a (valid) ``document`` block."""
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "text":
        return count_tokens(str(source.get("data") or ""))
    if kind == "base64":
        pdf = _decoded(source.get("data")) or b""
        return PDF_PAGE_TOKENS * max(1, len(_PAGE.findall(pdf)))
    return PDF_PAGE_TOKENS  # by URL: one page, since the mock does not fetch it


def documents(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``document`` blocks of ``body``'s messages, in order."""
    for m in body.get("messages") or ():
        content = m.get("content")
        if isinstance(content, list):
            yield from (b for b in content if isinstance(b, dict) and b.get("type") == "document")
