"""relaykit-mcp's hooks: ``relaykit prompt/chat --mcp SPEC`` through ``relaykit_tool_source``,
and ``[mcp]`` named and checked through ``relaykit_config_tables``.

relaykit loads this module in every process that builds a client or runs the
CLI, so it imports nothing heavy: the MCP SDK only when ``--mcp`` is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from relaykit import hookimpl

if TYPE_CHECKING:
    from relaykit import Config, FunctionTool, Secret


# trylast: every spec is ours, so another plugin's own specs are asked about first
@hookimpl(trylast=True)
def relaykit_tool_source(
    spec: str, headers: Mapping[str, Secret], config: Config
) -> AbstractAsyncContextManager[Sequence[FunctionTool]]:
    """Every ``--mcp`` is ours: a configured server's name, a URL or a command line."""
    from .tool_source import tool_source

    return tool_source(spec, headers, config.mcp, config=config)


@hookimpl
def relaykit_config_tables(config: Config) -> Sequence[str]:
    """``[mcp]``, checked: a client refuses a mistake in it as it starts, as it does
    one in an exporter's table, rather than when ``--mcp`` first names a server."""
    if config.mcp:
        from .server_config import configured_servers

        configured_servers(config.mcp)
    return ("mcp",)
