"""httpx response bodies read with a point per chunk where a cancelled anyio scope takes effect.

anyio's asyncio backend (``CancelScope._deliver_cancellation``, 4.16) cancels a
task only while the future it waits on is pending, else tries again on the
loop's next turn. httpx reads a body through httpcore and anyio's
``SocketStream.receive()``, which waits on an event: a body whose bytes set it
in the very turn each read starts waiting (a fast upstream read by the gateway
for a caller who hung up, a call whose timeout passes mid-body) was read to its
end, the cancellation never landing. ``checkpoint_if_cancelled()`` waits on no
future once a scope is cancelled, where anyio's next try lands; it costs ~12 k
instructions even when nothing is, so it runs after every
:data:`CHECK_EVERY`-th chunk: a cancelled read stops within that many chunks,
and a chat's one- or two-chunk body pays nothing. (Under trio every read checks
already.)

Imported with httpx, in the client's warm-up thread (provider_registry._HTTPX_MODULES).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from anyio.lowlevel import checkpoint_if_cancelled

#: chunks read between two cancellation checks (a power of two: the test is a mask).
#: ~12.6 k instructions a check (sniffio, a WeakKeyDictionary, the scope walk): every
#: chunk was +5% on a 25-chunk stream, every 16th is one check in such a stream.
CHECK_EVERY = 16


class CheckpointedStream(httpx.AsyncByteStream):
    """A response's body stream with a cancellation point after every
    :data:`CHECK_EVERY`-th chunk.

    Its own iterator, not an async generator: one left unfinished (a stream its
    caller stopped reading) would be finalized by the garbage collector, which
    trio warns about.
    """

    __slots__ = ("_chunks", "_read", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream
        self._chunks = stream.__aiter__()  # started (and so finalized) only when read
        self._read = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._chunks.__anext__()
        self._read = read = self._read + 1
        if not read & (CHECK_EVERY - 1):
            await checkpoint_if_cancelled()
        return chunk

    async def aclose(self) -> None:
        """Close the stream beneath (httpx releases or closes the connection)."""
        await self._stream.aclose()


async def checkpoint_body_reads(response: httpx.Response) -> None:
    """httpx response hook: ``response``'s body, whole or streamed, is read with a
    cancellation point every few chunks (see the module's docstring).

    A response hook rather than a transport: it also covers the proxy transports
    httpx makes from the environment. It runs after the head, before the body.
    """
    stream = response.stream
    if isinstance(stream, httpx.AsyncByteStream):
        response.stream = CheckpointedStream(stream)
