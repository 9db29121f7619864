"""``x-should-retry`` from Anthropic: it overrides whether the status is retried."""

from __future__ import annotations

from typing import Any

import pytest

import relaykit
from relaykit import RateLimitError
from relaykit.testing import Reply
from relaykit_anthropic.testing import AnthropicMock

KEY = "sk-ant-test-0123456789abcdef0123"
MODEL = "anthropic/claude-haiku-4-5"


def client(mock: AnthropicMock, **config: Any) -> relaykit.Client:
    return relaykit.Client(
        {
            "storage": {"backend": "none"},
            "retry": {"attempts": 3, "initial_wait": 0, "max_wait": 0, "max_retry_after": 0},
            "providers": {"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
            **config,
        }
    )


def failure(status: int, should_retry: str) -> Reply:
    return Reply(status=status, error="mock error", headers={"X-Should-Retry": should_retry})


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_true_retries_a_conflict(mock: AnthropicMock, streamed: bool) -> None:
    mock.script.push(failure(409, "true"), Reply(text="done"))
    async with client(mock) as c:
        if streamed:
            async with c.stream(MODEL, "hi", max_tokens=10) as s:
                async for _ in s:
                    pass
            r = s.response
        else:
            r = await c.chat(MODEL, "hi", max_tokens=10)
    assert (r.text, r.attempts, len(mock.requests)) == ("done", 2, 2)


@pytest.mark.anyio
async def test_false_stops_retries_of_a_rate_limit(mock: AnthropicMock) -> None:
    mock.script.push(failure(429, "false"), Reply(text="never sent"))
    async with client(mock) as c:
        with pytest.raises(RateLimitError):
            await c.chat(MODEL, "hi", max_tokens=10)
    assert len(mock.requests) == 1


@pytest.mark.anyio
async def test_false_still_falls_back_to_the_next_target(mock: AnthropicMock) -> None:
    mock.script.push(failure(529, "false"), Reply(text="from the other model"))
    routes = {"claude": {"targets": [MODEL, "anthropic/claude-sonnet-4-5"]}}
    async with client(mock, models=routes) as c:
        r = await c.chat("claude", "hi", max_tokens=10)
    assert (r.text, r.model, len(mock.requests)) == ("from the other model", "claude-sonnet-4-5", 2)


@pytest.mark.anyio
async def test_an_unknown_value_is_ignored(mock: AnthropicMock) -> None:
    mock.script.push(failure(500, "maybe"), Reply(text="retried"))
    async with client(mock) as c:
        assert (await c.chat(MODEL, "hi", max_tokens=10)).attempts == 2  # the status decides


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_connection_reset_before_any_answer_is_retried(
    mock: AnthropicMock, streamed: bool
) -> None:
    # The mock once answered a scripted connection fault as an empty success.
    mock.script.push(Reply(connection_fault="reset"), Reply(text="done"))
    async with client(mock) as c:
        if streamed:
            async with c.stream(MODEL, "hi", max_tokens=10) as s:
                async for _ in s:
                    pass
            r = s.response
        else:
            r = await c.chat(MODEL, "hi", max_tokens=10)
    assert (r.text, r.attempts, len(mock.requests)) == ("done", 2, 2)
