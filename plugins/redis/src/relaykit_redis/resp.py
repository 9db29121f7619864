"""A small Redis client on anyio streams: RESP2 commands over pooled connections.

Written on anyio rather than on redis-py so that one code path serves asyncio
and trio alike (redis-py's asyncio client cannot run under trio, and its sync
client would cost a worker-thread hop per decision). The limiter needs only
EVALSHA, EVAL, AUTH and SELECT, which keeps this small.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import anyio.lowlevel

Reply = int | bytes | list[Any] | None


class RedisError(Exception):
    """An error reply from Redis (``-ERR ...``)."""


def encode(args: tuple[Any, ...]) -> bytes:
    """One command in the RESP2 wire format."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Connection:
    """One TCP connection to Redis, used by one task at a time.

    It drives a non-blocking socket with ``anyio.wait_readable`` rather than an
    anyio stream: a decision is one small write and one small read, and the
    stream layer's extra event-loop turns per operation cost more CPU than
    Redis spends on the script (a third of the throughput under asyncio).
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        """Connect to ``host:port`` (TCP, no Nagle delay)."""
        family, kind, proto, _, address = (
            await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                sock.connect(address)
            except BlockingIOError:
                await anyio.wait_writable(sock)
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    raise OSError(error, os.strerror(error)) from None
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    async def command(self, *args: Any) -> Reply:
        """Send one command and return its reply; error replies raise :class:`RedisError`."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        data = memoryview(encode(args))
        while data:
            try:
                data = data[self._sock.send(data) :]
            except BlockingIOError:
                await anyio.wait_writable(self._sock)
        reply: Reply | RedisError = await self._reply()
        if isinstance(reply, RedisError):
            raise reply
        return reply

    async def _fill(self) -> None:
        while True:
            try:
                chunk = self._sock.recv(65536)
            except BlockingIOError:
                await anyio.wait_readable(self._sock)
                continue
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self._buf += chunk
            return

    async def _line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 2]
                return line
            await self._fill()

    async def _exactly(self, n: int) -> bytes:
        while len(self._buf) < n + 2:
            await self._fill()
        data = bytes(self._buf[:n])
        del self._buf[: n + 2]
        return data

    async def _reply(self) -> Any:
        line = await self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else await self._exactly(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [await self._reply() for _ in range(n)]
        raise RedisError(f"unexpected reply from Redis: {line[:40]!r}")

    async def aclose(self) -> None:
        """Close the connection (waking any task still waiting on it)."""
        anyio.notify_closing(self._sock)
        self._sock.close()


class RedisPool:
    """Connections to one Redis server, reused across calls.

    A connection whose command was interrupted (cancelled, timed out, broken)
    may have a reply still in flight, so it is closed rather than reused.
    Connections belong to the event loop that opened them; a pool used from a
    new loop (a second ``anyio.run``) starts afresh.
    """

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", *, connect_timeout: float = 5.0
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", ""):
            raise ValueError(f"only redis:// URLs are supported, not {parts.scheme}://")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.db = int(parts.path.lstrip("/") or 0)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._connect_timeout = connect_timeout
        self._idle: list[Connection] = []
        self._loop: object = None

    async def _connect(self) -> Connection:
        with anyio.fail_after(self._connect_timeout):
            conn = await Connection.open(self.host, self.port)
        try:
            if self._password is not None:
                auth = (self._username, self._password) if self._username else (self._password,)
                await conn.command("AUTH", *auth)
            if self.db:
                await conn.command("SELECT", self.db)
        except BaseException:
            await conn.aclose()
            raise
        return conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for one command or a few, returned to the pool afterwards."""
        loop = anyio.lowlevel.current_token()
        if loop != self._loop:
            self._idle, self._loop = [], loop  # the old loop's sockets cannot be used here
        conn = self._idle.pop() if self._idle else await self._connect()
        try:
            yield conn
        except BaseException:
            with anyio.CancelScope(shield=True):
                await conn.aclose()
            raise
        self._idle.append(conn)

    async def command(self, *args: Any) -> Reply:
        """Run one command on a pooled connection."""
        async with self.connection() as conn:
            return await conn.command(*args)

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.aclose()
