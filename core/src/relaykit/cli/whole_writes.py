"""stdout and stderr rebuilt once, in :func:`relaykit.cli.main`, so that every write
the CLI (and any plugin's command) makes is written whole or fails.

Python hands a write to the system once: under ``PYTHONUNBUFFERED=1`` (container
images set it) the text layer drops what a short write left over, so an answer
bigger than a pipe holds lost its end without an error, exit 0, when the pipe was
non-blocking (a parent such as Node shares it so) or its reader left. A buffered
stdout raises ``BlockingIOError`` on a non-blocking pipe instead. Rewrapping the
streams once covers every ``print`` and ``sys.stdout.write``, where routing each
call through a helper would miss the next one added.
"""

from __future__ import annotations

import contextlib
import io
import select
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["whole_writes"]


class _WholeWrites(io.RawIOBase):
    """A file descriptor's writes retried until every byte is written: after a short
    count, and on a non-blocking descriptor after waiting for room. Closing it
    leaves the descriptor open (it is the process's stdout)."""

    def __init__(self, raw: io.FileIO) -> None:
        super().__init__()
        self._raw = raw

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        rest = view
        while rest:
            written = self._raw.write(rest)
            if written is None:  # non-blocking and full for now: wait for the reader
                select.select([], [self._raw], [])
                continue
            rest = rest[written:]
        return len(view)

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def isatty(self) -> bool:
        return self._raw.isatty()

    @property
    def name(self) -> Any:
        return self._raw.name


def _rebuilt(stream: Any) -> io.TextIOWrapper | None:
    """``stream`` over :class:`_WholeWrites`, with its encoding, errors and buffering;
    ``None`` when it is no text stream over a file descriptor (a test's capture)."""
    if not isinstance(stream, io.TextIOWrapper) or stream.closed:
        return None
    binary = stream.buffer
    raw = getattr(binary, "raw", binary)  # a BufferedWriter's, or the FileIO itself
    if not isinstance(raw, io.FileIO) or raw.closed or not raw.writable():
        return None
    stream.flush()
    whole = _WholeWrites(raw)
    below: io.RawIOBase | io.BufferedWriter = whole
    if binary is not raw:
        below = io.BufferedWriter(whole)
    return io.TextIOWrapper(
        below,  # type: ignore[arg-type]  # a raw layer, as Python's own -u stdout
        encoding=stream.encoding,
        errors=stream.errors,
        newline=None,  # "\n" as os.linesep, as the standard streams write it
        line_buffering=stream.line_buffering,
        write_through=stream.write_through,
    )


def whole_writes() -> Callable[[], None]:
    """Rebuild ``sys.stdout`` and ``sys.stderr`` over whole writes; return the function
    that flushes them and puts the original streams back (``main``'s ``finally``).

    Call it once, before anything is written.
    """
    saved: list[tuple[str, Any, io.TextIOWrapper]] = []
    for name in ("stdout", "stderr"):
        original = getattr(sys, name)
        rebuilt = _rebuilt(original)
        if rebuilt is not None:
            setattr(sys, name, rebuilt)
            saved.append((name, original, rebuilt))

    def restore() -> None:
        for name, original, rebuilt in saved:
            # the reader left (main has answered 141 already) or the disk is full
            with contextlib.suppress(OSError, ValueError):
                rebuilt.flush()
            if getattr(sys, name) is rebuilt:
                setattr(sys, name, original)

    return restore
