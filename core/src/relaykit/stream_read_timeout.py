"""Enforce a stream's idle timeout on each network read instead of around each event.

A cancel scope per stream event was most of relaykit's streaming overhead
(measured in bench/instructions.py). While a stream opens, the client sets
:data:`STREAM_READ_TIMEOUT`; a request hook on every provider's httpx client
copies it into that request's read timeout and marks it applied. A stream whose
request went through that hook can then wait for events without a scope: an
idle connection raises httpx's ``ReadTimeout`` instead. Providers that do not
use the client's httpx connection (an in-process fake, a custom transport
without hooks) are never marked, and keep the per-event scope.
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


async def apply_read_timeout(request: httpx.Request) -> None:
    """httpx request hook: give a streaming request the stream's idle timeout."""
    wanted = STREAM_READ_TIMEOUT.get()
    if wanted is None:
        return
    timeout = dict(request.extensions.get("timeout") or {})
    timeout["read"] = wanted.seconds
    request.extensions["timeout"] = timeout
    wanted.applied = True
