"""Documents (:class:`relaykit.DocumentPart`) as Gemini parts.

Gemini reads PDFs with vision (each page's text and image) and other documents,
``text/plain`` among them, as text (its "Document understanding" guide):

- bytes (or a base64 ``data:`` URL) go inline, as ``inlineData`` with their
  MIME type, as images do;
- a URL goes as ``fileData`` (``fileUri`` and ``mimeType``), which Gemini
  fetches: a public or signed ``https://`` URL (since January 2026), or a Files
  API URI (``https://generativelanguage.googleapis.com/v1beta/files/...``).
  Any other scheme is refused before sending: Gemini fetches over HTTPS only,
  and a ``gs://`` object must first be registered with the Files API, whose
  URI is then the one to pass.

Documents go in user messages only: the system instruction is text, and a
document in a model or tool turn is not the model's to have said.
"""

from __future__ import annotations

from typing import Any

from relaykit import InvalidRequestError, Message
from relaykit.messages import DocumentPart


def part(p: DocumentPart) -> dict[str, Any]:
    """``p`` as a Gemini part: inline data, or a URL Gemini fetches."""
    if p.data is not None:  # a data: URL too: the core holds it as bytes
        return {"inlineData": {"mimeType": p.media_type, "data": p.base64()}}
    url = p.url or ""
    if not url.lower().startswith("https://"):
        # The URL itself stays out of the message: a signed one holds a credential.
        scheme, colon, _ = url.partition(":")
        raise InvalidRequestError(
            f"document {p.filename!r} is given by "
            + (f"a {scheme}: URL" if colon else "a URL without a scheme")
            + ", and Gemini fetches documents from https:// URLs only",
            param="content.document.url",
            hint="pass the document's bytes as data=..., a public or signed https:// URL,"
            " or the URI of a file uploaded (or a gs:// object registered) with the Files API",
        )
    return {"fileData": {"mimeType": p.media_type, "fileUri": url}}


def check_role(m: Message, where: str) -> None:
    """:class:`~relaykit.InvalidRequestError` for a document in ``m`` unless it is a
    user message (a system one's would be dropped: the system instruction is text)."""
    if m.role != "user" and any(type(p) is DocumentPart for p in m.content):
        raise InvalidRequestError(
            f"{where} is a {m.role} message with a document: documents go in user messages",
            param=f"{where}.content",
            hint="move the document into a user message (before the question about it)",
        )
