"""The FastAPI example served by hypercorn over loopback HTTP, under asyncio and trio.

A test's HTTP client talks to hypercorn, the app's relaykit client to a mock of
OpenAI: real sockets on both sides.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
import httpx
import hypercorn.asyncio
import hypercorn.trio
import pytest
from fastapi import FastAPI
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework

from relaykit.testing import OpenAIMock, Reply, instant_retries
from relaykit_examples.fastapi_app import CONFIG, create_app

#: the at_mock fixture: an example's CONFIG aimed at the mock
AtMock = Callable[[Mapping[str, Any]], dict[str, Any]]

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serve(app: FastAPI, backend: str) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` with hypercorn on the running backend; an HTTP client for it."""
    # Bound here rather than by hypercorn, so the port is known before it serves.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listener.detach()}"]
    config.graceful_timeout = 1
    run = hypercorn.trio.serve if backend == "trio" else hypercorn.asyncio.serve
    # Starlette types ASGI messages as plain mappings, hypercorn as TypedDicts: the same thing.
    asgi = cast(ASGIFramework, app)
    stop = anyio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: run(asgi, config, shutdown_trigger=stop.wait))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                yield http
        finally:
            stop.set()


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """The (event, data) pairs of a Server-Sent Events response, as they arrive."""
    event, data = "message", None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = json.loads(line.removeprefix("data: "))
        elif not line and data is not None:
            yield event, data
            event, data = "message", None


async def test_chat_answers_in_json(mock: OpenAIMock, at_mock: AtMock, anyio_backend: str) -> None:
    async with serve(create_app(at_mock(CONFIG)), anyio_backend) as http:
        first = await http.post("/chat", json={"prompt": "Hello there"})
        second = await http.post("/chat", json={"prompt": "Again", "max_tokens": 20})

    assert first.status_code == 200, first.text
    body = first.json()
    assert body == {
        "text": "echo: Hello there",
        "model": "gpt-4o-mini",
        "finish_reason": "stop",
        "input_tokens": 2,
        "output_tokens": 3,
        "cost_usd": body["cost_usd"],
    }
    assert float(body["cost_usd"]) > 0
    assert second.json()["text"] == "echo: Again"
    assert [r.json()["max_completion_tokens"] for r in mock.requests] == [500, 20]
    # one client for the app: the second request reused the first one's connection
    assert mock.server.stats.connections_opened == 1


async def test_chat_checks_the_request_before_calling_the_model(
    mock: OpenAIMock, at_mock: AtMock, anyio_backend: str
) -> None:
    async with serve(create_app(at_mock(CONFIG)), anyio_backend) as http:
        empty = await http.post("/chat", json={"prompt": ""})

    assert empty.status_code == 422
    assert mock.requests == []


async def test_chat_stream_sends_each_piece_as_it_arrives(
    mock: OpenAIMock, at_mock: AtMock, anyio_backend: str
) -> None:
    answer = "Streamed answers arrive piece by piece."
    mock.script.reply(answer, chunk_delay=0.1)
    # each event, and how many answers the mock had finished sending when it arrived
    events: list[tuple[str, Any, int]] = []
    async with (
        serve(create_app(at_mock(CONFIG)), anyio_backend) as http,
        http.stream("POST", "/chat/stream", json={"prompt": "Stream, please"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for event, data in sse_events(response):
            events.append((event, data, mock.server.stats.streams_completed))

    texts = [data["text"] for event, data, _ in events if event == "message"]
    assert texts == ["Streamed", " answers", " arrive ", "piece by", " piece."]
    assert events[0][2] == 0, "the first piece came only after the whole answer"
    event, done, _ = events[-1]
    assert event == "done"
    assert done["text"] == answer and done["finish_reason"] == "stop"
    assert float(done["cost_usd"]) > 0


async def test_a_stream_that_breaks_ends_with_an_error_event(
    mock: OpenAIMock, at_mock: AtMock, anyio_backend: str
) -> None:
    mock.script.push(Reply(text="The first half", stream_fault="error", error="Upstream broke"))
    async with (
        serve(create_app(at_mock(CONFIG)), anyio_backend) as http,
        http.stream("POST", "/chat/stream", json={"prompt": "hi"}) as response,
    ):
        events = [pair async for pair in sse_events(response)]

    assert response.status_code == 200
    assert "".join(data["text"] for event, data in events if event == "message") == (
        "The first half"
    )
    assert events[-1] == ("error", {"error": {"type": "StreamError", "message": "Upstream broke"}})


async def test_a_stream_that_breaks_before_its_first_piece_is_a_502(
    mock: OpenAIMock, at_mock: AtMock, anyio_backend: str
) -> None:
    # a server_error event before any text, on every attempt: the typed error of its
    # status, as the same failure over HTTP
    mock.script.push(*[Reply(stream_fault="error", error="The server had an error")] * 3)
    async with serve(create_app(at_mock(CONFIG)), anyio_backend) as http:
        with instant_retries():
            response = await http.post("/chat/stream", json={"prompt": "hi"})

    assert response.status_code == 502
    assert response.json() == {
        "error": {"type": "ProviderUnavailableError", "message": "The server had an error"}
    }
    assert len(mock.requests) == 3


@pytest.mark.parametrize("path", ["/chat", "/chat/stream"])
async def test_a_rate_limit_longer_than_the_request_may_wait_is_a_429_with_retry_after(
    mock: OpenAIMock, at_mock: AtMock, anyio_backend: str, path: str
) -> None:
    # 120 s is more than the 20 s a request has: relaykit gives up at once.
    mock.script.fail(429, "Rate limit reached for gpt-4o-mini", retry_after=120)
    async with serve(create_app(at_mock(CONFIG)), anyio_backend) as http:
        response = await http.post(path, json={"prompt": "hi"})

    assert response.status_code == 429
    assert response.headers["retry-after"] == "120"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {"type": "RateLimitError", "message": "Rate limit reached for gpt-4o-mini"}
    }
    assert len(mock.requests) == 1


async def test_the_apps_own_rate_limit_is_a_429_with_retry_after(
    mock: OpenAIMock, at_mock: AtMock, anyio_backend: str
) -> None:
    config = at_mock({**CONFIG, "limits": {"openai/*": {"rpm": 1}}})
    async with serve(create_app(config), anyio_backend) as http:
        allowed = await http.post("/chat", json={"prompt": "one"})
        refused = await http.post("/chat", json={"prompt": "two"})

    assert allowed.status_code == 200
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"]["type"] == "QuotaExceededError"
    assert "rpm limit" in refused.json()["error"]["message"]
    assert len(mock.requests) == 1


@pytest.mark.parametrize(
    ("reply", "status", "kind"),
    [
        (Reply.failure(400, "Invalid value for 'temperature'"), 400, "InvalidRequestError"),
        (Reply.failure(400, "maximum context length exceeded"), 400, "ContextLengthError"),
        (Reply.failure(503, "The engine is overloaded"), 502, "ProviderUnavailableError"),
        (Reply.failure(404, "The model does not exist"), 500, "NotFoundError"),
    ],
    ids=["invalid", "context-length", "unavailable", "not-found"],
)
async def test_relaykit_errors_become_http_statuses(
    mock: OpenAIMock,
    at_mock: AtMock,
    anyio_backend: str,
    reply: Reply,
    status: int,
    kind: str,
) -> None:
    mock.script.push(*[reply] * 3)  # the same answer to every retry
    async with serve(create_app(at_mock(CONFIG)), anyio_backend) as http:
        with instant_retries():
            response = await http.post("/chat", json={"prompt": "hi"})

    assert response.status_code == status
    assert "retry-after" not in response.headers
    assert response.json() == {"error": {"type": kind, "message": reply.error}}


async def test_an_error_never_shows_the_key(
    mock: OpenAIMock, at_mock: AtMock, anyio_backend: str
) -> None:
    key = mock.api_key
    assert key is not None
    mock.script.fail(400, f"Invalid request from key {key}")
    async with serve(create_app(at_mock(CONFIG)), anyio_backend) as http:
        response = await http.post("/chat", json={"prompt": "hi"})

    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("Invalid request from key ")
    assert key not in response.text
    assert key[-8:] not in response.text
