"""``--mcp SPEC`` and ``--mcp-header NAME=VALUE``: MCP servers' tools for ``prompt`` and ``chat``.

::

    relaykit prompt --mcp "uvx mcp-server-time" "What time is it in Oslo?"
    relaykit prompt --mcp https://mcp.example.com/mcp --mcp-header "Authorization=Bearer $TOKEN" ...
    relaykit chat --mcp time          # [mcp.servers.time] in the configuration

The core speaks no MCP: the ``relaykit_tool_source`` hook turns each spec into
tools (relaykit-mcp implements it), so without such a plugin ``--mcp`` is an
error that names the package to install (or, when it is installed but disabled,
how to enable it). A ``--mcp-header`` belongs to the
``--mcp`` before it: a token meant for one server never goes to another.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import attrs

from ..errors import ConfigError, InvalidRequestError
from ..plugin_faults import first_result
from ..secrets import Secret, scrub

if TYPE_CHECKING:
    from ..config import Config
    from ..function_tools import FunctionTool
    from .context import CliContext

#: what each spec's hook returns: entered, it connects and yields the tools
ToolSource: TypeAlias = "AbstractAsyncContextManager[Sequence[FunctionTool]]"


@attrs.frozen
class McpOption:
    """One ``--mcp SPEC``, with the ``--mcp-header`` options given after it."""

    spec: str
    #: (name, value) pairs, in order; values are secrets (tokens, mostly)
    headers: tuple[tuple[str, Secret], ...] = ()

    @property
    def label(self) -> str:
        """The spec as errors show it: a URL without its query or credentials."""
        return spec_label(self.spec)


def spec_label(spec: str) -> str:
    """``spec`` fit to print: a URL's query (``?api_key=``) and user:password dropped."""
    parts = urlsplit(spec)
    if parts.scheme in ("http", "https") and parts.netloc:
        host = parts.netloc.rpartition("@")[2]
        return scrub(urlunsplit((parts.scheme, host, parts.path, "", "")))
    return scrub(spec)


def add_mcp_options(parser: argparse.ArgumentParser, *, listing: bool = False) -> None:
    """Add ``--mcp`` and ``--mcp-header`` to a command's parser (into ``args.mcp``);
    ``listing``: for a command that lists the tools rather than giving them to a model."""
    parser.add_argument(
        "--mcp",
        metavar="SPEC",
        action=_McpAction,
        help=("list" if listing else "let the model call")
        + " an MCP server's tools (repeatable): a server's URL, "
        "a command line that starts one ('uvx mcp-server-time'), or a name from "
        "[mcp.servers] in the config; needs relaykit-mcp",
    )
    parser.add_argument(
        "--mcp-header",
        metavar="NAME=VALUE",
        action=_HeaderAction,
        help="an HTTP header for the --mcp URL before it, repeatable: "
        "--mcp-header 'Authorization=Bearer ${TOKEN}' (${VAR} reads the environment)",
    )


class _McpAction(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        spec = str(values).strip()
        if not spec:
            raise argparse.ArgumentError(self, "give a URL, a command line or a configured name")
        setattr(
            namespace, self.dest, [*(getattr(namespace, self.dest, None) or ()), McpOption(spec)]
        )


class _HeaderAction(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        # Never quote the value in an error: it is usually a token.
        options = list(getattr(namespace, "mcp", None) or ())
        if not options:
            raise argparse.ArgumentError(
                self, "give it after the --mcp URL it is for: --mcp URL --mcp-header NAME=VALUE"
            )
        name, value = _header(str(values))
        if name is None:
            raise argparse.ArgumentError(
                self, "expected NAME=VALUE, e.g. --mcp-header 'Authorization=Bearer ${TOKEN}'"
            )
        last = options[-1]
        options[-1] = attrs.evolve(last, headers=(*last.headers, (name, Secret(value))))
        namespace.mcp = options


def _header(text: str) -> tuple[str | None, str]:
    """``NAME=VALUE`` or ``NAME: VALUE`` (curl's spelling): whichever separator comes
    first, since a header's name holds neither and its value may hold both."""
    cuts = [i for i in (text.find("="), text.find(":")) if i > 0]
    if not cuts:
        return None, ""
    name, value = text[: min(cuts)].strip(), text[min(cuts) + 1 :].strip()
    if not name or any(c.isspace() for c in name):
        return None, ""
    return name, value


def tool_sources(
    options: Sequence[McpOption], context: CliContext, config: Config
) -> list[tuple[str, ToolSource]]:
    """Each ``--mcp`` as the plugin that takes it returns it: a label for errors,
    and the context manager that connects and yields its tools (not entered)."""
    pm = context.plugin_manager
    sources = []
    for i, option in enumerate(options):
        if any(other.spec == option.spec for other in options[:i]):
            raise InvalidRequestError(
                f"--mcp {option.label} is given twice",
                param="--mcp",
                hint="give each server once; its tools all go to the model",
            )
        _, source = first_result(  # a plugin raising is a ConfigError naming it
            pm,
            "relaykit_tool_source",
            spec=option.spec,
            headers=dict(option.headers),
            config=config,
        )
        if source is None:
            skipped = pm.not_loaded.get("relaykit-mcp")
            get = (
                "pip install relaykit-mcp, which connects to MCP servers"
                if skipped is None
                else "relaykit-mcp, which connects to MCP servers, is installed but"
                f" {skipped.state}: {skipped.fix}"
            )
            raise ConfigError(
                f"--mcp {option.label}: no plugin turns it into tools",
                hint=f"{get}; `relaykit plugins` lists the plugins loaded",
            )
        sources.append((f"--mcp {option.label}", source))
    return sources


def held_secrets(label: str, source: object) -> tuple[Secret, ...]:
    """The credentials a tool source names in its ``secrets`` attribute (the tokens
    its plugin read from the configuration or the environment), each a Secret; none
    from a source without one (a plugin written before the attribute)."""
    named = getattr(source, "secrets", None)
    if named is None:
        return ()
    if isinstance(named, str | Secret) or not isinstance(named, Iterable):
        raise ConfigError(
            f"{label}: its plugin's `secrets` is {type(named).__name__}, not a sequence of "
            "relaykit.Secret or str",
            hint="report it to the plugin's authors; `relaykit plugins` lists them",
        )
    secrets = []
    for value in named:
        if not isinstance(value, str | Secret):
            # never the value: it may be a token in an unexpected wrapper
            raise ConfigError(
                f"{label}: its plugin named a secret of type {type(value).__name__}, "
                "not relaykit.Secret or str",
                hint="report it to the plugin's authors; `relaykit plugins` lists them",
            )
        secrets.append(value if isinstance(value, Secret) else Secret(value))
    return tuple(secrets)
