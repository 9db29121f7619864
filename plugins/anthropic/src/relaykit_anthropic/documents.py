"""A :class:`~relaykit.DocumentPart` as an Anthropic ``document`` content block.

The Messages API reads two kinds of document, each with its own ``source``:

- a PDF: ``{"type": "base64", "media_type": "application/pdf", "data": ...}``,
  or ``{"type": "url", "url": ...}`` for one Anthropic fetches itself;
- plain text: ``{"type": "text", "media_type": "text/plain", "data": <the text>}``;
  Markdown, CSV and HTML documents go this way too, markup and all, which the model
  reads (Bedrock's Converse and Gemini take them as such).

A ``data:`` URL is sent as the bytes it holds, since Anthropic fetches only
http(s) URLs. ``name`` becomes the block's ``title``, unchanged: the model reads
it and citations quote it (``document_title``), so it is the caller's to choose;
a document without one goes without a title rather than under a made-up
``document.pdf``, which would tell the model nothing. Any other media type, a
text document that is not UTF-8, or plain text by URL is refused with an
:class:`~relaykit.InvalidRequestError` before anything is sent.
"""

from __future__ import annotations

from typing import Any

from relaykit import InvalidRequestError
from relaykit.messages import DocumentPart

_PDF = "application/pdf"
_TEXT = "text/plain"
#: the media types sent as a text document
_TEXTS = frozenset({_TEXT, "text/markdown", "text/x-markdown", "text/csv", "text/html"})
_READS = "PDFs (application/pdf) and text (text/plain, text/markdown, text/csv, text/html)"


def document_block(part: DocumentPart) -> dict[str, Any]:
    """The ``document`` block for ``part``; raises :class:`~relaykit.InvalidRequestError`
    for a document Anthropic cannot read."""
    block: dict[str, Any] = {"type": "document", "source": _source(part)}
    if part.name:
        block["title"] = part.name
    return block


def _media_type(part: DocumentPart) -> str:
    """``part``'s media type without parameters (``; charset=...``), lower-cased,
    once checked to be one Anthropic reads."""
    media = part.media_type.split(";", 1)[0].strip().lower()
    if media != _PDF and media not in _TEXTS:
        raise InvalidRequestError(
            f"Anthropic does not read documents of type {part.media_type!r}",
            param="content.document.media_type",
            hint=f"Anthropic reads {_READS}: convert the document to one of them",
        )
    return media


def _source(part: DocumentPart) -> dict[str, Any]:
    media = _media_type(part)
    if part.url is not None:
        if media != _PDF:
            raise InvalidRequestError(
                "Anthropic fetches PDFs only by URL, not text",
                param="content.document.url",
                hint="download the text and pass it as bytes: "
                "DocumentPart(data=..., media_type='text/plain')",
            )
        return {"type": "url", "url": part.url}
    if media == _PDF:
        return {"type": "base64", "media_type": _PDF, "data": part.base64()}
    return {"type": "text", "media_type": _TEXT, "data": _text(part)}


def _text(part: DocumentPart) -> str:
    assert part.data is not None
    try:
        return part.data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidRequestError(
            f"a {part.media_type} document must be UTF-8: Anthropic takes text as a string",
            param="content.document.data",
            hint="decode the file with its own encoding and pass text.encode('utf-8')",
        ) from e
