"""Keep-alive frames for a streamed answer that has gone quiet.

A model that thinks, writes a long tool input or waits on a server tool can send
nothing for a minute; a proxy or load balancer with an idle timeout (often 60 s)
then cuts the connection. Anthropic's API sends ``ping`` events for this (its
streaming docs: "Event streams may also include any number of ping events"); the
gateway sends its dialect's keep-alive (:meth:`StreamEncoder.keepalive`) once
nothing has gone out for :data:`PING_SECONDS`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

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
