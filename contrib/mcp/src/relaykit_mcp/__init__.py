"""Tools from Model Context Protocol servers, for relaykit's ``run_tools`` and ``stream_tools``.

::

    async with relaykit_mcp.connect_stdio("uvx", ["mcp-server-time"]) as time_server:
        tools = await time_server.tools()
        run = await client.run_tools("openai/gpt-4o-mini", "What time is it in Oslo?", tools)

:func:`connect_stdio` starts a server as a subprocess; :func:`connect_http`
connects to one over streamable HTTP. :meth:`McpServer.tools` lists its tools
as :class:`relaykit.FunctionTool` objects (built with
:meth:`relaykit.FunctionTool.from_schema`), each calling ``tools/call``.

Names are imported lazily (PEP 562): relaykit loads this package's plugin
module (``relaykit prompt --mcp``) in every process that builds a client, and
the MCP SDK takes a second or more to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

_EXPORTS = {
    "DEFAULT_START_TIMEOUT": "connect",
    "DEFAULT_MAX_OUTPUT_CHARS": "content",
    "connect_http": "connect",
    "connect_stdio": "connect",
    "ToolValue": "content",
    "McpError": "errors",
    "McpToolError": "errors",
    "McpServer": "server",
}

__all__ = [
    "DEFAULT_MAX_OUTPUT_CHARS",
    "DEFAULT_START_TIMEOUT",
    "McpError",
    "McpServer",
    "McpToolError",
    "ToolValue",
    "connect_http",
    "connect_stdio",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .connect import DEFAULT_START_TIMEOUT, connect_http, connect_stdio
    from .content import DEFAULT_MAX_OUTPUT_CHARS, ToolValue
    from .errors import McpError, McpToolError
    from .server import McpServer
