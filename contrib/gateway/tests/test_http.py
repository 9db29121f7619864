"""The gateway's HTTP behaviour seen with a plain HTTP client: routes, limits, hang-ups,
shutdown and trace context."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import ByteStream

import relaykit
from relaykit import CallRecord, ChatRequest, ChatResponse
from relaykit.testing import FakePlugin, FakeProvider, RecordingExporter, Reply, TracingExporter
from relaykit_gateway import Gateway, serve
from relaykit_gateway.testing import KEY, KEYS, running

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {KEY}"}
HELLO = {"model": "fake/m", "messages": [{"role": "user", "content": "hi"}]}


@asynccontextmanager
async def gateway_over(*plugins: Any, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client over ``plugins`` behind a gateway; yields an HTTP client for the gateway."""
    config = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}
    async with (
        relaykit.Client(config, plugins=list(plugins)) as client,
        running(client, **options) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        yield http


async def next_record(records: RecordingExporter, seconds: float = 3.0) -> CallRecord:
    """The first call record, waited for (the client records a cancelled call as it unwinds)."""
    with anyio.fail_after(seconds):
        while not records.records:  # noqa: ASYNC110 (the client's task records it)
            await anyio.sleep(0.01)
    return records.records[0]


async def test_health_needs_no_key_and_unknown_routes_say_what_is_served() -> None:
    async with gateway_over(FakePlugin()) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        missing = await http.post("/v1/audio/translations", headers=AUTH, json={})
        wrong_method = await http.get("/v1/chat/completions", headers=AUTH)
        anthropic_shaped = await http.post(
            "/v1/complete", headers={**AUTH, "anthropic-version": "2023-06-01"}, json={}
        )
    assert missing.status_code == 404
    assert "POST /v1/chat/completions" in missing.json()["error"]["message"]
    assert "POST /v1/embeddings" in missing.json()["error"]["message"]
    assert "POST /v1/rerank" in missing.json()["error"]["message"]
    assert "POST /v1/images/generations" in missing.json()["error"]["message"]
    assert "POST /v1/audio/speech" in missing.json()["error"]["message"]
    assert wrong_method.status_code == 405
    assert anthropic_shaped.status_code == 404
    assert anthropic_shaped.json()["type"] == "error"
    assert anthropic_shaped.json()["error"]["type"] == "not_found_error"


#: each kind of route and the methods it serves, as a 405's ``Allow`` must name them
SERVED: list[tuple[str, tuple[str, ...]]] = [
    ("/health", ("GET",)),
    ("/v1/chat/completions", ("POST",)),
    ("/chat/completions", ("POST",)),
    ("/v1/responses", ("POST",)),
    ("/v1/messages", ("POST",)),
    ("/v1/messages/count_tokens", ("POST",)),
    ("/v1/responses/input_tokens", ("POST",)),
    ("/v1/embeddings", ("POST",)),
    ("/v1/audio/speech", ("POST",)),
    ("/v1/models", ("GET",)),
    ("/v1/responses/resp_123", ("DELETE", "GET")),
    ("/v1/messages/batches", ("GET", "POST")),
    ("/v1/messages/batches/msgbatch_1", ("GET",)),
    ("/v1/messages/batches/msgbatch_1/cancel", ("POST",)),
    ("/v1/messages/batches/msgbatch_1/results", ("GET",)),
    ("/v1/files", ("GET", "POST")),
    ("/files", ("GET", "POST")),
    ("/v1/files/file-1", ("DELETE", "GET")),
    ("/v1/files/file-1/content", ("GET",)),
    ("/v1/batches", ("GET", "POST")),
    ("/v1/batches/batch_1", ("GET",)),
    ("/v1/batches/batch_1/cancel", ("POST",)),
]
METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH")


@pytest.mark.parametrize(("path", "allowed"), SERVED, ids=[path for path, _ in SERVED])
async def test_a_405_names_the_methods_its_route_serves_in_allow(
    path: str, allowed: tuple[str, ...]
) -> None:
    """RFC 9110 (15.5.6): a 405 must carry ``Allow``, the methods the resource serves.
    Each method it names is served there (whatever else the request gets: a 400, a
    404), and each other one is a 405 naming them; OPTIONS too, with no CORS origin
    allowed (the gateway then answers no preflight)."""
    async with gateway_over(FakePlugin()) as http:
        answers = {
            method: await http.request(method, path, headers=AUTH)
            for method in (*METHODS, "OPTIONS")
        }
    for method, r in answers.items():
        if method in allowed:
            assert r.status_code != 405, (method, r.text)
            assert "allow" not in r.headers
        else:
            assert r.status_code == 405, (method, r.text)
            assert r.headers["allow"] == ", ".join(allowed), method


async def test_a_body_that_is_too_large_or_not_json_is_refused_before_any_call() -> None:
    fake = FakePlugin()
    async with gateway_over(fake, max_body_bytes=1000) as http:
        big = {**HELLO, "messages": [{"role": "user", "content": "x" * 2000}]}
        too_large = await http.post("/v1/chat/completions", headers=AUTH, json=big)

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it comes
            for _ in range(5):
                yield b" " * 400

        streamed = await http.post("/v1/messages", headers=AUTH, content=chunks())
        not_json = await http.post("/v1/chat/completions", headers=AUTH, content=b"{nope")
        not_object = await http.post("/v1/chat/completions", headers=AUTH, json=[1, 2])
    assert too_large.status_code == 413
    assert "1000 bytes" in too_large.json()["error"]["message"]
    assert streamed.status_code == 413
    assert streamed.json()["error"]["type"] == "request_too_large"
    assert not_json.status_code == 400
    assert "not JSON" in not_json.json()["error"]["message"]
    assert not_object.status_code == 400
    assert fake.calls == []


async def test_a_stream_refused_before_its_first_event_is_a_plain_error_response() -> None:
    fake = FakePlugin()
    fake.script.fail(429, "slow down", retry_after=4)
    async with gateway_over(fake) as http:
        body = {**HELLO, "stream": True}
        r = await http.post("/v1/messages", headers=AUTH, json={**body, "max_tokens": 5})
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/json"
    assert r.headers["retry-after"] == "4"
    assert r.json()["error"] == {
        "type": "rate_limit_error",
        "message": "fake/m: HTTP 429: slow down",
    }


async def test_operators_see_which_deployment_answered_and_its_cost() -> None:
    fake = FakePlugin()
    fake.script.reply("hi", input_tokens=1000, output_tokens=500)
    async with gateway_over(fake) as http:
        r = await http.post("/v1/chat/completions", headers=AUTH, json=HELLO)
    assert r.headers["x-relaykit-provider"] == "fake"
    assert r.headers["x-relaykit-model"] == "m"
    # the fake's price: USD 1 per million input tokens, 2 per million output tokens
    assert math.isclose(float(r.headers["x-relaykit-cost"]), 0.002)


async def test_a_caller_hanging_up_mid_stream_cancels_the_call() -> None:
    fake = FakePlugin()
    records = RecordingExporter()
    # 40 pieces a fifth of a second apart: eight seconds if nobody stopped it
    fake.script.push(Reply(text="x" * 320, chunk_delay=0.2))
    async with gateway_over(fake, records) as http:
        body = {**HELLO, "stream": True}
        async with http.stream("POST", "/v1/chat/completions", headers=AUTH, json=body) as r:
            assert r.status_code == 200
            async for _ in r.aiter_bytes():
                break  # the first piece is enough: hang up
        record = await next_record(records)
    assert record.error_type == "Cancelled"
    assert 0 < len(record.text) < 320


@pytest.mark.parametrize(
    ("path", "request_body"),
    [
        ("/v1/chat/completions", HELLO),
        ("/v1/embeddings", {"model": "fake/m", "input": "hi"}),
        ("/v1/rerank", {"model": "fake/rerank-m", "query": "hi", "documents": ["hi there"]}),
    ],
)
async def test_a_caller_hanging_up_before_the_answer_cancels_the_call(
    path: str, request_body: dict[str, Any]
) -> None:
    # Driven through ASGI directly, as any server tells the app of a hang-up (over
    # loopback HTTP, with the vendors' mocks: test_faults_http.py).
    fake = FakePlugin()
    fake.script.push(Reply(text="too late", delay=10))
    hung_up = anyio.Event()
    body = json.dumps(request_body).encode()
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await hung_up.wait()
        return {"type": "http.disconnect"}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": path, "headers": []}
    records = RecordingExporter()
    config = {"storage": {"backend": "none"}}
    async with relaykit.Client(config, plugins=[fake, records]) as c:
        with anyio.fail_after(3):  # the provider would take 10 s
            async with anyio.create_task_group() as tg:
                tg.start_soon(Gateway(c), scope, receive, send)
                # the call runs in the gateway's task
                while not (fake.calls or fake.embeddings or fake.reranks):  # noqa: ASYNC110
                    await anyio.sleep(0.01)
                hung_up.set()
    assert sent == []  # nobody to answer
    # ...and the call log says what happened to the call, as for a stream
    [record] = records.records
    assert (record.error_type, record.text) == ("Cancelled", "")


async def test_a_caller_hanging_up_before_its_body_arrived_gets_no_answer_and_no_call() -> None:
    fake = FakePlugin()
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"model": "fake/m", ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as client:
        gateway = Gateway(client)
        await gateway(scope, receive, send)
        assert gateway.in_flight == 0
    assert sent == []
    assert fake.calls == []


async def test_shutting_down_lets_calls_in_flight_finish_and_refuses_new_ones() -> None:
    # The call in flight answers once the late requests are answered: a delay raced
    # them on a loaded machine (the call done, serve returned, the port closed).
    reached, gate = anyio.Event(), anyio.Event()

    class Gated(FakeProvider):
        async def chat(self, request: ChatRequest) -> ChatResponse:
            reached.set()
            await gate.wait()
            return await super().chat(request)

    fake = FakePlugin(provider=Gated)
    fake.script.push(Reply(text="finished"))
    stop = anyio.Event()
    answers: list[httpx.Response] = []
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as client:
        gateway = Gateway(client)
        # the HTTP client outlives the server's task group, so that leaving the block
        # waits for the call in flight rather than closing its connection
        async with httpx.AsyncClient() as http, anyio.create_task_group() as tg:
            url = await tg.start(
                lambda task_status: serve(
                    gateway, "127.0.0.1", 0, shutdown=stop, task_status=task_status
                )
            )

            async def call() -> None:
                answers.append(await http.post(f"{url}/v1/chat/completions", json=HELLO))

            tg.start_soon(call)
            with anyio.fail_after(3):
                await reached.wait()  # the call is in the provider, in the server's task
            stop.set()
            async with httpx.AsyncClient() as late:
                with anyio.fail_after(3):  # until the server has seen the stop
                    while (unhealthy := await late.get(f"{url}/health")).status_code == 200:  # noqa: ASYNC110
                        await anyio.sleep(0.01)
                refused = await late.post(f"{url}/v1/chat/completions", json=HELLO)
            gate.set()
        # serve has returned, soon after its last call: the port is closed
        async with httpx.AsyncClient() as after:
            with pytest.raises(httpx.ConnectError):
                await after.get(f"{url}/health")
    (answer,) = answers
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "finished"
    assert refused.status_code == 503
    assert "shutting down" in refused.json()["error"]["message"]
    assert unhealthy.status_code == 503  # so a load balancer sends no more
    assert len(fake.calls) == 1


async def answer_on(conn: ByteStream, body: dict[str, Any]) -> bytes:
    """POST ``body`` to the chat route over ``conn``, kept alive; the whole answer, read."""
    payload = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer {KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
    )
    await conn.send(head.encode() + payload)
    received = b""
    while not received.endswith(b"0\r\n\r\n" if body.get("stream") else b"}"):
        received += await conn.receive()
    assert received.startswith(b"HTTP/1.1 200"), received
    assert b"connection: close" not in received.lower()  # kept alive
    return received


@pytest.mark.parametrize("streamed", [False, True], ids=["answer", "stream"])
async def test_stopping_closes_a_kept_alive_connection_idle_after_a_call_at_once(
    streamed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's time to close its connections once calls have drained, long here:
    # a connection it waited on would hold it that long.
    monkeypatch.setattr(sys.modules["relaykit_gateway.server"], "_CLOSE_SECONDS", 8.0)
    fake = FakePlugin()
    fake.script.push(Reply(text="answered"))
    stop = anyio.Event()
    async with (
        relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as client,
        anyio.create_task_group() as tg,
    ):
        gateway = Gateway(client, keys=KEYS)
        url = await tg.start(
            lambda task_status: serve(
                gateway, "127.0.0.1", 0, shutdown=stop, task_status=task_status
            )
        )
        port = int(url.rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as conn:
            answer = await answer_on(conn, {**HELLO, "stream": streamed})
            stop.set()
            # the server closes the idle connection as it stops, not at its close timeout
            with anyio.fail_after(4), pytest.raises(anyio.EndOfStream):
                await conn.receive()
    assert b"answered" in answer


async def test_the_callers_trace_context_is_the_calls_parent() -> None:
    tracing = TracingExporter()
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    async with gateway_over(FakePlugin(), tracing) as http:
        traced = {**AUTH, "traceparent": f"00-{trace_id}-{parent_id}-01"}
        await http.post("/v1/chat/completions", headers=traced, json=HELLO)
        await http.post("/v1/chat/completions", headers=AUTH, json=HELLO)
    first, second = tracing.spans.get_finished_spans()
    assert first.context is not None and first.parent is not None
    assert format(first.context.trace_id, "032x") == trace_id
    assert format(first.parent.span_id, "016x") == parent_id
    # the context went with its request: the next call starts a trace of its own
    assert second.parent is None
    assert second.context is not None and format(second.context.trace_id, "032x") != trace_id


async def test_an_embeddings_calls_span_is_a_child_of_the_callers_trace_too() -> None:
    tracing = TracingExporter()
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with gateway_over(FakePlugin(), tracing) as http:
        traced = {**AUTH, "traceparent": f"00-{trace_id}-{parent_id}-01"}
        r = await http.post(
            "/v1/embeddings", headers=traced, json={"model": "fake/e", "input": "hi"}
        )
    assert r.status_code == 200
    (span,) = tracing.spans.get_finished_spans()
    assert span.name == "embeddings e"
    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == trace_id
    assert format(span.parent.span_id, "016x") == parent_id
