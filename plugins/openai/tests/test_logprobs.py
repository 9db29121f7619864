"""Log probabilities of Chat Completions (``extra={"logprobs": True, "top_logprobs": N}``)
read into ``ChatResponse.logprobs``: each output token with its log probability, bytes and
the most likely alternatives. Streamed, each chunk's come as a ``relaykit.LogprobsDelta``
after its text, and the assembled response holds them all; a cached answer replayed as a
stream keeps them."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import ChatResponse, LogprobsDelta, TextDelta, TokenLogprob
from relaykit.serialization import converter
from relaykit.testing import OpenAIMock

KEY = "sk-test-0123456789abcdef0123"


def config(mock: OpenAIMock) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
    }


@pytest.mark.anyio
async def test_logprobs_are_read_into_the_response(mock: OpenAIMock) -> None:
    mock.script.reply("Hi there")
    extra = {"logprobs": True, "top_logprobs": 2}
    async with relaykit.Client(config(mock)) as client:
        r = await client.chat("openai/gpt-4o-mini", "hello", extra=extra)
    sent = mock.requests[-1].json()
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)
    first, second = r.logprobs
    assert first == TokenLogprob(
        "Hi ",
        -0.0,
        bytes=b"Hi ",
        top_logprobs=(
            TokenLogprob("Hi ", -0.0, bytes=b"Hi "),
            TokenLogprob("alt1", -1.0, bytes=b"alt1"),
        ),
    )
    assert (second.token, second.logprob, second.bytes) == ("there", -0.25, b"there")
    assert "".join(t.token for t in r.logprobs) == r.text
    # a value like the others: serialised and read back whole (the response cache)
    assert converter.structure(converter.unstructure(r), ChatResponse).logprobs == r.logprobs


@pytest.mark.anyio
async def test_no_logprobs_unless_asked(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        r = await client.chat("openai/gpt-4o-mini", "hello")
    assert r.logprobs == ()
    assert "logprobs" not in mock.requests[-1].json()


@pytest.mark.anyio
async def test_a_stream_yields_them_and_its_response_holds_them(mock: OpenAIMock) -> None:
    mock.script.reply("The quick brown fox jumps over the lazy dog")
    mock.script.reply("The quick brown fox jumps over the lazy dog")
    extra = {"logprobs": True, "top_logprobs": 2}
    async with relaykit.Client(config(mock)) as client:
        async with client.stream("openai/gpt-4o-mini", "hi", extra=extra) as s:
            events = [e async for e in s]
        whole = await client.chat("openai/gpt-4o-mini", "hi", extra=extra)
    sent = mock.requests[0].json()
    assert (sent["stream"], sent["logprobs"], sent["top_logprobs"]) == (True, True, 2)
    deltas = [e for e in events if isinstance(e, LogprobsDelta)]
    assert len(deltas) > 1, "one a chunk, as the chunks carry them"
    streamed = s.response.logprobs
    assert streamed == tuple(t for d in deltas for t in d.logprobs)
    assert "".join(t.token for t in streamed) == s.response.text == whole.text
    assert all(len(t.top_logprobs) == 2 for t in streamed)
    # each delta comes right after the chunk's text it scores
    for i, event in enumerate(events):
        if isinstance(event, LogprobsDelta):
            before = events[i - 1]
            assert isinstance(before, TextDelta)
            assert before.text == "".join(t.token for t in event.logprobs)


@pytest.mark.anyio
async def test_a_stream_not_asking_yields_none(mock: OpenAIMock) -> None:
    async with (
        relaykit.Client(config(mock)) as client,
        client.stream("openai/gpt-4o-mini", "hi") as s,
    ):
        events = [e async for e in s]
    assert not [e for e in events if isinstance(e, LogprobsDelta)]
    assert s.response.logprobs == ()


@pytest.mark.anyio
async def test_a_cached_answer_replayed_as_a_stream_keeps_them(mock: OpenAIMock) -> None:
    mock.script.reply("Cached words here")
    extra = {"logprobs": True, "top_logprobs": 1}
    cfg = {**config(mock), "cache": {"enabled": True}}
    async with relaykit.Client(cfg) as client:
        first = await client.chat("openai/gpt-4o-mini", "hi", temperature=0, extra=extra)
        async with client.stream("openai/gpt-4o-mini", "hi", temperature=0, extra=extra) as s:
            events = [e async for e in s]
    assert len(mock.requests) == 1, "the stream was answered from the cache"
    assert first.logprobs and s.response.logprobs == first.logprobs
    assert [t for e in events if isinstance(e, LogprobsDelta) for t in e.logprobs] == list(
        first.logprobs
    )
