"""Enforce a stream's idle timeout on each network read instead of around each event.

A cancel scope per stream event was most of relaykit's streaming overhead
(measured in bench/instructions.py). While a stream opens, the client sets
:data:`STREAM_READ_TIMEOUT`; the provider's HTTP client claims it for that
request (:func:`claim_stream_read_timeout`: a request hook on the default httpx
client, a direct call in relaykit-aiohttp's) as the read timeout, which marks it
applied. A stream whose request claimed it can then wait for events without a
scope: an idle connection raises a ``ReadTimeout`` instead. Providers that do
not use the client's HTTP connection (an in-process fake, an HTTP client that
never claims it) are never marked, and keep the per-event scope.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    import httpx


@attrs.define
class ReadTimeout:
    """The read timeout a stream wants, and whether its request carried it."""

    seconds: float
    applied: bool = False


STREAM_READ_TIMEOUT: ContextVar[ReadTimeout | None] = ContextVar(
    "relaykit_stream_read_timeout", default=None
)


def claim_stream_read_timeout() -> float | None:
    """The read timeout the stream being opened wants for its request, or ``None``.

    An HTTP client calls it as it sends a request (from the task that sends it)
    and, when it returns seconds, gives that request this read timeout: the
    stream then stops wrapping each event in a timeout of its own.
    """
    wanted = STREAM_READ_TIMEOUT.get()
    if wanted is None:
        return None
    wanted.applied = True
    return wanted.seconds


async def apply_read_timeout(request: httpx.Request) -> None:
    """httpx request hook: give a streaming request the stream's idle timeout."""
    wanted = STREAM_READ_TIMEOUT.get()
    if wanted is None:
        return
    timeout = dict(request.extensions.get("timeout") or {})
    timeout["read"] = wanted.seconds
    request.extensions["timeout"] = timeout
    wanted.applied = True
