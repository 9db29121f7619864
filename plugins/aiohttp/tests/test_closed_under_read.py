"""A connection closed under a body being read fails the read with a transport error.

aiohttp's ``ResponseHandler.close()`` drops the transport and detaches the body at
once, waking no read and ending nothing: a read that began later met aiohttp's
bare ``RuntimeError("Connection closed.")`` (``StreamReader._wait``), and one
already waiting waited for ever. aiohttp's connector does that to every connection
in use when it closes, so these tests close the session under a response whose
body is half in (``b"a"`` now, the rest 30 s later) at the moment the next read
would start waiting.
"""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import anyio
import pytest

import relaykit
import relaykit_aiohttp.plugin
from relaykit.http import ReadError
from relaykit.testing.loopback import LoopbackServer, Pause, Request, Response
from relaykit_aiohttp import AiohttpClient

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    async def handler(request: Request) -> Response:
        # the rest long after every test has left: none meets the body's end
        return Response(200, {"content-type": "text/event-stream"}, [b"a", Pause(30), b"b"])

    with LoopbackServer(handler) as s:
        yield s


async def first_piece_in(response: aiohttp.ClientResponse) -> None:
    """Wait until ``b"a"`` is in the body's buffer: the read after it starts waiting."""
    with anyio.fail_after(30):
        while not response.content._buffer:  # noqa: ASYNC110 (aiohttp sets no event for it)
            await anyio.sleep(0.005)


@asyncio_only
@pytest.mark.anyio
@pytest.mark.parametrize("read", ["aread", "aiter_bytes"])
async def test_a_streamed_read_after_the_session_closed_its_connection_fails_typed(
    server: LoopbackServer, read: str
) -> None:
    http = AiohttpClient()
    try:
        async with http.stream("GET", server.url + "/") as r:
            await first_piece_in(r._response)
            session = http._session
            assert session is not None
            await session.close()  # the connector closes the connection in use
            chunks: list[bytes] = []
            with anyio.fail_after(30), pytest.raises(ReadError, match="closed while the body"):
                if read == "aread":
                    await r.aread()
                else:
                    async for chunk in r.aiter_bytes():
                        chunks.append(chunk)
            assert chunks == ([b"a"] if read == "aiter_bytes" else [])
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_a_whole_body_read_after_the_session_closed_its_connection_fails_typed(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = AiohttpClient()
    start = aiohttp.ClientResponse.start

    async def start_then_close(
        response: aiohttp.ClientResponse, connection: aiohttp.connector.Connection
    ) -> aiohttp.ClientResponse:
        started = await start(response, connection)  # the head is in: post() reads on
        await first_piece_in(started)
        assert http._session is not None
        await http._session.close()
        return started

    monkeypatch.setattr(aiohttp.ClientResponse, "start", start_then_close)
    try:
        with anyio.fail_after(30), pytest.raises(ReadError, match="closed while the body"):
            await http.post(server.url + "/", content=b"{}")
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_closing_the_client_fails_a_whole_body_read_that_waits(
    server: LoopbackServer,
) -> None:
    # aclose() failed a streamed body's read; post()'s, waiting for the rest of its
    # body, waited for ever (the session's close wakes no read)
    http = AiohttpClient()
    failure: list[BaseException] = []
    reading = anyio.Event()
    start = aiohttp.ClientResponse.start

    async def start_noted(
        response: aiohttp.ClientResponse, connection: aiohttp.connector.Connection
    ) -> aiohttp.ClientResponse:
        started = await start(response, connection)
        await first_piece_in(started)
        reading.set()
        return started

    async def post() -> None:
        try:
            await http.post(server.url + "/", content=b"{}")
        except ReadError as e:
            failure.append(e)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aiohttp.ClientResponse, "start", start_noted)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(post)
                await reading.wait()
                await anyio.sleep(0.05)  # post() reads "a" and waits for the rest
                await http.aclose()
    assert len(failure) == 1, failure


@asyncio_only
@pytest.mark.anyio
async def test_a_stream_whose_connection_is_closed_under_it_fails_typed() -> None:
    # through the public client: the provider's next read met the bare RuntimeError
    event = b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'

    async def handler(request: Request) -> Response:
        return Response(200, {"content-type": "text/event-stream"}, [event, Pause(30), event])

    with LoopbackServer(handler) as s:
        config = {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {"openai": {"base_url": s.url + "/v1", "api_key": "sk-test-0123456789"}},
        }
        async with relaykit.Client(config, plugins=[relaykit_aiohttp.plugin]) as client:
            with anyio.fail_after(30), pytest.raises(relaykit.StreamError) as caught:
                async with client.stream("openai/gpt-4o-mini", "hi") as stream:
                    async for _ in stream:
                        http = client._registry._http["openai"]  # private: the client used
                        assert isinstance(http, AiohttpClient) and http._session is not None
                        await http._session.close()
    assert "closed while the body was read" in str(caught.value)
    assert stream.response.text == "hi"
