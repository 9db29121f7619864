"""The Redis wire protocol (RESP2) over one non-blocking socket, on anyio.

The limiter needs only EVALSHA, EVAL, AUTH and SELECT, and the response cache
GET, MGET and SET, which keeps this small.
"""

from __future__ import annotations

import os
import socket
from typing import Any

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
        """Send one command and return its reply; error replies raise :class:`RedisError`.

        For a connection used by one task (setting it up); shared use goes
        through :class:`Pipeline`.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        await self.send(encode(args))
        reply = await self.read_reply()
        if isinstance(reply, RedisError):
            raise reply
        return reply

    async def send(self, data: bytes) -> None:
        """Write ``data`` (encoded commands) completely."""
        view = memoryview(data)
        while view:
            try:
                view = view[self._sock.send(view) :]
            except BlockingIOError:
                await anyio.wait_writable(self._sock)

    async def read_reply(self) -> Reply | RedisError:
        """The next reply; an error reply is returned (not raised) as a :class:`RedisError`."""
        reply: Reply | RedisError = await self._reply()
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
        self.close()

    def close(self, *, on_its_loop: bool = True) -> None:
        """Close the connection now.

        :param on_its_loop: whether this runs on the event loop the connection
            was used on (which then wakes its waiting tasks); ``False`` once that
            loop has finished, when only the socket is left to close.
        """
        if on_its_loop:
            anyio.notify_closing(self._sock)
        self._sock.close()
