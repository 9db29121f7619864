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

import httpx
import pytest

import relaykit
from relaykit.testing import FakePlugin, Reply
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
