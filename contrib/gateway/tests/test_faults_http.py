"""Requests and failures seen over real loopback HTTP: a gateway served by hypercorn in
front of OpenAI's and Anthropic's mocks, called with a plain HTTP client, so that what
a caller gets is each vendor's error shape and status, never a 500 with a traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, asynccontextmanager
from typing import Any
from unittest.mock import ANY

import anthropic
import anyio
import httpx
import pytest
from anthropic.types import MessageParam
from anyio.abc import TaskGroup

import relaykit
from relaykit.testing import OpenAIMock, RecordingExporter, Reply, Request, Response, mock_audio
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway import CorsPolicy, Gateway, GatewayKeys, serve
from relaykit_gateway.anthropic_dialect import AnthropicDialect
from relaykit_gateway.openai_dialect import OpenAIDialect
from relaykit_gateway.responses_dialect import ResponsesDialect
from relaykit_gateway.testing import KEY, KEYS, UPSTREAM_KEY, running

from .conftest import anthropic_sdk

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {KEY}"}
CHAT, MESSAGES, RESPONSES = "/v1/chat/completions", "/v1/messages", "/v1/responses"
#: a request each route answers, to the model behind it
BODIES: dict[str, dict[str, Any]] = {
    CHAT: {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    MESSAGES: {
        "model": "anthropic/claude-haiku-4-5",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}],
    },
    RESPONSES: {"model": "openai/gpt-4o-mini", "input": "hi"},
}


def client_over(
    mocks: tuple[OpenAIMock, AnthropicMock], *plugins: Any, **sections: Any
) -> relaykit.Client:
    """A client of both mocks (and ``plugins``), one try a call, no call log, ``sections``
    adding to its configuration."""
    openai_mock, anthropic_mock = mocks
    return relaykit.Client(
        {
            "storage": {"backend": "none"},
            "retry": {"attempts": 1},
            "providers": {
                "openai": {"base_url": openai_mock.base_url, "api_key": UPSTREAM_KEY},
                "anthropic": {"base_url": anthropic_mock.base_url, "api_key": UPSTREAM_KEY},
            },
            **sections,
        },
        plugins=list(plugins),
    )


@asynccontextmanager
async def served(
    mocks: tuple[OpenAIMock, AnthropicMock], **options: Any
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """A gateway over both mocks, served on a free loopback port; yields it and an HTTP
    client for it."""
    stop = anyio.Event()
    async with client_over(mocks) as client, anyio.create_task_group() as tg:
        gateway = Gateway(client, keys=KEYS)

        async def run(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            await serve(gateway, "127.0.0.1", 0, shutdown=stop, task_status=task_status, **options)

        url = await tg.start(run)
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                yield gateway, http
        finally:
            stop.set()


def check_shape(path: str, r: httpx.Response, status: int, param: str | None = None) -> str:
    """``r`` is ``status`` in the route's vendor's error shape (OpenAI's naming ``param``);
    its message."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    if path == MESSAGES:
        assert body["type"] == "error"
        assert set(body["error"]) == {"type", "message"}
        return str(body["error"]["message"])
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["param"] == param
    return str(body["error"]["message"])


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    crashes = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not crashes, crashes


#: what each route reads as a list of stop sequences
STOP_FIELD = {CHAT: "stop", MESSAGES: "stop_sequences"}
MALFORMED = (
    [
        # a few KB of brackets: the JSON parser recursed until a RecursionError, a 500
        pytest.param(
            path,
            b'{"model": "m", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "body",
            "too deep",
            id=f"{path}-nested-too-deep",
        )
        for path in BODIES
    ]
    + [
        # a stream flag of the wrong type was read as false: an answer in the shape the
        # caller did not ask for
        pytest.param(
            path,
            json.dumps({**BODIES[path], "stream": flag}).encode(),
            "stream",
            "true or false",
            id=f"{path}-stream-{flag!r}",
        )
        for path in BODIES
        for flag in ("true", 1)
    ]
    + [
        # a number for the stop sequences failed as a TypeError inside the call: a 500
        pytest.param(
            path,
            json.dumps({**BODIES[path], field: 5}).encode(),
            "stop",
            "`stop` must be a string or a list of strings",
            id=f"{path}-{field}-number",
        )
        for path, field in STOP_FIELD.items()
    ]
    + [
        # half of a character: Python's parser took it, and the call's record then could
        # not be stored (UTF-8 has no encoding for it) and failed the client's close
        pytest.param(
            path,
            json.dumps({**BODIES[path], "metadata": {"note": "\ud800"}}).encode(),
            "body",
            "escapes \\ud800, half of a character",
            id=f"{path}-lone-surrogate",
        )
        for path in BODIES
    ]
)


@pytest.mark.parametrize(("path", "payload", "param", "words"), MALFORMED)
async def test_a_malformed_request_is_the_routes_400_before_any_call(
    mocks: tuple[OpenAIMock, AnthropicMock],
    caplog: pytest.LogCaptureFixture,
    path: str,
    payload: bytes,
    param: str,
    words: str,
) -> None:
    caplog.set_level(logging.WARNING)
    async with served(mocks) as (_, http):
        headers = {**AUTH, "content-type": "application/json"}
        r = await http.post(path, headers=headers, content=payload)
    assert words in check_shape(path, r, 400, param)
    assert not any(mock.requests for mock in mocks)
    no_errors_logged(caplog)


@pytest.mark.parametrize("path", list(BODIES))
async def test_a_character_escaped_as_a_surrogate_pair_is_text(
    mocks: tuple[OpenAIMock, AnthropicMock], path: str
) -> None:
    body = {**BODIES[path], "metadata": {"note": "\N{GRINNING FACE}"}}
    # ASCII JSON, as Python's json.dumps writes it: the emoji as a pair of escapes
    payload = json.dumps(body).encode()
    assert b"\\ud83d\\ude00" in payload
    async with served(mocks) as (_, http):
        headers = {**AUTH, "content-type": "application/json"}
        r = await http.post(path, headers=headers, content=payload)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", list(BODIES))
async def test_a_bug_is_a_500_in_the_routes_shape_and_the_log_names_it(
    mocks: tuple[OpenAIMock, AnthropicMock],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    def broken(*args: Any) -> Any:
        raise ZeroDivisionError("rendering failed")

    # A bug in rendering the answer, raised inside the task group that watches for the
    # caller hanging up: the log said only "ExceptionGroup: unhandled errors in a
    # TaskGroup", and the Anthropic route answered in OpenAI's shape.
    for dialect in (AnthropicDialect, OpenAIDialect, ResponsesDialect):
        monkeypatch.setattr(dialect, "response", broken)
    caplog.set_level(logging.WARNING)
    async with served(mocks) as (_, http):
        r = await http.post(path, headers=AUTH, json=BODIES[path])
    assert check_shape(path, r, 500) == "the gateway failed; its log says why"
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "ZeroDivisionError: rendering failed (at test_faults_http.py:" in line
    assert "ExceptionGroup" not in line


async def test_a_bugs_log_line_masks_the_clients_known_secrets(
    mocks: tuple[OpenAIMock, AnthropicMock],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug whose message quotes a caller's gateway key or an upstream key of no known
    format: the operator's log line masks them as the client's errors do (it was
    scrubbed of known formats only)."""
    upstream = "local-upstream-key-7f3a9c2e"

    def broken(*args: Any) -> Any:
        raise RuntimeError(f"rendering failed for {KEY} with {upstream} and {UPSTREAM_KEY}")

    monkeypatch.setattr(OpenAIDialect, "response", broken)
    caplog.set_level(logging.WARNING)
    async with served(mocks) as (gateway, http):
        gateway.client.mask_secret(upstream)  # as a provider's key of any shape is
        r = await http.post(CHAT, headers=AUTH, json=BODIES[CHAT])
    assert r.status_code == 500
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "RuntimeError: rendering failed for [REDACTED] with [REDACTED] and" in line
    for secret in (KEY, upstream, UPSTREAM_KEY):
        assert secret not in line


@pytest.mark.parametrize("path", list(BODIES))
async def test_a_gateway_shutting_down_refuses_in_the_routes_shape(
    mocks: tuple[OpenAIMock, AnthropicMock], path: str
) -> None:
    async with served(mocks) as (gateway, http):
        await gateway.drain(0)  # nothing in flight: it refuses new requests at once
        r = await http.post(path, headers=AUTH, json=BODIES[path])
    assert "shutting down" in check_shape(path, r, 503)
    assert r.headers["connection"] == "close"


def overloaded() -> Reply:
    return Reply.failure(529, "Overloaded")


@pytest.mark.parametrize("streamed", [False, True], ids=["answer", "stream"])
async def test_an_overloaded_anthropic_is_anthropics_529_and_an_openai_callers_503(
    mocks: tuple[OpenAIMock, AnthropicMock], streamed: bool
) -> None:
    _, anthropic_mock = mocks
    anthropic_mock.script.push(overloaded(), overloaded())
    async with served(mocks) as (_, http):
        url = str(http.base_url).rstrip("/")
        messages: list[MessageParam] = [{"role": "user", "content": "hi"}]
        model = "anthropic/claude-haiku-4-5"
        # Anthropic's SDK raises its OverloadedError (a 503 was its ServiceUnavailableError)
        async with anthropic_sdk(url) as sdk:
            with pytest.raises(anthropic.OverloadedError) as raised:
                if streamed:
                    async with sdk.messages.stream(
                        model=model, max_tokens=20, messages=messages
                    ) as stream:
                        await stream.get_final_message()
                else:
                    await sdk.messages.create(model=model, max_tokens=20, messages=messages)
        assert raised.value.body == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": ANY},
            "request_id": raised.value.request_id,
        }
        # OpenAI's SDKs take any 5xx alike: the unavailable provider's 503
        body = {**BODIES[CHAT], "model": model, "stream": streamed}
        r = await http.post(CHAT, headers=AUTH, json=body)
    assert "HTTP 529: Overloaded" in check_shape(CHAT, r, 503)
    assert r.json()["error"]["type"] == "server_error"


async def test_an_anthropic_stream_overloaded_midway_ends_with_its_overloaded_error_event(
    mocks: tuple[OpenAIMock, AnthropicMock],
) -> None:
    _, anthropic_mock = mocks
    # the mock's in-stream error is Anthropic's overloaded_error event
    anthropic_mock.script.push(*[Reply(text="x" * 40, stream_fault="error")] * 2)
    async with served(mocks) as (_, http):
        ends = {}
        for path in (MESSAGES, CHAT):
            body = {**BODIES[path], "model": "anthropic/claude-haiku-4-5", "stream": True}
            r = await http.post(path, headers=AUTH, json=body)
            assert r.status_code == 200
            ends[path] = r.text.rstrip("\n").rsplit("\n\n", 1)[-1]
    event, data = ends[MESSAGES].split("\n")
    assert event == "event: error"
    assert json.loads(data.removeprefix("data: "))["error"]["type"] == "overloaded_error"
    assert json.loads(ends[CHAT].removeprefix("data: "))["error"]["type"] == "server_error"


async def test_a_stream_rate_limited_midway_ends_with_each_apis_rate_limit_error(
    mocks: tuple[OpenAIMock, AnthropicMock],
) -> None:
    _, anthropic_mock = mocks
    # Anthropic's in-stream rate_limit_error, after the answer began: too late for a
    # 429, but each API's error event still says "rate limited, wait", not a server
    # fault (OpenAI's SDKs and clients tell them apart by rate_limit_exceeded)
    broken = Reply(text="x" * 40, stream_fault="error", error_code="rate_limit_error")
    anthropic_mock.script.push(*[broken] * 3)
    async with served(mocks) as (_, http):
        ends = {}
        for path in (MESSAGES, CHAT, RESPONSES):
            body = {**BODIES[path], "model": "anthropic/claude-haiku-4-5", "stream": True}
            r = await http.post(path, headers=AUTH, json=body)
            assert r.status_code == 200
            ends[path] = last_event(r.text)
    event, data = ends[MESSAGES].split("\n")
    assert event == "event: error"
    assert json.loads(data.removeprefix("data: "))["error"]["type"] == "rate_limit_error"
    chat = json.loads(ends[CHAT].removeprefix("data: "))["error"]
    assert (chat["type"], chat["code"]) == ("requests", "rate_limit_exceeded")
    event, data = ends[RESPONSES].split("\n")
    assert event == "event: response.failed"
    assert json.loads(data.removeprefix("data: "))["response"]["error"]["code"] == (
        "rate_limit_exceeded"
    )


def last_event(stream_body: str) -> str:
    """The last server-sent event of a stream's body."""
    return stream_body.rstrip("\n").rsplit("\n\n", 1)[-1]


async def serving_until(stop: anyio.Event, gateway: Gateway, tg: TaskGroup) -> str:
    """``gateway`` served on a free port in ``tg`` until ``stop``; shutting down waits a
    fifth of a second for the calls in flight. Its URL."""
    url: str = await tg.start(
        lambda task_status: serve(
            gateway, "127.0.0.1", 0, shutdown=stop, graceful_timeout=0.2, task_status=task_status
        )
    )
    return url


@pytest.mark.parametrize(
    ("streamed", "held"),
    [(False, False), (True, False), (True, True)],
    ids=["answer", "stream", "held"],
)
async def test_calls_still_in_flight_when_shutdown_gives_up_are_ended_in_their_apis_shape(
    mocks: tuple[OpenAIMock, AnthropicMock],
    caplog: pytest.LogCaptureFixture,
    streamed: bool,
    held: bool,
) -> None:
    # held: streams whose head went out before their first content (OpenAI's: its
    # first chunk waits; Anthropic's message_start, sent at once, would end the wait)
    mock = mocks[0] if held else mocks[1]
    model = "openai/gpt-4o-mini" if held else "anthropic/claude-haiku-4-5"
    # each would take two seconds or more; shutting down waits a fifth of one
    slow = Reply(text="x" * 160, chunk_delay=0.1) if streamed else Reply(text="late", delay=2)
    if held:
        slow = Reply(text="late", first_token_delay=8)
    mock.script.push(*[slow] * len(BODIES))
    records = RecordingExporter()
    caplog.set_level(logging.WARNING)
    stop = anyio.Event()
    answers: dict[str, httpx.Response] = {}
    # Streams whose answer has begun: a stream is read ahead to its first content
    # before its head is sent, so one still being read ahead when shutdown gives up
    # is answered 503 (a loaded machine's case): wait for every stream's head.
    begun: set[str] = set()
    async with client_over(mocks, records) as client:
        gateway = Gateway(client, keys=KEYS, stream_head_seconds=0.05 if held else 15)
        async with httpx.AsyncClient(timeout=10) as http, anyio.create_task_group() as tg:
            url = await serving_until(stop, gateway, tg)

            async def call(path: str) -> None:
                body = {**BODIES[path], "model": model, "stream": streamed}
                async with http.stream("POST", f"{url}{path}", headers=AUTH, json=body) as r:
                    begun.add(path)
                    await r.aread()
                answers[path] = r

            for path in BODIES:
                tg.start_soon(call, path)
            with anyio.fail_after(5):
                while (  # noqa: ASYNC110
                    gateway.in_flight < len(BODIES)
                    or len(mock.requests) < 3
                    or (streamed and len(begun) < len(BODIES))
                ):
                    await anyio.sleep(0.01)
            stop.set()
        assert gateway.in_flight == 0
    # Each caller is told the gateway is stopping, in its API's shape: a 503, or its
    # stream's error event (the server closing the connections under them gave a bare
    # 500, or a stream cut without its end, and under asyncio a traceback logged each).
    for path, r in answers.items():
        if not streamed:
            assert "shutting down" in check_shape(path, r, 503), path
            continue
        assert r.status_code == 200, path
        end = last_event(r.text)
        if path == MESSAGES:
            event, data = end.split("\n")
            assert event == "event: error"
            assert json.loads(data.removeprefix("data: "))["error"] == {
                "type": "overloaded_error",
                "message": "the gateway is shutting down; try again elsewhere",
            }
        elif path == CHAT:
            assert "shutting down" in json.loads(end.removeprefix("data: "))["error"]["message"]
        else:
            event, data = end.split("\n")
            assert event == "event: response.failed", end
            assert (
                "shutting down"
                in json.loads(data.removeprefix("data: "))["response"]["error"]["message"]
            )
    no_errors_logged(caplog)
    # ...and each call's record says it was cancelled
    assert [r.error_type for r in records.records] == ["Cancelled"] * len(BODIES)


SPEECH, TRANSCRIPTIONS = "/v1/audio/speech", "/v1/audio/transcriptions"
#: OpenAI's two audio streams of server-sent events, and the last event type of each whole
AUDIO_STREAMS = {SPEECH: "speech.audio.done", TRANSCRIPTIONS: "transcript.text.done"}


async def stream_audio(
    http: httpx.AsyncClient, path: str, first: anyio.Event | None = None
) -> list[dict[str, Any]]:
    """The events of one of :data:`AUDIO_STREAMS` (some twenty, whole),
    ``first`` set once the first has arrived."""
    words = " ".join(["hello"] * 20)
    if path == SPEECH:
        # a wav of twenty words: some sixteen of the mock's 4 KiB pieces
        body = {"model": "openai/gpt-4o-mini-tts", "input": words, "voice": "alloy"}
        body["response_format"] = "wav"
        request = http.build_request(
            "POST", path, headers=AUTH, json={**body, "stream_format": "sse"}
        )
    else:
        form = {"model": "openai/gpt-4o-transcribe", "stream": "true"}
        audio = {"file": ("a.wav", mock_audio(words), "audio/wav")}
        request = http.build_request("POST", path, headers=AUTH, data=form, files=audio)
    text = ""
    async with aclosing(await http.send(request, stream=True)) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        async for piece in r.aiter_text():
            text += piece
            if first is not None and "\n\n" in text:
                first.set()
    return [json.loads(e.removeprefix("data: ")) for e in text.rstrip("\n").split("\n\n")]


def check_error_event(event: dict[str, Any], message: str) -> None:
    """``event`` is OpenAI's error event (which its SDKs raise as an API error), its
    message saying ``message``."""
    assert event["type"] == "error", event
    assert set(event["error"]) == {"message", "type", "param", "code"}
    assert event["error"]["type"] == "server_error"
    assert message in event["error"]["message"], event


async def test_audio_streams_still_in_flight_when_shutdown_gives_up_end_with_an_error_event(
    mocks: tuple[OpenAIMock, AnthropicMock], caplog: pytest.LogCaptureFixture
) -> None:
    openai_mock, _ = mocks
    # each would take two seconds or more (twenty pieces a tenth of one apart);
    # shutting down waits a fifth of one
    openai_mock.script.push(*[Reply(chunk_delay=0.1)] * len(AUDIO_STREAMS))
    records = RecordingExporter()
    caplog.set_level(logging.WARNING)
    stop = anyio.Event()
    events: dict[str, list[dict[str, Any]]] = {}
    async with client_over(mocks, records) as client:
        gateway = Gateway(client, keys=KEYS)
        async with httpx.AsyncClient(timeout=10) as http, anyio.create_task_group() as tg:
            url = await serving_until(stop, gateway, tg)
            http.base_url = httpx.URL(url)
            started = {path: anyio.Event() for path in AUDIO_STREAMS}

            async def call(path: str) -> None:
                events[path] = await stream_audio(http, path, started[path])

            for path in AUDIO_STREAMS:
                tg.start_soon(call, path)
            with anyio.fail_after(5):
                for first in started.values():
                    await first.wait()
            stop.set()
        assert gateway.in_flight == 0
    # Each stream ends with OpenAI's error event, as a chat stream does: it just ended,
    # and a caller could not tell a cut answer from a whole one.
    for path, done in AUDIO_STREAMS.items():
        assert events[path][0]["type"] != "error", path
        assert done not in [e["type"] for e in events[path]], path
        check_error_event(events[path][-1], "the gateway is shutting down")
    no_errors_logged(caplog)
    # ...and each call's record says it was cancelled
    assert [r.error_type for r in records.records] == ["Cancelled"] * len(AUDIO_STREAMS)


@pytest.mark.parametrize("fault", ["drop", "reset", "truncate"])
@pytest.mark.parametrize("path", list(AUDIO_STREAMS))
async def test_an_audio_stream_broken_upstream_midway_ends_with_an_error_event(
    mocks: tuple[OpenAIMock, AnthropicMock], path: str, fault: Any
) -> None:
    openai_mock, _ = mocks
    openai_mock.script.push(Reply(stream_fault=fault))
    records = RecordingExporter()
    async with (
        client_over(mocks, records) as client,
        running(client, keys=KEYS) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        events = await stream_audio(http, path)
    assert events[0]["type"] != "error"
    check_error_event(events[-1], "the stream broke after it started")
    [record] = records.records
    assert record.error_type == "StreamError"


MODELS = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-haiku-4-5"}


@pytest.mark.parametrize("vendor", list(MODELS))
@pytest.mark.parametrize("streamed", [False, True], ids=["answer", "stream"])
@pytest.mark.parametrize("path", list(BODIES))
async def test_a_caller_hanging_up_ends_the_call_and_its_upstream_connection_at_once(
    mocks: tuple[OpenAIMock, AnthropicMock],
    caplog: pytest.LogCaptureFixture,
    path: str,
    streamed: bool,
    vendor: str,
) -> None:
    mock = dict(zip(MODELS, mocks, strict=True))[vendor]
    # eight seconds if nobody stopped it
    slow = Reply(text="x" * 320, chunk_delay=0.2) if streamed else Reply(text="late", delay=8)
    mock.script.push(slow)
    records = RecordingExporter()
    caplog.set_level(logging.WARNING)
    limits = {"gateway_key=*": {"rpm": 1000, "tpm": 1_000_000, "budget_usd": 10}}
    async with client_over(mocks, records, limits=limits) as client:
        async with running(client, keys=KEYS) as url, httpx.AsyncClient(base_url=url) as http:
            body = {**BODIES[path], "model": MODELS[vendor], "stream": streamed}
            with anyio.fail_after(3):
                if streamed:
                    async with http.stream("POST", path, headers=AUTH, json=body) as r:
                        assert r.status_code == 200
                        async for _ in r.aiter_bytes():
                            break  # the first piece is enough: hang up
                else:

                    async def call() -> None:
                        await http.post(path, headers=AUTH, json=body)

                    async with anyio.create_task_group() as tg:
                        tg.start_soon(call)
                        while not mock.requests:  # noqa: ASYNC110
                            await anyio.sleep(0.01)
                        tg.cancel_scope.cancel()  # hang up while the answer is pending
            # the call ends, its record is written, and the vendor's connection closes,
            # within a second of the hang-up
            with anyio.fail_after(1):
                while not records.records or mock.server.stats.connections_open:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
        [record] = records.records
        assert record.error_type == "Cancelled"
        # what the budget holds is what the record says the call cost (its estimate)
        limiter: Any = client._limiter
        [budget] = limiter._budgets.values()
        assert budget.spent == (record.cost or 0)
    no_errors_logged(caplog)


@pytest.mark.parametrize("path", list(BODIES))
async def test_a_caller_hanging_up_on_a_held_head_ends_the_call_and_its_upstream_at_once(
    mocks: tuple[OpenAIMock, AnthropicMock], caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """A stream whose head went out before its first content (a model thinking), with
    only keep-alive comments sent: a hang-up there ends the read-ahead, its record and
    the vendor's connection too. (OpenAI's stream: Anthropic's message_start, sent before
    the thinking, is a first event that ends the read-ahead.)"""
    mock, vendor = mocks[0], "openai"
    mock.script.push(Reply(text="late", first_token_delay=8))
    records = RecordingExporter()
    caplog.set_level(logging.WARNING)
    async with client_over(mocks, records) as client:
        async with (
            running(client, keys=KEYS, stream_head_seconds=0.05) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            body = {**BODIES[path], "model": MODELS[vendor], "stream": True}
            with anyio.fail_after(3):
                async with http.stream("POST", path, headers=AUTH, json=body) as r:
                    assert r.status_code == 200
                    async for piece in r.aiter_bytes():
                        assert piece.startswith(b":")  # a comment, no content yet
                        break  # hang up
            with anyio.fail_after(1):
                while not records.records or mock.server.stats.connections_open:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
        [record] = records.records
        assert record.error_type == "Cancelled"
    no_errors_logged(caplog)


@pytest.mark.parametrize("header", ["authorization", "x-api-key", "api-key", None])
@pytest.mark.parametrize("path", list(BODIES))
async def test_a_wrong_or_missing_key_is_the_routes_401_and_never_echoed(
    mocks: tuple[OpenAIMock, AnthropicMock],
    caplog: pytest.LogCaptureFixture,
    path: str,
    header: str | None,
) -> None:
    wrong = "sk-ant-wrong-3f9c2e7a1b5d4c8e9f0a1b2c3d4e5f60"
    headers = {} if header is None else {header: f"Bearer {wrong}" if header[0] == "a" else wrong}
    caplog.set_level(logging.DEBUG)
    async with served(mocks) as (_, http):
        r = await http.post(path, headers=headers, json=BODIES[path])
    message = check_shape(path, r, 401)
    assert ("is missing" if header is None else "is not a gateway key") in message
    # the message names every header a key may come in
    assert all(f"`{name}" in message for name in ("Authorization: Bearer", "x-api-key", "api-key"))
    if path == MESSAGES:
        assert r.json()["error"]["type"] == "authentication_error"
    else:  # OpenAI's own 401
        assert (r.json()["error"]["type"], r.json()["error"]["code"]) == (
            "invalid_request_error",
            "invalid_api_key",
        )
    assert wrong not in r.text
    assert wrong not in caplog.text
    assert not any(mock.requests for mock in mocks)


@pytest.mark.parametrize("path", list(BODIES))
async def test_an_azure_style_api_key_header_presents_the_gateway_key(
    mocks: tuple[OpenAIMock, AnthropicMock], caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """Azure OpenAI's clients send their key as ``api-key: <key>`` (not ``Authorization:
    Bearer``): a gateway key sent so is taken as from either SDK, the call named for
    it, and it reaches no log or provider."""
    openai_mock, anthropic_mock = mocks
    openai_mock.script.push(Reply(text="ok"), Reply(text="ok"))
    anthropic_mock.script.push(Reply(text="ok"))
    records = RecordingExporter()
    caplog.set_level(logging.DEBUG)
    async with (
        client_over(mocks, records) as client,
        running(client, keys=KEYS) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        r = await http.post(path, headers={"api-key": KEY}, json=BODIES[path])
    assert r.status_code == 200, r.text
    [record] = records.records
    assert record.params["metadata"]["gateway_key"] == "alice"
    assert KEY not in caplog.text
    sent = [request for mock in mocks for request in mock.requests]
    assert sent and not any(KEY in str(request.headers) for request in sent)


@pytest.mark.parametrize("path", list(BODIES))
async def test_a_gateway_without_keys_refuses_a_web_page_it_does_not_allow(
    mocks: tuple[OpenAIMock, AnthropicMock], path: str
) -> None:
    # A page's fetch of JSON sent as text/plain needs no preflight, and any page can
    # reach a loopback gateway: without keys it made the call on the providers' keys.
    page = {"origin": "https://evil.example", "content-type": "text/plain;charset=UTF-8"}
    payload = json.dumps(BODIES[path]).encode()
    async with (
        client_over(mocks) as client,
        running(client, keys=GatewayKeys(), cors=CorsPolicy.parse("https://app.example")) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        refused = await http.post(path, headers=page, content=payload)
        assert not any(mock.requests for mock in mocks)
        allowed = await http.post(
            path, headers={**page, "origin": "https://app.example"}, content=payload
        )
        not_a_page = await http.post(path, json=BODIES[path])  # curl, an SDK: no origin
    assert "origin https://evil.example may not call the gateway" in check_shape(path, refused, 403)
    assert allowed.status_code == not_a_page.status_code == 200


@pytest.mark.parametrize("path", list(BODIES))
async def test_a_body_refused_before_it_all_arrived_still_gets_its_answer(
    mocks: tuple[OpenAIMock, AnthropicMock], path: str
) -> None:
    # eight times the limit: more than the sockets hold while the caller still sends
    note = "x" * (8 << 20)
    payload = json.dumps({**BODIES[path], "metadata": {"note": note}}).encode()
    headers = {**AUTH, "content-type": "application/json"}
    async with (
        client_over(mocks) as client,
        running(client, keys=KEYS, max_body_bytes=1 << 20) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        # Closed under a caller still sending, the connection was reset, and the
        # reset dropped the answer: the caller saw a ReadError (hypercorn under asyncio)
        too_large = await http.post(path, headers=headers, content=payload)
        wrong_key = await http.post(
            path, headers={**headers, "authorization": "Bearer nope"}, content=payload
        )
        after = await http.post(path, headers=AUTH, json=BODIES[path])
    assert "larger than the gateway's 1048576 bytes" in check_shape(path, too_large, 413)
    assert "not a gateway key" in check_shape(path, wrong_key, 401)
    assert after.status_code == 200
    assert len(mocks[0].requests) + len(mocks[1].requests) == 1


def huge_chat_stream(pieces: int, produced: list[int]) -> Callable[[Request, Response], Any]:
    """A rewrite of the OpenAI mock's answer: a Chat Completions stream of ``pieces``
    deltas of 64 KiB each, counting in ``produced`` those the mock has made."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        data = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        return b"data: " + json.dumps({**data, "choices": [choice]}).encode() + b"\n\n"

    def body() -> Iterator[bytes]:
        yield chunk({"role": "assistant", "content": ""})
        for _ in range(pieces):
            produced[0] += 1
            yield chunk({"content": "y" * 65536})
        yield chunk({}, "stop") + b"data: [DONE]\n\n"

    async def rewrite(request: Request, response: Response) -> Response:
        return Response(200, {"content-type": "text/event-stream"}, body())

    return rewrite


async def test_a_caller_hanging_up_on_a_fast_stream_ends_the_call_every_time(
    mocks: tuple[OpenAIMock, AnthropicMock],
) -> None:
    # Under asyncio, with aiohttp reading the upstream, the hang-up was sometimes
    # ignored (3 runs in 8): nothing held back a gateway writing to a dead socket, each
    # read of the upstream woke the very turn it began, and the watcher's cancellation
    # never landed; the whole 64 MiB went out and the record said the call succeeded.
    # Whether it landed hung on the loop's timing, hence a few hang-ups in a row.
    openai_mock, _ = mocks
    produced = [0]
    pieces = 1000  # 64 MiB in all
    openai_mock.rewrite = huge_chat_stream(pieces, produced)
    records = RecordingExporter()
    body = {**BODIES[CHAT], "model": "openai/gpt-4o-mini", "stream": True}
    async with (
        client_over(mocks, records) as client,
        running(client, keys=KEYS) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        for hang_ups in range(1, 11):
            produced[0] = 0
            async with http.stream("POST", CHAT, headers=AUTH, json=body) as r:
                async for _ in r.aiter_raw():
                    break  # the first piece: hang up
            with anyio.fail_after(5):
                while len(records.records) < hang_ups:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            assert records.records[-1].error_type == "Cancelled", (hang_ups, produced[0])
            assert produced[0] < pieces / 2, produced[0]  # not the whole body


@pytest.mark.parametrize("path", [CHAT, MESSAGES])
async def test_a_stalled_reader_holds_the_upstream_back_rather_than_the_gateway_buffering(
    mocks: tuple[OpenAIMock, AnthropicMock], path: str
) -> None:
    openai_mock, _ = mocks
    produced = [0]
    # 250 MiB in all. The kernel's socket buffers on the two loopback hops fill
    # first, then the upstream waits: Linux autotunes each socket's buffers up to
    # tcp_rmem/tcp_wmem's maximum (32 MiB + 4 MiB by default), more on a busy
    # machine, where the reader falls further behind: up to ~72 MiB in all.
    pieces = 4000
    openai_mock.rewrite = huge_chat_stream(pieces, produced)
    body = {**BODIES[path], "model": "openai/gpt-4o-mini", "stream": True}
    async with served(mocks) as (gateway, http):
        async with http.stream("POST", path, headers=AUTH, json=body) as r:
            assert r.status_code == 200
            pieces_read = r.aiter_raw()  # held: an iterator let go closes the response
            await anext(pieces_read)
            # The caller reads no more meanwhile: wait for the upstream to stop (its
            # count unchanged for half a second); a gateway buffering the stream
            # would read the whole of it instead.
            with anyio.fail_after(30):
                stalled = -1
                while stalled != produced[0]:
                    stalled = produced[0]
                    await anyio.sleep(0.5)
        with anyio.fail_after(2):  # hung up: the upstream stops
            while gateway.in_flight or openai_mock.server.stats.connections_open:  # noqa: ASYNC110
                await anyio.sleep(0.01)
    assert stalled < pieces / 2, stalled  # kernel buffers at most: 125 MiB is well past them
    assert produced[0] < pieces


@pytest.mark.parametrize("path", [*AUDIO_STREAMS, "speech-bytes"])
async def test_a_caller_hanging_up_on_an_audio_stream_ends_the_call_and_its_upstream_at_once(
    mocks: tuple[OpenAIMock, AnthropicMock], caplog: pytest.LogCaptureFixture, path: str
) -> None:
    openai_mock, _ = mocks
    # twenty pieces a fifth of a second apart: four seconds if nobody stopped it
    openai_mock.script.push(Reply(chunk_delay=0.2))
    records = RecordingExporter()
    caplog.set_level(logging.WARNING)
    words = " ".join(["hello"] * 20)
    async with (
        client_over(mocks, records) as client,
        running(client, keys=KEYS) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        if path == TRANSCRIPTIONS:
            form = {"model": "openai/gpt-4o-transcribe", "stream": "true"}
            audio = {"file": ("a.wav", mock_audio(words), "audio/wav")}
            request = http.build_request("POST", path, headers=AUTH, data=form, files=audio)
        else:
            body = {"model": "openai/gpt-4o-mini-tts", "input": words, "voice": "alloy"}
            body |= {"response_format": "wav"}
            if path == SPEECH:
                body["stream_format"] = "sse"
            request = http.build_request("POST", SPEECH, headers=AUTH, json=body)
        with anyio.fail_after(3):
            async with aclosing(await http.send(request, stream=True)) as r:
                assert r.status_code == 200
                async for _ in r.aiter_bytes():
                    break  # the first piece is enough: hang up
        # the call ends, its record is written, and the vendor's connection closes,
        # within a second of the hang-up
        with anyio.fail_after(1):
            while not records.records or openai_mock.server.stats.connections_open:  # noqa: ASYNC110
                await anyio.sleep(0.01)
    [record] = records.records
    assert record.error_type == "Cancelled"
    no_errors_logged(caplog)
