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
from anyio.lowlevel import EventLoopToken

from relaykit.errors import ConfigError
from relaykit.fork_safety import after_fork_in_child, leave_to_parent

from .pipeline import Pipeline
from .resp import Connection, RedisError, Reply


class _OnLoop:
    """One event loop's connection, and the lock its tasks take to open it."""

    __slots__ = ("connecting", "pipeline")

    def __init__(self) -> None:
        self.pipeline: Pipeline | None = None
        self.connecting = anyio.Lock()  # made on its loop: only that loop's tasks take it


class RedisClient:
    """Runs commands on one Redis server over one pipelined connection per event loop.

    Every task of a loop shares its connection (see
    :class:`~relaykit_redis.pipeline.Pipeline`), so concurrent decisions travel
    together instead of each paying for its own round trip. A connection belongs
    to the event loop that opened it: loops running at once (a SyncClient's
    thread beside the main thread's) each keep their own, one loop's tasks never
    touch another's socket. A loop's connection is closed once that loop has
    finished (found when a new loop first uses the client) or by :meth:`aclose`,
    on its own loop where that loop still runs. A broken connection is replaced
    on the next command.
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
        # event loop (its anyio token) -> its connection. Loops in other threads
        # add and remove theirs: each change is one dict operation (atomic under
        # the GIL), and whoever walks it walks a copy.
        self._loops: dict[EventLoopToken, _OnLoop] = {}
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

    def pipelines(self) -> list[Pipeline]:
        """The connections open now, one per event loop that used this client."""
        return [here.pipeline for here in list(self._loops.values()) if here.pipeline is not None]

    async def pipeline(self) -> Pipeline:
        """The live pipelined connection of this event loop, opened on first use."""
        loop = anyio.lowlevel.current_token()
        here = self._loops.get(loop)
        if here is None:
            here = self._loops[loop] = _OnLoop()
            await self._close_finished(loop)
        pipeline = here.pipeline
        if pipeline is not None and not pipeline.broken:
            return pipeline
        async with here.connecting:  # one task connects; the others wait for it
            if here.pipeline is None or here.pipeline.broken:
                if here.pipeline is not None:
                    await here.pipeline.aclose()
                here.pipeline = Pipeline(await self._connect(), reply_timeout=self._reply_timeout)
            return here.pipeline

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
        here = self._loops.get(anyio.lowlevel.current_token())
        if here is not None and here.pipeline is not None:
            await here.pipeline.drain()

    async def aclose(self) -> None:
        """Close every connection: this event loop's here, each other loop's on that
        loop if it still runs (else directly)."""
        current = anyio.lowlevel.current_token()
        for loop in list(self._loops):
            here = self._loops.pop(loop, None)
            if here is None or here.pipeline is None:
                continue
            if loop == current:
                await here.pipeline.aclose()
            else:
                await self._close_elsewhere(here.pipeline, loop)

    async def _close_finished(self, current: EventLoopToken) -> None:
        """Close the connections of loops that have finished (a new loop has come:
        an earlier ``anyio.run`` may be over), which nobody can use again."""
        others = [loop for loop in list(self._loops) if loop != current]
        if not others:
            return

        def finished() -> list[EventLoopToken]:
            return [loop for loop in others if _state(loop) == "finished"]

        with anyio.move_on_after(self._connect_timeout):
            for loop in await anyio.to_thread.run_sync(finished, abandon_on_cancel=True):
                here = self._loops.pop(loop, None)
                if here is not None and here.pipeline is not None:
                    here.pipeline.close(on_its_loop=False)

    async def _close_elsewhere(self, pipeline: Pipeline, loop: EventLoopToken) -> None:
        """Close ``pipeline``, opened on another event loop ``loop``.

        Dropped instead, its socket stayed open until the garbage collector
        found it (a ``ResourceWarning``). On the loop that opened it if that loop
        runs (a blocking portal's thread: only there can its waiting tasks be
        woken), else directly: a loop that has finished, or an asyncio loop
        stopped and not closed, which would take the close only when (if ever)
        it runs again. Handing it over blocks a thread, so a worker thread does
        it; a loop too busy to take it within ``connect_timeout`` is left to
        close it when it gets to it.
        """

        def close() -> None:
            if _state(loop) == "running":
                try:
                    anyio.from_thread.run_sync(pipeline.close, token=loop)
                    return
                except anyio.RunFinishedError:  # it has finished meanwhile
                    pass
            # no task of it runs now: nobody to wake, only the socket to close
            pipeline.close(on_its_loop=False)

        with anyio.move_on_after(self._connect_timeout):
            await anyio.to_thread.run_sync(close, abandon_on_cancel=True)

    def _forget_parent(self) -> None:
        """In a forked child: the parent's connections are its own (see relaykit.fork_safety)."""
        for here in list(self._loops.values()):
            leave_to_parent(here.pipeline)
        self._loops = {}


def _state(loop: EventLoopToken) -> str:
    """Whether ``loop`` is ``"running"``, ``"stopped"`` (an asyncio loop that may run
    again) or ``"finished"``; from a thread that is not the loop's own.

    An asyncio loop says so itself. A trio run is running until it has finished,
    which a call handed to it finds out (a no-op, run there if it is running).
    """
    native: Any = loop.native_token
    if callable(getattr(native, "is_closed", None)):  # an asyncio event loop
        if native.is_closed():
            return "finished"
        return "running" if native.is_running() else "stopped"
    try:
        anyio.from_thread.run_sync(_nothing, token=loop)
    except anyio.RunFinishedError:
        return "finished"
    return "running"


def _nothing() -> None:
    """Run on another loop to learn whether it still runs."""


def _not_a_url(url: str, why: str) -> ConfigError:
    """The error for a ``url`` that does not parse (its password masked, as in every
    error's message)."""
    return ConfigError(
        f"{url!r} is not a Redis URL: {why}",
        hint="write redis://[user:password@]host[:port][/db], e.g. redis://127.0.0.1:6379/0",
    )
