"""Tools from Model Context Protocol servers, for relaykit's ``run_tools`` and ``stream_tools``.

::

    async with relaykit_mcp.connect_stdio("uvx", ["mcp-server-time"]) as time_server:
        tools = await time_server.tools()
        run = await client.run_tools("openai/gpt-4o-mini", "What time is it in Oslo?", tools)

:func:`connect_stdio` starts a server as a subprocess; :func:`connect_http`
connects to one over streamable HTTP. :meth:`McpServer.tools` lists its tools
as :class:`relaykit.FunctionTool` objects (built with
:meth:`relaykit.FunctionTool.from_schema`), each calling ``tools/call``.
"""

from __future__ import annotations

from .connect import DEFAULT_START_TIMEOUT, connect_http, connect_stdio
from .content import ToolValue
from .errors import McpError, McpToolError
from .server import McpServer

__all__ = [
    "DEFAULT_START_TIMEOUT",
    "McpError",
    "McpServer",
    "McpToolError",
    "ToolValue",
    "connect_http",
    "connect_stdio",
]
