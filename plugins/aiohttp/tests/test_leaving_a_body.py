"""An exchange left mid-way ends its connection at once, not on the event loop's next turn.

asyncio's ``transport.close()`` sends nothing itself: it closes the socket in a
callback on the loop's next turn. A loop that stops first (a ``SyncClient``'s
loop thread ending, ``asyncio.run`` returning) left the socket open until the
garbage collector found it, and the server went on writing the whole body to a
client that had left (and recorded the call as cancelled). These tests block
the loop right after leaving, so only what the client did at once counts. They
also pin the private aiohttp method the fix hooks (``_Connector._release``).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import aclosing

import anyio
import pytest

from relaykit.http import HttpOptions, ReadError
from relaykit.testing import loopback_tls
from relaykit.testing.loopback import LoopbackServer, Pause, Request, Response
from relaykit_aiohttp import AiohttpClient

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])

SSE = {"content-type": "text/event-stream"}


def seen_at_once(condition: Callable[[], bool]) -> bool:
    """Whether the server (in its own thread) sees ``condition`` within a second,
    the event loop blocked meanwhile: a close the loop would finish later never counts."""
    deadline = time.monotonic() + 1
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)  # blocking the loop is the point
    return True


async def handler(request: Request) -> Response:
    if request.path == "/whole":
        return Response(200, SSE, [b"a", b"b"])
    if request.path == "/slow-head":  # an answer long in the making (the server notices a leaver)
        await anyio.sleep(30)
    # a piece, then a pause long past the test: the rest comes only to a client still there
    return Response(200, SSE, [b"a", Pause(30), b"b"])


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(handler) as s:
        yield s


def left(server: LoopbackServer) -> Callable[[], bool]:
    """The server saw the client leave the body and closed its end."""
    return lambda: server.stats.streams_abandoned == 1 and server.stats.connections_open == 0


@asyncio_only
@pytest.mark.anyio
async def test_leaving_a_stream_mid_body_closes_the_socket_at_once(server: LoopbackServer) -> None:
    http = AiohttpClient()
    try:
        async with (
            http.stream("GET", server.url + "/long") as r,
            aclosing(r.aiter_bytes()) as chunks,
        ):
            assert await anext(chunks) == b"a"
        assert seen_at_once(left(server))
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_leaving_a_tls_stream_mid_body_closes_the_socket_at_once() -> None:
    tls = loopback_tls()
    trusted = ssl.create_default_context(cadata=tls.ca_pem.decode())
    http = AiohttpClient(HttpOptions(ssl_context=trusted))
    with LoopbackServer(handler, tls=tls.server_context) as server:
        try:
            async with (
                http.stream("GET", server.url + "/long") as r,
                aclosing(r.aiter_bytes()) as chunks,
            ):
                assert await anext(chunks) == b"a"
            assert seen_at_once(left(server))
        finally:
            await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_a_cancelled_stream_read_closes_the_socket_at_once(server: LoopbackServer) -> None:
    http = AiohttpClient()
    try:
        async with http.stream("GET", server.url + "/long") as r:
            with anyio.move_on_after(0.1) as scope:
                async for _ in r.aiter_bytes():
                    pass
            assert scope.cancelled_caught
        assert seen_at_once(left(server))
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_a_cancelled_aread_closes_the_socket_at_once(server: LoopbackServer) -> None:
    http = AiohttpClient()
    try:
        async with http.stream("GET", server.url + "/long") as r:
            with anyio.move_on_after(0.1) as scope:
                await r.aread()
            assert scope.cancelled_caught
            assert seen_at_once(left(server))  # aread closed it, before the block's end
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_a_cancelled_whole_body_read_closes_the_socket_at_once(
    server: LoopbackServer,
) -> None:
    http = AiohttpClient()
    try:
        with anyio.move_on_after(0.1) as scope:
            await http.get(server.url + "/long")
        assert scope.cancelled_caught
        assert seen_at_once(left(server))
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_aclose_with_a_stream_open_closes_its_socket_at_once(
    server: LoopbackServer,
) -> None:
    http = AiohttpClient()
    failures: list[BaseException] = []

    async def read() -> None:
        async with http.stream("GET", server.url + "/long") as r:
            try:
                async for _ in r.aiter_bytes():
                    reading.set()
            except ReadError as e:
                failures.append(e)

    # (aiohttp 3.14's session close happens to give the loop a turn, which closed
    # the socket in time; this holds whatever aiohttp's close does)
    reading = anyio.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await reading.wait()
            await http.aclose()
            assert seen_at_once(left(server))  # before the reader got a turn
    (failure,) = failures
    assert "closed" in str(failure)


@asyncio_only
@pytest.mark.anyio
async def test_a_body_read_to_its_end_keeps_its_connection(server: LoopbackServer) -> None:
    http = AiohttpClient()
    try:
        for _ in range(3):
            async with http.stream("GET", server.url + "/whole") as r:
                assert await r.aread() == b"ab"
            assert (await http.get(server.url + "/whole")).content == b"ab"
        assert server.stats.connections_opened == 1
        assert server.stats.streams_abandoned == 0
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_a_request_cancelled_before_its_head_closes_the_socket_at_once(
    server: LoopbackServer, streamed: bool
) -> None:
    http = AiohttpClient()
    try:
        with anyio.move_on_after(0.2) as scope:
            if streamed:
                async with http.stream("GET", server.url + "/slow-head"):
                    pass
            else:
                await http.get(server.url + "/slow-head")
        assert scope.cancelled_caught
        assert seen_at_once(
            lambda: server.stats.requests_abandoned == 1 and server.stats.connections_open == 0
        )
    finally:
        await http.aclose()
