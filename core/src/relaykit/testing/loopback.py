"""A small HTTP/1.1 server on 127.0.0.1 for tests, demos and benchmarks.

It runs its own event loop in a background thread, so tests under asyncio and
trio talk to it over real sockets exactly as they would talk to a vendor, over
TLS too when given a server-side ``ssl.SSLContext`` (see
:func:`relaykit.testing.loopback_tls`). It speaks just enough HTTP/1.1
(keep-alive, Content-Length requests, chunked responses) and lets a handler
misbehave on purpose: pause between chunks, or drop the connection mid-response.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import anyio
import attrs
from anyio.abc import ByteStream, SocketAttribute, SocketStream, TaskStatus
from anyio.streams.tls import TLSStream

from .thread_listener import ThreadListener

if TYPE_CHECKING:
    import ssl

__all__ = [
    "Drop",
    "Handler",
    "LoopbackServer",
    "Pause",
    "Raw",
    "Request",
    "Reset",
    "Response",
    "ScriptedServer",
    "ServerStats",
]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


@attrs.frozen
class Request:
    """An HTTP request as the server received it. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    #: the request line's target as sent (``/v1/chat?api-version=1``; absolute
    #: form through a proxy)
    target: str = ""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@attrs.frozen
class Pause:
    """In a streamed body: wait this many seconds before the next chunk."""

    seconds: float


@attrs.frozen
class Drop:
    """In a streamed body: close the connection abruptly, mid-response."""


@attrs.frozen
class Reset:
    """In a streamed body, or as the whole body: reset the TCP connection (RST)."""


@attrs.frozen
class Raw:
    """In a streamed body: bytes written as they are, outside the chunked framing."""

    data: bytes


@attrs.frozen
class Response:
    """A response. ``body`` as bytes is sent with Content-Length; an iterable is
    sent chunk by chunk (Transfer-Encoding: chunked) and may contain :class:`Pause`
    and :class:`Drop` items."""

    status: int = 200
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes | Iterable[bytes | Pause | Drop | Reset | Raw] | AsyncIterable[Any] = b""
    #: misbehave before any response: "reset" the connection, answer "garbage", or
    #: "drop" it (close it without a word: "Server disconnected without sending a
    #: response", as when a server acted and its answer was lost)
    abort: Literal["reset", "garbage", "drop"] | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A JSON response."""
        return cls(
            status,
            {"content-type": "application/json", **(headers or {})},
            json.dumps(data).encode(),
        )


Handler = Callable[[Request], Awaitable[Response]]


@attrs.define
class ServerStats:
    """What the server saw; tests assert on it."""

    requests: int = 0
    connections_opened: int = 0
    connections_closed: int = 0
    #: requests the client walked away from before their answer was made
    requests_abandoned: int = 0
    #: streamed responses the client walked away from before the end
    streams_abandoned: int = 0
    streams_completed: int = 0
    #: TLS handshakes that failed (the client did not trust the certificate, say)
    handshakes_failed: int = 0

    @property
    def connections_open(self) -> int:
        """Connections currently open."""
        return self.connections_opened - self.connections_closed


class LoopbackServer(ThreadListener):
    """Serve ``handler`` on 127.0.0.1 at a free port: ``with LoopbackServer(h) as s: s.url``.

    With ``tls`` (a server-side context holding a certificate for 127.0.0.1,
    such as :func:`relaykit.testing.loopback_tls` makes) it serves HTTPS.
    """

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.handler = handler
        self.tls = tls
        self.stats = ServerStats()
        #: what the handler (or a streamed body) raised, in order: each was answered
        #: with a 500 naming it (or its stream cut), and the server kept serving
        self.failures: list[Exception] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, or ``https://`` when serving TLS."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def _serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.CancelScope() as self._scope:
            task_status.started()
            async with self._listener:
                await self._listener.serve(self._connection)

    async def _connection(self, socket_stream: SocketStream) -> None:
        self._count("connections_opened")
        stream: ByteStream = socket_stream
        try:
            if self.tls is not None:
                stream = await self._handshake(socket_stream, self.tls)
            async with stream:
                buf = b""
                while True:
                    request, buf = await _read_request(stream, buf)
                    if request is None:
                        return
                    self._count("requests")
                    early: list[bytes] = []
                    response = await self._respond(stream, request, early)
                    if response is None:
                        self._count("requests_abandoned")
                        return
                    if not await self._write(stream, response, early):
                        return
                    buf = b"".join([*early, buf])
                    if "close" in (
                        request.headers.get("connection", "").lower(),
                        response.headers.get("connection", "").lower(),
                    ):
                        return
        except (anyio.BrokenResourceError, anyio.EndOfStream, ConnectionError, OSError):
            pass
        finally:
            self._count("connections_closed")

    async def _respond(
        self, stream: ByteStream, request: Request, early: list[bytes]
    ) -> Response | None:
        """The handler's answer to ``request``; ``None`` when the client closed the
        connection while it was being made (a scripted ``delay``, say), which cancels
        the handler, as a vendor stops generating an answer nobody will read. A test
        then sees the client's close at once (:attr:`ServerStats.connections_open`),
        not when the answer's write would have failed. Bytes the client sends
        meanwhile (it should not) go to ``early``."""
        response: Response | None = None
        async with anyio.create_task_group() as watching:

            async def watch() -> None:
                if await _left_during(stream, math.inf, early):
                    watching.cancel_scope.cancel()

            watching.start_soon(watch)
            try:
                response = await self.handler(request)
            except Exception as e:
                # A mock's bug, or a test's rewrite's: left to escape, it ended
                # the whole server, and every later call met a refused connection.
                response = self._failed(e)
            watching.cancel_scope.cancel()
        return response

    async def _handshake(self, stream: SocketStream, context: ssl.SSLContext) -> TLSStream:
        # standard_compatible=False: no close_notify exchange, so Drop and Reset
        # still end the connection as abruptly as they do over plain TCP
        try:
            with anyio.fail_after(10):
                return await TLSStream.wrap(
                    stream, server_side=True, ssl_context=context, standard_compatible=False
                )
        except BaseException:
            self._count("handshakes_failed")
            await anyio.aclose_forcefully(stream)
            raise

    async def _write(self, stream: ByteStream, response: Response, early: list[bytes]) -> bool:
        """Send ``response``; False when the connection must be closed afterwards.

        A pause in a streamed body listens for the client: one that leaves
        (closes the connection) is noticed at once, as a vendor's server would,
        rather than at the next piece's write (up to two pieces later, when the
        first write after the close still fits in the kernel's buffer). Bytes
        the client sends meanwhile (it should not) go to ``early``.
        """
        if response.abort == "reset":
            _reset(stream)
            return False
        if response.abort == "garbage":
            await stream.send(b"\x00\xffSSH-2.0-not-http\r\n\r\n")
            return False
        if response.abort == "drop":
            return False
        head = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}"]
        headers = {k.lower(): v for k, v in response.headers.items()}
        if isinstance(response.body, bytes):
            headers["content-length"] = str(len(response.body))
            head += [f"{k}: {v}" for k, v in headers.items()]
            await stream.send(("\r\n".join(head) + "\r\n\r\n").encode() + response.body)
            return True
        headers["transfer-encoding"] = "chunked"
        head += [f"{k}: {v}" for k, v in headers.items()]
        await stream.send(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            async for item in _aiter(response.body):
                if isinstance(item, Pause):
                    if await _left_during(stream, item.seconds, early):
                        self._count("streams_abandoned")
                        return False
                elif isinstance(item, Drop):
                    self._count("streams_abandoned")
                    return False
                elif isinstance(item, Reset):
                    self._count("streams_abandoned")
                    _reset(stream)
                    return False
                elif isinstance(item, Raw):
                    await stream.send(item.data)
                elif item:
                    await stream.send(b"%x\r\n%s\r\n" % (len(item), item))
            await stream.send(b"0\r\n\r\n")
        except (anyio.BrokenResourceError, ConnectionError, OSError):
            self._count("streams_abandoned")
            return False
        except Exception as e:  # the body's own iterator failed: cut the stream, keep serving
            with self._lock:
                self.failures.append(e)
            return False
        self._count("streams_completed")
        return True

    def _failed(self, error: Exception) -> Response:
        """The answer to a request the handler failed on: a 500 naming the failure, on a
        connection then closed (kept in :attr:`failures` for the test to see)."""
        with self._lock:
            self.failures.append(error)
        text = f"the mock failed: {type(error).__name__}: {error}"
        return Response(500, {"content-type": "text/plain", "connection": "close"}, text.encode())

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)


async def _left_during(stream: ByteStream, seconds: float, early: list[bytes]) -> bool:
    """Wait ``seconds``; True as soon as the client closes the connection."""
    with anyio.move_on_after(seconds):
        while True:
            try:
                early.append(await stream.receive())
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError, OSError):
                return True
    return False


def _reset(stream: ByteStream) -> None:
    """Make the coming close send RST instead of FIN: linger on, with a zero timeout."""
    import socket
    import struct

    sock = stream.extra(SocketAttribute.raw_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def _aiter(body: Any) -> Any:
    if hasattr(body, "__aiter__"):
        async for item in body:
            yield item
    else:
        for item in body:
            yield item


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """A request's head (up to its blank line): method, target, headers (names lower-cased)."""
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers


async def _read_request(stream: ByteStream, buf: bytes) -> tuple[Request | None, bytes]:
    while b"\r\n\r\n" not in buf:
        try:
            data = await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None, b""
        buf += data
    head, _, buf = buf.partition(b"\r\n\r\n")
    method, target, headers = parse_head(head)
    length = int(headers.get("content-length") or 0)
    # a bytearray grows in place: ``bytes +=`` copied the whole body per chunk,
    # minutes for a 100 MB body (Gemini's inline limit)
    received = bytearray(buf)
    while len(received) < length:
        received += await stream.receive()
    body, buf = bytes(received[:length]), bytes(received[length:])
    parts = urlsplit(target)
    request = Request(method, parts.path, dict(parse_qsl(parts.query)), headers, body, target)
    return request, buf


class ScriptedServer(LoopbackServer):
    """A :class:`LoopbackServer` answering each request with the next of ``responses``,
    in order: for the exact bytes a vendor mock would not send (a compatible server's
    quirks). ``requests`` holds every request as it came, ``bodies`` each one's JSON
    (``None`` for a body that is none)."""

    def __init__(self, *responses: Response, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(self._answer, tls=tls)
        self._script = list(responses)
        self.requests: list[Request] = []
        self.bodies: list[Any] = []

    async def _answer(self, request: Request) -> Response:
        self.requests.append(request)
        try:
            self.bodies.append(request.json())
        except ValueError:
            self.bodies.append(None)
        return self._script.pop(0)
