"""The default httpx client ends a body's connection at once when the body is left.

A socket whose close waited for the event loop's next turn stayed open when the
loop stopped first, and the server went on writing the body to a client that had
gone (see relaykit-aiohttp, whose asyncio transports did so). These tests block
the loop right after leaving, so only what the client did at once counts.
httpx holds them today: its anyio streams send the FIN on close (asyncio: write_eof
before the transport's deferred close; trio: the fd closes at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import anyio
import httpx
import pytest

from relaykit.http import HttpOptions, httpx_client
from relaykit.testing.loopback import LoopbackServer, Pause, Request, Response


def seen_at_once(condition: Callable[[], bool]) -> bool:
    """Whether the server (in its own thread) sees ``condition`` within a second,
    the event loop blocked meanwhile: a close the loop would finish later never counts."""
    deadline = time.monotonic() + 1
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)  # blocking the loop is the point
    return True


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    async def handler(request: Request) -> Response:
        # a piece, then a pause long past the test: the rest comes only to a client still there
        return Response(200, {"content-type": "text/event-stream"}, [b"a", Pause(30), b"b"])

    with LoopbackServer(handler) as s:
        yield s


def left(server: LoopbackServer) -> Callable[[], bool]:
    """The server saw the client leave the body and closed its end."""
    return lambda: server.stats.streams_abandoned == 1 and server.stats.connections_open == 0


@pytest.mark.anyio
async def test_leaving_a_stream_mid_body_closes_the_socket_at_once(server: LoopbackServer) -> None:
    async with httpx_client(HttpOptions()) as http:
        async with http.stream("GET", server.url + "/long") as r:
            async for chunk in r.aiter_raw():
                assert chunk == b"a"
                break
        assert seen_at_once(left(server))


@pytest.mark.anyio
async def test_a_cancelled_stream_read_closes_the_socket_at_once(server: LoopbackServer) -> None:
    async with httpx_client(HttpOptions()) as http:
        async with http.stream("GET", server.url + "/long") as r:
            with anyio.move_on_after(0.1) as scope:
                await r.aread()
            assert scope.cancelled_caught
        assert seen_at_once(left(server))


@pytest.mark.anyio
async def test_a_cancelled_whole_body_read_closes_the_socket_at_once(
    server: LoopbackServer,
) -> None:
    async with httpx_client(HttpOptions()) as http:
        with anyio.move_on_after(0.1) as scope:
            await http.get(server.url + "/long")
        assert scope.cancelled_caught
        assert seen_at_once(left(server))


@pytest.mark.anyio
async def test_aclose_with_a_stream_open_closes_its_socket_at_once(
    server: LoopbackServer,
) -> None:
    http = httpx_client(HttpOptions())

    async def read() -> None:
        async with http.stream("GET", server.url + "/long") as r:
            with pytest.raises(httpx.ReadError):  # "another task closed this fd"
                async for _ in r.aiter_raw():
                    reading.set()

    reading = anyio.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await reading.wait()
            await http.aclose()
            assert seen_at_once(left(server))  # before the reader got a turn
