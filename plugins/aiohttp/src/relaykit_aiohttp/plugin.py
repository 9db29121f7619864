"""The entry point: answers ``relaykit_http_client`` with aiohttp's pool under asyncio."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sniffio

from relaykit import hookimpl

if TYPE_CHECKING:
    # Annotations only: every relaykit process (`relaykit --help` too) imports this module.
    from relaykit.http import HttpOptions

    from .client import AiohttpClient


def running_under_asyncio() -> bool:
    """Whether the calling code runs in an asyncio task (sync code called from one counts).

    sniffio asks trio's thread-local marker first, then asyncio's current task, so
    the answer is right for a hook called from sync code inside either loop. With
    no loop running nothing is known about where the client will be used: no.
    """
    try:
        return sniffio.current_async_library() == "asyncio"
    except sniffio.AsyncLibraryNotFoundError:
        return False


@hookimpl
def relaykit_http_client(options: HttpOptions) -> AiohttpClient | None:
    """An aiohttp-backed client under asyncio; ``None`` (the httpx one) under trio."""
    if not running_under_asyncio():
        return None
    from .client import AiohttpClient

    return AiohttpClient(options)


@hookimpl
def relaykit_http_client_modules() -> Sequence[str] | None:
    """What :func:`relaykit_http_client` imports, to import off the event loop first."""
    return ["relaykit_aiohttp.client"] if running_under_asyncio() else None
