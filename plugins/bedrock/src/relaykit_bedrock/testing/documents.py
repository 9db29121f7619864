"""How :class:`~relaykit_bedrock.testing.BedrockMock` checks and counts ``document`` blocks.

The rules are Converse's, from its API reference (DocumentBlock, DocumentSource,
Message) and the refusals Bedrock is seen to give, kept apart from the
client's own so that the mock catches the client's mistakes:

- ``format`` one of pdf, csv, doc, docx, xls, xlsx, html, txt, md;
- ``name`` of 1 to 200 characters: letters, digits, hyphens, parentheses,
  square brackets and whitespace, never two whitespace characters in a row;
  no two documents of a request with the same name;
- ``source`` exactly one of ``bytes`` (base64 on the wire; a PDF starting
  with ``%PDF-``; at most 4.5 MB) and ``s3Location`` (an ``s3://`` ``uri``);
- at most five documents in a message, in user messages only, and a
  message with a document needs a text block too.

AWS's wording is used where it is known ("A text block must be included when
using documents.", the duplicate-name refusal, the constraint messages); the
rest is the mock's own.

Tokens are the mock's estimate: :data:`PDF_PAGE_TOKENS` a page of a PDF (pages
counted by their ``/Type /Page`` objects, at least one), one a word of a text
format (txt, csv, md, html), :data:`PDF_PAGE_TOKENS` for any other document
or one in S3, which the mock does not read.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

from relaykit.testing.script import count_tokens

from .errors import constraint

#: input tokens the mock counts for a page of a PDF (and a document it does not read)
PDF_PAGE_TOKENS = 1500
#: the formats Converse takes (DocumentBlock.format in the API reference)
FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
#: documents Converse takes in one message, and the bytes each may have
MAX_DOCUMENTS = 5
MAX_BYTES = 4_500_000

_TEXT_FORMATS = frozenset({"txt", "csv", "md", "html"})
_NAME = re.compile(r"[A-Za-z0-9\s\-()\[\]]+")
_TWO_SPACES = re.compile(r"\s\s")
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def documents_problem(messages: list[dict[str, Any]]) -> str | None:
    """The ValidationException message Converse would give the documents in
    ``messages``, or ``None``."""
    names: set[str] = set()
    for i, m in enumerate(messages):
        found = [(j, b["document"]) for j, b in enumerate(m["content"]) if "document" in b]
        if not found:
            continue
        if m.get("role") != "user":
            return f"messages.{i}: You can only include images and documents if the role is user."
        if len(found) > MAX_DOCUMENTS:
            return f"messages.{i}: A message can include up to {MAX_DOCUMENTS} documents."
        if not any("text" in b for b in m["content"]):
            return "A text block must be included when using documents."
        for j, document in found:
            if problem := _document_problem(document, i, j):
                return problem
            if document["name"] in names:
                return (
                    "Messages can't contain duplicate document names. "
                    "Rename the document and retry your request."
                )
            names.add(document["name"])
    return None


def _document_problem(document: Any, i: int, j: int) -> str | None:
    at = f"messages.{i}.member.content.{j}.member.document"
    if not isinstance(document, dict):
        return constraint(f"Value null at '{at}'", "Member must not be null")
    if document.get("format") not in FORMATS:
        return constraint(
            f"Value '{document.get('format')}' at '{at}.format'",
            f"Member must satisfy enum value set: [{', '.join(FORMATS)}]",
        )
    return _name_problem(document.get("name"), at) or _source_problem(document, i, j)


def _name_problem(name: Any, at: str) -> str | None:
    if not isinstance(name, str):
        return constraint(f"Value null at '{at}.name'", "Member must not be null")
    if not 1 <= len(name) <= 200:
        return constraint(
            f"Value '{name}' at '{at}.name'",
            "Member must have length between 1 and 200, inclusive",
        )
    if not _NAME.fullmatch(name) or _TWO_SPACES.search(name):
        return (
            f"The name {name!r} at {at}.name is not valid: a document name can contain only "
            "alphanumeric characters, whitespace characters (no more than one in a row), "
            "hyphens, parentheses and square brackets."
        )
    return None


def _source_problem(document: dict[str, Any], i: int, j: int) -> str | None:
    source = document.get("source")
    where = f"messages.{i}.content.{j}.document.source"
    if (
        not isinstance(source, dict)
        or len(source) != 1
        or not source.keys() & {"bytes", "s3Location"}
    ):
        return (
            f"DocumentSource object at {where} must set one of the following keys: "
            "bytes, s3Location."
        )
    if "s3Location" in source:
        uri = (source["s3Location"] or {}).get("uri")
        return None if str(uri).startswith("s3://") else f"The S3 URI at {where} is not valid."
    data = _decoded(source["bytes"])
    if data is None:
        return f"The value at {where}.bytes is not valid base64."
    if len(data) > MAX_BYTES:
        return f"The document at {where} is larger than the 4.5 MB a document may be."
    if document["format"] == "pdf" and not data.startswith(b"%PDF-"):
        return (
            f"The model returned the following errors: {where}.bytes: "
            "The PDF specified was not valid."
        )
    return None


def _decoded(data: Any) -> bytes | None:
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        return None


def document_tokens(messages: list[dict[str, Any]]) -> int:
    """The input tokens the mock counts for the (valid) documents in ``messages``."""
    return sum(_tokens(document) for document in _documents(messages))


def _documents(messages: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for m in messages:
        yield from (b["document"] for b in m["content"] if "document" in b)


def _tokens(document: dict[str, Any]) -> int:
    data = _decoded(document["source"].get("bytes"))
    if data is None:  # in S3: not read
        return PDF_PAGE_TOKENS
    if document["format"] == "pdf":
        return PDF_PAGE_TOKENS * max(1, len(_PAGE.findall(data)))
    if document["format"] in _TEXT_FORMATS:
        return count_tokens(data.decode("utf-8", "replace"))
    return PDF_PAGE_TOKENS
