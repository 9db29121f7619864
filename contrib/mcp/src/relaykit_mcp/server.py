"""A connected MCP server (:class:`McpServer`): its tools as relaykit FunctionTools, and
the ``tools/call`` they make, with the SDK's failures turned into :class:`McpError`."""

from __future__ import annotations

import re
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import mcp.types as mt
from mcp import ClientSession, MCPError

from relaykit import FunctionTool, InvalidRequestError, Tool
from relaykit.secrets import scrub

from .content import DEFAULT_MAX_OUTPUT_CHARS, ToolValue, error_text, tool_value
from .errors import McpError, McpToolError
from .refusals import Refusals
from .stderr_capture import StderrCapture

_T = TypeVar("_T")

_NOT_A_NAME_CHAR = re.compile(r"[^A-Za-z0-9_-]")
_MAX_NAME = 64  # OpenAI's and Anthropic's limit on a tool's name


class McpServer:
    """A connected MCP server; made by :func:`relaykit_mcp.connect_stdio` or
    :func:`relaykit_mcp.connect_http`, usable inside their ``async with``.

    :meth:`tools` lists its tools as :class:`relaykit.FunctionTool` objects for
    :meth:`relaykit.Client.run_tools` and :meth:`~relaykit.Client.stream_tools`;
    :meth:`call` calls one by its MCP name.
    """

    def __init__(
        self,
        name: str,
        session: ClientSession,
        info: mt.InitializeResult,
        *,
        call_timeout: float | None,
        stderr: StderrCapture | None,
        secrets: tuple[str, ...],
        refusals: Refusals | None = None,
        start_timeout: float | None = None,
        max_output_chars: int | None = DEFAULT_MAX_OUTPUT_CHARS,
    ) -> None:
        #: what errors call this server (the ``name`` given, else its command or URL)
        self.name = name
        #: what the server said about itself (``serverInfo``), and how to use it
        self.server_info = info.server_info
        self.instructions = info.instructions
        self._session = session
        self._call_timeout = call_timeout
        self._stderr = stderr
        self._secrets = secrets
        self._refusals = refusals
        self._start_timeout = start_timeout
        self._max_output_chars = max_output_chars
        self._renewing = anyio.Lock()
        self._sessions = 1  # how many sessions it has had: one, until the server ends one
        self._open = True

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return f"<McpServer {self.name!r} {state}>"

    async def tools(
        self, *, prefix: str = "", include: Iterable[str] | None = None
    ) -> list[FunctionTool]:
        """The server's tools, each a :class:`relaykit.FunctionTool` whose call is
        this server's ``tools/call``: every page of its ``tools/list`` (a page naming
        a cursor already followed ends the list, where following it would loop).

        Each keeps the server's description and input schema. ``prefix`` goes
        before every name (``"github_"``), so two servers' tools cannot clash in
        one run; characters a model's tool name cannot hold (``.``, ``/``) become
        ``_`` and a name longer than 64 is shortened (the server is still called
        by its own name). ``include`` keeps only the tools it names (the
        server's names, unprefixed); naming a tool the server lacks raises
        :class:`relaykit.InvalidRequestError`.
        """
        listed = await self._list_tools()
        if include is not None:
            wanted = [include] if isinstance(include, str) else list(include)
            missing = sorted(set(wanted) - {t.name for t in listed})
            if missing:
                raise InvalidRequestError(
                    f"MCP server {self.name!r} has no tool named {', '.join(map(repr, missing))}",
                    param="include",
                    hint=f"its tools are: {', '.join(t.name for t in listed) or 'none'}",
                )
            listed = [t for t in listed if t.name in wanted]
        found: dict[str, str] = {}
        tools = []
        for listing in listed:
            name = model_name(prefix + listing.name)
            if name in found:
                raise InvalidRequestError(
                    f"MCP server {self.name!r}'s tools {found[name]!r} and {listing.name!r}"
                    f" would both be {name!r} to a model",
                    param="include",
                    hint="pass include=[...] naming one of them",
                )
            found[name] = listing.name
            call = self._caller(listing.name)
            tools.append(FunctionTool.from_schema(self._tool(name, listing), call))
        return tools

    async def call(self, name: str, arguments: Mapping[str, Any] | None = None) -> ToolValue:
        """Call tool ``name`` (the server's name for it) and return its content: a
        str, or a list of strings, :class:`relaykit.ImagePart` and
        :class:`relaykit.DocumentPart` (what a relaykit tool returns).

        Text past the server's ``max_output_chars`` is cut, with a note
        ``[output truncated: N of M characters]``. An error result
        (``isError``) raises :class:`McpToolError` with its text; a server
        that is gone, refuses the call or does not answer within
        ``call_timeout`` raises :class:`McpError`.
        """
        self._check_open()

        async def send() -> mt.CallToolResult:
            return await self._session.call_tool(
                name, dict(arguments or {}), read_timeout_seconds=self._call_timeout
            )

        result = await self._in_session(f"tools/call {name!r}", send)
        if result.is_error:
            raise McpToolError(
                f"MCP tool {name} failed: "
                + scrub(error_text(result, self._max_output_chars), self._secrets),
                server=self.name,
                tool=name,
            )
        return tool_value(result, self._max_output_chars)

    async def stderr(self) -> str:
        """The end of a stdio server's stderr so far, secrets masked ("" over HTTP)."""
        if self._stderr is None:
            return ""
        return await anyio.to_thread.run_sync(self._stderr.tail)

    # -- inside --------------------------------------------------------------------------

    async def _list_tools(self) -> list[mt.Tool]:
        self._check_open()
        tools: list[mt.Tool] = []
        cursor: str | None = None
        asked: set[str] = set()  # a page naming one of these again would loop for ever
        sessions = self._sessions
        while True:
            params = mt.PaginatedRequestParams(cursor=cursor) if cursor else None

            async def send(
                params: mt.PaginatedRequestParams | None = params,
            ) -> mt.ListToolsResult:
                with anyio.fail_after(self._call_timeout):
                    return await self._session.list_tools(params=params)

            page = await self._in_session("tools/list", send)
            if cursor and self._sessions != sessions:
                # a new session began mid-list: the old one's cursor means nothing to it
                tools, cursor, sessions = [], None, self._sessions
                asked.clear()
                continue
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor or cursor in asked:
                return tools
            asked.add(cursor)

    async def _in_session(self, doing: str, send: Callable[[], Awaitable[_T]]) -> _T:
        """``send()``'s answer, its failure an McpError; once more in a new session if
        the HTTP server said the session ended (404 to its ``Mcp-Session-Id``).

        The spec has the client start a new session then. Sending the request
        again is safe even for a tools/call, which may not be idempotent: the
        server refuses a request of an unknown session before running anything.
        """
        mark = self._refusals.mark() if self._refusals is not None else 0
        sessions = self._sessions
        try:
            return await send()
        except Exception as error:  # the SDK's and its transport's, all mapped
            if self._refusals is None or not self._refusals.expired_since(mark):
                raise await self._failed(error, doing, mark) from None
        await self._renew(sessions)
        mark = self._refusals.mark()
        try:
            return await send()
        except Exception as error:
            raise await self._failed(error, doing, mark) from None

    async def _renew(self, sessions: int) -> None:
        """A new session (``initialize`` again), unless another call started one
        since there were ``sessions``; the HTTP client's hook sends it without
        the old id."""
        async with self._renewing:
            if self._sessions != sessions:
                return
            doing = "initialize (a new session: the server ended the last one)"
            # mcp 2.3's initialize() answers its first result again without this
            self._session._initialize_result = None
            renewing = self._refusals.mark() if self._refusals is not None else 0
            try:
                with anyio.fail_after(self._start_timeout):
                    await self._session.initialize()
            except Exception as error:
                raise await self._failed(error, doing, renewing) from None
            self._sessions += 1

    def _tool(self, name: str, listing: mt.Tool) -> Tool:
        schema = dict(listing.input_schema)
        schema.setdefault("type", "object")  # the spec requires it; some servers omit it
        return Tool(name, listing.description or listing.title or "", schema)

    def _caller(self, name: str) -> Any:
        async def call(arguments: dict[str, Any]) -> ToolValue:
            return await self.call(name, arguments)

        return call

    def _check_open(self) -> None:
        if not self._open:
            raise McpError(
                f"MCP server {self.name!r} is closed",
                server=self.name,
                hint="use its tools inside the `async with connect_...(...)` block",
            )

    def close(self) -> None:
        """Mark the server closed (its ``async with`` ended): calls raise McpError."""
        self._open = False

    async def _failed(self, error: Exception, doing: str, mark: int) -> McpError:
        """``error`` (raised while ``doing``, after ``mark``) as an McpError naming the
        server and the fix."""
        status = self._refusals.since(mark) if self._refusals is not None else None
        waited = self._start_timeout if doing.startswith("initialize") else self._call_timeout
        return await failure(error, self.name, doing, self._stderr, self._secrets, waited, status)


async def failure(
    error: BaseException,
    server: str,
    doing: str,
    stderr: StderrCapture | None,
    secrets: tuple[str, ...],
    waited: float | None,
    http_status: int | None = None,
) -> McpError:
    """``error`` (raised while ``doing``) as an :class:`McpError` naming ``server``
    and the fix, quoting the end of its stderr. ``http_status`` is the HTTP
    status that an HTTP server last refused a request with (the SDK turns it
    into a JSON-RPC error without it)."""
    if isinstance(error, McpError):
        return error
    if http_status in (401, 403):
        return McpError(
            f"MCP server {server!r} refused the credentials during {doing}",
            server=server,
            status=http_status,
            hint="check the token in headers=, e.g. {'Authorization': Secret('Bearer ...')}"
            " (headers = { Authorization = 'Bearer ${TOKEN}' } in [mcp.servers.NAME])",
        )
    if http_status == 404 and doing == "initialize":
        return McpError(
            f"MCP server {server!r}: no MCP endpoint at this URL",
            server=server,
            status=http_status,
            hint="check the URL's path (often /mcp)",
        )
    if http_status == 404:
        return McpError(
            f"MCP server {server!r} answered 404 to {doing}: it ended the session again"
            " as soon as a new one started",
            server=server,
            status=http_status,
            hint="check the server's logs, then connect again",
        )
    off_spec = _off_spec(error, server, doing, secrets)
    if off_spec is not None:
        return off_spec
    said = scrub(str(error) or type(error).__name__, secrets)
    tail = await anyio.to_thread.run_sync(stderr.tail) if stderr is not None else ""
    quoted = f"; its stderr ends: {tail}" if tail else ""
    code = error.code if isinstance(error, MCPError) else None
    if isinstance(error, TimeoutError) or code == mt.REQUEST_TIMEOUT:
        # a server stuck starting may say why (a login it waits for); a slow tool's
        # stderr is only noise
        quoted = quoted if doing == "initialize" else ""
        return McpError(
            f"MCP server {server!r} did not answer {doing} within {waited} s{quoted}",
            server=server,
            retryable=True,
            hint="check the server is working, or give it longer "
            + ("(start_timeout=)" if doing == "initialize" else "(call_timeout=)"),
        )
    gone = code == mt.CONNECTION_CLOSED or isinstance(
        error, anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream
    )
    if gone:
        return McpError(
            f"MCP server {server!r} closed the connection during {doing}{quoted}",
            server=server,
            hint="the server exited or dropped the session: see its stderr, then connect again",
        )
    if code is not None:
        return McpError(
            f"MCP server {server!r} refused {doing}: {said} (JSON-RPC error {code})",
            server=server,
            provider_message=said,
            hint="check the tool's name and arguments against the server's tools/list",
        )
    return McpError(
        f"MCP server {server!r} failed during {doing}: {type(error).__name__}: {said}{quoted}",
        server=server,
        status=http_status,
        hint="check the server is running and reachable at that address",
    )


def model_name(name: str) -> str:
    """``name`` as a name every provider takes: letters, digits, ``_`` and ``-``,
    a letter or ``_`` first, at most 64 (a long one ends in a hash of the whole)."""
    name = _NOT_A_NAME_CHAR.sub("_", name) or "_"
    if not (name[0].isalpha() or name[0] == "_"):
        name = "_" + name
    if len(name) > _MAX_NAME:
        name = f"{name[: _MAX_NAME - 9]}_{zlib.crc32(name.encode()):08x}"
    return name


def _off_spec(
    error: BaseException, server: str, doing: str, secrets: tuple[str, ...]
) -> McpError | None:
    """The error for an answer the SDK refused as off the MCP spec (pydantic's
    ValidationError: a tool without its ``inputSchema``, say), naming what is
    missing or wrong; ``None`` for any other error.

    Told apart by name: relaykit-mcp does not depend on pydantic itself."""
    problems = getattr(error, "errors", None)
    if type(error).__name__ != "ValidationError" or not callable(problems):
        return None
    first = problems()[0]
    loc = tuple(first.get("loc", ()))
    where = ".".join(str(part) for part in loc)
    if len(loc) >= 3 and loc[0] == "tools" and isinstance(loc[1], int):
        given = first.get("input")
        name = given.get("name") if isinstance(given, dict) else None
        tool = f"tool {loc[1] + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
        what = (
            f"{tool} has no {loc[2]}"
            if first.get("type") == "missing"
            else f"{tool}: {'.'.join(str(part) for part in loc[2:])}: {first.get('msg')}"
        )
    else:
        what = f"{where}: {first.get('msg')}"
    return McpError(
        scrub(f"MCP server {server!r} answered {doing} against the MCP spec: {what}", secrets),
        server=server,
        hint="the server breaks the MCP spec (every tool needs a name and an inputSchema):"
        " report it to its maintainers, or leave the server out",
    )
