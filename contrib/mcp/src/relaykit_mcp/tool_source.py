"""What ``relaykit prompt/chat --mcp SPEC`` connects to, and the tools it yields.

A SPEC is, in this order:

- a name in ``[mcp.servers]`` (see :mod:`relaykit_mcp.server_config`);
- an ``http://`` or ``https://`` URL: a streamable HTTP server, with the
  ``--mcp-header`` options given after it;
- a command line (``"uvx mcp-server-time"``, split as a shell would), started
  as a stdio server with a minimal environment (``PATH``, ``HOME``, ...: not
  the caller's keys); one word that names no configured server must be a
  command on ``PATH``, else it is taken for a misspelt name.

What the hook returns names, in ``secrets``, the credentials it will send: the
headers' values and a command's secret env values and arguments, ``${VAR}``
read, and each value a ``${VAR}`` read (in a URL, a header, an argument).
``relaykit prompt/chat`` has its client mask them (a tool's result that quotes
one is stored with the conversation).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from relaykit import ConfigError, InvalidRequestError, Secret
from relaykit.errors import did_you_mean
from relaykit.plugin_options import config_path

from .secret_args import flag_value, secret_args
from .server_config import (
    ServerConfig,
    configured_servers,
    expand,
    expanded_env,
    expanded_headers,
    values_read,
)

if TYPE_CHECKING:
    from relaykit import Config, FunctionTool

    from .server import McpServer


class ToolSource(AbstractAsyncContextManager["list[FunctionTool]"]):
    """What the hook returns: entered, it connects and yields the server's tools.

    ``secrets`` are the credentials it sends the server (``relaykit_tool_source``'s
    contract): ``relaykit prompt/chat`` has its client mask each, since a tool's
    result may quote one. Neither they nor their number show in the repr.
    """

    def __init__(
        self,
        tools: AbstractAsyncContextManager[list[FunctionTool]],
        secrets: Iterable[Secret] = (),
    ) -> None:
        self._tools = tools
        #: the credentials this source sends its server
        self.secrets: tuple[Secret, ...] = tuple(secrets)

    async def __aenter__(self) -> list[FunctionTool]:
        return await self._tools.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return await self._tools.__aexit__(exc_type, exc, traceback)

    def __repr__(self) -> str:
        return "<relaykit_mcp tool source>"


def tool_source(
    spec: str,
    headers: Mapping[str, Secret],
    mcp: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    config: Config | None = None,
) -> ToolSource:
    """The tools ``--mcp spec`` names, with ``headers`` (``--mcp-header``, ``${VAR}``
    read), the ``[mcp]`` table ``mcp`` checked; nothing connects until it is entered.
    A server's relative ``cwd`` is taken from the directory of ``config``'s file (the
    working directory's without one, or for a dict config).

    Imports the MCP SDK (a second or more): call it before the event loop starts.
    """
    environ = os.environ if environ is None else environ
    servers = configured_servers(mcp)
    given = expanded_headers(
        tuple((name, value.reveal()) for name, value in headers.items()),
        lambda name: f"--mcp-header {name}",
        environ,
    )
    # their values as sent, and what a ${VAR} in one read alone
    given_secrets = [*given.values(), *_read((v.reveal() for v in headers.values()), environ)]
    server = servers.get(spec)
    if server is not None:
        return _configured(server, given, given_secrets, environ, config)
    if spec.startswith(("http://", "https://")):
        from .connect import connect_http

        return ToolSource(_tools(connect_http(spec, headers=given)), given_secrets)
    argv = _command_line(spec)
    if len(argv) == 1 and os.sep not in argv[0] and shutil.which(argv[0]) is None:
        raise ConfigError(
            f"--mcp {spec}: no MCP server of that name is configured, and no such command "
            "is on PATH",
            hint=did_you_mean(
                spec,
                servers,
                f"configure it as [mcp.servers.{spec}] with command = ... or url = ..., "
                "or give the command line that starts it: --mcp 'uvx mcp-server-time'",
            ),
        )
    if given:
        raise InvalidRequestError(
            f"--mcp-header is for a server reached by URL, and --mcp {argv[0]} starts a command",
            param="--mcp-header",
            hint="give a command's server its tokens in its environment: "
            "[mcp.servers.NAME] env = { TOKEN = '${TOKEN}' }",
        )
    from .connect import connect_stdio

    args = secret_args(argv[1:])
    secrets = [arg for arg in args if isinstance(arg, Secret)]
    secrets += [Secret(flag_value(arg)) for arg in secrets if flag_value(arg)]
    return ToolSource(_tools(connect_stdio(argv[0], args)), secrets)


def _configured(
    server: ServerConfig,
    given: dict[str, Secret],
    given_secrets: list[Secret],
    environ: Mapping[str, str],
    config: Config | None = None,
) -> ToolSource:
    """A configured server's tools; ``given`` headers add to (and win over) its own
    (``given_secrets``: what they hold)."""
    from .connect import connect_http, connect_stdio

    if server.url is not None:
        headers = expanded_headers(
            server.headers, lambda name: f"config key {server.where('headers')}.{name}", environ
        )
        url, _ = expand(server.url, f"config key {server.where('url')}", environ)
        # a URL's ${VAR} keeps a key (?key=, a password) out of the file
        raws = (server.url, *(raw for _, raw in server.headers))
        secrets = [*headers.values(), *given_secrets, *_read(raws, environ)]
        connection = connect_http(
            url,
            headers={**headers, **given},
            name=server.name,
            start_timeout=server.start_timeout,
            call_timeout=server.call_timeout,
            max_output_chars=server.max_output_chars,
        )
    else:
        if given:
            raise InvalidRequestError(
                f"--mcp-header is for a server reached by URL, and {server.name!r} is "
                "started by command",
                param="--mcp-header",
                hint=f"give it tokens in its environment: [mcp.servers.{server.name}] env",
            )
        assert server.command is not None  # a server has a command or a url: checked
        command, _ = expand(server.command, f"config key {server.where('command')}", environ)
        args = [_arg(arg, f"config key {server.where('args')}", environ) for arg in server.args]
        written = (
            expand(server.cwd, f"config key {server.where('cwd')}", environ)[0]
            if server.cwd
            else None
        )
        # expanded first: cwd = "${HOME}/x" is absolute, "work" the config file's
        cwd = config_path(written, config) if written else None
        env = expanded_env(server, environ)
        secrets = [v for v in (*env.values(), *args) if isinstance(v, Secret)]
        # and what a ${VAR} read alone: "--token=${T}" is a secret, and so is T's value
        secrets += _read((*server.args, *(raw for _, raw in server.env)), environ)
        connection = connect_stdio(
            command,
            args,
            env=env,
            cwd=cwd,
            name=server.name,
            start_timeout=server.start_timeout,
            call_timeout=server.call_timeout,
            max_output_chars=server.max_output_chars,
        )
    return ToolSource(_tools(connection, prefix=server.prefix, include=server.include), secrets)


def _read(raws: Iterable[str], environ: Mapping[str, str]) -> list[Secret]:
    """The values the ``${VAR}`` references in ``raws`` read, each a Secret."""
    return [Secret(value) for raw in raws for value in values_read(raw, environ)]


def _arg(raw: str, where: str, environ: Mapping[str, str]) -> str | Secret:
    """An argument with ``${VAR}`` read: a :class:`relaykit.Secret` if it read one
    (``args = ["--token", "${TOKEN}"]``), so errors and quoted stderr mask it."""
    value, read = expand(raw, where, environ)
    return Secret(value) if read else value


def _command_line(spec: str) -> list[str]:
    try:
        argv = shlex.split(spec)
    except ValueError as error:  # an unclosed quote
        raise InvalidRequestError(
            f"--mcp {spec!r} is not a command line: {error}",
            param="--mcp",
            hint="close the quotes, or configure the server in [mcp.servers.NAME]",
        ) from None
    if not argv:
        raise InvalidRequestError("--mcp needs a URL, a command line or a configured name")
    return argv


@asynccontextmanager
async def _tools(
    connection: AbstractAsyncContextManager[McpServer],
    *,
    prefix: str = "",
    include: tuple[str, ...] | None = None,
) -> AsyncIterator[list[FunctionTool]]:
    """Connect, yield the server's tools, disconnect on the way out."""
    async with connection as server:
        yield await server.tools(prefix=prefix, include=include)
