"""relaykit-gateway: OpenAI- and Anthropic-compatible HTTP APIs over a relaykit Client.

::

    async with relaykit.Client() as client:
        app = Gateway(client, keys=GatewayKeys.from_env())   # an ASGI app
        await serve(app, "127.0.0.1", 4000)                    # or any ASGI server

Or from the command line: ``relaykit gateway --port 4000``, or under any ASGI
server: ``uvicorn --factory relaykit_gateway:create_app``.
"""

from __future__ import annotations

from .app import Gateway
from .cors import CorsPolicy
from .factory import create_app
from .keys import GatewayKeys
from .serve import serve

__all__ = ["CorsPolicy", "Gateway", "GatewayKeys", "create_app", "serve"]
