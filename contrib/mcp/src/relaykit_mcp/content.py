"""An MCP ``tools/call`` result as what a relaykit tool returns: text, with images
and documents as attachments.

Text content is the text; an image (or an image resource) is an
:class:`~relaykit.ImagePart`; a PDF or text resource given as bytes is a
:class:`~relaykit.DocumentPart`; an embedded text resource is its text; a
resource link and anything relaykit cannot send (audio, other binaries) is a
line of text saying what it was, so the model knows something came back.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import mcp.types as mt

from relaykit import DocumentPart, ImagePart

#: what a relaykit tool returns: ``relaykit.function_tools.result_content`` sends a
#: str as the text, a list's strings as the text and its parts as attachments
ToolValue = str | list[str | ImagePart | DocumentPart]

#: characters of text a tool result keeps by default: about 25,000 tokens, Claude
#: Code's MAX_MCP_OUTPUT_TOKENS, so one tool cannot fill the model's context
DEFAULT_MAX_OUTPUT_CHARS = 100_000

_DOCUMENT_TYPES = ("application/pdf", "text/plain", "text/csv", "text/html", "text/markdown")


def tool_value(result: mt.CallToolResult, max_chars: int | None = None) -> ToolValue:
    """``result``'s content (or, with none, its structured content as JSON), its
    text cut to ``max_chars`` characters with a note saying so."""
    parts: list[str | ImagePart | DocumentPart] = []
    for block in result.content:
        parts.append(_part(block))
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    if max_chars is not None:
        parts = _capped(parts, max_chars)
    if all(isinstance(p, str) for p in parts):
        return "\n".join(p for p in parts if isinstance(p, str))
    return parts


def error_text(result: mt.CallToolResult, max_chars: int | None = None) -> str:
    """An error result's text (its other content named, not sent), cut to ``max_chars``."""
    value = tool_value(result, max_chars)
    if isinstance(value, str):
        return value or "the tool failed and said nothing more"
    return "\n".join(p if isinstance(p, str) else f"[{p.type}]" for p in value)


def _capped(
    parts: list[str | ImagePart | DocumentPart], max_chars: int
) -> list[str | ImagePart | DocumentPart]:
    """``parts`` with their text, counted across all of it, cut to ``max_chars`` and
    a note of how much was cut (the model should know it did not see it all);
    attachments are kept."""
    total = sum(len(p) for p in parts if isinstance(p, str))
    if total <= max_chars:
        return parts
    kept: list[str | ImagePart | DocumentPart] = []
    room = max_chars
    for part in parts:
        if not isinstance(part, str):
            kept.append(part)
        elif room > 0:
            cut = part[:room]
            kept.append(cut)
            room -= len(cut)
    kept.append(f"[output truncated: {max_chars} of {total} characters]")
    return kept


def _part(block: Any) -> str | ImagePart | DocumentPart:
    if isinstance(block, mt.TextContent):
        return block.text
    if isinstance(block, mt.ImageContent):
        return _binary(block.data, block.mime_type, None)
    if isinstance(block, mt.AudioContent):
        return f"[audio ({block.mime_type}) the tool returned is not shown]"
    if isinstance(block, mt.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mt.TextResourceContents):
            return resource.text
        return _binary(resource.blob, resource.mime_type or "", str(resource.uri))
    if isinstance(block, mt.ResourceLink):
        about = f": {block.description}" if block.description else ""
        return f"[resource {block.name} at {block.uri}{about}]"
    return f"[{getattr(block, 'type', type(block).__name__)} content, not shown]"


def _binary(data: str, media_type: str, uri: str | None) -> str | ImagePart | DocumentPart:
    where = f" {uri}" if uri else ""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return f"[{media_type or 'binary'}{where}: not valid base64, not shown]"
    bare = media_type.partition(";")[0].strip().lower()
    if bare.startswith("image/"):
        return ImagePart(data=raw, media_type=bare)
    if bare in _DOCUMENT_TYPES:
        return DocumentPart(data=raw, media_type=bare, name=uri.rsplit("/", 1)[-1] if uri else None)
    return f"[{bare or 'binary'}{where}, {len(raw)} bytes, not shown]"
