"""An HTTP forward proxy on 127.0.0.1 for tests: what ``HTTP_PROXY`` / ``HTTPS_PROXY`` name.

A client sends it an ``http://`` request in absolute form (``POST
http://host:port/v1/chat/completions HTTP/1.1``), which it passes on to that
host as it came (servers must accept the absolute form; the loopback mocks
do) but for its ``Proxy-*`` headers, one request per connection, and asks
it for an ``https://`` one with ``CONNECT host:port``, after which it
relays the TLS bytes both ways untouched. It notes the head of each plain
request and each ``CONNECT``, so a test can tell that a call went through
it, and to where. It runs its own event loop in a background thread, as
:class:`~relaykit.testing.LoopbackServer` does, so tests under asyncio and trio
use it alike.

With ``tls`` (a server-side context, such as :func:`relaykit.testing.loopback_tls`
makes) it is an ``https://`` proxy: clients speak TLS to the proxy itself, and an
``https://`` request's own TLS runs inside that (TLS in TLS). A handshake the
client breaks off (it did not trust the certificate) is counted in
:attr:`ForwardProxy.handshakes_failed`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import attrs
from anyio.abc import ByteStream, SocketStream, TaskStatus
from anyio.streams.tls import TLSStream

from .loopback import parse_head
from .thread_listener import ThreadListener

if TYPE_CHECKING:
    import ssl

__all__ = ["ForwardProxy", "ProxiedRequest"]


@attrs.frozen
class ProxiedRequest:
    """The head of a request a client sent the proxy: ``CONNECT`` or an absolute-form one."""

    method: str
    #: ``host:port`` for CONNECT, else the whole URL (``http://host:port/path?query``)
    target: str
    #: lower-case names
    headers: dict[str, str]


class ForwardProxy(ThreadListener):
    """``with ForwardProxy() as proxy:`` then set ``HTTP_PROXY`` (or ``HTTPS_PROXY``) to
    :attr:`url`. :attr:`requests` holds every plain ``http://`` request and every
    ``CONNECT`` made through it (a tunnel's requests inside it are TLS: unseen)."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._requests: list[ProxiedRequest] = []
        self.tls = tls
        #: TLS handshakes with the proxy that failed (``tls`` only)
        self.handshakes_failed = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with ``tls``), once started."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[ProxiedRequest]:
        """The requests so far: plain ones and CONNECTs (a copy)."""
        with self._lock:
            return list(self._requests)

    async def _serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.CancelScope() as self._scope:
            async with self._listener:
                task_status.started()
                await self._listener.serve(self._connection)

    async def _connection(self, socket: SocketStream) -> None:
        near: ByteStream = socket
        if self.tls is not None:
            try:
                with anyio.fail_after(10):
                    near = await TLSStream.wrap(
                        socket, server_side=True, ssl_context=self.tls, standard_compatible=False
                    )
            except (OSError, TimeoutError, anyio.BrokenResourceError, anyio.EndOfStream):
                with self._lock:
                    self.handshakes_failed += 1
                await anyio.aclose_forcefully(socket)
                return
        async with near:
            buf = b""
            while b"\r\n\r\n" not in buf:
                try:
                    buf += await near.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
            head, _, rest = buf.partition(b"\r\n\r\n")
            method, target, headers = parse_head(head)
            with self._lock:
                self._requests.append(ProxiedRequest(method, target, headers))
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
            else:
                parts = urlsplit(target)
                host, port = parts.hostname or "", str(parts.port or 80)
            try:
                far = await anyio.connect_tcp(host.strip("[]"), int(port))
            except OSError:
                await near.send(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                return
            async with far:
                answer_head = False
                if method == "CONNECT":
                    await near.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    if rest:
                        await far.send(rest)
                else:
                    # The proxy's own headers stop here, as a real proxy's do. One
                    # request per connection, both ends told so: the relay passes
                    # bytes untouched, so a kept-alive connection's next request
                    # would reach the server unseen, its Proxy-Authorization with it.
                    await far.send(_closing(head, drop="proxy-") + rest)
                    answer_head = True
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_relay, near, far, tg.cancel_scope)
                    tg.start_soon(_relay, far, near, tg.cancel_scope, answer_head)


def _closing(head: bytes, *, drop: str | None = None) -> bytes:
    """An HTTP head saying ``Connection: close``, without headers starting with ``drop``."""
    lines = head.decode("latin-1").split("\r\n")
    ends = ("connection:", "keep-alive:") + ((drop,) if drop else ())
    kept = [lines[0], *(line for line in lines[1:] if not line.lower().startswith(ends))]
    return "\r\n".join([*kept, "Connection: close"]).encode("latin-1") + b"\r\n\r\n"


async def _relay(
    src: ByteStream, dst: ByteStream, scope: anyio.CancelScope, answer_head: bool = False
) -> None:
    """Pass bytes from ``src`` to ``dst`` until either side closes, then end both ways;
    with ``answer_head``, the response's head first, saying ``Connection: close``."""
    try:
        if answer_head:
            answer = b""
            while b"\r\n\r\n" not in answer:
                try:
                    answer += await src.receive()
                except anyio.EndOfStream:
                    break
            else:
                head, _, rest = answer.partition(b"\r\n\r\n")
                answer = _closing(head) + rest
            await dst.send(answer)
        async for chunk in src:
            await dst.send(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    scope.cancel()
