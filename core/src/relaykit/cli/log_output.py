"""Where the command line's log records go: stderr, secrets masked, readable.

relaykit's library code only logs (one INFO line per call on ``relaykit.calls``,
a WARNING when something is skipped or retried); an application decides where
records go. The ``relaykit`` command is such an application. Without a handler
of its own, Python's last-resort handler would print every WARNING of relaykit
and of the libraries under it (the MCP SDK, hypercorn) bare, without saying
whose it is, and without the secret redactor.

- default: WARNING and worse from any logger, as ``warning: message`` lines
  (``warning: NAME: message`` for another library's logger);
- ``-v``: relaykit's INFO too (a line per call, with its tokens, cost and
  request id), each line with its time, a record's traceback when it has one;
- ``-vv``: DEBUG from every logger;
- ``--log-json``: the same records as JSON lines
  (:class:`relaykit.log_format.JsonFormatter`), for a log shipper.

A process that is one of several writing to the same stderr (``relaykit gateway
--workers N``) passes its ``worker`` number: each text line starts ``[w2]``,
each JSON line has ``worker`` and ``pid``.

A command that serves (``relaykit gateway``) sets ``log_calls=True`` among its
parser's defaults: it logs a line per call without ``-v``, as a web server logs
its requests.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from ..log_format import JsonFormatter
from ..secrets import scrub

__all__ = ["log_output", "verbosity"]

#: call fields worth a human's eye on a text line, in this order (the JSON lines have all)
_SHOWN_FIELDS = (
    "request_id",
    "correlation_id",
    "attempts",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cache_hit",
    "error_type",
    "status",
)


def verbosity(verbose: int, *, log_calls: bool = False) -> int:
    """How much to log: ``-v`` counted, at least 1 for a command that logs its calls."""
    return max(verbose, 1 if log_calls else 0)


@contextmanager
def log_output(
    level: int,
    *,
    json_lines: bool = False,
    stream: TextIO | None = None,
    worker: int | None = None,
) -> Iterator[None]:
    """Send log records to ``stream`` (stderr) while the block runs, at verbosity ``level``.

    ``worker``: this process's number among several sharing the stream, written
    on each line (``[w2]`` first on a text line; ``worker`` and ``pid`` in JSON).

    The handler's filter picks what is shown; a logger's level is only ever
    lowered (``-v`` needs relaykit's INFO records made), never raised, and is
    taken back on the way out with the handler: ``relaykit.cli.main`` called
    in-process (tests, an application embedding the CLI) leaves logging as it
    found it, and hides nothing another handler was getting.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter: logging.Formatter
    if json_lines:
        fields = {"worker": worker, "pid": os.getpid()} if worker is not None else None
        formatter = JsonFormatter(fields=fields)
    else:
        prefix = f"[w{worker}] " if worker is not None else ""
        formatter = TextFormatter(detailed=level > 0, prefix=prefix)
    handler.setFormatter(formatter)
    handler.addFilter(_Shown(level))
    lowered: list[tuple[logging.Logger, int]] = []
    wanted = {logging.getLogger("relaykit"): logging.INFO} if level == 1 else {}
    if level >= 2:
        wanted = {logging.getLogger(): logging.DEBUG, logging.getLogger("relaykit"): logging.DEBUG}
    for logger, needed in wanted.items():
        if logger.getEffectiveLevel() > needed:
            lowered.append((logger, logger.level))
            logger.setLevel(needed)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for logger, was in lowered:
            logger.setLevel(was)


class _Shown(logging.Filter):
    """What verbosity ``level`` shows: warnings always, relaykit's INFO from 1, all from 2."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or self.level >= 2:
            return True
        return self.level == 1 and record.levelno >= logging.INFO and _ours(record)


def _ours(record: logging.LogRecord) -> bool:
    return record.name == "relaykit" or record.name.startswith("relaykit.")


class TextFormatter(logging.Formatter):
    """Log records as lines a person reads on a terminal, secrets masked.

    Not ``detailed``: ``warning: message``, the logger's name before the message
    when it is not relaykit's, an exception's type and message after it. Detailed
    (``-v``): the record's UTC time and level first, the call fields relaykit's
    call lines carry after the message (``input_tokens=12 cost_usd=0.0001``), and
    an exception's whole traceback. ``prefix`` starts every record's first
    line (``"[w2] "``: which gateway worker wrote it).
    """

    def __init__(self, *, detailed: bool = False, prefix: str = "") -> None:
        super().__init__()
        self.detailed = detailed
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        """One line (more with a traceback), every part through the secret redactor."""
        level = record.levelname.lower()
        text = record.getMessage()
        if not _ours(record):
            text = f"{record.name}: {text}"
        if self.detailed:
            shown = [
                (name, getattr(record, name))
                for name in _SHOWN_FIELDS
                if getattr(record, name, None) is not None
            ]
            metadata = getattr(record, "metadata", None)
            if isinstance(metadata, dict):  # [telemetry] log_metadata
                shown += metadata.items()
            fields = " ".join(f"{name}={value}" for name, value in shown)
            when = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
            line = f"{when} {level} {text}" + (f" {fields}" if fields else "")
            if record.exc_info:
                line += "\n" + self.formatException(record.exc_info)
        else:
            line = f"{level}: {text}"
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                line += f" ({type(error).__name__}: {error})"
        return self.prefix + scrub(line)
