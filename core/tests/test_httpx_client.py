"""The default httpx client stops a cancelled read of a body arriving as fast as the loop turns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import pytest

from relaykit.http import HttpOptions, httpx_client
from relaykit.httpx_body import CHECK_EVERY

#: a chunked response's head: its body comes a piece at a time, from InStepBody
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
#: one chunk of one byte
PIECE = b"1\r\nx\r\n"


class InStepBody:
    """A response body that arrives a piece at a time, as fast as the event loop turns.

    anyio's asyncio backend cancels a task only while the future it waits on is
    pending, and tries again on the loop's next turn. A body whose bytes wake each
    read in the very turn it starts waiting (a fast upstream read by the gateway for
    a caller who hung up) is then read to its end, the cancellation never landing.
    Under asyncio the pieces go to the connection's anyio protocol as such a socket
    would deliver them: a piece whenever the read waits, once a turn. Under trio
    they go through the socket, a piece per checkpoint of the serving task. Either
    way ``scope`` is cancelled from outside just after the ``cancel_at``-th piece,
    and ``pieces`` in all are fed.
    """

    def __init__(
        self, scope: anyio.CancelScope, *, pieces: int = 2000, cancel_at: int = 10
    ) -> None:
        self.fed = 0
        self._scope = scope
        self._pieces = pieces
        self._cancel_at = cancel_at
        self._through_socket = False
        self._stopped = False

    def stop(self) -> None:
        """Feed no more: the test has what it measures."""
        self._stopped = True

    async def serve(self, stream: anyio.abc.SocketStream) -> None:
        """The server's side of one connection: the head, then (under trio) the pieces."""
        async with stream:
            with suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                await self._serve(stream)

    async def _serve(self, stream: anyio.abc.SocketStream) -> None:
        await stream.receive()  # the request: one small read
        await stream.send(HEAD)
        if self._through_socket:
            while self.fed < self._pieces and not self._stopped:
                await stream.send(PIECE)
                self._piece_fed()
                await anyio.lowlevel.checkpoint()
        await stream.receive()  # until the client closes the connection

    async def on_response(self, response: httpx.Response) -> None:
        """httpx response hook: the head is in, the body comes next."""
        if self._through_socket:
            return
        # httpcore's stream over anyio's SocketStream, whose protocol gets the bytes
        protocol = response.extensions["network_stream"]._stream._protocol
        loop = asyncio.get_running_loop()

        def feed() -> None:
            if self._stopped or self.fed >= self._pieces:
                return
            fed = any(not waiter.done() for waiter in protocol.read_event._waiters)
            if fed:
                protocol.data_received(PIECE)  # wakes the read (its wake-up is queued)
            loop.call_soon(feed)  # readable again next turn
            if fed:  # anyio's next try at cancelling then comes after that next feed
                self._piece_fed()

        loop.call_soon(feed)

    def _piece_fed(self) -> None:
        self.fed += 1
        if self.fed == self._cancel_at:
            self._scope.cancel()

    @asynccontextmanager
    async def serving(self, anyio_backend: str) -> AsyncIterator[str]:
        """Serve on 127.0.0.1 inside the test's own event loop; the URL to call."""
        self._through_socket = anyio_backend != "asyncio"
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, self.serve)
            try:
                yield f"http://127.0.0.1:{port}/v1/chat/completions"
            finally:
                self.stop()
                tg.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_cancelled_scope_stops_a_whole_body_that_arrives_at_every_turn(
    anyio_backend: str, method: str
) -> None:
    # post() and get() (every non-streamed provider call) read the whole body
    # before they return: a cancelled call (its timeout, its caller's cancel)
    # stops within a few pieces, not after all of them.
    scope = anyio.CancelScope()
    body = InStepBody(scope)
    async with body.serving(anyio_backend) as url, httpx_client(HttpOptions()) as http:
        http.event_hooks["response"].append(body.on_response)
        with anyio.fail_after(5), scope:
            if method == "GET":
                await http.get(url)
            else:
                await http.post(url, content=b"{}")
        body.stop()
        assert scope.cancelled_caught
        # not the whole body: the read stops at the next check, within CHECK_EVERY pieces
        assert body.fed <= 10 + CHECK_EVERY + 2, body.fed


@pytest.mark.anyio
async def test_a_cancelled_scope_stops_a_streamed_body_that_arrives_at_every_turn(
    anyio_backend: str,
) -> None:
    scope = anyio.CancelScope()
    body = InStepBody(scope)
    async with body.serving(anyio_backend) as url, httpx_client(HttpOptions()) as http:
        http.event_hooks["response"].append(body.on_response)
        async with http.stream("GET", url) as r:
            with anyio.fail_after(5), scope:
                async for _ in r.aiter_bytes():
                    pass
            body.stop()
        assert scope.cancelled_caught
        assert body.fed <= 10 + CHECK_EVERY + 2, body.fed
