"""Documents (:class:`relaykit.DocumentPart`) on OpenAI's two APIs and the compatible services.

What each takes, from OpenAI's "File inputs" guide and the services' own docs:

- **Chat Completions** reads PDFs only, as a ``file`` content part whose
  ``file_data`` is a base64 ``data:`` URL, and fetches no file URLs. For a text
  file OpenAI's advice is to send its text as a text part; relaykit does, framed
  as ``<document name="notes.txt">`` ... ``</document>`` so the model sees where
  the file starts and ends and what it is called. A document by URL, or of
  another type, is refused before anything is sent, with the fix in the error.
- **The Responses API** reads every file type OpenAI supports as an
  ``input_file`` item: bytes as ``file_data`` (a ``data:`` URL) with their
  ``filename``, a URL as ``file_url``, which OpenAI fetches.
- **Compatible services**: OpenRouter's Chat Completions takes the same ``file``
  parts, and also a PDF's public URL as ``file_data``. The others' Chat
  Completions APIs (Groq, xAI, DeepSeek, Mistral, Together, Fireworks, Cerebras,
  vLLM, LM Studio, Ollama) take no ``file`` parts: relaykit refuses a document
  for them before sending.

Documents go in user messages: Chat Completions' system and assistant messages
take no file parts, nor do its tool results. The Responses API also reads an
``input_file`` in a system (developer) message, whose content takes the same
parts as a user message's.
"""

from __future__ import annotations

import base64
import binascii
import html
import mimetypes
from collections.abc import Iterable
from typing import Any, Literal

from relaykit import InvalidRequestError, Message
from relaykit.messages import DocumentPart

#: how a service's Chat Completions API takes documents: PDFs by their bytes
#: (OpenAI), by bytes or a URL the service fetches (OpenRouter), or not at all
ChatDocuments = Literal["data", "data-or-url", "none"]

PDF = "application/pdf"


def chat_part(p: DocumentPart, accepts: ChatDocuments) -> dict[str, Any]:
    """``p`` as a Chat Completions content part; :class:`~relaykit.InvalidRequestError`
    for a document the service cannot read."""
    if accepts == "none":
        raise refused(p, "this service's Chat Completions API reads no documents")
    inline = _inline(p)
    media_type = p.media_type
    if media_type.startswith("text/"):
        if inline is None:
            raise _by_url(p, "Chat Completions fetches no text files")
        return {"type": "text", "text": framed_text(p.filename, _decoded(p, inline[1]))}
    if media_type != PDF:
        raise InvalidRequestError(
            f"document {p.filename!r} is {media_type}: Chat Completions reads PDFs"
            " (and relaykit sends text documents as text)",
            param="content.document.media_type",
            hint='convert it to PDF or text, or set api = "responses" (OpenAI), which'
            " reads Word, spreadsheet and other files",
        )
    if inline is not None:
        return {
            "type": "file",
            "file": {"filename": p.filename, "file_data": f"data:{PDF};base64,{inline[1]}"},
        }
    if accepts != "data-or-url":
        raise _by_url(p, "Chat Completions takes no file URLs")
    # OpenRouter fetches a public PDF itself, from the URL in file_data.
    return {"type": "file", "file": {"filename": p.filename, "file_data": p.url}}


def responses_part(p: DocumentPart) -> dict[str, Any]:
    """``p`` as a Responses ``input_file`` content item: inline data, or a URL OpenAI fetches."""
    inline = _inline(p)
    if inline is None:
        return {"type": "input_file", "file_url": p.url}
    media_type, payload = inline
    return {
        "type": "input_file",
        "filename": responses_filename(p, media_type),
        "file_data": f"data:{media_type};base64,{payload}",
    }


def responses_filename(p: DocumentPart, media_type: str) -> str:
    """The file name sent with ``p``'s data: its own, else one whose extension
    matches the data (OpenAI reads a file by its type, so ``document.pdf`` would
    mislabel a spreadsheet)."""
    if p.name:
        return p.name
    if media_type in (PDF, "text/plain"):
        return p.filename
    return "document" + (mimetypes.guess_extension(media_type) or "")


def framed_text(name: str, text: str) -> str:
    """A text document as the text part Chat Completions reads: its text between
    ``<document name="...">`` and ``</document>`` lines."""
    return f'<document name="{html.escape(name)}">\n{text}\n</document>'


def check_none(messages: Iterable[Message], service: str) -> None:
    """:class:`~relaykit.InvalidRequestError` for any document, on a service whose
    Chat Completions API reads none (checked before the body is built)."""
    for m in messages:
        for p in m.content:
            if type(p) is DocumentPart:
                raise refused(p, f"{service}'s Chat Completions API reads no documents")


def refused(p: DocumentPart, why: str) -> InvalidRequestError:
    """The error for a document that cannot go where it was sent, and ``why``."""
    return InvalidRequestError(
        f"document {p.filename!r} cannot be sent: {why}",
        param="content.document",
        hint="send its text as a text part, or route the call to a provider that reads"
        " documents (openai, openrouter, anthropic, gemini, bedrock)",
    )


def misplaced(role: str, where: str, takes: str = "user") -> InvalidRequestError:
    """The error for a document in a ``role`` message, which the API refuses; it
    reads documents in ``takes`` messages."""
    return InvalidRequestError(
        f"{where} is a {role} message with a document: documents go in {takes} messages",
        param=f"{where}.content",
        hint="move the document into a user message (before the question about it)",
    )


def _by_url(p: DocumentPart, why: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"document {p.filename!r} is given by URL, and {why}",
        param="content.document.url",
        hint='pass the document\'s bytes as data=..., or set api = "responses" (OpenAI),'
        " which fetches file URLs",
    )


def _inline(p: DocumentPart) -> tuple[str, str] | None:
    """``(media type, base64)`` of a document sent inline (its bytes: the core holds
    a ``data:`` URL as bytes too); ``None`` for one fetched by URL."""
    if p.data is not None:
        return p.media_type, p.base64()
    return None


def _decoded(p: DocumentPart, payload: str) -> str:
    """A text document's text (UTF-8, a byte-order mark dropped)."""
    try:
        raw = p.data if p.data is not None else base64.b64decode(payload, validate=True)
        return raw.decode("utf-8-sig")
    except (binascii.Error, UnicodeDecodeError) as e:
        raise InvalidRequestError(
            f"text document {p.filename!r} is not UTF-8 text ({e})",
            param="content.document.data",
            hint="decode it yourself and pass a str's .encode(), or send it as a PDF",
        ) from e
