"""``multipart/form-data`` (RFC 7578): what an audio upload is sent as, and read back.

:func:`encode` builds a form's body for a plugin to post (``content=`` bytes,
the returned ``content-type``); :func:`parse` reads one, for a vendor mock or
a server (the gateway's ``/v1/audio/transcriptions``). Both hold the whole
body in memory: uploads here are a few megabytes (OpenAI takes 25 MiB).

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

import attrs

__all__ = ["Part", "boundary_of", "encode", "parse", "unquote_param"]


@attrs.frozen
class Part:
    """One field of a form: its ``name``, its bytes, and for a file its name and type."""

    name: str
    data: bytes = attrs.field(repr=lambda data: f"<{len(data):,} bytes>")
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        """The field's value as text (UTF-8; undecodable bytes replaced)."""
        return self.data.decode("utf-8", "replace")


def encode(fields: Iterable[tuple[str, str]], files: Iterable[Part] = ()) -> tuple[bytes, str]:
    """The body of a form with text ``fields`` and ``files``, and its ``content-type``.

    The boundary is random (a file's bytes would have to hold it by chance);
    names and file names have their quotes and line breaks percent-encoded,
    as browsers do (RFC 7578, 4.2).
    """
    boundary = "relaykit-" + os.urandom(12).hex()
    dash = b"--" + boundary.encode()
    out: list[bytes] = []
    for name, value in fields:
        out += [dash, b"\r\n", _disposition(name, None), b"\r\n\r\n", value.encode(), b"\r\n"]
    for part in files:
        out += [dash, b"\r\n", _disposition(part.name, part.filename), b"\r\n"]
        out += [f"content-type: {part.content_type or 'application/octet-stream'}".encode()]
        out += [b"\r\n\r\n", part.data, b"\r\n"]
    out += [dash, b"--\r\n"]
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def _disposition(name: str, filename: str | None) -> bytes:
    line = f'content-disposition: form-data; name="{_quoted(name)}"'
    if filename is not None:
        line += f'; filename="{_quoted(filename)}"'
    return line.encode()


_ESCAPES = {'"': "%22", "\r": "%0D", "\n": "%0A"}
_UNESCAPES = {escape: char for char, escape in _ESCAPES.items()}
_ESCAPED = re.compile("|".join(_UNESCAPES))


def _quoted(value: str) -> str:
    # What browsers and httpx send (the WHATWG form encoding, RFC 7578 4.2): a
    # quoted parameter cannot hold these, and no other character is escaped.
    for char, escape in _ESCAPES.items():
        value = value.replace(char, escape)
    return value


def unquote_param(value: str) -> str:
    """A ``content-disposition`` ``name`` or ``filename`` as it was before encoding:
    ``%22``, ``%0D`` and ``%0A`` (what browsers, httpx and :func:`encode` write
    for a quote, CR and LF) decoded in one pass, nothing else (a ``%`` is not
    escaped, so ``%41`` stays as it is)."""
    return _ESCAPED.sub(lambda m: _UNESCAPES[m.group()], value)


def boundary_of(content_type: str) -> str | None:
    """The ``boundary`` of a ``multipart/form-data`` content type, else ``None``."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"')
    return None


def parse(body: bytes, content_type: str) -> list[Part]:
    """The parts of a ``multipart/form-data`` ``body``, in order.

    Raises :class:`ValueError` saying what is wrong: a content type that is not
    a form with a boundary, a body without the closing boundary, a part without
    a ``content-disposition`` name.
    """
    boundary = boundary_of(content_type)
    if boundary is None:
        raise ValueError(f"not multipart/form-data with a boundary: {content_type[:80]!r}")
    # Every delimiter but the first follows a line break; with one put in front
    # of the body, all do, and the body splits on them.
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary.encode())
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise ValueError("the form's body does not end with its closing boundary")
    parts = []
    for chunk in chunks[1:-1]:
        head, found, data = chunk.partition(b"\r\n\r\n")
        if not found:
            raise ValueError("a part of the form has no blank line after its headers")
        headers = _headers(head)
        name, filename = _names(headers.get("content-disposition", ""))
        if name is None:
            raise ValueError("a part of the form has no content-disposition name")
        parts.append(Part(name, data, filename, headers.get("content-type")))
    return parts


def _headers(head: bytes) -> Mapping[str, str]:
    headers = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, colon, value = line.partition(":")
        if colon:
            headers[key.strip().lower()] = value.strip()
    return headers


def _names(disposition: str) -> tuple[str | None, str | None]:
    """The ``name`` and ``filename`` of a ``form-data`` disposition."""
    values: dict[str, str] = {}
    for param in _split_params(disposition)[1:]:
        key, _, value = param.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = unquote_param(value[1:-1].replace('\\"', '"'))
        values[key.strip().lower()] = value
    return values.get("name"), values.get("filename")


def _split_params(header: str) -> list[str]:
    """``header`` split at the semicolons outside quotes."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    out.append("".join(current).strip())
    return out
