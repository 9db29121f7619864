"""The entry point: answers ``relaykit_http_transport`` with aiohttp's pool under asyncio."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sniffio

from relaykit import hookimpl
from relaykit.config import Config

if TYPE_CHECKING:
    from .transport import AiohttpTransport


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
def relaykit_http_transport(config: Config) -> AiohttpTransport | None:
    """An aiohttp-backed transport under asyncio; ``None`` (httpx's own) under trio."""
    if not running_under_asyncio():
        return None
    from .transport import AiohttpTransport

    return AiohttpTransport(
        max_connections=config.http.max_connections,
        keepalive_expiry=config.http.keepalive_expiry,
    )
