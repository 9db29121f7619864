"""Connecting to an MCP server: :func:`connect_stdio` (a subprocess) and
:func:`connect_http` (streamable HTTP), each an ``async with`` that yields a
:class:`~relaykit_mcp.McpServer` and closes the session (and stops the process)
on the way out."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation

import relaykit
from relaykit import InvalidRequestError, Secret

from .content import DEFAULT_MAX_OUTPUT_CHARS
from .errors import McpError
from .process_group import server_process, stop_group
from .refusals import Refusals, fresh_initialize
from .secret_args import flag_value, shown
from .server import McpServer, failure
from .stderr_capture import StderrCapture

if TYPE_CHECKING:
    from mcp.client._transport import TransportStreams

#: seconds to wait for a server to start and answer ``initialize``
DEFAULT_START_TIMEOUT = 30.0
_CLIENT = Implementation(name="relaykit", version=relaykit.__version__)
#: the schemes of a credential header whose token a server may quote alone
_SCHEMES = ("bearer", "basic", "token")


class _SkippedLines(logging.Filter):
    """The SDK's record of a stdout line that is not JSON-RPC (a server's banner),
    made a DEBUG line without the line: it logs an ERROR with a traceback quoting
    the line (maybe a token) on the terminal, for a line it skips and goes on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Failed to parse JSONRPC message from server":
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.msg = "skipped a line of an MCP server's stdout that is not JSON-RPC"
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("mcp.client.stdio").addFilter(_SkippedLines())


@asynccontextmanager
async def connect_stdio(
    command: str,
    args: Sequence[str | Secret] = (),
    *,
    env: Mapping[str, str | Secret] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    name: str | None = None,
    start_timeout: float = DEFAULT_START_TIMEOUT,
    call_timeout: float | None = None,
    max_output_chars: int | None = DEFAULT_MAX_OUTPUT_CHARS,
) -> AsyncIterator[McpServer]:
    """Start ``command args`` as an MCP server speaking over its stdin and stdout.

    ``env`` is added to a minimal environment (the MCP SDK's: ``PATH``,
    ``HOME``, ...; not this process's whole one); give tokens as
    :class:`relaykit.Secret`, in ``env`` or ``args``, and they are masked
    wherever the server's stderr or its command line is quoted. stderr goes
    to a temporary file, not the terminal or the logs: an :class:`McpError`
    quotes its end, secrets masked, and
    :meth:`McpServer.stderr` reads it. ``name`` is what errors call the server
    (default: the command line). The server has ``start_timeout`` seconds to start
    and answer ``initialize``; each tool call has ``call_timeout`` (none by
    default). A tool result's text past ``max_output_chars`` is cut, with a
    note saying so (None: no limit). The process is stopped when the block
    ends, with any it started (its process group).

    A command that cannot start, or a server that exits or does not answer
    in time, raises :class:`McpError` naming it and the fix.
    """
    if not isinstance(command, str) or not command:
        raise InvalidRequestError("connect_stdio needs a command to run", param="command")
    _check_max_output(max_output_chars)
    if isinstance(args, str):
        raise InvalidRequestError(
            "connect_stdio's `args` is a list of arguments, not one string",
            param="args",
            hint=f"pass args={args.split()!r}",
        )
    label = name or " ".join([Path(command).name, *map(shown, args)])[:80]
    values = dict(env or {})
    secrets = tuple(v.reveal() for v in (*values.values(), *args) if isinstance(v, Secret))
    # a --token=T argument's T alone, which the server may quote
    secrets += tuple(v for v in map(flag_value, args) if v)
    params = StdioServerParameters(
        command=command,
        args=[arg.reveal() if isinstance(arg, Secret) else arg for arg in args],
        env={k: v.reveal() if isinstance(v, Secret) else v for k, v in values.items()},
        cwd=Path(cwd) if cwd is not None else None,
        # A stray non-UTF-8 byte (a tool passing on Latin-1 output) becomes U+FFFD:
        # "strict" kills the SDK's reader, which then drains stdout forever and the
        # call hangs (mcp 2.3).
        encoding_error_handler="replace",
    )
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        stderr = StderrCapture(errlog, secrets)
        started = False
        transport = stdio_client(params, errlog=errlog)
        process = None
        try:
            try:
                async with transport as streams:
                    started = True
                    process = server_process(transport)
                    async with _session(
                        streams,
                        label,
                        (start_timeout, call_timeout, max_output_chars),
                        stderr,
                        secrets,
                    ) as server:
                        yield server
            finally:
                if process is not None:
                    await stop_group(process)
        except BaseExceptionGroup as group:
            raise _unwrapped(group) from None
        except OSError as error:
            if started:
                raise
            # the child's chdir failed: subprocess names the directory as the file
            if cwd is not None and str(error.filename) == str(cwd):
                raise McpError(
                    f"MCP server {label!r} could not start: no directory {str(cwd)!r} (cwd)",
                    server=label,
                    hint="give an existing directory as its cwd (cwd = ... in [mcp.servers])",
                ) from None
            raise McpError(
                f"MCP server {label!r} could not start: {error}",
                server=label,
                hint=f"check that {command!r} is installed and on PATH, or give its full path",
            ) from None


@asynccontextmanager
async def connect_http(
    url: str,
    *,
    headers: Mapping[str, str | Secret] | None = None,
    name: str | None = None,
    start_timeout: float = DEFAULT_START_TIMEOUT,
    call_timeout: float | None = None,
    max_output_chars: int | None = DEFAULT_MAX_OUTPUT_CHARS,
) -> AsyncIterator[McpServer]:
    """Connect to an MCP server's streamable HTTP endpoint (``https://host/mcp``).

    ``headers`` go with every request; give tokens as :class:`relaykit.Secret`
    (``{"Authorization": Secret("Bearer ...")}``): they are masked in reprs
    and errors, and so is the token of a ``Bearer``, ``Basic`` or ``Token``
    value, which a server's error may quote alone. ``name`` is what errors
    call the server (default: the URL without its query). The server has
    ``start_timeout`` seconds to answer ``initialize`` (and each HTTP request
    to connect); each tool call has ``call_timeout`` (none by default). A tool
    result's text past ``max_output_chars`` is cut, with a note saying so
    (None: no limit). The session is ended (HTTP DELETE) when the block ends.

    An unreachable server, a refused login or a server that does not answer
    in time raises :class:`McpError` naming it and the fix.
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequestError(
            f"connect_http needs an http(s) URL, not {url!r}",
            param="url",
            hint="e.g. connect_http('http://127.0.0.1:8000/mcp')",
        )
    _check_max_output(max_output_chars)
    label = name or f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    values = dict(headers or {})
    secrets = _header_secrets(values.values())
    # The query may hold a key (some servers take ?api_key=): masked like a header.
    secrets += tuple(p.partition("=")[2] for p in parts.query.split("&") if "=" in p)
    refused = Refusals()
    http = httpx2.AsyncClient(
        headers={k: v.reveal() if isinstance(v, Secret) else v for k, v in values.items()},
        event_hooks={"request": [fresh_initialize], "response": [refused.note]},
        # a long read: the server holds its SSE answer open while a tool runs
        timeout=httpx2.Timeout(start_timeout, read=max(start_timeout, call_timeout or 300.0)),
    )
    started = False
    try:
        try:
            async with (
                http,
                streamable_http_client(url, http_client=http) as streams,
                _session(
                    streams,
                    label,
                    (start_timeout, call_timeout, max_output_chars),
                    None,
                    secrets,
                    refused,
                ) as server,
            ):
                started = True
                yield server
        except BaseExceptionGroup as group:
            raise _unwrapped(group) from None
    except (httpx2.HTTPError, OSError) as error:
        # the transport's own task failed (the caller's code raises these rarely)
        doing = "a request" if started else "connect"
        raise await failure(
            error, label, doing, None, secrets, start_timeout, refused.status
        ) from None


@asynccontextmanager
async def _session(
    streams: TransportStreams,
    label: str,
    limits: tuple[float, float | None, int | None],
    stderr: StderrCapture | None,
    secrets: tuple[str, ...],
    refused: Refusals | None = None,
) -> AsyncIterator[McpServer]:
    """The MCP session over a transport's streams, initialized within ``start_timeout``
    (``limits``: it, ``call_timeout`` and ``max_output_chars``)."""
    read, write = streams
    start_timeout, call_timeout, max_output_chars = limits
    async with ClientSession(read, write, client_info=_CLIENT) as session:
        try:
            with anyio.fail_after(start_timeout):
                info = await session.initialize()
        except Exception as error:
            status = refused.status if refused is not None else None
            raise await failure(
                error, label, "initialize", stderr, secrets, start_timeout, status
            ) from None
        server = McpServer(
            label,
            session,
            info,
            call_timeout=call_timeout,
            stderr=stderr,
            secrets=secrets,
            refusals=refused,
            start_timeout=start_timeout,
            max_output_chars=max_output_chars,
        )
        try:
            yield server
        finally:
            server.close()


def _header_secrets(values: Iterable[str | Secret]) -> tuple[str, ...]:
    """Each secret header value, and the token of a ``Bearer TOKEN`` one: a server's
    error may quote the token without its scheme."""
    secrets: list[str] = []
    for value in values:
        if isinstance(value, Secret):
            secrets.append(value.reveal())
            scheme, _, token = value.reveal().partition(" ")
            if scheme.lower() in _SCHEMES and token.strip():
                secrets.append(token.strip())
    return tuple(secrets)


def _check_max_output(max_output_chars: int | None) -> None:
    if max_output_chars is not None and (
        isinstance(max_output_chars, bool)
        or not isinstance(max_output_chars, int)
        or max_output_chars < 1
    ):
        raise InvalidRequestError(
            f"max_output_chars must be a whole number of characters above 0, or None,"
            f" not {max_output_chars!r}",
            param="max_output_chars",
            hint="e.g. max_output_chars=200_000, or None for no limit",
        )


def _unwrapped(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside ``group`` (nested or not), else ``group``.

    The SDK's transports run task groups, which (under trio always) wrap
    whatever passes through them, the caller's own exceptions and ours; the
    caller should see an ``McpError``, or their ``KeyError``, as raised.
    """
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
