"""A ``multipart/form-data`` form read as it arrives, its file streamed on.

``POST /v1/files`` takes files of up to 200 MB: the whole body must never be
in memory at once (as :func:`relaykit.multipart.parse` would hold it). Here a
form's text fields are gathered (each a few bytes: ``purpose``,
``expires_after[seconds]``), and each file's bytes go to a sink as they come,
holding back only what could be the start of the next boundary.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Protocol

import attrs

from relaykit import multipart

#: the most a text field, or a part's headers, may hold
MAX_FIELD_BYTES = 64 * 1024
_PARAM = re.compile(r';\s*([a-zA-Z*]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')


class FormError(ValueError):
    """A body that is not a well-formed form: what is wrong with it."""


@attrs.frozen
class FilePart:
    """A file field's headers: its field ``name``, ``filename`` and ``content_type``."""

    name: str
    filename: str
    content_type: str | None = None


class Sink(Protocol):
    """Where a file's bytes go."""

    async def write(self, data: bytes, /) -> None:
        """Take the next bytes of the file."""
        ...


async def read_form(
    chunks: AsyncIterable[bytes],
    boundary: str,
    open_file: Callable[[FilePart, dict[str, str]], Awaitable[Sink]],
) -> dict[str, str]:
    """The text fields of the form arriving as ``chunks`` (the last value of a name
    given twice); each file's bytes are written to the sink ``open_file(part,
    fields so far)`` returns, which may raise to refuse the file before a byte of it
    is taken. :class:`FormError` says what is malformed."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    hold = len(delimiter) - 1
    # Every delimiter but the first follows a line break: with one put in front
    # of the body, all do.
    buffer = b"\r\n"
    fields: dict[str, str] = {}
    state = "preamble"
    sink: Sink | None = None
    name = ""
    value = bytearray()

    async def take(data: bytes) -> None:
        if not data:
            return
        if sink is not None:
            await sink.write(data)
            return
        value.extend(data)
        if len(value) > MAX_FIELD_BYTES:
            raise FormError(f"the form field {name!r} is longer than {MAX_FIELD_BYTES} bytes")

    async for chunk in chunks:
        buffer += chunk
        while True:
            if state in ("preamble", "body"):
                found = buffer.find(delimiter)
                if found < 0:
                    if state == "body" and len(buffer) > hold:
                        await take(buffer[:-hold])
                        buffer = buffer[-hold:]
                    elif state == "preamble":
                        buffer = buffer[-hold:]
                    break
                if state == "body":
                    await take(buffer[:found])
                    if sink is None:
                        fields[name] = value.decode("utf-8", "replace")
                buffer = buffer[found + len(delimiter) :]
                state = "delimited"
            if state == "delimited":
                if len(buffer) < 2:
                    break
                if buffer.startswith(b"--"):
                    return fields
                end = buffer.find(b"\r\n")
                if end < 0:
                    _bounded(buffer, "a boundary line")
                    break
                buffer = buffer[end + 2 :]
                state = "headers"
            if state == "headers":
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    _bounded(buffer, "a part's headers")
                    break
                name, part = _part(buffer[:end])
                buffer = buffer[end + 4 :]
                sink, value = None, bytearray()
                if part is not None:
                    sink = await open_file(part, dict(fields))
                state = "body"
    raise FormError("the form's body does not end with its closing boundary")


def _bounded(buffer: bytes, what: str) -> None:
    if len(buffer) > MAX_FIELD_BYTES:
        raise FormError(f"{what} of the form is longer than {MAX_FIELD_BYTES} bytes")


def _part(head: bytes) -> tuple[str, FilePart | None]:
    """A part's field name, and for a file its :class:`FilePart`."""
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, colon, value = line.partition(":")
        if colon:
            headers[key.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition", "")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(disposition):
        key, quoted, bare = match.groups()
        # browsers and httpx percent-encode a name's quotes, CR and LF (RFC 7578, 4.2)
        raw = quoted.replace('\\"', '"') if quoted is not None else bare.strip()
        params[key.lower()] = multipart.unquote_param(raw)
    name = params.get("name")
    if not disposition.lower().startswith("form-data") or name is None:
        raise FormError("a part of the form has no content-disposition name")
    filename = params.get("filename")
    if filename is None:
        return name, None
    return name, FilePart(name, filename, headers.get("content-type"))
