"""Read what the ``relaykit.calls`` logger writes: one JSON line per call.

::

    with capture_call_log() as out:
        await client.chat("fake/m", "hi")
    (line,) = call_log_lines(out)
    assert line["model"] == "m"
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def capture_call_log() -> Iterator[io.StringIO]:
    """Send ``relaykit.calls`` at INFO, JSON-formatted, to a string for the block.

    The logger's handlers and level are as they were afterwards.
    """
    from ..log_format import JsonFormatter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("relaykit.calls")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def call_log_lines(out: io.StringIO) -> list[dict[str, Any]]:
    """The JSON lines captured in ``out`` so far, parsed."""
    return [json.loads(line) for line in out.getvalue().splitlines()]
