"""What an MCP server over HTTP refused (:class:`Refusals`): the SDK turns a 401 or a
404 into a JSON-RPC error without its status, so the HTTP client's hooks keep it."""

from __future__ import annotations

import json

import httpx2

# the streamable HTTP transport's session header (mcp.client.streamable_http.MCP_SESSION_ID)
SESSION_HEADER = "mcp-session-id"


class Refusals:
    """The HTTP statuses an MCP server refused requests with, counted, so a failed
    request can ask what was refused since it was sent (:meth:`mark`)."""

    def __init__(self) -> None:
        #: the status of the last refused request (4xx, 5xx)
        self.status: int | None = None
        self._count = 0
        self._expired = 0  # the count when a 404 last answered a session's request

    def mark(self) -> int:
        """A point to ask :meth:`since` and :meth:`expired_since` about."""
        return self._count

    def since(self, mark: int) -> int | None:
        """The status of the last request refused after ``mark``, if any."""
        return self.status if self._count > mark else None

    def expired_since(self, mark: int) -> bool:
        """Whether the server said after ``mark`` that the session is gone: the spec's
        404 to a request carrying its ``Mcp-Session-Id``."""
        return self._expired > mark

    async def note(self, response: httpx2.Response) -> None:
        """The HTTP client's response hook."""
        if response.status_code >= 400:
            self._count += 1
            self.status = response.status_code
            if response.status_code == 404 and SESSION_HEADER in response.request.headers:
                self._expired = self._count


async def fresh_initialize(request: httpx2.Request) -> None:
    """The HTTP client's request hook: an ``initialize`` goes without a session id.

    The spec's new session after a 404 starts with an initialize "without a
    session ID attached"; the SDK's transport would send the old one, which
    the server answers with 404 again (it takes the new session's id from the
    answer).
    """
    if request.method != "POST" or SESSION_HEADER not in request.headers:
        return
    try:
        message = json.loads(request.content)
    except (httpx2.RequestNotRead, ValueError):
        return
    if isinstance(message, dict) and message.get("method") == "initialize":
        del request.headers[SESSION_HEADER]
