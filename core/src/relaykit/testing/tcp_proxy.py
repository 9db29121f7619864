"""A TCP proxy on 127.0.0.1 that a test can stall, cut and resume.

Put it between a storage backend or rate limiter and its real server
(PostgreSQL, Redis, ...) to see what the plugin does when that server hangs
(a network partition, a frozen host) or drops its connections. It runs its own
event loop in a background thread, as :class:`~relaykit.testing.LoopbackServer`
does, so tests under asyncio and trio drive it the same way, with plain method
calls that return at once.
"""

from __future__ import annotations

import contextlib
import math
import socket
import struct
import threading
from collections.abc import Callable
from typing import Literal

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskGroup, TaskStatus
from anyio.from_thread import BlockingPortal
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .thread_listener import ThreadListener

__all__ = ["Direction", "Fault", "FaultPicker", "StallingProxy"]

#: which way a chunk of bytes travels through the proxy
Direction = Literal["to_server", "to_client"]
#: what to do with one chunk: pass it on; hold it and everything after it on its
#: connection (both ways) until :meth:`StallingProxy.resume`; end its connection
#: in its stead, the client seeing a reset (RST) or a close (FIN); or a number:
#: wait that many seconds, then pass it on (what follows it that way waits too)
Fault = Literal["pass", "stall", "reset", "close"] | float
#: called with each chunk's direction (on the proxy's thread) for the chunk's fault
FaultPicker = Callable[[Direction], Fault]


class StallingProxy(ThreadListener):
    """Pass TCP traffic from ``127.0.0.1:PORT`` to ``host:port`` until told otherwise.

    ``with StallingProxy("127.0.0.1", 5432) as proxy:`` then point the client at
    ``proxy.port``. :meth:`stall` makes every connection, open or opened later,
    hold what it receives (it stays open and passes nothing, as a hung server's
    would), :meth:`resume` delivers what was held and passes again, and
    :meth:`cut` ends every open connection. ``faults`` picks a fault for each
    chunk as it arrives (see :data:`Fault`), for seeded chaos; it is not asked
    while a connection holds.

    A connection ends, both ways, when either side closes it (what it holds then
    is dropped: the peer is gone). :meth:`stall`, :meth:`resume` and :meth:`cut`
    are thread-safe and return at once: call them from sync or async code, under
    any event loop.
    """

    def __init__(self, host: str, port: int, *, faults: FaultPicker | None = None) -> None:
        super().__init__()
        self.server = (host, port)
        self.faults = faults
        #: connections accepted so far
        self.accepted = 0
        #: what ``faults`` raised (its connection was reset); :meth:`stop` raises the first
        self.errors: list[Exception] = []
        self._connections: set[_Connection] = set()
        self._hold: anyio.Event | None = None  # set by resume(); None: passing
        self._tasks: TaskGroup  # the watchdogs', once started
        self._lock = threading.Lock()

    @property
    def stalled(self) -> bool:
        """Whether :meth:`stall` holds every connection (until :meth:`resume`)."""
        return self._hold is not None

    @property
    def open_connections(self) -> int:
        """Client connections through the proxy still open."""
        with self._lock:
            return len(self._connections)

    def stop(self) -> None:
        """Stop accepting and close every connection (what they hold is dropped).

        Raises :class:`RuntimeError` if ``faults`` raised meanwhile.
        """
        super().stop()
        if self.errors:
            raise RuntimeError("the proxy's faults picker raised") from self.errors[0]

    def stall(self, *, cut_after: float | None = None) -> None:
        """From now on every connection, open or new, holds what it receives, both ways.

        With ``cut_after``, every connection is cut (a reset) if the stall lasts that
        many seconds: a watchdog, so that code which waits on the stall for ever
        (the regression a test guards against) fails the test instead of hanging it.
        """
        self._running().call(self._stall, cut_after)

    def resume(self) -> None:
        """Deliver what every connection held, in order, and pass traffic again."""
        self._running().call(self._resume)

    def cut(self, *, reset: bool = True) -> int:
        """End every open connection: the client sees a reset (or, with
        ``reset=False``, a close); new connections are still accepted. Returns
        how many connections were cut."""
        return self._running().call(self._cut, reset)

    async def wait_closed(self, within: float = 2.0) -> int:
        """The connections still open after up to ``within`` seconds (a client's
        close reaches the proxy a little after the client made it)."""
        with anyio.move_on_after(within):
            while self.open_connections:  # noqa: ASYNC110 (counted on the proxy's thread)
                await anyio.sleep(0.01)
        return self.open_connections

    def _running(self) -> BlockingPortal:
        if self._portal is None:
            raise RuntimeError("the proxy is not running: use `with StallingProxy(...)`")
        return self._portal

    def _stall(self, cut_after: float | None) -> None:
        if self._hold is None:
            self._hold = anyio.Event()
        if cut_after is not None:
            self._tasks.start_soon(self._watchdog, self._hold, cut_after)

    async def _watchdog(self, hold: anyio.Event, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await hold.wait()
            return
        self._cut(reset=True)

    def _resume(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.set()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.resume()

    def _cut(self, reset: bool) -> int:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.end(reset=reset)
        return len(connections)

    async def _serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.CancelScope() as self._scope:
            async with self._listener, anyio.create_task_group() as self._tasks:
                task_status.started()
                await self._listener.serve(self._connection)

    async def _connection(self, near: SocketStream) -> None:
        self.accepted += 1
        conn = _Connection(self, near)
        with self._lock:
            self._connections.add(conn)
        try:
            with conn.scope:
                try:
                    far = await anyio.connect_tcp(*self.server)
                except OSError:
                    return  # the server is down: the client sees its connection closed
                await conn.run(far)
        finally:
            with self._lock:
                self._connections.discard(conn)
            await conn.close()


class _Connection:
    """One client's connection through the proxy, with its own to the server."""

    def __init__(self, proxy: StallingProxy, near: SocketStream) -> None:
        self.proxy = proxy
        self.near = near
        self.far: SocketStream | None = None
        self.scope = anyio.CancelScope()
        self.reset = False
        self.ended = False  # either side closed its connection
        self._hold: anyio.Event | None = None  # this connection's own stall

    async def run(self, far: SocketStream) -> None:
        self.far = far
        async with anyio.create_task_group() as tg:
            ways: tuple[tuple[Direction, SocketStream, SocketStream], ...] = (
                ("to_server", self.near, far),
                ("to_client", far, self.near),
            )
            for direction, src, dst in ways:
                send, receive = anyio.create_memory_object_stream[bytes](math.inf)
                tg.start_soon(self._read, direction, src, send)
                tg.start_soon(self._write, receive, dst)

    def held(self) -> anyio.Event | None:
        """What to wait for before passing a chunk on: the proxy's stall, then this one's."""
        return self.proxy._hold or self._hold

    def resume(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.set()

    def _pick(self, direction: Direction) -> Fault:
        picker = self.proxy.faults
        if picker is None or self.held():
            return "pass"
        try:
            return picker(direction)
        except Exception as exc:  # the test's bug: the test fails when the proxy stops
            self.proxy.errors.append(exc)
            return "reset"

    def end(self, *, reset: bool) -> None:
        """End both ways; the first reason given (a reset or a close) is the one seen."""
        if not self.scope.cancel_called:
            self.reset = reset
            self.scope.cancel()

    async def _read(
        self, direction: Direction, src: SocketStream, chunks: MemoryObjectSendStream[bytes]
    ) -> None:
        with chunks:  # closed when this way ends: the writer sends what is queued, then ends
            try:
                async for data in src:
                    fault = self._pick(direction)
                    if fault == "reset" or fault == "close":
                        self.end(reset=fault == "reset")
                        return
                    if fault == "stall" and self._hold is None:
                        self._hold = anyio.Event()
                    elif isinstance(fault, (int, float)) and fault > 0:
                        await anyio.sleep(fault)
                    chunks.send_nowait(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass
        self.ended = True
        if self.held():  # what it holds would never reach a live peer
            self.end(reset=False)

    async def _write(self, chunks: MemoryObjectReceiveStream[bytes], dst: SocketStream) -> None:
        with chunks:
            async for data in chunks:
                while (hold := self.held()) is not None:
                    if self.ended:  # a side closed before the stall: nothing to hold for
                        self.end(reset=False)
                        return
                    await hold.wait()
                try:
                    await dst.send(data)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    break
        self.end(reset=False)  # one way ended and everything passed: end both

    async def close(self) -> None:
        # shielded: closing a stream awaits, and a stop() may be cancelling this task
        with anyio.CancelScope(shield=True):
            if self.reset:
                _linger_zero(self.near)
            await self.near.aclose()
            if self.far is not None:
                await self.far.aclose()


def _linger_zero(stream: SocketStream) -> None:
    """Make the coming close send RST instead of FIN."""
    sock = stream.extra(SocketAttribute.raw_socket)
    with contextlib.suppress(OSError):  # already closed
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
