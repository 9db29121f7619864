"""``relaykit tools``: the tools a prompt would get from ``--functions`` and ``--mcp``.

::

    relaykit tools --functions tools.py --mcp time
    relaykit tools --mcp https://mcp.example.com/mcp --mcp-header 'Authorization=Bearer ${T}' --json

It takes the options ``prompt`` and ``chat`` take (parsed by the same code), runs
the functions files, connects to each server, lists the tools and disconnects:
no model is called, so it needs no provider and no API key. A server that will
not start, a bad ``[mcp]`` table or two tools of one name fail here as they
would in ``prompt``, with the same error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError
from .table import format_table
from .tool_options import add_tool_source_options, requested_tools

if TYPE_CHECKING:
    from ..function_tools import FunctionTool
    from .context import CliContext
    from .tool_options import CliTools

#: how much of a description's first line the table shows
DESCRIPTION_WIDTH = 100


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``tools`` command."""
    parser = commands.add_parser(
        "tools",
        parents=parents,
        help="list the tools --functions and --mcp give a prompt",
        description="List the tools that `relaykit prompt` and `relaykit chat` would give "
        "the model with the same --functions and --mcp options: each tool's name, where it "
        "comes from and its description. Connects to the MCP servers, calls no model.",
    )
    add_tool_source_options(parser, listing=True)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each tool's name, description, input schema and source as JSON",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit tools``."""
    context: CliContext = args.context
    if not args.functions and not args.mcp:
        raise InvalidRequestError(
            "no tools asked for",
            hint="give --functions FILE.py or --mcp SPEC (a URL, a command line or a name "
            "from [mcp.servers]), as for `relaykit prompt`",
        )
    config = context.load_config()
    # As prompt does: the user's code runs and plugins are asked for the sources
    # before the event loop starts; the servers connect inside it.
    tools = requested_tools(args, context, config)
    listed = context.run(_listed, tools)
    if args.json:
        print(json.dumps([_as_json(source, tool) for source, tool in listed], indent=2))
        return 0
    rows = [(tool.name, source, _first_line(tool.tool.description)) for source, tool in listed]
    print(format_table(("name", "source", "description"), rows))
    return 0


async def _listed(tools: CliTools) -> list[tuple[str, FunctionTool]]:
    """Each tool with its source, in the order the model would get them."""
    async with tools.connected_groups() as groups:
        return [(source_name(label), tool) for label, group in groups for tool in group]


def source_name(label: str) -> str:
    """Where a tool comes from, shortly: ``tools.py`` for ``--functions tools.py``,
    ``mcp:time`` for ``--mcp time`` (a URL already without its query or password)."""
    option, _, spec = label.partition(" ")
    return f"mcp:{spec}" if option == "--mcp" else spec


def _first_line(description: str) -> str:
    line = next((s.strip() for s in description.splitlines() if s.strip()), "")
    if len(line) > DESCRIPTION_WIDTH:
        line = line[: DESCRIPTION_WIDTH - 3] + "..."
    return line or "-"


def _as_json(source: str, tool: FunctionTool) -> dict[str, Any]:
    return {
        "name": tool.name,
        "description": tool.tool.description,
        "input_schema": tool.tool.parameters,
        "source": source,
    }
