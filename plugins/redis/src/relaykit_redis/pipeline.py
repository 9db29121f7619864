"""Share one Redis connection among every task: write commands as they come, match replies in order.

Redis answers commands on a connection in the order it received them, so
concurrent tasks can write to one socket and each take the reply at its
position. Whoever is waiting while nobody reads becomes the reader: it reads
replies, hands each to its task, and stops once its own has come; then it wakes
the oldest task still waiting, which reads on. Under load one receive brings
many replies and one event-loop turn serves many decisions.

Reading is shielded from cancellation (with a timeout): a reply half-read
would leave the socket mid-message for every other task. A cancelled task that
is not reading simply abandons its place; its reply is read and dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from .resp import RedisError, Reply, encode

if TYPE_CHECKING:
    from .resp import Connection


class _Waiter:
    __slots__ = ("abandoned", "done", "event", "on_error", "reply")

    def __init__(self, on_error: Callable[[RedisError], None] | None = None) -> None:
        # Made only when the task has to wait for someone else's read: a task
        # alone on the connection reads its own reply and never needs one.
        self.event: anyio.Event | None = None
        self.done = False
        # posted commands (see Pipeline.post) are abandoned from the start
        self.abandoned = on_error is not None
        self.on_error = on_error
        self.reply: Any = None

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()


class Pipeline:
    """One :class:`~relaykit_redis.resp.Connection` used by many tasks at once."""

    def __init__(self, conn: Connection, *, reply_timeout: float = 5.0) -> None:
        self._conn = conn
        self._reply_timeout = reply_timeout
        self._waiting: deque[_Waiter] = deque()  # in the order their commands were written
        # fast_acquire: an uncontended lock costs no extra turn of the event loop
        # (one turn more per decision was a third of a lone task's time).
        self._write_lock = anyio.Lock(fast_acquire=True)
        self._reading = False
        self.broken: BaseException | None = None

    async def command(self, *args: Any) -> Reply:
        """Run one command; an error reply raises :class:`RedisError`."""
        if self.broken is not None:
            raise ConnectionError(f"the Redis connection broke: {self.broken!r}")
        me = _Waiter()
        async with self._write_lock:  # writes and queue order must agree
            self._waiting.append(me)
            try:
                await self._conn.send(encode(args))
            except BaseException as e:
                self._break(e)  # maybe half a command on the wire: nobody can use it now
                raise
        try:
            while not me.done:
                if not self._reading:
                    await self._read_until(me)
                else:
                    # No await between making the event and waiting on it, so a
                    # reader cannot finish with this reply unseen in between.
                    me.event = anyio.Event()
                    await me.event.wait()
                    me.event = None  # woken to read on, or with the reply
        except BaseException:
            me.abandoned = True
            if not self._reading:
                self._wake_next()
            raise
        if isinstance(me.reply, BaseException):
            raise me.reply
        return me.reply  # type: ignore[no-any-return]

    async def post(
        self, commands: Sequence[tuple[Any, ...]], on_error: Callable[[RedisError], None]
    ) -> None:
        """Write ``commands`` without waiting for their replies.

        For writes nobody waits on (a cache's): they are on their way once this
        returns, in the order given. Whoever reads next reads their replies and
        drops them, calling ``on_error`` with each error reply; :meth:`drain`
        waits for them.
        """
        if self.broken is not None:
            raise ConnectionError(f"the Redis connection broke: {self.broken!r}")
        if not commands:
            return
        async with self._write_lock:
            self._waiting.extend(_Waiter(on_error) for _ in commands)
            try:
                await self._conn.send(b"".join(encode(args) for args in commands))
            except BaseException as e:
                self._break(e)
                raise

    @property
    def pending(self) -> int:
        """Commands written whose replies have not been read yet."""
        return len(self._waiting)

    async def drain(self) -> None:
        """Wait until every command written so far has its reply (a PING after them)."""
        if self._waiting and self.broken is None:
            await self.command("PING")

    async def _read_until(self, me: _Waiter) -> None:
        self._reading = True
        try:
            # One shielded scope with a deadline (not a shield plus fail_after):
            # this runs once per decision.
            deadline = anyio.current_time() + self._reply_timeout
            with anyio.CancelScope(shield=True, deadline=deadline) as scope:
                while not me.done:
                    reply = await self._conn.read_reply()
                    waiter = self._waiting.popleft()
                    waiter.reply, waiter.done = reply, True
                    if waiter is not me and not waiter.abandoned:
                        waiter.wake()
                    elif waiter.on_error is not None and isinstance(reply, RedisError):
                        waiter.on_error(reply)  # a posted command's: nobody waits for it
            if scope.cancelled_caught:
                raise TimeoutError(f"no reply from Redis within {self._reply_timeout:g}s")
        except BaseException as e:
            self._break(e)
            raise ConnectionError(f"reading from Redis failed: {e!r}") from e
        finally:
            self._reading = False
        self._wake_next()

    def _wake_next(self) -> None:
        """Hand reading to the oldest task still waiting, if any."""
        for waiter in self._waiting:
            if not waiter.abandoned:
                # Without an event it is not waiting yet: once its command is
                # written it finds nobody reading and reads itself.
                waiter.wake()
                return

    def _break(self, error: BaseException) -> None:
        if self.broken is None:
            self.broken = error
        while self._waiting:
            waiter = self._waiting.popleft()
            waiter.reply, waiter.done = (
                ConnectionError(f"the Redis connection broke: {error!r}"),
                True,
            )
            waiter.wake()

    async def aclose(self) -> None:
        """Close the connection; tasks still waiting get a ``ConnectionError``."""
        self.close()

    def close(self, *, on_its_loop: bool = True) -> None:
        """Close the connection now (see :meth:`Connection.close`)."""
        if on_its_loop:
            self._break(ConnectionError("closed"))
        else:  # the loop is over, and so is every task that waited: nobody to wake
            self.broken = self.broken or ConnectionError("closed")
            self._waiting.clear()
        self._conn.close(on_its_loop=on_its_loop)


__all__ = ["Pipeline", "RedisError"]
