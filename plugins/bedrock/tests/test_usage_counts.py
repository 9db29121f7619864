"""Converse usage counts that are no counts (negative, fractional, true/false, text),
over real loopback HTTP: a malformed answer, as CountTokens' count already was.

``wire.usage`` took ``"outputTokens": -40`` as it came: a Usage of -40 tokens, a
negative cost, and a rate limiter's tokens-per-minute given back; ``false`` was
read as 0 (no tokens billed), silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import relaykit
from relaykit import ProviderUnavailableError, StreamError, Usage
from relaykit.testing import LoopbackServer, Request, Response
from relaykit_bedrock import wire
from relaykit_bedrock.testing import event_frame

MODEL = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"

BAD = [
    ({"inputTokens": 5, "outputTokens": -40}, "usage.outputTokens", "-40"),
    ({"inputTokens": -1, "outputTokens": 2}, "usage.inputTokens", "-1"),
    ({"inputTokens": 5, "outputTokens": 2, "cacheReadInputTokens": -3}, "cacheReadInput", "-3"),
    ({"inputTokens": 5, "outputTokens": 2.5}, "usage.outputTokens", "2.5"),
    ({"inputTokens": 5, "outputTokens": True}, "usage.outputTokens", "bool"),
    ({"inputTokens": False, "outputTokens": 2}, "usage.inputTokens", "bool"),
    ({"inputTokens": "5", "outputTokens": "-2"}, "usage.outputTokens", "str"),
]
IDS = [
    "negative output",
    "negative input",
    "negative cache read",
    "fraction",
    "true",
    "false",
    "text",
]

Serve = Callable[[bytes, str], relaykit.Client]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """A loopback Bedrock answering every request with the given body and content type."""
    answer: list[Any] = []

    async def handler(request: Request) -> Response:
        body, media = answer
        return Response(200, {"content-type": media}, [body])

    with LoopbackServer(handler) as server:

        def client(body: bytes, media: str) -> relaykit.Client:
            answer[:] = [body, media]
            providers = {"bedrock": {"base_url": server.url, "region": "us-east-1"}}
            return relaykit.Client(
                {"storage": {"backend": "none"}, "retry": {"attempts": 1}, "providers": providers}
            )

        yield client


@pytest.mark.parametrize(("usage", "field", "shown"), BAD, ids=IDS)
def test_usage_refuses_a_count_that_is_no_count_naming_the_field(
    usage: dict[str, Any], field: str, shown: str
) -> None:
    with pytest.raises(ValueError, match=field) as info:
        made = wire.usage(usage)
        pytest.fail(f"read as {made}")
    assert shown in str(info.value)


def test_missing_and_null_counts_are_still_none_reported() -> None:
    assert wire.usage({"inputTokens": 5, "outputTokens": None}) == Usage(5, 0)
    assert wire.usage({"inputTokens": 0, "outputTokens": 0}) == Usage(0, 0)


@pytest.mark.anyio
@pytest.mark.parametrize(("usage", "field", "shown"), BAD, ids=IDS)
async def test_a_converse_answer_with_a_bad_count_is_a_malformed_response(
    serve: Serve, usage: dict[str, Any], field: str, shown: str
) -> None:
    body = {
        "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
        "stopReason": "end_turn",
        "usage": usage,
    }
    async with serve(json.dumps(body).encode(), "application/json") as client:
        with pytest.raises(ProviderUnavailableError) as info:
            r = await client.chat(MODEL, "go")
            pytest.fail(f"answered with {r.usage}")
    err = info.value
    assert err.retryable and not isinstance(err, StreamError)
    assert field in str(err) and shown in str(err)


@pytest.mark.anyio
async def test_a_stream_whose_metadata_has_a_negative_count_is_an_error_not_a_usage(
    serve: Serve,
) -> None:
    frames = b"".join(
        [
            event_frame("messageStart", {"role": "assistant"}),
            event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hi"}}),
            event_frame("messageStop", {"stopReason": "end_turn"}),
            event_frame("metadata", {"usage": {"inputTokens": 5, "outputTokens": -40}}),
        ]
    )
    async with serve(frames, "application/vnd.amazon.eventstream") as client:
        with pytest.raises((StreamError, ProviderUnavailableError)) as info:
            async with client.stream(MODEL, "go") as s:
                async for _ in s:
                    pass
            pytest.fail(f"answered with {s.response.usage}")
    assert "usage.outputTokens" in str(info.value) and "-40" in str(info.value)
