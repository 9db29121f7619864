"""relaykit-aiohttp: an httpx transport over aiohttp's connection pool, used under asyncio.

Installed, it replaces httpx's transport in every provider's HTTP client when the
client runs under asyncio; under trio httpx keeps its own. Opt out with
``[http] transport = "httpx"`` or ``RELAYKIT_DISABLE_PLUGINS=aiohttp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .transport import AiohttpTransport

__all__ = ["AiohttpTransport"]


def __getattr__(name: str) -> Any:
    # aiohttp takes ~100 ms to import: only when a transport is really built
    if name == "AiohttpTransport":
        from .transport import AiohttpTransport

        return AiohttpTransport
    raise AttributeError(name)
