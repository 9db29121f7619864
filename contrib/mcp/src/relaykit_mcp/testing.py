"""A small MCP server for tests (yours and relaykit-mcp's), built with the MCP SDK's
``MCPServer`` (FastMCP before mcp 2): run it over stdio or streamable HTTP.

    python -m relaykit_mcp.testing stdio
    python -m relaykit_mcp.testing http --fd 5 [--token T]

Its tools: ``add`` (text and structured content), ``chart`` (text and a PNG),
``manual`` (an embedded text resource and a PDF), ``refuse`` (an error
result), ``docs.search`` (a name no model takes), ``slow`` (sleeps),
``crash`` (writes ``$CRASH_NOTE`` to stderr and exits mid-call), ``pid`` (the
server's process id: one process for a whole session), ``big`` (``chars``
characters of text), ``whoami`` (quotes the credential it was given, as a
careless server's greeting does, or with ``refuse`` its error: the request's
bearer token over HTTP, ``$MCP_TOKEN`` over stdio). Over HTTP it serves
``/mcp`` on the listening socket ``--fd`` (inherited: no port race) and, with
``--token``, answers 401 to a request without ``Authorization: Bearer
TOKEN``, quoting the header it got. Three test controls (no token
needed): ``POST /testing/expire`` ends every session, as a server that
restarted or timed them out does (their requests then get 404), ``POST
/testing/token`` with a body makes that the token it wants (a rotated
credential), and ``POST /testing/pages`` with ``pages`` answers ``tools/list``
itself, in three pages (``paged_0`` to ``paged_4``, two a page, each naming the
next page's cursor); ``cycle`` does the same, but its third page names the
second's cursor again (a broken server's loop); an empty body leaves ``tools/list``
to the server again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from mcp.types import BlobResourceContents, EmbeddedResource, TextResourceContents

from relaykit.testing import PNG

#: the PDF bytes ``manual`` returns
PDF = b"%PDF-1.4\n% relaykit-mcp test document\n%%EOF\n"


def stdio_command() -> tuple[str, list[str]]:
    """The command and arguments that start this server over stdio (for ``connect_stdio``)."""
    return sys.executable, ["-m", "relaykit_mcp.testing", "stdio"]


def http_command(fd: int, token: str | None = None) -> list[str]:
    """The command line that serves this server over HTTP on listening socket ``fd``
    (pass it to the child: ``subprocess.Popen(..., pass_fds=[fd])``)."""
    return [sys.executable, "-m", "relaykit_mcp.testing", "http", "--fd", str(fd)] + (
        ["--token", token] if token is not None else []
    )


def build_server() -> MCPServer:
    """The test server and its tools."""
    server = MCPServer(
        "relaykit-test", instructions="Tools for relaykit-mcp's tests.", log_level="WARNING"
    )

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        return a + b

    @server.tool(structured_output=False)
    def chart(title: str) -> list[Any]:
        """Draw a chart."""
        return [f"chart: {title}", Image(data=PNG, format="png")]

    @server.tool(structured_output=False)
    def manual() -> list[EmbeddedResource]:
        """The manual, as text and as a PDF."""
        import base64

        return [
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(
                    uri="file:///manual.txt", text="Turn it off and on.", mime_type="text/plain"
                ),
            ),
            EmbeddedResource(
                type="resource",
                resource=BlobResourceContents(
                    uri="file:///manual.pdf",
                    blob=base64.b64encode(PDF).decode(),
                    mime_type="application/pdf",
                ),
            ),
        ]

    @server.tool()
    def refuse(reason: str) -> str:
        """Fail with ``reason``."""
        raise ToolError(reason)

    @server.tool(name="docs.search")
    def search(query: str) -> str:
        """Search the docs."""
        return f"nothing found for {query}"

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        await anyio.sleep(seconds)
        return "awake"

    @server.tool()
    def big(chars: int) -> str:
        """``chars`` characters of text."""
        return ("0123456789" * (chars // 10 + 1))[:chars]

    @server.tool()
    def pid() -> int:
        """The server's process id."""
        return os.getpid()

    @server.tool()
    def whoami(ctx: Context, refuse: bool = False) -> str:
        """Who the server takes the caller for; with ``refuse``, an error saying so."""
        request = getattr(ctx.request_context, "request", None)  # the HTTP request, if any
        if request is not None:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
        else:
            token = os.environ.get("MCP_TOKEN", "nobody")
        if refuse:
            raise ToolError(f"token {token} may not do that")
        return f"signed in with token {token}"

    @server.tool()
    def crash() -> str:
        """Exit mid-call, as a server that dies does."""
        print(os.environ.get("CRASH_NOTE", "crashing"), file=sys.stderr, flush=True)
        os._exit(3)

    return server


def _serve_http(server: MCPServer, fd: int, token: str | None) -> None:
    import uvicorn

    app = server.streamable_http_app(host="127.0.0.1")
    wanted = [token]
    paging: list[str] = [""]  # "pages", "cycle" or "" (see the module's docstring)

    async def control(path: str, receive: Any, send: Any) -> None:
        body = await _read_body(receive)
        if path == "/testing/expire":
            manager = server.session_manager
            # what the manager does to a session past its idle timeout (its
            # _discard_session, which mcp 2.0 has not: there, as its DELETE does)
            discard = getattr(manager, "_discard_session", None)
            for session_id, transport in list(manager._server_instances.items()):
                if discard is not None:
                    await discard(session_id, transport)
                else:
                    manager._server_instances.pop(session_id, None)
                    await transport.terminate()
        elif path == "/testing/pages":
            paging[0] = body.decode()
        else:
            wanted[0] = body.decode()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/testing/"):
            await control(scope["path"], receive, send)
            return
        if wanted[0] is not None and scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"").decode()
            if given != f"Bearer {wanted[0]}":
                # as servers do: quote what was sent (the credential, maybe)
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": f"bad token: {given}".encode()})
                return
        if paging[0] and scope["type"] == "http" and scope["method"] == "POST":
            body = await _read_body(receive)
            request = json.loads(body) if body else None
            if isinstance(request, dict) and request.get("method") == "tools/list":
                await _tools_page(request, paging[0] == "cycle", dict(scope["headers"]), send)
                return
            await app(scope, _replay(body, receive), send)
            return
        await app(scope, receive, send)

    uvicorn.run(guarded, fd=fd, log_level="warning", lifespan="on")


async def _read_body(receive: Any) -> bytes:
    """The whole body of an ASGI request."""
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


def _replay(body: bytes, receive: Any) -> Any:
    """An ASGI ``receive`` that gives ``body`` (read already), then what ``receive`` gives."""
    given = False

    async def again() -> Any:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _tools_page(
    request: dict[str, Any], cycle: bool, headers: dict[bytes, bytes], send: Any
) -> None:
    """Answer a ``tools/list`` with one of three pages of two made-up tools: the first
    without a cursor, the others at cursors ``p2`` and ``p3``; ``cycle``: the third
    names ``p2`` again."""
    cursor = (request.get("params") or {}).get("cursor")
    start, after = {None: (0, "p2"), "p2": (2, "p3"), "p3": (4, "p2" if cycle else None)}[cursor]
    result: dict[str, Any] = {
        "tools": [
            {"name": f"paged_{i}", "inputSchema": {"type": "object"}}
            for i in range(start, min(start + 2, 5))
        ]
    }
    if after is not None:
        result["nextCursor"] = after
    answer = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}).encode()
    sent = [(b"content-type", b"application/json")]
    if b"mcp-session-id" in headers:
        sent.append((b"mcp-session-id", headers[b"mcp-session-id"]))
    await send({"type": "http.response.start", "status": 200, "headers": sent})
    await send({"type": "http.response.body", "body": answer})


def main(argv: list[str] | None = None) -> None:
    """Run the test server: ``stdio``, or ``http --fd N [--token T]``."""
    parser = argparse.ArgumentParser(prog="python -m relaykit_mcp.testing")
    parser.add_argument("transport", choices=["stdio", "http"])
    parser.add_argument("--fd", type=int, help="a listening socket to serve HTTP on")
    parser.add_argument("--token", help="the bearer token HTTP requests must carry")
    options = parser.parse_args(argv)
    server = build_server()
    if options.transport == "stdio":
        print("relaykit test MCP server: starting", file=sys.stderr, flush=True)
        server.run("stdio")
    else:
        _serve_http(server, options.fd, options.token)


if __name__ == "__main__":
    main()
