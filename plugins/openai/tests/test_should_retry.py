"""``x-should-retry``: the service's own word on whether a failed request is worth retrying."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError, ProviderUnavailableError
from relaykit.testing import OpenAIMock, Reply

KEY = "sk-test-should-retry-0123456789"
MODEL = "openai/gpt-4o-mini"


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=KEY) as m:
        yield m


def client(mock: OpenAIMock, **config: Any) -> relaykit.Client:
    return relaykit.Client(
        {
            "storage": {"backend": "none"},
            "retry": {"attempts": 3, "initial_wait": 0, "max_wait": 0, "max_retry_after": 0},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
            **config,
        }
    )


def failure(status: int, should_retry: str) -> Reply:
    return Reply(status=status, error="mock error", headers={"x-should-retry": should_retry})


@pytest.mark.anyio
async def test_false_stops_retries_of_a_server_error(mock: OpenAIMock) -> None:
    mock.script.push(failure(500, "false"), Reply(text="never sent"))
    async with client(mock) as c:
        with pytest.raises(ProviderUnavailableError) as info:
            await c.chat(MODEL, "hi")
    assert len(mock.requests) == 1
    # still the kind of error a route falls back from and a breaker counts
    assert info.value.retryable


@pytest.mark.anyio
async def test_true_retries_an_error_that_is_otherwise_final(mock: OpenAIMock) -> None:
    mock.script.push(failure(400, "true"), Reply(text="second time lucky"))
    async with client(mock) as c:
        r = await c.chat(MODEL, "hi")
    assert (r.text, r.attempts, len(mock.requests)) == ("second time lucky", 2, 2)


@pytest.mark.anyio
async def test_without_the_header_the_status_decides(mock: OpenAIMock) -> None:
    mock.script.push(Reply.failure(400), Reply.failure(500), Reply(text="ok"))
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError):
            await c.chat(MODEL, "hi")
        assert (await c.chat(MODEL, "hi")).attempts == 2
    assert len(mock.requests) == 3
