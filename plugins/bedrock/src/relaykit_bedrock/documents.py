"""A :class:`~relaykit.DocumentPart` as a Converse ``document`` content block.

``{"document": {"format": "pdf", "name": "invoice-7", "source": {"bytes": <base64>}}}``
(DocumentBlock in the Converse API reference), with these rules of Bedrock's:

- ``format`` is one of pdf, csv, doc, docx, xls, xlsx, html, txt and md,
  from the part's media type (:data:`DOCUMENT_FORMATS`); others are refused.
- The source is the bytes or an ``s3://`` object (``s3Location``): Bedrock
  fetches no URL, so one is refused, with the fix (pass the bytes). A ``data:``
  URL is sent as the bytes it holds.
- ``name`` may hold only ASCII letters and digits, single spaces, hyphens,
  parentheses and square brackets, and must be unique in the request (Bedrock
  refuses "duplicate document names", across every turn, since Converse sends
  the whole conversation each time). :class:`DocumentNames` makes one from the
  part's ``filename``: extension dropped, accents stripped, other characters
  turned to hyphens, at most 64 characters (the older reference's limit; the
  newer allows 200), and `` (2)``, `` (3)``... after a name already taken. The
  names depend only on the conversation, so a cached prefix stays the same.
- A message holding a document must hold text too, and documents go in user
  turns only: :func:`check_user_turns` refuses the rest before sending.

On the Messages route (:mod:`.messages_wire`, which translates these blocks)
the rules are that API's: it reads PDF and text documents only
(:data:`MESSAGES_FORMATS`), from bytes, and a document needs no text beside
it; what is refused names the API the call goes to (:mod:`.routes`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from relaykit import InvalidRequestError
from relaykit.messages import DocumentPart

from .routes import API_NAMES, CONVERSE, Api

#: Converse's document ``format`` for each media type it reads
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/csv": "csv",
    "text/html": "html",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}
#: the formats of :data:`DOCUMENT_FORMATS` the Messages API reads (Word and Excel are
#: Converse's alone: :mod:`.messages_wire` refuses them, saying to call through Converse)
MESSAGES_FORMATS = frozenset({"pdf", "txt", "csv", "html", "md"})
#: the longest name relaykit sends
MAX_NAME = 64

_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9\s\-()\[\]]+")
_WHITESPACE = re.compile(r"\s+")


def document_block(part: DocumentPart, names: DocumentNames, api: Api = CONVERSE) -> dict[str, Any]:
    """The ``document`` block for ``part``, named by ``names``; raises
    :class:`~relaykit.InvalidRequestError` for a document ``api`` cannot take."""
    fmt = document_format(part.media_type, api)
    return {"document": {"format": fmt, "name": names.take(part), "source": _source(part, api)}}


def document_format(media_type: str, api: Api = CONVERSE) -> str:
    """Converse's ``format`` for ``media_type`` (parameters such as ``charset`` ignored);
    a type neither API reads is refused, with those ``api`` reads."""
    fmt = DOCUMENT_FORMATS.get(media_type.split(";", 1)[0].strip().lower())
    if fmt is None:
        read = [t for t, f in DOCUMENT_FORMATS.items() if api == CONVERSE or f in MESSAGES_FORMATS]
        formats = sorted(set(DOCUMENT_FORMATS.values()) if api == CONVERSE else MESSAGES_FORMATS)
        raise InvalidRequestError(
            f"{API_NAMES[api]} does not read documents of type {media_type!r}",
            param="content.document.media_type",
            hint=f"it reads {', '.join(formats)} documents: use one of {', '.join(sorted(read))}",
        )
    return fmt


def _source(part: DocumentPart, api: Api) -> dict[str, Any]:
    if part.data is not None:
        return {"bytes": part.base64()}
    if part.url is not None and part.url.startswith("s3://"):
        return {"s3Location": {"uri": part.url}}
    # Only Converse reads an s3:// document: the Messages route refuses one in turn.
    s3 = ", or use an s3:// URI" if api == CONVERSE else ""
    raise InvalidRequestError(
        "Bedrock does not fetch documents by URL",
        param="content.document.url",
        hint="download the document and pass its bytes: DocumentPart(data=..., "
        "media_type='application/pdf')" + s3,
    )


def document_name(filename: str) -> str:
    """A name Bedrock accepts, made from ``filename`` (``"Q3 report (final).pdf"``
    stays ``"Q3 report (final)"``, ``"résumé_v2.docx"`` becomes ``"resume-v2"``)."""
    stem = _EXTENSION.sub("", filename)
    ascii_only = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    name = _WHITESPACE.sub(" ", _NOT_ALLOWED.sub("-", ascii_only)).strip()
    return name[:MAX_NAME].rstrip() or "document"


class DocumentNames:
    """The document names of one request, each unique (ignoring case, to be safe)."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def take(self, part: DocumentPart) -> str:
        """A name for ``part`` that no earlier document of the request has."""
        base = document_name(part.filename)
        name, n = base, 1
        while name.casefold() in self._taken:
            n += 1
            suffix = f" ({n})"
            name = base[: MAX_NAME - len(suffix)].rstrip() + suffix
        self._taken.add(name.casefold())
        return name


def check_user_turns(messages: list[dict[str, Any]], api: Api = CONVERSE) -> None:
    """Refuse documents outside user turns, and on Converse a user turn with documents
    but no text, which Converse refuses too ("A text block must be included when using
    documents"; the Messages API reads a document alone)."""
    for m in messages:
        names = [b["document"]["name"] for b in m["content"] if "document" in b]
        if not names:
            continue
        if m["role"] != "user":
            raise InvalidRequestError(
                f"{API_NAMES[api]} reads documents in user turns only, not in an "
                f"{m['role']} message",
                param="messages.content.document",
                hint="send the document in a user message",
            )
        if api == CONVERSE and not any("text" in b for b in m["content"]):
            raise InvalidRequestError(
                f"{API_NAMES[api]} needs text in the user turn with the document {names[0]!r}",
                param="messages.content.document",
                hint="add a TextPart saying what to do with it, e.g. "
                "Message.user([TextPart('Summarise this.'), document])",
            )
