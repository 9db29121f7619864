"""relaykit-gateway: OpenAI- and Anthropic-compatible HTTP APIs over a relaykit Client.

::

    async with relaykit.Client() as client:
        app = Gateway(client, keys=GatewayKeys.from_env())   # an ASGI app
        await serve(app, "127.0.0.1", 4000)                    # or any ASGI server

Or from the command line: ``relaykit gateway --port 4000``, or under any ASGI
server: ``uvicorn --factory relaykit_gateway:create_app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

#: public name -> the module defining it
_EXPORTS = {
    "Gateway": "app",
    "CorsPolicy": "cors",
    "create_app": "factory",
    "GatewayKeys": "keys",
    "serve": "server",
}

__all__ = [
    "CorsPolicy",
    "Gateway",
    "GatewayKeys",
    "create_app",
    "serve",
]


# Lazy (PEP 562): relaykit imports this package's plugin module in every process
# that builds a client or runs the CLI (`relaykit --help` too); the modules
# behind these names load when one is asked for.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .app import Gateway as Gateway
    from .cors import CorsPolicy as CorsPolicy
    from .factory import create_app as create_app
    from .keys import GatewayKeys as GatewayKeys
    from .server import serve as serve
