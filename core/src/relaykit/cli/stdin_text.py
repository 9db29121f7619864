"""Standard input read as UTF-8 text, whatever the locale says.

Python decodes stdin with the locale's codec; under the C/POSIX locale that is
UTF-8 with ``surrogateescape``, so a Latin-1 byte slips through as a lone
surrogate and fails only when the request is encoded, deep inside a send, as a
traceback. Every command that reads text from stdin reads it here instead: the
bytes, decoded strictly, and an error that names stdin, the byte and the fix.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO, TextIO

from ..errors import InvalidRequestError

__all__ = [
    "MAX_STDIN_BYTES",
    "read_stdin_bytes",
    "read_stdin_lines",
    "read_stdin_text",
    "stdin_not_utf8",
    "stdin_too_large",
]

_HINT = "convert it as it goes in: ... | iconv -f LATIN1 -t UTF-8 | relaykit {command}"

#: the most text read from stdin at once (a line, for commands that read lines): the
#: 32 MB one request to Anthropic or OpenAI may hold. ``relaykit chat < /dev/zero``
#: (a device that never ends, and holds no line end) was read until memory ran out.
MAX_STDIN_BYTES = 32_000_000


def stdin_too_large(limit: int, *, line: bool = False) -> InvalidRequestError:
    """The error for stdin (``line``: a line of it) holding more than ``limit`` bytes."""
    most = f"{limit >> 20} MB" if limit % (1 << 20) == 0 else f"{limit / 1e6:g} MB"
    where = " in one line" if line else ""
    return InvalidRequestError(
        f"stdin holds more than {most}{where}: relaykit reads at most {most}{where}",
        param="stdin",
        hint="check what is piped in: a device such as /dev/zero never ends",
    )


def read_stdin_bytes(stdin: TextIO | BinaryIO, limit: int = MAX_STDIN_BYTES) -> bytes:
    """All of ``stdin`` (a text stream's bytes), at most ``limit`` of them.

    :raises InvalidRequestError: stdin holds more than ``limit`` bytes.
    """
    buffer = getattr(stdin, "buffer", None)
    read = stdin.read(limit + 1) if buffer is None else buffer.read(limit + 1)
    # a text stream without bytes under it (a test's StringIO): its text as UTF-8
    data = read.encode("utf-8", "surrogateescape") if isinstance(read, str) else read
    if len(data) > limit:
        raise stdin_too_large(limit)
    return data


def stdin_not_utf8(byte: int, command: str, hint: str | None = None) -> InvalidRequestError:
    """The error for stdin that is not UTF-8 at (1-based) ``byte``, as ``relaykit
    {command}`` read it; ``hint`` replaces the default (iconv) advice."""
    return InvalidRequestError(
        f"stdin is not UTF-8 text (byte {byte})",
        param="stdin",
        hint=hint or _HINT.format(command=command),
    )


def read_stdin_text(
    stdin: TextIO, command: str, hint: str | None = None, *, limit: int = MAX_STDIN_BYTES
) -> str:
    """All of ``stdin`` as text; line ends become ``\\n`` as text mode makes them.

    :param command: the command reading (``prompt``), for the error's fix.
    :param hint: the error's advice instead of the default one (iconv).
    :param limit: the most bytes read (:data:`MAX_STDIN_BYTES`).
    :raises InvalidRequestError: stdin is not UTF-8 text (the message names the
        byte), or holds more than ``limit`` bytes.
    """
    buffer = getattr(stdin, "buffer", None)
    if buffer is None:  # already text (io.StringIO): check it holds no escaped bytes
        text = stdin.read(limit + 1)
        if len(text) > limit:
            raise stdin_too_large(limit)
        return _checked(text, 0, command, hint)
    data: bytes = buffer.read(limit + 1)
    if len(data) > limit:
        raise stdin_too_large(limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise stdin_not_utf8(e.start + 1, command, hint) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_stdin_lines(
    stdin: TextIO, command: str, hint: str | None = None, *, limit: int = MAX_STDIN_BYTES
) -> Iterator[str]:
    """``stdin``'s lines as they come (each with its ``\\n``), for commands that answer
    line by line (``relaykit chat``): nothing is read ahead of the line asked for.

    :param limit: the most bytes one line may hold (:data:`MAX_STDIN_BYTES`).
    :raises InvalidRequestError: a line is not UTF-8 text (the message names the
        byte of stdin, counted from its start, where the bad one is), or a line
        holds more than ``limit`` bytes.
    """
    buffer = getattr(stdin, "buffer", None)
    offset = 0
    if buffer is None:
        for line in iter(lambda: stdin.readline(limit + 1), ""):
            if len(line) > limit:
                raise stdin_too_large(limit, line=True)
            yield _checked(line, offset, command, hint)
            offset += len(line.encode("utf-8", "surrogateescape"))
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    for raw in iter(lambda: buffer.readline(limit + 1), b""):
        if len(raw) > limit:
            raise stdin_too_large(limit, line=True)
        try:
            line = decoder.decode(raw)
        except UnicodeDecodeError as e:
            raise stdin_not_utf8(offset + e.start + 1, command, hint) from None
        offset += len(raw)
        yield line.replace("\r\n", "\n")
    pending = len(decoder.getstate()[0])  # the end cut inside a character
    if pending:
        raise stdin_not_utf8(offset - pending + 1, command, hint)


def _checked(text: str, offset: int, command: str, hint: str | None) -> str:
    """``text`` (from ``offset`` bytes in), refused if it carries escaped bytes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        before = len(text[: e.start].encode("utf-8", "surrogateescape"))
        raise stdin_not_utf8(offset + before + 1, command, hint) from None
    return text
