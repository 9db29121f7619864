"""AiohttpTransport against a real loopback server: timeouts, failures, cancellation, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import httpx
import pytest

import relaykit
import relaykit_aiohttp.plugin
from relaykit.config import Config, load_config
from relaykit.testing.loopback import Drop, LoopbackServer, Pause, Request, Response
from relaykit_aiohttp import AiohttpTransport

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])

EVENTS = [
    b'data: {"id":"c","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"%d "}}]}\n\n'
    % i
    for i in range(5)
]
DONE = [
    b'data: {"id":"c","model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    b"data: [DONE]\n\n",
]
SSE = {"content-type": "text/event-stream"}


async def wait_until(condition: Callable[[], bool]) -> None:
    """The server counts from its own thread: give it a moment (and asyncio, whose
    transports close their sockets on the loop's next turn, a chance to run)."""
    with anyio.move_on_after(3):
        while not condition():  # noqa: ASYNC110 (the condition changes in another thread)
            await anyio.sleep(0.01)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    async def handler(request: Request) -> Response:
        if request.path == "/slow-head":
            await anyio.sleep(1)
            return Response.json({"late": True})
        if request.path == "/hold":
            return Response(200, SSE, [b"a", Pause(2), b"b"])
        if request.path == "/stall":
            return Response(200, SSE, [*EVENTS[:2], Pause(2), *EVENTS[2:], *DONE])
        if request.path == "/drop":
            return Response(200, SSE, [EVENTS[0], Drop()])
        if request.path == "/garbage":
            return Response(abort="garbage")
        if request.path == "/echo":
            return Response(200, {"x-method": request.method}, request.body)
        if request.path == "/v1/chat/completions":
            body = request.json()
            if body.get("stream"):
                return Response(200, SSE, [*EVENTS, *DONE])
            return Response.json(
                {
                    "id": "c",
                    "model": "gpt-4o-mini",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "hi"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )
        if request.path == "/v1/slow":
            await anyio.sleep(0.3)
            return Response.json({})
        return Response.json({"path": request.path}, status=404)

    with LoopbackServer(handler) as s:
        yield s


def relay_config(server: LoopbackServer, **http: object) -> dict[str, object]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0},
        "http": http,
        "providers": {"openai": {"base_url": server.url + "/v1", "api_key": "sk-test"}},
    }


# -- which transport -----------------------------------------------------------


@pytest.mark.anyio
async def test_relaykit_http_transport_only_under_asyncio(anyio_backend: str) -> None:
    transport = relaykit_aiohttp.plugin.relaykit_http_transport(config=load_config({}))
    assert isinstance(transport, AiohttpTransport) == (anyio_backend == "asyncio")
    if transport is not None:
        await transport.aclose()


def test_relaykit_http_transport_outside_a_loop_keeps_httpx() -> None:
    assert relaykit_aiohttp.plugin.relaykit_http_transport(config=Config()) is None


@pytest.mark.anyio
async def test_the_transport_refuses_trio(anyio_backend: str, server: LoopbackServer) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
        if anyio_backend == "trio":
            with pytest.raises(RuntimeError, match="asyncio only"):
                await http.get(server.url + "/echo")
        else:
            assert (await http.get(server.url + "/echo")).status_code == 200


# -- the wire ------------------------------------------------------------------


@asyncio_only
@pytest.mark.anyio
async def test_bodies_and_headers_pass_through(server: LoopbackServer) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"streamed "
        yield b"body"

    async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
        r = await http.put(server.url + "/echo", content=b"raw bytes")
        assert (r.status_code, r.headers["x-method"], r.content) == (200, "PUT", b"raw bytes")
        r = await http.post(server.url + "/echo", content=chunks())
        assert r.content == b"streamed body"
        r = await http.get(server.url + "/nowhere?q=a%2Fb")
        assert (r.status_code, r.json(), r.http_version, r.reason_phrase) == (
            404,
            {"path": "/nowhere"},
            "HTTP/1.1",
            "Not Found",
        )
    assert server.stats.connections_opened == 1


@asyncio_only
@pytest.mark.anyio
async def test_read_timeout_from_the_request_extensions(server: LoopbackServer) -> None:
    async with httpx.AsyncClient(
        transport=AiohttpTransport(), timeout=httpx.Timeout(5, read=0.1)
    ) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url + "/slow-head")
        # between body chunks too
        async with http.stream("GET", server.url + "/hold") as r:
            with pytest.raises(httpx.ReadTimeout):
                await r.aread()
        # a per-request timeout overrides the client's
        r = await http.get(server.url + "/slow-head", timeout=httpx.Timeout(5, read=3))
        assert r.json() == {"late": True}


@asyncio_only
@pytest.mark.anyio
async def test_connecting_to_a_closed_port_is_a_connect_error() -> None:
    with anyio.CancelScope() as _:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        await listener.aclose()
    async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


@asyncio_only
@pytest.mark.anyio
async def test_a_full_pool_times_out_as_pool_timeout(server: LoopbackServer) -> None:
    transport = AiohttpTransport(max_connections=1)
    async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(0.2)) as http:
        async with http.stream("GET", server.url + "/hold"):
            with pytest.raises(httpx.PoolTimeout):
                await http.get(server.url + "/echo")
        assert (await http.get(server.url + "/echo")).status_code == 200


@asyncio_only
@pytest.mark.anyio
async def test_broken_responses_are_protocol_errors(server: LoopbackServer) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url + "/garbage")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url + "/drop")


@asyncio_only
@pytest.mark.anyio
async def test_aclose_closes_every_connection(server: LoopbackServer) -> None:
    transport = AiohttpTransport()
    async with httpx.AsyncClient(transport=transport) as http:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(http.get, server.url + "/v1/slow")
        assert server.stats.connections_open == 3
    await wait_until(lambda: server.stats.connections_open == 0)
    assert server.stats.connections_open == 0
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", server.url))


# -- through relaykit, on both backends (trio: httpx's transport) ---------------------


@pytest.mark.anyio
async def test_streams_read_to_the_end_reuse_one_connection(
    anyio_backend: str, server: LoopbackServer
) -> None:
    async with relaykit.Client(relay_config(server), plugins=[relaykit_aiohttp.plugin]) as client:
        for _ in range(5):
            async with client.stream("openai/gpt-4o-mini", "hi") as s:
                async for _event in s:
                    pass
            assert s.response.text == "0 1 2 3 4 "
            assert (await client.chat("openai/gpt-4o-mini", "hi")).text == "hi"
    assert server.stats.connections_opened == 1


@pytest.mark.anyio
async def test_stream_idle_timeout_rides_on_the_read_timeout(
    anyio_backend: str, server: LoopbackServer
) -> None:
    config = relay_config(server)
    config["timeouts"] = {"idle": 0.2}
    config["providers"] = {"openai": {"base_url": server.url, "api_key": "sk-test"}}

    async def stall(request: Request) -> Response:
        return Response(200, SSE, [*EVENTS[:2], Pause(2), *EVENTS[2:], *DONE])

    server.handler = stall
    async with (
        relaykit.Client(config, plugins=[relaykit_aiohttp.plugin]) as client,
        client.stream("openai/gpt-4o-mini", "hi") as s,
    ):
        with pytest.raises(relaykit.RequestTimeoutError):
            async for _event in s:
                pass


@pytest.mark.anyio
async def test_cancelling_a_stream_closes_its_connection(
    anyio_backend: str, server: LoopbackServer
) -> None:
    async def trickle(request: Request) -> Response:
        # the server only notices a closed connection when it writes again
        return Response(200, SSE, [part for _ in range(100) for part in (EVENTS[0], Pause(0.05))])

    server.handler = trickle
    got: list[object] = []
    async with relaykit.Client(relay_config(server), plugins=[relaykit_aiohttp.plugin]) as client:
        with anyio.move_on_after(0.3) as scope:
            async with client.stream("openai/gpt-4o-mini", "hi") as s:
                async for event in s:
                    got.append(event)
        assert scope.cancelled_caught
        assert got
        await wait_until(lambda: server.stats.streams_abandoned == 1)
        assert server.stats.streams_abandoned == 1
        assert server.stats.connections_open == 0


@pytest.mark.anyio
async def test_max_connections_is_respected(anyio_backend: str, server: LoopbackServer) -> None:
    async def slow(request: Request) -> Response:
        await anyio.sleep(0.1)
        return Response.json(
            {
                "id": "c",
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    server.handler = slow
    peak = 0

    async def call(client: relaykit.Client) -> None:
        nonlocal peak
        await client.chat("openai/gpt-4o-mini", "hi")
        peak = max(peak, server.stats.connections_open)

    config = relay_config(server, max_connections=2, max_keepalive_connections=2)
    async with (
        relaykit.Client(config, plugins=[relaykit_aiohttp.plugin]) as client,
        anyio.create_task_group() as tg,
    ):
        for _ in range(10):
            tg.start_soon(call, client)
    assert server.stats.requests == 10
    assert server.stats.connections_opened == 2
    assert peak <= 2
