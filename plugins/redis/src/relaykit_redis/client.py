"""The Redis client the limiter and the response cache use: one pipelined connection per
event loop.

Written on anyio rather than on redis-py so that one code path serves asyncio
and trio alike (redis-py's asyncio client cannot run under trio, and its sync
client would cost a worker-thread hop per decision).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from relaykit.errors import ConfigError
from relaykit.fork_safety import after_fork_in_child, leave_to_parent

from .pipeline import Pipeline
from .resp import Connection, RedisError, Reply


class RedisClient:
    """Runs commands on one Redis server over one pipelined connection.

    Every task shares the connection (see :class:`~relaykit_redis.pipeline.Pipeline`),
    so concurrent decisions travel together instead of each paying for its
    own round trip. A connection belongs to the event loop that opened it; a
    client used from a new loop (a second ``anyio.run``) closes the old loop's
    and opens a new one, and a broken connection is replaced on the next command.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        connect_timeout: float = 5.0,
        reply_timeout: float = 5.0,
    ) -> None:
        try:
            parts = urlsplit(url)
        except ValueError:  # an unclosed IPv6 bracket
            raise _not_a_url(url, "its host does not parse") from None
        if parts.scheme not in ("redis", ""):
            raise ConfigError(
                f"relaykit-redis speaks plain redis:// only, not {parts.scheme}://",
                hint="write redis://[user:password@]host[:port][/db]; for TLS, put a local"
                " TLS tunnel (stunnel, a sidecar) in front of Redis",
            )
        self.host = parts.hostname or "127.0.0.1"
        try:
            self.port = parts.port or 6379
        except ValueError:  # not a number, or past 65535
            raise _not_a_url(url, "its port is no number from 1 to 65535") from None
        db = parts.path.lstrip("/") or "0"
        # ("localhost", without redis://, is a path: a db "number"); ASCII digits only
        if not (db.isascii() and db.isdigit()):
            raise _not_a_url(url, "its database is no number")
        self.db = int(db)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._connect_timeout = connect_timeout
        self._reply_timeout = reply_timeout
        self._pipeline: Pipeline | None = None
        self._loop: object = None
        self._connecting: anyio.Lock | None = None
        after_fork_in_child(self, RedisClient._forget_parent)

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

    async def pipeline(self) -> Pipeline:
        """The live pipelined connection of this event loop, opened on first use."""
        loop = anyio.lowlevel.current_token()
        if loop != self._loop:
            # The old loop's socket cannot be used from here: it is closed (on
            # that loop, see _close_elsewhere) and this loop opens its own.
            left, left_loop = self._pipeline, self._loop
            self._pipeline, self._loop, self._connecting = None, loop, anyio.Lock()
            if left is not None:
                await self._close_elsewhere(left, left_loop)
        pipeline = self._pipeline
        if pipeline is not None and not pipeline.broken:
            return pipeline
        assert self._connecting is not None
        async with self._connecting:  # one task connects; the others wait for it
            if self._pipeline is None or self._pipeline.broken:
                if self._pipeline is not None:
                    await self._pipeline.aclose()
                self._pipeline = Pipeline(await self._connect(), reply_timeout=self._reply_timeout)
            return self._pipeline

    async def command(self, *args: Any) -> Reply:
        """Run one command; an error reply raises :class:`RedisError`."""
        pipeline = await self.pipeline()
        return await pipeline.command(*args)

    async def post(
        self, commands: Sequence[tuple[Any, ...]], on_error: Callable[[RedisError], None]
    ) -> None:
        """Write ``commands`` without waiting for their replies (see :meth:`Pipeline.post`)."""
        pipeline = await self.pipeline()
        await pipeline.post(commands, on_error)

    async def drain(self) -> None:
        """Wait for the replies to every command written on this loop's connection."""
        pipeline = self._pipeline
        if pipeline is not None and self._loop == anyio.lowlevel.current_token():
            await pipeline.drain()

    async def aclose(self) -> None:
        """Close the connection (opened on this event loop or on an earlier one)."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is None:
            return
        if self._loop == anyio.lowlevel.current_token():
            await pipeline.aclose()
        else:
            await self._close_elsewhere(pipeline, self._loop)

    async def _close_elsewhere(self, pipeline: Pipeline, loop: Any) -> None:
        """Close ``pipeline``, opened on another event loop ``loop``.

        Dropped instead, its socket stayed open until the garbage collector
        found it (a ``ResourceWarning``). On the loop that opened it if that loop
        still runs (a blocking portal's thread: only there can its waiting tasks
        be woken), else directly. Handing it over blocks a thread, so a worker
        thread does it; a loop too busy to take it within ``connect_timeout`` is
        left to close it when it gets to it.
        """

        def close() -> None:
            try:
                anyio.from_thread.run_sync(pipeline.close, token=loop)
            except anyio.RunFinishedError:  # (anyio.run has returned): no task left to wake
                pipeline.close(on_its_loop=False)

        with anyio.move_on_after(self._connect_timeout):
            await anyio.to_thread.run_sync(close, abandon_on_cancel=True)

    def _forget_parent(self) -> None:
        """In a forked child: the parent's connection is the parent's (see relaykit.fork_safety)."""
        leave_to_parent(self._pipeline)
        self._pipeline, self._loop, self._connecting = None, None, None


def _not_a_url(url: str, why: str) -> ConfigError:
    """The error for a ``url`` that does not parse (its password masked, as in every
    error's message)."""
    return ConfigError(
        f"{url!r} is not a Redis URL: {why}",
        hint="write redis://[user:password@]host[:port][/db], e.g. redis://127.0.0.1:6379/0",
    )
