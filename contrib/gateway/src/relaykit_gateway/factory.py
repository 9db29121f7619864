"""A gateway that owns its client, for ASGI servers started from their own command line.

::

    RELAYKIT_GATEWAY_KEYS=alice=... uvicorn --factory relaykit_gateway:create_app
    RELAYKIT_GATEWAY_KEYS=alice=... hypercorn -k trio 'relaykit_gateway:create_app()'

The server's ASGI lifespan opens the relaykit client when it starts and, when
it stops, drains the calls in flight and closes the client (which writes out
its call log).
"""

from __future__ import annotations

from typing import Any

from relaykit import Client, ConfigError, RelayError

from .app import OPENAI, Gateway
from .asgi_messages import Receive, Scope, Send, send_json
from .cors import CorsPolicy
from .keys import KEYS_ENV, GatewayKeys
from .server import GRACEFUL_SECONDS


def create_app(
    config: Any = None,
    *,
    keys: GatewayKeys | None = None,
    cors: CorsPolicy | None = None,
    **client_options: Any,
) -> OwnClientGateway:
    """An ASGI app serving the gateway over a client it opens itself.

    ``config`` and ``client_options`` (``plugins``, ``env``) go to
    :class:`relaykit.Client`; ``keys`` default to ``$RELAYKIT_GATEWAY_KEYS`` and
    are required, since such a server may listen on any address; ``cors`` to
    ``$RELAYKIT_GATEWAY_CORS_ORIGINS`` (none).
    """
    return OwnClientGateway(config, keys, client_options, cors)


class OwnClientGateway:
    """The app :func:`create_app` returns: a :class:`Gateway` once the lifespan has started."""

    def __init__(
        self,
        config: Any,
        keys: GatewayKeys | None,
        options: dict[str, Any],
        cors: CorsPolicy | None = None,
    ) -> None:
        self._config = config
        self._keys = keys
        self._cors = cors
        self._options = options
        self.gateway: Gateway | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the lifespan, or hand a request to the gateway."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self.gateway is not None:
            await self.gateway(scope, receive, send)
        elif scope["type"] == "http":
            message = "the gateway has not started: its server must run the ASGI lifespan"
            await send_json(send, 503, OPENAI.error_body(503, message))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        started = False
        try:
            keys = self._keys if self._keys is not None else GatewayKeys.from_env()
            if not keys:
                raise ConfigError(
                    "the gateway has no keys, and its server may listen beyond this machine",
                    hint=f"set {KEYS_ENV}=name=key,...",
                )
            cors = self._cors if self._cors is not None else CorsPolicy.from_env()
            # Opened and closed in this one task, as anyio's task groups require.
            async with Client(self._config, **self._options) as client:
                await client.warm_up()  # not in the first caller's request
                self.gateway = Gateway(client, keys=keys, cors=cors)
                started = True
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
                await self.gateway.drain(GRACEFUL_SECONDS)
        except RelayError as error:
            stage = "shutdown" if started else "startup"
            await send({"type": f"lifespan.{stage}.failed", "message": str(error)})
            return
        await send({"type": "lifespan.shutdown.complete"})
