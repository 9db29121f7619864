"""The tool options ``prompt`` and ``chat`` share: ``--functions FILE.py``, ``--mcp SPEC``
(with ``--mcp-header``) and ``--max-steps``; the tools they give, connected and
combined into one list; and what a tool run shows as it goes.

The functions files run and the plugins are asked for the ``--mcp`` sources
before the event loop starts (the user's code and a plugin's imports block);
the sources connect inside it, in :meth:`CliTools.connected`, and stay
connected until the prompt is answered or the chat ends.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import attrs

from ..errors import ConfigError, InvalidRequestError
from .mcp_option import add_mcp_options
from .number_options import whole_number
from .text_options import non_blank

if TYPE_CHECKING:
    from ..client import Client
    from ..config import Config
    from ..events import StreamEvent, ToolResultEvent, ToolRunEvent
    from ..function_tools import FunctionTool
    from ..secrets import Secret
    from ..sync_client import SyncClient
    from .context import CliContext
    from .mcp_option import ToolSource


#: the schemes of a credential header whose token a server may quote alone
_SCHEMES = ("bearer", "basic", "token")
#: --max-steps when not given
DEFAULT_MAX_STEPS = 10


def add_tool_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--functions``, ``--mcp``, ``--mcp-header`` and ``--max-steps`` to a parser."""
    add_tool_source_options(parser)
    parser.add_argument(
        "--max-steps",
        type=whole_number(1),
        # None: not given, so requested_tools can tell --max-steps without tools
        default=None,
        metavar="N",
        help="with tools: how many times the model may be called for one answer"
        f" (default {DEFAULT_MAX_STEPS})",
    )


def add_tool_source_options(parser: argparse.ArgumentParser, *, listing: bool = False) -> None:
    """Add ``--functions``, ``--mcp`` and ``--mcp-header``: what ``relaykit tools``
    lists (``listing``: help that says so) takes the very options ``prompt`` and
    ``chat`` do."""
    parser.add_argument(
        "--functions",
        metavar="FILE.py",
        type=non_blank("a Python file"),
        action="append",
        help="list the functions a Python file defines (each top-level function is a "
        "tool; repeatable)"
        if listing
        else "let the model call the functions a Python file defines (each top-level "
        "function is a tool; repeatable); each step's text streams, and each tool's "
        "outcome is a line on stderr",
    )
    add_mcp_options(parser, listing=listing)


@attrs.frozen
class CliTools:
    """The tools a command's options ask for: each functions file's (loaded) and
    each ``--mcp`` source (not connected yet), with the option that named it."""

    functions: tuple[tuple[str, tuple[FunctionTool, ...]], ...] = ()
    sources: tuple[tuple[str, ToolSource], ...] = ()
    #: the ``--mcp-header`` values and the secrets each source names: credentials
    #: the client is to mask
    secrets: tuple[Secret, ...] = attrs.field(default=(), repr=False)

    def __bool__(self) -> bool:
        return bool(self.functions or self.sources)

    def mask_in(self, client: Client | SyncClient) -> None:
        """Have ``client`` mask the ``--mcp-header`` values and the secrets the
        sources name (``relaykit_tool_source``), and the token of a ``Bearer ...``
        one, wherever they show: a tool's result may quote them, and it is stored
        with the conversation."""
        for secret in self.secrets:
            client.mask_secret(secret)
            scheme, _, token = secret.reveal().partition(" ")
            if scheme.lower() in _SCHEMES and token.strip():
                client.mask_secret(token.strip())

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[list[FunctionTool]]:
        """Connect the sources, one after another, and yield every tool (functions
        first, then each source's in ``--mcp`` order); disconnect on the way out.
        Once only: a source's context manager cannot be entered twice."""
        async with self.connected_groups() as groups:
            yield [tool for _, tools in groups for tool in tools]

    @asynccontextmanager
    async def connected_groups(
        self,
    ) -> AsyncIterator[list[tuple[str, tuple[FunctionTool, ...]]]]:
        """As :meth:`connected`, but each tool with the option that gave it
        (``--functions FILE.py``, ``--mcp SPEC``): what ``relaykit tools`` shows.
        The same checks run, so it fails where a prompt would."""
        async with AsyncExitStack() as stack:
            groups = [(f"--functions {path}", tools) for path, tools in self.functions]
            for label, source in self.sources:
                groups.append((label, tuple(await stack.enter_async_context(source))))
            combined(groups)
            yield groups


def requested_tools(args: argparse.Namespace, context: CliContext, config: Config) -> CliTools:
    """The tools ``args`` ask for; runs the functions files and asks the plugins for
    the ``--mcp`` sources, so call it before the event loop starts.

    Settles ``args.max_steps`` too: given without a tool (``--functions``, ``--mcp``
    or a template's ``functions``) it would be ignored silently, so it is refused.
    """
    if hasattr(args, "max_steps"):  # relaykit tools lists them: it has no --max-steps
        if args.max_steps is not None and not (args.functions or args.mcp):
            raise InvalidRequestError(
                "--max-steps limits the model calls of a run with tools, but no tools were given",
                param="max_steps",
                hint="add --functions FILE.py or --mcp SPEC, or drop --max-steps",
            )
        if args.max_steps is None:
            args.max_steps = DEFAULT_MAX_STEPS
    functions: list[tuple[str, tuple[FunctionTool, ...]]] = []
    if args.functions:
        from .functions_option import functions_by_file

        functions = [(path, tuple(tools)) for path, tools in functions_by_file(args.functions)]
    sources: list[tuple[str, ToolSource]] = []
    secrets: list[Secret] = []
    if args.mcp:
        from .mcp_option import held_secrets, tool_sources

        sources = tool_sources(args.mcp, context, config)
        secrets += (value for option in args.mcp for _, value in option.headers)
        # what the plugins read themselves: [mcp.servers.NAME] headers and env, ${VAR}s
        secrets += (secret for label, source in sources for secret in held_secrets(label, source))
    return CliTools(tuple(functions), tuple(sources), tuple(secrets))


def combined(groups: Sequence[tuple[str, Sequence[FunctionTool]]]) -> list[FunctionTool]:
    """Every group's tools in one list; two of one name (a model could not tell
    which it calls) are an error naming where each came from."""
    from ..function_tools import FunctionTool

    found: dict[str, str] = {}
    tools: list[FunctionTool] = []
    for label, group in groups:
        for tool in group:
            if not isinstance(tool, FunctionTool):
                raise ConfigError(
                    f"{label}: its plugin gave {type(tool).__name__}, not a relaykit.FunctionTool",
                    hint="report it to the plugin's authors; `relaykit plugins` lists them",
                )
            if tool.name in found:
                where = (
                    f"{label} has two"
                    if found[tool.name] == label
                    else f"{found[tool.name]} and {label} both have one"
                )
                raise InvalidRequestError(
                    f"two tools are named {tool.name!r}: {where}",
                    param="--mcp" if label.startswith("--mcp") else "--functions",
                    hint="give a configured server a prefix for its tools, "
                    "[mcp.servers.NAME] prefix = 'NAME_', keep some out with "
                    "include = [...], or rename the function",
                )
            found[tool.name] = label
            tools.append(tool)
    return tools


def show_tool_event(event: StreamEvent | ToolRunEvent) -> None:
    """Show one event of a tool run: each step's text on stdout as it arrives, and a
    line on stderr as each web search runs and as each tool finishes."""
    from ..events import SearchQuery, StepEnd, TextDelta, ToolResultEvent
    from .sources import print_search

    if isinstance(event, TextDelta):
        _write(event.text)
    elif isinstance(event, SearchQuery):
        print_search(event.query)
    elif isinstance(event, StepEnd):
        text = event.response.text
        if event.response.tool_calls and text and not text.endswith("\n"):
            _write("\n")  # the tools' lines, on stderr, start lines of their own
    elif isinstance(event, ToolResultEvent):
        print(tool_line(event), file=sys.stderr, flush=True)


def tool_line(event: ToolResultEvent) -> str:
    """``tool NAME: ok``, or ``tool NAME: error: WHAT`` (its first line, cut short)."""
    if not event.is_error:
        return f"tool {event.call.name}: ok"
    what = (event.content.splitlines() or [""])[0]
    if len(what) > 120:
        what = what[:117] + "..."
    return f"tool {event.call.name}: error: {what}"


def _write(text: str) -> None:
    # Flushing per delta is what makes the reply appear as it arrives.
    sys.stdout.write(text)
    sys.stdout.flush()
