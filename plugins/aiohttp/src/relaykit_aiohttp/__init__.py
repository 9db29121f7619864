"""relaykit-aiohttp: providers' HTTP client over aiohttp's connection pool, under asyncio.

Installed, it answers ``relaykit_http_client``: every provider then sends its
requests through :class:`AiohttpClient` when the client runs under asyncio,
with no httpx layer in between; under trio providers keep the default httpx
client. Opt out with ``[http] transport = "httpx"`` or
``RELAYKIT_DISABLE_PLUGINS=aiohttp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .client import AiohttpClient

__all__ = ["AiohttpClient"]

# aiohttp takes ~100 ms to import: only when a client is really built
__getattr__, __dir__ = lazy_exports(__name__, {"AiohttpClient": "client"}, __all__)
