"""Log probabilities of Chat Completions (``extra={"logprobs": True, "top_logprobs": N}``)
read into ``ChatResponse.logprobs``: each output token with its log probability, bytes and
the most likely alternatives. A stream's are not read, so a stream asking for them is
refused before sending rather than drop them."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import ChatResponse, InvalidRequestError, TokenLogprob
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
async def test_a_stream_asking_for_logprobs_is_refused_unsent(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock)) as client:
        with pytest.raises(InvalidRequestError, match="logprobs") as info:
            async with client.stream("openai/gpt-4o-mini", "hi", extra={"logprobs": True}) as s:
                async for _ in s:
                    pass
    assert info.value.param == "logprobs"
    assert info.value.hint is not None and "client.chat" in info.value.hint
    assert mock.requests == []
