"""Test helpers: a gateway served on a free loopback port for the length of a block.

::

    async with relaykit.Client(config) as client, running(client) as url:
        ...  # point an SDK's base URL at url
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

import relaykit

from .app import Gateway
from .keys import GatewayKeys
from .server import serve

#: a key of the kind tests present, named ``alice`` in :data:`KEYS`
KEY = "gw-alice-0123456789abcdef"
#: two named keys: ``alice`` (:data:`KEY`) and ``bob``
KEYS = GatewayKeys.parse(f"alice={KEY},bob=gw-bob-0123456789abcdef")
#: the providers' key behind the gateway, as vendor mocks in tests accept it
UPSTREAM_KEY = "sk-upstream-0123456789abcdef0123"


@asynccontextmanager
async def running(
    client: relaykit.Client, keys: GatewayKeys = KEYS, **options: Any
) -> AsyncIterator[str]:
    """Serve a :class:`Gateway` over ``client`` on 127.0.0.1 (a free port) until the block
    ends; yields its base URL. ``options`` go to :class:`Gateway`."""
    stop = anyio.Event()
    gateway = Gateway(client, keys=keys, **options)

    async def run(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        await serve(gateway, "127.0.0.1", 0, shutdown=stop, task_status=task_status)

    async with anyio.create_task_group() as tg:
        url = await tg.start(run)
        try:
            yield url
        finally:
            stop.set()


@asynccontextmanager
async def running_over(**base_urls: str) -> AsyncIterator[str]:
    """A gateway over a client of providers at ``base_urls`` (``anthropic=mock.base_url``),
    each with :data:`UPSTREAM_KEY`, call logs off; yields the gateway's base URL."""
    providers = {
        name: {"base_url": url, "api_key": UPSTREAM_KEY} for name, url in base_urls.items()
    }
    config: dict[str, Any] = {"storage": {"backend": "none"}, "providers": providers}
    async with relaykit.Client(config) as client, running(client) as url:
        yield url
