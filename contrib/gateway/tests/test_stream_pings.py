"""A streamed answer's opening and keep-alive, over loopback HTTP: Anthropic's stream opens
with ``message_start`` (the input tokens the provider counted) and a ``ping``, and every
stream sends a keep-alive when nothing else has gone out for a while, so proxies with an
idle timeout keep the connection while a model thinks."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import attrs
import httpx
import openai
import pytest

import relaykit
from relaykit.testing import FakePlugin, Reply, mock_audio, mock_speech
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway import Gateway
from relaykit_gateway.anthropic_dialect import EventEncoder
from relaykit_gateway.testing import KEY, UPSTREAM_KEY, running

from .conftest import anthropic_sdk, openai_sdk

pytestmark = pytest.mark.anyio

ASK: dict[str, Any] = {
    "model": "fake/m",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "go"}],
}
#: three pieces of eight characters at most: two silences between them
TEXT = "one two three fourfive"
ANTHROPIC_HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}


@asynccontextmanager
async def paced_gateway(*plugins: Any, ping: float, **config: Any) -> AsyncIterator[str]:
    """A gateway over ``plugins`` whose streams ping after ``ping`` seconds of silence."""
    base = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}
    client = relaykit.Client({**base, **config}, plugins=list(plugins))
    async with client, running(client, stream_ping_seconds=ping) as url:
        yield url


async def sse_lines(
    url: str, path: str, body: dict[str, Any], headers: dict[str, str]
) -> list[str]:
    """The non-empty lines of a streamed answer, as sent."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream("POST", path, json={**body, "stream": True}, headers=headers) as r,
    ):
        assert r.status_code == 200
        return [line async for line in r.aiter_lines() if line]


def event_names(lines: list[str]) -> list[str]:
    """The ``event:`` names of an Anthropic stream, with ``:`` comments as ``":"``."""
    return [
        line.removeprefix("event: ") if line.startswith("event: ") else ":"
        for line in lines
        if line.startswith(("event: ", ":"))
    ]


async def test_anthropics_stream_opens_with_message_start_and_a_ping(
    anthropic_mock: AnthropicMock,
) -> None:
    """As Anthropic's own: ``message_start`` first, carrying the input tokens Claude
    counted before writing, then ``ping``, then the content."""
    config = {
        "providers": {"anthropic": {"base_url": anthropic_mock.base_url, "api_key": UPSTREAM_KEY}}
    }
    async with paced_gateway(ping=15, **config) as url:
        ask = {**ASK, "model": "anthropic/claude-sonnet-4-5"}
        lines = await sse_lines(url, "/v1/messages", ask, ANTHROPIC_HEADERS)
    names = event_names(lines)
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    start = json.loads(lines[1].removeprefix("data: "))
    assert start["type"] == "message_start"
    assert start["message"]["usage"]["input_tokens"] > 0
    assert json.loads(lines[3].removeprefix("data: ")) == {"type": "ping"}
    assert names.count("message_start") == 1 and names[-1] == "message_stop"


async def test_a_silent_anthropic_stream_pings_and_the_sdk_still_assembles_it(
    fake: FakePlugin,
) -> None:
    """Pieces 0.5 s apart with pings after 0.2 s of silence: pings between the deltas, and
    the SDK's accumulator (which refuses anything before ``message_start``) gets the
    whole message."""
    reply = Reply(text=TEXT, chunk_delay=0.5, input_tokens=7, output_tokens=3)
    fake.script.push(reply)
    fake.script.push(reply)
    async with paced_gateway(fake, ping=0.2) as url:
        names = event_names(await sse_lines(url, "/v1/messages", ASK, ANTHROPIC_HEADERS))
        async with anthropic_sdk(url) as client, client.messages.stream(**ASK) as stream:
            message = await stream.get_final_message()
    assert names[:2] == ["message_start", "ping"]
    first_delta = names.index("content_block_delta")
    # one ping right after message_start, then more during the silences between pieces
    assert names[first_delta:].count("ping") >= 2
    assert ":" not in names
    assert message.content[0].type == "text" and message.content[0].text == TEXT
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 3)


async def test_openai_streams_keep_alive_with_comments_the_sdk_skips(fake: FakePlugin) -> None:
    """OpenAI's formats have no ping event: a server-sent events comment, which SDKs
    skip, keeps a silent Chat Completions or Responses stream alive."""
    reply = Reply(text=TEXT, chunk_delay=0.5)
    for _ in range(4):
        fake.script.push(reply)
    auth = {"authorization": f"Bearer {KEY}"}
    chat = {"model": "fake/m", "messages": [{"role": "user", "content": "go"}]}
    async with paced_gateway(fake, ping=0.2) as url:
        chat_lines = await sse_lines(url, "/v1/chat/completions", chat, auth)
        responses_lines = await sse_lines(
            url, "/v1/responses", {"model": "fake/m", "input": "go"}, auth
        )
        async with openai_sdk(url) as client:
            chunks = await client.chat.completions.create(**chat, stream=True)  # type: ignore[call-overload]
            texts = [
                c.choices[0].delta.content
                async for c in chunks
                if c.choices and c.choices[0].delta.content
            ]
            async with client.responses.stream(model="fake/m", input="go") as stream:
                final = await stream.get_final_response()
    for lines in (chat_lines, responses_lines):
        assert sum(line.startswith(":") for line in lines) >= 2
    assert "".join(texts) == TEXT
    assert final.output_text == TEXT


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan")])
def test_a_ping_interval_that_is_not_a_positive_time_is_refused(
    seconds: float, closed_after: Any
) -> None:
    """0 would send pings without end; refused where the gateway is made (infinity,
    pings off, is a time)."""
    client = closed_after(relaykit.Client({"storage": {"backend": "none"}}))
    with pytest.raises(ValueError, match="stream_ping_seconds must be more than 0 seconds"):
        Gateway(client, stream_ping_seconds=seconds)
    assert Gateway(client, stream_ping_seconds=float("inf")).stream_ping_seconds == float("inf")


async def test_a_bug_while_streaming_beside_the_pings_is_logged_by_name(
    fake: FakePlugin, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pings run in a task group beside the stream: a bug rendering an event still
    reaches the operator's log as itself, and the pings stop with the stream."""

    def broken(*args: Any) -> Any:
        raise ZeroDivisionError("rendering failed")

    monkeypatch.setattr(EventEncoder, "event", broken)
    caplog.set_level(logging.ERROR)
    async with (
        paced_gateway(fake, ping=0.05) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream(
            "POST", "/v1/messages", json={**ASK, "stream": True}, headers=ANTHROPIC_HEADERS
        ) as r,
    ):
        with pytest.raises(httpx.HTTPError):  # the body ends without its last chunk
            [line async for line in r.aiter_lines()]
    logged = [r.getMessage() for r in caplog.records if r.name == "relaykit.gateway"]
    assert any("ZeroDivisionError: rendering failed (at test_stream_pings.py:" in m for m in logged)


@asynccontextmanager
async def held_gateway(*plugins: Any, head: float, **config: Any) -> AsyncIterator[str]:
    """A gateway over ``plugins`` whose streams send their head after ``head`` seconds
    without a first content, then ping every 0.2 s."""
    base = {"storage": {"backend": "none"}, "retry": {"attempts": 1}}
    client = relaykit.Client({**base, **config}, plugins=list(plugins))
    async with client, running(client, stream_ping_seconds=0.2, stream_head_seconds=head) as url:
        yield url


#: a first token 3 s away: far past the 0.05 s the held gateways wait for one
SLOW = Reply(text=TEXT, first_token_delay=3.0, input_tokens=7, output_tokens=3)


def comments_first(lines: list[str]) -> int:
    """How many ``:`` comments a stream sends before its first event."""
    return next(i for i, line in enumerate(lines) if not line.startswith(":"))


async def test_a_slow_first_token_gets_the_head_and_comments_before_it(fake: FakePlugin) -> None:
    """A model thinking for minutes before its first token: the head goes out once the
    gateway has waited ``stream_head_seconds``, then a comment (which every SSE client
    skips) each ping interval, so a proxy with an idle timeout keeps the connection
    before any content; the SDKs read the whole answer through them."""
    for _ in range(5):
        fake.script.push(SLOW)
    auth = {"authorization": f"Bearer {KEY}"}
    chat = {"model": "fake/m", "messages": [{"role": "user", "content": "go"}]}
    async with held_gateway(fake, head=0.05) as url:
        streams = [
            await sse_lines(url, "/v1/messages", ASK, ANTHROPIC_HEADERS),
            await sse_lines(url, "/v1/chat/completions", chat, auth),
        ]
        async with anthropic_sdk(url) as client, client.messages.stream(**ASK) as stream:
            message = await stream.get_final_message()
        async with openai_sdk(url) as sdk:
            chunks = await sdk.chat.completions.create(**chat, stream=True)  # type: ignore[call-overload]
            texts = [
                c.choices[0].delta.content
                async for c in chunks
                if c.choices and c.choices[0].delta.content
            ]
            async with sdk.responses.stream(model="fake/m", input="go") as responses:
                final = await responses.get_final_response()
    assert [comments_first(lines) >= 2 for lines in streams] == [True, True]
    assert message.content[0].type == "text" and message.content[0].text == TEXT
    assert "".join(texts) == TEXT
    assert final.output_text == TEXT


async def test_a_retry_after_the_held_head_still_answers(fake: FakePlugin) -> None:
    """The held head carries no content: the gateway may still retry (or fall back)
    until the first content, as before the head went out."""
    fake.script.push(attrs.evolve(Reply.failure(503, "busy"), delay=1.0))
    fake.script.push(Reply(text=TEXT))
    retry = {"attempts": 2, "initial_wait": 0.01, "max_wait": 0.01}
    async with held_gateway(fake, head=0.05, retry=retry) as url:
        lines = await sse_lines(url, "/v1/messages", ASK, ANTHROPIC_HEADERS)
    assert comments_first(lines) >= 1
    assert len(fake.calls) == 2
    text = "".join(
        json.loads(line.removeprefix("data: "))["delta"].get("text", "")
        for line in lines
        if line.startswith("data: ") and '"content_block_delta"' in line
    )
    assert text == TEXT


async def test_a_failure_after_the_held_head_is_the_vendors_error_event(
    fake: FakePlugin,
) -> None:
    """Once the head went out, a call that fails before its first content can no longer
    answer with its status: it ends the stream with the vendor's error event, which
    the SDKs raise (a rate limit still named as one)."""
    for _ in range(3):
        fake.script.push(attrs.evolve(Reply.failure(429, "slow down"), delay=1.0))
    async with held_gateway(fake, head=0.05) as url:
        lines = await sse_lines(url, "/v1/messages", ASK, ANTHROPIC_HEADERS)
        async with anthropic_sdk(url) as client:
            with pytest.raises(anthropic.APIStatusError) as anthropics:
                async with client.messages.stream(**ASK) as stream:
                    await stream.get_final_message()
        async with openai_sdk(url) as sdk:
            chat = {"model": "fake/m", "messages": [{"role": "user", "content": "go"}]}
            with pytest.raises(openai.APIError) as openais:
                async for _ in await sdk.chat.completions.create(**chat, stream=True):  # type: ignore[call-overload]
                    pass
    assert lines[0].startswith(":")
    assert "event: error" in lines
    error = json.loads(lines[lines.index("event: error") + 1].removeprefix("data: "))
    assert error["error"]["type"] == "rate_limit_error"
    assert "slow down" in anthropics.value.message
    assert openais.value.code == "rate_limit_exceeded"


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan")])
def test_a_head_wait_that_is_not_a_positive_time_is_refused(
    seconds: float, closed_after: Any
) -> None:
    client = closed_after(relaykit.Client({"storage": {"backend": "none"}}))
    with pytest.raises(ValueError, match="stream_head_seconds must be more than 0 seconds"):
        Gateway(client, stream_head_seconds=seconds)
    assert Gateway(client, stream_head_seconds=float("inf")).stream_head_seconds == float("inf")


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (
            Reply.failure(400, "prompt is too long: 250000 tokens > 200000 maximum"),
            "context_length_exceeded",
        ),
        (Reply.failure(429, "slow down"), "rate_limit_exceeded"),
        (Reply.failure(500, "it broke"), "server_error"),
    ],
    ids=["context", "rate", "server"],
)
async def test_a_responses_stream_failed_after_the_held_head_carries_the_errors_own_code(
    fake: FakePlugin, failure: Reply, code: str
) -> None:
    """The Responses API's ``response.failed`` names the failure with OpenAI's code for
    it, as its 400 or 429 would have: clients act on it (Codex trims its history on
    ``context_length_exceeded``, waits on ``rate_limit_exceeded``) where a
    ``server_error`` would have them retry the same request."""
    fake.script.push(attrs.evolve(failure, delay=1.0))
    fake.script.push(attrs.evolve(failure, delay=1.0))
    auth = {"authorization": f"Bearer {KEY}"}
    chat = {"model": "fake/m", "messages": [{"role": "user", "content": "go"}]}
    async with held_gateway(fake, head=0.05) as url:
        responses = await sse_lines(url, "/v1/responses", {"model": "fake/m", "input": "go"}, auth)
        chats = await sse_lines(url, "/v1/chat/completions", chat, auth)
    assert responses[0].startswith(":") and chats[0].startswith(":")
    assert responses[-2] == "event: response.failed"
    failed = json.loads(responses[-1].removeprefix("data: "))["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == code
    # a chat stream's error event says the same
    chat_error = json.loads(chats[-1].removeprefix("data: "))["error"]
    assert chat_error["code"] == (None if code == "server_error" else code)


# -- audio streams: speech and transcripts as server-sent events keep alive as chats do;
# -- raw audio cannot (see relaykit_gateway.replies.streamed)

SPOKEN = "the gateway heard this"
AUDIO = mock_audio(SPOKEN, seconds=30)


async def audio_sse(http: httpx.AsyncClient, kind: str) -> tuple[httpx.Headers, list[str]]:
    """The headers and lines of a streamed speech (``kind="speech"``) or transcript."""
    auth = {"authorization": f"Bearer {KEY}"}
    if kind == "speech":
        body = {"model": "fake/tts-1", "input": SPOKEN, "voice": "alloy", "stream_format": "sse"}
        request = http.build_request("POST", "/v1/audio/speech", json=body, headers=auth)
    else:
        request = http.build_request(
            "POST",
            "/v1/audio/transcriptions",
            headers=auth,
            data={"model": "fake/whisper-1", "stream": "true"},
            files={"file": ("memo.wav", AUDIO, "audio/wav")},
        )
    r = await http.send(request, stream=True)
    try:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        return r.headers, [line async for line in r.aiter_lines() if line]
    finally:
        await r.aclose()


def audio_events(lines: list[str]) -> list[str]:
    """The types of an audio stream's events, with ``:`` comments as ``":"``."""
    return [
        ":" if line.startswith(":") else json.loads(line.removeprefix("data: "))["type"]
        for line in lines
    ]


DONE = {"speech": "speech.audio.done", "transcript": "transcript.text.done"}


@pytest.mark.parametrize("kind", list(DONE))
async def test_a_slow_first_audio_piece_gets_the_head_and_comments_before_it(
    fake: FakePlugin, kind: str
) -> None:
    """As a chat stream's: a speech or transcript as server-sent events whose first
    piece is slow gets its head after ``stream_head_seconds``, then a comment each
    ping interval until the piece comes; OpenAI's SDK reads the events through them."""
    fake.script.push(*[Reply(first_token_delay=2.0)] * (2 if kind == "transcript" else 1))
    async with (
        held_gateway(fake, head=0.05) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        events = audio_events((await audio_sse(http, kind))[1])
        read: list[str] = []
        if kind == "transcript":  # OpenAI's SDK parses these events (speech's it hands over)
            async with openai_sdk(url) as sdk:
                stream = await sdk.audio.transcriptions.create(
                    model="fake/whisper-1", file=("memo.wav", AUDIO), stream=True
                )
                read = [event.type async for event in stream]
    assert comments_first(events) >= 2
    assert events[-1] == DONE[kind] and "error" not in events
    if kind == "transcript":
        assert read[-1] == DONE[kind] and set(read[:-1]) == {"transcript.text.delta"}


@pytest.mark.parametrize("kind", list(DONE))
async def test_a_silent_audio_stream_keeps_alive_with_comments(fake: FakePlugin, kind: str) -> None:
    """Pieces 0.5 s apart with pings after 0.2 s of silence: comments between them."""
    fake.script.push(Reply(text=SPOKEN if kind == "transcript" else "", chunk_delay=0.5))
    async with (
        paced_gateway(fake, ping=0.2) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        if kind == "transcript":
            headers, lines = await audio_sse(http, kind)
        else:
            headers, lines = await long_speech(http)
    events = audio_events(lines)
    # the head went out with the content: it names who answered
    assert (headers["x-relaykit-provider"], headers["x-relaykit-model"]) == (
        "fake",
        "tts-1" if kind == "speech" else "whisper-1",
    )
    assert events[0] != ":"
    assert events.count(":") >= 2
    assert events[-1] == DONE[kind]


async def long_speech(http: httpx.AsyncClient) -> tuple[httpx.Headers, list[str]]:
    """A speech of several of the fake's chunks, as server-sent events: its headers
    and lines."""
    body = {"model": "fake/tts-1", "input": SPOKEN * 200, "voice": "alloy", "stream_format": "sse"}
    r = await http.post("/v1/audio/speech", json=body, headers={"authorization": f"Bearer {KEY}"})
    assert r.status_code == 200
    return r.headers, [line for line in r.text.split("\n") if line]


@pytest.mark.parametrize(
    ("failure", "code"),
    [(Reply.failure(429, "slow down"), "rate_limit_exceeded"), (Reply.failure(500, "broke"), None)],
    ids=["rate", "server"],
)
@pytest.mark.parametrize("kind", list(DONE))
async def test_an_audio_failure_after_the_held_head_is_openais_error_event(
    fake: FakePlugin, kind: str, failure: Reply, code: str | None
) -> None:
    """Once the head went out, a call that fails before its first piece ends the
    stream with OpenAI's error event, as a chat stream does."""
    fake.script.push(attrs.evolve(failure, delay=1.0))
    async with (
        held_gateway(fake, head=0.05) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        _, lines = await audio_sse(http, kind)
    assert lines[0].startswith(":")
    error = json.loads(lines[-1].removeprefix("data: "))
    assert error["type"] == "error"
    assert error["error"]["code"] == code
    assert failure.error in error["error"]["message"]


async def test_raw_audio_gets_no_comment_however_slow_its_first_piece(fake: FakePlugin) -> None:
    """Raw audio's body is the audio's bytes, with no room for a comment: its head waits
    for the first piece (whose failure is then a plain error status), and its body is
    the audio alone."""
    fake.script.push(Reply(first_token_delay=1.0), Reply.failure(429, "slow down"))
    body = {"model": "fake/tts-1", "input": SPOKEN, "voice": "alloy"}
    auth = {"authorization": f"Bearer {KEY}"}
    async with (
        held_gateway(fake, head=0.05) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        r = await http.post("/v1/audio/speech", json=body, headers=auth)
        refused = await http.post("/v1/audio/speech", json=body, headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    assert r.content == mock_speech(SPOKEN)
    assert refused.status_code == 429


CHAT_ROUTES: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("/v1/chat/completions", ASK, {"authorization": f"Bearer {KEY}"}),
    ("/v1/responses", {"model": "fake/m", "input": "go"}, {"authorization": f"Bearer {KEY}"}),
    ("/v1/messages", ASK, ANTHROPIC_HEADERS),
]


@pytest.mark.parametrize(
    ("path", "body", "headers"), CHAT_ROUTES, ids=["chat", "responses", "messages"]
)
async def test_a_chat_streams_head_names_who_answered_as_an_audio_streams_does(
    fake: FakePlugin, path: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    """A stream's head waits for its first content, by which the deployment that
    answers is known: a chat stream's names it, as an audio stream's does (the
    operator's ``x-relaykit-provider`` and ``x-relaykit-model``)."""
    fake.script.reply("hello")
    async with (
        paced_gateway(fake, ping=30) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream("POST", path, json={**body, "stream": True}, headers=headers) as r,
    ):
        lines = [line async for line in r.aiter_lines() if line]
    assert r.status_code == 200
    assert (r.headers.get("x-relaykit-provider"), r.headers.get("x-relaykit-model")) == (
        "fake",
        "m",
    )
    assert "hello" in "".join(lines)


@pytest.mark.parametrize(
    ("path", "body", "headers"), CHAT_ROUTES, ids=["chat", "responses", "messages"]
)
async def test_a_chat_stream_that_breaks_midway_is_in_the_operators_log_as_an_audio_ones_is(
    fake: FakePlugin,
    caplog: pytest.LogCaptureFixture,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> None:
    """A stream that breaks after it started ends with its error event for the caller,
    and a warning naming the failure for the operator, on every route alike."""
    fake.script.push(Reply(text="partial answer", stream_fault="error", error="upstream broke"))
    caplog.set_level(logging.WARNING, logger="relaykit.gateway")
    async with paced_gateway(fake, ping=30) as url:
        lines = await sse_lines(url, path, body, headers)
    assert "upstream broke" in lines[-1] or "upstream broke" in "".join(lines[-3:])
    logged = [r.getMessage() for r in caplog.records if r.name == "relaykit.gateway"]
    assert any(m.startswith("gateway stream broke: ") and "upstream broke" in m for m in logged)
