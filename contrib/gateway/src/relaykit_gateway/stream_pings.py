"""Keep-alive frames for a streamed answer that has gone quiet.

A model that thinks, writes a long tool input or waits on a server tool can send
nothing for a minute; a proxy or load balancer with an idle timeout (often 60 s)
then cuts the connection. Anthropic's API sends ``ping`` events for this (its
streaming docs: "Event streams may also include any number of ping events"); the
gateway sends its dialect's keep-alive (:meth:`StreamEncoder.keepalive`) once
nothing has gone out for :data:`PING_SECONDS`. Before the first content the head is
held (:class:`HeldHead`) for :data:`HEAD_SECONDS` at most, then sent with a
server-sent events comment (which every SSE client skips, Anthropic's SDK too before
``message_start``, where a ``ping`` event would break its accumulator) at each ping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import anyio

from .asgi_messages import Send, send_more

#: seconds of silence before a keep-alive goes out: well under the 60 s idle timeout
#: common to proxies and load balancers
PING_SECONDS = 15.0


class PacedSender:
    """Sends a stream's frames, and ``keepalive()``'s whenever ``seconds`` pass without
    any (:meth:`keep_alive`, run beside the stream). One sends at a time, so a
    keep-alive never lands inside a frame."""

    def __init__(self, send: Send, keepalive: Callable[[], bytes], seconds: float) -> None:
        self._send = send
        self._keepalive = keepalive
        self._seconds = seconds
        self._lock = anyio.Lock()
        self._last = time.monotonic()

    async def send(self, frames: bytes) -> None:
        """Send ``frames`` (more to come)."""
        async with self._lock:
            await send_more(self._send, frames)
            self._last = time.monotonic()

    async def keep_alive(self) -> None:
        """Send a keep-alive after each silence of ``seconds``, until cancelled."""
        while True:
            await anyio.sleep(max(0.0, self._last + self._seconds - time.monotonic()))
            if time.monotonic() - self._last < self._seconds:
                continue  # a frame went out while this slept
            frames = self._keepalive()
            if frames:
                await self.send(frames)
            else:  # nothing to say yet: look again after another silence
                self._last = time.monotonic()


#: seconds a stream waits for its first content before its head goes out anyway: a
#: reasoning model may think for minutes before its first token, and a proxy or load
#: balancer with an idle timeout (often 60 s) would cut a connection with no byte
HEAD_SECONDS = 15.0


class HeldHead:
    """A streamed answer's head (``200`` and ``start``'s headers), held while the call
    reads ahead to its first content (until then the gateway may retry or fall back,
    and a failure is a plain error response with its status), and sent anyway once
    ``wait`` seconds pass without it, then ``keepalive`` every ``every`` seconds until
    the content comes (:meth:`hold`, run beside the read-ahead). A head sent early
    leaves the retries and fallbacks as they were, as it carries no content, but a
    failure can then only end the stream as its error event."""

    def __init__(
        self,
        send: Send,
        start: list[tuple[bytes, bytes]],
        keepalive: bytes,
        wait: float,
        every: float,
    ) -> None:
        self._send = send
        self._start = start
        self._keepalive = keepalive
        self._wait = wait
        self._every = every
        self._lock = anyio.Lock()
        self._released = False
        self._sleeping = anyio.CancelScope()
        #: whether the head has gone out
        self.sent = False
        #: whether the content has begun (:meth:`open`)
        self.streaming = False

    async def hold(self) -> None:
        """Wait for :meth:`release`; past ``wait`` seconds, send the head and keep-alives."""
        if await self._sleep(self._wait):
            return
        while True:
            async with self._lock:
                if self._released:
                    return
                if not self.sent:
                    start = {"type": "http.response.start", "status": 200}
                    await self._send({**start, "headers": self._start})
                    self.sent = True
                await send_more(self._send, self._keepalive)
            if await self._sleep(self._every):
                return

    async def _sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``, or until :meth:`release`; whether released. Only sleeps
        are cut short by it: a frame cut short would corrupt the stream."""
        self._sleeping = anyio.CancelScope()
        with self._sleeping:
            if not self._released:
                await anyio.sleep(seconds)
        return self._released

    async def release(self) -> bool:
        """Stop holding (once a keep-alive being sent has gone: none lands inside a
        frame); whether the head went out."""
        self._released = True
        self._sleeping.cancel()
        async with self._lock:
            return self.sent

    async def open(self, more: Sequence[tuple[bytes, bytes]] = ()) -> None:
        """Stop holding, and send the head if it has not gone out: the content is here.
        ``more``: headers known only now (which provider answered), sent with a head
        that had not gone out (one that went out early went without them)."""
        if not await self.release():
            headers = [*self._start, *more]
            await self._send({"type": "http.response.start", "status": 200, "headers": headers})
            self.sent = True
        self.streaming = True
