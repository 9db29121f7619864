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
from relaykit.known_secrets import MIN_LENGTH
from relaykit.secrets import MASK, scrub

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
        keys: GatewayKeys | None = None
        client: Client | None = None
        try:
            keys = self._keys if self._keys is not None else GatewayKeys.from_env()
            if not keys:
                raise ConfigError(
                    "the gateway has no keys, and its server may listen beyond this machine",
                    hint=f"set {KEYS_ENV}=name=key,...",
                )
            cors = self._cors if self._cors is not None else CorsPolicy.from_env()
            # Opened and closed in this one task, as anyio's task groups require.
            client = Client(self._config, **self._options)
            async with client:
                await client.warm_up()  # not in the first caller's request
                self.gateway = Gateway(client, keys=keys, cors=cors)
                started = True
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
                await self.gateway.drain(GRACEFUL_SECONDS)
        except Exception as error:
            # Any failure is reported, not raised: a server takes a lifespan that
            # raises for an app without lifespan support (uvicorn's default
            # --lifespan auto, hypercorn) and serves a 503 to every request for
            # ever, instead of stopping with this message.
            stage = "shutdown" if started else "startup"
            await send({"type": f"lifespan.{stage}.failed", "message": _why(error, client, keys)})
            return
        await send({"type": "lifespan.shutdown.complete"})


def _why(error: Exception, client: Client | None, keys: GatewayKeys | None) -> str:
    """What the server is told (and logs) about a failed start or stop: a
    :class:`RelayError`'s own message (masked already); another exception's type
    and text, masked: credentials of known shapes, the client's keys, the gateway's."""
    if isinstance(error, RelayError):
        return str(error)
    why = scrub(f"{type(error).__name__}: {error}")
    if client is not None:
        why = client.masked(why)
    for _, key in keys.keys if keys is not None else ():
        if len(key.reveal()) >= MIN_LENGTH:
            why = why.replace(key.reveal(), MASK)
    return why
