"""AiohttpClient against a real loopback server: timeouts, failures, cancellation, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, MutableMapping

import aiohttp
import aiohttp.connector
import anyio
import attrs
import pytest

import relaykit
import relaykit_aiohttp.plugin
from relaykit.http import (
    ConnectError,
    HttpOptions,
    PoolTimeout,
    ProtocolError,
    ReadError,
    ReadTimeout,
    TransportError,
)
from relaykit.stream_read_timeout import STREAM_READ_TIMEOUT
from relaykit.stream_read_timeout import ReadTimeout as WantedReadTimeout
from relaykit.testing.loopback import Drop, LoopbackServer, Pause, Request, Reset, Response
from relaykit_aiohttp import AiohttpClient
from relaykit_aiohttp.client import _PARSER_LIMITS, CHECK_EVERY, MAX_HEADERS

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
            # the rest long after every test has left, so none meets the body's end
            # (on a loaded CI machine a read to be cancelled met "Connection closed.")
            return Response(200, SSE, [b"a", Pause(30), b"b"])
        if request.path == "/pause":  # a body in two pieces that a reader waits between
            return Response(200, SSE, [b"a", Pause(0.05), b"b"])
        if request.path == "/stall":
            return Response(200, SSE, [*EVENTS[:2], Pause(2), *EVENTS[2:], *DONE])
        if request.path == "/drop":
            return Response(200, SSE, [EVENTS[0], Drop()])
        if request.path == "/garbage":
            return Response(abort="garbage")
        if request.path == "/echo":
            return Response(200, {"x-method": request.method}, request.body)
        if request.path == "/headers":
            return Response.json({"headers": request.headers, "query": request.query})
        if request.path == "/big-header":  # a header line no limit of 8 KiB would pass
            return Response(200, {"x-big": "x" * 20_000}, b"ok")
        if request.path == "/many-headers":  # 2000 lines, 30 KiB: httpx reads them
            return Response(200, {f"x-h{i}": "v" for i in range(2000)}, b"ok")
        if request.path == "/too-many-headers":
            return Response(200, {f"x-h{i}": "v" for i in range(MAX_HEADERS + 1)}, b"ok")
        if request.path == "/reset-mid-body":
            return Response(200, SSE, [b"first", Reset()])
        if request.path == "/teapot":
            return Response(418, {"content-type": "text/plain"}, [b"short ", b"and stout"])
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


# -- which client ----------------------------------------------------------------


@pytest.mark.anyio
async def test_relaykit_http_client_only_under_asyncio(anyio_backend: str) -> None:
    client = relaykit_aiohttp.plugin.relaykit_http_client(options=HttpOptions())
    assert isinstance(client, AiohttpClient) == (anyio_backend == "asyncio")
    if client is not None:
        await client.aclose()


def test_relaykit_http_client_outside_a_loop_keeps_httpx() -> None:
    assert relaykit_aiohttp.plugin.relaykit_http_client(options=HttpOptions()) is None


@pytest.mark.anyio
async def test_relaykit_http_client_modules_name_what_the_client_hook_imports(
    anyio_backend: str,
) -> None:
    # Paired with relaykit_http_client: the core imports these off the event loop
    # before the first call, or the default httpx stack's when this says None.
    modules = relaykit_aiohttp.plugin.relaykit_http_client_modules()
    if anyio_backend == "asyncio":
        assert modules == ["relaykit_aiohttp.client"]
    else:
        assert modules is None


@pytest.mark.anyio
async def test_the_client_refuses_trio(anyio_backend: str, server: LoopbackServer) -> None:
    http = AiohttpClient()
    try:
        if anyio_backend == "trio":
            with pytest.raises(RuntimeError, match="asyncio only"):
                await http.get(server.url + "/echo")
        else:
            assert (await http.get(server.url + "/echo")).status_code == 200
    finally:
        await http.aclose()


# -- the wire ------------------------------------------------------------------


@asyncio_only
@pytest.mark.anyio
async def test_bodies_headers_and_queries_pass_through(server: LoopbackServer) -> None:
    http = AiohttpClient()
    try:
        r = await http.post(server.url + "/echo", content=b"raw bytes")
        assert (r.status_code, r.headers["X-Method"], r.content) == (200, "POST", b"raw bytes")
        r = await http.get(server.url + "/headers?q=a%2Fb", headers={"X-Custom": "yes"})
        sent = json.loads(r.content)
        assert sent["query"] == {"q": "a/b"}
        assert sent["headers"]["x-custom"] == "yes"
        assert "cookie" not in sent["headers"]
        r = await http.get(server.url + "/nowhere")
        assert (r.status_code, json.loads(r.content)) == (404, {"path": "/nowhere"})
    finally:
        await http.aclose()
    assert server.stats.connections_opened == 1


@asyncio_only
@pytest.mark.anyio
async def test_a_header_httpx_reads_is_read(server: LoopbackServer) -> None:
    # aiohttp refused a header line over 8190 bytes ("Got more than 8190 bytes when
    # reading"), which httpx (100 KiB for a whole head) reads: the same answer
    # failed under asyncio and passed under trio.
    http = AiohttpClient()
    try:
        r = await http.get(server.url + "/big-header")
        assert (r.status_code, len(r.headers["x-big"]), r.content) == (200, 20_000, b"ok")
        async with http.stream("GET", server.url + "/big-header") as s:
            assert (len(s.headers["x-big"]), await s.aread()) == (20_000, b"ok")
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_an_answer_with_thousands_of_headers_is_read(server: LoopbackServer) -> None:
    # aiohttp 3.14 refuses more than 128 header lines ("Too many headers received");
    # httpx reads any number within its 100 KiB head
    http = AiohttpClient()
    try:
        r = await http.get(server.url + "/many-headers")
        assert (r.status_code, r.headers["x-h1999"], r.content) == (200, "v", b"ok")
        async with http.stream("GET", server.url + "/many-headers") as s:
            assert (s.headers["x-h1999"], await s.aread()) == ("v", b"ok")
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_an_answer_past_the_header_bound_fails_naming_it(server: LoopbackServer) -> None:
    http = AiohttpClient()
    try:
        if "max_headers" not in _PARSER_LIMITS:  # aiohttp 3.13 counts none: read
            r = await http.get(server.url + "/too-many-headers")
            assert (len(r.headers), r.content) == (MAX_HEADERS + 2, b"ok")  # and Content-Length
            return
        with pytest.raises(ProtocolError) as caught:
            await http.get(server.url + "/too-many-headers")
    finally:
        await http.aclose()
    text = str(caught.value)
    assert f"more than {MAX_HEADERS} header lines" in text, text
    assert 'transport = "httpx"' in text, text


@asyncio_only
@pytest.mark.anyio
async def test_bytes_that_came_before_a_reset_are_read_before_it_fails(
    server: LoopbackServer,
) -> None:
    # aiohttp's readany() raises a failure of the connection ahead of the bytes that
    # came before it, when they came while no read was waiting: a stream's last
    # events were lost on asyncio (httpx delivers them, then fails)
    http = AiohttpClient()
    try:
        async with http.stream("GET", server.url + "/reset-mid-body") as r:
            content = r._response.content
            with anyio.fail_after(30):
                while content.exception() is None:  # noqa: ASYNC110 (aiohttp sets no event)
                    await anyio.sleep(0.005)
            chunks: list[bytes] = []
            with pytest.raises(ReadError, match="reset"):
                async for chunk in r.aiter_bytes():
                    chunks.append(chunk)
            assert b"".join(chunks) == b"first"
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_a_whole_body_reset_midway_fails_as_a_read_error(server: LoopbackServer) -> None:
    http = AiohttpClient()
    try:
        with pytest.raises(ReadError, match="reset"):
            await http.get(server.url + "/reset-mid-body")
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_a_large_body_goes_whole_with_its_length_and_no_warning(
    server: LoopbackServer,
) -> None:
    # Over a MiB, bytes make aiohttp warn (filterwarnings = error fails the test)
    # that they may hold up the loop: an audio upload goes in chunks instead.
    body = bytes(range(256)) * (3 * 4096)  # 3 MiB
    headers = {"content-type": "multipart/form-data; boundary=x"}
    http = AiohttpClient()
    try:
        r = await http.post(server.url + "/echo", content=body, headers=headers)
        assert (r.status_code, r.content) == (200, body)
        async with http.stream("POST", server.url + "/echo", content=body) as s:
            assert await s.aread() == body
        r = await http.post(server.url + "/headers", content=body, headers=headers)
        sent = json.loads(r.content)["headers"]
        assert (sent["content-length"], sent["content-type"]) == (
            str(len(body)),
            headers["content-type"],
        )
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "content_type"),
    [
        (None, None),  # a body whose type nobody states is sent without one
        ({"x-custom": "yes"}, None),
        ({"Content-Type": "application/json"}, "application/json"),
        ({"content-type": "application/json"}, "application/json"),
        ({"CONTENT-TYPE": "text/plain"}, "text/plain"),
    ],
)
async def test_content_type_is_the_providers_or_none(
    server: LoopbackServer, headers: dict[str, str] | None, content_type: str | None
) -> None:
    def hook(h: MutableMapping[str, str]) -> None:
        h.pop("x-drop", None)

    plain, hooked = AiohttpClient(), AiohttpClient(HttpOptions(header_hooks=(hook,)))
    try:
        for http in (plain, hooked):
            for content in (b"{}", None):
                r = await http.post(server.url + "/headers", content=content, headers=headers)
                assert json.loads(r.content)["headers"].get("content-type") == content_type
                async with http.stream(
                    "POST", server.url + "/headers", content=content, headers=headers
                ) as s:
                    sent = json.loads(await s.aread())["headers"]
                assert sent.get("content-type") == content_type
    finally:
        await plain.aclose()
        await hooked.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_header_hooks_see_a_copy_of_each_requests_headers(server: LoopbackServer) -> None:
    def trace(headers: MutableMapping[str, str]) -> None:
        headers["traceparent"] = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"

    http = AiohttpClient(HttpOptions(header_hooks=(trace,)))
    mine = {"x-custom": "yes"}
    try:
        r = await http.get(server.url + "/headers", headers=mine)
        assert json.loads(r.content)["headers"]["traceparent"].startswith("00-111")
        async with http.stream("GET", server.url + "/headers", headers=mine) as s:
            assert json.loads(await s.aread())["headers"]["traceparent"].startswith("00-111")
    finally:
        await http.aclose()
    assert mine == {"x-custom": "yes"}


@asyncio_only
@pytest.mark.anyio
async def test_a_stream_reads_with_the_claimed_read_timeout(server: LoopbackServer) -> None:
    http = AiohttpClient()
    wanted = WantedReadTimeout(0.1)
    token = STREAM_READ_TIMEOUT.set(wanted)
    try:
        with pytest.raises(ReadTimeout):
            async with http.stream("GET", server.url + "/slow-head"):
                pass
        assert wanted.applied
        # between body chunks too
        async with http.stream("GET", server.url + "/hold") as r:
            with pytest.raises(ReadTimeout):
                await r.aread()
    finally:
        STREAM_READ_TIMEOUT.reset(token)
    try:
        # without a claimed read timeout, reads wait as long as it takes
        async with http.stream("GET", server.url + "/slow-head") as r:
            assert json.loads(await r.aread()) == {"late": True}
        assert json.loads((await http.get(server.url + "/slow-head")).content) == {"late": True}
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_the_idle_timer_times_each_wait_not_the_whole_body(server: LoopbackServer) -> None:
    async def trickle(request: Request) -> Response:
        return Response(200, SSE, [b"a", Pause(0.15), b"b", Pause(0.15), b"c", Pause(0.5), b"d"])

    server.handler = trickle
    http = AiohttpClient()
    token = STREAM_READ_TIMEOUT.set(WantedReadTimeout(0.3))
    try:
        async with http.stream("GET", server.url) as r:
            chunks = []
            with pytest.raises(ReadTimeout):
                async for chunk in r.aiter_bytes():
                    chunks.append(chunk)
                    if chunk == b"a":
                        # holding a chunk past the timeout is not an idle connection
                        await anyio.sleep(0.4)
            # 0.15 s waits pass (each shorter than 0.3 s, together longer); 0.5 s fails
            assert b"".join(chunks) == b"abc"
        assert r._timer is None  # the one timer is gone with the response
    finally:
        STREAM_READ_TIMEOUT.reset(token)
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_a_body_read_to_its_end_stops_the_idle_timer(server: LoopbackServer) -> None:
    async def quick(request: Request) -> Response:
        return Response(200, SSE, [*EVENTS, *DONE])

    server.handler = quick
    http = AiohttpClient()
    token = STREAM_READ_TIMEOUT.set(WantedReadTimeout(0.1))
    try:
        async with http.stream("GET", server.url) as r:
            body = b"".join([chunk async for chunk in r.aiter_bytes()])
            assert r._timer is not None
        assert body == b"".join([*EVENTS, *DONE])
        assert r._timer is None
        await anyio.sleep(0.2)  # no timer left to fire on the pooled connection
        async with http.stream("GET", server.url) as r:
            assert await r.aread() == body
    finally:
        STREAM_READ_TIMEOUT.reset(token)
        await http.aclose()
    assert server.stats.connections_opened == 1


@asyncio_only
@pytest.mark.anyio
async def test_connecting_to_a_closed_port_is_a_connect_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    http = AiohttpClient()
    try:
        with pytest.raises(ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_a_full_pool_times_out_as_pool_timeout(server: LoopbackServer) -> None:
    http = AiohttpClient(HttpOptions(max_connections=1, connect_timeout=0.1))
    try:
        async with http.stream("GET", server.url + "/hold"):
            with pytest.raises(PoolTimeout):
                await http.get(server.url + "/echo")
        assert (await http.get(server.url + "/echo")).status_code == 200
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_broken_responses_are_protocol_errors(server: LoopbackServer) -> None:
    http = AiohttpClient()
    try:
        with pytest.raises(ProtocolError):
            await http.get(server.url + "/garbage")
        with pytest.raises(ProtocolError):
            await http.get(server.url + "/drop")
        async with http.stream("GET", server.url + "/drop") as r:
            with pytest.raises(ProtocolError):
                async for _ in r.aiter_bytes():
                    pass
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_connections_go_back_to_the_pool_only_after_a_whole_body(
    server: LoopbackServer,
) -> None:
    http = AiohttpClient()
    try:
        for _ in range(2):  # read to the end, an error status's body too: reused
            async with http.stream("GET", server.url + "/teapot") as r:
                assert (r.status_code, await r.aread()) == (418, b"short and stout")
            async with http.stream("GET", server.url + "/pause") as r:
                assert [chunk async for chunk in r.aiter_bytes()] == [b"a", b"b"]
            assert (await http.get(server.url + "/pause")).content == b"ab"  # read in pieces
        assert server.stats.connections_opened == 1
        async with http.stream("GET", server.url + "/hold") as r:
            pass  # left before the body ended: closed, never reused
        await wait_until(lambda: server.stats.connections_open == 0)
        assert server.stats.connections_open == 0
        assert (await http.get(server.url + "/echo")).status_code == 200
        assert server.stats.connections_opened == 2
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_a_cancelled_request_closes_its_connection(server: LoopbackServer) -> None:
    http = AiohttpClient()
    try:
        with anyio.move_on_after(0.1) as scope:
            await http.get(server.url + "/slow-head")
        assert scope.cancelled_caught
        await wait_until(lambda: server.stats.connections_open == 0)
        assert server.stats.connections_open == 0
        assert (await http.get(server.url + "/echo")).content == b""
        assert server.stats.connections_opened == 2
        assert http._busy == 0
    finally:
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
async def test_aclose_closes_every_connection(server: LoopbackServer) -> None:
    http = AiohttpClient()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(http.get, server.url + "/v1/slow")
    assert server.stats.connections_open == 3
    await http.aclose()
    await wait_until(lambda: server.stats.connections_open == 0)
    assert server.stats.connections_open == 0
    with pytest.raises(RuntimeError, match="closed"):
        await http.get(server.url)


@asyncio_only
@pytest.mark.anyio
async def test_aclose_fails_a_read_waiting_on_a_streamed_body(server: LoopbackServer) -> None:
    http = AiohttpClient()
    failures: list[BaseException] = []

    async def read() -> None:
        async with http.stream("GET", server.url + "/hold") as r:
            try:
                async for _ in r.aiter_bytes():
                    reading.set()  # then waits 30 s for the rest
            except ReadError as e:
                failures.append(e)

    reading = anyio.Event()
    with anyio.fail_after(1):  # not the 30 s the body's rest is away
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await reading.wait()
            await http.aclose()
    (failure,) = failures
    assert "closed" in str(failure)
    await wait_until(lambda: server.stats.connections_open == 0)
    assert server.stats.connections_open == 0


class InStepFeed:
    """Feeds a response body a byte at a time, in step with the event loop.

    anyio cancels a task only while the future it waits on is pending; a body whose
    bytes wake each wait in the very turn it starts (a fast upstream read by the
    gateway for a caller who hung up) was read to its end, the cancellation never
    landing. This feeds the reader as such a socket would: a byte whenever a read
    waits, once a turn, ``pieces`` in all, and cancels ``scope`` from outside just
    after the ``cancel_at``-th wake-up.
    """

    def __init__(
        self,
        content: aiohttp.StreamReader,
        scope: anyio.CancelScope,
        *,
        pieces: int = 2000,
        cancel_at: int = 10,
    ) -> None:
        self.fed = 0
        self._content = content
        self._scope = scope
        self._pieces = pieces
        self._cancel_at = cancel_at
        self._loop = asyncio.get_running_loop()
        self._loop.call_soon(self._feed)

    def _feed(self) -> None:
        if self._content.exception() is not None:
            return  # the response was closed: nothing reads it any more
        waiter = self._content._waiter
        if waiter is not None and not waiter.done():
            self._content.feed_data(b"x")  # wakes the read (its wake-up is queued)
            self.fed += 1
        if self.fed < self._pieces:
            self._loop.call_soon(self._feed)  # readable again next turn
        if self.fed == self._cancel_at:
            self._scope.cancel()


@asyncio_only
@pytest.mark.anyio
@pytest.mark.parametrize("idle", [None, 5.0], ids=["untimed", "idle-timed"])
async def test_a_cancelled_scope_stops_a_body_that_arrives_at_every_turn_of_the_loop(
    server: LoopbackServer, idle: float | None
) -> None:
    http = AiohttpClient()
    token = STREAM_READ_TIMEOUT.set(WantedReadTimeout(idle) if idle else None)
    try:
        async with http.stream("GET", server.url + "/hold") as r:
            with anyio.fail_after(5), anyio.CancelScope() as scope:
                feed = InStepFeed(r._response.content, scope)
                async for _ in r.aiter_bytes():
                    pass
            assert scope.cancelled_caught
            # not the whole body: the read stops at the next check, within CHECK_EVERY pieces
            assert feed.fed <= 10 + CHECK_EVERY + 1, feed.fed
    finally:
        STREAM_READ_TIMEOUT.reset(token)
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
@pytest.mark.parametrize("idle", [None, 5.0], ids=["untimed", "idle-timed"])
async def test_a_cancelled_scope_stops_aread_of_a_body_that_arrives_at_every_turn(
    server: LoopbackServer, idle: float | None
) -> None:
    # aread() read through aiohttp's read(), whose loop over readany() has no point
    # where the cancellation lands while bytes keep coming
    http = AiohttpClient()
    token = STREAM_READ_TIMEOUT.set(WantedReadTimeout(idle) if idle else None)
    try:
        async with http.stream("GET", server.url + "/hold") as r:
            with anyio.fail_after(5), anyio.CancelScope() as scope:
                feed = InStepFeed(r._response.content, scope)
                await r.aread()
            assert scope.cancelled_caught
            assert feed.fed <= 10 + CHECK_EVERY + 1, feed.fed
            with pytest.raises(TransportError):  # the cut body is not read on later as whole
                await r.aread()
    finally:
        STREAM_READ_TIMEOUT.reset(token)
        await http.aclose()


@asyncio_only
@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_cancelled_scope_stops_a_whole_response_read_that_arrives_at_every_turn(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    # post() and get() (every non-streamed provider call) read the whole body
    # before they return: a cancelled call (its timeout, its caller's cancel) must
    # stop within a few pieces, and close the connection rather than pool it.
    http = AiohttpClient()
    feeds: list[InStepFeed] = []
    start = aiohttp.ClientResponse.start

    async def start_feeding(
        response: aiohttp.ClientResponse, connection: aiohttp.connector.Connection
    ) -> aiohttp.ClientResponse:
        started = await start(response, connection)  # the head is in: the body comes next
        feeds.append(InStepFeed(started.content, scope))
        return started

    monkeypatch.setattr(aiohttp.ClientResponse, "start", start_feeding)
    try:
        with anyio.fail_after(5), anyio.CancelScope() as scope:
            if method == "GET":
                await http.get(server.url + "/hold")
            else:
                await http.post(server.url + "/hold", content=b"{}")
        assert scope.cancelled_caught
        (feed,) = feeds
        assert feed.fed <= 11, feed.fed
        assert http._busy == 0
        await wait_until(lambda: server.stats.connections_open == 0)
        assert server.stats.connections_open == 0  # closed, not pooled mid-body
    finally:
        await http.aclose()


# -- through relaykit, on both backends (trio: the httpx client) ---------------------


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
async def test_a_chat_answered_with_thousands_of_headers_is_read(
    anyio_backend: str, server: LoopbackServer
) -> None:
    answer = server.handler

    async def many_headers(request: Request) -> Response:
        response = await answer(request)
        headers = {**response.headers, **{f"x-h{i}": "v" for i in range(2000)}}
        return attrs.evolve(response, headers=headers)

    server.handler = many_headers
    async with relaykit.Client(relay_config(server), plugins=[relaykit_aiohttp.plugin]) as client:
        assert (await client.chat("openai/gpt-4o-mini", "hi")).text == "hi"


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
        # Cancelled once events flow, not after a fixed delay a loaded machine may outrun.
        with anyio.CancelScope() as scope:
            async with client.stream("openai/gpt-4o-mini", "hi") as s:
                async for event in s:
                    got.append(event)
                    scope.cancel()
        assert scope.cancelled_caught
        assert got
        # the server counts the abandoned stream, then closes its end: wait for both
        await wait_until(
            lambda: server.stats.streams_abandoned == 1 and server.stats.connections_open == 0
        )
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
